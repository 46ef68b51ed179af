"""LLVM IR helpers shared by this folder's intrinsics (kernels/prefetch.py,
kernels/row_moments.py)."""

from __future__ import annotations

from numba import types
from numba.core import cgutils


def element_pointer(context, builder, array_type, array, indices, index_types):
    """A pointer to the element of ``array`` (a numba array value of ``array_type``) that
    ``indices`` (values of ``index_types``, cast to intp) index, zeros for the axes left;
    unchecked."""
    a = context.make_array(array_type)(context, builder, array)
    index = [context.cast(builder, v, t, types.intp) for v, t in zip(indices, index_types)]
    index += [context.get_constant(types.intp, 0)] * (array_type.ndim - len(index))
    return cgutils.get_item_pointer(context, builder, array_type, a, index)

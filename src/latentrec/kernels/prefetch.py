"""A cache prefetch hint for numba kernels.

Loops that gather rows of a table bigger than the cache (the factorization machine's
per-user sums at 10M ratings) wait on memory, one row after another; asking for a row a
few iterations before it is read lets those waits overlap. ``prefetch(table, i)`` (row i
of a 2-D array, element i of a 1-D one) is only a hint (LLVM's ``llvm.prefetch``): it
changes no value, and an index out of range is never read. ``prefetch_row(table, i)`` asks
for every cache line of row i (a hint fetches one line; a row of 100 float32 spans 7 or 8).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np import numpy_support

from .ir_helpers import element_pointer


@intrinsic
def prefetch(typingctx, table, row):
    """Hint that row ``row`` of ``table`` (element, for a 1-D array) will be read soon."""
    if not (isinstance(table, types.Array) and table.ndim in (1, 2)
            and isinstance(row, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return _hint(context, builder, signature, args)

    return types.void(table, row), codegen


@intrinsic
def _prefetch_at(typingctx, table, row, col):
    """Hint that ``table[row, col]`` (a 2-D array) will be read soon."""
    if not (isinstance(table, types.Array) and table.ndim == 2
            and isinstance(row, types.Integer) and isinstance(col, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return _hint(context, builder, signature, args)

    return types.void(table, row, col), codegen


def prefetch_row(table, row):
    """Hint that all of row ``row`` of the C-contiguous 2-D ``table`` will be read soon
    (for compiled code; a no-op in Python)."""


@overload(prefetch_row, inline="always")
def _prefetch_row(table, row):
    if not (isinstance(table, types.Array) and table.ndim == 2 and table.layout == "C"):
        return None
    itemsize = numpy_support.as_dtype(table.dtype).itemsize
    if itemsize == 0:
        return None
    step = max(64 // itemsize, 1)  # elements a cache line, known when compiled

    def impl(table, row):
        n = table.shape[1]
        for c in range(0, n, step):
            _prefetch_at(table, row, c)
        if n > 0:
            _prefetch_at(table, row, n - 1)  # a row not starting on a line ends on one more
    return impl


def _hint(context, builder, signature, args):
    """llvm.prefetch of the element that args[1:] (cast to intp, then zeros) index."""
    ptr = element_pointer(context, builder, signature.args[0], args[0], args[1:],
                          signature.args[1:])
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
        "llvm.prefetch.p0i8")
    # read, high temporal locality, data cache
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
    return context.get_dummy_value()

"""A cache prefetch hint for numba kernels.

Loops that gather rows of a table bigger than the cache (the factorization machine's
per-user sums at 10M ratings) wait on memory, one row after another; asking for a row a
few iterations before it is read lets those waits overlap. ``prefetch(table, i)`` (row i
of a 2-D array, element i of a 1-D one) is only a hint (LLVM's ``llvm.prefetch``): it
changes no value, and an index out of range is never read.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, table, row):
    """Hint that row ``row`` of ``table`` (element, for a 1-D array) will be read soon."""
    if not (isinstance(table, types.Array) and table.ndim in (1, 2)
            and isinstance(row, types.Integer)):
        return None
    sig = types.void(table, row)

    def codegen(context, builder, signature, args):
        aryty, rowty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], rowty, types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary,
                                       [index, zero][:aryty.ndim])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        # read, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen

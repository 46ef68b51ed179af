"""The three inner products of a factor pair, in whole vector registers, for numba kernels.

``row_moments(P, u, Q, i)`` -> (P[u] . Q[i], P[u] . P[u], Q[i] . Q[i]), in P's dtype, for
C-contiguous 2-D float32 or float64 P and Q with rows of one length K.

Why not a loop over k: LLVM vectorises such a loop 64 floats at a time and finishes the
rest 8 and then 1 at a time, each step waiting for the last, so at K = 100 a rating's
products took longer than at K = 128 (the SGD kernel's epochs were 19% slower at K = 100
than at K = 128; docs/benchmarks.md, "The epoch kernel"). Here a row goes by vectors of
64 bytes (32 bytes when it has fewer than two such: a wide vector's longer sum of lanes
made K = 16 slower), in two chains of fused multiply-adds a product, and the part past
the last whole vector is one masked load, which reads nothing past the row's end.

The order is fixed: vector v goes to chain v % 2, the masked part to chain 1; the chains
are added, then the lanes in a halving tree; no fast-math flag lets LLVM reorder it. So
the result is the same bits on every host and in every kernel that calls it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np import numpy_support

from .ir_helpers import element_pointer

_VECTOR_BYTES = 64
#: independent chains of multiply-adds (vector v goes to chain v % _CHAINS): at two, a
#: K = 100 row waits for 4 multiply-adds, not 7 (four measured no faster)
_CHAINS = 2
#: a flag that cannot change an addition (numba's fastmath pass flags every float operation
#: that has none, and "reassoc" would let LLVM reorder the sums by host)
_EXACT = ("arcp",)
_I32 = ir.IntType(32)


@intrinsic
def row_moments(typingctx, P, u, Q, i):
    """(P[u] . Q[i], P[u] . P[u], Q[i] . Q[i]): see the module doc. Unchecked: u and i must
    index rows, and P and Q must have the same row length."""
    ok = (isinstance(P, types.Array) and isinstance(Q, types.Array) and P.ndim == Q.ndim == 2
          and P.layout == Q.layout == "C" and P.dtype == Q.dtype
          and P.dtype in (types.float32, types.float64)
          and isinstance(u, types.Integer) and isinstance(i, types.Integer))
    if not ok:
        return None

    def codegen(context, builder, signature, args):
        return _moments(context, builder, signature, args)

    return types.UniTuple(P.dtype, 3)(P, u, Q, i), codegen


def _moments(context, builder, signature, args):
    P_ty, u_ty, Q_ty, i_ty = signature.args
    itemsize = numpy_support.as_dtype(P_ty.dtype).itemsize
    scalar = context.get_value_type(P_ty.dtype)
    intp = context.get_value_type(types.intp)
    rows = [element_pointer(context, builder, P_ty, args[0], [args[1]], [u_ty]),
            element_pointer(context, builder, Q_ty, args[2], [args[3]], [i_ty])]
    n = cgutils.unpack_tuple(builder, context.make_array(P_ty)(context, builder,
                                                               args[0]).shape, 2)[1]
    out = [cgutils.alloca_once(builder, scalar) for _ in range(3)]
    wide = _VECTOR_BYTES // itemsize
    with builder.if_else(builder.icmp_unsigned(">=", n, intp(2 * wide))) as (long, short):
        for branch, width in ((long, wide), (short, wide // 2)):
            with branch:
                vec = ir.VectorType(scalar, width)
                for slot, value in zip(out, _sums(builder, rows, n, vec, itemsize, intp)):
                    builder.store(value, slot)
    return context.make_tuple(builder, signature.return_type, [builder.load(o) for o in out])


def _sums(builder, rows, n, vec, itemsize, intp):
    """The three sums over rows of n elements, by vectors of type ``vec``."""
    width = vec.count
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                         f"llvm.fma.v{width}f{itemsize * 8}")
    zero = ir.Constant(vec, [0.0] * width)
    chains = _CHAINS
    # per chain: (p.q, p.p, q.q)
    acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(3)] for _ in range(chains)]

    def add(chain, p, q):
        for slot, (a, b) in zip(acc[chain], ((p, q), (p, p), (q, q))):
            builder.store(builder.call(fma, [a, b, builder.load(slot)]), slot)

    def load(vector):
        offset = builder.mul(vector, intp(width))
        return [builder.load(builder.bitcast(builder.gep(r, [offset]), vec.as_pointer()),
                             align=itemsize) for r in rows]

    n_whole = builder.udiv(n, intp(width))
    n_rounds = builder.udiv(n_whole, intp(chains))
    with cgutils.for_range(builder, n_rounds) as loop:
        first = builder.mul(loop.index, intp(chains))
        for c in range(chains):
            add(c, *load(builder.add(first, intp(c))))
    left = builder.urem(n_whole, intp(chains))
    first = builder.mul(n_rounds, intp(chains))
    for c in range(chains - 1):
        with builder.if_then(builder.icmp_unsigned(">", left, intp(c))):
            add(c, *load(builder.add(first, intp(c))))
    with builder.if_then(builder.icmp_unsigned("!=", builder.urem(n, intp(width)), intp(0))):
        add(chains - 1, *_masked_tail(builder, rows, n, n_whole, vec, itemsize, intp))
    sums = []
    for slot in range(3):
        parts = [builder.load(acc[c][slot]) for c in range(chains)]
        while len(parts) > 1:
            parts = [builder.fadd(x, y, flags=_EXACT) for x, y in zip(parts[::2], parts[1::2])]
        v = parts[0]
        while v.type.count > 1:
            half = v.type.count // 2
            lo, hi = (builder.shuffle_vector(v, v, ir.Constant(
                ir.VectorType(_I32, half), list(range(lane, lane + half))))
                for lane in (0, half))
            v = builder.fadd(lo, hi, flags=_EXACT)
        sums.append(builder.extract_element(v, _I32(0)))
    return sums


def _masked_tail(builder, rows, n, n_whole, vec, itemsize, intp):
    """The rows' elements past their last whole vector, as vectors with zeros after them
    (a masked load: nothing past the row's end is read)."""
    width = vec.count
    start = builder.mul(n_whole, intp(width))
    left = builder.trunc(builder.sub(n, start), _I32)
    i32v = ir.VectorType(_I32, width)
    splat = builder.insert_element(ir.Constant(i32v, None), left, _I32(0))
    splat = builder.shuffle_vector(splat, splat, ir.Constant(i32v, [0] * width))
    mask = builder.icmp_signed("<", ir.Constant(i32v, list(range(width))), splat)
    bits = itemsize * 8
    masked_load = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec.as_pointer(), _I32, mask.type, vec]),
        f"llvm.masked.load.v{width}f{bits}.p0v{width}f{bits}")
    zero = ir.Constant(vec, [0.0] * width)
    return [builder.call(masked_load, [builder.bitcast(builder.gep(r, [start]),
                                                       vec.as_pointer()),
                                       _I32(itemsize), mask, zero])
            for r in rows]

"""float32 standard normal draws that are numpy's own, bit for bit, in a fraction of the time.

``Generator.standard_normal(dtype=np.float32)`` costs about 12 ns a draw here (its sign
is a branch no predictor learns, and every 32 bits a call); the initial factors of a large
model (20M draws at 200,000 users and K = 100) made it the largest single step of a fit's
set-up. :func:`standard_normal_f32` runs numpy's float32 ziggurat
(``random_standard_normal_f``, numpy >= 1.22) compiled, with numpy's PCG64 stepped in the
same loop (its 128-bit LCG and XSL-RR output, from the state numpy reports: a call to the
generator's C function for each word cost as much as the rest of the draw) and the
64-bit words' 32-bit halves handed out as numpy's PCG64 does: the low half, then the high
one, kept for the next draw. The generator is left where numpy's own draws would have
left it, so everything drawn after it is unchanged too. Only a plain PCG64
(``default_rng``'s) takes this path; any other bit generator draws through numpy.

The ziggurat's tables are computed here from their definition (256 layers, r and v of
Marsaglia and Tsang's construction), which reproduces numpy's to the bit; the rare slow
paths use ``log1p`` in float32 and ``exp`` in double, as numpy's C does, and the tests
compare every draw, and the generator's state after them, with numpy's.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_R = 3.6541528853610087963519472518  # the base layer's right edge (256 layers)
_V = 0.00492867323399  # each layer's area


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ki, wi, fi): each layer's acceptance bound on the 23-bit magnitude, its width
    scaled to one step of that magnitude, and the density at its edge."""
    def f(x):
        return math.exp(-0.5 * x * x)
    x = [0.0] * 256
    x[255] = _R
    for i in range(254, 0, -1):
        x[i] = math.sqrt(-2.0 * math.log(_V / x[i + 1] + f(x[i + 1])))
    q, m = _V / f(_R), float(1 << 23)
    ki = np.array([round(_R / q * m), 0] + [round(x[i - 1] / x[i] * m) for i in range(2, 256)],
                  np.uint32)
    wi = np.array([q / m] + [x[i] / m for i in range(1, 256)], np.float32)
    fi = np.array([1.0] + [f(x[i]) for i in range(1, 256)], np.float32)
    return ki, wi, fi


_KI, _WI, _FI = _tables()


#: PCG64's LCG multiplier, in 64-bit halves
_MULT_HI, _MULT_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)
_MASK64 = (1 << 64) - 1


@intrinsic
def _mulhi(typingctx, a, b):
    """The high 64 bits of the 128-bit product of two uint64."""
    if not (a == types.uint64 and b == types.uint64):
        return None

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return types.uint64(a, b), codegen


@njit(cache=True, nogil=True, inline="always")
def _next32(state, inc, has_high, high):
    """numpy's PCG64 32-bit draw: the high half kept from the last word, or a new word's
    low half, its high half kept. ``state`` and ``inc``: the LCG's 128-bit state and
    increment as (high, low) uint64 pairs. Returns (the 32 bits, state, has_high, high)."""
    if has_high:
        return high, state, False, high
    s_hi, s_lo = state
    lo = s_lo * _MULT_LO  # state = state * multiplier + increment, mod 2**128
    hi = _mulhi(s_lo, _MULT_LO) + s_hi * _MULT_LO + s_lo * _MULT_HI
    s_lo = lo + inc[1]
    s_hi = hi + inc[0] + np.uint64(s_lo < lo)
    x, rot = s_hi ^ s_lo, s_hi >> np.uint64(58)  # XSL-RR: the halves' xor, rotated
    w = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.uint32(w & np.uint64(0xFFFFFFFF)), (s_hi, s_lo), True, np.uint32(w >> np.uint64(32))


@njit(cache=True, nogil=True)
def _fill(state, inc, has_high, high, out, scale, ki, wi, fi):
    """out[:] = scale * (numpy's float32 standard normal draws), drawn through
    ``_next32``; returns (state, has_high, high) afterwards, for the generator's state."""
    one, two = np.float32(1.0), np.float32(2.0)
    for j in range(out.shape[0]):
        r, state, has_high, high = _next32(state, inc, has_high, high)
        idx = r & np.uint32(0xFF)
        rabs = (r >> np.uint32(9)) & np.uint32(0x7FFFFF)
        if rabs < ki[idx]:  # 99.3% of draws
            # the sign by a product, not a branch: a coin toss, which no predictor learns
            sign = one - two * np.float32((r >> np.uint32(8)) & np.uint32(1))
            out[j] = np.float32(rabs) * wi[idx] * sign * scale
        else:
            x, state, has_high, high = _slow(state, inc, has_high, high, r, ki, wi, fi)
            out[j] = x * scale
    return state, has_high, high


@njit(cache=True, nogil=True)
def _slow(state, inc, has_high, high, r, ki, wi, fi):
    """The rest of a draw whose first 32 bits ``r`` fell outside their layer's rectangle:
    (the value, state, has_high, high)."""
    r_f, inv_r_f = np.float32(_R), np.float32(1.0 / _R)
    step = np.float32(1.0 / 16777216.0)  # a uniform: the top 24 bits of a word
    while True:
        idx = r & np.uint32(0xFF)
        rabs = (r >> np.uint32(9)) & np.uint32(0x7FFFFF)
        x = np.float32(rabs) * wi[idx]
        if (r >> np.uint32(8)) & np.uint32(1):
            x = -x
        if rabs < ki[idx]:
            return x, state, has_high, high
        if idx == 0:  # the base layer's tail, beyond r
            while True:
                a, state, has_high, high = _next32(state, inc, has_high, high)
                b, state, has_high, high = _next32(state, inc, has_high, high)
                xx = -inv_r_f * np.log1p(-(np.float32(a >> np.uint32(8)) * step))
                yy = -np.log1p(-(np.float32(b >> np.uint32(8)) * step))
                if yy + yy > xx * xx:
                    x = -(r_f + xx) if (rabs >> np.uint32(8)) & np.uint32(1) else r_f + xx
                    return x, state, has_high, high
        a, state, has_high, high = _next32(state, inc, has_high, high)
        u = np.float32(a >> np.uint32(8)) * step
        # the edge's density in double, as numpy's C computes it
        if float((fi[idx - 1] - fi[idx]) * u + fi[idx]) < math.exp(-0.5 * float(x) * float(x)):
            return x, state, has_high, high
        r, state, has_high, high = _next32(state, inc, has_high, high)  # rejected: a new draw


def standard_normal_f32(rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    """``rng.standard_normal(shape, dtype=np.float32) * scale`` (the product in float32, as
    numpy's in-place ``*=`` of a float32 array by a Python float gives), the same bits and
    the same generator state afterwards; see the module doc."""
    bits = rng.bit_generator
    if type(bits) is not np.random.PCG64:
        out = rng.standard_normal(shape, dtype=np.float32)
        out *= scale
        return out
    out = np.empty(shape, np.float32)
    with bits.lock:  # as numpy's own draws hold it
        start = bits.state
        lcg = start["state"]
        halves = [(np.uint64(v >> 64), np.uint64(v & _MASK64))
                  for v in (lcg["state"], lcg["inc"])]
        (s_hi, s_lo), has_high, high = _fill(*halves, bool(start["has_uint32"]),
                                             np.uint32(start["uinteger"]), out.reshape(-1),
                                             np.float32(scale), _KI, _WI, _FI)
        lcg["state"] = int(s_hi) << 64 | int(s_lo)
        start["has_uint32"], start["uinteger"] = int(has_high), int(high)
        bits.state = start
    return out

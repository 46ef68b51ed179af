"""float32 standard normal draws that are numpy's own, bit for bit, in a fraction of the time.

``Generator.standard_normal(dtype=np.float32)`` costs about 12 ns a draw here (its sign
is a branch no predictor learns, and every 32 bits a call); the initial factors of a large
model (20M draws at 200,000 users and K = 100) made it the largest single step of a fit's
set-up. :func:`standard_normal_f32` runs numpy's float32 ziggurat
(``random_standard_normal_f``, numpy >= 1.22) compiled, drawing the 64-bit words through
the generator's own C function (its ctypes interface) and handing out their 32-bit halves
as numpy's PCG64 does: the low half, then the high one, kept for the next draw. The
generator is left where numpy's own draws would have left it, so everything drawn after
it is unchanged too. Only a plain PCG64 (``default_rng``'s) takes this path; any other
bit generator draws through numpy.

The ziggurat's tables are computed here from their definition (256 layers, r and v of
Marsaglia and Tsang's construction), which reproduces numpy's to the bit; the rare slow
paths use ``log1p`` in float32 and ``exp`` in double, as numpy's C does, and the tests
compare every draw, and the generator's state after them, with numpy's.
"""

from __future__ import annotations

import ctypes
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


@intrinsic
def _next64(typingctx, fn, state):
    """``fn(state)``: a bit generator's ``next_uint64`` (the C function's address) on its
    state (an address), as numpy's own draws call it."""
    if not (isinstance(fn, types.Integer) and isinstance(state, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(64), [i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(f, [builder.inttoptr(args[1], i8p)])

    return types.uint64(fn, state), codegen


@njit(cache=True, nogil=True, inline="always")
def _next32(fn, state, has_high, high):
    """numpy's PCG64 32-bit draw: the high half kept from the last word, or a new word's
    low half, its high half kept. Returns (the 32 bits, has_high, high)."""
    if has_high:
        return high, False, high
    w = _next64(fn, state)
    return np.uint32(w & np.uint64(0xFFFFFFFF)), True, np.uint32(w >> np.uint64(32))


@njit(cache=True, nogil=True)
def _fill(fn, state, has_high, high, out, scale, ki, wi, fi):
    """out[:] = scale * (numpy's float32 standard normal draws), drawn through
    ``_next32``; returns (has_high, high) afterwards, for the generator's state."""
    one, two = np.float32(1.0), np.float32(2.0)
    for j in range(out.shape[0]):
        r, has_high, high = _next32(fn, state, has_high, high)
        idx = r & np.uint32(0xFF)
        rabs = (r >> np.uint32(9)) & np.uint32(0x7FFFFF)
        if rabs < ki[idx]:  # 99.3% of draws
            # the sign by a product, not a branch: a coin toss, which no predictor learns
            sign = one - two * np.float32((r >> np.uint32(8)) & np.uint32(1))
            out[j] = np.float32(rabs) * wi[idx] * sign * scale
        else:
            x, has_high, high = _slow(fn, state, has_high, high, r, ki, wi, fi)
            out[j] = x * scale
    return has_high, high


@njit(cache=True, nogil=True)
def _slow(fn, state, has_high, high, r, ki, wi, fi):
    """The rest of a draw whose first 32 bits ``r`` fell outside their layer's rectangle:
    (the value, has_high, high)."""
    r_f, inv_r_f = np.float32(_R), np.float32(1.0 / _R)
    step = np.float32(1.0 / 16777216.0)  # a uniform: the top 24 bits of a word
    while True:
        idx = r & np.uint32(0xFF)
        rabs = (r >> np.uint32(9)) & np.uint32(0x7FFFFF)
        x = np.float32(rabs) * wi[idx]
        if (r >> np.uint32(8)) & np.uint32(1):
            x = -x
        if rabs < ki[idx]:
            return x, has_high, high
        if idx == 0:  # the base layer's tail, beyond r
            while True:
                a, has_high, high = _next32(fn, state, has_high, high)
                b, has_high, high = _next32(fn, state, has_high, high)
                xx = -inv_r_f * np.log1p(-(np.float32(a >> np.uint32(8)) * step))
                yy = -np.log1p(-(np.float32(b >> np.uint32(8)) * step))
                if yy + yy > xx * xx:
                    x = -(r_f + xx) if (rabs >> np.uint32(8)) & np.uint32(1) else r_f + xx
                    return x, has_high, high
        a, has_high, high = _next32(fn, state, has_high, high)
        u = np.float32(a >> np.uint32(8)) * step
        # the edge's density in double, as numpy's C computes it
        if float((fi[idx - 1] - fi[idx]) * u + fi[idx]) < math.exp(-0.5 * float(x) * float(x)):
            return x, has_high, high
        r, has_high, high = _next32(fn, state, has_high, high)  # rejected: a new draw


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
    c = bits.ctypes
    with bits.lock:  # as numpy's own draws hold it
        start = bits.state
        has_high, high = _fill(ctypes.cast(c.next_uint64, ctypes.c_void_p).value,
                               c.state_address, bool(start["has_uint32"]),
                               np.uint32(start["uinteger"]), out.reshape(-1),
                               np.float32(scale), _KI, _WI, _FI)
        state = bits.state  # the words drawn moved it on; the kept half is set here
        state["has_uint32"], state["uinteger"] = int(has_high), int(high)
        bits.state = state
    return out

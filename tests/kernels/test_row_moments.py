"""row_moments against a spelled-out NumPy reference of its order of operations, bit for bit,
and against plain float64 sums."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from latentrec.kernels.row_moments import row_moments

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # as the SGD kernel compiles


@njit(fastmath=FASTMATH, cache=False)
def _moments(P, u, Q, i):
    return row_moments(P, u, Q, i)


@njit(cache=False)
def _moments_plain(P, u, Q, i):
    return row_moments(P, u, Q, i)


def _fma(a, b, c):
    """a * b + c rounded once, elementwise, in the arrays' dtype."""
    if a.dtype == np.float32:
        # the float64 product is exact; the float64 sum rounded to odd, then to float32,
        # rounds as once (53 >= 24 + 2 bits)
        prod = a.astype(np.float64) * b.astype(np.float64)
        c64 = c.astype(np.float64)
        s = prod + c64
        back = s - prod
        err = (prod - (s - back)) + (c64 - back)  # s + err is the exact sum (TwoSum)
        even = (s.view(np.int64) & 1) == 0
        fix = (err != 0) & even
        s[fix] = np.nextafter(s[fix], np.where(err[fix] > 0, np.inf, -np.inf))
        return s.astype(np.float32)
    return np.array([float(Fraction(x) * Fraction(y) + Fraction(z))
                     for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())])


def _reference(p, q):
    """The documented order: vectors of 64 bytes (32 for rows shorter than two such)
    alternate between two chains of fused multiply-adds (even vectors first), the
    zero-padded last part goes to the odd chain, the chains are added, then the lanes in a
    halving tree."""
    wide = 64 // p.dtype.itemsize
    width = wide if p.shape[0] >= 2 * wide else wide // 2
    n_whole = p.shape[0] // width
    pad = np.zeros((n_whole + 1) * width, p.dtype)
    vp, vq = pad.copy(), pad.copy()
    vp[:p.shape[0]], vq[:q.shape[0]] = p, q
    vp, vq = vp.reshape(-1, width), vq.reshape(-1, width)
    chains = np.zeros((2, 3, width), p.dtype)
    for v in range(n_whole + 1):
        chain = 1 if v == n_whole else v % 2
        for slot, (a, b) in enumerate(((vp[v], vq[v]), (vp[v], vp[v]), (vq[v], vq[v]))):
            chains[chain, slot] = _fma(a, b, chains[chain, slot])
    sums = chains[0] + chains[1]
    while sums.shape[1] > 1:
        half = sums.shape[1] // 2
        sums = sums[:, :half] + sums[:, half:]
    return tuple(sums[:, 0])


def _rows(draw_k, dtype, seed):
    rng = np.random.default_rng(seed)
    P = (rng.standard_normal((3, draw_k)) * rng.uniform(0.01, 10)).astype(dtype)
    Q = (rng.standard_normal((4, draw_k)) * rng.uniform(0.01, 10)).astype(dtype)
    return P, Q


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_row_moments_are_the_documented_sums_bit_for_bit(k, seed, dtype):
    P, Q = _rows(k, dtype, seed)
    expected = _reference(P[1], Q[2])
    for kernel in (_moments, _moments_plain):  # fastmath around it changes nothing
        got = kernel(P, 1, Q, 2)
        assert [np.asarray(g, dtype).tobytes() for g in got] == \
            [np.asarray(e, dtype).tobytes() for e in expected]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 128, 129])
def test_row_moments_agree_with_float64_sums(k, dtype):
    P, Q = _rows(k, dtype, k)
    p, q = P[2].astype(np.float64), Q[3].astype(np.float64)
    got = _moments(P, 2, Q, 3)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for value, exact, scale in ((got[0], p @ q, np.abs(p) @ np.abs(q)),
                                (got[1], p @ p, p @ p), (got[2], q @ q, q @ q)):
        assert abs(value - exact) <= tol * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_moments_read_nothing_past_the_row(dtype):
    # the last part vector is a masked load: the next row's NaNs must not reach the sums
    P = np.full((2, 21), np.nan, dtype)
    Q = np.full((2, 21), np.nan, dtype)
    P[0], Q[0] = 1, 2
    assert _moments(P, 0, Q, 0) == (42.0, 21.0, 84.0)


def test_row_moments_take_matching_c_contiguous_float_tables_only():
    from numba.core.errors import TypingError

    f32 = np.ones((2, 3), np.float32)
    for P, Q in ((f32, f32.astype(np.float64)), (f32.astype(np.int64), f32.astype(np.int64)),
                 (np.asfortranarray(f32), np.asfortranarray(f32))):
        with pytest.raises(TypingError):
            _moments(P, 0, Q, 0)

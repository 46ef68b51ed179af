"""Exact top-k by inner product with one query, through an int8 pre-pass.

    QuantizedRows(U)                            the rows, quantized to int8 once
    quantized_top_k(rows, x, k, *, exclude=-1, candidates=None)
        -> (indices int64 (k,), scores float64 (k,))

Each row is stored as ``u = s q + e``: int8 q, one scale s per row (its largest |value| /
127), so |e| <= s / 2 in every column; the query likewise as ``x = t y + f``. Then

    u . x = s t (q . y) + s q . f + e . x,   |s q . f| <= |s q|_1 t / 2,  |e . x| <= s |x|_1 / 2

so ``s t (q . y)`` (integer products: 4 times less memory to read than float32, and
vectorized) is within a known error of each score. One pass keeps the k-th best lower
bound; the rows whose upper bound reaches it are the only ones that can be among the k
best, and only they are scored in full (float32, as BLAS would). The result is the top-k of
``U @ x`` with the validity rules of ``kernels.topk.top_k`` (``exclude``: one row left out,
-1 none; ``candidates``: a boolean mask; -inf and NaN never rank; ties by lower index),
up to the last bits of a score.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .topk import _sift_down, top_k

__all__ = ["QuantizedRows", "quantized_top_k"]

#: Relative slack on each bound, for the float rounding of the sums around it.
SLACK = 1e-6


class QuantizedRows:
    """``U`` (n x d, float32 or float64) with its int8 copy, each row's scale, and each
    row's |s q|_1 (the error bound's first factor)."""

    def __init__(self, U: np.ndarray):
        U = np.ascontiguousarray(U)
        if U.ndim != 2 or U.dtype not in (np.float32, np.float64):
            raise ValueError(f"U must be a 2-D float32 or float64 array, got {U.dtype} "
                             f"{U.shape}")
        if not np.isfinite(U).all():
            raise ValueError("U must be finite to be quantized")
        self.U = U
        self.q = np.empty(U.shape, np.int8)
        self.scale, self.l1 = np.empty(U.shape[0]), np.empty(U.shape[0])
        _quantize(U, self.q, self.scale, self.l1)

    @property
    def nbytes(self) -> int:
        """Memory beside ``U``."""
        return self.q.nbytes + self.scale.nbytes + self.l1.nbytes


@njit(cache=True, parallel=True)
def _quantize(U, q, scale, l1):
    """Row i: scale[i] = max |U[i]| / 127 in float64 (so a float32 row's scale is never
    subnormal, whose rounding could carry a q past 127), q[i] = rint(U[i] / scale[i]) (1
    for a zero row's scale), l1[i] = scale[i] * sum |q[i]|; one pass over each row, on
    every thread. A float64 row below ~1.6e-319 can still round past 127: its q is
    clipped and its l1 made inf, so that its bound never rules it out."""
    for i in prange(U.shape[0]):
        top = 0.0
        for f in range(U.shape[1]):
            top = max(top, abs(np.float64(U[i, f])))
        s = top / 127.0
        safe = s if s > 0 else 1.0
        total = 0
        clipped = False
        for f in range(U.shape[1]):
            r = np.rint(np.float64(U[i, f]) / safe)
            if abs(r) > 127.0:
                clipped = True
                r = 127.0 if r > 0 else -127.0
            q[i, f] = np.int8(r)
            total += abs(np.int64(r))
        scale[i] = s
        l1[i] = np.inf if clipped else s * total


#: Rows per block of the pass: their integer products first (the inner loop vectorizes),
#: then their bounds.
_BLOCK = 256


@njit(cache=True, nogil=True, fastmath=True)
def _block_bounds(dots, scale, l1, t, half_x1, up, low):
    """Upper and lower bounds of a block's scores from their integer products. (fastmath
    reorders these few sums; the slack covers far more than that.)"""
    for j in range(scale.shape[0]):
        a = scale[j] * t * dots[j]
        err = l1[j] * t * 0.5 + scale[j] * half_x1
        err += SLACK * (abs(a) + err) + 1e-300
        up[j] = a + err
        low[j] = a - err


@njit(cache=True, nogil=True)
def _candidates(q, scale, l1, y, t, half_x1, exclude, candidates, k):
    """The rows whose upper bound reaches the k-th best lower bound of all valid rows
    (every valid row when there are fewer than k), in index order."""
    n, d = q.shape
    use_cand = candidates.shape[0] > 0
    # the k best lower bounds so far: topk's heap (worst on top), its indices all equal
    best, no_index = np.full(k, -np.inf), np.zeros(k, np.int64)
    dots = np.empty(_BLOCK, np.int32)
    up = np.empty(_BLOCK)
    low = np.empty(_BLOCK)
    found = np.empty(1024, np.int64)
    found_up = np.empty(1024)
    m = 0
    for b0 in range(0, n, _BLOCK):
        b1 = min(n, b0 + _BLOCK)
        for i in range(b0, b1):
            acc = np.int32(0)
            row = q[i]
            for f in range(d):
                acc += np.int32(row[f]) * np.int32(y[f])
            dots[i - b0] = acc
        _block_bounds(dots, scale[b0:b1], l1[b0:b1], t, half_x1, up, low)
        for j in range(b1 - b0):
            if up[j] < best[0]:  # below the threshold, which only rises
                continue
            i = b0 + j
            if i == exclude or (use_cand and not candidates[i]):
                continue
            if m == found.shape[0]:
                found = np.concatenate((found, np.empty(m, np.int64)))
                found_up = np.concatenate((found_up, np.empty(m)))
            found[m] = i
            found_up[m] = up[j]
            m += 1
            if low[j] > best[0]:
                best[0] = low[j]
                _sift_down(best, no_index, k, 0)
    keep = found_up[:m] >= best[0]
    return found[:m][keep]


def quantized_top_k(rows: QuantizedRows, x, k: int, *, exclude: int = -1, candidates=None):
    """The k best rows of ``rows.U @ x``: (indices, float64 scores), best first, index -1
    and score -inf past the valid ones; see the module doc."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n, d = rows.q.shape
    if x.shape != (d,):
        raise ValueError(f"x must have {d} entries, got {x.shape}")
    if isinstance(k, bool) or not 0 <= k <= n:
        raise ValueError(f"k must be an integer in [0, {n}], got {k!r}")
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    top = float(np.abs(x).max()) if d else 0.0
    t = top / 127.0 if top > 0 else 1.0
    y = np.rint(x / t).astype(np.int8)
    cand = (np.zeros(0, np.bool_) if candidates is None
            else np.ascontiguousarray(candidates, dtype=np.bool_))
    idx = _candidates(rows.q, rows.scale, rows.l1, y, t, 0.5 * float(np.abs(x).sum()),
                      int(exclude), cand, int(k))
    scores = (rows.U[idx] @ x.astype(rows.U.dtype))[None, :]
    got_i, got_s = top_k(scores, k)
    got_i, got_s = got_i[0], got_s[0]
    found = got_i >= 0
    got_i[found] = idx[got_i[found]]
    return got_i, got_s

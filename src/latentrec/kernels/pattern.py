"""Products of a 0/1 sparsity pattern with dense matrices, on all threads.

    pattern_times(indptr, indices, X, n_threads=None) -> (n_rows, X.shape[1]) X.dtype
        row r is the sum of the rows X[indices[indptr[r]:indptr[r + 1]]]: the CSR
        pattern (every stored entry 1) times X.
    pattern_t_times(indptr, indices, W, n_cols, n_threads=None) -> (n_cols, W.shape[1])
        the transposed pattern times W: row c is the sum of W[r] over the rows r whose
        pattern holds c. Each of a few fixed parts of the rows adds into a buffer of its
        own (reading W in order is what makes this fast), and the buffers are summed in
        order, so the result does not depend on the thread count.

The rating models' interaction part (models/ranking.py) spends its time here: scipy's
products run on one thread and multiply by values that are all 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import num_threads

__all__ = ["pattern_times", "pattern_t_times"]

#: Row parts of pattern_t_times (at most; fewer where the buffers would pass the cap).
_PARTS = 4
_PART_BYTES = 1 << 26


@njit(cache=True, parallel=True)
def _gather(indptr, indices, X, out):
    n_rows, k = out.shape
    n_blocks = (n_rows + 255) // 256
    for b in prange(n_blocks):
        for r in range(b * 256, min(n_rows, (b + 1) * 256)):
            for j in range(indptr[r], indptr[r + 1]):
                c = indices[j]
                for f in range(k):
                    out[r, f] += X[c, f]


@njit(cache=True, parallel=True)
def _scatter(indptr, indices, W, out):
    n_parts, n_rows, k = out.shape[0], indptr.shape[0] - 1, W.shape[1]
    for p in prange(n_parts):
        part = out[p]
        for r in range(n_rows * p // n_parts, n_rows * (p + 1) // n_parts):
            for j in range(indptr[r], indptr[r + 1]):
                c = indices[j]
                for f in range(k):
                    part[c, f] += W[r, f]


def pattern_times(indptr, indices, X, n_threads=None):
    """The 0/1 CSR pattern (indptr, indices) times X; see the module doc."""
    X = np.ascontiguousarray(X)
    out = np.zeros((indptr.shape[0] - 1, X.shape[1]), X.dtype)
    with num_threads(n_threads):
        _gather(indptr, indices, X, out)
    return out


def pattern_t_times(indptr, indices, W, n_cols, n_threads=None):
    """The transpose of the 0/1 CSR pattern (indptr, indices) times W; see the module doc."""
    W = np.ascontiguousarray(W)
    one = n_cols * W.shape[1] * W.dtype.itemsize
    parts = int(max(1, min(_PARTS, _PART_BYTES // max(one, 1))))
    out = np.zeros((parts, n_cols, W.shape[1]), W.dtype)
    with num_threads(n_threads):
        _scatter(indptr, indices, W, out)
    total = out[0]
    for p in range(1, parts):
        total += out[p]
    return total

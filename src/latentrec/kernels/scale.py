"""A factor matrix multiplied by a scalar in place, its rows spread over numba's threads.

    scale_rows(a, factor, n_threads=None): every a[i, j] becomes a[i, j] * factor, with
        factor in the type NumPy's ``a *= np.float64(factor)`` computes in (float64 and
        rounded once under NumPy 2; a's own float type under NumPy 1's value-based
        casting): its bits, in one compiled loop on ``n_threads`` threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import num_threads


def scale_rows(a: np.ndarray, factor: float, n_threads=None) -> None:
    if a.ndim != 2 or not a.flags.writeable:
        raise ValueError(f"a must be a writable 2-D array; got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"a must be float32 or float64; got {a.dtype}")
    with num_threads(n_threads):
        _scale_rows(a, np.result_type(a, np.float64(factor)).type(factor))


@njit(cache=True, parallel=True)
def _scale_rows(a, factor):
    for i in prange(a.shape[0]):
        for j in range(a.shape[1]):
            a[i, j] = a[i, j] * factor

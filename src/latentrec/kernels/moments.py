"""Exact first and second moments of float32 ratings, for every model's standardisation.

A float32 value is ``m * 2**(max(e, 1) - 150)`` with an integer mantissa ``m`` (24 bits
with the implicit one) and the biased exponent ``e``. Summing the mantissas per exponent
as integers gives the sum and the sum of squares *exactly*, in any order: the bins of
parts add up (as integers) to the bins of the whole, so one process, a cluster that adds
its partitions' bins, and any row order all get the same mean and spread.

    moment_bins(values) -> int64 (3, 256)
        per exponent: the summed signed mantissas, and the summed squared mantissas split
        into their high and low 24 bits (int64 bins overflow only past 2**39 ratings).
    exact_sums(bins) -> (S, Q): Python ints with sum = S * 2**-149 and sum of squares =
        Q * 2**-298, exactly.

Values are first converted to float32 (the precision ratings are stored in).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["exact_sums", "moment_bins"]


def moment_bins(values: np.ndarray) -> np.ndarray:
    """Per float32 exponent: the summed signed mantissas, and the summed squared mantissas
    split into high and low 24 bits. int64 bins overflow only past 2**39 ratings."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return _moment_bins(bits, 2 if bits.shape[0] >= _PARALLEL_FROM else 1)


#: ratings from which the bins are summed in two halves at once (the bins of parts add up)
_PARALLEL_FROM = 1 << 20


@njit(cache=True, nogil=True, parallel=True)
def _moment_bins(bits, parts):
    n = bits.shape[0]
    out = np.zeros((parts, 3, 256), np.int64)
    for c in prange(parts):
        for j in range(n * c // parts, n * (c + 1) // parts):
            b = np.int64(bits[j])
            e = (b >> 23) & 0xFF
            m = b & 0x7FFFFF
            if e != 0:
                m += 0x800000
            sq = m * m
            out[c, 0, e] += -m if b >> 31 else m
            out[c, 1, e] += sq >> 24
            out[c, 2, e] += sq & 0xFFFFFF
    return out.sum(0)


def exact_sums(bins: np.ndarray) -> tuple[int, int]:
    """(S, Q) with sum(values) = S * 2**-149 and sum(values**2) = Q * 2**-298 exactly."""
    s = q = 0
    for e in range(256):
        shift = max(e, 1) - 1  # a value is m * 2**(max(e, 1) - 150)
        s += int(bins[0, e]) << shift
        q += ((int(bins[1, e]) << 24) + int(bins[2, e])) << (2 * shift)
    return s, q

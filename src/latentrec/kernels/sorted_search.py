"""Membership tests on sorted index slices (the column indices of a CSR row)."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def contains(indices, lo, hi, item):
    """Whether ``item`` is in the sorted slice ``indices[lo:hi]`` (binary search)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False

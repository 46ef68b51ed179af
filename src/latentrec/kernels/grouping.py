"""Entries grouped by row, each row's in their given order: a stable counting sort.

    group_rows(rows, cols, values, n_rows) -> (indptr int64 (n_rows + 1,), cols int32,
                                               values in their dtype)
        the entries of row r at indptr[r]:indptr[r + 1], in the order given: what a stable
        argsort of ``rows`` gives, from one count and one pass that puts each entry in
        its place (8M ratings: 0.04 s where the argsort took 0.39 s). Unchecked: rows
        must lie in [0, n_rows).

ALS, Bayesian MF and the implicit models solve row by row over these arrays, for users and
then for items, so every fit of theirs builds two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["group_rows"]


def group_rows(rows, cols, values, n_rows: int):
    """See the module doc."""
    indptr = np.zeros(int(n_rows) + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    values = np.asarray(values)
    out_cols = np.empty(rows.shape[0], np.int32)
    out_values = np.empty(rows.shape[0], values.dtype)
    _place(rows, cols, values, indptr, out_cols, out_values)
    return indptr, out_cols, out_values


@njit(cache=True, nogil=True)
def _place(rows, cols, values, indptr, out_cols, out_values):
    """Entry j to the next free place of its row (rows taken in turn: a stable sort)."""
    free = indptr[:-1].copy()
    for j in range(rows.shape[0]):
        p = free[rows[j]]
        free[rows[j]] = p + 1
        out_cols[p] = cols[j]
        out_values[p] = values[j]

"""Entries grouped by row, each row's in their given order: a stable counting sort.

    group_rows(rows, cols, values, n_rows) -> (indptr int64 (n_rows + 1,), cols int32,
                                               values in their dtype)
        the entries of row r at indptr[r]:indptr[r + 1], in the order given: what a stable
        argsort of ``rows`` gives, from one count and one pass that gives each entry its
        place (8M ratings: 0.04-0.17 s where the argsort took 0.39-1.2 s). rows, cols and values
        must be 1-D of one length (ValueError), rows in [0, n_rows); values of any dtype.

ALS, Bayesian MF and the implicit models solve row by row over these arrays, for users and
then for items, so every fit of theirs builds two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["group_rows"]


def group_rows(rows, cols, values, n_rows: int):
    """See the module doc."""
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values)
    n = rows.shape[0] if rows.ndim == 1 else -1
    if n < 0 or cols.shape != (n,) or values.shape != (n,):
        raise ValueError(f"rows, cols and values must be 1-D of one length; got shapes "
                         f"{rows.shape}, {cols.shape}, {values.shape}")
    indptr = np.zeros(int(n_rows) + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])  # checks the range
    # values the kernel can move it moves; others (float16, objects) follow the order
    # it gives their positions
    moved = values.dtype.isnative and (values.dtype.kind in "biu"
                                       or values.dtype in (np.float32, np.float64))
    placed = values if moved else np.arange(n)
    out_cols, out_placed = np.empty(n, np.int32), np.empty(n, placed.dtype)
    _place(rows, cols, placed, indptr, out_cols, out_placed)
    return indptr, out_cols, (out_placed if moved else values[out_placed])


@njit(cache=True, nogil=True)
def _place(rows, cols, values, indptr, out_cols, out_values):
    """Entry j to the next free place of its row (rows taken in turn: a stable sort)."""
    free = indptr[:-1].copy()
    for j in range(rows.shape[0]):
        p = free[rows[j]]
        free[rows[j]] = p + 1
        out_cols[p] = cols[j]
        out_values[p] = values[j]

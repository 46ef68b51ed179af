"""Compressed sparse rows from (row, column) pairs: the one builder every part uses.

A fit wants the ratings grouped by user or by item, in the order given (so that a row's
entries keep their order and the numbers do not depend on how the grouping was done); a
model wants the pattern of who rated what, each row's columns sorted, for excluding seen
items and for binary search. Both come from here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels.grouping import group_rows


def grouped(rows, cols, values, n_rows: int):
    """(indptr int64, indices int32, values) of the entries grouped by row, each row's
    entries in their given order (a stable sort: kernels.grouping.group_rows)."""
    return group_rows(rows, cols, values, n_rows)


def pattern(rows, cols, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """n_rows x n_cols CSR of int8 ones where a (row, col) pair occurs (repeats count
    once), each row's columns sorted."""
    m = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n_rows, n_cols))
    m.sum_duplicates()  # sorts each row's columns (scipy's counting pass: O(n))
    m.data[:] = 1
    return m


def pattern_pairs(seen: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The (row, col) pairs of a pattern matrix, the inverse of :func:`pattern`."""
    rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    return rows, seen.indices.astype(np.int64)

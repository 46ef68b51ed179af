"""The prefetch hints compile for the tables the kernels give them and change nothing."""

import numpy as np
import pytest
from numba import njit

from latentrec.kernels.prefetch import prefetch, prefetch_row


@njit(cache=False)
def _hinted_sum(table, rows, far):
    for r in far:  # rows past the end: a hint is never a read
        prefetch_row(table, r)
    total = 0.0
    for r in rows:
        prefetch_row(table, r)
        prefetch(table, r)
        for c in range(table.shape[1]):
            total += np.float64(table[r, c])
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.bool_,
                                   np.complex128, "datetime64[s]"])
@pytest.mark.parametrize("n_cols", [0, 1, 15, 16, 17, 100, 257])
def test_prefetch_row_changes_nothing(dtype, n_cols):
    rng = np.random.default_rng(n_cols)
    table = (rng.standard_normal((9, n_cols)) * 10).astype(np.int64).astype(dtype)
    before = table.copy()
    rows = np.array([0, 8, 3, 3], np.int64)
    far = np.array([9, 1000], np.int64)
    if table.dtype.kind in "fiu":
        expected = sum(float(table[r].astype(np.float64).sum()) for r in rows)
        assert _hinted_sum(table, rows, far) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    else:
        _hinted(table, np.concatenate([rows, far]))
    np.testing.assert_array_equal(table, before)


@njit(cache=False)
def _hinted(table, rows):
    for r in rows:
        prefetch_row(table, r)


def test_prefetch_row_takes_c_contiguous_tables_only():
    from numba.core.errors import TypingError

    with pytest.raises(TypingError):
        _hinted(np.zeros((4, 3), order="F"), np.zeros(1, np.int64))
    with pytest.raises(TypingError):  # elements of no bytes: no line to step by
        _hinted(np.zeros((4, 3), np.dtype([])), np.zeros(1, np.int64))


def test_prefetch_row_is_a_no_op_in_python():
    table = np.ones((2, 3))
    assert prefetch_row(table, 1) is None
    np.testing.assert_array_equal(table, 1.0)

"""data/csr.py, the one CSR builder, against obvious NumPy references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.data import Ratings
from latentrec.data.csr import grouped, pattern, pattern_pairs


@st.composite
def pairs(draw):
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 12))
    n = draw(st.integers(0, 60))
    rows = np.array(draw(st.lists(st.integers(0, n_rows - 1), min_size=n, max_size=n)),
                    dtype=np.int32)
    cols = np.array(draw(st.lists(st.integers(0, n_cols - 1), min_size=n, max_size=n)),
                    dtype=np.int32)
    return rows, cols, n_rows, n_cols


@settings(max_examples=200, deadline=None)
@given(pairs())
def test_pattern_is_the_set_of_pairs_with_sorted_columns(p):
    rows, cols, n_rows, n_cols = p
    m = pattern(rows, cols, n_rows, n_cols)
    assert m.shape == (n_rows, n_cols) and m.dtype == np.int8 and (m.data == 1).all()
    for r in range(n_rows):
        got = m.indices[m.indptr[r]:m.indptr[r + 1]]
        assert got.tolist() == sorted(set(cols[rows == r].tolist()))
    back_rows, back_cols = pattern_pairs(m)
    assert set(zip(back_rows.tolist(), back_cols.tolist())) == set(zip(rows.tolist(),
                                                                        cols.tolist()))


@settings(max_examples=200, deadline=None)
@given(pairs())
def test_grouped_keeps_each_rows_entries_in_their_given_order(p):
    rows, cols, n_rows, _ = p
    values = np.arange(rows.size, dtype=np.float32)
    indptr, indices, vals = grouped(rows, cols, values, n_rows)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    for r in range(n_rows):
        here = np.flatnonzero(rows == r)
        assert indices[indptr[r]:indptr[r + 1]].tolist() == cols[here].tolist()
        assert vals[indptr[r]:indptr[r + 1]].tolist() == values[here].tolist()


@pytest.mark.parametrize("row_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("value_dtype", [np.float32, np.float64, np.int8, np.float16, ">f8",
                                         object])
def test_grouped_is_a_stable_argsort_for_every_dtype(row_dtype, value_dtype):
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 50, 3000).astype(row_dtype)
    cols = rng.integers(0, 70, 3000).astype(row_dtype)
    values = rng.integers(-100, 100, 3000).astype(value_dtype)
    indptr, indices, vals = grouped(rows, cols, values, 60)  # rows 50-59 empty
    order = np.argsort(rows, kind="stable")
    assert indptr.tolist() == [0, *np.cumsum(np.bincount(rows, minlength=60)).tolist()]
    assert np.array_equal(indices, cols[order]) and indices.dtype == np.int32
    assert np.array_equal(vals, values[order]) and vals.dtype == np.dtype(value_dtype)


@pytest.mark.parametrize("shapes", [(5, 5, 4), (5, 4, 5), ((5, 1), 5, 5)])
def test_grouped_refuses_arrays_of_other_lengths(shapes):
    rows, cols, values = (np.zeros(s, np.int32) for s in shapes)
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        grouped(rows, cols, values, 3)


def test_ratings_views_by_user_by_item_and_seen():
    r = Ratings.from_arrays(["b", "a", "b", "c"], [2, 1, 1, 2], [4.0, 3.0, 5.0, 1.0])
    by_user = r.grouped("user")
    by_item = r.grouped("item", values=np.arange(4.0))
    seen = r.seen()
    u = {uid: i for i, uid in enumerate(r.user_map.ids)}
    it = {iid: i for i, iid in enumerate(r.item_map.ids)}
    row_b = slice(by_user[0][u["b"]], by_user[0][u["b"] + 1])
    assert by_user[1][row_b].tolist() == [it[2], it[1]]  # the table's order
    assert by_user[2][row_b].tolist() == [4.0, 5.0]
    row_1 = slice(by_item[0][it[1]], by_item[0][it[1] + 1])
    assert by_item[2][row_1].tolist() == [1.0, 2.0]
    assert seen.indices[seen.indptr[u["b"]]:seen.indptr[u["b"] + 1]].tolist() == sorted(
        [it[1], it[2]])
    with pytest.raises(ValueError, match="by must be 'user' or 'item', got 'rows'"):
        r.grouped("rows")

"""The bound searches (kernels.bounded_topk, kernels.coarse_topk) against top_k over the
full score block."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import bounded_topk as bt
from latentrec.kernels.coarse_topk import CoarseBound, coarse_top_k
from latentrec.kernels.topk import HEAP_K, top_k


def csr(rows: list[np.ndarray]):
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return indptr, indices


@st.composite
def problems(draw):
    """Integer-valued scores (exact in float arithmetic, whatever the order of the sums),
    so both searches see the same numbers and ties must break alike: by lower index."""
    n_items = draw(st.integers(0, 700))
    n_rows = draw(st.integers(0, 80))
    d = draw(st.integers(1, 7))
    n_tail = draw(st.integers(0, d))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, (n_rows, d)).astype(dtype)
    B = rng.integers(-3, 4, (n_items, d)).astype(dtype)
    if draw(st.booleans()) and n_items:  # a head that dominates: the bound prunes
        B[:, n_tail:] *= rng.integers(0, 40, (n_items, 1))
    k = draw(st.integers(0, min(HEAP_K, 12)))
    seen = None
    if draw(st.booleans()):
        seen = csr([np.sort(rng.choice(n_items, rng.integers(0, min(n_items, 30) + 1),
                                       replace=False)) for _ in range(n_rows)])
    cand = rng.random(n_items) < 0.7 if draw(st.booleans()) else None
    return A, B, n_tail, k, seen, cand


@settings(max_examples=150, deadline=None)
@given(problems())
def test_it_finds_what_scoring_every_item_finds(problem):
    A, B, n_tail, k, seen, cand = problem
    index = bt.BoundIndex(B, n_tail)
    got_i, got_s = bt.bounded_top_k(index, A, k, seen=seen, candidates=cand)
    want_i, want_s = top_k((A @ B.T).reshape(A.shape[0], B.shape[0]), k, seen=seen,
                           candidates=cand)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


@settings(max_examples=200, deadline=None)
@given(problems(), st.integers(0, 7))
def test_the_coarse_bound_finds_what_scoring_every_item_finds(problem, n_lead):
    """Whatever the number of turned columns (not integers: only the bound uses them)."""
    A, B, n_tail, k, seen, cand = problem
    bound = CoarseBound(B, n_tail, min(n_lead, n_tail))
    got_i, got_s = coarse_top_k(bound, A, k, seen=seen, candidates=cand)
    want_i, want_s = top_k((A @ B.T).reshape(A.shape[0], B.shape[0]), k, seen=seen,
                           candidates=cand)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


INDEX_ARRAYS = ("B", "order", "head_t", "tail_norm", "tile_max", "tile_min", "tile_tail",
                "head_max")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 900), st.lists(st.integers(0, 5), min_size=1, max_size=4),
       st.integers(0, 12), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**32 - 1))
def test_an_index_from_column_blocks_is_the_index_of_them_side_by_side(n, widths, n_tail,
                                                                      dtype, seed):
    # blocks of any width (0 is a 1-D column), either dtype, cast to ``dtype``; the tail
    # may end inside a block or span several
    rng = np.random.default_rng(seed)
    blocks = [rng.normal(size=n).astype(np.float64) if w == 0
              else rng.normal(size=(n, w)).astype(rng.choice([np.float32, np.float64]))
              for w in widths]
    stacked = np.hstack([b.reshape(n, 1) if b.ndim == 1 else b for b in blocks], dtype=dtype)
    n_tail = min(n_tail, stacked.shape[1])
    want = bt.BoundIndex(stacked, n_tail)
    got = bt.BoundIndex(blocks, n_tail, dtype)
    for name in INDEX_ARRAYS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)
    assert got.B.dtype == dtype and got.B.flags.c_contiguous
    assert (got.n_tail, got.tail_max) == (want.n_tail, want.tail_max)


def test_a_dominant_head_leaves_most_tiles_unscanned():
    rng = np.random.default_rng(0)
    n, k = 20 * bt.TILE, 10
    B = np.hstack([rng.normal(0, 0.1, (n, 16)), rng.exponential(1.0, (n, 3)) ** 3])
    A = np.hstack([rng.normal(0, 1, (200, 16)), rng.exponential(1.0, (200, 3))])
    index = bt.BoundIndex(B.astype(np.float32), 16)
    scanned = np.empty(200, np.int64)
    got_i, _ = bt.bounded_top_k(index, A, k, scanned=scanned)
    want_i, _ = top_k((A @ B.T).astype(np.float32), k)
    assert np.mean([set(g) == set(w) for g, w in zip(got_i, want_i)]) == 1.0
    assert scanned.mean() < 0.25 * index.tile_tail.shape[0]


def test_rows_of_a_seen_matrix_are_read_through_rows():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(5, 4)), rng.normal(size=(300, 4))
    seen = csr([np.sort(rng.choice(300, 20, replace=False)) for _ in range(9)])
    rows = np.array([8, 0, 3, 3, 6])
    index = bt.BoundIndex(B, 2)
    got_i, _ = bt.bounded_top_k(index, A, 7, seen=seen, rows=rows)
    want_i, _ = top_k(A @ B.T, 7, seen=seen, rows=rows)
    np.testing.assert_array_equal(got_i, want_i)


def test_no_rows_no_items_and_k_zero_give_empty_lists():
    B = np.ones((0, 3), np.float32)
    i, s = bt.bounded_top_k(bt.BoundIndex(B, 1), np.ones((2, 3), np.float32), 4)
    assert (i == -1).all() and (s == -np.inf).all()
    index = bt.BoundIndex(np.ones((10, 3)), 1)
    assert bt.bounded_top_k(index, np.ones((0, 3)), 4)[0].shape == (0, 4)
    assert bt.bounded_top_k(index, np.ones((3, 3)), 0)[0].shape == (3, 0)


@pytest.mark.parametrize("B, n_tail, match", [
    (np.ones((4, 3), np.int64), 1, "B must be a 2-D float32 or float64 array"),
    (np.ones(4), 0, "B must be a 2-D float32 or float64 array"),
    (np.ones((4, 3)), 4, r"n_tail must be in \[0, 3\], got 4"),
    ([np.ones((4, 2)), np.ones(5)], 1, "column blocks of one length"),
    ([], 0, "got nothing"),
])
def test_bad_items_are_refused(B, n_tail, match):
    with pytest.raises(ValueError, match=match):
        bt.BoundIndex(B, n_tail)


@pytest.mark.parametrize("A, k, match", [
    (np.ones((2, 4)), 3, r"A must be 2-D with 3 columns, got \(2, 4\)"),
    (np.ones((2, 3)), HEAP_K + 1, rf"k must be an integer in \[0, {HEAP_K}\], got {HEAP_K + 1}"),
    (np.ones((2, 3)), True, r"k must be an integer in \[0, \d+\], got True"),
])
def test_bad_queries_are_refused(A, k, match):
    with pytest.raises(ValueError, match=match):
        bt.bounded_top_k(bt.BoundIndex(np.ones((5, 3)), 1), A, k)


def test_the_index_keeps_its_own_rows_in_tile_order():
    rng = np.random.default_rng(2)
    B = rng.normal(size=(3 * bt.TILE + 17, 6)).astype(np.float32)
    index = bt.BoundIndex(B, 4)
    assert np.array_equal(np.sort(index.order), np.arange(B.shape[0]))
    np.testing.assert_array_equal(index.B, B[index.order])
    np.testing.assert_array_equal(index.head_t, B[index.order, 4:].T)
    assert not np.shares_memory(index.B, B)
    B[:] = 0  # the caller's array is not read by a search
    got_i, _ = bt.bounded_top_k(index, np.ones((1, 6), np.float32), 3)
    want_i, _ = top_k(np.ones((1, 6), np.float32) @ index.B[np.argsort(index.order)].T, 3)
    np.testing.assert_array_equal(got_i, want_i)


def _check_kd_cells(points, order, lo, hi, leaf):
    """Each cell of more than ``leaf`` items is cut at whole tiles on the left, every
    item left of the cut at most every item right of it in the cell's widest column."""
    if hi - lo <= leaf:
        return
    cell = points[order[lo:hi]].astype(np.float64)  # widths as the kernel takes them
    widest = int(np.argmax(cell.max(axis=0) - cell.min(axis=0)))
    half = ((hi - lo) // 2 + leaf - 1) // leaf * leaf
    assert cell[:half, widest].max() <= cell[half:, widest].min()
    _check_kd_cells(points, order, lo, lo + half, leaf)
    _check_kd_cells(points, order, lo + half, hi, leaf)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 700), st.integers(1, 4), st.integers(1, 40), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_the_kd_order_cuts_each_cell_at_its_widest_columns_median(n, n_cols, leaf, ties,
                                                                    seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, n_cols)).astype(np.float32)
    if ties:  # few distinct values: the selection must cope with runs of equal keys
        points = np.round(points).astype(np.float32)
    order = bt._kd_order(points, leaf)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    _check_kd_cells(points, order, 0, n, leaf)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.0, 1.0, 3.0, np.inf, -np.inf]) |
                st.floats(-10, 10), min_size=1, max_size=60),
       st.data(), st.sampled_from([0, 1, 3, 200]))
def test_the_selection_splits_at_k_however_few_rounds_it_may_take(values, data, budget):
    keys = np.array(values, np.float32)
    n = keys.size
    lo = data.draw(st.integers(0, n - 1))
    hi = data.draw(st.integers(lo + 1, n))
    k = data.draw(st.integers(lo, hi - 1))
    idx = np.arange(n)
    before = keys.copy()
    bt._select(keys, idx, lo, hi, k, budget)  # budget 0: straight to the sort
    np.testing.assert_array_equal(keys, before[idx])  # moved together, nothing lost
    np.testing.assert_array_equal(idx[:lo], np.arange(lo))
    np.testing.assert_array_equal(idx[hi:], np.arange(hi, n))
    np.testing.assert_array_equal(np.sort(idx[lo:hi]), np.arange(lo, hi))
    assert keys[lo:k + 1].max() <= keys[k] <= keys[k:hi].min()

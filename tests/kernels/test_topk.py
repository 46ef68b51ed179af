"""kernels/topk.py against a plain NumPy ranking of every row."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import topk as K


def reference(scores, k, seen=None, rows=None, candidates=None, exclude=None):
    """Each row's valid items sorted by (-score, index), the first k; -1 / -inf padding."""
    n_rows, n_items = scores.shape
    out_i = np.full((n_rows, k), -1, np.int64)
    out_s = np.full((n_rows, k), -np.inf)
    for r in range(n_rows):
        row = scores[r].astype(np.float64)
        ok = row > -np.inf
        if candidates is not None:
            ok &= candidates
        if seen is not None:
            u = r if rows is None else rows[r]
            ok[seen[1][seen[0][u]:seen[0][u + 1]]] = False
        if exclude is not None and exclude[r] >= 0:
            ok[exclude[r]] = False
        valid = np.flatnonzero(ok)
        best = valid[np.lexsort((valid, -row[valid]))][:k]
        out_i[r, :best.size] = best
        out_s[r, :best.size] = row[best]
    return out_i, out_s


def old_best(row, n):
    """models/base.py's ``_best`` before kernels.topk (argpartition, then lexsort)."""
    valid = np.flatnonzero(row > -np.inf)
    if valid.size > n:
        valid = valid[np.argpartition(-row[valid], n - 1)[:n]]
    best = valid[np.lexsort((valid, -row[valid]))]
    return best, row[best]


@st.composite
def problems(draw):
    """Scores with few distinct values (ties, also across the k-th place, are common), k
    on both sides of topk.HEAP_K, and any mix of seen lists, candidates and exclusions."""
    n_rows = draw(st.integers(0, 6))
    n_items = draw(st.integers(1, 160))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    levels = draw(st.lists(st.floats(-5, 5, width=32), min_size=1, max_size=5))
    levels += draw(st.lists(st.sampled_from([-np.inf, np.inf, 0.0, -0.0, np.nan]), max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.choice(np.array(levels, dtype), (n_rows, n_items))
    k = draw(st.integers(0, n_items + 2))
    seen = rows = candidates = exclude = None
    if draw(st.booleans()):  # a CSR with more rows than the block; unsorted, repeats
        n_csr = n_rows + draw(st.integers(0, 3))
        indptr = np.concatenate([[0], np.cumsum(rng.integers(0, n_items + 1, n_csr))])
        indptr = indptr.astype(draw(st.sampled_from([np.int32, np.int64])))
        indices = rng.integers(0, n_items, indptr[-1]).astype(indptr.dtype)
        seen = (indptr, indices)
        if n_csr and draw(st.booleans()):  # else rows 0..n_rows-1 (n_csr >= n_rows)
            rows = rng.integers(0, n_csr, n_rows)
    if draw(st.booleans()):
        candidates = rng.random(n_items) < draw(st.floats(0, 1))
    if draw(st.booleans()):
        exclude = rng.integers(-1, n_items, n_rows)
    return scores, k, seen, rows, candidates, exclude


@settings(max_examples=300, deadline=None)
@given(problems())
def test_top_k_matches_numpy_ranking(problem):
    scores, k, seen, rows, candidates, exclude = problem
    got_i, got_s = K.top_k(scores, k, seen=seen, rows=rows, candidates=candidates,
                           exclude=exclude, n_threads=1)
    want_i, want_s = reference(scores, k, seen, rows, candidates, exclude)
    assert got_i.dtype == np.int64 and got_s.dtype == np.float64
    assert got_i.shape == got_s.shape == (scores.shape[0], k)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)
    # the scores are the input's values, sign of zero included
    assert np.array_equal(np.signbit(got_s), np.signbit(want_s))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(1, 60), st.integers(1, 70), st.integers(0, 2**32 - 1),
       st.booleans())
def test_top_k_is_the_old_best_where_that_was_well_defined(n_rows, n_items, k, seed, ties):
    """Without ties across the k-th place the old argpartition + lexsort gave exactly this;
    with them it kept an arbitrary (CPU-dependent) subset of the tied items, and the kernel
    keeps the lowest indices, the order the lexsort stated."""
    rng = np.random.default_rng(seed)
    scores = (rng.integers(0, 4, (n_rows, n_items)) if ties
              else rng.normal(size=(n_rows, n_items))).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf  # masked items, as _top_n set them
    got_i, got_s = K.top_k(scores, k)
    for r in range(n_rows):
        row = scores[r].astype(np.float64)
        ids, vals = old_best(row, k)
        m = ids.size
        assert np.all(got_i[r, m:] == -1) and np.all(got_s[r, m:] == -np.inf)
        np.testing.assert_array_equal(got_s[r, :m], vals)  # the same scores, always
        kth_tied = m == k and np.count_nonzero(row == vals[-1]) > np.count_nonzero(
            vals == vals[-1])
        if not kth_tied:
            np.testing.assert_array_equal(got_i[r, :m], ids)
        else:
            np.testing.assert_array_equal(got_i[r, :m], reference(scores[r:r + 1], k)[0][0])


@pytest.mark.parametrize("k", [12, 200])  # a heap of the k best, or a selection
def test_same_result_for_every_thread_count_and_layout(k):
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 50, (700, 300)).astype(np.float64)  # above SERIAL_CELLS
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 40, 1000))])
    indices = rng.integers(0, 300, indptr[-1])
    rows = rng.permutation(1000)[:700]
    cand = rng.random(300) < 0.8
    kw = dict(seen=(indptr, indices), rows=rows, candidates=cand)
    want = reference(scores, k, (indptr, indices), rows, cand)
    for got in (K.top_k(scores, k, n_threads=1, **kw), K.top_k(scores, k, n_threads=2, **kw),
                K.top_k(np.asfortranarray(scores), k, n_threads=2, **kw)):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_nan_scores_never_rank_as_before():
    row = np.array([[1.0, np.nan, 3.0, -np.inf, np.inf]])
    idx, s = K.top_k(row, 5)
    np.testing.assert_array_equal(idx, [[4, 2, 0, -1, -1]])
    np.testing.assert_array_equal(s, [[np.inf, 3.0, 1.0, -np.inf, -np.inf]])
    np.testing.assert_array_equal(old_best(row[0], 5)[0], [4, 2, 0])


def test_similar_style_one_excluded_index_per_row():
    scores = np.array([[0.9, 1.0, 0.5, 1.0], [0.2, 0.1, 0.3, 0.0]], np.float32)
    idx, s = K.top_k(scores, 2, exclude=np.array([1, -1]),
                     candidates=np.array([True, True, True, False]))
    np.testing.assert_array_equal(idx, [[0, 2], [2, 0]])
    np.testing.assert_array_equal(s, np.array([[0.9, 0.5], [0.3, 0.2]], np.float32))


@pytest.mark.parametrize("kwargs, match", [
    ({"seen": (np.array([0, 1]), np.array([5]))}, r"outside \[0, 4\)"),
    ({"exclude": np.array([4])}, r"outside \[0, 4\)"),
    ({"seen": (np.array([0, 1]), np.array([0])), "rows": np.array([1])},
     "rows must index the 1 rows of seen"),
    ({"candidates": np.ones(3, bool)}, "boolean mask over the 4 items"),
    ({"exclude": np.array([0, 1])}, "one item per row"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        K.top_k(np.zeros((1, 4)), 2, **kwargs)


def test_bad_scores_and_k():
    with pytest.raises(ValueError, match="2-D float32 or float64"):
        K.top_k(np.zeros(4), 2)
    with pytest.raises(ValueError, match="2-D float32 or float64"):
        K.top_k(np.zeros((1, 4), np.int64), 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        K.top_k(np.zeros((1, 4)), -1)
    assert K.top_k(np.zeros((2, 4)), 0)[0].shape == (2, 0)
    assert K.top_k(np.zeros((0, 4)), 3)[1].shape == (0, 3)

"""The coarse-bound search (kernels.coarse_topk) on real-valued scores, odd rows and bad
input; test_bounded_topk.py checks its lists against top_k on exact integer problems."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.data.csr import pattern
from latentrec.kernels import coarse_topk as ct
from latentrec.kernels.topk import HEAP_K, top_k


def csr(lists: list[np.ndarray], n_items: int):
    """Each row's seen items as the model keeps them: (indptr, indices)."""
    lengths = [len(x) for x in lists]
    m = pattern(np.repeat(np.arange(len(lists)), lengths),
                np.concatenate(lists) if lists else np.zeros(0, np.int64), len(lists), n_items)
    return m.indptr, m.indices


def low_rank(n_rows, n_items, seed=0, dtype=np.float32):
    """Factors whose spread lies in a few directions, and a head of bias columns: what a
    rating model's ranking scores look like."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((4, 32))
    A = np.hstack([rng.standard_normal((n_rows, 4)) @ basis
                   + 0.05 * rng.standard_normal((n_rows, 32)), np.ones((n_rows, 1)),
                   rng.standard_normal((n_rows, 1))])
    B = np.hstack([rng.standard_normal((n_items, 4)) @ basis
                   + 0.05 * rng.standard_normal((n_items, 32)),
                   2 * rng.standard_normal((n_items, 1)), np.ones((n_items, 1))])
    return A.astype(dtype), B.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_on_real_valued_scores_it_lists_the_same_items_scoring_few_in_full(dtype):
    A, B = low_rank(300, 5000, dtype=dtype)
    seen = csr([np.arange(u % 7, 5000, 97) for u in range(300)], 5000)
    scored = np.empty(300, np.int64)
    for n_lead in (0, 4):
        got_i, got_s = ct.coarse_top_k(ct.CoarseBound(B, 32, n_lead), A, 10, seen=seen,
                                       scored=scored)
        want_i, want_s = top_k(A @ B.T, 10, seen=seen)
        np.testing.assert_array_equal(got_i, want_i)  # no ties within rounding here
        np.testing.assert_allclose(got_s, want_s, rtol=1e-5 if dtype == np.float32 else 1e-12)
    # the factors decide here, so only turned columns bound them closely
    assert scored.mean() < 0.01 * 5000, scored.mean()


def test_the_threads_change_nothing():
    A, B = low_rank(500, 3000, seed=1)
    bound = ct.CoarseBound(B, 32, 2)
    one = ct.coarse_top_k(bound, A, 7, n_threads=1)
    two = ct.coarse_top_k(bound, A, 7, n_threads=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_rows_it_cannot_bound_are_scored_in_full():
    A, B = low_rank(6, 400, seed=2)
    A[1, 3] = np.inf  # inf scores: valid, and best
    A[2, 0] = np.nan  # NaN scores: never ranked
    A[3] *= 1e36  # bounds that would overflow float32
    scored = np.empty(6, np.int64)
    got_i, got_s = ct.coarse_top_k(ct.CoarseBound(B, 32, 3), A, 5, scored=scored)
    with np.errstate(invalid="ignore", over="ignore"):
        want_i, want_s = top_k(A @ B.T, 5)
    np.testing.assert_array_equal(got_i[[0, 1, 2, 4, 5]], want_i[[0, 1, 2, 4, 5]])
    assert set(got_i[3]) == set(want_i[3])
    np.testing.assert_array_equal(got_i[2], -1)
    assert list(scored[1:4]) == [400] * 3 and scored[0] < 400


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=300),
       st.integers(0, 3))
def test_block_maxima_are_numpys(values, start_block):
    """The integer-key maximum of each block is NumPy's maximum of its floats."""
    u = np.array(values, np.float32)
    j0 = min(start_block * ct.BLOCK, (u.size - 1) // ct.BLOCK * ct.BLOCK)
    bm = np.full(-(-u.size // ct.BLOCK), np.float32(7.5))
    ct._block_max(u, j0, u.size, bm)
    for b in range(j0 // ct.BLOCK, bm.size):
        want = u[b * ct.BLOCK:(b + 1) * ct.BLOCK].max()
        assert bm[b] == want, (b, bm[b], want)
    assert (bm[:j0 // ct.BLOCK] == np.float32(7.5)).all()  # blocks before j0 untouched


def test_bad_input_is_refused():
    B = np.ones((10, 4), np.float32)
    with pytest.raises(ValueError, match="n_tail must be in"):
        ct.CoarseBound(B, 5, 0)
    with pytest.raises(ValueError, match="n_lead must be in"):
        ct.CoarseBound(B, 2, 3)
    with pytest.raises(ValueError, match="B must be a 2-D float32 or float64"):
        ct.CoarseBound(B.astype(int), 2, 0)
    with pytest.raises(ValueError, match="B must be finite"):
        ct.CoarseBound(np.where(np.eye(10, 4) > 0, np.nan, 1.0), 2, 0)
    with pytest.raises(ValueError, match="B is too large for float32 bounds"):
        ct.CoarseBound(np.full((10, 4), 1e300), 2, 0)
    bound = ct.CoarseBound(B, 2, 1)
    with pytest.raises(ValueError, match="A must be 2-D with 4 columns"):
        ct.coarse_top_k(bound, np.ones((3, 5)), 2)
    with pytest.raises(ValueError, match=r"k must be an integer in \[0, 64\]"):
        ct.coarse_top_k(bound, np.ones((3, 4)), HEAP_K + 1)
    with pytest.raises(ValueError, match="seen item indices lie outside"):
        ct.coarse_top_k(bound, np.ones((3, 4)), 2,
                        seen=(np.array([0, 1, 2, 3]), np.array([10, 10, 10])))

"""kernels/pattern.py against the obvious dense products."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import pattern


@st.composite
def patterns(draw):
    n_rows, n_cols, k = draw(st.integers(0, 30)), draw(st.integers(1, 20)), draw(
        st.integers(1, 6))
    cells = draw(st.lists(st.tuples(st.integers(0, max(n_rows - 1, 0)),
                                    st.integers(0, n_cols - 1)), max_size=120))
    cells = cells if n_rows else []
    R = sp.csr_matrix((np.ones(len(cells)), ([c[0] for c in cells], [c[1] for c in cells])),
                      shape=(n_rows, n_cols))
    R.sum_duplicates()
    R.data[:] = 1
    seed = draw(st.integers(0, 2**32 - 1))
    return R, k, seed


@settings(max_examples=80, deadline=None)
@given(patterns(), st.sampled_from([np.float32, np.float64]))
def test_products_match_the_dense_reference(case, dtype):
    R, k, seed = case
    rng = np.random.default_rng(seed)
    dense = R.toarray()
    X = rng.standard_normal((R.shape[1], k)).astype(dtype)
    W = rng.standard_normal((R.shape[0], k)).astype(dtype)
    got = pattern.pattern_times(R.indptr, R.indices, X)
    assert got.dtype == dtype and got.shape == (R.shape[0], k)
    np.testing.assert_allclose(got, dense @ X, rtol=1e-5, atol=1e-5)
    got_t = pattern.pattern_t_times(R.indptr, R.indices, W, R.shape[1])
    assert got_t.dtype == dtype and got_t.shape == (R.shape[1], k)
    np.testing.assert_allclose(got_t, dense.T @ W, rtol=1e-5, atol=1e-5)


def test_the_transposed_product_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(0)
    R = sp.random(500, 80, density=0.1, format="csr", random_state=0)
    W = rng.standard_normal((500, 7)).astype(np.float32)
    one = pattern.pattern_t_times(R.indptr, R.indices, W, 80, n_threads=1)
    two = pattern.pattern_t_times(R.indptr, R.indices, W, 80, n_threads=2)
    np.testing.assert_array_equal(one, two)


def test_the_parts_shrink_under_the_memory_cap(monkeypatch):
    monkeypatch.setattr(pattern, "_PART_BYTES", 1)
    R = sp.random(50, 30, density=0.2, format="csr", random_state=1)
    W = np.ones((50, 3))
    np.testing.assert_allclose(pattern.pattern_t_times(R.indptr, R.indices, W, 30),
                               (R.toarray() > 0).T @ W)

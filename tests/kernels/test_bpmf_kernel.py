import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels.bpmf import sample_side


def reference(indptr, indices, values, other, mu, Lambda, alpha, z):
    out = np.empty((len(indptr) - 1, other.shape[1]))
    for r in range(len(indptr) - 1):
        cols = indices[indptr[r]:indptr[r + 1]]
        V = other[cols]
        A = Lambda + alpha * V.T @ V
        b = Lambda @ mu + alpha * V.T @ values[indptr[r]:indptr[r + 1]]
        L = np.linalg.cholesky(A)
        out[r] = np.linalg.solve(A, b) + np.linalg.solve(L.T, z[r])
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 6), st.integers(1, 5), st.integers(0, 10**6))
def test_sample_side_matches_numpy(n_rows, n_other, k, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_other)) < 0.6
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int32)
    values = rng.normal(size=indices.size)
    other = rng.normal(size=(n_other, k))
    B = rng.normal(size=(k, k))
    Lambda = B @ B.T + k * np.eye(k)
    mu, z = rng.normal(size=k), rng.normal(size=(n_rows, k))
    out = np.empty((n_rows, k))
    sample_side(indptr, indices, values, other, mu, Lambda, 1.7, z, out)
    np.testing.assert_allclose(out, reference(indptr, indices, values, other, mu, Lambda,
                                              1.7, z), rtol=1e-9, atol=1e-9)


def test_sample_covariance_is_the_posterior_covariance():
    """Many draws for one row: their covariance is the inverse posterior precision."""
    rng = np.random.default_rng(0)
    k, n = 3, 20000
    other = rng.normal(size=(4, k))
    Lambda = np.eye(k) * 2
    indptr = np.arange(n + 1, dtype=np.int64) * 4
    indices = np.tile(np.arange(4, dtype=np.int32), n)
    values = np.tile(rng.normal(size=4), n)
    out = np.empty((n, k))
    sample_side(indptr, indices, values, other, np.zeros(k), Lambda, 1.0,
                rng.standard_normal((n, k)), out)
    A = Lambda + other.T @ other
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.linalg.inv(A), atol=0.01)
    np.testing.assert_allclose(out.mean(0), np.linalg.solve(A, other.T @ values[:4]), atol=0.02)

"""kernels/linalg.py against numpy.linalg and scipy.linalg."""

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import linalg as K


def spd(n, seed, extra=2, dtype=np.float64):
    """A random symmetric positive definite n x n matrix inside an (n + extra)^2 scratch
    block whose other entries are garbage (the kernels must read A[:n, :n] only)."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    A = np.full((n + extra, n + extra), 1e300 if dtype == np.float64 else 1e30, dtype)
    A[:n, :n] = B @ B.T + n * np.eye(n)
    return A, rng.normal(size=n + extra).astype(dtype)


sizes = st.integers(1, 12)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(sizes, seeds, st.integers(0, 3))
def test_cholesky_matches_numpy_and_keeps_the_upper_triangle(n, seed, extra):
    A, _ = spd(n, seed, extra)
    before = A.copy()
    assert K.cholesky(A, n)
    L = np.tril(A[:n, :n])
    np.testing.assert_allclose(L, np.linalg.cholesky(before[:n, :n]), rtol=1e-12, atol=1e-12)
    upper = ~np.tril(np.ones(A.shape, bool))
    np.testing.assert_array_equal(A[upper], before[upper])
    np.testing.assert_array_equal(A[n:, :], before[n:, :])  # outside the leading block


@settings(max_examples=60, deadline=None)
@given(sizes, seeds, st.integers(0, 3))
def test_triangular_solves_match_scipy(n, seed, extra):
    A, b = spd(n, seed, extra)
    L = np.linalg.cholesky(A[:n, :n])
    Lbig = A.copy()
    Lbig[:n, :n] = L + np.triu(np.full((n, n), 7.0), 1)  # garbage above the diagonal
    y = b.copy()
    K.forward_solve(Lbig, y, n)
    np.testing.assert_allclose(y[:n], sl.solve_triangular(L, b[:n], lower=True), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(y[n:], b[n:])
    x = b.copy()
    K.back_solve(Lbig, x, n)
    np.testing.assert_allclose(x[:n], sl.solve_triangular(L, b[:n], lower=True, trans="T"),
                               rtol=1e-10, atol=1e-12)
    z = b.copy()
    K.cho_solve(Lbig, z, n)
    np.testing.assert_allclose(z[:n], sl.cho_solve((L, True), b[:n]), rtol=1e-10, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(sizes, seeds, st.sampled_from([np.float64, np.float32]))
def test_cholesky_solve_matches_numpy_solve(n, seed, dtype):
    A, b = spd(n, seed, 1, dtype)
    want = np.linalg.solve(A[:n, :n].astype(np.float64), b[:n].astype(np.float64))
    x = b.copy()
    assert K.cholesky_solve(A, x, n)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(x[:n], want, rtol=tol, atol=tol)


@pytest.mark.parametrize("bad", [np.diag([1.0, -1.0, 2.0]), np.zeros((3, 3)),
                                 np.array([[1.0, 2.0, 0], [2.0, 1.0, 0], [0, 0, 1.0]]),
                                 np.full((3, 3), np.nan)])
def test_not_positive_definite_is_reported(bad):
    A = bad.copy()
    assert not K.cholesky(A, 3)
    assert not K.cholesky_solve(bad.copy(), np.ones(3), 3)


def test_empty_system_is_a_no_op():
    A, b = np.zeros((2, 2)), np.array([1.0, 2.0])
    assert K.cholesky_solve(A, b, 0)
    np.testing.assert_array_equal(b, [1.0, 2.0])

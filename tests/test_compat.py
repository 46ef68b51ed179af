"""latentrec.matrix_factorization against the notebook's own pure-Python loop."""

import numpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import matrix_factorization

NOTEBOOK_R = [[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4],
              [2, 1, 3, 0]]


def notebook_matrix_factorization(R, P, Q, K, steps=5000, alpha=0.0002, beta=0.02):
    """The notebook's function, as published (Q passed as items x K, transposed inside)."""
    Q = Q.T
    for _step in range(steps):
        for i in range(len(R)):
            for j in range(len(R[i])):
                if R[i][j] > 0:
                    eij = R[i][j] - numpy.dot(P[i, :], Q[:, j])
                    for k in range(K):
                        P[i][k] = P[i][k] + alpha * (2 * eij * Q[k][j] - beta * P[i][k])
                        Q[k][j] = Q[k][j] + alpha * (2 * eij * P[i][k] - beta * Q[k][j])
        e = 0
        for i in range(len(R)):
            for j in range(len(R[i])):
                if R[i][j] > 0:
                    e = e + pow(R[i][j] - numpy.dot(P[i, :], Q[:, j]), 2)
                    for k in range(K):
                        e = e + (beta / 2) * (pow(P[i][k], 2) + pow(Q[k][j], 2))
        if e < 0.001:
            break
    return P, Q.T


def _problem(seed, n_users, n_items, K, density):
    rng = np.random.default_rng(seed)
    R = np.where(rng.random((n_users, n_items)) < density,
                 rng.integers(1, 6, (n_users, n_items)), 0).astype(np.float64)
    return R, rng.random((n_users, K)), rng.random((n_items, K))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 7), n_items=st.integers(1, 7),
       K=st.integers(1, 4), density=st.floats(0.0, 1.0))
def test_matches_notebook_loop_after_50_steps(seed, n_users, n_items, K, density):
    R, P, Q = _problem(seed, n_users, n_items, K, density)
    want_P, want_Q = notebook_matrix_factorization(R, P.copy(), Q.copy(), K, steps=50,
                                                   alpha=0.01)
    got_P, got_Q = matrix_factorization(R, P, Q, K, steps=50, alpha=0.01)
    assert got_P.dtype == got_Q.dtype == np.float64
    np.testing.assert_allclose(got_P, want_P, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_Q, want_Q, rtol=0, atol=1e-9)


def test_early_break_matches_notebook():
    # R = 1 x 2, exactly factorable: the error falls below 0.001 after a few steps, and
    # both implementations must stop after that same step.
    R = np.array([[1.0, 0.5]])
    P, Q = np.array([[0.5]]), np.array([[0.5], [0.3]])
    kw = {"alpha": 0.2, "beta": 0.0}
    runs = [notebook_matrix_factorization(R, P.copy(), Q.copy(), 1, steps=s, **kw)[0]
            for s in range(1, 60)]
    broke_after = next(s for s in range(1, 59) if np.array_equal(runs[s - 1], runs[s]))
    assert 1 < broke_after < 50
    got_P, got_Q = matrix_factorization(R, P, Q, 1, steps=200, **kw)
    want_P, want_Q = notebook_matrix_factorization(R, P.copy(), Q.copy(), 1, steps=200, **kw)
    np.testing.assert_allclose(got_P, runs[broke_after - 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_Q, want_Q, rtol=0, atol=1e-12)
    # one step fewer is a different answer, so the break is at the same step, not earlier
    assert not np.allclose(got_P, runs[broke_after - 2], rtol=0, atol=1e-12)


def test_notebook_example_reproduces_known_ratings():
    R = np.array(NOTEBOOK_R, dtype=float)
    rng = np.random.default_rng(0)
    P, Q = rng.random((6, 2)), rng.random((4, 2))
    nP, nQ = matrix_factorization(NOTEBOOK_R, P, Q, 2)
    known = R > 0
    assert np.abs((nP @ nQ.T)[known] - R[known]).max() < 0.2


def test_inputs_untouched_and_shapes_kept():
    R, P, Q = _problem(1, 5, 4, 3, 0.6)
    P0, Q0 = P.copy(), Q.copy()
    nP, nQ = matrix_factorization(R, P, Q, 3, steps=20)
    assert nP.shape == P.shape and nQ.shape == Q.shape
    assert np.array_equal(P, P0) and np.array_equal(Q, Q0)
    assert not np.array_equal(nP, P0)


def test_transposed_q_accepted_when_unambiguous():
    R, P, Q = _problem(2, 5, 4, 3, 0.6)
    nP, nQ = matrix_factorization(R, P, Q, 3, steps=20)
    tP, tQ = matrix_factorization(R, P, Q.T.copy(), 3, steps=20)
    assert tQ.shape == (3, 4)
    np.testing.assert_array_equal(tP, nP)
    np.testing.assert_array_equal(tQ, nQ.T)


def test_zero_steps_returns_copies():
    R, P, Q = _problem(3, 3, 3, 2, 0.5)
    nP, nQ = matrix_factorization(R, P, Q, 2, steps=0)
    assert np.array_equal(nP, P) and nP is not P


def test_float32_in_float32_out():
    R, P, Q = _problem(4, 4, 5, 2, 0.7)
    nP, nQ = matrix_factorization(R, P.astype(np.float32), Q.astype(np.float32), 2, steps=30)
    assert nP.dtype == nQ.dtype == np.float32
    wP, wQ = matrix_factorization(R, P, Q, 2, steps=30)
    np.testing.assert_allclose(nP, wP, atol=1e-5)


R0, P0, Q0 = _problem(5, 4, 3, 2, 0.8)


@pytest.mark.parametrize("kwargs, match", [
    ({"K": 3}, r"P must have shape \(n_users, K\) = \(4, 3\).*got \(4, 2\)"),
    ({"K": 0}, r"K must be a positive int, got 0"),
    ({"K": 2.0}, r"K must be a positive int, got 2.0"),
    ({"steps": -1}, r"steps must be an int >= 0, got -1"),
    ({"steps": 1.5}, r"steps must be an int >= 0, got 1.5"),
    ({"alpha": float("nan")}, r"alpha must be a finite number, got nan"),
    ({"beta": float("inf")}, r"beta must be a finite number, got inf"),
    ({"alpha": "0.1"}, r"alpha must be a finite number, got '0.1'"),
    ({"Q": np.zeros((5, 2))}, r"Q must have shape \(n_items, K\) = \(3, 2\).*got \(5, 2\)"),
    ({"P": np.zeros(4)}, r"P must be a 2-D array of real numbers, got 1-D float64"),
    ({"R": np.zeros(3)}, r"R must be a 2-D array of real numbers, got 1-D float64"),
    ({"R": np.array([["a"]])}, r"R must be a 2-D array of real numbers"),
])
def test_bad_arguments_raise(kwargs, match):
    args = {"R": R0, "P": P0, "Q": Q0, "K": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        matrix_factorization(**args)

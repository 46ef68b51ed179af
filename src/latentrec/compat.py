"""The classic ``matrix_factorization`` function, with the widely copied notebook's semantics.

Use it to port code written against that notebook unchanged (and a few hundred times
faster); new code should use :class:`latentrec.SGDMatrixFactorization`, which scales to
sparse data, has biases, early stopping and threads.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ParameterError
from .kernels.classic import classic_mf

__all__ = ["matrix_factorization"]


def matrix_factorization(R, P, Q, K, steps=5000, alpha=0.0002, beta=0.02):
    """Factor the dense matrix ``R`` ~ ``P @ Q.T`` by the notebook's SGD; returns ``(P, Q)``.

    Parameters
    ----------
    R : array-like (n_users, n_items). Entries > 0 are the known ratings; zeros (and NaN)
        are unknown.
    P : array-like (n_users, K), the starting user factors.
    Q : array-like (n_items, K), the starting item factors — the shape the notebook's
        caller passes (``Q = numpy.random.rand(M, K)``; the function transposes internally).
        The transposed form (K, n_items) is accepted too when it cannot be mistaken for the
        first, that is when n_items != K; a square Q is always read as (n_items, K).
    K : the number of latent features; must equal P's and Q's K.
    steps : the most passes over the known entries (an int >= 0).
    alpha : the learning rate; beta : the regularization weight (finite numbers).

    Each step, for each known (i, j) in row-major order: ``e = R[i,j] - P[i].Q[j]``, then
    for k in turn ``P[i,k] += alpha * (2 e Q[j,k] - beta P[i,k])`` and
    ``Q[j,k] += alpha * (2 e P[i,k] - beta Q[j,k])`` (with the P[i,k] just updated). After
    each step, the error sum over known entries of ``(R[i,j] - P[i].Q[j])**2 +
    beta/2 * sum_k (P[i,k]**2 + Q[j,k]**2)``; below 0.001 the loop stops, as in the notebook.

    Returns
    -------
    (P, Q) : new arrays, shaped as given (Q in the orientation it came in); the inputs are
    left unchanged. float32 when P and Q are both float32, else float64.
    """
    R = np.asarray(R)
    P, Q = np.asarray(P), np.asarray(Q)
    _check_real_matrices(R=R, P=P, Q=Q)
    if not _is_int(K) or K < 1:
        raise ParameterError(f"K must be a positive int, got {K!r}")
    transposed = _q_is_transposed(R, P, Q, K)
    if not _is_int(steps) or steps < 0:
        raise ParameterError(f"steps must be an int >= 0, got {steps!r}")
    _check_finite(alpha=alpha, beta=beta)
    dtype = np.float32 if P.dtype == Q.dtype == np.float32 else np.float64
    P_out = np.array(P, dtype=dtype, order="C")
    Q_out = np.array(Q.T if transposed else Q, dtype=dtype, order="C")
    classic_mf(np.ascontiguousarray(R, dtype=dtype), P_out, Q_out, int(steps), float(alpha),
               float(beta))
    return P_out, (np.ascontiguousarray(Q_out.T) if transposed else Q_out)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_real_matrices(**arrays) -> None:
    for name, a in arrays.items():
        if a.ndim != 2 or a.dtype.kind not in "biuf":
            raise ParameterError(f"{name} must be a 2-D array of real numbers, got "
                                 f"{a.ndim}-D {a.dtype}")


def _q_is_transposed(R, P, Q, K) -> bool:
    """Check P's and Q's shapes against R and K; whether Q came as (K, n_items).

    A square Q is read as (n_items, K): the notebook's callers pass that shape.
    """
    n_users, n_items = R.shape
    if P.shape != (n_users, K):
        raise ParameterError(f"P must have shape (n_users, K) = ({n_users}, {K}) for R of shape "
                             f"{R.shape}; got {P.shape}")
    transposed = Q.shape == (K, n_items) and n_items != K
    if Q.shape != (n_items, K) and not transposed:
        raise ParameterError(f"Q must have shape (n_items, K) = ({n_items}, {K}) for R of shape "
                             f"{R.shape} (or ({K}, {n_items})); got {Q.shape}")
    return transposed


def _check_finite(**values) -> None:
    for name, value in values.items():
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not np.isfinite(value)):
            raise ParameterError(f"{name} must be a finite number, got {value!r}")

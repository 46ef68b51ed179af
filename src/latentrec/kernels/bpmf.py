"""Gibbs sampling kernel for Bayesian probabilistic matrix factorization (BPMF).

One call draws new factors for every row of one side given the other side's factors:

    precision_r = Lambda + alpha * sum_{j in row r} V_j V_j^T
    mean_r      = precision_r^-1 (Lambda mu + alpha * sum_{j in row r} R_rj V_j)
    U_r         = mean_r + L_r^-T z_r,   L_r L_r^T = precision_r,  z_r ~ N(0, I)

``z`` (rows x K standard normals) is drawn by the caller, so the result does not depend on
how rows are spread over threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def sample_side(indptr, indices, values, other, mu, Lambda, alpha, z, out):
    n_rows = indptr.shape[0] - 1
    K = other.shape[1]
    prior = Lambda @ mu
    for r in prange(n_rows):
        A = Lambda.copy()
        b = prior.copy()
        for jj in range(indptr[r], indptr[r + 1]):
            v = other[indices[jj]]
            w = alpha * values[jj]
            for a in range(K):
                b[a] += w * v[a]
                for c in range(K):
                    A[a, c] += alpha * v[a] * v[c]
        L = np.linalg.cholesky(A)
        mean = _cho_solve(L, b)
        # x = L^-T z has covariance (L L^T)^-1 = A^-1
        x = _back(L, z[r].copy())
        for a in range(K):
            out[r, a] = mean[a] + x[a]


@njit(cache=True)
def _forward(L, b):
    """Solve L y = b (L lower triangular) in place of b."""
    K = L.shape[0]
    for a in range(K):
        s = b[a]
        for c in range(a):
            s -= L[a, c] * b[c]
        b[a] = s / L[a, a]
    return b


@njit(cache=True)
def _back(L, y):
    """Solve L^T x = y in place of y."""
    K = L.shape[0]
    for a in range(K - 1, -1, -1):
        s = y[a]
        for c in range(a + 1, K):
            s -= L[c, a] * y[c]
        y[a] = s / L[a, a]
    return y


@njit(cache=True)
def _cho_solve(L, b):
    return _back(L, _forward(L, b.copy()))

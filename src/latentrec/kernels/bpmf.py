"""Gibbs sampling kernel for Bayesian probabilistic matrix factorization (BPMF).

One call draws new factors for every row of one side given the other side's factors:

    precision_r = Lambda + alpha * sum_{j in row r} V_j V_j^T
    mean_r      = precision_r^-1 (Lambda mu + alpha * sum_{j in row r} R_rj V_j)
    U_r         = mean_r + L_r^-T z_r,   L_r L_r^T = precision_r,  z_r ~ N(0, I)

``z`` (rows x K standard normals) is drawn by the caller, so the result does not depend on
how rows are spread over threads. The triangular solves are :mod:`.linalg`'s (strict IEEE
here: this kernel uses no fastmath).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .linalg import back_solve, cho_solve


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
        cho_solve(L, b, K)  # b becomes the mean
        # x = L^-T z has covariance (L L^T)^-1 = A^-1
        x = z[r].copy()
        back_solve(L, x, K)
        for a in range(K):
            out[r, a] = b[a] + x[a]


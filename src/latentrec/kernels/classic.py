"""The classic dense-matrix SGD loop (the widely copied notebook's), compiled.

    classic_mf(R, P, Q, steps, alpha, beta) -> n_steps_run

R (n_users, n_items), P (n_users, K), Q (n_items, K), one float dtype; P and Q are updated
in place. Entries of R > 0 are known. Each step visits the known entries in row-major
order, then computes the regularised error over all of them and stops early when it falls
below 0.001, exactly as the notebook does. No fastmath: the operations run in the
notebook's order, so the result matches its pure-Python loop to rounding.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def _dot(P, Q, i, j):
    """P[i] . Q[j], summed in order (as the notebook's numpy.dot does for small K)."""
    dot = 0.0
    for k in range(P.shape[1]):
        dot += P[i, k] * Q[j, k]
    return dot


@njit(cache=True)
def classic_mf(R, P, Q, steps, alpha, beta):
    n_users, n_items = R.shape
    K = P.shape[1]
    for step in range(steps):
        for i in range(n_users):
            for j in range(n_items):
                if R[i, j] > 0:
                    eij = R[i, j] - _dot(P, Q, i, j)
                    for k in range(K):
                        P[i, k] = P[i, k] + alpha * (2 * eij * Q[j, k] - beta * P[i, k])
                        Q[j, k] = Q[j, k] + alpha * (2 * eij * P[i, k] - beta * Q[j, k])
        e = 0.0
        for i in range(n_users):
            for j in range(n_items):
                if R[i, j] > 0:
                    e = e + (R[i, j] - _dot(P, Q, i, j)) ** 2
                    for k in range(K):
                        e = e + (beta / 2) * (P[i, k] ** 2 + Q[j, k] ** 2)
        if e < 0.001:
            return step + 1
    return steps

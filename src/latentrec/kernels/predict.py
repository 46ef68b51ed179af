"""Predicted ratings for (user, item) pairs, and the error of such predictions.

    predict_pairs(users, items, P, Q, bu, bi, mu, n_threads=None) -> P.dtype array
        mu + bu[u] + bi[i] + P[u] . Q[i] for each pair, in P's dtype (scalars cast to it);
        a negative u (or i) drops that side's terms (pass zero biases and mu=0 for an
        unbiased model). Compiled, parallel over chunks of pairs; every model's
        validation error goes through it (kernels/sgd.py re-exports it).
    rmse(y_true, y_pred) -> float
        sqrt(mean((y_true - y_pred)**2)) in float64, NaN when empty; no checks (a NaN in
        gives NaN out). The arithmetic of evaluation.metrics.rmse, which adds the checks.

Arrays for predict_pairs: P (n_users, K) and Q (n_items, K) C-contiguous float32 or
float64, bu/bi 1-D of P's dtype; users/items of any integer type.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import num_threads

__all__ = ["predict_pairs", "rmse"]

# fastmath without nnan/ninf (see kernels/sgd.py): lets the K loop vectorise.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(fastmath=FASTMATH, cache=True, parallel=True)
def _predict(users, items, P, Q, bu, bi, mu, out):
    n = users.shape[0]
    n_chunks = (n + 4095) // 4096
    for c in prange(n_chunks):
        for j in range(c * 4096, min(n, (c + 1) * 4096)):
            u, i = users[j], items[j]
            s = mu
            if u >= 0:
                s += bu[u]
            if i >= 0:
                s += bi[i]
            if u >= 0 and i >= 0:
                for k in range(P.shape[1]):
                    s += P[u, k] * Q[i, k]
            out[j] = s


def predict_pairs(users, items, P, Q, bu, bi, mu, n_threads=None):
    """Predictions for the pairs (users[j], items[j]), in P's dtype; see module doc."""
    _check_factors(P, Q, bu, bi, writable=False)
    users, items = np.asarray(users), np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise ValueError(f"users and items must be 1-D of one length; got shapes "
                         f"{users.shape}, {items.shape}")
    for idx, n, name in ((users, P.shape[0], "users"), (items, Q.shape[0], "items")):
        if idx.size and int(idx.max()) >= n:
            raise ValueError(f"{name} must be < {n} (the factor rows); got {int(idx.max())}")
    out = np.empty(users.shape[0], P.dtype)
    with num_threads(n_threads):
        _predict(users, items, P, Q, bu, bi, P.dtype.type(mu), out)
    return out


def rmse(y_true, y_pred) -> float:
    """Root mean squared error in float64 (NumPy's pairwise mean); NaN when empty."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean((t - p) ** 2))) if t.size else float("nan")


def _check_factors(P, Q, bu, bi, writable=True):
    """Factor arrays as the compiled loops take them (also kernels/sgd.py's check)."""
    for a, name, nd in ((P, "P", 2), (Q, "Q", 2), (bu, "bu", 1), (bi, "bi", 1)):
        if not isinstance(a, np.ndarray) or a.ndim != nd or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous {nd}-D numpy array")
        if a.dtype != P.dtype or P.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name} must be float32 or float64 like P; got {a.dtype}")
        if writable and not a.flags.writeable:
            raise ValueError(f"{name} must be writable (it is updated in place)")
    if Q.shape[1] != P.shape[1]:
        raise ValueError(f"P and Q must have the same number of columns (K); got "
                         f"{P.shape[1]} and {Q.shape[1]}")
    if bu.shape[0] != P.shape[0] or bi.shape[0] != Q.shape[0]:
        raise ValueError(f"bu and bi must have one entry per row of P and Q; got lengths "
                         f"{bu.shape[0]}, {bi.shape[0]} for {P.shape[0]}, {Q.shape[0]} rows")

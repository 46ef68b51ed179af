"""Alternating least squares: explicit (biased, ALS-WR) and implicit (weighted, CG) sweeps.

A sweep solves every row of one side with the other side fixed. Rows come as CSR arrays
``(indptr, indices, values)``: row ``u``'s entries are ``indices[indptr[u]:indptr[u + 1]]``
(columns: rows of the fixed side ``Y``) with ``values`` at the same positions. For the user
side pass the user x item CSR and the item factors; for the item side the transpose and
the user factors.

Explicit (ALS-WR, Zhou et al. 2008), for each row u with n_u > 0 entries::

    min_{x, b}  sum_i (v_ui - by[i] - b - x . Y[i])^2 + reg * n_u |x|^2 + reg_bias * n_u b^2

i.e. the (K+1) x (K+1) normal equations of the rows a_i = [Y[i], 1] with the diagonal
[reg n_u, ..., reg n_u, reg_bias n_u], solved by Cholesky (accumulated in float64). With
``biased=False`` the bias column is left out (b = 0, ``by`` not read). Rows with no entries
get x = 0, b = 0.

    als_sweep(indptr, indices, values, X, bx, Y, by, reg, reg_bias, biased, n_threads=None)
        writes X[u], bx[u] in place; returns the sum over all entries of the squared
        residual v_ui - by[i] - bx[u] - X[u] . Y[i] with the new rows (a Python float).

Implicit (Hu, Koren and Volinsky 2008, solved as in Takacs et al. 2011): each entry holds a
confidence-signed value c; preference p = 1 and weight |c| where c > 0, p = 0 and weight |c|
where c <= 0; every pair not stored has p = 0 and weight 1. For each row::

    (Y'Y + reg I + sum_i (|c_ui| - 1) Y[i]' Y[i]) x = sum_{i: c_ui > 0} c_ui Y[i]

is solved approximately by ``cg_steps`` conjugate-gradient steps started from the current
X[u], with Y'Y formed once per sweep, so a sweep costs O(nnz K + n K^2). The row's Y rows
are gathered once into a contiguous scratch block (as large as the block's longest row),
so the CG steps stream through them. Rows with no entries get x = 0.

    implicit_cg_sweep(indptr, indices, conf, X, Y, reg, cg_steps=3, n_threads=None)
        updates X in place (X.dtype throughout, as the ``implicit`` package does).

    gramian(Y, reg) -> Y'Y + reg I in Y's dtype.

Index arrays of any integer type and values of any float type are accepted (converted to
int64 indptr, int32 indices and the factors' dtype: one compiled version per dtype).

Rows are cut into blocks of about equal work and the blocks run in parallel (``prange``,
one block at a time per thread, dynamic scheduling). Each row's solve reads only its own
entries and the fixed side, so the results are the same for every thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .linalg import cholesky_solve
from .threads import num_threads, thread_count

__all__ = ["als_sweep", "gramian", "implicit_cg_sweep", "row_blocks"]

# fastmath without nnan/ninf (see kernels/sgd.py): lets the K loops vectorise.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
#: Blocks per thread: enough that a slow core does not hold a sweep back.
BLOCKS_PER_THREAD = 8
#: Residual norm^2 below which CG stops (the value the ``implicit`` package uses).
CG_TOL = 1e-20


# -- explicit ------------------------------------------------------------------------------
@njit(fastmath=FASTMATH, cache=True)
def _als_row(u, indptr, indices, values, X, bx, Y, by, reg, reg_bias, biased, A, a, rhs):
    """Solve row u (see module doc) using the scratch A, a, rhs; returns its squared error."""
    K = Y.shape[1]
    n = K + 1 if biased else K
    lo, hi = indptr[u], indptr[u + 1]
    if hi == lo:
        for k in range(K):
            X[u, k] = 0.0
        bx[u] = 0.0
        return 0.0
    A[:n, :n] = 0.0
    rhs[:n] = 0.0
    a[K] = 1.0
    for jj in range(lo, hi):
        i = indices[jj]
        for k in range(K):
            a[k] = Y[i, k]
        y = float(values[jj])
        if biased:
            y -= float(by[i])
        for r in range(n):
            ar = a[r]
            rhs[r] += y * ar
            for c in range(r + 1):
                A[r, c] += ar * a[c]
    cnt = float(hi - lo)
    for k in range(K):
        A[k, k] += reg * cnt
    if biased:
        A[K, K] += reg_bias * cnt
    if not cholesky_solve(A, rhs, n):
        return -1.0  # only without regularization, on a rank-deficient row
    for k in range(K):
        X[u, k] = rhs[k]
    bx[u] = rhs[K] if biased else 0.0
    sse = 0.0
    for jj in range(lo, hi):
        i = indices[jj]
        e = float(values[jj])
        if biased:
            e -= float(by[i]) + float(bx[u])
        d = 0.0
        for k in range(K):
            d += float(X[u, k]) * float(Y[i, k])
        e -= d
        sse += e * e
    return sse


@njit(cache=True, parallel=True)
def _als_blocks(indptr, indices, values, X, bx, Y, by, reg, reg_bias, biased, bounds):
    K = Y.shape[1]
    n_blocks = bounds.shape[0] - 1
    sse = np.zeros(n_blocks)
    failed = np.full(n_blocks, -1, np.int64)
    for b in prange(n_blocks):
        A = np.empty((K + 1, K + 1))
        a = np.empty(K + 1)
        rhs = np.empty(K + 1)
        s = 0.0
        for u in range(bounds[b], bounds[b + 1]):
            e = _als_row(u, indptr, indices, values, X, bx, Y, by, reg, reg_bias, biased, A,
                         a, rhs)
            if e < 0.0:
                if failed[b] < 0:
                    failed[b] = u
            else:
                s += e
        sse[b] = s
    return sse.sum(), failed.max()


def als_sweep(indptr, indices, values, X, bx, Y, by, reg, reg_bias, biased, n_threads=None):
    """Solve every row's biased ridge problem with Y fixed (see module doc); returns the SSE."""
    _check_csr(indptr, indices, values, X.shape[0], Y.shape[0])
    _check_side(X, Y, bx, by)
    indptr, indices, values = _as_csr(indptr, indices, values, X.dtype)
    if reg < 0 or reg_bias < 0:
        raise ValueError(f"reg and reg_bias must be >= 0, got {reg!r} and {reg_bias!r}")
    K = Y.shape[1]
    bounds = row_blocks(indptr, (K + 1) / 3.0, n_threads)
    with num_threads(n_threads, chunksize=1):
        sse, failed = _als_blocks(indptr, indices, values, X, bx, Y, by, float(reg),
                                  float(reg_bias), bool(biased), bounds)
    if failed >= 0:
        raise np.linalg.LinAlgError(
            f"row {failed}'s normal equations are singular; use a positive regularization")
    return float(sse)


# -- implicit ------------------------------------------------------------------------------
# No "reassoc" here: with it LLVM vectorizes the row's dot products in a way that depends
# on where numba placed the scratch arrays, so the thread count (and even a warm or cold
# compile cache) changed the bits. A CG step costs O(K^2 + n K); K stays small.
@njit(fastmath=FASTMATH - {"reassoc"}, cache=True)
def _cg_row(u, indptr, indices, conf, X, Y, YtY, cg_steps, r, p, Ap, G, wt):
    """CG steps on row u's system (module doc). The row's Y rows are copied into G (and
    their |c| - 1 into wt) on the first pass, so the CG steps read them in order."""
    K = X.shape[1]
    t = X.dtype.type
    lo, hi = indptr[u], indptr[u + 1]
    n = hi - lo
    if n == 0:
        for k in range(K):
            X[u, k] = 0.0
        return
    # r = b - A x, with A x = YtY x + sum (|c| - 1) (y . x) y
    for k in range(K):
        s = t(0.0)
        for m in range(K):
            s += YtY[k, m] * X[u, m]
        r[k] = -s
    for e in range(n):
        i = indices[lo + e]
        c = t(conf[lo + e])
        w = c if c > 0 else t(0.0)
        wt[e] = abs(c) - t(1.0)
        d = t(0.0)
        for k in range(K):
            g = Y[i, k]
            G[e, k] = g
            d += g * X[u, k]
        w -= wt[e] * d
        for k in range(K):
            r[k] += w * G[e, k]
    rsold = t(0.0)
    for k in range(K):
        p[k] = r[k]
        rsold += r[k] * r[k]
    if rsold < CG_TOL:
        return
    for _ in range(cg_steps):
        for k in range(K):
            s = t(0.0)
            for m in range(K):
                s += YtY[k, m] * p[m]
            Ap[k] = s
        for e in range(n):
            d = t(0.0)
            for k in range(K):
                d += G[e, k] * p[k]
            w = wt[e] * d
            for k in range(K):
                Ap[k] += w * G[e, k]
        pAp = t(0.0)
        for k in range(K):
            pAp += p[k] * Ap[k]
        step = rsold / pAp
        rsnew = t(0.0)
        for k in range(K):
            X[u, k] += step * p[k]
            r[k] -= step * Ap[k]
            rsnew += r[k] * r[k]
        if rsnew < CG_TOL:
            break
        beta = rsnew / rsold
        for k in range(K):
            p[k] = r[k] + beta * p[k]
        rsold = rsnew


@njit(cache=True, parallel=True)
def _cg_blocks(indptr, indices, conf, X, Y, YtY, cg_steps, bounds):
    K = X.shape[1]
    for b in prange(bounds.shape[0] - 1):
        longest = 0
        for u in range(bounds[b], bounds[b + 1]):
            longest = max(longest, indptr[u + 1] - indptr[u])
        G = np.empty((longest, K), X.dtype)
        wt = np.empty(longest, X.dtype)
        r = np.empty(K, X.dtype)
        p = np.empty(K, X.dtype)
        Ap = np.empty(K, X.dtype)
        for u in range(bounds[b], bounds[b + 1]):
            _cg_row(u, indptr, indices, conf, X, Y, YtY, cg_steps, r, p, Ap, G, wt)


def gramian(Y, reg):
    """Y'Y + reg I, in Y's dtype (one BLAS call)."""
    G = Y.T @ Y
    G[np.diag_indices_from(G)] += Y.dtype.type(reg)
    return np.ascontiguousarray(G)


def implicit_cg_sweep(indptr, indices, conf, X, Y, reg, cg_steps=3, n_threads=None):
    """A few CG steps per row on its confidence-weighted problem, warm-started (module doc)."""
    _check_csr(indptr, indices, conf, X.shape[0], Y.shape[0])
    _check_side(X, Y)
    indptr, indices, conf = _as_csr(indptr, indices, conf, X.dtype)
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg!r}")
    if isinstance(cg_steps, bool) or not isinstance(cg_steps, (int, np.integer)) or cg_steps < 1:
        raise ValueError(f"cg_steps must be a positive integer, got {cg_steps!r}")
    K = X.shape[1]
    bounds = row_blocks(indptr, K / 2.0, n_threads)
    YtY = gramian(Y, reg)
    with num_threads(n_threads, chunksize=1):
        _cg_blocks(indptr, indices, conf, X, Y, YtY, int(cg_steps), bounds)


# -- helpers -------------------------------------------------------------------------------
def row_blocks(indptr, row_cost, n_threads=None):
    """Cut rows into about BLOCKS_PER_THREAD x threads ranges of equal work.

    The work of row u is ``(indptr[u + 1] - indptr[u]) + row_cost``. Returns int64 bounds
    (n_blocks + 1,): block b is rows [bounds[b], bounds[b + 1]).
    """
    n_rows = indptr.shape[0] - 1
    t = thread_count(n_threads)
    n_blocks = max(1, min(n_rows, t * BLOCKS_PER_THREAD if t > 1 else 1))
    work = np.diff(indptr).astype(np.float64) + float(row_cost)
    cum = np.concatenate([[0.0], np.cumsum(work)])
    targets = cum[-1] * np.arange(1, n_blocks) / n_blocks
    cuts = np.searchsorted(cum, targets)
    return np.unique(np.concatenate([[0], cuts, [n_rows]])).astype(np.int64)


def _as_csr(indptr, indices, values, dtype):
    """One set of array types for the compiled loops (int64, int32, the factors' dtype)."""
    return (np.ascontiguousarray(indptr, dtype=np.int64),
            np.ascontiguousarray(indices, dtype=np.int32),
            np.ascontiguousarray(values, dtype=dtype))


def _check_csr(indptr, indices, values, n_rows, n_cols):
    for a, name in ((indptr, "indptr"), (indices, "indices"), (values, "values")):
        if not isinstance(a, np.ndarray) or a.ndim != 1:
            raise ValueError(f"{name} must be a 1-D numpy array")
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr must have {n_rows + 1} entries (rows of X + 1), got "
                         f"{indptr.shape[0]}")
    if indices.shape != values.shape or indptr[-1] != indices.shape[0] or indptr[0] != 0:
        raise ValueError("indptr, indices and values do not describe one CSR matrix")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n_cols):
        raise ValueError(f"indices must lie in [0, {n_cols}) (the rows of Y)")


def _check_side(X, Y, bx=None, by=None):
    for a, name in ((X, "X"), (Y, "Y")):
        if not isinstance(a, np.ndarray) or a.ndim != 2 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous 2-D numpy array")
        if a.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name} must be float32 or float64, got {a.dtype}")
    if X.dtype != Y.dtype or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must share dtype and width; got {X.dtype} {X.shape} and "
                         f"{Y.dtype} {Y.shape}")
    if not X.flags.writeable:
        raise ValueError("X must be writable (it is updated in place)")
    if bx is not None and (bx.shape != (X.shape[0],) or by.shape != (Y.shape[0],)
                           or bx.dtype != X.dtype or by.dtype != X.dtype):
        raise ValueError("bx and by must be 1-D, one entry per row of X and Y, in X's dtype")

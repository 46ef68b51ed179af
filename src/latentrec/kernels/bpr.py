"""Bayesian personalized ranking (Rendle et al. 2009): SGD over sampled triples.

Factors carry one extra column: ``P`` is (n_users, K + 1) with ``P[:, K] == 1`` (never
updated) and ``Q`` is (n_items, K + 1) with ``Q[:, K]`` the item bias, so a score is the
plain dot product ``P[u] . Q[i]`` over K + 1 columns (the layout of the ``implicit``
package). For a triple (u, i positive, j negative), with x = P[u] . (Q[i] - Q[j]) and
z = 1 / (1 + exp(x)) (the gradient of log sigmoid(x))::

    for k < K (simultaneous):  P[u, k] += lr (z (Q[i, k] - Q[j, k]) - reg P[u, k])
                               Q[i, k] += lr (z P[u, k] - reg Q[i, k])
                               Q[j, k] += lr (-z P[u, k] - reg Q[j, k])
    Q[i, K] += lr (z - reg Q[i, K]);  Q[j, K] += lr (-z - reg Q[j, K])

Sampling (one epoch = ``n_samples`` triples): a positive is a stored (user, item) pair drawn
uniformly, so users count by activity; the negative is an item drawn uniformly from all
items (``negatives="uniform"``) or from the stored pairs' items, i.e. by popularity
(``"popularity"``, as the ``implicit`` package does), and is redrawn while it is one of the
user's positives (binary search in the user's sorted row; after ``MAX_TRIES`` draws the
triple is skipped). Triples are drawn in batches of ``BATCH`` (all positives, then all
first negatives, then the redraws: see ``_draw_batch``) and then applied in order; the
draws do not depend on the factors, so this is the same SGD as drawing one at a time.

Entry points (plain functions of arrays; P and Q are updated in place):

    bpr_epoch(indptr, indices, P, Q, lr, reg, n_samples, seeds, negatives="uniform",
              n_threads=None) -> (correct, skipped)
        ``seeds`` (uint64, one per block) fix the blocks: block b draws its share of the
        samples from its own generator. The blocks run in parallel without locks
        (Hogwild), so the result is repeatable for one block (one seed) only.
    sample_triples(indptr, indices, n_samples, seed, negatives="uniform")
        -> (users, positives, negatives) int64, -1 negatives for skipped draws: exactly the
        triples one block with ``seed`` visits.
    bpr_triples(users, positives, negatives, P, Q, lr, reg) -> correct
        the updates for given triples, in order (skipping negatives of -1).
    bpr_fold_in(positives, Q, lr, reg, n_samples, seed, item_pool) -> x (K + 1,)
        the user half of the same SGD, for one new user with Q fixed.

``correct`` counts triples with x > 0 before their update (a running estimate of train
AUC); ``skipped`` the triples dropped because no negative was found. The generator is
splitmix64; an index below n is drawn as the high 32 bits times n, shifted (n < 2^32).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .als import _threads

__all__ = ["NEGATIVES", "bpr_epoch", "bpr_fold_in", "bpr_triples", "sample_triples"]

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
NEGATIVES = ("uniform", "popularity")
#: Draws of a negative before the triple is given up (a user who likes most items).
MAX_TRIES = 64
#: Triples drawn together (their memory reads overlap) before their updates, in order.
BATCH = 16

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@njit(cache=True)
def _next(state):
    """splitmix64: (new state, 64 random bits)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=True)
def _below(bits, n):
    """An integer in [0, n) from 64 random bits (n < 2^32)."""
    return np.int64(((bits >> _S32) * np.uint64(n)) >> _S32)


@njit(cache=True)
def _contains(indices, lo, hi, item):
    """Whether ``item`` is in the sorted slice ``indices[lo:hi]`` (binary search)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False


@njit(cache=True)
def _draw_batch(state, indptr, indices, rows, n_items, popularity, m, us, ps, ns, lo, cnt):
    """Draw m triples into us, ps, ns[:m] (ns = -1: no negative found); returns the state.

    Stage by stage over the batch, so the memory reads of different triples overlap: all
    positives, then all row bounds, then a first negative each, then the binary searches
    in lockstep (one probe per triple per round); a negative that is a positive is then
    redrawn one triple at a time. ``lo`` and ``cnt`` are scratch space.
    """
    nnz = indices.shape[0]
    for t in range(m):
        state, bits = _next(state)
        jj = _below(bits, nnz)
        us[t] = rows[jj]
        ps[t] = indices[jj]
    for t in range(m):
        u = us[t]
        lo[t] = indptr[u]
        cnt[t] = indptr[u + 1] - lo[t]
    for t in range(m):
        state, bits = _next(state)
        ns[t] = indices[_below(bits, nnz)] if popularity else _below(bits, n_items)
    active = True
    while active:  # lo[t] ends at the last entry <= ns[t] (when the row is not empty)
        active = False
        for t in range(m):
            n = cnt[t]
            if n > 1:
                half = n >> 1
                mid = lo[t] + half
                if indices[mid] <= ns[t]:
                    lo[t] = mid
                cnt[t] = n - half
                active = True
    for t in range(m):
        if cnt[t] > 0 and indices[lo[t]] == ns[t]:
            u = us[t]
            start, stop = indptr[u], indptr[u + 1]
            ns[t] = -1
            for _ in range(MAX_TRIES - 1):
                state, bits = _next(state)
                j = (np.int64(indices[_below(bits, nnz)]) if popularity
                     else _below(bits, n_items))
                if not _contains(indices, start, stop, j):
                    ns[t] = j
                    break
    return state


@njit(fastmath=FASTMATH, cache=True)
def _step(P, u, Q, i, j, lr, reg):
    """One triple's update (module doc); returns whether x > 0 before it."""
    K = Q.shape[1] - 1
    x = P.dtype.type(0.0)
    for k in range(K + 1):
        x += P[u, k] * (Q[i, k] - Q[j, k])
    z = P.dtype.type(1.0) / (P.dtype.type(1.0) + np.exp(x))
    for k in range(K):
        pu, qi, qj = P[u, k], Q[i, k], Q[j, k]
        P[u, k] = pu + lr * (z * (qi - qj) - reg * pu)
        Q[i, k] = qi + lr * (z * pu - reg * qi)
        Q[j, k] = qj + lr * (-z * pu - reg * qj)
    Q[i, K] += lr * (z - reg * Q[i, K])
    Q[j, K] += lr * (-z - reg * Q[j, K])
    return x > 0


@njit(cache=True, parallel=True)
def _epoch_blocks(indptr, indices, rows, P, Q, lr, reg, n_samples, seeds, popularity):
    n_blocks = seeds.shape[0]
    n_items = Q.shape[0]
    correct = np.zeros(n_blocks, np.int64)
    skipped = np.zeros(n_blocks, np.int64)
    for b in prange(n_blocks):
        state = seeds[b]
        us, ps, ns = (np.empty(BATCH, np.int64), np.empty(BATCH, np.int64),
                      np.empty(BATCH, np.int64))
        lo, cnt = np.empty(BATCH, np.int64), np.empty(BATCH, np.int64)
        c, s = 0, 0
        first, last = n_samples * b // n_blocks, n_samples * (b + 1) // n_blocks
        for start in range(first, last, BATCH):
            m = min(BATCH, last - start)
            state = _draw_batch(state, indptr, indices, rows, n_items, popularity, m, us, ps,
                                ns, lo, cnt)
            for t in range(m):
                if ns[t] < 0:
                    s += 1
                elif _step(P, us[t], Q, ps[t], ns[t], lr, reg):
                    c += 1
        correct[b] = c
        skipped[b] = s
    return correct.sum(), skipped.sum()


@njit(cache=True)
def _sample(indptr, indices, rows, n_items, n_samples, seed, popularity):
    us = np.empty(n_samples, np.int64)
    ps = np.empty(n_samples, np.int64)
    ns = np.empty(n_samples, np.int64)
    lo, cnt = np.empty(BATCH, np.int64), np.empty(BATCH, np.int64)
    state = seed
    for start in range(0, n_samples, BATCH):
        m = min(BATCH, n_samples - start)
        state = _draw_batch(state, indptr, indices, rows, n_items, popularity, m,
                            us[start:], ps[start:], ns[start:], lo, cnt)
    return us, ps, ns


@njit(cache=True)
def _triples(users, pos, neg, P, Q, lr, reg):
    c = 0
    for s in range(users.shape[0]):
        if neg[s] >= 0 and _step(P, users[s], Q, pos[s], neg[s], lr, reg):
            c += 1
    return c


@njit(fastmath=FASTMATH, cache=True)
def _fold_in(positives, Q, x, lr, reg, n_samples, seed, item_pool):
    """The user half of the BPR update for one row x (K + 1), Q fixed."""
    K = Q.shape[1] - 1
    one = x.dtype.type(1.0)
    n_pos, n_pool = positives.shape[0], item_pool.shape[0]
    state = seed
    for _ in range(n_samples):
        state, bits = _next(state)
        i = positives[_below(bits, n_pos)]
        j = np.int64(-1)
        for _t in range(MAX_TRIES):
            state, bits = _next(state)
            cand = np.int64(item_pool[_below(bits, n_pool)])
            if not _contains(positives, 0, n_pos, cand):
                j = cand
                break
        if j < 0:
            continue
        d = x.dtype.type(0.0)
        for k in range(K + 1):
            d += x[k] * (Q[i, k] - Q[j, k])
        z = one / (one + np.exp(d))
        for k in range(K):
            x[k] += lr * (z * (Q[i, k] - Q[j, k]) - reg * x[k])


def bpr_epoch(indptr, indices, P, Q, lr, reg, n_samples, seeds, negatives="uniform",
              n_threads=None, rows=None):
    """One epoch of ``n_samples`` triples over len(seeds) blocks in parallel (module doc).

    ``rows`` (the row of every stored entry, int32) may be passed to save rebuilding it.
    """
    _check(indptr, indices, P, Q)
    indptr, indices = _as_csr(indptr, indices)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError("seeds must be a non-empty 1-D array (one per block)")
    if rows is None or rows.dtype != np.int32:
        rows = entry_rows(indptr)
    t = P.dtype.type
    with _threads(n_threads):
        correct, skipped = _epoch_blocks(indptr, indices, rows, P, Q, t(lr), t(reg),
                                         int(n_samples), seeds, _popularity(negatives))
    return int(correct), int(skipped)


def sample_triples(indptr, indices, n_samples, seed, negatives="uniform", n_items=None):
    """The triples one block seeded with ``seed`` draws, in order (module doc)."""
    indptr, indices = _as_csr(indptr, indices)
    if n_items is None:
        n_items = int(indices.max()) + 1 if indices.size else 0
    return _sample(indptr, indices, entry_rows(indptr), int(n_items), int(n_samples),
                   np.uint64(seed), _popularity(negatives))


def bpr_triples(users, positives, negatives, P, Q, lr, reg):
    """Apply the updates of the given triples in order; returns how many had x > 0."""
    t = P.dtype.type
    return int(_triples(np.asarray(users, np.int64), np.asarray(positives, np.int64),
                        np.asarray(negatives, np.int64), P, Q, t(lr), t(reg)))


def bpr_fold_in(positives, Q, lr, reg, n_samples, seed, item_pool):
    """Factors (K + 1, last entry 1) of a new user who liked the sorted ``positives``,
    learnt by ``n_samples`` SGD steps against fixed Q; negatives come from ``item_pool``
    (all items for uniform sampling, the training pairs' items for popularity)."""
    positives = np.ascontiguousarray(positives, dtype=np.int64)
    x = np.zeros(Q.shape[1], Q.dtype)
    x[-1] = 1.0
    if positives.size == 0:
        return x
    t = Q.dtype.type
    _fold_in(positives, np.ascontiguousarray(Q), x, t(lr), t(reg), int(n_samples),
             np.uint64(seed), np.ascontiguousarray(item_pool, dtype=np.int64))
    return x


def _as_csr(indptr, indices):
    return (np.ascontiguousarray(indptr, dtype=np.int64),
            np.ascontiguousarray(indices, dtype=np.int32))


def entry_rows(indptr):
    """The row of each stored entry of a CSR matrix (int32)."""
    return np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int32), np.diff(indptr))


def _popularity(negatives) -> bool:
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
    return negatives == "popularity"


def _check(indptr, indices, P, Q):
    for a, name in ((P, "P"), (Q, "Q")):
        if not isinstance(a, np.ndarray) or a.ndim != 2 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous 2-D numpy array")
    if P.dtype != Q.dtype or P.dtype not in (np.float32, np.float64) or P.shape[1] != Q.shape[1]:
        raise ValueError(f"P and Q must be float32 or float64 of one dtype and width; got "
                         f"{P.dtype} {P.shape} and {Q.dtype} {Q.shape}")
    if indptr.shape[0] != P.shape[0] + 1 or indptr[-1] != indices.shape[0]:
        raise ValueError("indptr/indices must be the CSR of P's rows")
    if indices.size and int(indices.max()) >= Q.shape[0]:
        raise ValueError(f"indices must be < {Q.shape[0]} (the rows of Q)")
    if indices.shape[0] >= 2**32 or Q.shape[0] >= 2**32:
        raise ValueError("at most 2^32 - 1 stored pairs and items")

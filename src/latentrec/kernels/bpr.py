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

Sampling: an epoch visits every stored (user, positive) pair once. Users come in the
order given (a fresh random permutation each epoch, from the caller), ``GROUP`` at a time;
a group's pairs are interleaved (one of each user's in turn, each user's starting at a
random offset in its row), so a group's factor rows stay in cache while no user gets many
steps in a row. Each pair gets a negative item drawn uniformly from all items
(``negatives="uniform"``) or from the stored pairs' items, i.e. by popularity
(``"popularity"``, the ``implicit`` package's choice), redrawn while it is one of the
user's positives (binary search in the user's sorted row); after ``MAX_TRIES`` draws the
pair is skipped.

Entry points (plain functions of arrays; P and Q are updated in place):

    bpr_epoch(indptr, indices, P, Q, lr, reg, order, seeds, negatives="uniform",
              n_threads=None) -> (correct, skipped)
        ``order`` is cut into len(seeds) blocks of about equal numbers of pairs; block b
        draws from its own generator, seeded ``seeds[b]``. Blocks run in parallel, handed
        to threads as they come free: no two threads touch one P row, while Q rows are
        shared without locks (Hogwild), so the result is repeatable for one block only.
    sample_triples(indptr, indices, order, seed, negatives="uniform", n_items=None)
        -> (users, positives, negatives) int64, -1 negatives for skipped pairs: exactly the
        triples, in order, that one block over ``order`` seeded ``seed`` visits.
    bpr_triples(users, positives, negatives, P, Q, lr, reg) -> correct
        the updates for given triples, in order (skipping negatives of -1).
    bpr_fold_in(positives, Q, lr, reg, n_samples, seed, item_pool) -> x (K + 1,)
        the user half of the same SGD, for one new user with Q fixed (pairs drawn
        uniformly with replacement).

``correct`` counts triples with x > 0 before their update (a running estimate of train
AUC); ``skipped`` the pairs dropped because no negative was found. The generator is
splitmix64; an index below n is drawn as the high 32 bits times n, shifted (n < 2^32).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sorted_search import contains as _contains
from .threads import num_threads

__all__ = ["NEGATIVES", "bpr_epoch", "bpr_fold_in", "bpr_triples", "sample_triples"]

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
NEGATIVES = ("uniform", "popularity")
#: Draws of a negative before the triple is given up (a user who likes most items).
MAX_TRIES = 64
#: Users whose pairs are interleaved.
GROUP = 32

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
def _negative(state, indptr, indices, u, n_items, popularity):
    """(state, j): an item that is not one of u's positives, or -1 after MAX_TRIES draws."""
    lo, hi = indptr[u], indptr[u + 1]
    nnz = indices.shape[0]
    for _ in range(MAX_TRIES):
        state, bits = _next(state)
        j = np.int64(indices[_below(bits, nnz)]) if popularity else _below(bits, n_items)
        if not _contains(indices, lo, hi, j):
            return state, j
    return state, np.int64(-1)


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


@njit(cache=True)
def _block(indptr, indices, order, first, last, state, n_items, popularity, P, Q, lr, reg,
           record, us, ps, ns):
    """Visit the pairs of users order[first:last] (module doc): update P and Q, or, with
    ``record``, only write the triples into us, ps, ns. Returns (correct, skipped)."""
    offs = np.empty(GROUP, np.int64)
    c, s, count = 0, 0, 0
    for g0 in range(first, last, GROUP):
        g1 = min(g0 + GROUP, last)
        longest = 0
        for g in range(g0, g1):
            u = order[g]
            n = indptr[u + 1] - indptr[u]
            if n > 0:
                state, bits = _next(state)
                offs[g - g0] = _below(bits, n)
            longest = max(longest, n)
        for e in range(longest):
            for g in range(g0, g1):
                u = np.int64(order[g])
                lo = indptr[u]
                n = indptr[u + 1] - lo
                if e >= n:
                    continue
                i = np.int64(indices[lo + (offs[g - g0] + e) % n])
                state, j = _negative(state, indptr, indices, u, n_items, popularity)
                if record:
                    us[count], ps[count], ns[count] = u, i, j
                    count += 1
                elif j < 0:
                    s += 1
                elif _step(P, u, Q, i, j, lr, reg):
                    c += 1
    return c, s


@njit(cache=True, parallel=True)
def _epoch_blocks(indptr, indices, order, bounds, P, Q, lr, reg, seeds, popularity):
    n_blocks = seeds.shape[0]
    n_items = Q.shape[0]
    correct = np.zeros(n_blocks, np.int64)
    skipped = np.zeros(n_blocks, np.int64)
    none = np.empty(0, np.int64)
    for b in prange(n_blocks):
        correct[b], skipped[b] = _block(indptr, indices, order, bounds[b], bounds[b + 1],
                                        seeds[b], n_items, popularity, P, Q, lr, reg, False,
                                        none, none, none)
    return correct.sum(), skipped.sum()


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


def bpr_epoch(indptr, indices, P, Q, lr, reg, order, seeds, negatives="uniform",
              n_threads=None):
    """One epoch over the pairs of the users in ``order``, in len(seeds) parallel blocks."""
    _check(indptr, indices, P, Q)
    indptr, indices = _as_csr(indptr, indices)
    order = _check_order(order, P.shape[0])
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError("seeds must be a non-empty 1-D array (one per block)")
    bounds = _blocks(indptr, order, seeds.size)
    t = P.dtype.type
    with num_threads(n_threads):
        correct, skipped = _epoch_blocks(indptr, indices, order, bounds, P, Q, t(lr), t(reg),
                                         seeds, _popularity(negatives))
    return int(correct), int(skipped)


def sample_triples(indptr, indices, order, seed, negatives="uniform", n_items=None):
    """The triples, in order, that one block over ``order`` seeded ``seed`` visits."""
    indptr, indices = _as_csr(indptr, indices)
    order = _check_order(order, indptr.shape[0] - 1)
    if n_items is None:
        n_items = int(indices.max()) + 1 if indices.size else 0
    n = int(np.diff(indptr)[order].sum())
    us, ps, ns = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    dummy = np.zeros((1, 1), np.float32)
    _block(indptr, indices, order, 0, order.shape[0], np.uint64(seed), int(n_items),
           _popularity(negatives), dummy, dummy, np.float32(0), np.float32(0), True, us, ps,
           ns)
    return us, ps, ns


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


def _blocks(indptr, order, n_blocks):
    """Cut ``order`` into ``n_blocks`` ranges of about equal numbers of pairs (int64 bounds)."""
    work = np.diff(indptr)[order].astype(np.float64) + 1.0
    cum = np.concatenate([[0.0], np.cumsum(work)])
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_blocks) / n_blocks)
    return np.concatenate([[0], cuts, [order.shape[0]]]).astype(np.int64)


def _check_order(order, n_users):
    order = np.ascontiguousarray(order, dtype=np.int64)
    if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= n_users)):
        raise ValueError(f"order must be a 1-D array of user indices in [0, {n_users})")
    return order


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

"""Per-user loops behind the ranking metrics: hits, DCG, average precision, AUC ranks.

Pure functions of arrays. Relevance sets come in CSR form: ``indptr`` (n_users + 1,) and
``indices`` (int64, sorted and unique within each row), so user ``u``'s relevant items are
``indices[indptr[u]:indptr[u + 1]]``. Recommendation lists are a 2-D int64 array, best
first, with -1 in empty slots; a -1 slot is simply a miss.

The sort AUC needs is left to the caller: NumPy sorts rows many times faster than a
compiled sort, and compiling one is slow.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sorted_search import contains as _contains

#: Columns of the array returned by :func:`ranking_stats`.
HITS, DCG, AP_SUM, FIRST_HIT = 0, 1, 2, 3


@njit(cache=True, parallel=True)
def ranking_stats(recs, k, indptr, indices):
    """Per-user statistics of the first ``k`` slots of each row of ``recs``.

    Returns float64 (n_users, 4): for user ``u``, with ranks r = 1..k,

    - ``[u, HITS]``: the number of relevant items in the top k;
    - ``[u, DCG]``: sum over hits of 1 / log2(r + 1);
    - ``[u, AP_SUM]``: sum over hits at rank r of (hits within the top r) / r;
    - ``[u, FIRST_HIT]``: the rank of the first hit, 0 when there is none.

    Slots past the width of ``recs`` count as empty.
    """
    n_users = recs.shape[0]
    width = min(k, recs.shape[1])
    out = np.zeros((n_users, 4), dtype=np.float64)
    for u in prange(n_users):
        lo, hi = indptr[u], indptr[u + 1]
        hits = 0
        dcg = 0.0
        ap = 0.0
        first = 0
        if hi > lo:
            for j in range(width):
                item = recs[u, j]
                if item >= 0 and _contains(indices, lo, hi, item):
                    hits += 1
                    rank = j + 1
                    dcg += np.log(2.0) / np.log(rank + 1.0)
                    ap += hits / rank
                    if first == 0:
                        first = rank
        out[u, HITS] = hits
        out[u, DCG] = dcg
        out[u, AP_SUM] = ap
        out[u, FIRST_HIT] = first
    return out


@njit(cache=True)
def _count_below(sorted_vals, n, v, strict):
    """How many of ``sorted_vals[:n]`` are < v (``strict``) or <= v (binary search)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        x = sorted_vals[mid]
        if x < v or (not strict and x == v):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, parallel=True)
def auc_from_sorted(neg_sorted, n_neg, pos_indptr, pos_scores):
    """ROC AUC per user from sorted negative scores; NaN where undefined.

    ``neg_sorted[u, :n_neg[u]]`` holds user u's negative scores in ascending order (the
    rest of the row is ignored); ``pos_scores[pos_indptr[u]:pos_indptr[u + 1]]`` holds
    the positive ones, in any order. AUC is the Mann-Whitney statistic: for each positive,
    the negatives below it plus half those tied with it, over n_pos * n_neg pairs. Each
    positive costs two binary searches, so with the sort a user costs
    O(n_items log n_items). Users with no positives or no negatives get NaN.
    """
    n_users = neg_sorted.shape[0]
    out = np.full(n_users, np.nan)
    for u in prange(n_users):
        lo, hi = pos_indptr[u], pos_indptr[u + 1]
        m = n_neg[u]
        if hi == lo or m == 0:
            continue
        row = neg_sorted[u]
        wins = 0.0
        for p in range(lo, hi):
            below = _count_below(row, m, pos_scores[p], True)
            at_or_below = _count_below(row, m, pos_scores[p], False)
            wins += below + 0.5 * (at_or_below - below)
        out[u] = wins / (float(hi - lo) * float(m))
    return out

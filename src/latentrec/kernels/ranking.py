"""Per-user loops behind the ranking metrics: hits, DCG, average precision, AUC ranks.

Pure functions of arrays. Relevance sets come in CSR form: ``indptr`` (n_users + 1,) and
``indices`` (int64, sorted and unique within each row), so user ``u``'s relevant items are
``indices[indptr[u]:indptr[u + 1]]``. Recommendation lists are a 2-D int64 array, best
first, with -1 in empty slots; a -1 slot is simply a miss.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Columns of the array returned by :func:`ranking_stats`.
HITS, DCG, AP_SUM, FIRST_HIT = 0, 1, 2, 3


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


@njit(cache=True, parallel=True)
def auc_per_user(scores, rel_indptr, rel_indices, ex_indptr, ex_indices):
    """ROC AUC of each row of ``scores`` (n_users x n_items), NaN where undefined.

    Items in the user's ``ex`` row are dropped from both sides; the rest are positives (in
    the ``rel`` row) or negatives. AUC is the Mann-Whitney statistic from mid-ranks (ties
    count half), so each user costs one sort: O(n_items log n_items). Users with no
    positives or no negatives get NaN.
    """
    n_users, n_items = scores.shape
    out = np.full(n_users, np.nan)
    for u in prange(n_users):
        label = np.zeros(n_items, dtype=np.int8)  # 0 negative, 1 positive, -1 excluded
        n_excluded = 0
        for p in range(ex_indptr[u], ex_indptr[u + 1]):
            label[ex_indices[p]] = -1
            n_excluded += 1
        n_pos = 0
        for p in range(rel_indptr[u], rel_indptr[u + 1]):
            i = rel_indices[p]
            if label[i] == 0:
                label[i] = 1
                n_pos += 1
        n_cand = n_items - n_excluded
        n_neg = n_cand - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        vals = np.empty(n_cand, dtype=scores.dtype)
        pos = np.empty(n_cand, dtype=np.int8)
        c = 0
        for i in range(n_items):
            if label[i] >= 0:
                vals[c] = scores[u, i]
                pos[c] = label[i]
                c += 1
        order = np.argsort(vals)
        rank_sum = 0.0  # sum of the positives' mid-ranks (1-based)
        a = 0
        while a < n_cand:
            v = vals[order[a]]
            b = a
            pos_in_tie = 0
            while b < n_cand and vals[order[b]] == v:
                pos_in_tie += pos[order[b]]
                b += 1
            rank_sum += pos_in_tie * (a + 1 + b) / 2.0
            a = b
        out[u] = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (float(n_pos) * float(n_neg))
    return out

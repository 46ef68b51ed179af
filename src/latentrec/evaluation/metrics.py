"""Metrics: rating error (RMSE, MAE), top-k list quality, AUC, and what the lists are made
of (catalog coverage, novelty, average popularity, intra-list diversity).

Rating metrics take the true and predicted ratings: arrays, lists, or a
:class:`~latentrec.Ratings` for ``y_true`` (its ``values``).

Ranking metrics share one input form:

``recommended``
    a 2-D int array (n_users x k_max) of item *indices*, best first, with -1 in the slots
    of users who got fewer than k_max items (a -1 slot counts as a miss). A list of lists
    of unequal lengths is padded with -1. A row may not repeat an item.
``relevant``
    a scipy sparse matrix (n_users x n_items; every stored nonzero is relevant) or a
    sequence of per-user collections (arrays, lists, sets) of item indices, one per row of
    ``recommended``.
``k``
    the cut-off; default the width of ``recommended``. A ``k`` wider than the lists is
    allowed: the lists are treated as padded with -1 up to k, so the missing slots are
    misses (precision divides by k all the same).

Skipped users and empty means (the rule every ranking metric follows):

- a user with no relevant items is *skipped* by default: left out of the mean, NaN in the
  ``per_user=True`` array. With ``skip_empty=False`` such users count, with score 0.
- when no user is counted (every user skipped, or no users at all) the mean is NaN;
  no exception, no warning. :func:`rmse` and :func:`mae` of empty inputs are NaN likewise.

Bad arguments raise ``ValueError``; bad data (NaN, mismatched lengths, out-of-range item
indices) raise :class:`~latentrec.DataError`, itself a ``ValueError``.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ..data.ratings import Ratings
from ..errors import DataError, ParameterError
from ..kernels import ranking as kernels
from ..kernels.predict import rmse as _rmse
from ..kernels.threads import num_threads

#: Below this many inner-loop steps a kernel runs on one thread: waking the others costs
#: more than it saves, and far more when the cores are busy.
SERIAL_WORK = 50_000

__all__ = [
    "rmse", "mae", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "mrr",
    "hit_rate_at_k", "auc", "catalog_coverage", "novelty", "average_popularity",
    "intra_list_diversity",
]


# rating metrics ---------------------------------------------------------------------

def rmse(y_true, y_pred) -> float:
    """Root mean squared error between true and predicted ratings (NaN when empty)."""
    return _rmse(*_rating_pair(y_true, y_pred))  # kernels.predict: models' validation too


def mae(y_true, y_pred) -> float:
    """Mean absolute error between true and predicted ratings (NaN when empty)."""
    t, p = _rating_pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p))) if t.size else float("nan")


def _rating_pair(y_true, y_pred):
    if isinstance(y_true, Ratings):
        y_true = y_true.values
    t = _float_array(y_true, "y_true")
    p = _float_array(y_pred, "y_pred")
    if t.shape != p.shape:
        if t.ndim == 1 and p.ndim == 1:
            raise DataError(f"y_true and y_pred must have the same length; "
                            f"got {t.shape[0]} and {p.shape[0]}")
        raise DataError(f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}")
    return t, p


def _float_array(x, name):
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must hold numbers, got {_describe(x)}") from None
    nan = np.isnan(arr)
    if nan.any():
        at = np.argwhere(nan)[0]
        where = f"position {at[0]}" if arr.ndim == 1 else f"position {tuple(int(i) for i in at)}"
        raise DataError(f"{name} contains NaN ({int(nan.sum())} of {arr.size}, first at {where})")
    return arr


# ranking metrics --------------------------------------------------------------------

def precision_at_k(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Fraction of the top k that is relevant: hits / k, averaged over users.

    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, k = _ranking_stats(recommended, relevant, k)
    return _finish(stats[:, kernels.HITS] / k, n_rel, per_user, skip_empty)


def recall_at_k(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Fraction of the relevant items found in the top k: hits / n_relevant.

    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, k = _ranking_stats(recommended, relevant, k)
    return _finish(_divide(stats[:, kernels.HITS], n_rel), n_rel, per_user, skip_empty)


def ndcg_at_k(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Normalized DCG with binary gains.

    DCG = sum over hits of 1 / log2(rank + 1), ranks from 1; it is divided by the ideal
    DCG, that of min(n_relevant, k) hits in the first places.
    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, k = _ranking_stats(recommended, relevant, k)
    m = min(k, int(n_rel.max(initial=0)))
    ideal_by_count = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(2, m + 2)))))
    ideal = ideal_by_count[np.minimum(n_rel, m)]
    return _finish(_divide(stats[:, kernels.DCG], ideal), n_rel, per_user, skip_empty)


def map_at_k(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Mean average precision at k.

    A user's AP@k is the sum of precision@r over the ranks r <= k that hold a hit, divided
    by min(n_relevant, k).
    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, k = _ranking_stats(recommended, relevant, k)
    ap = _divide(stats[:, kernels.AP_SUM], np.minimum(n_rel, k))
    return _finish(ap, n_rel, per_user, skip_empty)


def mrr(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Mean reciprocal rank: 1 / rank of the first relevant item within k, 0 if none.

    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, _ = _ranking_stats(recommended, relevant, k)
    first = stats[:, kernels.FIRST_HIT]
    rr = np.divide(1.0, first, out=np.zeros_like(first), where=first > 0)
    return _finish(rr, n_rel, per_user, skip_empty)


def hit_rate_at_k(recommended, relevant, k=None, *, per_user=False, skip_empty=True):
    """Fraction of users with at least one relevant item in their top k.

    Input forms, ``per_user``, ``skip_empty`` and the NaN rule: see the module docstring.
    """
    stats, n_rel, _ = _ranking_stats(recommended, relevant, k)
    return _finish((stats[:, kernels.HITS] > 0).astype(np.float64), n_rel, per_user,
                   skip_empty)


def auc(scores, relevant, exclude=None, *, per_user=False):
    """Mean per-user ROC AUC from a dense score matrix (n_users x n_items).

    A user's AUC is the probability that a random relevant item scores higher than a random
    non-relevant one, ties counting half. ``relevant`` takes the forms described in the
    module docstring; items in the user's row of ``exclude`` (the same forms, e.g. the
    training ratings' CSR matrix) are removed from both sides.
    Users with no relevant or no negative items left are skipped (NaN per user); the mean
    of no users is NaN. Rank-based: one sort of each row, O(n_items log n_items) per user;
    it works on one copy of ``scores``, so pass large score matrices in chunks of users.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise DataError(f"scores must be a 2-D (users x items) array, got shape {s.shape}")
    if s.dtype not in (np.float32, np.float64):
        if s.dtype.kind not in "iufb":
            raise DataError(f"scores must hold numbers, got dtype {s.dtype}")
        s = s.astype(np.float64)
    if np.isnan(s).any():
        u, i = np.argwhere(np.isnan(s))[0]
        raise DataError(f"scores contains NaN (first at user row {u}, item column {i})")
    n_users, n_items = s.shape
    rel_ptr, rel_idx = _as_index_sets(relevant, "relevant", n_users, n_items, "scores")
    rel_rows = np.repeat(np.arange(n_users), np.diff(rel_ptr))
    # a copy: negatives only, sorted per row; removed items become NaN, sorted last
    neg = np.array(s, order="C")
    n_removed = np.zeros(n_users, dtype=np.int64)
    if exclude is not None:
        ex_ptr, ex_idx = _as_index_sets(exclude, "exclude", n_users, n_items, "scores")
        ex_rows = np.repeat(np.arange(n_users), np.diff(ex_ptr))
        neg[ex_rows, ex_idx] = np.nan
        n_removed += np.diff(ex_ptr)
        keep = ~np.isin(rel_rows * n_items + rel_idx, ex_rows * n_items + ex_idx)
        rel_rows, rel_idx = rel_rows[keep], rel_idx[keep]
    neg[rel_rows, rel_idx] = np.nan
    n_pos = np.bincount(rel_rows, minlength=n_users)
    n_removed += n_pos
    neg.sort(axis=1)
    pos_ptr = np.concatenate(([0], np.cumsum(n_pos))).astype(np.int64)
    per = _call(kernels.auc_from_sorted, len(rel_idx) * max(1, int(np.log2(n_items + 1))),
                neg, n_items - n_removed, pos_ptr, s[rel_rows, rel_idx])
    return per if per_user else _mean(per)


def catalog_coverage(recommended, n_items, k=None) -> float:
    """Fraction of the ``n_items`` catalog that appears in at least one user's top k."""
    n_items = _positive_int(n_items, "n_items")
    recs = _as_recommended(recommended, n_items)
    k = _check_k(k, recs.shape[1])
    top = recs[:, :k]
    seen = np.zeros(n_items, dtype=bool)
    seen[top[top >= 0]] = True
    return float(seen.sum() / n_items)


# beyond accuracy: what the lists are made of ------------------------------------------
#
# These describe the recommended items, whatever the users held out, so that a model that
# "beats popularity" can be told apart from one that became popularity. ``item_counts``
# is how many training users interacted with each item (``np.diff(train.to_csc().indptr)``
# or ``train.seen().getnnz(axis=0)``); every user's list counts, relevant items or not.

def novelty(recommended, item_counts, n_users, k=None) -> float:
    """Mean self-information of the recommended items, in bits: -log2(count_i / n_users)
    over every filled slot of the top k (an item no training user had counts as if one
    had: it cannot be less known than that). Higher is less obvious. NaN with no slot."""
    counts, recs, k = _slot_input(recommended, item_counts, k)
    n_users = _positive_int(n_users, "n_users")
    if counts.size and counts.max() > n_users:
        raise DataError(f"item_counts holds {int(counts.max())}, more than the {n_users} "
                        "users; pass the number of training users")
    top = recs[:, :k]
    filled = top[top >= 0]
    if filled.size == 0:
        return float("nan")
    return float(np.mean(-np.log2(np.maximum(counts[filled], 1) / n_users)))


def average_popularity(recommended, item_counts, k=None) -> float:
    """Mean training count of the recommended items over every filled slot of the top k
    (ARP): how popular what is shown is. NaN with no slot."""
    counts, recs, k = _slot_input(recommended, item_counts, k)
    top = recs[:, :k]
    filled = top[top >= 0]
    return float(np.mean(counts[filled])) if filled.size else float("nan")


def intra_list_diversity(recommended, item_vectors, k=None, *, per_user=False):
    """Mean pairwise cosine distance (1 - cosine similarity) between the items of each
    user's top k, averaged over users with at least two filled slots (others NaN, left
    out of the mean).

    ``item_vectors``: one row per item, dense or scipy sparse, e.g. the items' training
    interactions (``train.seen().T``: items alike when the same users chose them) or
    attributes; a zero row has similarity 0 to everything.
    """
    X = _unit_rows(item_vectors)
    recs = _as_recommended(recommended, X.shape[0])
    k = _check_k(k, recs.shape[1])
    top = recs[:, :k]
    out = np.full(top.shape[0], np.nan)
    for start in range(0, top.shape[0], _ILD_CHUNK):
        out[start:start + _ILD_CHUNK] = _list_diversity(top[start:start + _ILD_CHUNK], X)
    return out if per_user else _mean(out)


_ILD_CHUNK = 256


def _list_diversity(top, X):
    """Each row's mean pairwise cosine distance (NaN below two items); X unit rows."""
    items, pos = np.unique(np.where(top >= 0, top, -1), return_inverse=True)
    pos = pos.reshape(top.shape)
    valid = items >= 0
    V = X[np.where(valid, items, 0)]
    gram = V @ V.T
    gram = np.asarray(gram.todense() if sp.issparse(gram) else gram, dtype=np.float64)
    gram[~valid, :] = gram[:, ~valid] = 0.0
    filled = top >= 0
    sims = gram[pos[:, :, None], pos[:, None, :]] * (filled[:, :, None] & filled[:, None, :])
    n = filled.sum(axis=1)
    pairs = n * (n - 1) / 2
    off_diagonal = (sims.sum(axis=(1, 2)) - np.einsum("uii->u", sims)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, 1.0 - off_diagonal / pairs, np.nan)


def _unit_rows(x):
    if sp.issparse(x):
        X = sp.csr_matrix(x, dtype=np.float64)
        if X.nnz and not np.isfinite(X.data).all():
            raise DataError("item_vectors must be finite")
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ X
    X = np.asarray(x, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"item_vectors must be 2-D (items x features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise DataError("item_vectors must be finite")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _slot_input(recommended, item_counts, k):
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or (counts.size and counts.dtype.kind not in "iuf"):
        raise DataError(f"item_counts must be a 1-D array of counts, one per item, got "
                        f"shape {counts.shape} and dtype {counts.dtype}")
    counts = counts.astype(np.float64)
    if counts.size and (not np.isfinite(counts).all() or counts.min() < 0):
        raise DataError("item_counts must be finite and >= 0")
    recs = _as_recommended(recommended, counts.size)
    return counts, recs, _check_k(k, recs.shape[1])


def _positive_int(x, name):
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
        raise ParameterError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


# input checking and conversion --------------------------------------------------------

def _ranking_stats(recommended, relevant, k):
    n_items = relevant.shape[1] if sp.issparse(relevant) else None
    recs = _as_recommended(recommended, n_items)
    k = _check_k(k, recs.shape[1])
    indptr, indices = _as_index_sets(relevant, "relevant", recs.shape[0], n_items, "recommended")
    stats = _call(kernels.ranking_stats, recs.shape[0] * min(k, recs.shape[1]),
                  recs, k, indptr, indices)
    return stats, np.diff(indptr), k


def _call(kernel, work, *args):
    """Run a parallel kernel, on one thread when ``work`` is small; threads restored after."""
    if work >= SERIAL_WORK:
        return kernel(*args)
    with num_threads(1):
        return kernel(*args)


def _check_k(k, width):
    if k is None:
        if width == 0:
            raise DataError("recommended has no columns, so k has no default; pass k")
        return width
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _as_recommended(recommended, n_items):
    """A C-contiguous int64 (n_users, k_max) array, -1 padded, checked."""
    if isinstance(recommended, (list, tuple)) and not all(np.ndim(r) == 1 for r in recommended):
        raise DataError("recommended must be a 2-D array or a list of per-user lists")
    if isinstance(recommended, (list, tuple)):
        rows = [np.asarray(r) for r in recommended]
        width = max((r.shape[0] for r in rows), default=0)
        recs = np.full((len(rows), width), -1, dtype=np.int64)
        for u, r in enumerate(rows):
            if r.size and r.dtype.kind not in "iu":
                raise DataError(f"recommended must hold integer item indices, got "
                                f"dtype {r.dtype} in row {u}")
            recs[u, : r.shape[0]] = r
    else:
        recs = np.asarray(recommended)
        if recs.ndim != 2:
            raise DataError(f"recommended must be a 2-D (users x k) array, got shape {recs.shape}")
        if recs.dtype.kind not in "iu":
            raise DataError(f"recommended must hold integer item indices, got dtype {recs.dtype}")
        recs = np.ascontiguousarray(recs, dtype=np.int64)
    if recs.size:
        if recs.min() < -1:
            u, j = np.argwhere(recs < -1)[0]
            raise DataError(f"recommended holds item index {recs[u, j]} at row {u}, column "
                            f"{j}; indices must be >= 0, or -1 for an empty slot")
        if n_items is not None and recs.max() >= n_items:
            u, j = np.argwhere(recs >= n_items)[0]
            raise DataError(f"recommended holds item index {recs[u, j]} at row {u}, column "
                            f"{j}, but there are only {n_items} items (indices 0..{n_items - 1})")
        s = np.sort(recs, axis=1)
        dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if dup.any():
            u, j = np.argwhere(dup)[0]
            raise DataError(f"recommended repeats item {s[u, j]} in row {u}; "
                            "each row must list distinct items")
    return recs


def _as_index_sets(x, name, n_users, n_items, other):
    """(indptr, indices) int64 CSR arrays, each row sorted and unique; rows checked."""
    if sp.issparse(x):
        if x.shape[0] != n_users:
            raise DataError(f"{name} has {x.shape[0]} user rows, but {other} has {n_users}")
        if n_items is not None and x.shape[1] != n_items:
            raise DataError(f"{name} has {x.shape[1]} item columns, but {other} has {n_items}")
        m = sp.csr_matrix(x, copy=True)
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        return m.indptr.astype(np.int64), m.indices.astype(np.int64)
    if isinstance(x, (str, bytes, dict)) or not hasattr(x, "__len__"):
        raise DataError(f"{name} must be a scipy sparse matrix or a sequence of per-user "
                        f"item-index collections, got {_describe(x)}")
    if len(x) != n_users:
        raise DataError(f"{name} has {len(x)} users, but {other} has {n_users}")
    rows = []
    for u, entry in enumerate(x):
        if isinstance(entry, (set, frozenset)):
            entry = sorted(entry)
        arr = np.asarray(entry).ravel()
        if arr.size == 0:
            rows.append(np.zeros(0, np.int64))
            continue
        if arr.dtype.kind not in "iu":
            raise DataError(f"{name} must hold integer item indices, got dtype {arr.dtype} "
                            f"for user row {u}")
        arr = np.unique(arr.astype(np.int64))
        if arr[0] < 0:
            raise DataError(f"{name} holds item index {arr[0]} for user row {u}; "
                            "indices must be >= 0")
        if n_items is not None and arr[-1] >= n_items:
            raise DataError(f"{name} holds item index {arr[-1]} for user row {u}, but there "
                            f"are only {n_items} items")
        rows.append(arr)
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum([r.size for r in rows], out=indptr[1:])
    indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return indptr, indices


def _divide(num, den):
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(den), where=den > 0)


def _finish(values, n_rel, per_user, skip_empty):
    values = np.asarray(values, dtype=np.float64)
    if skip_empty:
        values = np.where(n_rel > 0, values, np.nan)
    return values if per_user else _mean(values)


def _mean(values):
    counted = values[~np.isnan(values)]
    return float(counted.mean()) if counted.size else float("nan")


def _describe(x):
    return type(x).__name__

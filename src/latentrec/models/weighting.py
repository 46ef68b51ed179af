"""BM25 and TF-IDF reweighting of implicit-feedback data (counts, plays, clicks).

Both treat items as the "documents" and users as the "terms", as in the ``implicit``
package's ``bm25_weight`` / ``tfidf_weight`` applied to its item x user matrix (that is,
``bm25_weight(user_items.T).T``), and give the same numbers:

    idf(u)       = log(n_items) - log(1 + number of items of u)
    tfidf(u, i)  = sqrt(v_ui) * idf(u)
    bm25(u, i)   = v_ui * (K1 + 1) / (K1 * norm(i) + v_ui) * idf(u),
    norm(i)      = (1 - B) + B * total(i) / mean over all items of total(.)

where total(i) is the sum of item i's values. A user with more than about n_items / e
items gets a negative idf, hence negative weights (which :class:`ImplicitALS` reads as
"not liked", as the ``implicit`` package does).
"""

from __future__ import annotations

import numpy as np

from ..data.ratings import Ratings
from ..errors import ParameterError

__all__ = ["bm25_weight", "tfidf_weight"]


def bm25_weight(ratings: Ratings, K1: float = 100.0, B: float = 0.8) -> Ratings:
    """``ratings`` with each value replaced by its BM25 weight (module doc)."""
    _check_kb(K1, B)
    norm = item_length_norm(ratings.items, ratings.values, ratings.n_items, B)
    idf = _idf(np.bincount(ratings.users, minlength=ratings.n_users), ratings.n_items)
    return _with_values(ratings, bm25_values(ratings.values, norm[ratings.items],
                                             idf[ratings.users], K1))


def tfidf_weight(ratings: Ratings) -> Ratings:
    """``ratings`` with each value replaced by its TF-IDF weight (module doc)."""
    idf = _idf(np.bincount(ratings.users, minlength=ratings.n_users), ratings.n_items)
    return _with_values(ratings, tfidf_values(ratings.values, idf[ratings.users]))


# pieces, shared with the models' fold-in ------------------------------------------------
def item_length_norm(items, values, n_items, B) -> np.ndarray:
    """norm(i) of the module doc, float64 (n_items,)."""
    totals = np.bincount(items, weights=values.astype(np.float64), minlength=n_items)
    mean = totals.mean()
    return (1.0 - B) + B * totals / (mean if mean != 0 else 1.0)


def user_idf(n_user_items, n_items) -> np.ndarray:
    """idf(u) of the module doc for users with these numbers of items."""
    return _idf(np.asarray(n_user_items), n_items)


def bm25_values(values, norm, idf, K1) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v * (K1 + 1.0) / (K1 * norm + v) * idf


def tfidf_values(values, idf) -> np.ndarray:
    return np.sqrt(np.asarray(values, dtype=np.float64)) * idf


def _idf(counts, n_items) -> np.ndarray:
    return np.log(float(n_items)) - np.log1p(counts.astype(np.float64))


def _with_values(ratings: Ratings, values) -> Ratings:
    return Ratings(ratings.users, ratings.items, np.asarray(values, dtype=np.float32),
                   ratings.timestamps, user_map=ratings.user_map, item_map=ratings.item_map)


def _check_kb(K1, B) -> None:
    if isinstance(K1, bool) or not isinstance(K1, (int, float)) or not K1 >= 0:
        raise ParameterError(f"K1 must be a number >= 0, got {K1!r}")
    if isinstance(B, bool) or not isinstance(B, (int, float)) or not 0 <= B <= 1:
        raise ParameterError(f"B must be a number in [0, 1], got {B!r}")

"""The surface every latentrec model shares: predict, recommend, similar, fold-in, save.

A fitted model is, whatever trained it, the same few arrays:

    score(u, i) = global_mean_ + user_bias_[u] + item_bias_[i] + user_factors_[u] . item_factors_[i]

so one base class serves the SGD and ALS models, the implicit-feedback models (no biases,
mean 0) and the baselines (factors of width 0). Subclasses implement ``_fit`` and hand the
arrays to ``_set_fitted``; everything a user calls afterwards lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.ratings import DENSE_CELL_CAP, Ratings
from ..errors import DataError, LatentrecError, NotFittedError, ParameterError
from ._params import Params

UNKNOWN_PREDICT_POLICIES = ("bias", "nan", "error")
_CHUNK_USERS = 2048


@dataclass
class FoldedUser:
    """A user who was not in the training data, solved against the fixed item factors.

    Pass it to ``recommend``, ``predict`` or ``similar_users`` in place of a user id.
    """

    bias: float
    factors: np.ndarray
    seen: np.ndarray = field(repr=False)  # item indices the user rated
    n_ratings: int = 0


class Recommender(Params):
    """Base class of all latentrec models (see the module docstring)."""

    # -- fitting -------------------------------------------------------------------------
    def fit(self, ratings: Ratings, validation: Ratings | None = None, *, callback=None):
        """Learn from ``ratings``; ``validation`` (same IdMaps) is used where the model can.

        ``callback``, if given, is called with each epoch's history row as training goes
        (models that train in epochs), e.g. to draw a progress bar.
        """
        self._check_params()
        ratings = _as_ratings(ratings, "ratings")
        if ratings.n_ratings == 0:
            raise DataError("cannot fit on an empty rating table")
        if validation is not None:
            validation = _as_ratings(validation, "validation")
            if validation.user_map != ratings.user_map or validation.item_map != ratings.item_map:
                raise DataError("validation must share the IdMaps of the training ratings; "
                                "make both with one split function")
        self._callback = callback
        try:
            self._fit(ratings, validation)
        finally:
            self._callback = None
        return self

    def _report(self, row: dict) -> None:
        """Hand one epoch's history row to the fit's callback, if any."""
        if getattr(self, "_callback", None) is not None:
            self._callback(row)

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        raise NotImplementedError

    def _set_fitted(self, ratings: Ratings, *, user_factors, item_factors, user_bias=None,
                    item_bias=None, global_mean=0.0, history=None, seen=None) -> None:
        """Install the fitted state in one step, so a failed fit leaves none of it behind.

        ``ratings`` needs only ``user_map``, ``item_map`` and ``values`` (for the rating
        range) when ``seen``, the users x items CSR of who rated what, is given."""
        dtype = user_factors.dtype
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self.user_bias_ = (np.zeros(len(ratings.user_map), dtype) if user_bias is None
                           else user_bias.astype(dtype, copy=False))
        self.item_bias_ = (np.zeros(len(ratings.item_map), dtype) if item_bias is None
                           else item_bias.astype(dtype, copy=False))
        self.global_mean_ = float(global_mean)
        self.user_map_ = ratings.user_map
        self.item_map_ = ratings.item_map
        self.seen_ = seen_matrix(ratings) if seen is None else seen
        v = ratings.values
        self.rating_range_ = (float(v.min()), float(v.max()))
        self.history_ = history if history is not None else []
        self._normed = {}

    def _require_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise NotFittedError(type(self).__name__)

    @property
    def n_factors_(self) -> int:
        self._require_fitted()
        return self.item_factors_.shape[1]

    # -- rating prediction ---------------------------------------------------------------
    def predict(self, users, items, *, unknown: str = "bias", clip: bool = False) -> np.ndarray:
        """Predicted ratings for (user, item) pairs of raw ids (or one FoldedUser and many items).

        ``unknown``: what an id the model has not seen gives — ``"bias"`` (default: the
        estimate from what is known: mean + the known side's bias), ``"nan"``, or
        ``"error"`` (UnknownIdError). ``clip`` bounds predictions to the training scale.
        """
        self._require_fitted()
        if unknown not in UNKNOWN_PREDICT_POLICIES:
            raise ParameterError(f"unknown must be one of {UNKNOWN_PREDICT_POLICIES}, got {unknown!r}")
        items = _as_id_array(items)
        policy = "error" if unknown == "error" else "missing"
        i_idx = self.item_map_.to_indices(items, unknown=policy)
        if isinstance(users, FoldedUser):
            p, bu = np.tile(users.factors, (i_idx.size, 1)), np.full(i_idx.size, users.bias)
            u_ok = np.ones(i_idx.size, dtype=bool)
        else:
            users = _as_id_array(users)
            if users.shape != items.shape:
                raise ParameterError(f"users and items must have one length; got {users.size} "
                                 f"and {items.size}")
            u_idx = self.user_map_.to_indices(users, unknown=policy)
            u_ok = u_idx >= 0
            p, bu = self.user_factors_[u_idx], self.user_bias_[u_idx]
        i_ok = i_idx >= 0
        q, bi = self.item_factors_[i_idx], self.item_bias_[i_idx]
        pred = (self.global_mean_ + np.where(u_ok, bu, 0.0) + np.where(i_ok, bi, 0.0)
                + np.where(u_ok & i_ok, np.einsum("ij,ij->i", p, q), 0.0))
        if unknown == "nan":
            pred[~(u_ok & i_ok)] = np.nan
        if clip:
            pred = np.clip(pred, *self.rating_range_)
        return pred

    def predict_matrix(self, *, max_cells: int = DENSE_CELL_CAP) -> np.ndarray:
        """The filled-in users x items rating matrix, for problems small enough to hold."""
        self._require_fitted()
        n_u, n_i = len(self.user_map_), len(self.item_map_)
        if n_u * n_i > max_cells:
            raise DataError(f"the full matrix would have {n_u:,} x {n_i:,} = {n_u * n_i:,} "
                            f"cells, above the cap of {max_cells:,}; use recommend() for "
                            "each user's best items, or predict() for chosen pairs")
        return self._score_rows(np.arange(n_u))

    def _score_rows(self, u_idx: np.ndarray) -> np.ndarray:
        scores = self.user_factors_[u_idx] @ self.item_factors_.T
        scores += self.item_bias_[None, :]
        scores += (self.user_bias_[u_idx] + self.global_mean_)[:, None]
        return scores

    # -- recommendation ------------------------------------------------------------------
    def recommend(self, user, n: int = 10, *, exclude_seen: bool = True, items=None,
                  exclude=None):
        """Best ``n`` items for a user: ``(item_ids, scores)``, best first.

        ``user`` is a raw id, a FoldedUser, or a list of raw ids (then a list of such pairs
        comes back). ``items`` limits the candidates; ``exclude`` removes items;
        ``exclude_seen`` removes what the user rated in training.
        """
        self._require_fitted()
        n = _check_n(n)
        candidates = self._candidate_mask(items, exclude)
        if isinstance(user, FoldedUser):
            scores = (self.global_mean_ + user.bias + self.item_bias_
                      + self.item_factors_ @ user.factors)[None, :]
            seen = [user.seen] if exclude_seen else None
            return self._top_n(scores, candidates, seen, n)[0]
        batch = _is_batch(user)
        u_idx = self.user_map_.to_indices(_as_id_array(user), unknown="error")
        out = []
        for start in range(0, u_idx.size, _CHUNK_USERS):
            chunk = u_idx[start:start + _CHUNK_USERS]
            seen = ([self.seen_.indices[self.seen_.indptr[u]:self.seen_.indptr[u + 1]]
                     for u in chunk] if exclude_seen else None)
            out.extend(self._top_n(self._score_rows(chunk), candidates, seen, n))
        return out if batch else out[0]

    def _candidate_mask(self, items, exclude) -> np.ndarray | None:
        if items is None and exclude is None:
            return None
        mask = np.zeros(len(self.item_map_), dtype=bool)
        if items is None:
            mask[:] = True
        else:
            mask[self.item_map_.to_indices(_as_id_array(items), unknown="error")] = True
        if exclude is not None:
            idx = self.item_map_.to_indices(_as_id_array(exclude), unknown="missing")
            mask[idx[idx >= 0]] = False
        return mask

    def _top_n(self, scores, candidates, seen, n):
        scores = scores.astype(np.float64, copy=False)
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        if seen is not None:
            for row, s in enumerate(seen):
                scores[row, s] = -np.inf
        return [self._best(row, n) for row in scores]

    def _best(self, row: np.ndarray, n: int):
        valid = np.flatnonzero(row > -np.inf)
        if valid.size > n:
            part = np.argpartition(-row[valid], n - 1)[:n]
            valid = valid[part]
        order = np.lexsort((valid, -row[valid]))  # score desc, index asc on ties
        best = valid[order]
        return self.item_map_.to_ids(best), row[best]

    # -- similarity ----------------------------------------------------------------------
    def similar_items(self, item, n: int = 10, *, items=None):
        """Items most like ``item`` by cosine of their factors: ``(item_ids, scores)``."""
        self._require_fitted()
        idx = self.item_map_.to_index(item)
        return self._similar("item", self._normed_factors("item")[idx], n, idx, items)

    def similar_users(self, user, n: int = 10):
        """Users most like ``user`` (a raw id or a FoldedUser) by cosine of their factors."""
        self._require_fitted()
        if isinstance(user, FoldedUser):
            return self._similar("user", _unit(user.factors), n, -1, None)
        idx = self.user_map_.to_index(user)
        return self._similar("user", self._normed_factors("user")[idx], n, idx, None)

    def _similar(self, side, query, n, self_idx, items):
        n = _check_n(n)
        if self.n_factors_ == 0:
            raise LatentrecError(f"{type(self).__name__} has no latent factors, so it "
                                 f"cannot tell which {side}s are similar")
        id_map = self.item_map_ if side == "item" else self.user_map_
        scores = (self._normed_factors(side) @ query).astype(np.float64)
        if self_idx >= 0:
            scores[self_idx] = -np.inf
        if items is not None:
            keep = np.zeros(scores.size, dtype=bool)
            keep[id_map.to_indices(_as_id_array(items), unknown="error")] = True
            scores[~keep] = -np.inf
        valid = np.flatnonzero(scores > -np.inf)
        top = valid[np.lexsort((valid, -scores[valid]))][:n]
        return id_map.to_ids(top), scores[top]

    def _normed_factors(self, side: str) -> np.ndarray:
        if side not in self._normed:
            f = self.item_factors_ if side == "item" else self.user_factors_
            self._normed[side] = _unit(f)
        return self._normed[side]

    def user_groups(self, k: int = 8, *, random_state=None) -> pd.Series:
        """Cluster users on their (unit-length) factors with k-means: a Series of group labels."""
        from scipy.cluster.vq import kmeans2

        self._require_fitted()
        if self.n_factors_ == 0:
            raise LatentrecError(f"{type(self).__name__} has no latent factors to group users by")
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(self.user_map_):
            raise ParameterError(f"k must be an integer in [1, {len(self.user_map_)}], got {k!r}")
        seed = np.random.default_rng(random_state)
        _, labels = kmeans2(self._normed_factors("user").astype(np.float64), int(k),
                            seed=seed, minit="++")
        return pd.Series(labels, index=pd.Index(self.user_map_.ids, name="user"), name="group")

    # -- new users -----------------------------------------------------------------------
    def fold_in(self, ratings: dict) -> FoldedUser:
        """Solve a new user's bias and factors from ``{item_id: rating}`` against the fixed
        item factors (a small ridge problem); nothing in the model changes."""
        self._require_fitted()
        if not isinstance(ratings, dict) or not ratings:
            raise DataError("fold_in needs a non-empty {item_id: rating} dict")
        idx = self.item_map_.to_indices(_as_id_array(list(ratings)), unknown="error")
        r = np.array([float(v) for v in ratings.values()])
        if not np.isfinite(r).all():
            raise DataError("fold_in ratings must be finite numbers")
        bias, factors = self._fold_in_solve(idx, r)
        return FoldedUser(bias=float(bias), factors=factors.astype(self.item_factors_.dtype),
                          seen=idx, n_ratings=idx.size)

    def _fold_in_regularization(self, n_ratings: int) -> tuple[float, float]:
        """Total L2 weights (factors, bias) of a new user's ridge problem; models override."""
        return 0.05 * n_ratings, 0.05 * n_ratings

    def _fold_in_solve(self, idx: np.ndarray, r: np.ndarray):
        reg_f, reg_b = self._fold_in_regularization(idx.size)
        q = self.item_factors_[idx].astype(np.float64)
        y = r - self.global_mean_ - self.item_bias_[idx]
        biased = self._uses_user_bias()
        A = np.hstack([q, np.ones((idx.size, 1))]) if biased else q
        lam = np.full(A.shape[1], reg_f, dtype=np.float64)
        if biased:
            lam[-1] = reg_b
        x = np.linalg.solve(A.T @ A + np.diag(lam) + 1e-12 * np.eye(A.shape[1]), A.T @ y)
        return (x[-1], x[:-1]) if biased else (0.0, x)

    def _uses_user_bias(self) -> bool:
        """Whether a user bias is part of this model (and so of a folded-in user)."""
        return bool(getattr(self, "biased", False))

    # -- persistence ---------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted model to one file (arrays + JSON metadata; no pickle)."""
        from ..persistence import save_model

        self._require_fitted()
        save_model(self, path)

    def _extra_arrays(self) -> dict:
        """Model-specific fitted arrays to save beside the shared ones."""
        return {}

    def _load_extra_arrays(self, arrays: dict) -> None:
        """Inverse of ``_extra_arrays``."""


def seen_matrix(ratings: Ratings) -> sp.csr_matrix:
    """users x items CSR of who rated what (int8 ones: only the pattern is used)."""
    seen = sp.csr_matrix((np.ones(ratings.n_ratings, np.int8), (ratings.users, ratings.items)),
                         shape=(ratings.n_users, ratings.n_items))
    seen.sort_indices()
    return seen


def _unit(f: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(f, axis=-1, keepdims=True)
    return f / np.where(norms > 0, norms, 1.0)


def _is_batch(x) -> bool:
    return isinstance(x, (list, tuple, np.ndarray, pd.Series, pd.Index))


def _as_id_array(x) -> np.ndarray:
    if _is_batch(x):
        arr = np.asarray(x)
        return arr.astype(object) if arr.dtype.kind in "UT" else arr
    return np.array([x], dtype=object if isinstance(x, str) else None)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _as_ratings(x, name: str) -> Ratings:
    if isinstance(x, Ratings):
        return x
    if isinstance(x, pd.DataFrame):
        return Ratings.from_dataframe(x)
    raise DataError(f"{name} must be a Ratings or a DataFrame, got {type(x).__name__}")


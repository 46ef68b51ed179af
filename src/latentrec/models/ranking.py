"""How the rating models rank: what a user would pick, weighed with how much they'd like it.

A model fitted only on observed ratings knows how much a user would like an item, but not
whether the user would pick it at all, so its top-N by predicted rating is full of items a
few people rated highly (on MovieLens-100K it loses to a most-popular list). The rating
models (SGD, ALS, Bayesian MF) therefore learn a second, interaction part beside the
rating part: a low-rank model of *who rated what*, whatever the rating (PureSVD over the
0/1 matrix of rated pairs: Cremonesi, Koren and Turrin, RecSys 2010). Their default
``recommend`` orders a user's items by

    score(u, i) = z_u(x_u . v_i)  +  ranking_weight * (p_u . q_i + b_i) / spread

where ``v_i`` are the top right singular vectors of the rated-pairs matrix R, ``x_u =
R[u] V`` (so a new user's is the sum of the rows of the items they rated), ``z_u`` divides
by the spread of that user's interaction scores over all items, and ``spread`` is the
spread of the predicted ratings over all (user, item) pairs. The terms a user's whole row
shares (the mean, the user's bias and the interaction score's mean) cannot change that
user's order and are left out. Both parts are inner products, so the score is one: of
the *ranking vectors* ``[x_u / z_u, w p_u / spread, w / spread]`` and ``[v_i, q_i, b_i]``,
which every top-N path (one user, a batch, a folded-in user, the service) and the
similarity searches use.

The rank of the interaction part ("auto") is chosen on the training rows: up to 2,000
users each hold out a fifth of their rated items, and the rank among 4 .. 128 whose
top-20 lists recover most of them wins (one truncated SVD at the largest rank serves every
candidate, as its vectors come in order). Where those held-out rows are more than 2% of
all, the part is then fitted again on all the rows; below that they could not move it.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from .._random import check_random_state
from ..kernels import topk
from ..kernels.pattern import pattern_t_times, pattern_times
from ._params import Interval, Options

#: The interaction ranks "auto" chooses among.
AUTO_RANKS = (4, 8, 16, 32, 64, 128)
_VALIDATION_USERS = 2000
_HELD_OUT = 0.2
_TOP = 20
_SPREAD_PAIRS = 1 << 16
_SUBSPACE_ITERATIONS = 4
#: Refit on all rows after choosing the rank when the held-out rows are more than this
#: share of them.
_REFIT_SHARE = 0.02
_OVERSAMPLE = 10


def interaction_vectors(seen: sp.csr_matrix, rank, random_state) -> np.ndarray:
    """Item vectors V (items x chosen rank, float32) of the interaction part for the
    users x items pattern ``seen``; ``rank`` an int or "auto"."""
    rng = check_random_state(random_state)
    R = _Pattern(seen)
    largest = min(R.shape)
    if rank != "auto":
        return _top_right_vectors(R, min(rank, largest), rng)
    ranks = [k for k in AUTO_RANKS if k <= largest] or [largest]
    fit_on, users, held = _validation_split(R, rng)
    if users.size == 0:  # no user with five items to hold some out: the smallest rank
        return _top_right_vectors(R, ranks[0], rng)
    V = _top_right_vectors(fit_on, ranks[-1], rng)
    seen_rows, held_dense = fit_on.csr[users], held.toarray() > 0
    recall = {k: _recall(seen_rows, held_dense, V[:, :k]) for k in ranks}
    best = max(recall, key=recall.get)
    if held.nnz > _REFIT_SHARE * R.nnz:  # the held-out rows would be missed: fit on all
        return _top_right_vectors(R, best, rng)
    return np.ascontiguousarray(V[:, :best])


class _Pattern:
    """A users x items 0/1 pattern that multiplies dense matrices from either side."""

    def __init__(self, seen):
        self.csr = sp.csr_matrix(seen, copy=True)
        self.csr.data[:] = 1
        self.shape, self.nnz = self.csr.shape, self.csr.nnz

    def times(self, V):  # R V
        return pattern_times(self.csr.indptr, self.csr.indices, V)

    def t_times(self, W):  # R' W
        return pattern_t_times(self.csr.indptr, self.csr.indices, W, self.shape[1])


def _top_right_vectors(R: _Pattern, k: int, rng) -> np.ndarray:
    """The top ``k`` right singular vectors of R, in order (subspace iteration on R'R with
    a Rayleigh-Ritz step; the few largest are what ranking needs, not high precision)."""
    width = min(k + _OVERSAMPLE, min(R.shape))  # spare vectors make the first k converge
    V = rng.standard_normal((R.shape[1], width)).astype(np.float32)
    for _ in range(_SUBSPACE_ITERATIONS):
        V = _orthonormal(R.t_times(R.times(V)))
    W = R.times(V)
    values, rotation = np.linalg.eigh((W.T @ W).astype(np.float64))
    order = np.argsort(-values, kind="stable")[:k]
    return np.ascontiguousarray(V @ rotation[:, order].astype(np.float32))


def _orthonormal(V: np.ndarray) -> np.ndarray:
    # through the small Gram matrix: a tall QR costs seconds at 200,000 rows
    values, E = np.linalg.eigh((V.T @ V).astype(np.float64))
    scale = np.where(values > values.max() * 1e-10, values, np.inf) ** -0.5
    return V @ (E * scale).astype(np.float32)


def _validation_split(R: _Pattern, rng):
    """R with a fifth of some users' items held out; those users (sorted) and their
    held-out items (a CSR with one row per chosen user)."""
    indptr = R.csr.indptr
    counts = np.diff(indptr)
    eligible = np.flatnonzero(counts >= 5)
    users = np.sort(rng.choice(eligible, min(_VALIDATION_USERS, eligible.size),
                               replace=False))
    if users.size == 0:
        return R, users, None
    # a random key per entry; each chosen user holds out the entries of its smallest keys
    n_hold = np.maximum(1, np.round(_HELD_OUT * counts[users]).astype(np.int64))
    rows = np.repeat(np.arange(users.size), counts[users])
    entries = np.concatenate([np.arange(indptr[u], indptr[u + 1]) for u in users])
    order = np.lexsort((rng.random(entries.size), rows))
    rank = np.arange(entries.size) - np.repeat(np.cumsum(counts[users]) - counts[users],
                                               counts[users])
    picked = entries[order][rank < np.repeat(n_hold, counts[users])]
    hold = np.zeros(R.nnz, bool)
    hold[picked] = True
    fit_on = R.csr.copy()
    fit_on.data = (~hold).astype(fit_on.data.dtype)
    fit_on.eliminate_zeros()
    held = R.csr[users].copy()
    held.data = hold[entries]  # R's rows of the chosen users, in order: their entries
    held.eliminate_zeros()
    return _Pattern(fit_on), users, held


def _recall(seen_rows, held, V) -> float:
    """Mean recall of the held-out items (``held``, dense boolean) in each user's top 20
    unseen items."""
    scores = pattern_times(seen_rows.indptr, seen_rows.indices, V) @ V.T
    top, _ = topk.top_k(scores, min(_TOP, scores.shape[1]),
                        seen=(seen_rows.indptr, seen_rows.indices))
    hits = np.take_along_axis(held, np.maximum(top, 0), axis=1) & (top >= 0)
    return float(np.mean(hits.sum(axis=1) / np.minimum(_TOP, held.sum(axis=1))))


def user_scale(X: np.ndarray, V: np.ndarray, v_mean=None) -> np.ndarray:
    """Each user's spread of interaction scores x_u . v_i over all items (1 where none):
    V's columns are orthonormal, so sum_i (x_u . v_i)^2 = |x_u|^2. (``v_mean``: V's
    column means, if the caller keeps them.)"""
    mean = X @ (V.mean(axis=0) if v_mean is None else v_mean)
    var = np.einsum("ij,ij->i", X, X) / V.shape[0] - mean * mean
    return np.where(var > 0, np.sqrt(np.maximum(var, 0)), 1.0).astype(X.dtype)


def rating_spread(P, Q, bu, bi, random_state) -> float:
    """The spread of p_u . q_i + b_u + b_i over (user, item) pairs, from a fixed sample."""
    rng = check_random_state(random_state)
    u = rng.integers(0, P.shape[0], _SPREAD_PAIRS)
    i = rng.integers(0, Q.shape[0], _SPREAD_PAIRS)
    pred = np.einsum("ij,ij->i", P[u].astype(np.float64), Q[i]) + bu[u] + bi[i]
    spread = float(np.std(pred))
    return spread if spread > 0 else 1.0


#: Held while a model learns its interaction part on first read (ranking models).
_LEARNING = threading.RLock()


#: The checks of the two hyperparameters every rating model takes (Params._constraints).
RANKING_CONSTRAINTS = {
    "ranking_factors": [Interval("int", 0, None), Options(("auto",))],
    "ranking_weight": [Interval("real", 0, 1000)],
}


class RankedByRelevance:
    """Mixin for the rating models: fits the interaction part with the rating part and
    ranks by the combined score (see the module docstring).

    Hyperparameters (of the models that mix it in):

    ranking_factors : rank of the interaction part. ``"auto"`` (default) chooses it on
        held-out training rows; 0 leaves the part out (``recommend`` then orders by
        predicted rating); an int fixes it.
    ranking_weight : weight of the predicted rating against what users pick, each in
        units of its spread (default 2; 0 ranks by the interaction part alone). Read when
        ranking, so it can be changed on a fitted model.
    """

    def _set_fitted(self, ratings, **fitted) -> None:
        super()._set_fitted(ratings, **fitted)
        self._fit_interactions()

    def _fit_interactions(self) -> None:
        """(Re)learn the interaction part from ``seen_`` and the fitted rating part, when
        it is first read: a fit whose model only predicts ratings (every trial of a
        search, a cross-validation by RMSE) never pays for it (2.6 s of a 20-epoch fit on
        8M ratings). It is learnt as it would have been at the fit: with the rank and
        seed set then (the same bits for an int seed)."""
        self._normed = {}
        self._interactions = None
        self._interactions_due = (self.ranking_factors, self.random_state)

    def _interaction_part(self) -> tuple:
        """(V, X, rating spread), or Nones without an interaction part; learnt now if due
        (once, under a lock, and installed only when learnt: a reader in another thread
        waits for it, and a failure leaves it due)."""
        if self.__dict__.get("_interactions_due") is not None:
            with _LEARNING:
                due = self.__dict__.get("_interactions_due")
                if due is not None:
                    self._learn_interactions(*due)
        parts = self.__dict__.get("_interactions")
        if parts is None:
            raise AttributeError(f"{type(self).__name__} is not fitted: it has no "
                                 "interaction part yet")
        return parts

    def _learn_interactions(self, rank, seed) -> None:
        if rank == 0:
            self._interactions, self._interactions_due = (None, None, None), None
            return
        rng = check_random_state(seed)
        V = interaction_vectors(self.seen_, rank, rng)
        self._set_interactions(V, rating_spread(self.user_factors_, self.item_factors_,
                                                self.user_bias_, self.item_bias_, rng))

    @property
    def interaction_item_factors_(self):
        """V (items x rank): the interaction part's item side (None without one)."""
        return self._interaction_part()[0]

    @property
    def interaction_user_factors_(self):
        """X (users x rank): each user's seen items times V, scaled (None without one)."""
        return self._interaction_part()[1]

    @property
    def rating_spread_(self):
        """The spread of the predicted ratings the weight is in units of (None without)."""
        return self._interaction_part()[2]

    def _set_interactions(self, V, spread) -> None:
        seen = self.seen_
        X = pattern_times(seen.indptr, seen.indices, V)
        X /= user_scale(X, V)[:, None]
        self._interactions = (V, X, float(spread))
        self._interactions_due = None
        self._normed = {}  # the unit vectors and score sides include the interaction part

    def _relevance_parts(self):
        V, X, spread = self._interaction_part()
        if V is None:
            return None
        return X, V, self.ranking_weight / spread

    def _folded_interactions(self, seen: np.ndarray) -> np.ndarray:
        V = self.interaction_item_factors_
        if "interaction_mean" not in self._normed:  # a pass over the catalogue: kept
            self._normed["interaction_mean"] = V.mean(axis=0)
        x = V[np.unique(seen)].sum(axis=0, keepdims=True)
        return (x / user_scale(x, V, self._normed["interaction_mean"])[:, None])[0]

    def _extra_arrays(self) -> dict:
        out = super()._extra_arrays()
        if self.interaction_item_factors_ is not None:
            out.update(interaction_items=self.interaction_item_factors_,
                       rating_spread=np.array([self.rating_spread_]))
        return out

    def _load_extra_arrays(self, arrays: dict) -> None:
        super()._load_extra_arrays(arrays)
        self._interactions, self._interactions_due = (None, None, None), None
        V, spread = arrays.get("interaction_items"), arrays.get("rating_spread")
        if V is None:  # a file from before the interaction part: ranks by rating
            return
        if (V.ndim != 2 or V.shape[0] != len(self.item_map_) or spread is None
                or spread.shape != (1,) or not np.isfinite(V).all()
                or not np.isfinite(spread[0]) or spread[0] <= 0):
            raise ValueError("the interaction part does not fit the model's items")
        self._set_interactions(np.ascontiguousarray(V, dtype=np.float32), spread[0])

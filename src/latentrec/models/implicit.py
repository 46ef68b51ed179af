"""Models of implicit feedback (who clicked, played or bought what): ImplicitALS and BPR.

Both read a :class:`Ratings` table as a set of (user, item) interactions: ImplicitALS uses
the values as confidences, BPR only which pairs are there. Their scores rank items (higher
is more likely wanted); they are not ratings, so there are no biases to fold a new user
into other than BPR's item bias, and the global mean is 0.
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from .._random import check_random_state
from ..data.ratings import Ratings
from ..errors import DataError, TrainingDivergedError
from ..kernels import als as als_kernels
from ..kernels import bpr as bpr_kernels
from . import memory
from . import weighting as W
from ._params import Interval, IsNone, Options, RandomState
from .base import Recommender
from .threads import resolve_threads

__all__ = ["BPR", "ImplicitALS"]

#: BPR uses at most one thread per this many stored pairs.
_PAIRS_A_THREAD = 50_000


class ImplicitALS(Recommender):
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008), solved by conjugate gradient.

    Every stored pair (u, i) with value v is an observation with confidence
    ``c = alpha * v``; every other pair is a zero with weight 1. The factors minimise

        sum over all (u, i) of  w_ui (p_ui - x_u . y_i)^2
            + regularization (sum_u |x_u|^2 + sum_i |y_i|^2)

    with p_ui = 1, w_ui = c where c > 0; p_ui = 0, w_ui = |c| where c <= 0 (a negative
    value says "not liked"); p_ui = 0, w_ui = 1 for pairs not stored.

    This is the ``implicit`` package's definition, so the same ``alpha``,
    ``regularization`` and values give the same problem as its
    ``AlternatingLeastSquares(alpha=..., regularization=...)`` fitted on the user x item
    matrix of those values: the confidence is ``alpha * value`` (not the paper's
    ``1 + alpha * value``; with 0/1 data and alpha = 1 a seen pair weighs as much as an
    unseen one), and the regularization is a plain weight, not scaled by counts.

    Each sweep updates all users, then all items, each with ``cg_steps`` conjugate-gradient
    steps started from its previous factors (Takacs et al. 2011), using Y'Y formed once
    per sweep, so a sweep costs time linear in the number of stored pairs.

    Parameters
    ----------
    n_factors : latent features per user and item (K).
    n_epochs : number of sweeps (each updates all users, then all items).
    regularization : L2 weight on the factors (not scaled by counts).
    alpha : confidence per unit of value (see above).
    weighting : None (use the values), "bm25" or "tfidf": reweight the values first with
        :func:`latentrec.models.weighting.bm25_weight` (parameters ``K1``, ``B``) or
        ``tfidf_weight``; a folded-in user is weighted the same way.
    K1, B : BM25 parameters (used only with ``weighting="bm25"``).
    cg_steps : conjugate-gradient steps per user and item per sweep.
    n_threads : threads for training (None: all cores). Results do not depend on it.
    dtype : "float32" (default, as in ``implicit``) or "float64".
    random_state : seed of the initial factors (uniform in [0, 0.01), as in ``implicit``).

    ``predict`` gives the preference score x_u . y_i; ``fold_in({item: value})`` solves a
    new user's problem exactly (the same confidences, weighting and regularization).
    Validation data passed to ``fit`` is not used. ``history_`` rows: epoch, seconds.
    """

    predicts_ratings = False

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_epochs": [Interval("int", 1, None)],
        "regularization": [Interval("real", 0, None)],
        "alpha": [Interval("real", 0, None, "neither")],
        "weighting": [IsNone(), Options(("bm25", "tfidf"))],
        "K1": [Interval("real", 0, None)],
        "B": [Interval("real", 0, 1)],
        "cg_steps": [Interval("int", 1, None)],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "dtype": [Options(("float32", "float64"))],
        "random_state": [RandomState()],
    }

    def __init__(self, n_factors=100, n_epochs=15, regularization=0.01, alpha=1.0,
                 weighting=None, K1=100.0, B=0.8, cg_steps=3, n_threads=None,
                 dtype="float32", random_state=None):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.regularization = regularization
        self.alpha = alpha
        self.weighting = weighting
        self.K1 = K1
        self.B = B
        self.cg_steps = cg_steps
        self.n_threads = n_threads
        self.dtype = dtype
        self.random_state = random_state

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        memory.require(self, ratings, memory.implicit_als_bytes(self, ratings))
        rng = check_random_state(self.random_state)
        dtype = np.dtype(self.dtype)
        n_threads = resolve_threads(self.n_threads)
        weights, length_norm = self._weights(ratings)
        conf = (self.alpha * weights).astype(dtype)
        if not np.isfinite(conf).all():
            raise DataError("the confidences alpha * value must be finite")
        by_user, by_item = ratings.grouped("user", conf), ratings.grouped("item", conf)
        k = self.n_factors
        X = rng.random((ratings.n_users, k), dtype=dtype) * dtype.type(0.01)
        Y = rng.random((ratings.n_items, k), dtype=dtype) * dtype.type(0.01)
        history = []
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            als_kernels.implicit_cg_sweep(*by_user, X, Y, self.regularization, self.cg_steps,
                                          n_threads)
            als_kernels.implicit_cg_sweep(*by_item, Y, X, self.regularization, self.cg_steps,
                                          n_threads)
            row = {"epoch": epoch, "seconds": time.perf_counter() - start}
            history.append(row)
            self._report(row)
        self._set_fitted(ratings, user_factors=X, item_factors=Y, history=history)
        self.item_length_norm_ = length_norm

    def _weights(self, ratings: Ratings):
        """The values after weighting (float64), and BM25's item norms (for fold-in)."""
        idf = W.user_idf(np.bincount(ratings.users, minlength=ratings.n_users),
                         ratings.n_items)
        if self.weighting == "bm25":
            norm = W.item_length_norm(ratings.items, ratings.values, ratings.n_items, self.B)
            return W.bm25_values(ratings.values, norm[ratings.items], idf[ratings.users],
                                 self.K1), norm
        if self.weighting == "tfidf":
            return W.tfidf_values(ratings.values, idf[ratings.users]), None
        return ratings.values.astype(np.float64), None

    def _fold_in_solve(self, idx, r):
        n_items = len(self.item_map_)
        if self.weighting == "bm25":
            idf = W.user_idf(idx.size, n_items)
            r = W.bm25_values(r, self.item_length_norm_[idx], idf, self.K1)
        elif self.weighting == "tfidf":
            r = W.tfidf_values(r, W.user_idf(idx.size, n_items))
        c = self.alpha * np.asarray(r, dtype=np.float64)
        Y = self.item_factors_.astype(np.float64)
        Yi = Y[idx]
        A = Y.T @ Y + self.regularization * np.eye(Y.shape[1])
        A += (Yi.T * (np.abs(c) - 1.0)) @ Yi
        b = Yi.T @ np.where(c > 0, c, 0.0)
        return 0.0, np.linalg.solve(A, b)

    def _extra_arrays(self) -> dict:
        if self.weighting == "bm25":
            return {"item_length_norm": self.item_length_norm_}
        return {}

    def _load_extra_arrays(self, arrays: dict) -> None:
        self.item_length_norm_ = arrays.get("item_length_norm")


class BPR(Recommender):
    """Bayesian personalized ranking (Rendle et al. 2009), learned by SGD on sampled triples.

    Every stored (user, item) pair is a positive, whatever its value (filter first, e.g.
    keep ratings >= 4). Each epoch visits every positive (u, i) once, with a negative item
    j the user has not interacted with (drawn, checked against the user's sorted items by
    binary search, redrawn), and takes one SGD step on log sigmoid(score(u, i) -
    score(u, j)) with L2 ``regularization`` on the factors and biases it moves.
    ``score(u, i) = b_i + x_u . y_i``: items have a bias, as in the ``implicit`` package's
    BPR, whose update, initialization and defaults this follows. Users come in a fresh
    random order each epoch, 32 at a time with their positives interleaved, so a few users'
    factor rows stay in cache (``implicit`` instead draws positives with replacement, in
    no order, and skips a triple whose negative is a positive).

    Parameters
    ----------
    n_factors : latent features per user and item (K).
    n_epochs : passes over all stored pairs.
    learning_rate : SGD step size.
    regularization : L2 weight, applied at each step to the factors and biases it moves.
    negatives : "uniform" (every item equally likely) or "popularity" (items drawn as often
        as they occur in the data, as the ``implicit`` package does).
    n_threads : threads (None: all cores). With several, each epoch's users are split into
        blocks (8 a thread, each with its own seeded generator, handed out to threads
        as they come free); threads never share a user, but update the shared item factors
        without locks (Hogwild), so runs differ slightly. With ``n_threads=1`` and a seed,
        results are bit-for-bit repeatable. At most one thread per 50,000 stored pairs is
        used (on less data, threads only contend for the same item rows).
    dtype : "float32" (default) or "float64".
    random_state : seed of the initial factors and of the sampling.

    ``fold_in({item: value})`` runs the same SGD for the new user alone (items fixed; the
    values are ignored), as many steps as a user with that many items gets in training,
    from a generator seeded by ``random_state`` (0 when it is not an int). ``history_``
    rows: epoch, train_auc (the share of triples ranked right before their step), skipped
    (positives with no negative found), seconds.
    """

    predicts_ratings = False

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_epochs": [Interval("int", 1, None)],
        "learning_rate": [Interval("real", 0, None, "neither")],
        "regularization": [Interval("real", 0, None)],
        "negatives": [Options(bpr_kernels.NEGATIVES)],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "dtype": [Options(("float32", "float64"))],
        "random_state": [RandomState()],
    }

    def __init__(self, n_factors=100, n_epochs=100, learning_rate=0.01, regularization=0.01,
                 negatives="uniform", n_threads=None, dtype="float32", random_state=None):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.negatives = negatives
        self.n_threads = n_threads
        self.dtype = dtype
        self.random_state = random_state

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        memory.require(self, ratings, memory.bpr_bytes(self, ratings))
        rng = check_random_state(self.random_state)
        dtype = np.dtype(self.dtype)
        n_threads = resolve_threads(self.n_threads)
        seen = ratings.seen()
        indptr, indices = seen.indptr.astype(np.int64), seen.indices
        k = self.n_factors
        P = ((rng.random((ratings.n_users, k + 1)) - 0.5) / k).astype(dtype)
        Q = ((rng.random((ratings.n_items, k + 1)) - 0.5) / k).astype(dtype)
        active = np.diff(indptr) > 0
        P[~active] = 0.0
        Q[np.bincount(indices, minlength=ratings.n_items) == 0] = 0.0
        P[:, k] = 1.0
        users = np.flatnonzero(active)
        nnz = indices.shape[0]
        # On small data, threads only fight over the same item rows: one per _PAIRS_A_THREAD.
        n_threads = min(n_threads, max(1, nnz // _PAIRS_A_THREAD))
        # several blocks a thread, scheduled dynamically, so that a busy core holds no one up
        n_blocks = 1 if n_threads == 1 else n_threads * als_kernels.BLOCKS_PER_THREAD
        history = []
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(users)
            seeds = rng.integers(0, 2**63, size=n_blocks, dtype=np.uint64)
            correct, skipped = bpr_kernels.bpr_epoch(
                indptr, indices, P, Q, self.learning_rate, self.regularization, order, seeds,
                self.negatives, n_threads)
            if not (np.isfinite(P).all() and np.isfinite(Q).all()):
                raise TrainingDivergedError(
                    f"training diverged in epoch {epoch}: the learning rate "
                    f"{self.learning_rate:g} is too large for this data: try "
                    f"{self.learning_rate / 10:g}")
            row = {"epoch": epoch, "train_auc": correct / max(nnz - skipped, 1),
                   "skipped": skipped, "seconds": time.perf_counter() - start}
            history.append(row)
            self._report(row)
        self._set_fitted(ratings, user_factors=np.ascontiguousarray(P[:, :k]),
                         item_factors=np.ascontiguousarray(Q[:, :k]),
                         item_bias=np.ascontiguousarray(Q[:, k]), history=history,
                         seen=seen)

    def _fold_in_solve(self, idx, r):
        Q = np.hstack([self.item_factors_, self.item_bias_[:, None]])
        pool = (np.arange(len(self.item_map_)) if self.negatives == "uniform"
                else self.seen_.indices)
        seed = (int(self.random_state) if isinstance(self.random_state, numbers.Integral)
                else 0)
        x = bpr_kernels.bpr_fold_in(np.unique(idx), Q, self.learning_rate,
                                    self.regularization, self.n_epochs * np.unique(idx).size,
                                    seed, pool)
        return 0.0, x[:-1].astype(np.float64)


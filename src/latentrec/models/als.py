"""ALSMatrixFactorization: biased matrix factorization by alternating least squares (ALS-WR)."""

from __future__ import annotations

import time

import numpy as np

from .._random import check_random_state
from ..data.ratings import Ratings
from ..kernels import als as kernels
from . import memory
from ._params import Interval, IsNone, Options, RandomState
from ._scaled import RatingScaleMixin, scaled_rmse, standardisation
from .base import Recommender
from .ranking import RANKING_CONSTRAINTS, RankedByRelevance
from .threads import resolve_threads


class ALSMatrixFactorization(RankedByRelevance, RatingScaleMixin, Recommender):
    """Matrix factorization R ~ mu + b_u + b_i + P Q^T, learned by alternating least squares.

    Each sweep solves every user's factors and bias exactly with the items fixed, then
    every item's with the users fixed: for a user with n_u ratings, the (K+1) x (K+1)
    ridge problem

        min  sum_i (r_ui - mu - b_i - b_u - p_u . q_i)^2 + regularization n_u |p_u|^2
                                                         + bias_regularization n_u b_u^2

    (weighted-lambda regularization, as in ALS-WR: Zhou et al. 2008), solved by Cholesky,
    users in parallel; items likewise. As in :class:`SGDMatrixFactorization`, ratings are
    centred on their mean and divided by their standard deviation for training (and the
    model scaled back afterwards), so the defaults mean the same on any rating scale; the
    weights above apply to the standardized ratings.

    Parameters
    ----------
    n_factors : latent features per user and item (K).
    n_epochs : number of sweeps (each solves all users, then all items).
    regularization : weight on |p|^2 and |q|^2, times each user's or item's rating count.
    bias_regularization : the same for the biases (None: ``regularization``).
    biased : include the global mean and user/item biases.
    init_scale : standard deviation of the initial item factors.
    n_threads : threads for training (None: all cores). Every row's solve is independent
        of the others, so results are the same for every thread count.
    dtype : "float32" (default) or "float64": the stored factors' type (training always
        runs in float64).
    random_state : seed of the initial item factors.

    ``history_`` holds one row per sweep: train RMSE, validation RMSE (when ``fit`` is
    given validation ratings) and seconds.
    ranking_factors, ranking_weight : how ``recommend`` ranks: see
        :class:`~latentrec.models.ranking.RankedByRelevance`.
    """

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_epochs": [Interval("int", 1, None)],
        "regularization": [Interval("real", 0, None, "neither")],
        "bias_regularization": [Interval("real", 0, None), IsNone()],
        "biased": [Options((True, False))],
        "init_scale": [Interval("real", 0, None, "neither")],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "dtype": [Options(("float32", "float64"))],
        "random_state": [RandomState()],
        **RANKING_CONSTRAINTS,
    }

    def __init__(self, n_factors=50, n_epochs=15, regularization=0.1,
                 bias_regularization=None, biased=True, init_scale=0.1, n_threads=None,
                 dtype="float32", random_state=None,
                 ranking_factors="auto", ranking_weight=2.0):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.biased = biased
        self.init_scale = init_scale
        self.n_threads = n_threads
        self.dtype = dtype
        self.random_state = random_state
        self.ranking_factors = ranking_factors
        self.ranking_weight = ranking_weight

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        memory.require(self, ratings, memory.als_bytes(self, ratings))
        rng = check_random_state(self.random_state)
        # The sweeps run in float64 whatever ``dtype`` (their cost is in the float64 normal
        # equations anyway); the fitted factors are stored in ``dtype``.
        dtype = np.dtype(np.float64)
        n_threads = resolve_threads(self.n_threads)
        mu, sigma = standardisation(ratings.values, self.biased)
        values = (ratings.values.astype(np.float64) - mu) / sigma
        by_user, by_item = ratings.grouped("user", values), ratings.grouped("item", values)
        k = self.n_factors
        P = np.zeros((ratings.n_users, k), dtype)
        Q = (rng.standard_normal((ratings.n_items, k)) * self.init_scale).astype(dtype)
        bu, bi = np.zeros(ratings.n_users, dtype), np.zeros(ratings.n_items, dtype)
        reg, reg_b = self.regularization, self._bias_reg()
        history = []
        for epoch in range(1, self.n_epochs + 1):
            start = time.perf_counter()
            kernels.als_sweep(*by_user, P, bu, Q, bi, reg, reg_b, self.biased, n_threads)
            sse = kernels.als_sweep(*by_item, Q, bi, P, bu, reg, reg_b, self.biased,
                                    n_threads)
            row = {"epoch": epoch, "train_rmse": sigma * float(np.sqrt(sse / ratings.n_ratings)),
                   "val_rmse": None, "seconds": time.perf_counter() - start}
            if validation is not None:
                row["val_rmse"] = scaled_rmse(validation, P, Q, bu, bi, mu, sigma, n_threads)
            history.append(row)
            self._report(row)
        out = np.dtype(self.dtype)
        root = np.sqrt(sigma)
        self._set_fitted(ratings, user_factors=(P * root).astype(out),
                         item_factors=(Q * root).astype(out),
                         user_bias=(bu * sigma).astype(out) if self.biased else None,
                         item_bias=(bi * sigma).astype(out) if self.biased else None,
                         global_mean=mu, history=history)
        self.rating_std_ = sigma

    def _bias_reg(self) -> float:
        return (self.regularization if self.bias_regularization is None
                else self.bias_regularization)

    def _fold_in_regularization(self, n_ratings):
        # Training solves e'^2 + reg n |p'|^2 on standardized ratings (r = mu + sigma r',
        # p = sqrt(sigma) p'); in rating units: e^2 + reg sigma n |p|^2 + reg_b n b^2.
        return self.regularization * self.rating_std_ * n_ratings, self._bias_reg() * n_ratings

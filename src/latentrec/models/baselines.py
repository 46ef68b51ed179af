"""Baselines with the shared model surface: global mean, biases, popularity, random."""

from __future__ import annotations

import numpy as np

from .._random import check_random_state
from ..data.ratings import Ratings
from ._params import Interval, RandomState
from .base import Recommender


def _no_factors(ratings: Ratings, dtype=np.float32):
    return (np.zeros((ratings.n_users, 0), dtype), np.zeros((ratings.n_items, 0), dtype))


class GlobalMean(Recommender):
    """Predicts the training mean for every pair; ranks nothing."""

    def __init__(self):
        pass

    def _fit(self, ratings, validation):
        uf, itf = _no_factors(ratings)
        self._set_fitted(ratings, user_factors=uf, item_factors=itf,
                         global_mean=ratings.values.mean(dtype=np.float64))


class BiasBaseline(Recommender):
    """mean + user bias + item bias, regularized, fitted by alternating least squares.

    Minimises sum (r - mu - b_u - b_i)^2 + user_regularization * sum b_u^2 +
    item_regularization * sum b_i^2; the weights count in pseudo-ratings, so they mean the
    same on any rating scale.
    """

    _constraints = {
        "user_regularization": [Interval("real", 0, None)],
        "item_regularization": [Interval("real", 0, None)],
        "n_epochs": [Interval("int", 1, None)],
    }

    def __init__(self, user_regularization=15.0, item_regularization=10.0, n_epochs=10):
        self.user_regularization = user_regularization
        self.item_regularization = item_regularization
        self.n_epochs = n_epochs

    def _fit(self, ratings, validation):
        u, i = ratings.users, ratings.items
        r = ratings.values.astype(np.float64)
        mu = r.mean()
        n_u = np.bincount(u, minlength=ratings.n_users)
        n_i = np.bincount(i, minlength=ratings.n_items)
        bu, bi = np.zeros(ratings.n_users), np.zeros(ratings.n_items)
        for _ in range(self.n_epochs):
            bi = np.bincount(i, r - mu - bu[u], ratings.n_items) / (self.item_regularization + n_i)
            bu = np.bincount(u, r - mu - bi[i], ratings.n_users) / (self.user_regularization + n_u)
        uf, itf = _no_factors(ratings)
        self._set_fitted(ratings, user_factors=uf, item_factors=itf, user_bias=bu,
                         item_bias=bi, global_mean=mu)

    def _uses_user_bias(self) -> bool:
        return True

    def _fold_in_regularization(self, n_ratings):
        return 0.0, self.user_regularization


class Popularity(Recommender):
    """Ranks items by how many ratings they have; its "prediction" is that count."""

    predicts_ratings = False

    def __init__(self):
        pass

    def _fit(self, ratings, validation):
        uf, itf = _no_factors(ratings)
        counts = np.bincount(ratings.items, minlength=ratings.n_items).astype(np.float32)
        self._set_fitted(ratings, user_factors=uf, item_factors=itf, item_bias=counts)


class RandomRecommender(Recommender):
    """Gives each (user, item) pair a fixed random score (dot products of random vectors)."""

    predicts_ratings = False

    _constraints = {"n_factors": [Interval("int", 1, None)], "random_state": [RandomState()]}

    def __init__(self, n_factors=16, random_state=None):
        self.n_factors = n_factors
        self.random_state = random_state

    def _fit(self, ratings, validation):
        rng = check_random_state(self.random_state)
        k = self.n_factors
        scale = 1.0 / np.sqrt(k)
        self._set_fitted(
            ratings,
            user_factors=(rng.standard_normal((ratings.n_users, k)) * scale).astype(np.float32),
            item_factors=(rng.standard_normal((ratings.n_items, k)) * scale).astype(np.float32))

"""Shared by the models that train on standardised ratings (SGD, ALS, Bayesian MF)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..kernels import predict as predict_kernels
from ..kernels.moments import exact_sums, moment_bins


def standardisation(values: np.ndarray, biased: bool) -> tuple[float, float]:
    """(shift, scale) to train on: mean and spread, or 0 and the root mean square."""
    return exact_moments(moment_bins(values), len(values), biased)


def exact_moments(bins: np.ndarray, n: int, biased: bool) -> tuple[float, float]:
    """:func:`standardisation` from the ratings' moment bins (kernels.moments.moment_bins),
    exact and rounded once: the same for any order or partitioning of the ratings, so a
    cluster that adds up its partitions' bins gets what one process gets."""
    s, q = exact_sums(bins)
    mean, mean_sq = Fraction(s, n << 149), Fraction(q, n << 298)
    sigma = math.sqrt(float(mean_sq - mean * mean if biased else mean_sq))
    return (float(mean) if biased else 0.0), (sigma if sigma > 0 else 1.0)


def standardised(values, mu: float, sigma: float, dtype, *, copy=True) -> np.ndarray:
    """(values - mu) / sigma in ``dtype``, one element at a time (so the order of the
    ratings does not matter): a new array, or with ``copy=False`` ``values`` itself when
    it has that dtype (at 100M ratings every copy counts)."""
    v = np.asarray(values).astype(dtype, copy=copy)
    v -= mu
    v /= sigma
    return v


def scaled_rmse(ratings, P, Q, bu, bi, mu, sigma, threads=None) -> float:
    """RMSE on ``ratings`` of a model fitted on standardised ratings (factors and biases
    in standardised units), in rating units: the validation error of every epoch."""
    pred = predict_kernels.predict_pairs(ratings.users, ratings.items, P, Q, bu, bi, 0.0,
                                         n_threads=threads)
    return predict_kernels.rmse(ratings.values, mu + sigma * pred.astype(np.float64))


class RatingScaleMixin:
    """Saves and loads ``rating_std_``, the spread the model was trained at."""

    def _extra_arrays(self) -> dict:
        return {"rating_std": np.array([self.rating_std_])}

    def _load_extra_arrays(self, arrays: dict) -> None:
        self.rating_std_ = float(arrays["rating_std"][0])

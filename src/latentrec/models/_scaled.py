"""Shared by the models that train on standardised ratings (SGD, ALS, Bayesian MF)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..kernels.dsgd import exact_sums, moment_bins


def standardisation(values: np.ndarray, biased: bool) -> tuple[float, float]:
    """(shift, scale) to train on: mean and spread, or 0 and the root mean square."""
    return exact_moments(moment_bins(values), len(values), biased)


def exact_moments(bins: np.ndarray, n: int, biased: bool) -> tuple[float, float]:
    """:func:`standardisation` from the ratings' moment bins (kernels.dsgd.moment_bins),
    exact and rounded once: the same for any order or partitioning of the ratings, so a
    cluster that adds up its partitions' bins gets what one process gets."""
    s, q = exact_sums(bins)
    mean, mean_sq = Fraction(s, n << 149), Fraction(q, n << 298)
    sigma = math.sqrt(float(mean_sq - mean * mean if biased else mean_sq))
    return (float(mean) if biased else 0.0), (sigma if sigma > 0 else 1.0)


def rows_csr(rows, cols, values, n_rows):
    """(indptr int64, indices int32, values) of the matrix with these entries, rows sorted."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return (indptr, np.ascontiguousarray(cols[order], dtype=np.int32),
            np.ascontiguousarray(values[order]))


class RatingScaleMixin:
    """Saves and loads ``rating_std_``, the spread the model was trained at."""

    def _extra_arrays(self) -> dict:
        return {"rating_std": np.array([self.rating_std_])}

    def _load_extra_arrays(self, arrays: dict) -> None:
        self.rating_std_ = float(arrays["rating_std"][0])

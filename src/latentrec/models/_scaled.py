"""Shared by the models that train on standardised ratings (SGD, ALS, Bayesian MF)."""

from __future__ import annotations

import numpy as np


def standardisation(values: np.ndarray, biased: bool) -> tuple[float, float]:
    """(shift, scale) to train on: mean and spread, or 0 and the root mean square."""
    v = values.astype(np.float64)
    mu = float(v.mean()) if biased else 0.0
    sigma = float(np.sqrt(np.mean((v - mu) ** 2)))
    return mu, (sigma if sigma > 0 else 1.0)


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

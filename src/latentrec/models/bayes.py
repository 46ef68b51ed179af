"""BayesianMatrixFactorization: matrix factorization averaged over its posterior (BPMF).

Salakhutdinov and Mnih (2008): ratings ~ N(u_i . v_j, 1/alpha), factors drawn from Gaussians
whose means and precisions have Normal-Wishart priors; a Gibbs sampler draws factors and
hyperparameters in turn, and predictions average u_i . v_j over the kept samples. There is
no learning rate or regularization to tune: the priors are learnt from the data.
"""

from __future__ import annotations

import time

import numpy as np

from .._random import check_random_state
from ..data.ratings import Ratings
from ..kernels import bpmf
from ..kernels.predict import predict_pairs, rmse
from ..kernels.threads import num_threads
from . import memory
from ._params import Interval, IsNone, RandomState
from ._scaled import RatingScaleMixin, standardisation
from .base import Recommender
from .ranking import RANKING_CONSTRAINTS, RankedByRelevance
from .threads import resolve_threads


class BayesianMatrixFactorization(RankedByRelevance, RatingScaleMixin, Recommender):
    """Bayesian probabilistic matrix factorization by Gibbs sampling.

    Parameters
    ----------
    n_factors : latent features per user and item (K).
    n_samples : Gibbs sweeps after ``burn_in``; predictions average ``u . v`` over them.
    burn_in : sweeps discarded at the start.
    keep : how many of the samples the fitted model stores (evenly spaced); each adds K
        columns to the stored factors, whose dot product is the posterior-mean prediction.
    alpha : precision of the rating noise on standardised ratings; None samples it too.
    beta0 : strength of the prior on the factor means.
    ranking_factors, ranking_weight : how ``recommend`` ranks: see
        :class:`~latentrec.models.ranking.RankedByRelevance`.
    """

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_samples": [Interval("int", 1, None)],
        "burn_in": [Interval("int", 0, None)],
        "keep": [Interval("int", 1, None)],
        "alpha": [Interval("real", 0, None, "neither"), IsNone()],
        "beta0": [Interval("real", 0, None, "neither")],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "random_state": [RandomState()],
        **RANKING_CONSTRAINTS,
    }

    def __init__(self, n_factors=10, n_samples=200, burn_in=20, keep=50, alpha=None,
                 beta0=2.0, n_threads=None, random_state=None,
                 ranking_factors="auto", ranking_weight=2.0):
        self.n_factors = n_factors
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.keep = keep
        self.alpha = alpha
        self.beta0 = beta0
        self.n_threads = n_threads
        self.random_state = random_state
        self.ranking_factors = ranking_factors
        self.ranking_weight = ranking_weight

    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        memory.require(self, ratings, memory.bpmf_bytes(self, ratings))
        rng = check_random_state(self.random_state)
        mu, sigma = standardisation(ratings.values, biased=True)
        scaled = (ratings.values.astype(np.float64) - mu) / sigma
        by_user, by_item = ratings.grouped("user", scaled), ratings.grouped("item", scaled)
        k = self.n_factors
        U = rng.standard_normal((ratings.n_users, k)) * 0.1
        V = rng.standard_normal((ratings.n_items, k)) * 0.1
        alpha = 2.0 if self.alpha is None else float(self.alpha)
        total = self.burn_in + self.n_samples
        keep_at = set(np.linspace(self.burn_in, total - 1, min(self.keep, self.n_samples))
                      .round().astype(int).tolist())
        kept_u, kept_v, history = [], [], []
        val_sum, n_avg = None, 0
        threads = resolve_threads(self.n_threads, ratings.n_ratings)
        for sweep in range(total):
            start = time.perf_counter()
            for rows, other, out in ((by_user, V, U), (by_item, U, V)):
                m, lam = self._hyper(out, rng)
                z = rng.standard_normal(out.shape)
                _sample(rows, other, m, lam, alpha, z, out, threads)
            pred = _dot(ratings.users, ratings.items, U, V, threads)
            sse = float(np.sum((scaled - pred) ** 2))
            if self.alpha is None:
                alpha = rng.gamma(1.0 + 0.5 * scaled.size, 1.0 / (1.0 + 0.5 * sse))
            row = {"epoch": sweep + 1, "train_rmse": sigma * np.sqrt(sse / scaled.size),
                   "val_rmse": None, "stage": "burn-in" if sweep < self.burn_in else "sample"}
            if sweep >= self.burn_in:
                if sweep in keep_at:
                    kept_u.append(U.copy())
                    kept_v.append(V.copy())
                if validation is not None:
                    p = _dot(validation.users, validation.items, U, V, threads)
                    val_sum = p if val_sum is None else val_sum + p
                    n_avg += 1
                    row["val_rmse"] = rmse(validation.values, mu + sigma * val_sum / n_avg)
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            self._report(row)
        scale = np.sqrt(sigma / len(kept_u))
        self._set_fitted(ratings, user_factors=np.hstack(kept_u) * scale,
                         item_factors=np.hstack(kept_v) * scale, global_mean=mu,
                         history=history)
        self.rating_std_ = sigma

    def _hyper(self, X: np.ndarray, rng):
        """Draw (mean, precision) of one side's factors from their Normal-Wishart posterior."""
        n, k = X.shape
        xbar = X.mean(axis=0)
        S = np.cov(X, rowvar=False, bias=True).reshape(k, k)
        beta = self.beta0 + n
        mu_star = n * xbar / beta
        W_inv = np.eye(k) + n * S + (self.beta0 * n / beta) * np.outer(xbar, xbar)
        W = np.linalg.inv(W_inv)
        W = (W + W.T) / 2
        from scipy.stats import wishart  # here: importing scipy.stats takes half a second

        lam = wishart.rvs(df=k + n, scale=W, random_state=rng).reshape(k, k)
        mean = rng.multivariate_normal(mu_star, np.linalg.inv(beta * lam))
        return mean, lam

    def _fold_in_regularization(self, n_ratings):
        return self.rating_std_, 0.0






def _sample(rows, other, mean, lam, alpha, z, out, threads):
    indptr, indices, values = rows
    with num_threads(threads):
        bpmf.sample_side(indptr, indices, values, other, mean, lam, alpha, z, out)


def _dot(users, items, U, V, threads):
    zero_u, zero_i = np.zeros(U.shape[0]), np.zeros(V.shape[0])
    return predict_pairs(users, items, U, V, zero_u, zero_i, 0.0, n_threads=threads)

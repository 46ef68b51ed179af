"""BayesianFactorizationMachine: a factorization machine averaged over its posterior.

Freudenthaler, Schmidt-Thieme and Rendle, "Bayesian Factorization Machines" (2011), as
libFM's MCMC: every bias and factor has a normal prior whose mean and precision (one pair
per feature group and factor) have their own priors, and a Gibbs sampler draws
parameters and hyperparameters in turn; the noise precision is drawn too, so nothing needs
tuning. Rendle, Zhang and Koren (2019) showed on MovieLens-10M that the features do the
work; the groups here are theirs (models/fm_design.py): user and item ids, the items each
user rated (SVD++'s implicit feedback), the users who rated each item ("flipped"), time
bins (when the ratings carry timestamps), and attributes of users and items.

Ratings are standardised first (as every latentrec rating model), so the priors mean the
same on any scale. The model's prediction for a pair is the posterior mean over every
sample after burn-in, of the pair predicted as if it were rated (the item among the
user's implicit items and the user among the item's flipped users, as in every training
row): models/fm_mean.py shows that this is an inner product plus biases, kept at a
bounded rank, so ``predict``, ``recommend``, ``similar_*`` and the model file are those
of every latentrec model.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from .._random import check_random_state
from ..data.ratings import Ratings
from ..errors import DataError, ParameterError
from ..kernels import fm as kern
from ..kernels.threads import num_threads
from . import fm_design as design_mod
from . import memory
from ._params import Interval, IsNone, Options, RandomState
from ._scaled import RatingScaleMixin, standardisation
from .base import FoldedUser, Recommender
from .fm_cold import ColdOffsets
from .fm_mean import PosteriorMean
from .ranking import RANKING_CONSTRAINTS, RankedByRelevance
from .threads import resolve_threads

#: Priors of the hyperparameters (libFM's): Gamma(1, 1) on precisions, N(0, 1/lambda) on
#: the group means.
_A0, _B0, _GAMMA0 = 1.0, 1.0, 1.0
#: sweeps between recomputing every sum and residual from the parameters (a sweep keeps
#: them up to date by differences; this bounds their rounding, and costs about a fifth
#: of a sweep)
_REFRESH_EVERY = 10
#: the default mean_rank's ceiling: at 10M ratings and K = 32 the mean's buffers at 8K
#: would hold 240,000 x 512 numbers, and the fit pass 4 GB (docs/benchmarks.md)
_MAX_MEAN_RANK = 128
#: training ratings per time bin with ``time_bins="auto"``: narrow enough for a bin to
#: stand for a rating session (models/fm_design.py)
_RATINGS_PER_BIN = 30
#: training ratings from which implicit="auto" and flipped="auto" switch the sets on.
#: Below it the sets cost accuracy on synthetic ratings (vs BPMF, 2 seeds: +0.040 at
#: 1,000 ratings, +0.015 at 2,000, +0.006 at 3,000 with popularity-driven exposure; from
#: 4,000 on they tie or win, and win wherever users pick what they like)
_MIN_SET_RATINGS = 5000
#: the time group's arrays in the model file (each attribute is the name and "_")
_TIME_ARRAYS = ("time_edges", "time_span", "time_bias")


class BayesianFactorizationMachine(RankedByRelevance, RatingScaleMixin, Recommender):
    """Second-order factorization machine learnt by Gibbs sampling.

    Parameters
    ----------
    n_factors : latent features per feature (K).
    n_samples : Gibbs sweeps after ``burn_in``; biases and predictions average over them.
    burn_in : sweeps discarded at the start.
    mean_rank : rank at which the posterior mean of the user-item products is kept (the
        stored factors are 3 columns wider); None is 8 * n_factors, at most 128.
    biases : global, user, item and attribute bias terms (False with only the id groups
        is Bayesian matrix factorization with per-factor priors).
    implicit : the SVD++ group: each user described also by the items they rated.
    flipped : each item described also by the users who rated it. For both, "auto" (the
        default) switches the group on from 5,000 training ratings: below that, on
        synthetic ratings, the sets made predictions worse than BPMF's
        (docs/benchmarks.md).
    time_bins : the time group, when the ratings carry timestamps: a bias for each of
        this many time bins of equal numbers of training ratings ("auto": one per 30
        ratings; 0: no time group; it needs ``biases``). ``predict(..., timestamps=...)``
        then predicts each pair at its time; without timestamps (and in ``recommend``),
        or outside the training period, at a new time bin (the group's prior mean).
    init_std : standard deviation of the initial factors.
    ranking_factors, ranking_weight : how ``recommend`` ranks: see
        :class:`~latentrec.models.ranking.RankedByRelevance`.

    ``fit(ratings, user_attributes=df, item_attributes=df)`` adds attributes (DataFrames
    indexed by raw id; numeric columns standardised, text one-hot, ``a|b`` text
    multi-hot). Ids given attributes but no ratings join the model: they get predictions
    and recommendations from their attributes alone (cold start).
    """

    #: not the last column pair: it corrects new users' predictions (``_new_entity_parts``)
    _similar_columns = slice(None, -1)

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_samples": [Interval("int", 1, None)],
        "burn_in": [Interval("int", 0, None)],
        "mean_rank": [Interval("int", 1, None), IsNone()],
        "biases": [Options((True, False))],
        "implicit": [Options((True, False, "auto"))],
        "flipped": [Options((True, False, "auto"))],
        "time_bins": [Options(("auto",)), Interval("int", 0, None)],
        "init_std": [Interval("real", 0, None, "neither")],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "random_state": [RandomState()],
        **RANKING_CONSTRAINTS,
    }

    def __init__(self, n_factors=10, n_samples=550, burn_in=50, mean_rank=None, biases=True,
                 implicit="auto", flipped="auto", time_bins="auto", init_std=0.1, n_threads=None,
                 random_state=None, ranking_factors="auto", ranking_weight=2.0):
        self.n_factors = n_factors
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.mean_rank = mean_rank
        self.biases = biases
        self.implicit = implicit
        self.flipped = flipped
        self.time_bins = time_bins
        self.init_std = init_std
        self.n_threads = n_threads
        self.random_state = random_state
        self.ranking_factors = ranking_factors
        self.ranking_weight = ranking_weight

    def fit(self, ratings, validation=None, *, callback=None, user_attributes=None,
            item_attributes=None):
        """Fit on ``ratings``; see the class doc for the attribute tables."""
        self._attributes = (user_attributes, item_attributes)
        try:
            return super().fit(ratings, validation, callback=callback)
        finally:
            self._attributes = (None, None)

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, ratings: Ratings, validation: Ratings | None) -> None:
        memory.require(self, ratings, memory.fm_bytes(self, ratings))
        ratings, validation, enc = self._with_attributes(ratings, validation)
        # rows in user order: the user block's passes then read the rows in sequence
        ratings = ratings.subset(np.argsort(ratings.users, kind="stable"))
        mu, sigma = standardisation(ratings.values, biased=True)
        y = (ratings.values.astype(np.float64) - mu) / sigma
        axis = self._time_axis(ratings)
        d = self._design(ratings, enc, axis)
        state = _State.start(d, self.n_factors, self.init_std,
                             check_random_state(self.random_state), y)
        sums, cold, history = self._run(d, state, y, validation, mu, sigma, axis)
        fit = sums.fitted(sigma)
        time_parts = _time_parts(axis, fit, sigma)
        offsets = _new_entity_parts(fit, ratings, cold.offsets(sigma))
        self._install(ratings, d, sums, fit, mu, sigma, history, enc)
        self.cold_offset_ = offsets
        self.__dict__.update(time_parts)

    def _time_axis(self, ratings: Ratings):
        """(inner bin edges, (first, last) timestamp) of the time group, or None."""
        n = self.time_bins
        if n == 0 or (n == "auto" and (ratings.timestamps is None or not self.biases)):
            return None
        if not self.biases:
            raise ParameterError(f"time_bins={n} needs biases=True: the time bins carry "
                                 "biases only")
        if ratings.timestamps is None:
            raise DataError(f"time_bins={n} needs ratings with timestamps, and these have "
                            "none (time_bins='auto' or 0 fits without the time group)")
        if n == "auto":
            n = max(1, len(ratings.values) // _RATINGS_PER_BIN)
        ts = ratings.timestamps
        return design_mod.time_edges(ts, n), (float(ts.min()), float(ts.max()))

    def _with_attributes(self, ratings, validation):
        """Encode the attribute tables; ids they name beyond the ratings join the maps."""
        enc, tables = {}, dict(zip(("user", "item"), getattr(self, "_attributes",
                                                               (None, None))))
        for side, table in tables.items():
            if table is None:
                continue
            design_mod.check_table(table, side)
            m = ratings.user_map if side == "user" else ratings.item_map
            unknown = m.to_indices(np.asarray(table.index, dtype=object),
                                   unknown="missing") < 0
            if unknown.any():
                try:
                    m = m.extend(np.asarray(table.index[unknown], dtype=object))
                except DataError as err:  # say which table holds the id
                    raise DataError(f"{side}_attributes: {err}") from None
                ratings = _with_map(ratings, side, m)
                validation = None if validation is None else _with_map(validation, side, m)
            enc[side] = design_mod.encode_attributes(table, m, side)
        return ratings, validation, enc

    def _design(self, ratings, enc, axis) -> design_mod.Design:
        ua, ia = enc.get("user", (None,))[0], enc.get("item", (None,))[0]
        sets = [ratings.n_ratings >= _MIN_SET_RATINGS if on == "auto" else on
                for on in (self.implicit, self.flipped)]
        blocks = [design_mod.side_block(ratings, "user", sets[0], ua),
                  design_mod.side_block(ratings, "item", sets[1], ia)]
        if axis is not None:
            blocks.append(design_mod.time_block(ratings, *axis))
        return design_mod.assemble(blocks)

    def _run(self, d, state, y, validation, mu, sigma, axis):
        threads = resolve_threads(self.n_threads, len(y))
        rng = check_random_state(self.random_state)
        rng.random()  # not the stream that drew the initial factors
        pairs = None
        if validation is not None:
            bins = (None if axis is None or validation.timestamps is None
                    else design_mod.time_bins(validation.timestamps, *axis))
            pairs = (validation.users, validation.items, bins)
        sums, history, val_sum = PosteriorMean(d, self._mean_rank()), [], None
        cold = ColdOffsets(d, y)
        with num_threads(threads):
            for sweep in range(self.burn_in + self.n_samples):
                start = time.perf_counter()
                state.sweep(d, y, rng, self.biases)
                row = {"epoch": sweep + 1,
                       "train_rmse": sigma * float(np.sqrt(np.mean(state.e ** 2))),
                       "val_rmse": None, "stage": "burn-in" if sweep < self.burn_in else "sample"}
                if sweep >= self.burn_in:
                    p = sums.add(state, pairs)
                    cold.add(state)
                    if p is not None:
                        val_sum = p if val_sum is None else val_sum + p
                        pred = mu + sigma * val_sum / sums.n
                        row["val_rmse"] = float(np.sqrt(np.mean((validation.values - pred) ** 2)))
                row["seconds"] = time.perf_counter() - start
                history.append(row)
                self._report(row)
        return sums, cold, history

    def _mean_rank(self) -> int:
        if self.mean_rank is not None:
            return self.mean_rank
        return min(8 * self.n_factors, _MAX_MEAN_RANK)

    def _install(self, ratings, d, sums, fit, mu, sigma, history, enc):
        self._set_fitted(ratings,
                         user_factors=np.ascontiguousarray(fit["user_factors"], np.float32),
                         item_factors=np.ascontiguousarray(fit["item_factors"], np.float32),
                         user_bias=fit["user_bias"], item_bias=fit["item_bias"],
                         global_mean=mu + sigma * fit["w0"], history=history)
        self.rating_std_ = sigma
        self.fold_in_factors_ = {"base": fit["fold_in_rows"].astype(np.float32)}
        if fit["fold_in_rows_x"] is not None:
            self.fold_in_factors_["base_x"] = fit["fold_in_rows_x"].astype(np.float32)
        self.fold_in_weights_ = {"user": np.array([sums.mu_w_sum[0] / sums.n * sigma])}
        for name in ("implicit", "user_attributes"):
            if name in d.group_names:
                w = sums.w_sum[d.group_slice(name)] / sums.n * sigma
                self.fold_in_weights_[name] = w.astype(np.float32)
        self.fold_in_weights_ = {k: v.astype(np.float32) for k, v in
                                 self.fold_in_weights_.items()}
        self.attribute_gram_ = fit["gram"]
        self.attribute_encoding_ = {side: e for side, (_, e) in enc.items()}

    @property
    def uses_timestamps(self) -> bool:
        """Whether the fitted model has the time group (``predict`` takes timestamps)."""
        return getattr(self, "time_bias_", np.zeros(0)).size > 0

    # -- predictions at a time -----------------------------------------------------------
    def _time_shift(self, users, items, timestamps) -> np.ndarray:
        """What each pair's time bin adds to its prediction at a new bin (nothing for a
        time outside the training period: a new bin; nothing for a user without training
        ratings, a folded-in user too, as a bin's bias is mostly the sessions of the
        users who rated in it)."""
        n = np.asarray(items, dtype=object).size
        given = np.asarray(timestamps).ravel()
        if given.dtype.kind == "M":  # dates: in seconds, as training timestamps are read
            ts = pd.Series(given.astype("datetime64[s]").astype(np.int64), dtype=np.float64)
            ts[np.isnat(given)] = np.nan
        else:
            ts = pd.to_numeric(pd.Series(given), errors="coerce")
        if ts.size != n or ts.isna().any():
            raise DataError(f"timestamps must be {n} numbers, one per pair")
        if isinstance(users, FoldedUser):
            return np.zeros(n)
        t = design_mod.time_bins(ts.to_numpy(np.float64), self.time_edges_, self.time_span_)
        u = self.user_map_.to_indices(np.asarray(users, dtype=object).ravel(),
                                      unknown="missing")
        rated = np.diff(self.seen_.indptr) > 0
        return np.where((u >= 0) & rated[np.maximum(u, 0)], self.time_bias_[t], 0.0)

    # -- new users -----------------------------------------------------------------------
    def fold_in(self, ratings: dict | None = None, *, attributes=None) -> FoldedUser:
        """A new user from ``{item_id: rating}`` (their ratings, and which items they
        rated) and/or ``attributes`` (a dict or Series of user attributes, encoded as in
        training); with neither it is a DataError."""
        self._require_fitted()
        if not ratings and attributes is None:
            raise DataError("fold_in needs ratings, attributes or both")
        idx = np.zeros(0, np.int64)
        if ratings:
            if not isinstance(ratings, dict):
                raise DataError("fold_in ratings must be a {item_id: rating} dict")
            idx = self._fold_in_items(ratings)
        bias, q = self._prior_user(idx, attributes)
        if idx.size:
            r = self._fold_in_values(ratings)
            resid = r - self.global_mean_ - self.item_bias_[idx] - bias \
                - self.item_factors_[idx].astype(np.float64) @ q
            db, dq = self._ridge(idx, resid)
            bias, q = bias + db, q + dq
        else:  # known from attributes alone: as a user of the model without ratings
            q[-1] = 1.0
        return FoldedUser(bias=float(bias), factors=q.astype(self.item_factors_.dtype),
                          seen=idx, n_ratings=int(idx.size), fit=self._fit_token)

    def _prior_user(self, idx, attributes):
        """Bias and vector of a new user from what the model knows before their ratings:
        the prior mean of a user's own factors, the items they rated (implicit feedback,
        weighted as if the item to predict were rated too) and their attributes, with the
        interactions among the attributes (models/fm_mean.py has the layout)."""
        W = self.fold_in_weights_
        base = self.fold_in_factors_["base"]
        c = np.zeros(base.shape[0])
        c[0] = 1.0  # the prior mean of a user id's factors
        lin = float(W["user"][0])
        at, x_prime = 1, 0.0
        if "implicit" in W:
            n_items = W["implicit"].size
            items = np.unique(idx)
            # no items: the empty set, as for users known only from attributes (fm_mean.py)
            x_prime = 1.0 / np.sqrt(items.size + 1.0) if items.size else 0.0
            c[at + items] = x_prime
            lin += x_prime * float(W["implicit"][items].sum())
            at += n_items
        x_attr = np.zeros(0)
        if "user_attributes" in W:
            x_attr = (self._encode_user(attributes).toarray()[0] if attributes is not None
                      else np.zeros(W["user_attributes"].size))
            c[at:at + x_attr.size] = x_attr
            lin += float(x_attr @ W["user_attributes"])
        elif attributes is not None:
            self._encode_user(attributes)  # the error: no attributes in this model
        q = c @ base.astype(np.float64)
        if "base_x" in self.fold_in_factors_:
            q += x_prime * (c @ self.fold_in_factors_["base_x"].astype(np.float64))
        root = np.sqrt(self.rating_std_)
        q = np.concatenate([q, [x_prime * root, 0.0, 0.0]])
        G = self.attribute_gram_
        if G.size:
            xs = np.concatenate([[1.0], x_attr])
            lin += 0.5 * (xs @ G @ xs - (xs * xs) @ np.diag(G))
        return lin, q

    def _encode_user(self, attributes):
        enc = self.attribute_encoding_.get("user")
        if enc is None:
            raise DataError("this model was fitted without user attributes")
        row = pd.DataFrame([dict(attributes)])
        unknown = set(row.columns) - set(enc)
        if unknown:
            raise DataError(f"unknown user attribute(s) {sorted(unknown)}; the model "
                            f"knows {sorted(enc)}")
        return design_mod.encode_rows(row, enc)

    def _ridge(self, idx, resid):
        lam = self.rating_std_
        F = self.item_factors_[idx, :-1]  # not the new-user column: this user has ratings
        A = np.hstack([F.astype(np.float64), np.ones((idx.size, 1))])
        x = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ resid)
        return x[-1], np.append(x[:-1], 0.0)

    def _uses_user_bias(self) -> bool:
        return True

    # -- model file ----------------------------------------------------------------------
    def _extra_arrays(self) -> dict:
        out = super()._extra_arrays()
        for name, Z in self.fold_in_factors_.items():
            out[f"fold_in_factors_{name}"] = Z
        for name, w in self.fold_in_weights_.items():
            out[f"fold_in_weights_{name}"] = w
        out["attribute_gram"] = self.attribute_gram_
        # column order is feature order: stored as lists of [column, encoding] pairs
        text = json.dumps({side: list(enc.items())
                           for side, enc in self.attribute_encoding_.items()})
        out["attribute_encoding"] = np.frombuffer(text.encode(), dtype=np.uint8)
        for name in _TIME_ARRAYS:
            out[name] = getattr(self, name + "_")
        out["cold_offset"] = self.cold_offset_
        return out

    def _load_extra_arrays(self, arrays: dict) -> None:
        super()._load_extra_arrays(arrays)
        self._load_new_entity_parts(arrays)
        width = self.item_factors_.shape[1]
        self.fold_in_factors_, self.fold_in_weights_ = {}, {}
        for key, Z in arrays.items():
            if key.startswith("fold_in_factors_"):
                name = key[len("fold_in_factors_"):]
                if Z.ndim != 2 or Z.shape[1] != width - 3:
                    raise ValueError(f"the fold-in arrays of {name!r} do not fit the model")
                self.fold_in_factors_[name] = Z
            elif key.startswith("fold_in_weights_"):
                self.fold_in_weights_[key[len("fold_in_weights_"):]] = arrays[key]
        if "base" not in self.fold_in_factors_ or "user" not in self.fold_in_weights_:
            raise ValueError("the model file lacks the user prior's fold-in arrays")
        G = arrays.get("attribute_gram")
        if G is None or G.ndim != 2 or G.shape[0] != G.shape[1]:
            raise ValueError("the model file lacks its attribute interactions")
        self.attribute_gram_ = G
        raw = arrays.get("attribute_encoding")
        if raw is None or raw.dtype != np.uint8:
            raise ValueError("the model file lacks its attribute encoding")
        self.attribute_encoding_ = {side: dict(pairs) for side, pairs in
                                    json.loads(raw.tobytes().decode()).items()}
        self._load_time(arrays)

    def _load_new_entity_parts(self, arrays: dict) -> None:
        """The offsets, and the new-user column pair (``_new_entity_parts``); a file from
        before them gets a column pair of zeros."""
        offsets = arrays.get("cold_offset")
        if offsets is None:
            self.cold_offset_ = np.zeros(3)
            self.user_factors_, self.item_factors_ = (
                np.hstack([f, np.zeros((len(f), 1), f.dtype)])
                for f in (self.user_factors_, self.item_factors_))
            return
        if offsets.shape != (3,) or not np.isfinite(offsets).all():
            raise ValueError("the model file's offsets for new users and items do not fit "
                             "the model")
        self.cold_offset_ = offsets.astype(np.float64)

    def _load_time(self, arrays: dict) -> None:
        self.__dict__.update(_time_parts(None, None, 1.0))
        if not all(name in arrays for name in _TIME_ARRAYS):
            return  # a file from before the time group: none
        edges, span, tb = (arrays[name] for name in _TIME_ARRAYS)
        if tb.size == 0:
            return
        if edges.ndim != 1 or edges.size + 2 != tb.size or span.shape != (2,):
            raise ValueError("the time group's arrays do not fit the model")
        self.time_edges_, self.time_span_, self.time_bias_ = edges, span, tb


def _new_entity_parts(fit: dict, ratings: Ratings, offsets: dict) -> np.ndarray:
    """Correct ``fit``'s predictions for users and items without ratings (known from
    their attributes) by the mean errors of such predictions (models/fm_cold.py): a new
    item's bias takes the item offset; one more column pair, 1 for a new user (and a user
    folded in from attributes alone) against each item's own offset for new users (for a
    new item: the both-new offset less the item offset), adds the rest. Returns the
    offsets [user, item, both]."""
    o = [offsets.get(k, 0.0) for k in ("user", "item")]
    o.append(offsets.get("both", o[0] + o[1]))  # measured where both sides have new ones
    new_u = np.bincount(ratings.users, minlength=len(fit["user_bias"])) == 0
    new_i = np.bincount(ratings.items, minlength=len(fit["item_bias"])) == 0
    fit["item_bias"] = fit["item_bias"] + o[1] * new_i
    by_item = offsets.get("user_by_item", np.full(new_i.size, o[0]))
    fit["user_factors"] = np.hstack([fit["user_factors"], new_u[:, None].astype(np.float64)])
    fit["item_factors"] = np.hstack([fit["item_factors"],
                                     np.where(new_i, o[2] - o[1], by_item)[:, None]])
    return np.array(o)


def _time_parts(axis, fit: dict, sigma: float) -> dict:
    """The time group's fitted attributes (empty without it): each bin's bias less a new
    bin's. A new bin's joins ``fit``'s global mean: what a pair without a timestamp, or
    at a time outside the training period, gets."""
    out = {"time_edges_": np.zeros(0), "time_span_": np.zeros(0), "time_bias_": np.zeros(0)}
    if axis is None:
        return out
    tb = fit["time_bias"]
    fit["w0"] = fit["w0"] + tb[-1] / sigma
    out.update(time_edges_=axis[0].astype(np.float64), time_span_=np.array(axis[1]),
               time_bias_=tb - tb[-1])
    return out


def _with_map(ratings: Ratings, side: str, new_map) -> Ratings:
    maps = {"user_map": ratings.user_map, "item_map": ratings.item_map}
    maps[f"{side}_map"] = new_map
    return Ratings(ratings.users, ratings.items, ratings.values, ratings.timestamps, **maps)


class _State:
    """The sampler's parameters, per-entity sums, residuals and hyperparameters."""

    @classmethod
    def start(cls, d, K, init_std, rng, y):
        s = cls()
        J, E, G = d.n_features, d.n_entities, len(d.group_names)
        s.VT = rng.standard_normal((K, J)) * init_std
        for b, factored in enumerate(d.factored):
            if not factored:
                s.VT[:, d.bfeat[b]:d.bfeat[b + 1]] = 0.0
        s.w, s.w0 = np.zeros(J), 0.0
        s.q, s.s2, s.lin = np.zeros((K, E)), np.zeros((K, E)), np.zeros(E)
        s.mu_w, s.lam_w = np.zeros(G), np.ones(G)
        s.mu_v, s.lam_v = np.zeros((G, K)), np.ones((G, K))
        s.alpha = 1.0
        s.e = np.empty(len(y))  # the residuals, in the user block's order between sweeps
        s.spare = np.empty(len(y))
        s.count = 0
        s.refresh(d, y)
        return s

    def refresh(self, d, y):
        """Every entity's sums and every residual from the parameters, entity-major (a
        row's entities then lie in a few cache lines); the passes take them K x E."""
        K, E = self.q.shape
        qE, s2E = np.empty((E, K)), np.empty((E, K))
        kern.entity_sums(d.ef_ptr, d.ef_idx, d.ef_val, np.ascontiguousarray(self.VT.T),
                         self.w, qE, s2E, self.lin)
        kern.residuals(y, d.ent, qE, s2E, self.lin, self.w0, self.spare)
        self.e[:] = self.spare[d.erow_idx[:len(y)]]
        self.q[:], self.s2[:] = qE.T, s2E.T

    def sweep(self, d, y, rng, biases):
        self._hyper(d, rng, biases)
        K, B = self.q.shape[0], d.ent.shape[0]
        args = (d.eo, d.erow_ptr, d.fe_ptr, d.fe_ent, d.fe_val, d.bent, d.bfeat, d.grp)
        if biases:
            prec = self.alpha * len(y) + 1.0
            new = (self.alpha * (self.e.sum() + self.w0 * len(y))) / prec \
                + rng.standard_normal() / np.sqrt(prec)
            self.e -= new - self.w0
            self.w0 = new
            z_w = rng.standard_normal(d.n_features)
        z = rng.standard_normal((K, d.n_features))
        for b in range(B):  # self.e holds the residuals in block b's order
            if biases:
                kern.linear_pass(b, *args, self.mu_w, self.lam_w, self.alpha,
                                 z_w[d.bfeat[b]:], self.w, self.lin, self.e)
            prev = (np.zeros(0), np.zeros(0))
            if not d.factored[b]:  # nothing drawn: the hand-over only reorders
                ents = slice(d.bent[b], d.bent[b + 1])
                prev = (self.q[K - 1, ents].copy(), self.s2[K - 1, ents].copy())
            for f in range(K if d.factored[b] else 0):
                prev = kern.factor_pass(f, b, *args, self.mu_v, self.lam_v, self.alpha,
                                        z[f, d.bfeat[b]:], self.VT, self.q, self.s2, *prev,
                                        self.e)
            kern.hand_over(K - 1, b, (b + 1) % B, d.eo, d.bent, d.perm[b], self.q, self.s2,
                           *prev, self.e, self.spare)
            self.e, self.spare = self.spare, self.e
        self.count += 1
        if self.count % _REFRESH_EVERY == 0:  # rounding in the running updates, undone
            self.refresh(d, y)

    def _hyper(self, d, rng, biases):
        self.alpha = rng.gamma(0.5 * (_A0 + len(self.e)),
                               2.0 / (_B0 + float(self.e @ self.e)))
        for g in range(len(d.group_names)):
            cols = d.group_slice(d.group_names[g])
            if biases:
                self.mu_w[g], self.lam_w[g] = _draw_prior(self.w[cols], self.mu_w[g], rng)
            self.mu_v[g], self.lam_v[g] = _draw_prior(self.VT[:, cols], self.mu_v[g], rng)


def _draw_prior(x, mu, rng):
    """(mean, precision) of one group's values from their normal-gamma posterior; x of
    shape (..., p) with mu of shape (...): one draw for each of the leading rows."""
    p = x.shape[-1]
    lam = rng.gamma(0.5 * (_A0 + p + 1), 2.0 / (_B0 + ((x - np.expand_dims(mu, -1)) ** 2)
                                                .sum(axis=-1) + _GAMMA0 * mu * mu))
    mean = rng.normal(x.sum(axis=-1) / (p + _GAMMA0), 1.0 / np.sqrt((p + _GAMMA0) * lam))
    return mean, lam

"""Evaluation protocols: one train/test evaluation, cross-validation, and a comparison of
several models on shared folds."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.ratings import Ratings
from ..data.split import Split, k_fold
from ..errors import DataError, ParameterError
from ..models.base import UnknownIdWarning
from . import metrics as M

RATING_METRICS = ("rmse", "mae")
RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc", "coverage",
                   "novelty", "popularity", "diversity")
#: What the ranking metrics count as relevant, by name (or give a number: a threshold).
RELEVANCE = ("liked", "any")
#: "liked": a held-out rating at least this far up the scale.
LIKED_AT = 0.7
_AT_K = {"precision": M.precision_at_k, "recall": M.recall_at_k, "ndcg": M.ndcg_at_k,
         "map": M.map_at_k, "mrr": M.mrr, "hit_rate": M.hit_rate_at_k}
_CHUNK = 1024


def evaluate(model, train: Ratings, test: Ratings, metrics=("rmse", "mae"), *, k: int = 10,
             relevance_threshold="liked", fitted: bool = False) -> dict:
    """Fit a copy of ``model`` on ``train`` and measure it on ``test``.

    Rating metrics compare predictions with the test ratings. Ranking metrics rank, for
    every test user, all items the user did not rate in train (by the model's default
    ``recommend``). What is relevant, ``relevance_threshold``: ``"liked"`` (default) a
    test rating at least lo + 0.7 (hi - lo), with (lo, hi) the model's ``rating_range_``
    (or the test ratings' range when the model was trained on one value, as implicit
    models are), which on 0/1 or one-valued data is every test item; ``"any"`` (or None)
    every test item; a number, a test rating at least that. "novelty", "popularity" and
    "diversity" describe the lists against the training data (metrics.novelty,
    average_popularity, intra_list_diversity over the items' training users). Returns
    ``{"rmse": ..., "ndcg@10": ..., "fit_seconds": ..., "predict_seconds": ...}``.
    ``fitted=True`` measures ``model`` as it is (it must have been fitted on ``train``).

    The rating metrics of a model whose predictions are not ratings (``predicts_ratings``
    False: the implicit models, Popularity, RandomRecommender) are NaN, as in
    :func:`compare`. Test users and items are matched to the model's by raw id, so
    ``test`` may have IdMaps of its own (a test file read apart from the training file, as
    ML-100K's u1.test): a test user the model never saw counts with an empty list (AUC
    leaves them out), a relevant item it never saw counts but cannot be found.
    """
    relevance_cutoff(relevance_threshold, None, test)  # checked before any fitting
    metrics = _check_metrics(metrics)
    _check_k(k)
    if fitted and any(m in _READ_TRAIN for m in metrics):
        _check_fitted_on(model, train)
    start = time.perf_counter()
    if not fitted:  # a split's train knows its test's ids: they are no part of the model
        train = train.compacted()
        model = model.clone().fit(train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    out = {}
    rating = [m for m in metrics if m in RATING_METRICS]
    if not model.predicts_ratings:  # scores that are not ratings: no rating error (NaN)
        out.update(dict.fromkeys(rating, float("nan")))
    elif rating:
        pred = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items),
                             timestamps=test.timestamps)
        for m in rating:
            out[m] = M.rmse(test.values, pred) if m == "rmse" else M.mae(test.values, pred)
    ranking = [m for m in metrics if m in RANKING_METRICS]
    if ranking:
        out.update(_ranking(model, train, test, ranking, k, relevance_threshold))
    out["fit_seconds"] = fit_seconds
    out["predict_seconds"] = time.perf_counter() - start
    return out


#: The metrics that read the training ratings by the model's indices.
_READ_TRAIN = ("auc", "novelty", "popularity", "diversity")


def _check_fitted_on(model, train: Ratings) -> None:
    """``fitted=True`` with a metric of ``_READ_TRAIN``: the model's users and items are
    ``train``'s (a factorization machine's attributes may add some: then those metrics
    cannot be read, the others can)."""
    model._require_fitted()
    for side in ("user", "item"):
        if getattr(model, f"{side}_map_") != getattr(train, f"{side}_map"):
            raise DataError(f"fitted=True: the model's {side}s are not train's, so auc, "
                            "novelty, popularity and diversity cannot be read against it; "
                            "pass the ratings it was fitted on, or fitted=False to fit a "
                            "copy on train")


def relevance_cutoff(relevance, model, test: Ratings) -> float | None:
    """The lowest relevant test rating for ``relevance`` ("liked", "any", None or a
    number; see :func:`evaluate`), or None: every test item. ``model=None`` only checks."""
    if relevance is None or (isinstance(relevance, str) and relevance == "any"):
        return None
    if isinstance(relevance, str) and relevance == "liked":
        if model is None:
            return None
        lo, hi = model.rating_range_
        if lo == hi and test.n_ratings:  # trained on one value: the scale is the test's
            lo, hi = float(test.values.min()), float(test.values.max())
        return lo + LIKED_AT * (hi - lo)
    if (isinstance(relevance, bool) or not isinstance(relevance, (int, float, np.number))
            or not np.isfinite(relevance)):
        raise ParameterError(f"relevance_threshold must be 'liked', 'any', None or a finite "
                             f"number, got {relevance!r}")
    return float(relevance)


def _ranking(model, train, test, names, k, relevance) -> dict:
    threshold = relevance_cutoff(relevance, model, test)
    keep = np.ones(test.n_ratings, bool) if threshold is None else test.values >= threshold
    if test.n_ratings and not keep.any():  # a threshold above the scale, say
        warnings.warn(f"no test rating is at or above the relevance threshold {threshold:g} "
                      f"(they lie in {float(test.values.min()):g} .. "
                      f"{float(test.values.max()):g}): nothing is relevant, so the ranking "
                      "metrics are NaN", UserWarning, stacklevel=3)
    relevant, u_idx = _relevant(model, test.subset(keep))
    recommended = np.full((u_idx.size, k), -1, dtype=np.int64)
    known = np.flatnonzero(u_idx >= 0)  # a user the model never saw gets an empty list
    if known.size < u_idx.size:
        warnings.warn(f"{u_idx.size - known.size:,} of the {u_idx.size:,} test users with a "
                      "relevant rating are not in the model: they count with empty lists "
                      "(users without a training rating, or ids of another type or "
                      "spelling than the training ids?)",
                      UnknownIdWarning, stacklevel=3)
    lists = model.recommend(model.user_map_.to_ids(u_idx[known]), n=k) if known.size else []
    for row, (ids, _) in zip(known, lists):
        recommended[row, : len(ids)] = model.item_map_.to_indices(ids)
    out = {}
    for name in names:
        if name in _AT_K:
            out[f"{name}@{k}"] = _AT_K[name](recommended, relevant, k=k)
        elif name == "coverage":
            out[f"coverage@{k}"] = M.catalog_coverage(recommended, len(model.item_map_), k=k)
        elif name == "auc":
            out["auc"] = _auc(model, train, u_idx[known], relevant[known])
        else:
            out[f"{name}@{k}"] = _beyond_accuracy(name, recommended, train, k)
    return out


def _relevant(model, liked: Ratings) -> tuple[sp.csr_matrix, np.ndarray]:
    """(each user's relevant items as a users x items pattern, the users' indices in the
    model, -1 where it never saw the user), for the users with a relevant item. Columns
    are the model's items, matched by raw id: the test set may have maps of its own (a
    u1.test read beside u1.base). Items the model does not know come after its catalogue,
    so they count as relevant but can never be recommended."""
    users, rows = np.unique(liked.users, return_inverse=True)
    n_items = len(model.item_map_)
    items = model.item_map_.to_indices(liked.item_map.to_ids(liked.items),
                                       unknown="missing").astype(np.int64)
    unknown = items < 0
    strangers, extra = np.unique(liked.items[unknown], return_inverse=True)
    items[unknown] = n_items + extra
    pattern = sp.csr_matrix((np.ones(items.size, np.int8), (rows, items)),
                            shape=(users.size, n_items + strangers.size))
    pattern.sum_duplicates()
    u_idx = model.user_map_.to_indices(liked.user_map.to_ids(users), unknown="missing")
    return pattern, u_idx


def _beyond_accuracy(name, recommended, train, k) -> float:
    seen = train.seen()
    if name == "diversity":
        return M.intra_list_diversity(recommended, seen.T.tocsr(), k=k)
    counts = seen.getnnz(axis=0)
    if name == "novelty":
        return M.novelty(recommended, counts, train.n_users, k=k)
    return M.average_popularity(recommended, counts, k=k)


def _auc(model, train, u_idx, relevant) -> float:
    """Mean AUC over the users the model knows (``u_idx``: their indices in the model and
    in ``train``, which the model was fitted on), over the model's items."""
    seen = train.to_csr()
    relevant = relevant[:, :len(model.item_map_)]  # an unknown item has no score
    by = model._check_by(None)
    values = [np.empty(0)]
    for start in range(0, u_idx.size, _CHUNK):
        rows = u_idx[start:start + _CHUNK]
        values.append(M.auc(model._score_rows(rows, by), relevant[start:start + _CHUNK],
                            exclude=seen[rows], per_user=True))
    per_user = np.concatenate(values)
    return float(np.nanmean(per_user)) if np.isfinite(per_user).any() else float("nan")


@dataclass
class CVResult:
    """Cross-validation results: one row per fold, with mean and standard deviation."""

    model: str
    folds: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def mean(self) -> pd.Series:
        return self.folds.mean()

    @property
    def std(self) -> pd.Series:
        """Over the folds that measured each metric; NaN where fewer than two did (one
        fold has no spread: 0 would read as a stable figure)."""
        return self.folds.std(ddof=0).where(self.folds.count() > 1)

    def to_dataframe(self) -> pd.DataFrame:
        table = self.folds.copy()
        table.index = [f"fold {i + 1}" for i in range(len(table))]
        table.loc["mean"] = self.mean
        table.loc["std"] = self.std
        return table

    def __str__(self) -> str:
        return f"{self.model}\n{self.to_dataframe().to_string(float_format=lambda v: f'{v:.4f}')}"

    def __repr__(self) -> str:
        return f"<CVResult {self.model}: " + ", ".join(
            f"{c}={v:.4f}" for c, v in self.mean.items()) + ">"


def cross_validate(model, ratings: Ratings, cv=5, metrics=("rmse", "mae"), *,
                   random_state=None, k: int = 10,
                   relevance_threshold="liked", progress=None) -> CVResult:
    """Evaluate a fresh copy of ``model`` on each fold of ``cv``.

    ``cv`` is a number of folds (drawn from ``random_state``), or the folds themselves
    (e.g. ``k_fold(ratings, 5, random_state=0)``, reusable across models, so every model
    in a comparison sees the same folds). ``progress(done, total)`` is called after each
    fold.
    """
    if isinstance(cv, (bool, float, str, bytes, np.floating)):
        raise ParameterError(f"cv must be a number of folds or the folds themselves, got "
                             f"{cv!r}")
    folds = k_fold(ratings, cv, random_state=random_state) if isinstance(cv, int) else cv
    rows = []
    for train, test in folds:
        rows.append(evaluate(model, train, test, metrics, k=k,
                             relevance_threshold=relevance_threshold))
        if progress is not None:
            progress(len(rows), len(folds))
    table = pd.DataFrame(rows)
    _warn_unmeasured_folds(table)
    return CVResult(type(model).__name__, table, model.get_params())


def _warn_unmeasured_folds(table: pd.DataFrame) -> None:
    """Say which metrics some folds could not measure (NaN: no test user with a relevant
    item, say): their mean and std are over fewer folds than the table has."""
    counts = table.count()
    short = [f"{m} on {int(counts[m])} of {len(table)}" for m in table.columns
             if 0 < counts[m] < len(table)]
    if short:
        warnings.warn(f"some folds had nothing to measure a metric on (measured: "
                      f"{', '.join(short)} folds); its mean and std are over those folds",
                      UserWarning, stacklevel=3)


def compare(models: dict, ratings: Ratings, *, cv=5, metrics=("rmse", "mae"), k: int = 10,
            relevance_threshold="liked", random_state=None,
            progress=None) -> pd.DataFrame:
    """Evaluate every model of ``{name: model}`` on the same folds; one row per model.

    ``cv`` is a number of folds (drawn from ``random_state``) or the folds themselves: a
    ``k_fold(...)``, a list of (train, test) pairs, or one split such as ``holdout(...)``.
    Rating metrics are left out (NaN) for models whose ``predicts_ratings`` is False (the
    implicit models, Popularity, RandomRecommender): their predictions are not ratings.
    The table is indexed by the names (index name "model") and has the column ``class``,
    the mean over the folds of each metric (as :func:`evaluate` names them, "ndcg@10"),
    its standard deviation ``<metric>_std`` (left out when there is one fold, which has
    no spread), and the mean ``fit_seconds`` and ``predict_seconds``.
    ``progress(done, total, name)`` is called after each fold of each model.
    """
    if not isinstance(models, dict) or not models:
        raise ParameterError(f"models must be a non-empty {{name: model}} dict, got {models!r}")
    metrics = _check_metrics(metrics)
    _check_k(k)
    if isinstance(cv, Split):
        folds = [cv]
    elif isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        folds = k_fold(ratings, int(cv), random_state=random_state)
    else:
        folds = cv if hasattr(cv, "__len__") else list(cv)
    if isinstance(folds, (str, bytes)) or len(folds) == 0:
        raise ParameterError("cv must be a number of folds or at least one (train, test) "
                             f"split, got {cv!r}")
    rows, n_folds = [], len(folds)
    for n_done, (name, model) in enumerate(models.items()):
        def on_fold(done, total, base=n_done * n_folds, name=name):
            if progress is not None:
                progress(base + done, total * len(models), name)

        # rating error of a model whose predictions are not ratings would mislead: left out
        # (NaN in the table)
        measured = [m for m in metrics if m not in RATING_METRICS or model.predicts_ratings]
        if not measured:  # nothing asked for applies to this model: a row of NaN
            rows.append(_unmeasured_row(name, model, metrics, with_std=n_folds > 1))
            for done in range(1, n_folds + 1):
                on_fold(done, n_folds)
            continue
        result = cross_validate(model, ratings, folds, measured, k=k,
                                relevance_threshold=relevance_threshold, progress=on_fold)
        rows.append(_summary_row(name, result, with_std=n_folds > 1))
    return pd.DataFrame(rows).set_index("model")


def _unmeasured_row(name: str, model, metrics, with_std: bool) -> dict:
    """The row of a model none of ``metrics`` applies to: NaN in the columns a measured
    row has (all rating metrics here, whose names are the metrics')."""
    row = {"model": name, "class": type(model).__name__}
    for m in metrics:
        row[m] = np.nan
        if with_std:
            row[f"{m}_std"] = np.nan
    return {**row, "fit_seconds": np.nan, "predict_seconds": np.nan}


def _summary_row(name: str, result: CVResult, with_std: bool) -> dict:
    mean, std = result.mean, result.std
    row = {"model": name, "class": result.model}
    for col in mean.index:
        row[col] = float(mean[col])
        if with_std and col not in ("fit_seconds", "predict_seconds"):
            row[f"{col}_std"] = float(std[col])
    return row


def _check_metrics(metrics) -> tuple:
    if isinstance(metrics, str):
        metrics = (metrics,)
    known = RATING_METRICS + RANKING_METRICS
    for m in metrics:
        if m not in known:
            raise ParameterError(f"unknown metric {m!r}; choose from {', '.join(known)}")
    if not metrics:
        raise ParameterError("metrics must name at least one metric")
    return tuple(metrics)


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")

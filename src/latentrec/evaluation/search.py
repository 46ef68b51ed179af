"""Hyperparameter search on a validation split carved out of the training data only."""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._random import check_random_state, seed_from
from ..data.ratings import Ratings
from ..data.split import holdout
from ..errors import DataError, ParameterError
from ..models.sgd import WorseThanBaselineWarning
from .protocols import evaluate


@dataclass
class SearchResult:
    """What a search found: the best parameters, that model refitted on all the training
    data, and every trial (one row each, best first)."""

    best_params: dict
    best_model: object
    results: pd.DataFrame
    metric: str
    #: the trials left out: stopped part way because they could not end within
    #: ``time_budget`` (``why`` "time"; ``projected_seconds``: the trial's projected length,
    #: for one with an open epoch count the time it had run), or, after the first trial,
    #: refused for the memory it would need (``why`` "refused: ..."); one row each, with
    #: the parameters
    abandoned: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def best_score(self) -> float:
        return float(self.results[self.metric].iloc[0])

    def __repr__(self) -> str:
        return (f"<SearchResult: best {self.metric}={self.best_score:.4f} with "
                f"{self.best_params} over {len(self.results)} trials>")


def grid_search(model, ratings: Ratings, param_grid: dict, *, metric: str = "rmse",
                validation_fraction: float = 0.1, max_epochs: int = 200,
                time_budget: float | None = None, random_state=None,
                progress=None) -> SearchResult:
    """Try every combination in ``param_grid`` ({name: [values]}); see :func:`random_search`."""
    _check_space("param_grid", param_grid, ranges=False)
    names = list(param_grid)
    combos = [dict(zip(names, values))
              for values in itertools.product(*(param_grid[n] for n in names))]
    return _search([(model, c) for c in combos], ratings, metric, validation_fraction,
                   max_epochs, time_budget, random_state, progress)


def random_search(model, ratings: Ratings, param_distributions: dict, n_iter: int = 20, *,
                  metric: str = "rmse", validation_fraction: float = 0.1,
                  max_epochs: int = 200, time_budget: float | None = None,
                  random_state=None, progress=None) -> SearchResult:
    """Try ``n_iter`` random draws from ``param_distributions``.

    Each value is a list (drawn uniformly), a ``("log", low, high)`` or ``("uniform", low,
    high)`` range, or ``("int", low, high)``. Every trial trains on the same training part
    and is scored on the same validation part, both carved out of ``ratings``; a model
    with ``n_epochs`` stops early on that part, and its best epoch count becomes a
    parameter. The best parameters are then refitted on all of ``ratings``.
    ``time_budget`` (seconds) bounds the trials (see :func:`tune`); the refit comes after.
    """
    rng = check_random_state(random_state)
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ParameterError(f"n_iter must be a positive integer, got {n_iter!r}")
    _check_space("param_distributions", param_distributions, ranges=True)
    combos = [{k: _draw(spec, rng) for k, spec in param_distributions.items()}
              for _ in range(n_iter)]
    return _search([(model, c) for c in combos], ratings, metric, validation_fraction,
                   max_epochs, time_budget, rng, progress)


#: The space ``tune`` draws SGD trials from (regularization on standardised ratings).
SGD_SPACE = {"n_factors": [50, 100, 200], "learning_rate": ("log", 0.01, 0.1),
             "regularization": ("log", 0.02, 0.3), "bias_regularization": ("log", 0.002, 0.1)}


def tune(ratings: Ratings, n_trials: int = 12, *, time_budget: float | None = None,
         metric: str = "rmse", validation_fraction: float = 0.1, random_state=None,
         progress=None) -> SearchResult:
    """Find a good model for ``ratings`` without looking at any test data.

    On a validation split of ``ratings`` it tries, in this order: SGD with its default
    settings, Bayesian matrix factorization (K=10), the Bayesian factorization machine
    (its defaults, K=10), Bayesian matrix factorization (K=20) (the Bayesian models have
    no learning rate or regularization to tune), then ``n_trials - 4`` SGD models drawn
    from ``SGD_SPACE``; every SGD trial stops early. The best is refitted on all of
    ``ratings``.

    ``time_budget`` (seconds) bounds the trials: none starts once it is spent, and a
    trial whose projected end (from its epochs so far) lies past it is abandoned
    (``SearchResult.abandoned``); the first trial always runs to its end. The refit of
    the best, which takes about as long as its trial, comes after the budget.
    """
    from ..models import (
        BayesianFactorizationMachine,
        BayesianMatrixFactorization,
        SGDMatrixFactorization,
    )

    if not isinstance(n_trials, (int, np.integer)) or n_trials < 4:
        raise ParameterError(f"n_trials must be an integer >= 4, got {n_trials!r}")
    rng = check_random_state(random_state)
    seed = seed_from(rng, 2**31)
    bayes = BayesianMatrixFactorization(random_state=seed)
    sgd = SGDMatrixFactorization(random_state=seed)
    candidates = [(sgd, {k: sgd.get_params()[k] for k in SGD_SPACE}),
                  (bayes, {"n_factors": 10}),
                  (BayesianFactorizationMachine(random_state=seed), {"n_factors": 10}),
                  (bayes, {"n_factors": 20})]
    candidates += [(sgd, {k: _draw(v, rng) for k, v in SGD_SPACE.items()})
                   for _ in range(n_trials - 4)]
    return _search(candidates, ratings, metric, validation_fraction, 200, time_budget, rng,
                   progress)


_RANGES = ("log", "uniform", "int")


def _check_space(arg: str, space, *, ranges: bool) -> None:
    """ParameterError unless ``space`` maps names to non-empty lists or tuples of values,
    or (``ranges``) to a well-formed (kind, low, high) range."""
    if not isinstance(space, dict):  # empty: one trial of the model as it is
        raise ParameterError(f"{arg} must be a {{name: values}} dict, got {space!r}")
    for name, spec in space.items():
        if ranges and isinstance(spec, tuple) and spec and spec[0] in _RANGES:
            _check_range(name, spec)
        elif not isinstance(spec, (list, tuple)) or not spec:
            also = " or a ('log'|'uniform'|'int', low, high) range" if ranges else ""
            raise ParameterError(f"{name}: give a non-empty list of values{also}, got "
                                 f"{spec!r}")


def _check_range(name: str, spec: tuple) -> None:
    ok = len(spec) == 3 and all(_is_real(x) and np.isfinite(x) for x in spec[1:])
    if ok:
        kind, low, high = spec
        ok = (low <= high if kind == "int" else low < high) and (kind != "log" or low > 0) \
            and (kind != "int" or (float(low).is_integer() and float(high).is_integer()))
    if not ok:
        raise ParameterError(f"{name}: a range is (kind, low, high) with finite numbers, low "
                             "below high (at most, for 'int', whole numbers), and low above 0 "
                             f"for 'log'; got {spec!r}")


def _draw(spec, rng):
    """One value of a checked spec (see _check_space)."""
    if isinstance(spec, tuple) and spec[0] in _RANGES:
        kind, low, high = spec
        if kind == "log":
            return float(np.exp(rng.uniform(np.log(low), np.log(high))))
        if kind == "uniform":
            return float(rng.uniform(low, high))
        return int(rng.integers(int(low), int(high) + 1))
    return spec[int(rng.integers(len(spec)))]


def _is_real(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _search(candidates, ratings, metric, validation_fraction, max_epochs, time_budget,
            random_state, progress) -> SearchResult:
    """Score each (model, params) candidate on one validation split; refit the best."""
    if metric not in ("rmse", "mae"):
        raise ParameterError(f"metric must be 'rmse' or 'mae', got {metric!r}")
    if time_budget is not None and (not _is_real(time_budget) or not time_budget > 0):
        raise ParameterError(f"time_budget must be a positive number of seconds, "
                             f"got {time_budget!r}")
    if not isinstance(max_epochs, (int, np.integer)) or isinstance(max_epochs, bool) \
            or max_epochs < 1:
        raise ParameterError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    for model, _ in candidates:
        if isinstance(model, type) or not hasattr(model, "clone"):
            raise ParameterError(f"model must be a model object, such as "
                                 f"SGDMatrixFactorization(), got {model!r}")
    for model, combo in candidates:
        # unknown names and bad values fail before any training: a trial's fit that is
        # refused later can then only be refused for the memory it would need
        model.clone().set_params(**combo)._check_params()
    train, val = _scored_split(ratings, validation_fraction, random_state)
    deadline = None if time_budget is None else time.perf_counter() + time_budget
    rows, models, abandoned = [], [], []
    for model, combo in candidates:
        if deadline is not None and rows and time.perf_counter() > deadline:
            break
        try:  # the first trial runs to its end: a search must score one
            rows.append(_trial(model, combo, train, val, metric, max_epochs,
                               deadline if rows else None))
        except _OverBudget as over:
            abandoned.append(dict({"model": type(model).__name__}, **combo,
                                  projected_seconds=over.projected_seconds, why="time"))
            continue
        except (ParameterError, MemoryError) as exc:  # a later trial that would not fit in
            if not rows:                              # memory is left out, not the search
                raise
            abandoned.append(dict({"model": type(model).__name__}, **combo,
                                  projected_seconds=np.nan, why=f"refused: {exc}"))
            continue
        models.append(model)
        if progress is not None:
            progress(len(rows), len(candidates), rows[-1])
    order = sorted(range(len(rows)), key=lambda t: rows[t][metric])  # stable: earlier wins ties
    _check_scored(rows[order[0]], metric, train, val)
    model = models[order[0]]
    best = {k: v for k, v in rows[order[0]].items() if k in model.get_params()}
    rows = [rows[t] for t in order]
    best_model = model.clone().set_params(**best)
    if "early_stopping" in best_model.get_params():
        best_model.set_params(early_stopping=False)
    return SearchResult(best, best_model.fit(ratings), pd.DataFrame(rows), metric,
                        pd.DataFrame(abandoned))


def _watch(candidate, deadline):
    """The epoch callback that holds ``candidate``'s fit to ``deadline`` (None: none)."""
    if deadline is None:
        return None
    params = candidate.get_params()
    total = None  # open: early stopping, or no epochs at all
    if "n_samples" in params:
        total = params.get("burn_in", 0) + params["n_samples"]
    elif isinstance(params.get("n_epochs"), int) and params.get("early_stopping") is not True:
        total = params["n_epochs"]
    return _Deadline(deadline, total)


class _OverBudget(Exception):
    def __init__(self, projected_seconds: float):
        super().__init__(f"projected to take {projected_seconds:.0f} s")
        self.projected_seconds = projected_seconds


class _Deadline:
    """A trial's epoch callback that stops it (_OverBudget) once its projected end lies
    past ``deadline``: the pace of its last epochs (at most _PACE of them, never the first,
    which may load compiled code) times the epochs left; its last epoch never stops it.
    A trial whose epoch count is open (early stopping) is stopped once the deadline
    itself has passed."""

    def __init__(self, deadline: float, total: int | None = None):
        self.deadline, self.total = deadline, total
        self.started = time.perf_counter()
        self.ends = []  # when each epoch ended

    def __call__(self, row) -> None:
        now = time.perf_counter()
        self.ends.append(now)
        done, end = len(self.ends), now
        if self.total is not None:
            if done >= self.total:
                return
            if done >= 3:
                first = max(0, done - 1 - _PACE)
                pace = (now - self.ends[first]) / (done - 1 - first)
                end += pace * (self.total - done)
        if end > self.deadline:
            raise _OverBudget(end - self.started)


#: How many of a trial's latest epochs set the pace its projected end is taken at (the
#: factorization machine's sampling sweeps cost more than its burn-in ones).
_PACE = 10


def _scored_split(ratings, validation_fraction, random_state):
    """(train, validation) carved out of ``ratings``; DataError when either is empty, as
    then no trial can be scored (its score would be NaN)."""
    train, val = holdout(ratings, validation_fraction, random_state=random_state)
    if train.n_ratings == 0 or val.n_ratings == 0:
        raise DataError(
            f"the data is too small to score a search: holding out validation_fraction="
            f"{validation_fraction:g} of its {ratings.n_ratings} rating(s) leaves "
            f"{train.n_ratings} to train on and {val.n_ratings} to score on")
    return train, val


def _check_scored(best: dict, metric, train, val) -> None:
    """DataError when even the best trial has no finite score; a warning when it scores
    worse than the bias baseline fitted on the same training part."""
    from ..models import BiasBaseline

    got = best[metric]
    if not np.isfinite(got):
        raise DataError(f"the data is too small to score a search: no trial has a finite "
                        f"validation {metric} ({len(val)} validation rating(s))")
    bar = evaluate(BiasBaseline(), train, val, [metric])[metric]
    if got > bar:
        warnings.warn(f"the best model found, {best['model']}, has a validation {metric} of "
                      f"{got:.4f}, worse than {bar:.4f} of the bias baseline (global mean + "
                      "user and item biases) fitted on the same training part",
                      WorseThanBaselineWarning, stacklevel=4)


def _trial(model, combo, train, val, metric, max_epochs, deadline=None) -> dict:
    candidate = model.clone().set_params(**combo)
    params = candidate.get_params()
    if "ranking_factors" in params and "ranking_factors" not in combo:
        # a trial is scored on rating error: the ranking's interaction part would be waste
        candidate.set_params(ranking_factors=0)
    start = time.perf_counter()
    if "n_epochs" in params and "early_stopping" in params and "n_epochs" not in combo:
        candidate.set_params(n_epochs=max_epochs, early_stopping=True)
        with warnings.catch_warnings():
            # a trial worse than the baselines is a normal part of a search; the search
            # warns once if the best one is (_check_scored)
            warnings.simplefilter("ignore", WorseThanBaselineWarning)
            candidate.fit(train, validation=val, callback=_watch(candidate, deadline))
        best = min(candidate.history_, key=lambda h: h["val_rmse"])
        combo = dict(combo, n_epochs=best["epoch"])
    else:
        candidate.fit(train, callback=_watch(candidate, deadline))
    scores = evaluate(candidate, train, val, [metric], fitted=True)
    return dict({"model": type(model).__name__}, **combo, **{metric: scores[metric]},
                seconds=time.perf_counter() - start)


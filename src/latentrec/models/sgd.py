"""SGDMatrixFactorization: biased matrix factorization trained by stochastic gradient descent."""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np

from .._random import check_random_state, seed_from
from ..data.csr import pattern, pattern_pairs
from ..data.ratings import Ratings, as_ratings
from ..data.split import holdout
from ..errors import DataError, ParameterError, TrainingDivergedError
from ..kernels import sgd as kernels
from ..kernels.blocks import GRID_TARGET
from ..kernels.predict import rmse
from ..kernels.scale import scale_rows
from . import memory
from ._params import Interval, IsNone, Options, RandomState
from ._scaled import RatingScaleMixin, scaled_rmse
from .base import ConstantRatingsWarning, Recommender
from .baselines import BiasBaseline
from .engine import Engine, LocalEngine, adaptive_steps
from .ranking import RANKING_CONSTRAINTS, RankedByRelevance
from .threads import resolve_threads

# A train RMSE this many times the rating spread means the updates are blowing up.
_EXPLODED = 1e3
#: From this many ratings n_epochs="auto" goes on from its search instead of retraining.
CONTINUE_FROM = 1_000_000
#: learning_rate="auto" by the schedule of steps: each its best on the 10M-rating set of
#: benchmarks/sgd.py and ML-100K (docs/benchmarks.md)
AUTO_LEARNING_RATE = {"adaptive": 0.05, "constant": 0.01}


class WorseThanBaselineWarning(UserWarning):
    """The fitted model predicts the validation ratings worse than a baseline does."""


class SGDMatrixFactorization(RankedByRelevance, RatingScaleMixin, Recommender):
    """Matrix factorization R ~ mu + b_u + b_i + P Q^T, learned by SGD on the known ratings.

    Ratings are centred on their mean and divided by their standard deviation before
    training (and the model scaled back afterwards), so the defaults behave the same on a
    1-5 scale and a 1-100 one.

    Parameters
    ----------
    n_factors : latent features per user and item (K).
    n_epochs : an int trains exactly that many passes over all the data given; ``"auto"``
        holds out ``validation_fraction`` of it, stops when validation RMSE has not improved
        for ``patience`` epochs (at most ``max_epochs``), then trains on all of it: below
        ``CONTINUE_FROM`` (1M) ratings afresh for the best number of epochs, above it
        onward from the best state for a quarter of that number (``continued_epochs``:
        on 8M ratings 30% less time than retraining, for 0.3% higher error). Patience
        runs out only once the model has beaten the global
        mean and the bias baseline on that part by more than its noise (two standard
        errors): on small data the first epochs often get worse before the factors learn
        anything. A model that ends no better than those baselines on its validation
        ratings says so in a :class:`WorseThanBaselineWarning`.
    learning_rate, learning_rate_decay : step size, multiplied by the decay after each
        epoch. ``learning_rate="auto"`` (default): 0.05 with the adaptive schedule, 0.01
        with the constant one (``AUTO_LEARNING_RATE``).
    learning_rate_schedule : ``"auto"`` (default): ``"adaptive"`` (on every schedule; a
        Dask cluster's stripes carry their rows' accumulators, so a one-process "dsgd" fit
        stays the cluster's, bit for bit).
        ``"adaptive"``: each user's and item's step is the learning rate divided by
        the square root of that row's accumulated squared gradient (1 plus, per rating
        it took part in, the mean square of its factors' gradient), the per-row
        schedule LibMF uses (Chin et al., PAKDD 2015). It reaches a given accuracy in far
        fewer epochs: on the 10M-rating synthetic set of benchmarks/sgd.py, 20 epochs
        score 0.670 where the constant step's 20 score 0.766 (docs/benchmarks.md).
        ``"constant"``: every rating's step is the learning rate. ``partial_fit`` starts
        the accumulators afresh. The fitted ``learning_rate_`` and
        ``learning_rate_schedule_`` say what a fit used.
    regularization : L2 weight on the factors; ``bias_regularization`` on the biases
        (None: the same as ``regularization``).
    biased : include the global mean and user/item biases.
    init_scale : standard deviation of the initial factors (0.05: measured better than 0.1
        on ML-100K and every set of the synthetic variety, with either schedule).
    shuffle : visit ratings in a fresh random block schedule each epoch (False: in the
        order given, serially, as the classic algorithm does).
    schedule : how a shuffled epoch visits the ratings. ``"blocks"`` (default): a grid of
        blocks sized to the data and the thread count, laid out from the ratings in the
        order given.
        ``"dsgd"``: distributed SGD by stratification (Gemulla et al. 2011) on an
        ``n_blocks`` x ``n_blocks`` grid; everything (standardisation, stripes, initial
        factors, the order inside each block, the strata) is computed so that it depends on
        the set of ratings and the seed only, never on the input order, the thread count or
        the machine count: ``fit(..., engine=DaskEngine(client))`` on a Dask cluster gives
        the same model, bit for bit (see docs/distributed.md).
    n_blocks : side g of the "dsgd" grid (default 20, ``kernels.blocks.GRID_TARGET``):
        users and items are each cut into g stripes of about equal rating counts, and an
        epoch is g sub-epochs of g blocks that share no user or item. Up to g threads (or
        cluster workers) work at once. **Ignored by schedule="blocks"**, which sizes its
        own grid from the data and the thread count.
    n_threads : threads for training (None: all cores). Results are bit-for-bit
        repeatable for a seed and thread count (1 and 2 threads give the same model).
    dtype : "float32" (default) or "float64".
    ranking_factors, ranking_weight : how ``recommend`` ranks: see
        :class:`~latentrec.models.ranking.RankedByRelevance`.
    """

    _constraints = {
        "n_factors": [Interval("int", 1, None)],
        "n_epochs": [Interval("int", 0, None), Options(("auto",))],
        "learning_rate": [Interval("real", 0, None, "neither"), Options(("auto",))],
        "learning_rate_decay": [Interval("real", 0, 1, "right")],
        "learning_rate_schedule": [Options(("auto", "constant", "adaptive"))],
        "regularization": [Interval("real", 0, None)],
        "bias_regularization": [Interval("real", 0, None), IsNone()],
        "biased": [Options((True, False))],
        "init_scale": [Interval("real", 0, None, "neither")],
        "shuffle": [Options((True, False))],
        "schedule": [Options(("blocks", "dsgd"))],
        "n_blocks": [Interval("int", 1, None)],
        "early_stopping": [Options((True, False, "auto"))],
        "patience": [Interval("int", 1, None)],
        "validation_fraction": [Interval("real", 0, 1, "neither")],
        "max_epochs": [Interval("int", 1, None)],
        "n_threads": [Interval("int", 1, None), IsNone()],
        "dtype": [Options(("float32", "float64"))],
        "random_state": [RandomState()],
        **RANKING_CONSTRAINTS,
    }

    def __init__(self, n_factors=100, n_epochs="auto", learning_rate="auto",
                 regularization=0.08, bias_regularization=0.02, biased=True, init_scale=0.05,
                 learning_rate_decay=1.0, shuffle=True, early_stopping="auto", patience=5,
                 validation_fraction=0.1, max_epochs=200, n_threads=None, dtype="float32",
                 random_state=None, schedule="blocks", n_blocks=GRID_TARGET,
                 ranking_factors="auto", ranking_weight=2.0, learning_rate_schedule="auto"):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.biased = biased
        self.init_scale = init_scale
        self.learning_rate_decay = learning_rate_decay
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_epochs = max_epochs
        self.n_threads = n_threads
        self.dtype = dtype
        self.random_state = random_state
        self.schedule = schedule
        self.n_blocks = n_blocks
        self.ranking_factors = ranking_factors
        self.ranking_weight = ranking_weight
        self.learning_rate_schedule = learning_rate_schedule

    # -- fitting -------------------------------------------------------------------------
    def fit(self, ratings, validation=None, *, callback=None, engine=None):
        """Learn from ``ratings``; see :meth:`Recommender.fit`.

        ``engine``: None trains in this process. A :class:`latentrec.distributed.DaskEngine`
        trains on a Dask cluster by the "dsgd" schedule, whatever ``schedule`` says, and
        gives the model ``schedule="dsgd"`` gives in one process, bit for bit. ``ratings``
        may then also be a path or glob of Parquet files, or a dask DataFrame, which the
        workers read. ``n_epochs`` must be an integer, there is no validation data, and
        ``n_threads`` does not apply (the workers use their own threads). The fitted
        ``schedule_`` then says "dsgd", and so does each row of ``history_``.
        """
        engine = LocalEngine() if engine is None else engine
        self._check_params(schedule=engine.schedule if isinstance(engine, Engine) else None)
        self._check_engine_use(engine, validation)
        if not engine.reads_input:
            ratings, validation = self._fit_inputs(ratings, validation)
        self._callback = callback
        try:
            self._fit(ratings, validation, engine)
        finally:
            self._callback = None
        return self

    def _check_engine_use(self, engine, validation) -> None:
        if not isinstance(engine, Engine):
            raise ParameterError(f"engine must be None, a latentrec.models.LocalEngine or a "
                                 f"latentrec.distributed.DaskEngine, got {engine!r}")
        if engine.reads_input and (self.n_epochs == "auto" or self.early_stopping is True
                                   or validation is not None):
            raise ParameterError(
                "training with an engine takes no validation data: pass an integer n_epochs "
                f"(got n_epochs={self.n_epochs!r}), no validation= and early_stopping other "
                f"than True (got {self.early_stopping!r})")

    def _check_params(self, schedule=None) -> None:
        """The constraints, and that the schedule (``schedule`` when an engine imposes
        one) can follow ``shuffle``."""
        super()._check_params()
        if not self.shuffle and (schedule or self.schedule) == "dsgd":
            raise ParameterError("schedule='dsgd' (which an engine always follows) visits "
                                 "the ratings in seeded blocks; shuffle=False (the given "
                                 "order, serially) cannot follow it: use shuffle=True")

    @property
    def schedule_(self) -> str:
        """The schedule the fit followed: "dsgd" after a fit with an engine, whatever
        ``schedule`` says (read from ``history_``, so a loaded model knows it too)."""
        self._require_fitted()
        last = self.history_[-1] if self.history_ else {}
        return last.get("schedule", self.schedule)

    def _resolved(self, auto: str) -> tuple[float, str]:
        """(learning rate, schedule of steps) with "auto" resolved: the schedule of steps
        ``auto``, the learning rate that schedule's default."""
        kind = auto if self.learning_rate_schedule == "auto" else self.learning_rate_schedule
        rate = AUTO_LEARNING_RATE[kind] if self.learning_rate == "auto" else self.learning_rate
        return float(rate), kind

    @property
    def learning_rate_(self) -> float:
        """The learning rate the fit used ("auto" resolved)."""
        return self._steps_used()[0]

    @property
    def learning_rate_schedule_(self) -> str:
        """The schedule of steps the fit used: "adaptive" or "constant"."""
        return self._steps_used()[1]

    def _steps_used(self) -> tuple[float, str]:
        """(learning rate, schedule of steps) of the fit: as recorded by it (and saved
        with the model), else, for a file from before they were, as the parameters
        resolved then: "auto" meant constant steps for "dsgd" (a cluster ran no others)."""
        self._require_fitted()
        used = self.__dict__.get("_fit_steps")
        if used is not None:
            return used
        return self._resolved("constant" if self.schedule_ == "dsgd" else "adaptive")

    def _fit(self, ratings, validation, engine=None) -> None:
        engine = LocalEngine() if engine is None else engine
        # "auto" is the adaptive step on an engine that runs it (both of latentrec's do)
        adaptive_engine = getattr(engine, "adaptive", False)
        self._rate, self._step_kind = self._resolved(
            "adaptive" if adaptive_engine else "constant")
        if self._step_kind == "adaptive" and not adaptive_engine:
            raise ParameterError(f"{type(engine).__name__} trains with a constant learning "
                                 "rate only: use learning_rate_schedule='constant' with it")
        rng = check_random_state(self.random_state)
        auto = self.n_epochs == "auto"
        stop_early = auto if self.early_stopping == "auto" else self.early_stopping
        refit = auto and validation is None
        if not engine.reads_input:
            memory.require(self, ratings, memory.sgd_bytes(self, ratings,
                                                           2 if stop_early or refit else 1))
        train, validation = self._scored_parts(ratings, validation, rng, refit, stop_early)
        baselines = None if validation is None else _baselines(train, validation)
        epochs = self.max_epochs if auto else self.n_epochs
        seed = seed_from(rng)
        raw, history, trained = self._train(engine, train, validation, epochs, stop_early,
                                            seed, _bar(baselines))
        if baselines is not None:
            self._warn_if_worse(history, stop_early or refit, baselines)
        if refit:
            raw, history, trained = self._refit(engine, ratings, history,
                                                raw if stop_early else None, seed)
        if engine.schedule is not None:
            history = [{**h, "schedule": engine.schedule} for h in history]
        self._set_fitted(trained.on, history=history, seen=trained.seen,
                         **_unscaled(*raw["factors"], raw["mu"], raw["sigma"], self.biased,
                                     self.n_threads))
        self.rating_std_ = raw["sigma"]
        self._fit_steps = (self._rate, self._step_kind)

    def _scored_parts(self, ratings, validation, rng, refit, stop_early):
        """(what to train on, what to score each epoch on or None): a validation part held
        out when ``refit`` (an empty validation comes as None: fit's _fit_inputs)."""
        if refit:
            return self._holdout(ratings, rng)
        if stop_early and validation is None:
            raise DataError("early stopping needs validation data (ratings to score on): "
                            "pass non-empty validation= to fit, or use n_epochs='auto'")
        return ratings, validation

    def _refit(self, engine, ratings, history, raw, seed):
        """Train on all ``ratings`` after the search (see ``continued_epochs``): afresh
        for the search's best number of epochs, or onward from its best state (``raw``:
        its factors and step sizes; None when the search kept none, without early
        stopping) for a quarter of them."""
        best = min(history, key=lambda h: h["val_rmse"])["epoch"]
        extra = continued_epochs(best, ratings.n_ratings)
        if (engine.schedule or self.schedule) == "dsgd" or extra is None or raw is None:
            raw, refit_history, trained = self._train(engine, ratings, None, best, False, seed)
        else:
            raw, refit_history, trained = self._train(
                engine, ratings, None, best + extra, False, seed, resume=(best + 1, raw))
        for h in refit_history:
            h["stage"] = "refit"
        return raw, history + refit_history, trained

    def _holdout(self, ratings, rng):
        """(train, validation) for n_epochs="auto", both non-empty."""
        train, validation = holdout(ratings, self.validation_fraction, random_state=rng)
        if train.n_ratings == 0 or validation.n_ratings == 0:
            raise DataError(
                f"n_epochs='auto' holds out validation_fraction={self.validation_fraction:g} "
                f"of the ratings to choose the number of epochs, but {ratings.n_ratings} "
                f"rating(s) leave {train.n_ratings} to train on and {validation.n_ratings} "
                "to score on: the data is too small to score; pass an integer n_epochs")
        return train, validation

    def _warn_if_worse(self, history, best_returned, baselines) -> None:
        """Warn when the model returned scores worse on the validation ratings than the
        simplest predictors fitted on the same training ratings."""
        scored = [h["val_rmse"] for h in history if h["val_rmse"] is not None]
        got = min(scored) if best_returned else scored[-1]
        name, bar = min(baselines.rmses.items(), key=lambda kv: kv[1])
        if got > bar > 0:  # an exact baseline: one-valued ratings, which fit has said
            warnings.warn(
                f"{type(self).__name__}: validation RMSE {got:.4f} is worse than "
                f"{bar:.4f} of {name} fitted on the same training ratings; this model "
                "predicts worse than it (try more epochs, a larger learning_rate, or "
                "that baseline)", WorseThanBaselineWarning, stacklevel=4)

    def _train(self, engine, data, validation, n_epochs, stop_early, seed, bar=np.inf,
               resume=None):
        """Run epochs up to ``n_epochs`` on the engine's runner for ``data`` (``resume``:
        (first epoch, a state to start from)); returns the state reached (the best when
        stopping early: ``Runner.state``), the history, and what the runner trained on."""
        with engine.sgd_run(self, data, seed) as runner:
            if resume is not None:
                runner.resume(*resume)
            history, best_state = self._epochs(runner, validation, n_epochs, stop_early,
                                               bar)
            raw = best_state if best_state is not None else runner.state(copy=False)
            trained = _Trained(*runner.trained())
        return raw, history, trained

    def _epochs(self, runner, validation, n_epochs, stop_early, bar=np.inf):
        """The epoch loop: history rows, and the best factors when stopping early.

        Patience runs out only once the best validation RMSE is below ``bar`` (the
        simplest baselines'): until the factors have learnt something, the first epochs
        often get worse (biases fitting noise), and stopping there returns a model no
        better than a constant."""
        reg, reg_b = self.regularization, self._bias_reg()
        history, best, best_state, waited = list(runner.history), np.inf, None, 0
        for epoch in range(runner.first_epoch, n_epochs + 1):
            start = time.perf_counter()
            lr = self._rate * self.learning_rate_decay ** (epoch - 1)
            sse = runner.epoch(epoch, lr, reg, reg_b, self.biased)
            train_rmse = runner.sigma * float(np.sqrt(sse / runner.n_ratings))
            _check_diverged(epoch, train_rmse, runner.sigma, self._rate)
            row = {"epoch": epoch, "train_rmse": train_rmse, "val_rmse": None,
                   "seconds": time.perf_counter() - start}
            if validation is not None:
                row["val_rmse"] = scaled_rmse(validation, *runner.factors(), runner.mu,
                                        runner.sigma, runner.n_threads)
                if row["val_rmse"] < best:
                    best, waited = row["val_rmse"], 0
                    if stop_early:
                        best_state = runner.state()
                else:
                    waited += 1
            history.append(row)
            runner.epoch_done(epoch, history)
            self._report(row)
            if stop_early and waited >= self.patience and best < bar:
                break
        return history, best_state

    def _fold_in_regularization(self, n_ratings):
        # Training minimises e'^2 + reg |p'|^2 per rating on standardised ratings (r = mu +
        # sigma r', p = sqrt(sigma) p'); in rating units: e^2 + reg sigma |p|^2 + reg_b b^2.
        return self.regularization * self.rating_std_ * n_ratings, self._bias_reg() * n_ratings

    def _bias_reg(self) -> float:
        return (self.regularization if self.bias_regularization is None
                else self.bias_regularization)

    def _extra_arrays(self) -> dict:
        rate, kind = self._steps_used()
        return {**super()._extra_arrays(), "learning_rate_used": np.array([rate]),
                "adaptive_steps_used": np.array([kind == "adaptive"])}

    def _load_extra_arrays(self, arrays: dict) -> None:
        super()._load_extra_arrays(arrays)
        rate, adaptive = arrays.get("learning_rate_used"), arrays.get("adaptive_steps_used")
        self._fit_steps = None  # a file from before: resolved from the parameters
        if rate is not None and adaptive is not None:
            if rate.shape != (1,) or adaptive.shape != (1,) or not np.isfinite(rate[0]) \
                    or rate[0] <= 0:
                raise ValueError("the learning rate the model was fitted with is not one "
                                 "positive number")
            self._fit_steps = (float(rate[0]), "adaptive" if adaptive[0] else "constant")



    # -- updating ------------------------------------------------------------------------
    def partial_fit(self, ratings: Ratings, n_epochs: int = 5):
        """Run ``n_epochs`` SGD epochs on new ratings only, keeping everything learnt so far.

        Users and items not seen before are added to the model (their factors start small
        and random, their biases at zero); known ones continue from where they are.
        """
        self._require_fitted()
        ratings = as_ratings(ratings, "ratings")
        if ratings.n_ratings == 0:
            raise DataError("partial_fit needs new ratings to learn from; got an empty table")
        if not isinstance(n_epochs, (int, np.integer)) or n_epochs < 1:
            raise ParameterError(f"n_epochs must be a positive integer, got {n_epochs!r}")
        df = ratings.to_dataframe()
        user_map = self.user_map_.extend(df["user"].to_numpy())
        item_map = self.item_map_.extend(df["item"].to_numpy())
        new = Ratings.from_arrays(df["user"].to_numpy(), df["item"].to_numpy(),
                                  df["rating"].to_numpy(), user_map=user_map,
                                  item_map=item_map)
        rng = check_random_state(self.random_state)
        mu, sigma = self.global_mean_, self.rating_std_
        root = float(np.sqrt(sigma))
        P = _grown(self.user_factors_ / root, len(user_map), self.init_scale, rng)
        Q = _grown(self.item_factors_ / root, len(item_map), self.init_scale, rng)
        bu = _grown(self.user_bias_ / sigma, len(user_map), 0.0, rng)
        bi = _grown(self.item_bias_ / sigma, len(item_map), 0.0, rng)
        values = ((new.values - mu) / sigma).astype(P.dtype)
        order = np.arange(new.n_ratings, dtype=np.int64)
        # the adaptive steps start afresh: a fitted model keeps no accumulators
        self._rate, self._step_kind = self._steps_used()
        steps = adaptive_steps(self, len(user_map), len(item_map), P.dtype)
        for epoch in range(int(n_epochs)):
            rng.shuffle(order)
            lr = self._rate * self.learning_rate_decay ** epoch
            sse = kernels.sgd_epoch(new.users, new.items, values, order, P, Q, bu, bi, 0.0,
                                    lr, self.regularization, self._bias_reg(), self.biased,
                                    **steps)
            _check_diverged(epoch + 1, sigma * float(np.sqrt(sse / new.n_ratings)), sigma,
                            self._rate)
        state = _unscaled(P, Q, bu, bi, mu, sigma, self.biased, self.n_threads)
        self.user_factors_, self.item_factors_ = state["user_factors"], state["item_factors"]
        if self.biased:
            self.user_bias_, self.item_bias_ = state["user_bias"], state["item_bias"]
        else:
            self.user_bias_ = np.zeros(len(user_map), P.dtype)
            self.item_bias_ = np.zeros(len(item_map), P.dtype)
        self.user_map_, self.item_map_ = user_map, item_map
        # the scale it predicts on (clipping, fold-in's check) takes in the new ratings
        lo, hi = self.rating_range_
        self.rating_range_ = (min(lo, float(new.values.min())), max(hi, float(new.values.max())))
        self.seen_ = _merged_seen(self.seen_, new)
        self._new_factors()
        self._fit_interactions()
        return self


def continued_epochs(best: int, n_ratings: int) -> int | None:
    """How n_epochs="auto" trains on all ``n_ratings`` after a search whose best epoch
    was ``best``: None, retrain from scratch for ``best`` epochs (below
    ``CONTINUE_FROM`` ratings, where that costs seconds); else the number of epochs to go
    on from the search's best state, a quarter of ``best``. Measured (docs/benchmarks.md):
    on 8M ratings going on took 17 s where retraining took 24 s, at a held-out RMSE of
    0.6697 instead of 0.6675; on ML-100K it cost 0.1-0.2%, hence the threshold."""
    if n_ratings < CONTINUE_FROM:
        return None
    return -(-best // 4)


class _Trained(NamedTuple):
    on: object  # what _set_fitted reads: user_map, item_map, values
    seen: object  # the seen-items CSR when the engine built it, else None


def _grown(a: np.ndarray, n: int, scale: float, rng) -> np.ndarray:
    """``a`` with rows appended up to ``n`` (random normal * scale, or zeros)."""
    extra = n - a.shape[0]
    shape = (extra,) + a.shape[1:]
    add = rng.standard_normal(shape) * scale if scale else np.zeros(shape)
    return np.ascontiguousarray(np.concatenate([a, add.astype(a.dtype)]))


def _merged_seen(seen, new: Ratings):
    """The seen-items matrix grown to the new maps, with the new pairs added."""
    rows, cols = pattern_pairs(seen)
    return pattern(np.concatenate([rows, new.users]), np.concatenate([cols, new.items]),
                   new.n_users, new.n_items)


def _unscaled(P, Q, bu, bi, mu, sigma, biased, n_threads=None) -> dict:
    """Undo the standardisation, in place: sigma * (b + p.q) = (sigma b) +
    (sqrt(sigma) p).(sqrt(sigma) q)."""
    for factors in (P, Q):
        scale_rows(factors, np.sqrt(sigma), resolve_threads(n_threads, factors.size))
    bu *= sigma
    bi *= sigma
    return {"user_factors": P, "item_factors": Q, "user_bias": bu if biased else None,
            "item_bias": bi if biased else None, "global_mean": mu}


class _Baselines(NamedTuple):
    rmses: dict  # name -> validation RMSE of the simplest predictors
    bar: float  # the validation RMSE that is better than theirs beyond the split's noise


def _baselines(train: Ratings, validation: Ratings) -> _Baselines:
    """How the global mean and BiasBaseline (mean + user and item biases), both fitted on
    ``train``, score on ``validation``; and the bar early stopping must see beaten: the
    better one's mean squared error less two of its standard errors."""
    with warnings.catch_warnings():  # the model's own fit has said so already
        warnings.simplefilter("ignore", ConstantRatingsWarning)
        bias = BiasBaseline().fit(train)
    u, i = validation.users, validation.items
    y = validation.values.astype(np.float64)
    preds = {"the global mean": np.full(y.size, bias.global_mean_),
             "the bias baseline (global mean + user and item biases)":
                 bias.global_mean_ + bias.user_bias_[u] + bias.item_bias_[i]}
    rmses = {name: rmse(y, p) for name, p in preds.items()}
    squared = (y - preds[min(rmses, key=rmses.get)]) ** 2
    noise = 2.0 * float(squared.std()) / np.sqrt(y.size)
    return _Baselines(rmses, float(np.sqrt(max(float(squared.mean()) - noise, 0.0))))


def _bar(baselines) -> float:
    """The validation RMSE the model must beat before early stopping may end the search."""
    return np.inf if baselines is None else baselines.bar


def _check_diverged(epoch: int, train_rmse: float, sigma: float, lr: float) -> None:
    if not np.isfinite(train_rmse) or train_rmse > _EXPLODED * sigma:
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch} (train RMSE {train_rmse:.3g}); the learning "
            f"rate {lr:g} is too large for this data: try {lr / 10:g}")

"""Training engines: the contract a model's fit hands its epochs to, and the local one.

``SGDMatrixFactorization.fit`` always trains through an engine. The engine builds a
:class:`Runner` for the data, which holds the factors and runs one epoch at a time; the
model owns everything else (the schedule of learning rates, validation, early stopping,
the fitted arrays). :class:`LocalEngine`, the default, runs in this process;
``latentrec.distributed.DaskEngine`` implements the same contract on a Dask cluster and
gives, for ``schedule="dsgd"``, the same model bit for bit.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

import numpy as np

from .._random import seed_from
from ..kernels import sgd as kernels
from ..kernels.normal import standard_normal_f32
from ..kernels.threads import num_threads
from ._scaled import standardisation, standardised
from .plan import Plan, Stats, initial_steps
from .threads import resolve_threads


@runtime_checkable
class Engine(Protocol):
    """What ``fit(..., engine=...)`` needs of an engine.

    ``schedule``: the schedule every fit on this engine follows whatever the model says
    (None: the model's own). ``reads_input``: the engine reads the data itself (paths,
    dask DataFrames), so the model neither checks it nor holds out validation data.
    Optional ``adaptive`` (default False): the runner takes the adaptive step's
    accumulators (``adaptive_steps``); without it ``learning_rate_schedule="auto"`` means
    the constant step and "adaptive" is refused.
    ``sgd_run(model, data, seed)``: a context manager giving the fit's :class:`Runner`,
    released on exit.
    """

    schedule: str | None
    reads_input: bool

    def sgd_run(self, model, data, seed: int) -> AbstractContextManager[Runner]: ...


class Runner:
    """Runs the epochs of one fit and holds its factors, on standardised ratings.

    ``epoch(epoch, lr, reg, reg_b, biased)`` returns the epoch's sum of squared errors;
    ``factors()`` gives (P, Q, bu, bi) (the live arrays, in this process);
    ``epoch_done(epoch, history)`` follows each epoch (a cluster run checkpoints there);
    ``trained()`` says what the fit was trained on.
    A run resumed from a checkpoint starts at ``first_epoch`` with its ``history``.
    """

    first_epoch, history = 1, ()
    mu: float
    sigma: float
    n_ratings: int
    n_threads: int

    def epoch_done(self, epoch: int, history: list) -> None:
        pass

    def trained(self) -> tuple:
        """(what ``Recommender._set_fitted`` reads of the data: the id maps and the
        values' range; the seen-items CSR where the engine built it, else None)."""
        return self.trained_on, None

    def state(self, copy: bool = True) -> dict:
        """What the run has reached, on its standardised scale: "factors" (P, Q, bu, bi),
        "steps" (the adaptive step's accumulators, if any), "mu" and "sigma"; copies, or
        the live arrays."""
        keep = (lambda a: a.copy()) if copy else (lambda a: a)
        return {"factors": tuple(keep(a) for a in self.factors()),
                "steps": {k: keep(v) for k, v in getattr(self, "steps", {}).items()},
                "mu": self.mu, "sigma": self.sigma}


class _InTurn:
    """The executor of a one-thread fit: each task runs when submitted, in the caller, and
    its error is raised there and then."""

    def submit(self, fn, *args, **kwargs) -> Future:
        done = Future()
        done.set_result(fn(*args, **kwargs))
        return done

    def shutdown(self, wait=True, cancel_futures=False) -> None:
        pass


class EpochRunner(Runner):
    """One epoch of SGD, by the "blocks" schedule.

    With ``shuffle`` (the default) ratings are cut into a grid of blocks once, and each
    epoch visits the blocks in a fresh random schedule in which concurrent blocks share no
    user or item, so any number of threads gives the same result for a seed (and the
    factors a block touches stay in cache). Without it, the serial kernel visits the
    ratings in their given order.
    """

    def __init__(self, model, ratings, seed):
        rng = np.random.default_rng(seed)
        self.trained_on = ratings
        dtype = np.dtype(model.dtype)
        self.n_ratings = ratings.n_ratings
        self.n_threads = resolve_threads(model.n_threads, ratings.n_ratings)
        self.shuffle, self.rng = model.shuffle, rng
        # the grouping on a second thread while the factors are drawn (it needs no seed;
        # the layout's seed comes after the factors from the one generator, so the model
        # is what doing it all in turn gives, bit for bit)
        helper = (ThreadPoolExecutor(1, thread_name_prefix="latentrec-prepare")
                  if self.n_threads >= 2 else _InTurn())
        try:
            pending = helper.submit(self._prepare, model, ratings, dtype)
            self.P = _initial_factors(rng, ratings.n_users, model.n_factors,
                                      model.init_scale, dtype)
            self.Q = _initial_factors(rng, ratings.n_items, model.n_factors,
                                      model.init_scale, dtype)
            self.bu = np.zeros(ratings.n_users, dtype)
            self.bi = np.zeros(ratings.n_items, dtype)
            self.steps = adaptive_steps(model, ratings.n_users, ratings.n_items, dtype)
            self.mu, self.sigma, ready = pending.result()
        except BaseException:
            # a failed fit leaves no thread behind it, nor a task writing to its arrays
            helper.shutdown(wait=True, cancel_futures=True)
            raise
        helper.shutdown(wait=False)  # its thread is done
        if self.shuffle:
            self.layout = kernels.order_blocks(ready, seed_from(rng))
        else:
            self.users, self.items, self.values = ratings.users, ratings.items, ready
            self.order = np.arange(ratings.n_ratings, dtype=np.int64)

    def _prepare(self, model, ratings, dtype) -> tuple:
        """(mu, sigma, the standardised ratings grouped into blocks by
        kernels.sgd.group_blocks, or without ``shuffle`` their values)."""
        with num_threads(self.n_threads):  # numba's setting is per thread
            mu, sigma = standardisation(ratings.values, model.biased)
            if not self.shuffle:
                return mu, sigma, standardised(ratings.values, mu, sigma, dtype)
            return mu, sigma, kernels.group_blocks(
                ratings.users, ratings.items, ratings.values, ratings.n_users,
                ratings.n_items, self.n_threads, n_factors=model.n_factors,
                standardise=(mu, sigma, dtype))

    def epoch(self, epoch, lr, reg, reg_b, biased) -> float:
        if self.shuffle:
            return kernels.sgd_epoch_blocks(self.layout, self.P, self.Q, self.bu, self.bi,
                                            0.0, lr, reg, reg_b, biased,
                                            seed_from(self.rng), self.n_threads, **self.steps)
        return kernels.sgd_epoch(self.users, self.items, self.values, self.order, self.P,
                                 self.Q, self.bu, self.bi, 0.0, lr, reg, reg_b, biased,
                                 **self.steps)

    def factors(self):
        return self.P, self.Q, self.bu, self.bi

    def resume(self, first_epoch: int, state: dict) -> None:
        """Go on from ``state`` (``Runner.state`` of a run over a subset of these ratings,
        with the same users and items) at epoch ``first_epoch``: its factors rescaled to
        this run's standardisation, so that every prediction stays what it was, and its
        accumulated squared gradients as they are."""
        P, Q, bu, bi = state["factors"]
        ratio = state["sigma"] / self.sigma  # sigma' (b' + p'.q') = sigma (b + p.q)
        np.multiply(P, np.sqrt(ratio), out=self.P, casting="unsafe")
        np.multiply(Q, np.sqrt(ratio), out=self.Q, casting="unsafe")
        np.multiply(bu, ratio, out=self.bu, casting="unsafe")
        np.multiply(bi, ratio, out=self.bi, casting="unsafe")
        if self.mu != state["mu"]:  # the shift of the mean goes to the user biases
            self.bu += self.bu.dtype.type((state["mu"] - self.mu) / self.sigma)
        for name, acc in state["steps"].items():
            self.steps[name][:] = acc
        self.first_epoch = first_epoch


class DsgdRunner(Runner):
    """The "dsgd" schedule in this process: the plan's blocks (models/plan.py)
    in the order of its strata, on ``n_threads`` threads (kernels.sgd.sgd_rounds). A
    cluster runs the same blocks through the same per-rating kernel, spread out."""

    def __init__(self, model, ratings, seed):
        self.trained_on = ratings
        stats = Stats.of(ratings.users, ratings.items, ratings.values, ratings.n_users,
                         ratings.n_items)
        self.plan = plan = Plan.make(stats, n_blocks=model.n_blocks, seed=seed,
                                     biased=model.biased, n_factors=model.n_factors,
                                     init_scale=model.init_scale, dtype=model.dtype)
        self.mu, self.sigma, self.n_ratings = plan.mu, plan.sigma, plan.n_ratings
        self.n_threads = resolve_threads(model.n_threads, ratings.n_ratings)
        rows, cols = plan.orient(ratings.users, ratings.items)
        with num_threads(self.n_threads):
            self.layout = plan.layout(rows, cols, plan.standardise(ratings.values), 0,
                                      plan.n_blocks, parallel=True)
        g = plan.n_blocks
        rows = [plan.initial("rows", s) for s in range(g)]
        cols = [plan.initial("cols", t) for t in range(g)]
        self.R, self.br = (np.concatenate([stripe[k] for stripe in rows]) for k in range(2))
        self.C, self.bc = (np.concatenate([stripe[k] for stripe in cols]) for k in range(2))
        self.steps = adaptive_steps(model, len(self.R), len(self.C), self.R.dtype)

    def epoch(self, epoch, lr, reg, reg_b, biased) -> float:
        rows, cols, values, ptr = self.layout
        return kernels.sgd_rounds(rows, cols, values, ptr, self.plan.schedule(epoch), self.R,
                                  self.C, self.br, self.bc,
                                  *self.plan.step(lr, reg, reg_b, biased), self.n_threads,
                                  **self.steps)

    def factors(self):
        return self.plan.to_user_item(self.R, self.C, self.br, self.bc)



def adaptive_steps(model, n_rows: int, n_cols: int, dtype) -> dict:
    """The adaptive step's accumulated squared gradients of each side at the start
    (``plan.initial_steps``: a cluster's stripes start from the same), as kernels.sgd
    takes them; none for a constant learning rate."""
    if model._step_kind != "adaptive":  # resolved by the fit (SGDMatrixFactorization)
        return {}
    return {"gu": initial_steps(n_rows, dtype), "gi": initial_steps(n_cols, dtype)}


def _initial_factors(rng, n: int, k: int, scale: float, dtype) -> np.ndarray:
    """scale * standard normal draws, drawn in ``dtype`` (no float64 transient); float32
    ones by kernels/normal.py, numpy's draws in a fraction of numpy's time."""
    if np.dtype(dtype) == np.float32:
        return standard_normal_f32(rng, (n, k), scale)
    f = rng.standard_normal((n, k), dtype=dtype)
    f *= scale
    return f


class LocalEngine:
    """Train in this process, on its threads, by the model's own schedule."""

    schedule = None
    reads_input = False
    adaptive = True  # runs the adaptive learning rate too

    @contextmanager
    def sgd_run(self, model, data, seed: int):
        kind = DsgdRunner if model.schedule == "dsgd" else EpochRunner
        yield kind(model, data, seed)

    def __repr__(self) -> str:
        return "LocalEngine()"

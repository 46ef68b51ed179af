"""DaskEngine: SGDMatrixFactorization trained on a Dask cluster by DSGD.

How a fit runs (the plan, plan.py, fixes every number in it):

1. Input (sources.py): ratings already in this process are cut by row stripe and sent to
   the workers; Parquet files or a dask DataFrame are read, summarised and indexed by
   the workers, and only the id lists come back here.
2. Blocks: row stripe s's blocks are built on one worker and stay there. Row stripes are
   dealt to groups, one group per worker (stripe s to group s % n_groups).
3. Epochs: sub-epoch r runs stratum r of the epoch's schedule, as one task per group
   (tasks.sgd_round) over the group's blocks of the stratum; a group's row-stripe factors
   never leave it, while each column stripe goes from the group that updated it last to
   the group that needs it next (tasks.pick). An epoch's tasks are submitted at once; only
   its sums of squared errors come back.
4. Faults: tasks are pure and placed by loose restrictions, so when a worker is lost the
   scheduler rebuilds what it held from the tasks' inputs, on the workers left: blocks
   from storage, factors by running the sub-epochs again from the start of the fit or
   from the last checkpoint (each checkpoint roots the factors in its file, which cuts that
   lineage). The same bits come out. What cannot be rebuilt stops the fit with
   ClusterError, naming the epoch. A group stays where its blocks were rebuilt (on a
   survivor) for the rest of the fit: a worker that joins later gets none.
5. Resuming checks the checkpoint against this fit (seed, n_epochs, plan, settings, every
   array's checksum) before any training, and the checkpoint's folder at the start.

Nothing imports dask before a DaskEngine is made.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager

import numpy as np

from ..errors import LatentrecError, ParameterError
from ..models.engine import Runner
from ..models.plan import Plan
from . import checkpoint, tasks
from .errors import CheckpointError, ClusterError

_INSTALL = 'pip install "latentrec[dask]"'
#: Hyperparameters a checkpoint must share with the fit that continues from it.
_TRAINING_PARAMS = ("learning_rate_decay", "regularization", "bias_regularization",
                    "biased")


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"DaskEngine needs the optional dask extra: {_INSTALL} "
                          f"({exc})") from exc
    return distributed


class DaskEngine:
    """Train on a Dask cluster: ``model.fit(data, engine=DaskEngine(client))``.

    Parameters
    ----------
    client : a ``distributed.Client``, a scheduler address (``"tcp://host:8786"``; the
        engine connects for each fit and disconnects after), or None for the current
        default client. The workers need latentrec installed (see docs/distributed.md).
    columns : (user, item, rating) column names of Parquet or dask DataFrame input.
    checkpoint : path of a checkpoint file, rewritten every ``checkpoint_every`` epochs;
        the workers read it back (it roots the factors' lineage), so it must be on storage
        they share with this process.
    checkpoint_every : epochs between checkpoints.
    resume : continue from ``checkpoint`` when that file exists (it must come from a fit
        of the same data and settings); start afresh when it does not.
    timeout : seconds that each wait on the cluster may take before the fit stops with
        ClusterError (None: no limit): building the rating blocks, each epoch, and each
        gathering of the factors (a checkpoint, the end of the fit). Reading and
        summarising the input is not limited.
    """

    def __init__(self, client=None, *, columns=("user", "item", "rating"), checkpoint=None,
                 checkpoint_every=1, resume=False, timeout=None):
        _distributed()
        if not (isinstance(columns, (tuple, list)) and len(columns) == 3
                and all(isinstance(c, str) for c in columns)):
            raise ParameterError(f"columns must be three column names (user, item, rating), "
                                 f"got {columns!r}")
        if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
            raise ParameterError(f"checkpoint must be a path or None, got {checkpoint!r}")
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) \
                or checkpoint_every < 1:
            raise ParameterError(f"checkpoint_every must be an integer >= 1, got "
                                 f"{checkpoint_every!r}")
        if resume not in (True, False) or (resume and checkpoint is None):
            raise ParameterError(f"resume must be True (with a checkpoint path) or False, got "
                                 f"{resume!r}")
        if timeout is not None and (isinstance(timeout, bool) or not
                                    isinstance(timeout, (int, float)) or not timeout > 0):
            raise ParameterError(f"timeout must be a positive number of seconds or None, got "
                                 f"{timeout!r}")
        self.client, self.columns = client, tuple(columns)
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.resume, self.timeout = resume, timeout

    def __repr__(self) -> str:
        return f"DaskEngine({self.client!r}, checkpoint={self.checkpoint!r})"

    #: the engine contract (latentrec.models.engine.Engine)
    schedule = "dsgd"
    reads_input = True
    adaptive = True  # runs the adaptive learning rate too (accumulators travel with stripes)

    @contextmanager
    def sgd_run(self, model, data, seed):
        """A Runner (latentrec.models.engine) on the cluster, released on exit."""
        distributed = _distributed()
        client, own = self.client, False
        if client is None:
            try:
                client = distributed.default_client()
            except ValueError:
                raise ParameterError("no Dask client: pass DaskEngine(client) or a scheduler "
                                     "address, or create a distributed.Client first") from None
        elif isinstance(client, str):
            client, own = distributed.Client(client), True
        try:
            run = _Run(self, client, model, data, seed)
            try:
                yield run
            finally:
                run.release()
        finally:
            if own:
                client.close()


class _Run(Runner):
    """One fit on the cluster: a latentrec.models.engine.Runner."""

    n_threads = None  # the workers use their own

    def __init__(self, engine: DaskEngine, client, model, data, seed):
        from .sources import open_source

        self.engine, self.client, self.source = engine, client, None
        self.first_epoch, self.history, self.last_checkpoint = 1, [], None
        ck = self._checkpoint_meta(model)
        if ck is not None:
            seed = self._resume_seed(ck, model, seed)
        with self._failing("while reading the ratings"):
            self.source = open_source(client, data, engine.columns)
        self.plan = plan = Plan.make(self.source.stats, n_blocks=model.n_blocks, seed=seed,
                                     biased=model.biased, n_factors=model.n_factors,
                                     init_scale=model.init_scale, dtype=model.dtype)
        self.mu, self.sigma, self.n_ratings = plan.mu, plan.sigma, plan.n_ratings
        self.adaptive = model._step_kind == "adaptive"  # resolved by the fit
        # the learning rate and its schedule as the fit resolved them ("auto" could
        # resolve differently in another version)
        self.fingerprint = {**plan.fingerprint(),
                            **{k: getattr(model, k) for k in _TRAINING_PARAMS},
                            "learning_rate_schedule": model._step_kind,
                            "learning_rate": model._rate,
                            "ids_sha256": _ids_digest(self.source)}
        if ck is not None:
            checkpoint.check(ck, self.fingerprint, engine.checkpoint)
            checkpoint.verify(engine.checkpoint, ck, plan, self.adaptive)
        self._place()
        self.token = uuid.uuid4().hex[:8]
        self.blocks = self._build_blocks()
        if ck is not None:
            self.first_epoch, self.history = ck["epoch"] + 1, ck["history"]
            self._root(ck["epoch"])
        else:
            self.held = [self._submit(tasks.start, plan, self.stripes[k], self.stripes[k],
                                      self.adaptive, group=k)
                         for k in range(self.n_groups)]
            self.holder = list(self.group_of)

    # -- setting up ------------------------------------------------------------------------
    def _checkpoint_meta(self, model):
        """The checkpoint's metadata when resuming from one; None otherwise. Checks first
        that the checkpoint's folder exists, so a bad path fails now, not after epoch 1."""
        path = self.engine.checkpoint
        if path is None:
            return None
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise CheckpointError(f"checkpoint {os.fspath(path)!r}: folder {folder!r} does "
                                  "not exist")
        if os.path.isdir(path):
            raise CheckpointError(f"checkpoint {os.fspath(path)!r} is a folder, not a file")
        if not (self.engine.resume and os.path.exists(path)):
            return None
        meta = checkpoint.read_meta(path)
        if meta["epoch"] > model.n_epochs:
            raise CheckpointError(f"{path} holds epoch {meta['epoch']}, past n_epochs="
                                  f"{model.n_epochs}: fit with n_epochs >= {meta['epoch']}, "
                                  "or without resume")
        return meta

    def _resume_seed(self, meta, model, seed) -> int:
        """The checkpoint's seed when random_state is None; else ours, which must match."""
        theirs = meta["fingerprint"].get("seed")
        if not isinstance(theirs, int):
            raise CheckpointError(f"{self.engine.checkpoint}: metadata lacks the fit's seed")
        seed = theirs if model.random_state is None else seed
        checkpoint.check(meta, {"seed": seed}, self.engine.checkpoint)
        return seed

    def _place(self):
        """Groups of row stripes, one per worker, and the worker each starts on."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if not workers:
            raise ClusterError("the Dask cluster has no workers")
        addresses = sorted(workers)
        self.n_groups = n = min(len(addresses), self.plan.n_blocks)
        self.stripes = [list(range(k, self.plan.n_blocks, n)) for k in range(n)]
        self.group_of = [s % n for s in range(self.plan.n_blocks)]
        self.homes = addresses[:n]
        self.threads = [workers[a]["nthreads"] for a in self.homes]

    def _build_blocks(self) -> list:
        plan = self.plan
        pieces = self.source.pieces(plan, lambda s: self.homes[self.group_of[s]])
        with self._failing("while building the rating blocks"):
            blocks = [self._submit(tasks.build_row, plan, s, *pieces[s],
                                   group=self.group_of[s], key=f"dsgd-blocks-{s}-{self.token}")
                      for s in range(plan.n_blocks)]
            self._wait(blocks)
        return blocks

    def _submit(self, fn, *args, group, key=None):
        return self.client.submit(fn, *args, key=key, pure=key is None,
                                  workers=[self.homes[group]], allow_other_workers=True)

    # -- epochs ----------------------------------------------------------------------------
    def epoch(self, epoch, lr, reg, reg_b, biased) -> float:
        with self._failing(f"in epoch {epoch}"):
            sums = self._epoch(epoch, self.plan.step(lr, reg, reg_b, biased))
        g = self.plan.n_blocks
        sse = np.zeros(g * g)
        for part in sums:
            for s, e in part.items():
                sse[s * g:(s + 1) * g] = e
        return float(sse.sum())

    def _epoch(self, epoch, step) -> list:
        """Submit the epoch's sub-epochs; the groups' {row stripe: block sse} at its end."""
        self._follow_data()
        g = self.plan.n_blocks
        for r, stratum in enumerate(self.plan.schedule(epoch)):
            work = [[] for _ in range(self.n_groups)]
            for b in stratum:
                s, t = divmod(int(b), g)
                work[self.group_of[s]].append((s, t))
            held = [self._submit(tasks.sgd_round, {s: self.blocks[s] for s in self.stripes[k]},
                                 self.held[k], self._incoming(k, work[k], epoch, r), work[k],
                                 step, self.threads[k], group=k,
                                 key=f"dsgd-round-{epoch}-{r}-{k}-{self.token}")
                    for k in range(self.n_groups)]
            self.held = held
            for s, t in (pair for w in work for pair in w):
                self.holder[t] = self.group_of[s]
        return self._wait([self._submit(tasks.sse_of, h, group=k)
                           for k, h in enumerate(self.held)])

    def _incoming(self, k, work, epoch, r) -> list:
        """Futures of the column stripes group k needs from other groups this sub-epoch."""
        wanted = {}
        for _, t in work:
            if self.holder[t] != k:
                wanted.setdefault(self.holder[t], []).append(t)
        return [self._submit(tasks.pick, self.held[src], ts, group=src,
                             key=f"dsgd-pick-{epoch}-{r}-{src}-{k}-{self.token}")
                for src, ts in sorted(wanted.items())]

    def _follow_data(self):
        """Place each group where its blocks are now (they move only when rebuilt)."""
        where = self.client.who_has([self.blocks[s[0]] for s in self.stripes])
        for k, s in enumerate(self.stripes):
            found = where.get(self.blocks[s[0]].key)
            if found:
                self.homes[k] = found[0]

    def epoch_done(self, epoch: int, history: list) -> None:
        path = self.engine.checkpoint
        if path is None or epoch % self.engine.checkpoint_every:
            return
        with self._failing(f"in epoch {epoch}"):
            rows, cols = self._gather()
        checkpoint.save(path, epoch=epoch, fingerprint=self.fingerprint, history=history,
                        rows=rows, cols=cols)
        self.last_checkpoint = epoch
        self._root(epoch)

    def _root(self, epoch: int):
        """Factors read back from the checkpoint of ``epoch``: a rebuild starts there."""
        path = os.path.abspath(self.engine.checkpoint)
        self.held = [self._submit(tasks.resume, path, epoch, self.plan, self.stripes[k],
                                  self.stripes[k], self.adaptive, group=k,
                                  key=f"dsgd-resume-{epoch}-{k}-{self.token}")
                     for k in range(self.n_groups)]
        self.holder = list(self.group_of)  # each group starts with its own column stripes

    # -- results ---------------------------------------------------------------------------
    def factors(self):
        with self._failing("at the end of the fit"):
            rows, cols = self._gather()
        g = range(self.plan.n_blocks)
        R, br = (np.concatenate([rows[s][k] for s in g]) for k in range(2))
        C, bc = (np.concatenate([cols[t][k] for t in g]) for k in range(2))
        return self.plan.to_user_item(R, C, br, bc)

    def _gather(self):
        rows, cols = {}, {}
        for held in self._wait(self.held):
            rows.update(held.rows)
            cols.update(held.cols)
        return rows, cols

    def trained(self):
        with self._failing("at the end of the fit"):
            on = self.source.trained_on(self.blocks, self.plan)
        return on, on.seen

    def release(self):
        """Drop this run's futures, so the cluster frees what they hold."""
        self.blocks = self.held = []

    def _wait(self, futures) -> list:
        _distributed().wait(futures, timeout=self.engine.timeout)
        return self.client.gather(futures)

    @contextmanager
    def _failing(self, when):
        """Turn whatever the cluster raises into a ClusterError naming ``when``; errors
        latentrec raised itself (in a task, say a DataError) pass as they are."""
        try:
            yield
        except LatentrecError:
            raise
        except Exception as exc:  # dask, comms and tasks raise many kinds
            raise ClusterError(self._failure(when, exc)) from exc

    def _failure(self, when, exc) -> str:
        what = " ".join(str(exc).split()) or "no message"
        text = f"training on the cluster failed {when}: {type(exc).__name__}: {what}."
        if self.source is not None and self.source.loss_hint and _lost_worker(exc):
            text += " " + self.source.loss_hint
        if self.last_checkpoint is not None:
            text += (f" The factors of epoch {self.last_checkpoint} are in "
                     f"{self.engine.checkpoint}: fit again with DaskEngine(..., "
                     "resume=True) to continue from there.")
        elif self.engine.checkpoint is None:
            text += " Pass DaskEngine(checkpoint=...) to be able to resume a failed fit."
        return text


def _lost_worker(exc) -> bool:
    """Whether ``exc`` says a worker (and what it held) was lost, rather than, say, a
    timeout or a task that failed."""
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    return isinstance(exc, (KilledWorker, CancelledError))


def _ids_digest(source) -> str:
    h = hashlib.sha256()
    for m in (source.user_map, source.item_map):
        ids = m.ids
        h.update(ids.tobytes() if m.kind == "int" else "\0".join(ids).encode("utf-8"))
        h.update(b"|")
    return h.hexdigest()

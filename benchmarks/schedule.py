"""Two ways to run the same SGD blocks on threads, epoch for epoch in turn.

    python benchmarks/schedule.py [--epochs 12] [--threads 2]

All run the block kernel of latentrec.kernels.sgd over the same grid (the one
SGDMatrixFactorization builds for the 10M synthetic set of benchmarks/sgd.py, K=100) in
the rounds of ``block_schedule``:

  * dataflow: latentrec's way (kernels/dataflow.py): a block starts as soon as the blocks
    of earlier rounds in its row and column stripes are done;
  * barrier: all threads wait for each other at the end of every round; within a round
    a free thread takes the next block, longest first (a thread pool per round);
  * static: latentrec's earlier way: a numba ``prange`` over the threads in every round,
    each thread's blocks fixed in advance (longest first onto the least loaded thread).

All give the same factors bit for bit, which the script checks. Epochs alternate between
the two (and 1 thread, for the scaling of each), so that all meet the host's slow and
fast spells alike; it prints ratings/s per epoch and the medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from latentrec.data import holdout
from latentrec.kernels import sgd as K
from latentrec.kernels.blocks import block_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe  # noqa: E402
from sgd import synthetic_10m  # noqa: E402


@njit(cache=True, parallel=True)
def _static_epoch(users, items, values, ptr, plan, split, P, Q, bu, bi, mu, lr, reg, biased):
    """Rounds in turn; in round r, thread t runs plan[r, split[r, t]:split[r, t + 1]]."""
    no_order = np.empty(0, np.int64)
    for r in range(plan.shape[0]):
        for t in prange(split.shape[1] - 1):
            for a in range(split[r, t], split[r, t + 1]):
                b = plan[r, a]
                K._sgd_ratings(users, items, values, no_order, ptr[b], ptr[b + 1], P, Q, bu,
                               bi, mu, lr, reg, reg, reg, reg, biased)


def static_plan(rounds, sizes, threads):
    """Each round's blocks (longest first) onto the least loaded thread so far."""
    plan, split = np.empty_like(rounds), np.zeros((rounds.shape[0], threads + 1), np.int64)
    for r, blocks in enumerate(rounds):
        groups, load = [[] for _ in range(threads)], np.zeros(threads)
        for b in blocks:
            k = int(np.argmin(load))
            groups[k].append(b)
            load[k] += sizes[b]
        split[r, 1:] = np.cumsum([len(g) for g in groups])
        plan[r] = [b for g in groups for b in g]
    return plan, split


def epoch(layout, factors, seed, threads, way):
    """One epoch over ``layout`` the given way; returns seconds."""
    users, items, values, ptr, ub, _ = layout
    g = ub.shape[0] - 1
    rounds = block_schedule(g, seed)
    rounds = np.take_along_axis(rounds, np.argsort(-np.diff(ptr)[rounds], 1, kind="stable"), 1)
    t = np.float32
    args = (*factors, t(0.0), t(0.005), t(0.02), t(0.02), t(0.02), t(0.02), True)
    no_order = np.empty(0, np.int64)

    def run(b):
        K._sgd_ratings(users, items, values, no_order, ptr[b], ptr[b + 1], *args)

    start = time.perf_counter()
    if way == "static":
        numba.set_num_threads(threads)
        plan, split = static_plan(rounds, np.diff(ptr), threads)
        _static_epoch(users, items, values, ptr, plan, split, *factors, t(0.0), t(0.005),
                      t(0.02), True)
    elif way == "barrier":
        with ThreadPoolExecutor(threads) as pool:
            for blocks in rounds:
                list(pool.map(run, blocks))
    else:  # latentrec's own epoch (it sorts each round longest first too)
        K.sgd_rounds(users, items, values, ptr, rounds, *factors, 0.0, 0.005, 0.02, 0.02,
                     True, threads)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    train, _ = holdout(synthetic_10m(), 0.2, random_state=0)
    values = (train.values - train.values.mean()).astype(np.float32)
    layout = K.make_block_layout(train.users, train.items, values, train.n_users,
                                 train.n_items, a.threads, 0, n_factors=100)
    rng = np.random.default_rng(0)
    start = [(rng.standard_normal((train.n_users, 100)) * 0.1).astype(np.float32),
             (rng.standard_normal((train.n_items, 100)) * 0.1).astype(np.float32),
             np.zeros(train.n_users, np.float32), np.zeros(train.n_items, np.float32)]
    ways = {"1 thread": (1, "dataflow"), f"static, {a.threads} threads": (a.threads, "static"),
            f"barrier, {a.threads} threads": (a.threads, "barrier"),
            f"dataflow, {a.threads} threads": (a.threads, "dataflow")}
    factors = {name: [f.copy() for f in start] for name in ways}
    print(f"{describe()}; {train.n_ratings:,} ratings, grid {layout.n_blocks} x "
          f"{layout.n_blocks}, K=100")
    rates = {name: [] for name in ways}
    for e in range(a.epochs + 1):  # epoch 0 compiles and warms up; not counted
        for name in (list(ways) if e % 2 else list(ways)[::-1]):
            seconds = epoch(layout, factors[name], e, *ways[name])
            if e:
                rates[name].append(train.n_ratings / seconds / 1e6)
        if e:
            print(f"epoch {e}: " + ", ".join(f"{n} {r[-1]:.1f} M/s"
                                              for n, r in rates.items()), flush=True)
    same = all(all(np.array_equal(x, y) for x, y in zip(factors[n], factors["1 thread"]))
               for n in ways)
    print("identical factors after every epoch's schedule:", same)
    one = np.median(rates["1 thread"])
    for name, r in rates.items():
        print(f"{name:<22} median {np.median(r):5.1f} M ratings/s ({np.median(r) / one:.2f}x "
              "1 thread)")


if __name__ == "__main__":
    main()

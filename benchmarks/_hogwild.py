"""The yardstick for latentrec's SGD kernels: plain lock-free Hogwild in numba.

``hogwild_epoch`` is the obvious parallel SGD epoch (float32, fastmath, a shuffled order,
prange over chunks, no bias terms) that the block kernel is measured against. Run this file
to time both on a synthetic long-tailed problem (default: 200,000 users x 20,000 items,
10M ratings, K=100; needs about 2 GB of memory):

    python benchmarks/_hogwild.py [--ratings 10_000_000] [--k 100] [--epochs 3]

It prints ratings/s (best and median epoch) for the serial kernel (shuffled order), the
block kernel on 1 and on all threads, and Hogwild on all threads, plus held-out RMSE after
the epochs for each. On a shared machine, run it while nothing else is: timings of
memory-heavy loops swing by 30% or more under a neighbour's load.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from _machine import busy_cpu_seconds
from numba import njit, prange


@njit(fastmath=True, parallel=True, cache=True)
def hogwild_epoch(users, items, values, order, P, Q, lr, reg, n_chunks):
    n = order.shape[0]
    K = P.shape[1]
    for c in prange(n_chunks):
        for j in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            r = order[j]
            u, i = users[r], items[r]
            e = values[r]
            for k in range(K):
                e -= P[u, k] * Q[i, k]
            for k in range(K):
                p = P[u, k]
                P[u, k] += lr * (e * Q[i, k] - reg * p)
                Q[i, k] += lr * (e * p - reg * Q[i, k])


def synthetic(n_users, n_items, n_ratings, seed=0, rank=10):
    """Long-tailed ratings on a 1-5 scale: Zipf-like items, log-normal user activity."""
    rng = np.random.default_rng(seed)
    ua = rng.lognormal(0.0, 1.0, n_users)
    ia = 1.0 / (np.arange(n_items) + 10.0)
    m = int(n_ratings * 1.15)
    u = rng.choice(n_users, m, p=ua / ua.sum()).astype(np.int32)
    i = rng.permutation(n_items)[rng.choice(n_items, m, p=ia / ia.sum())].astype(np.int32)
    _, first = np.unique(u.astype(np.int64) * n_items + i, return_index=True)
    keep = rng.permutation(first)[:n_ratings]
    u, i = u[keep], i[keep]
    Pt = rng.normal(0, 0.5, (n_users, rank)).astype(np.float32)
    Qt = rng.normal(0, 0.5, (n_items, rank)).astype(np.float32)
    v = (3.5 + rng.normal(0, 0.3, n_users)[u] + rng.normal(0, 0.5, n_items)[i]
         + np.einsum("ij,ij->i", Pt[u], Qt[i]) + rng.normal(0, 0.5, len(u)))
    return u, i, np.clip(np.round(v), 1, 5).astype(np.float32)


class LoadClock:
    """Wall seconds and the CPUs other processes used, between successive ``lap()`` calls."""

    def __init__(self):
        self.lap()

    def lap(self):
        """(wall seconds, CPUs used by other processes meanwhile; 0 when unknown) since the
        last lap (or since the clock was made); ``self.cpu`` is this process's CPU seconds
        over the same lap."""
        j, c, t = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        last = getattr(self, "_last", None)
        self._last = (j, c, t)
        if last is None:
            self.cpu = 0.0
            return 0.0, 0.0
        wall, mine = t - last[2], c - last[1]
        self.cpu = mine
        other = 0.0 if j is None else max(0.0, (j - last[0]) - mine) / max(wall, 1e-9)
        return wall, other


def timed(fn, *args):
    """(wall seconds, CPUs other processes used meanwhile, or 0 when unknown) of
    ``fn(*args)``."""
    clock = LoadClock()
    fn(*args)
    return clock.lap()


def quiet_median(runs, busy=0.1):
    """Median wall time over the runs in which other processes used under ``busy`` CPUs
    (all runs when none was quiet), and how many runs that was."""
    quiet = [w for w, other in runs if other < busy]
    use = quiet or [w for w, _ in runs]
    return float(np.median(use)), len(quiet)


def main():
    from latentrec.kernels import sgd as K

    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--ratings", type=int, default=10_000_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--reg", type=float, default=0.02)
    ap.add_argument("--n-blocks", type=int, default=None)
    ap.add_argument("--skip-serial", action="store_true")
    a = ap.parse_args()
    u, i, v = synthetic(a.users, a.items, a.ratings)
    test = np.random.default_rng(1).random(len(u)) < 0.02
    tu, ti, tv = u[test], i[test], v[test]
    u, i, v = u[~test], i[~test], v[~test]
    n, f32, nt = len(u), np.float32, numba.config.NUMBA_NUM_THREADS
    mu = f32(v.mean())
    print(f"{n:,} training ratings, {a.users:,} users x {a.items:,} items, K={a.k}, "
          f"{nt} threads available")

    def start():
        rng = np.random.default_rng(2)
        return (rng.normal(0, 0.1, (a.users, a.k)).astype(f32),
                rng.normal(0, 0.1, (a.items, a.k)).astype(f32),
                np.zeros(a.users, f32), np.zeros(a.items, f32))

    def report(name, runs, P, Q, bu, bi, m):
        pred = K.predict_pairs(tu, ti, P, Q, bu, bi, m)
        rmse = float(np.sqrt(np.mean((tv - pred) ** 2)))
        quiet = [w for w, other in runs[1:] if other < 0.05]  # first epoch: compiles
        seconds = quiet or [w for w, _ in runs[1:]] or [runs[0][0]]
        note = "" if quiet else "  (other processes were busy: timings unreliable)"
        print(f"{name:<30} {n / min(seconds) / 1e6:6.2f} M ratings/s best epoch, "
              f"{n / np.median(seconds) / 1e6:6.2f} median of {len(seconds)};  "
              f"held-out RMSE {rmse:.4f}{note}", flush=True)

    rng = np.random.default_rng(3)
    if not a.skip_serial:
        P, Q, bu, bi = start()
        times = []
        for _ in range(a.epochs):
            order = rng.permutation(n)
            times.append(timed(K.sgd_epoch, u, i, v, order, P, Q, bu, bi, mu, a.lr, a.reg,
                               a.reg, True))
        report("serial (shuffled order)", times, P, Q, bu, bi, mu)
    t0 = time.perf_counter()
    layout = K.make_block_layout(u, i, v, a.users, a.items, nt, 0, n_blocks=a.n_blocks,
                                 n_factors=a.k)
    print(f"block layout: {layout.n_blocks} x {layout.n_blocks} grid, built in "
          f"{time.perf_counter() - t0:.2f} s")
    for threads in sorted({1, nt}):
        P, Q, bu, bi = start()
        times = []
        for e in range(a.epochs):
            times.append(timed(K.sgd_epoch_blocks, layout, P, Q, bu, bi, mu, a.lr, a.reg,
                               a.reg, True, e, threads))
        report(f"blocks, {threads} thread(s)", times, P, Q, bu, bi, mu)
    del layout
    P, Q, bu, bi = start()
    vc = v - mu  # Hogwild has no biases: train on centred ratings
    numba.set_num_threads(nt)
    times = []
    for _ in range(a.epochs):
        order = rng.permutation(n)
        times.append(timed(hogwild_epoch, u, i, vc, order, P, Q, f32(a.lr), f32(a.reg),
                           64 * nt))
    report(f"plain Hogwild, {nt} thread(s)", times, P, Q, bu, bi, mu)


if __name__ == "__main__":
    main()

"""Sweep time and memory of BayesianFactorizationMachine beside BayesianMatrixFactorization.

    python benchmarks/bfm.py                  # 10M synthetic ratings, K=32
    python benchmarks/bfm.py --ratings 1000000

On the synthetic set of benchmarks/sgd.py (``synthetic(200_000, 20_000, 10_000_000,
rank=10, noise=0.5, popularity_skew=1.0, discrete=True, random_state=0)``) it runs, each in
a fresh process so that peak memory is its own: BPMF at K=32 and the factorization
machine at K=32 with the implicit groups (SVD++ and flipped) and biases, ``--sweeps``
sweeps each (burn-in only, so no posterior mean is kept), and prints the mean seconds a
sweep (over 10 sweeps by default: the machine recomputes its sums from the parameters
every 10th, and that counts), the ratio, and each process's peak resident memory, data
included.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def one(kind: str, n_ratings: int, sweeps: int, k: int) -> dict:
    from latentrec import BayesianFactorizationMachine, BayesianMatrixFactorization
    from latentrec.data import synthetic

    n_users, n_items = max(100, n_ratings // 50), max(50, n_ratings // 500)
    data = synthetic(n_users, n_items, n_ratings, rank=10, noise=0.5, popularity_skew=1.0,
                     discrete=True, random_state=0)
    if kind == "bpmf":
        model = BayesianMatrixFactorization(n_factors=k, n_samples=1, burn_in=sweeps,
                                            keep=1, ranking_factors=0, random_state=0)
    else:
        model = BayesianFactorizationMachine(n_factors=k, n_samples=1, burn_in=sweeps,
                                             ranking_factors=0, random_state=0)
    start = time.perf_counter()
    model.fit(data)
    wall = time.perf_counter() - start
    secs = [h["seconds"] for h in model.history_[:sweeps]]
    return {"model": kind, "sweep_seconds": float(np.mean(secs)), "fit_seconds": wall,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", type=int, default=10_000_000)
    ap.add_argument("--sweeps", type=int, default=10)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.ratings, args.sweeps, args.factors)))
        return
    rows = []
    for kind in ("bpmf", "bfm"):
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--ratings",
                              str(args.ratings), "--sweeps", str(args.sweeps), "--factors",
                              str(args.factors)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ratio = rows[1]["sweep_seconds"] / rows[0]["sweep_seconds"]
    print(f"\n| model | s / sweep | fit s ({args.sweeps} sweeps + 1) | peak RSS GB |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['sweep_seconds']:.2f} | {r['fit_seconds']:.1f} | "
              f"{r['peak_rss_gb']:.2f} |")
    print(f"\nBFM sweep / BPMF sweep: {ratio:.2f}")


if __name__ == "__main__":
    main()

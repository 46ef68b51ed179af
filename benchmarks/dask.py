"""Training on a Dask cluster (DaskEngine, DSGD) beside training in one process, in one run.

    python benchmarks/dask.py            # 20M synthetic ratings, then the scheduling overhead
    python benchmarks/dask.py --quick    # 2M ratings: a smoke run

At K = 100, 5 epochs per fit, seconds per epoch as the median of the fit's history:
  * one process, 2 threads: SGDMatrixFactorization with the default schedule ("blocks")
    and with schedule="dsgd";
  * a LocalCluster of 2 worker processes x 1 thread on the same machine, reading the
    ratings from Parquet files (8 of them, written once into bench-data/); its model is
    checked to equal the one-process "dsgd" model bit for bit.
Then the per-sub-epoch overhead: the same cluster on tiny data (a few ratings per block),
so that an epoch's time is all scheduling, divided by the epoch's n_blocks sub-epochs.
Ratios are taken within the run: on a shared machine absolute timings drift.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is dask.py: its folder must be off the path while the dask package is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import dask.dataframe  # noqa: F401 - imported now, while it cannot be shadowed
import distributed

sys.path.insert(0, str(HERE))
import numpy as np
from sgd import machine

from latentrec import Ratings, SGDMatrixFactorization
from latentrec.data import synthetic
from latentrec.distributed import DaskEngine

DATA = HERE.parent / "bench-data"
K, EPOCHS = 100, 5


def parquet_files(n_ratings: int) -> Path:
    """The synthetic ratings as 8 Parquet files (made once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = DATA / f"dask-{n_ratings}"
    if not (folder / "part-7.parquet").exists():
        r = synthetic(n_ratings // 50, n_ratings // 500, n_ratings, rank=10, noise=0.5,
                      rating_scale=(1, 5), discrete=True, random_state=0)
        folder.mkdir(parents=True, exist_ok=True)
        for k, rows in enumerate(np.array_split(np.arange(r.n_ratings), 8)):
            pq.write_table(pa.table({"user": r.users[rows].astype(np.int64),
                                     "item": r.items[rows].astype(np.int64),
                                     "rating": r.values[rows]}), folder / f"part-{k}.parquet")
    return folder


def read_here(folder: Path) -> Ratings:
    import pyarrow.parquet as pq

    t = pq.read_table(folder)
    return Ratings.from_arrays(t["user"].to_numpy(), t["item"].to_numpy(),
                               t["rating"].to_numpy())


def timed_fit(data, engine=None, **kw):
    model = SGDMatrixFactorization(n_factors=K, n_epochs=EPOCHS, random_state=0, **kw)
    start = time.perf_counter()
    model.fit(data, engine=engine)
    total = time.perf_counter() - start
    epochs = [h["seconds"] for h in model.history_]
    return model, float(np.median(epochs)), total - sum(epochs)


def speed(client, n_ratings: int) -> list:
    folder = parquet_files(n_ratings)
    ratings = read_here(folder)
    print(f"{ratings.n_ratings:,} ratings, {ratings.n_users:,} users x "
          f"{ratings.n_items:,} items", flush=True)
    rows, models = [], {}
    for name, kw, data, engine in [
            ("one process, schedule='blocks', 2 threads", {"n_threads": 2}, ratings, None),
            ("one process, schedule='dsgd', 2 threads",
             {"n_threads": 2, "schedule": "dsgd"}, ratings, None),
            ("LocalCluster, 2 workers x 1 thread (Parquet read by the workers)", {},
             str(folder), DaskEngine(client))]:
        models[name], epoch, setup = timed_fit(data, engine, **kw)
        rows.append({"method": name, "epoch_s": epoch, "setup_s": setup,
                     "ratings_per_s": ratings.n_ratings / epoch})
        print(rows[-1], flush=True)
    dsgd, cluster = list(models.values())[1:]
    same = all(np.array_equal(getattr(dsgd, a), getattr(cluster, a))
               for a in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"))
    print("cluster model == one-process dsgd model, bit for bit:", same)
    return rows


def overhead(client) -> list:
    tiny = synthetic(4000, 2000, 8000, rank=4, random_state=0)
    rows = []
    for g in (20, 4):
        _, one, _ = timed_fit(tiny, None, schedule="dsgd", n_blocks=g, n_threads=1)
        model = SGDMatrixFactorization(n_factors=K, n_epochs=10, n_blocks=g, random_state=0)
        model.fit(tiny, engine=DaskEngine(client))
        epoch = float(np.median([h["seconds"] for h in model.history_]))
        rows.append({"n_blocks": g, "epoch_s": epoch, "sub_epoch_ms": 1000 * epoch / g,
                     "one_process_epoch_s": one})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2M ratings instead of 20M")
    args = parser.parse_args()
    print(machine())
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rows = speed(client, 2_000_000 if args.quick else 20_000_000)
        over = overhead(client)
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    base = {r["method"].split(",")[1].strip(): r["epoch_s"] for r in rows[:2]}
    print("\n| method | s/epoch | ratings/s | setup s | cluster time / this |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        ratio = rows[2]["epoch_s"] / r["epoch_s"]
        print(f"| {r['method']} | {r['epoch_s']:.3f} | {r['ratings_per_s'] / 1e6:.1f} M "
              f"| {r['setup_s']:.1f} | {ratio:.2f} |")
    print(f"\nschedules: {base}")
    print("\n| n_blocks | cluster s/epoch (tiny data) | ms per sub-epoch | one process s/epoch |")
    print("|---:|---:|---:|---:|")
    for r in over:
        print(f"| {r['n_blocks']} | {r['epoch_s']:.3f} | {r['sub_epoch_ms']:.1f} "
              f"| {r['one_process_epoch_s']:.4f} |")


if __name__ == "__main__":
    main()

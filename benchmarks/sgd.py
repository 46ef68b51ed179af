"""Speed (and accuracy) of latentrec's SGD training against its peers, in one run.

    python benchmarks/sgd.py                 # ML-100K and 10M synthetic ratings
    python benchmarks/sgd.py --big           # also 20 epochs on 100M ratings, peak memory

At K=100 it measures, per epoch, seconds and ratings/second of:
  * latentrec's SGDMatrixFactorization with 1 and 2 threads (ML-100K and 10M synthetic),
  * scikit-surprise's SVD (same K, epochs; ML-100K),
  * the classic notebook loop (pure Python over the dense matrix; one epoch, ML-100K),
  * a plain numba Hogwild kernel (benchmarks/_hogwild.py; 10M synthetic, 2 threads),
  * latentrec's SGD with the constant step of earlier versions (``learning_rate_schedule=
    "constant", learning_rate=0.01, init_scale=0.1``) and with the default adaptive step
    at rate 0.1 (10M synthetic, 2 threads),
  * LibMF's ``mf-train`` when ``LIBMF_DIR`` points at a LibMF build made outside the repo
    (``make`` with its Makefile's AVX lines switched on; 10M synthetic, 20 iterations, 2
    threads, ``-l2`` 0.1 and 0.05, its default adaptive learning rate),
and the held-out RMSE (20% holdout) after 20 epochs, so speed is never bought with
accuracy. Ratios are taken within the run, because a shared machine's absolute timings
drift. On the 10M set, after one 20-epoch fit each (the RMSE column), short 1- and
2-thread fits alternate (``--repeats`` of each, 8 of 4 epochs by default), so both meet
the host's slow and fast spells alike. Seconds per epoch are the median over the epochs
during which other processes used under a tenth of a CPU (the "quiet epochs" column; all
epochs when none was); CPU seconds per epoch are this process's, so their ratio shows how
much slower each core works while both do. Before and after the 10M runs it measures what
the host gives: two one-thread processes of the same kernel against one (they share
nothing but the host; taken at other moments than the fits, so a guide). ``--big``
trains 20 epochs at K=64 on 100 million synthetic ratings (2,000,000 users x 200,000
items) loaded from a saved file, in a fresh process, and reports its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

import latentrec
from latentrec import SGDMatrixFactorization, datasets
from latentrec.data import holdout, synthetic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hogwild import LoadClock, hogwild_epoch, quiet_median, timed  # noqa: E402
from _machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
K, EPOCHS = 100, 20


def held_out_rmse(model, test) -> float:
    pred = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    return float(np.sqrt(np.mean((pred - test.values) ** 2)))


def latentrec_row(name, train, test, threads, k=K, epochs=EPOCHS, label="", **params):
    model = SGDMatrixFactorization(n_factors=k, n_epochs=epochs, n_threads=threads,
                                   random_state=0, **params)
    clock, load, cpu = LoadClock(), [], []

    def lap(row):
        load.append(clock.lap()[1])
        cpu.append(clock.cpu)

    start = time.perf_counter()
    model.fit(train, callback=lap)
    total = time.perf_counter() - start
    # the model's own epoch seconds, each with the CPUs other processes used meanwhile
    runs = [(h["seconds"], o) for h, o in zip(model.history_, load)]
    epoch, quiet = quiet_median(runs)
    return {"data": name,
            "method": f"latentrec SGD{label}, {threads} thread{'s' * (threads > 1)}",
            "threads": threads, "epoch_s": epoch, "ratings_per_s": train.n_ratings / epoch,
            "fit_s": total, "rmse": held_out_rmse(model, test), "quiet": (quiet, epochs),
            "runs": runs, "cpu": cpu[1:]}  # the first lap holds the layout's build too


def alternating_rows(name, train, test, repeats, short):
    """The 1- and 2-thread fits, in turn: a 20-epoch fit each (the RMSE column), then
    ``repeats`` fits of ``short`` epochs each, ordered 2, 1, 1, 2, 2, 1, ... so that both
    thread counts meet the host's slow and fast spells alike (the speed its cores give
    changes within seconds). One row per thread count over all its epochs, and the scaling
    of each adjacent pair of fits."""
    fits = {1: [latentrec_row(name, train, test, 1)], 2: [latentrec_row(name, train, test, 2)]}
    for r in range(repeats):
        for threads in ((2, 1) if r % 2 == 0 else (1, 2)):
            fits[threads].append(latentrec_row(name, train, test, threads, epochs=short))
    pairs = [one["epoch_s"] / two["epoch_s"] for one, two in zip(fits[1], fits[2])]
    rows = []
    for done in fits.values():
        runs = [run for fit in done for run in fit["runs"]]
        epoch, quiet = quiet_median(runs)
        rows.append({**done[0], "epoch_s": epoch, "ratings_per_s": train.n_ratings / epoch,
                     "quiet": (quiet, len(runs)), "cpu": [c for f in done for c in f["cpu"]]})
    return rows, pairs


def surprise_row(train, test):
    from surprise import SVD, Dataset, Reader

    df = train.to_dataframe()
    lo, hi = float(df.rating.min()), float(df.rating.max())
    data = Dataset.load_from_df(df[["user", "item", "rating"]], Reader(rating_scale=(lo, hi)))
    algo = SVD(n_factors=K, n_epochs=EPOCHS, random_state=0)
    trainset = data.build_full_trainset()
    start = time.perf_counter()
    algo.fit(trainset)
    total = time.perf_counter() - start
    tdf = test.to_dataframe()
    pred = np.array([algo.predict(u, i).est for u, i in zip(tdf.user, tdf.item)])
    return {"data": "ML-100K", "method": "scikit-surprise SVD", "threads": 1,
            "epoch_s": total / EPOCHS, "ratings_per_s": train.n_ratings * EPOCHS / total,
            "fit_s": total, "rmse": float(np.sqrt(np.mean((pred - tdf.rating) ** 2)))}


def notebook_epoch(R, P, Q, K, alpha=0.0002, beta=0.02):
    """One step of the classic notebook loop, verbatim in spirit (dense R, 0 = unknown)."""
    Q = Q.T
    for i in range(len(R)):
        for j in range(len(R[i])):
            if R[i][j] > 0:
                eij = R[i][j] - np.dot(P[i, :], Q[:, j])
                for k in range(K):
                    P[i][k] = P[i][k] + alpha * (2 * eij * Q[k][j] - beta * P[i][k])
                    Q[k][j] = Q[k][j] + alpha * (2 * eij * P[i][k] - beta * Q[k][j])
    return P, Q.T


def notebook_row(train):
    R = train.to_dense()
    rng = np.random.default_rng(0)
    P, Q = rng.random((R.shape[0], K)), rng.random((R.shape[1], K))
    start = time.perf_counter()
    notebook_epoch(R, P, Q, K)
    epoch = time.perf_counter() - start
    return {"data": "ML-100K", "method": "notebook loop (pure Python)", "threads": 1,
            "epoch_s": epoch, "ratings_per_s": train.n_ratings / epoch, "fit_s": None,
            "rmse": None}


def hogwild_row(train, test, threads):
    mu = float(train.values.mean())
    values = (train.values - mu).astype(np.float32)
    rng = np.random.default_rng(0)
    P = (rng.standard_normal((train.n_users, K)) * 0.1).astype(np.float32)
    Q = (rng.standard_normal((train.n_items, K)) * 0.1).astype(np.float32)
    order = np.arange(train.n_ratings, dtype=np.int64)
    numba.set_num_threads(threads)
    hogwild_epoch(train.users, train.items, values, order[:1000], P.copy(), Q.copy(),
                  np.float32(0.005), np.float32(0.02), 8)  # compile outside the timing
    runs = []
    for _ in range(EPOCHS):
        rng.shuffle(order)
        runs.append(timed(hogwild_epoch, train.users, train.items, values, order, P, Q,
                          np.float32(0.005), np.float32(0.02), threads * 64))
    pred = mu + np.einsum("ij,ij->i", P[test.users], Q[test.items])
    epoch, quiet = quiet_median(runs)
    return {"data": "synthetic 10M", "method": f"plain numba Hogwild, {threads} threads",
            "threads": threads, "epoch_s": epoch, "ratings_per_s": train.n_ratings / epoch,
            "fit_s": float(sum(w for w, _ in runs)),
            "rmse": float(np.sqrt(np.mean((pred - test.values) ** 2))),
            "quiet": (quiet, EPOCHS)}


# -- LibMF, built outside the repo ---------------------------------------------------------
def libmf_rows(train, test, threads=2) -> list[dict]:
    """LibMF's ``mf-train`` (from ``$LIBMF_DIR``) on the same split, K=100, 20 iterations,
    its default adaptive learning rate (``-r 0.1``), at its default ``-l2 0.1`` and at
    ``-l2 0.05``: held-out RMSE from ``-p``, seconds an iteration from a run without
    ``-p`` (the median interval between its iteration lines). None when unset."""
    folder = os.environ.get("LIBMF_DIR")
    if not folder:
        return []
    exe = Path(folder) / "mf-train"
    files = DATA / "libmf"
    files.mkdir(parents=True, exist_ok=True)
    for part, name in ((train, "train.txt"), (test, "test.txt")):
        if not (files / name).exists():
            np.savetxt(files / name, np.column_stack([part.users, part.items, part.values]),
                       fmt=["%d", "%d", "%g"])
    rows = []
    for l2 in ("0.1", "0.05"):
        args = [str(exe), "-k", str(K), "-t", str(EPOCHS), "-s", str(threads), "-l2", l2]
        laps = _iteration_laps(args + [str(files / "train.txt"), str(files / "m.model")])
        out = subprocess.run(args + ["-p", str(files / "test.txt"), str(files / "train.txt"),
                                     str(files / "m.model")],
                             capture_output=True, text=True, check=True).stdout
        rmse = float(out.strip().splitlines()[-1].split()[2])
        epoch = float(np.median(laps))
        rows.append({"data": "synthetic 10M",
                     "method": f"LibMF mf-train (AVX), -l2 {l2}, {threads} threads",
                     "threads": threads, "epoch_s": epoch,
                     "ratings_per_s": train.n_ratings / epoch, "fit_s": float(sum(laps)),
                     "rmse": rmse, "quiet": None})
    return rows


def _iteration_laps(args) -> list[float]:
    """Seconds between mf-train's consecutive iteration lines."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    stamps = [time.perf_counter() for line in proc.stdout if line.split()[:1] and
              line.split()[0].isdigit()]
    proc.wait()
    return list(np.diff(stamps))


# -- what the host gives two processes of the same kernel ----------------------------------
PROBE_SECONDS = 3.0


def save_probe_layout(train) -> Path:
    """The 10M training set's block grid (the one the model builds), for the probe."""
    from latentrec.kernels.sgd import make_block_layout

    DATA.mkdir(exist_ok=True)
    path = DATA / "sgd-probe-layout.npz"
    values = (train.values - train.values.mean()).astype(np.float32)
    layout = make_block_layout(train.users, train.items, values, train.n_users,
                               train.n_items, 2, 0, n_factors=K)
    np.savez(path, *layout)
    return path


def probe_child(path: str) -> None:
    """One thread of the block kernel, in its own process: load, warm up, say "ready",
    wait for "go" on stdin, then print ratings/s over the epochs it finishes within about
    PROBE_SECONDS (a time, not a count, so that two such processes run side by side
    nearly all the while)."""
    from latentrec.kernels.sgd import BlockLayout, sgd_epoch_blocks

    with np.load(path) as z:
        layout = BlockLayout(*(z[f"arr_{k}"] for k in range(6)))
    rng = np.random.default_rng(0)
    n_users, n_items = int(layout.user_bounds[-1]), int(layout.item_bounds[-1])
    P = (rng.standard_normal((n_users, K)) * 0.1).astype(np.float32)
    Q = (rng.standard_normal((n_items, K)) * 0.1).astype(np.float32)
    bu, bi = np.zeros(n_users, np.float32), np.zeros(n_items, np.float32)
    step = (0.0, 0.005, 0.02, 0.02, True)
    sgd_epoch_blocks(layout, P, Q, bu, bi, *step, 0, 1)
    print("ready", flush=True)
    sys.stdin.readline()
    start, epochs = time.perf_counter(), 0
    while time.perf_counter() - start < PROBE_SECONDS:
        epochs += 1
        sgd_epoch_blocks(layout, P, Q, bu, bi, *step, epochs, 1)
    print(layout.users.shape[0] * epochs / (time.perf_counter() - start))


def process_scaling(path: Path, rounds: int = 3) -> list:
    """Two one-thread processes of the block kernel at once against one alone (their
    ratings/s summed over its), ``rounds`` times: they share nothing but the host, so this
    is what it gives two busy cores at that moment, threading aside."""
    def run(n):
        procs = [subprocess.Popen([sys.executable, __file__, "--probe", str(path)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]
        for p in procs:
            p.stdout.readline()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        return [float(p.communicate()[0].split()[-1]) for p in procs]

    return [sum(run(2)) / run(1)[0] for _ in range(rounds)]


def synthetic_10m():
    return synthetic(200_000, 20_000, 10_000_000, rank=10, noise=0.5, popularity_skew=1.0,
                     rating_scale=(1, 5), discrete=True, random_state=0)


# -- the 100M memory run -------------------------------------------------------------------
def big_child(path: str) -> None:
    """In a fresh process: load the saved ratings, train 20 epochs at K=64, report memory."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    ratings = latentrec.read_ratings(path)
    load_s = time.perf_counter() - start
    model = SGDMatrixFactorization(n_factors=64, n_epochs=20, random_state=0)
    start = time.perf_counter()
    model.fit(ratings)
    fit_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    epoch = float(np.median([h["seconds"] for h in model.history_]))
    print(json.dumps({"ratings": ratings.n_ratings, "load_s": load_s, "fit_s": fit_s,
                      "epoch_s": epoch, "ratings_per_s": ratings.n_ratings / epoch,
                      "train_rmse": model.history_[-1]["train_rmse"],
                      "peak_gb": peak / 2**20, "after_imports_gb": base / 2**20}))


def big_run() -> dict:
    DATA.mkdir(exist_ok=True)
    path = DATA / "synthetic-100m.parquet"
    if not path.exists():
        r = synthetic(2_000_000, 200_000, 100_000_000, rank=10, noise=0.5,
                      rating_scale=(1, 5), discrete=True, random_state=0)
        latentrec.write_ratings(r, path)
        del r
    out = subprocess.run([sys.executable, __file__, "--big-child", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------
def machine() -> str:
    return f"{describe()}, numpy {np.__version__}, numba {numba.__version__}"


def table(rows) -> str:
    head = ("| data | method | s/epoch | CPU s/epoch | ratings/s | quiet epochs | "
            "held-out RMSE (20 epochs) |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        rmse = "" if r["rmse"] is None else f"{r['rmse']:.4f}"
        quiet = "" if r.get("quiet") is None else "{} of {}".format(*r["quiet"])
        cpu = f"{np.median(r['cpu']):.4f}" if r.get("cpu") else ""
        lines.append(f"| {r['data']} | {r['method']} | {r['epoch_s']:.4f} | {cpu} | "
                     f"{r['ratings_per_s'] / 1e6:.2f} M | {quiet} | {rmse} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", action="store_true", help="also the 100M-rating memory run")
    ap.add_argument("--skip-notebook", action="store_true")
    ap.add_argument("--repeats", type=int, default=8,
                    help="short 1- and 2-thread fits on the 10M set, in turn (default 8 each)")
    ap.add_argument("--short-epochs", type=int, default=4,
                    help="epochs of each short fit (default 4)")
    ap.add_argument("--big-only", action="store_true", help="only the 100M memory run")
    ap.add_argument("--big-child", help=argparse.SUPPRESS)
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe_child(args.probe)
        return
    if args.big_child:
        big_child(args.big_child)
        return
    print(machine())
    if args.big_only:
        print_big(big_run())
        return
    ml = datasets.load("ml-100k").ratings
    train, test = holdout(ml, 0.2, random_state=0)
    latentrec_row("ML-100K", train, test, 1, epochs=1)  # compile the kernels first
    latentrec_row("ML-100K", train, test, 2, epochs=1)
    rows = [latentrec_row("ML-100K", train, test, 1), latentrec_row("ML-100K", train, test, 2),
            surprise_row(train, test)]
    if not args.skip_notebook:
        rows.append(notebook_row(train))
    big_train, big_test = holdout(synthetic_10m(), 0.2, random_state=0)
    probe = save_probe_layout(big_train)
    capacity = process_scaling(probe)
    latentrec_row("synthetic 10M", big_train, big_test, 2, epochs=1)  # page in, warm up
    alternating, pairs = alternating_rows("synthetic 10M", big_train, big_test,
                                          args.repeats, args.short_epochs)
    rows += [*alternating, hogwild_row(big_train, big_test, 2)]
    rows += [latentrec_row("synthetic 10M", big_train, big_test, 2, label=" constant 0.01",
                           learning_rate_schedule="constant", learning_rate=0.01,
                           init_scale=0.1),
             latentrec_row("synthetic 10M", big_train, big_test, 2, label=" adaptive 0.1",
                           learning_rate=0.1)]
    rows += libmf_rows(big_train, big_test)
    capacity += process_scaling(probe)
    print(table(rows))
    by = {(r["data"], r["method"]): r for r in rows}
    one = by[("ML-100K", "latentrec SGD, 1 thread")]["ratings_per_s"]
    sur = by[("ML-100K", "scikit-surprise SVD")]["ratings_per_s"]
    s1 = by[("synthetic 10M", "latentrec SGD, 1 thread")]["ratings_per_s"]
    s2 = by[("synthetic 10M", "latentrec SGD, 2 threads")]["ratings_per_s"]
    hog = by[("synthetic 10M", "plain numba Hogwild, 2 threads")]["ratings_per_s"]
    print(f"\nML-100K, 1 thread: {one / sur:.1f}x scikit-surprise SVD (target >= 5x)")
    if not args.skip_notebook:
        nb = by[("ML-100K", "notebook loop (pure Python)")]["ratings_per_s"]
        print(f"ML-100K, 1 thread: {one / nb:,.0f}x the notebook loop")
    const = by[("synthetic 10M", "latentrec SGD constant 0.01, 2 threads")]["ratings_per_s"]
    print(f"10M, 2 threads: {s2 / hog:.1f}x plain Hogwild with 2 threads (the default, "
          f"adaptive step); the constant step, Hogwild's own: {const / hog:.1f}x "
          "(target >= 5x)")
    print(f"10M, scaling 1 -> 2 threads: {s2 / s1:.2f}x over all epochs (target >= 1.7x); "
          f"fit by fit, in the order run: {', '.join(f'{p:.2f}x' for p in pairs)}")
    cpu = {r["threads"]: np.median(r["cpu"]) for r in rows
           if r["data"] == "synthetic 10M" and r.get("cpu")}
    print(f"10M, CPU seconds an epoch takes with 2 threads: {cpu[2] / cpu[1]:.2f}x those of 1 "
          "thread (a waiting thread uses none, so this is how much slower a core works "
          "while the other works too)")
    print("10M, what the host gives: two one-thread processes of the same kernel against "
          f"one: {np.median(capacity):.2f}x (median; ideal 2x); "
          f"three times before and three after the 10M runs: "
          f"{', '.join(f'{c:.2f}x' for c in capacity)}")
    if args.big:
        print_big(big_run())


def print_big(big: dict) -> None:
    print(f"\n100M ratings, K=64, 20 epochs: load {big['load_s']:.1f} s, fit "
          f"{big['fit_s']:.1f} s ({big['ratings_per_s'] / 1e6:.1f} M ratings/s per epoch), "
          f"peak memory of the training process {big['peak_gb']:.2f} GB (target < 4 GB; "
          f"{big['after_imports_gb']:.2f} GB after imports)")


if __name__ == "__main__":
    main()

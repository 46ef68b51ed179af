"""Time latentrec.read_ratings against pandas.read_csv and pyarrow.csv on a large ratings CSV.

    python benchmarks/io.py                      # 10 million rows, 5 runs each
    python benchmarks/io.py --rows 1000000 --repeat 3
    python benchmarks/io.py --repeated 20000     # 20,000 rows repeat another row's pair

The file (integer user, integer item, float rating, integer timestamp; 200,000 users x
20,000 items, no repeated pair unless ``--repeated``) is generated once with numpy and kept
in ``bench-data/``. ``read_ratings`` resolves repeated pairs (its default keeps the latest
rating of each), which the other readers do not do.
Each measurement runs in a fresh Python process that imports numpy, pandas, pyarrow and
latentrec, notes its resident memory, then makes one timed call. ``pyarrow.csv`` reads with
the column types given (int64 ids and timestamps, float32 ratings) and its threads on; it
returns an Arrow table, without the id maps and checks of ``read_ratings``. "cold" is that
process's first read of anything (for latentrec it includes the one-time start-up of its
compiled reader, loaded from numba's on-disk cache); "warm" first reads a 3-line file,
untimed, then notes the resident memory and times the big read. Peak memory growth is
``ru_maxrss`` at the end minus the noted resident memory. The runs alternate between the
readers; the table shows the best time of each, its ratio to pandas' best ("best/best"),
the median of the ratios of neighbouring runs ("paired", steadier on a shared machine), and
the smallest peak growth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _machine import describe

ROOT = Path(__file__).resolve().parent.parent
N_USERS, N_ITEMS = 200_000, 20_000


def generate(path: Path, rows: int, seed: int = 0, repeated: int = 0) -> None:
    """``rows`` distinct (user, item) pairs in random order; ``repeated`` of the rows then
    take the pair of another row (so that many pairs repeat, as in an interaction log)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, N_USERS * N_ITEMS, size=int(rows * 1.02) + 10))
    keys = rng.permutation(keys)[:rows]
    keys[rng.integers(0, rows, repeated)] = keys[rng.integers(0, rows, repeated)]
    table = pa.table({
        "user": keys // N_ITEMS,
        "item": keys % N_ITEMS,
        "rating": (rng.integers(1, 11, size=rows) / 2).astype(np.float32),
        "timestamp": rng.integers(789_652_009, 1_700_000_000, size=rows),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(b"user,item,rating,timestamp\n")
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False))
    os.replace(tmp, path)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(reader: str, path: str) -> None:
    """One measurement, printed as JSON."""
    import resource
    import tempfile

    import numpy as np  # noqa: F401
    import pandas as pd
    import pyarrow  # noqa: F401

    import latentrec
    from latentrec.kernels import csv_tokens  # noqa: F401  (the compiled reader's module)

    name, _, mode = reader.partition(":")
    read = {"latentrec": latentrec.read_ratings, "pandas": pd.read_csv,
            "pyarrow": _pyarrow_typed}[name]
    if mode == "warm":
        with tempfile.TemporaryDirectory() as d:
            tiny = Path(d) / "tiny.csv"
            tiny.write_text("user,item,rating,timestamp\n1,2,3.5,4\n5,6,7,8\n")
            read(tiny)
    base = _rss_mb()
    t0 = time.perf_counter()
    rows = len(read(path))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"reader": reader, "seconds": seconds, "rows": rows,
                      "peak_growth_mb": peak - base, "base_mb": base,
                      "latentrec": latentrec.__file__}))


def _pyarrow_typed(path):
    """``pyarrow.csv.read_csv`` with every column's type given (threads on, its default)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"user": pa.int64(), "item": pa.int64(), "rating": pa.float32(),
             "timestamp": pa.int64()}
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def machine() -> str:
    import numpy
    import pandas
    import pyarrow

    return (f"{describe()}; numpy {numpy.__version__}; pandas {pandas.__version__}; "
            f"pyarrow {pyarrow.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--repeated", type=int, default=0,
                    help="rows given the (user, item) pair of another row (default 0)")
    ap.add_argument("--data-dir", default=str(ROOT / "bench-data"))
    ap.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    tag = f"-{args.repeated}-repeated" if args.repeated else ""
    path = Path(args.data_dir) / f"ratings-{args.rows}{tag}.csv"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.rows, repeated=args.repeated)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    load_start = os.getloadavg()[0]
    # one untimed run so that the compiled reader's on-disk cache exists
    subprocess.run([sys.executable, __file__, "--child", "latentrec", str(path)], env=env,
                   check=True, capture_output=True)
    results = {f"{name}:{mode}": [] for mode in ("cold", "warm")
               for name in ("latentrec", "pandas", "pyarrow")}
    for _ in range(args.repeat):
        for reader in results:
            out = subprocess.run([sys.executable, __file__, "--child", reader, str(path)],
                                 env=env, check=True, capture_output=True, text=True)
            results[reader].append(json.loads(out.stdout.strip().splitlines()[-1]))
    load_end = os.getloadavg()[0]
    final_mb = args.rows * (4 + 4 + 4 + 8) / 2**20
    best = {k: min(v, key=lambda m: m["seconds"]) for k, v in results.items()}
    labels = {"latentrec": "latentrec.read_ratings", "pandas": "pandas.read_csv",
              "pyarrow": "pyarrow.csv (typed columns)"}
    print(machine())
    print("latentrec imported from " + ", ".join(sorted(
        {m["latentrec"] for v in results.values() for m in v})))
    print(f"1-minute load average: {load_start:.1f} at the start, {load_end:.1f} at the end")
    print(f"file: {path.name}, {path.stat().st_size / 2**20:.0f} MiB, {args.rows:,} rows; "
          f"final arrays {final_mb:.0f} MiB (int32 users, int32 items, float32 ratings, "
          "int64 timestamps)")
    print(f"{'reader':<36}{'best s':>8}{'median s':>10}{'best/best':>11}"
          f"{'paired':>8}{'peak growth MiB':>17}{'x final arrays':>16}")
    med = {k: sorted(m["seconds"] for m in v)[len(v) // 2] for k, v in results.items()}
    for reader in results:
        name, _, mode = reader.partition(":")
        b = best[reader]
        growth = min(m["peak_growth_mb"] for m in results[reader])
        ref = best[f"pandas:{mode}"]["seconds"]
        # the median over repeats of (this run / the pandas run next to it): steadier than
        # best/best when other work shares the machine
        pairs = sorted(m["seconds"] / p["seconds"]
                       for m, p in zip(results[reader], results[f"pandas:{mode}"]))
        print(f"{labels[name] + ' (' + mode + ')':<36}{b['seconds']:>8.2f}{med[reader]:>10.2f}"
              f"{b['seconds'] / ref:>11.2f}{pairs[len(pairs) // 2]:>8.2f}{growth:>17.0f}"
              f"{growth / final_mb:>16.2f}")
    for mode in ("cold", "warm"):  # the two fast readers against each other
        ours, theirs = results[f"latentrec:{mode}"], results[f"pyarrow:{mode}"]
        pairs = sorted(p["seconds"] / m["seconds"] for m, p in zip(ours, theirs))
        print(f"pyarrow.csv time / latentrec.read_ratings time ({mode}): best/best "
              f"{best[f'pyarrow:{mode}']['seconds'] / best[f'latentrec:{mode}']['seconds']:.2f}"
              f", paired {pairs[len(pairs) // 2]:.2f}")
    print("all runs (s): " + "; ".join(
        f"{k} " + " ".join(f"{m['seconds']:.2f}" for m in v) for k, v in results.items()))


if __name__ == "__main__":
    main()

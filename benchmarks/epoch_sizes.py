"""Seconds an SGD epoch at several numbers of factors, now and, alternating in one run, at
another version of the source.

    python benchmarks/epoch_sizes.py                                  # this source only
    git worktree add ../before <commit>
    python benchmarks/epoch_sizes.py --before ../before/src --repeats 2 \\
        [--factors 8 16 20 32 64 100 200] [--dtype float32] [--epochs 6]

The data is the 10M-rating synthetic split of benchmarks/time_to_accuracy.py (8M ratings
to train), 2 threads, the default adaptive step, ``random_state=0``. Each version runs in
a process of its own (``PYTHONPATH`` set to its source), the versions alternating; for
each K a 1-epoch fit loads the compiled code, then a fit of ``--epochs`` epochs is timed
by its ``history_``. A row is the fastest epoch of the version's fastest repeat; the last
column is now / before.
"""

from __future__ import annotations

from time_to_accuracy import run, versions_of, versions_parser

_ONE_RUN = """
import json, sys, warnings
warnings.simplefilter("ignore")
from latentrec import SGDMatrixFactorization
from latentrec.data import holdout, synthetic
r = synthetic(200_000, 20_000, 10_000_000, rank=10, noise=0.5, popularity_skew=1.0,
              rating_scale=(1, 5), discrete=True, random_state=0)
train, _ = holdout(r, 0.2, random_state=0)
dtype, epochs = sys.argv[1], int(sys.argv[2])
out = {}
for k in map(int, sys.argv[3:]):
    def fit(n):
        return SGDMatrixFactorization(n_factors=k, n_epochs=n, n_threads=2, dtype=dtype,
                                      random_state=0).fit(train)
    fit(1)
    out[k] = min(h["seconds"] for h in fit(epochs).history_)
print("RESULT " + json.dumps(out))
"""


def main() -> None:
    ap = versions_parser(__doc__)
    ap.add_argument("--factors", type=int, nargs="+", default=[8, 16, 20, 32, 64, 100, 200])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    versions = versions_of(args)
    best: dict = {}
    for _ in range(args.repeats):
        for name, src in versions.items():
            seconds = run(src, _ONE_RUN, (args.dtype, args.epochs, *args.factors))
            print(f"  {name:6s} " + "  ".join(f"K={k} {s:.4f} s" for k, s in seconds.items()),
                  flush=True)
            for k, s in seconds.items():
                best[(name, k)] = min(s, best.get((name, k), s))
    print(f"\n{args.dtype}, fastest of {args.epochs} epochs, 8M ratings, 2 threads\n")
    print("| K | " + " | ".join(versions) + (" | now / before |" if args.before else " |"))
    print("|---:|" + "---:|" * (len(versions) + bool(args.before)))
    for k in map(str, args.factors):
        row = [f"{best[(name, k)]:.4f} s" for name in versions]
        if args.before:
            row.append(f"{best[('now', k)] / best[('before', k)]:.2f}")
        print(f"| {k} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

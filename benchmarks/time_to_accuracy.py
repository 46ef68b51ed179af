"""Time to accuracy of SGD's defaults: 20 epochs, and the default fit (n_epochs="auto"),
now and, side by side in one run, at another version of the source.

    python benchmarks/time_to_accuracy.py                      # this source only
    git worktree add ../before <commit>
    python benchmarks/time_to_accuracy.py --before ../before/src --repeats 2

The data is the 10M-rating synthetic set of benchmarks/sgd.py (``synthetic(200_000,
20_000, 10_000_000, rank=10, noise=0.5, popularity_skew=1.0, rating_scale=(1, 5),
discrete=True, random_state=0)``, 80% of it to train by ``holdout(..., 0.2,
random_state=0)``), K = 100, every other setting the default, ``random_state=0``, on all
cores. Each version runs in a process of its own (``PYTHONPATH`` set to its source), the
versions alternating, after a 2-epoch fit that loads the compiled code; each row is the
version's fastest repeat. Printed: wall seconds of ``fit``, epochs run (the search and the
refit), and held-out RMSE of ``predict`` (clipped, as by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _machine import describe

_ONE_RUN = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from latentrec import SGDMatrixFactorization
from latentrec.data import holdout, synthetic
from latentrec.evaluation import evaluate
r = synthetic(200_000, 20_000, 10_000_000, rank=10, noise=0.5, popularity_skew=1.0,
              rating_scale=(1, 5), discrete=True, random_state=0)
train, test = holdout(r, 0.2, random_state=0)
SGDMatrixFactorization(n_factors=100, n_epochs=2, random_state=0).fit(train)
out = []
for n_epochs in (20, "auto"):
    m = SGDMatrixFactorization(n_factors=100, n_epochs=n_epochs, random_state=0)
    t = time.perf_counter()
    m.fit(train)
    wall = time.perf_counter() - t
    refit = sum(h.get("stage") == "refit" for h in m.history_)
    out.append({"n_epochs": n_epochs, "wall": wall, "epochs": len(m.history_) - refit,
                "refit": refit, "rmse": evaluate(m, train, test, ["rmse"], fitted=True)["rmse"]})
print("RESULT " + json.dumps(out))
"""


def run(src: Path, code: str = _ONE_RUN, argv: tuple = ()):
    """What ``code`` prints after "RESULT " (JSON), run in a fresh process with
    ``PYTHONPATH`` set to ``src`` and ``argv`` as its arguments."""
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", code, *map(str, argv)], env=env,
                          capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def versions_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a now-and-before benchmark: --before (a src folder), --repeats."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--before", type=Path, help="another version's src folder")
    ap.add_argument("--repeats", type=int, default=1)
    return ap


def versions_of(args) -> dict[str, Path]:
    """{"now": this checkout's src[, "before": --before]}; prints the machine first."""
    here = Path(__file__).resolve().parents[1] / "src"
    print(describe(), flush=True)
    return {"now": here} | ({"before": args.before.resolve()} if args.before else {})


def main() -> None:
    args = versions_parser(__doc__).parse_args()
    versions = versions_of(args)
    best: dict = {}
    for _ in range(args.repeats):
        for name, src in versions.items():
            for row in run(src):
                key = (name, str(row["n_epochs"]))
                if key not in best or row["wall"] < best[key]["wall"]:
                    best[key] = row
                print(f"  {name:6s} n_epochs={row['n_epochs']!s:4s} {row['wall']:6.1f} s  "
                      f"{row['epochs']} + {row['refit']} epochs  RMSE {row['rmse']:.4f}",
                      flush=True)
    print("\n| version | n_epochs | fit seconds | epochs (search + refit) | held-out RMSE |")
    print("|---|---|---:|---|---:|")
    for (name, n_epochs), row in best.items():
        print(f"| {name} | {n_epochs} | {row['wall']:.1f} | {row['epochs']} + {row['refit']} "
              f"| {row['rmse']:.4f} |")
    if args.before:
        ratio = best[("now", "auto")]["wall"] / best[("before", "auto")]["wall"]
        print(f"\nn_epochs='auto': now / before = {ratio:.2f} of the wall time")


if __name__ == "__main__":
    main()

"""latentrec's ImplicitALS and BPR beside the ``implicit`` package, in one run.

    python benchmarks/implicit.py                              # print the table
    python benchmarks/implicit.py --write docs/benchmarks.md   # and put it in the docs

It takes about 25 minutes on 2 cores and needs about 3 GB of memory.

Two data sets, both read as implicit feedback (a pair is an interaction, value 1):
  * ML-100K, the ratings >= 4;
  * synthetic: ``latentrec.data.synthetic`` ratings (100,000 users x 20,000 items, 39M
    ratings, seed 0), the ones >= 4, about 10 million interactions.
Each is split by ``user_holdout(data, random_state=0)`` (20% of every user's items held
out); quality is NDCG@10 and precision@10 with every held-out item relevant, measured by
``latentrec.evaluation.evaluate`` for both libraries (the ``implicit`` factors are loaded
into a latentrec model so both are ranked by the same code), on all test users of ML-100K
and on 20,000 test users drawn once (seed 0) for the synthetic set.

Both libraries get the same factors, iterations, regularization, alpha, learning rate and
threads (``implicit``'s ``num_threads``, on CPU). Both train in float32. BLAS is held to one
thread (as ``implicit`` asks). The peers run alternately, ``--small-repeats`` times on
ML-100K and ``--repeats`` times on the synthetic set; seconds per
iteration are the median interval between iteration callbacks, best of the repeats, and
quality is the median over repeats (BPR on several threads is not repeatable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# This file is named like the package it measures: keep its folder off the import path,
# so that ``import implicit`` finds the package, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE))
from _machine import describe  # noqa: E402 - the one module wanted from this folder

sys.path.pop(0)

import numba
import numpy as np

import latentrec
import latentrec.datasets
from latentrec import BPR, IdMap, ImplicitALS, Popularity, Ratings
from latentrec.data import synthetic, user_holdout
from latentrec.evaluation import evaluate
from latentrec.models import Recommender

SECTION = "## Implicit feedback: ImplicitALS and BPR vs implicit"
METRICS = ("ndcg", "precision")
K = 64
EVAL_USERS = 20_000

# (data set) -> settings shared by both libraries
SETTINGS = {
    "ML-100K >= 4": {
        "als": {"iterations": 15, "regularization": 0.1, "alpha": 5.0},
        "bpr": {"iterations": 100, "learning_rate": 0.01, "regularization": 0.01}},
    "synthetic 10M": {
        "als": {"iterations": 15, "regularization": 50.0, "alpha": 10.0},
        "bpr": {"iterations": 20, "learning_rate": 0.01, "regularization": 0.01}},
}


# -- data ----------------------------------------------------------------------------------
def as_implicit(r: Ratings, threshold: float) -> Ratings:
    keep = r.values >= threshold
    return Ratings(r.users[keep], r.items[keep], np.ones(int(keep.sum()), np.float32),
                   user_map=r.user_map, item_map=r.item_map)


def ml100k() -> Ratings:
    return as_implicit(latentrec.datasets.load("ml-100k").ratings, 4)


def synthetic_10m(n_ratings: int) -> Ratings:
    r = synthetic(n_users=100_000, n_items=20_000, n_ratings=n_ratings, random_state=0)
    out = as_implicit(r, 4)
    return Ratings(out.users, out.items, out.values, user_map=IdMap.range(r.n_users),
                   item_map=IdMap.range(r.n_items))


def eval_subset(test: Ratings, n_users: int | None) -> Ratings:
    users = np.unique(test.users)
    if n_users is None or users.size <= n_users:
        return test
    chosen = np.zeros(test.n_users, bool)
    chosen[np.random.default_rng(0).choice(users, n_users, replace=False)] = True
    return test.subset(chosen[test.users])


# -- the peers -----------------------------------------------------------------------------
class Loaded(Recommender):
    """Factors trained elsewhere, ranked by latentrec's own code."""

    def __init__(self):
        pass

    def load(self, train, user_factors, item_factors):
        self._set_fitted(train, user_factors=np.ascontiguousarray(user_factors),
                         item_factors=np.ascontiguousarray(item_factors))
        return self


class Clock:
    """Times between iteration callbacks (the first one counted from the fit's start)."""

    def __init__(self):
        self.marks = [time.perf_counter()]

    def __call__(self, *args, **kwargs):
        self.marks.append(time.perf_counter())

    def per_iteration(self) -> float:
        return float(np.median(np.diff(self.marks)))


def fit_latentrec(kind, train, s, threads):
    model = (ImplicitALS(n_factors=K, n_epochs=s["iterations"], regularization=s["regularization"],
                         alpha=s["alpha"], n_threads=threads, random_state=0)
             if kind == "als" else
             BPR(n_factors=K, n_epochs=s["iterations"], learning_rate=s["learning_rate"],
                 regularization=s["regularization"], n_threads=threads, random_state=0))
    clock = Clock()
    model.fit(train, callback=clock)
    return model, clock.per_iteration(), clock.marks[-1] - clock.marks[0]


def fit_implicit(kind, train, s, threads):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if kind == "als":
        model = AlternatingLeastSquares(factors=K, iterations=s["iterations"],
                                        regularization=s["regularization"], alpha=s["alpha"],
                                        num_threads=threads, random_state=0)
    else:
        model = BayesianPersonalizedRanking(factors=K, iterations=s["iterations"],
                                            learning_rate=s["learning_rate"],
                                            regularization=s["regularization"],
                                            num_threads=threads, random_state=0)
    csr = train.to_csr()
    clock = Clock()
    model.fit(csr, show_progress=False, callback=clock)
    loaded = Loaded().load(train, model.user_factors, model.item_factors)
    return loaded, clock.per_iteration(), clock.marks[-1] - clock.marks[0]


def quality(model, train, test) -> dict:
    out = evaluate(model, train, test, METRICS, k=10, fitted=True)
    return {"ndcg": out["ndcg@10"], "precision": out["precision@10"]}


def run_dataset(name, data, repeats, threads, eval_users):
    train, test = user_holdout(data, random_state=0)
    test = eval_subset(test, eval_users)
    print(f"{name}: {data.n_ratings:,} interactions, {data.n_users:,} users, "
          f"{data.n_items:,} items; train {train.n_ratings:,}, test users "
          f"{np.unique(test.users).size:,}", flush=True)
    rows = [{"data": name, "model": "Popularity (reference)",
             **{f"lr_{k}": v for k, v in quality(Popularity().fit(train), train, test).items()}}]
    for kind in ("als", "bpr"):
        s = SETTINGS[name][kind]
        runs = {"latentrec": [], "implicit": []}
        for rep in range(repeats):
            order = ("latentrec", "implicit") if rep % 2 == 0 else ("implicit", "latentrec")
            for lib in order:
                fit = fit_latentrec if lib == "latentrec" else fit_implicit
                model, per_iter, total = fit(kind, train, s, threads)
                q = quality(model, train, test)
                runs[lib].append({"per_iter": per_iter, "fit": total, **q})
                print(f"  {kind} {lib} repeat {rep + 1}: {per_iter:.4f} s/iteration, fit "
                      f"{total:.2f} s, NDCG@10 {q['ndcg']:.4f}, P@10 {q['precision']:.4f}",
                      flush=True)
        row = {"data": name, "model": "ImplicitALS" if kind == "als" else "BPR",
               "settings": s}
        for lib, key in (("latentrec", "lr"), ("implicit", "im")):
            row[f"{key}_per_iter"] = min(r["per_iter"] for r in runs[lib])
            row[f"{key}_fit"] = min(r["fit"] for r in runs[lib])
            for m in METRICS:
                row[f"{key}_{m}"] = float(np.median([r[m] for r in runs[lib]]))
        rows.append(row)
    return rows


def warm_up(threads):
    """Load (or compile) both libraries' code before anything is timed."""
    tiny = synthetic(200, 100, 3000, random_state=1)
    tiny = as_implicit(tiny, 3)
    for kind in ("als", "bpr"):
        s = {"iterations": 2, "regularization": 0.1, "alpha": 2.0, "learning_rate": 0.01}
        fit_latentrec(kind, tiny, s, threads)
        fit_implicit(kind, tiny, s, threads)


# -- report --------------------------------------------------------------------------------
def machine(threads) -> str:
    import implicit

    return (f"{describe()}; {threads} threads for both libraries; numpy {np.__version__}, "
            f"numba {numba.__version__}, implicit {implicit.__version__} (CPU), latentrec "
            f"{latentrec.__version__}")


def table(rows) -> str:
    header = ("| data | model | settings | s/iteration latentrec | s/iteration implicit | "
              "ratio | NDCG@10 latentrec | NDCG@10 implicit | P@10 latentrec | "
              "P@10 implicit |")
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "settings" not in r:
            lines.append(f"| {r['data']} | {r['model']} | | | | | {r['lr_ndcg']:.4f} | | "
                         f"{r['lr_precision']:.4f} | |")
            continue
        s = ", ".join(f"{k}={v:g}" for k, v in r["settings"].items())
        ratio = r["lr_per_iter"] / r["im_per_iter"]
        lines.append(f"| {r['data']} | {r['model']} | {s} | {r['lr_per_iter']:.4f} | "
                     f"{r['im_per_iter']:.4f} | {ratio:.2f} | {r['lr_ndcg']:.4f} | "
                     f"{r['im_ndcg']:.4f} | {r['lr_precision']:.4f} | "
                     f"{r['im_precision']:.4f} |")
    return "\n".join(lines)


def summary(rows) -> str:
    out = []
    for r in rows:
        if "settings" not in r:
            continue
        out.append(f"- {r['data']}, {r['model']}: {r['lr_per_iter'] / r['im_per_iter']:.2f}x "
                   f"implicit's time per iteration; NDCG@10 {_rel(r, 'ndcg')}, precision@10 "
                   f"{_rel(r, 'precision')} of implicit's.")
    return "\n".join(out)


def _rel(r, m) -> str:
    d = r[f"lr_{m}"] / r[f"im_{m}"] - 1.0
    return f"{d:+.1%}"


def section(rows, command, machine_line) -> str:
    wrapped = machine_line.replace("; ", ";\n")
    return f"""{SECTION}

Machine: {wrapped}.

Command: `{command}`

Both data sets are read as implicit feedback (every kept rating is one interaction, value
1): ML-100K's ratings >= 4, and the ratings >= 4 of `latentrec.data.synthetic(n_users=100_000,
n_items=20_000, n_ratings=39_000_000, random_state=0)`. Each is split by
`user_holdout(data, random_state=0)`; NDCG@10 and precision@10 count every held-out item as
relevant and rank all items the user has not interacted with in training, by
`latentrec.evaluation.evaluate` for both libraries (the `implicit` factors are loaded into
a latentrec model); on the synthetic set, over 20,000 test users drawn once. Both libraries
use K = {K} factors, the settings shown, the same thread count (`num_threads` for
`implicit`, on CPU) and float32 (`implicit` trains in float32 only), with BLAS on one
thread. The peers run alternately; seconds per iteration are the median time between
iteration callbacks, best of the repeats; quality is the median over the repeats. The
ratio is latentrec's time over implicit's (below 1: latentrec is faster).

{table(rows)}

{summary(rows)}

ImplicitALS takes `alpha` and `regularization` exactly as `implicit` does (confidence
alpha x value, plain L2 weight) and starts from the same random factors for the same seed,
so the two fit the same model and their quality agrees to rounding; the time difference is
the conjugate-gradient kernel (each user's item factors are gathered once per sweep into a
contiguous block that the CG steps stream through). The two BPRs share the update, the
item bias and the initialization but sample differently: latentrec visits every stored
pair once per epoch (users in a fresh random order, 32 at a time with their pairs
interleaved, which keeps their factor rows in cache) and draws negatives uniformly over
the items the user has not interacted with, redrawing known positives; `implicit` draws
pairs with replacement and negatives by popularity, skipping the triple when the negative
is a known positive. The quality difference in the BPR rows comes from the uniform
negatives (`BPR(negatives="popularity")` draws them by popularity, as `implicit` does, and
ranks worse on these sets). latentrec's BPR uses at most
one thread per 50,000 stored pairs, so on ML-100K it trains on one thread (more only
contend for the same item rows); there an iteration takes a few milliseconds, and the
ratio moves by 10% or more from run to run with the machine's other load.
"""


def write_section(path: Path, text: str) -> None:
    """Put ``text`` in ``path`` in place of this benchmark's section, leaving the rest."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        tail = "" if nxt < 0 else old[nxt:]
        new = old[:start] + text.rstrip("\n") + "\n" + tail
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="repeats on the synthetic set")
    ap.add_argument("--small-repeats", type=int, default=5, help="repeats on ML-100K")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--synthetic-ratings", type=int, default=39_000_000,
                    help="synthetic ratings drawn (those >= 4 are kept)")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--write", type=Path, help="put the section into this markdown file")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    machine_line = machine(args.threads)
    print(machine_line, flush=True)
    rows = []
    with threadpool_limits(1, "blas"):
        warm_up(args.threads)
        rows += run_dataset("ML-100K >= 4", ml100k(), args.small_repeats, args.threads, None)
        if not args.skip_synthetic:
            rows += run_dataset("synthetic 10M", synthetic_10m(args.synthetic_ratings),
                                args.repeats, args.threads, EVAL_USERS)
    print()
    print(table(rows))
    print()
    print(summary(rows))
    if args.write:
        command = "python benchmarks/implicit.py " + " ".join(sys.argv[1:])
        write_section(args.write, section(rows, command.strip(), machine_line))
        print(f"\nwrote the section to {args.write}")


if __name__ == "__main__":
    main()

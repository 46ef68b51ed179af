"""Top-10 for every user: latentrec's ``recommend_all`` beside ``implicit``'s batch
``recommend``, over the same factors, in one run.

    python benchmarks/recommend_all.py [--repeats 3] [--parts 40000] [--by rating]
                                       [--lead {off,0,4,8,16}]
    python benchmarks/recommend_all.py --variety

The model is latentrec's default SGD model at K=100, 20 epochs, on the 10M-rating
synthetic set of benchmarks/sgd.py (80% of it, ``holdout(..., 0.2, random_state=0)``),
trained once and kept in ``bench-data/``. Its ranking score (``recommend``'s default:
the predicted rating weighed with the interaction part, biases included) is one inner
product of augmented factors, ``A[u] . B[i]`` (``model._user_score_factors`` and
``model._item_score_factors``); ``implicit``'s ``AlternatingLeastSquares`` is handed A
and B as its user and item factors, so both rank every item by the same numbers. Both
exclude each user's training items, use 2 threads (numba's and BLAS's for latentrec;
``implicit``'s own, with BLAS held to one thread as it asks) and return 10 items for
each of the ~200,000 users. The runs alternate, ``--repeats`` of each; the table shows
the best time of each. latentrec is timed twice: its public ``recommend_all`` (long
tables with raw ids, the chunks concatenated) and its index-level loop
(``model._top_chunks``, what ``implicit`` returns: indices). The lists are compared user
by user: the same 10 items, or the same but for items whose scores tie (within 1e-5
relative) at the 10th place.

latentrec takes the coarse bound (kernels/coarse_topk.py) where the model's own measure
says it pays (models/bounded.py); ``--lead off`` makes it score every item, ``--lead W``
forces the bound with W turned columns. ``--by rating`` ranks by the predicted rating.
``--variety`` instead times, for SGD, ALS and ImplicitALS models on synthetic sets of
3,000 to 20,000 items of other ranks, popularity skews and scales, latentrec's
``_top_chunks`` over all users as the model decides against scoring every item, with the
width it chose and the seconds the choice took (no peer).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # not ./implicit.py
sys.path.insert(0, str(_HERE))
from _machine import describe  # noqa: E402

sys.path.pop(0)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import latentrec  # noqa: E402
from latentrec import SGDMatrixFactorization  # noqa: E402
from latentrec.data import holdout, synthetic  # noqa: E402

DATA = _HERE.parent / "bench-data"
MODEL = DATA / "sgd10m-k100.npz"


def trained_model():
    if not MODEL.exists():
        ratings = synthetic(200_000, 20_000, 10_000_000, rank=10, noise=0.5,
                            popularity_skew=1.0, rating_scale=(1, 5), discrete=True,
                            random_state=0)
        train, _ = holdout(ratings, 0.2, random_state=0)
        DATA.mkdir(exist_ok=True)
        SGDMatrixFactorization(n_factors=100, n_epochs=20, random_state=0).fit(train) \
            .save(MODEL)
    return latentrec.load(MODEL)


def latentrec_tables(model, n, by):
    return pd.concat(model.recommend_all(n=n, by=by), ignore_index=True)


def latentrec_indices(model, n, by):
    users = np.arange(len(model.user_map_))
    parts = [idx for _, idx, _ in model._top_chunks(users, n, True, None, by)]
    return np.vstack(parts)


def implicit_indices(peer, seen, n):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # as implicit asks: it runs its own threads
        ids, _ = peer.recommend(np.arange(seen.shape[0]), seen, N=n,
                                filter_already_liked_items=True)
    return ids


def same_lists(a, b, A, B) -> tuple[float, float]:
    """(share of users with the same 10 items, the same counting boundary ties)."""
    same = np.array([set(x) == set(y) for x, y in zip(a, b)])
    tied = same.copy()
    for u in np.flatnonzero(~same):
        s = A[u] @ B.T
        tenth = min(s[a[u]].min(), s[b[u]].min())
        diff = set(a[u]) ^ set(b[u])
        tied[u] = all(abs(s[i] - tenth) <= 1e-5 * abs(tenth) for i in diff)
    return float(same.mean()), float(tied.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--by", choices=["relevance", "rating"], default=None)
    ap.add_argument("--lead", choices=["off", "0", "4", "8", "16"], default=None,
                    help="score every item (off), or force the coarse bound with this "
                         "many turned columns (default: as the model decides)")
    ap.add_argument("--variety", action="store_true",
                    help="time the model's choice against scoring every item on varied "
                         "synthetic data instead")
    ap.add_argument("--parts", type=int, default=0, metavar="USERS",
                    help="also time, on one thread, the products and the selections of "
                         "the first USERS users in latentrec's worker chunks")
    args = ap.parse_args()
    if args.variety:
        return variety()
    import implicit
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.utils import check_blas_config
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(2)
    model = trained_model()
    with threadpool_limits(1, "blas"):
        check_blas_config()  # implicit's warning, once, where it holds
    by = model._check_by(args.by)
    force_lead(model, by, args.lead)
    users = np.arange(len(model.user_map_))
    A = model._user_score_factors(users, by)
    B = model._item_score_factors(by)
    seen = sp.csr_matrix((np.ones(model.seen_.indices.size, np.float32),
                          model.seen_.indices, model.seen_.indptr), shape=model.seen_.shape)
    peer = AlternatingLeastSquares(factors=A.shape[1], num_threads=2, random_state=0)
    peer.user_factors, peer.item_factors = A, B
    runs = {"latentrec recommend_all (raw-id tables)": lambda: latentrec_tables(model, args.n,
                                                                                by),
            "latentrec index loop (_top_chunks)": lambda: latentrec_indices(model, args.n, by),
            f"implicit {implicit.__version__} recommend": lambda: implicit_indices(peer, seen,
                                                                                   args.n)}
    for run in runs.values():  # compile, load, warm the caches
        run()
    best = {name: np.inf for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            out = run()
            best[name] = min(best[name], time.perf_counter() - start)
            if name.startswith("implicit"):
                theirs = out
    ours = latentrec_indices(model, args.n, by)
    same, tied = same_lists(ours, theirs, A, B)
    peer_s = best[next(n for n in runs if n.startswith("implicit"))]
    coarse = model._normed.get(("coarse", by))
    search = ("every item scored" if coarse is None else
              f"coarse bound, {coarse.V.shape[1]} turned columns")
    print(f"{describe()}; {len(users):,} users x {B.shape[0]:,} items, score width "
          f"{A.shape[1]} (by {by}; {search}), top-{args.n}, seen items excluded, best of "
          f"{args.repeats}\n")
    print("| run | seconds | implicit's time / this |")
    print("|---|---:|---:|")
    for name, s in best.items():
        print(f"| {name} | {s:.2f} | {peer_s / s:.2f}x |")
    print(f"\nsame 10 items as implicit: {same:.4%} of users; counting ties at the 10th "
          f"place: {tied:.4%}")
    if args.parts:
        product, select = one_thread_parts(model, min(args.parts, len(users)), args.n, by)
        print(f"one thread, the first {args.parts:,} users in worker chunks: products "
              f"{product:.2f} s, selections {select:.2f} s")


def force_lead(model, by, lead):
    """Keep the coarse bound the model decides on (lead None), none (off), or one of
    ``lead`` turned columns."""
    from latentrec.kernels.coarse_topk import CoarseBound

    if lead == "off":
        model._normed[("coarse", by)] = None
    elif lead is not None:
        model._normed[("coarse", by)] = CoarseBound(model._item_side(by)[0],
                                                    model.n_factors_, int(lead))
    else:
        model._coarse_bound(by, 10)


VARIETY = {
    "5,000 items, rank 10": dict(n_users=40_000, n_items=5_000, n_ratings=1_500_000,
                                 rank=10),
    "10,000 items, rank 50, noise 1": dict(n_users=30_000, n_items=10_000,
                                          n_ratings=1_500_000, rank=50, noise=1.0,
                                          popularity_skew=0.5),
    "20,000 items, rank 20, flat popularity": dict(n_users=30_000, n_items=20_000,
                                                   n_ratings=1_500_000, rank=20,
                                                   popularity_skew=0.0),
    "3,000 items, rank 8, 0-10 scale": dict(n_users=30_000, n_items=3_000,
                                           n_ratings=1_000_000, rank=8, noise=1.0,
                                           popularity_skew=1.5, rating_scale=(0, 10)),
}


def variety() -> None:
    from latentrec import ALSMatrixFactorization, ImplicitALS

    numba.set_num_threads(2)
    models = {"SGD K=50": lambda: SGDMatrixFactorization(n_factors=50, n_epochs=20,
                                                             random_state=0),
              "ALS K=32": lambda: ALSMatrixFactorization(n_factors=32, n_epochs=8,
                                                         random_state=0),
              "ImplicitALS K=64": lambda: ImplicitALS(n_factors=64, n_epochs=8,
                                                      random_state=0)}
    print(f"{describe()}; top-10 of every user, seen items excluded, best of 2\n")
    print("| data | model | by | width chosen | deciding s | chosen s | every item s | "
          "same lists |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for data_name, kw in VARIETY.items():
        data = synthetic(random_state=0, **kw)
        for model_name, make in models.items():
            model = make().fit(data)
            scores = [model._check_by(None)] + (
                ["rating"] if model._relevance_parts() is not None else [])
            for by in scores:
                model._normed.clear()
                start = time.perf_counter()
                chosen = model._coarse_bound(by, 10)
                deciding = time.perf_counter() - start
                ours, s_ours = best_of(model, by, 2)
                force_lead(model, by, "off")
                every, s_every = best_of(model, by, 2)
                same = np.mean([set(a) == set(b) for a, b in zip(ours, every)])
                width = "-" if chosen is None else chosen.V.shape[1]
                score = by if model.predicts_ratings else "its own score"
                print(f"| {data_name} | {model_name} | {score} | {width} | {deciding:.2f} | "
                      f"{s_ours:.2f} | {s_every:.2f} | {same:.4f} |", flush=True)


def best_of(model, by, repeats):
    seconds = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        lists = latentrec_indices(model, 10, by)
        seconds = min(seconds, time.perf_counter() - start)
    return lists, seconds


def one_thread_parts(model, n_users, n, by):
    """(seconds of products, seconds of selections) of the first ``n_users`` users, in
    the chunks a worker takes (models/base.py), one after the other on one thread."""
    from threadpoolctl import threadpool_limits

    from latentrec.kernels import topk
    from latentrec.models import base

    side = model._item_side(by)
    _, step = base._chunk_sizes(side[0].shape[0])
    seen = (model.seen_.indptr, model.seen_.indices)
    product = select = 0.0
    with threadpool_limits(1, "blas"):
        for s in range(0, n_users, step):
            chunk = np.arange(s, min(s + step, n_users))
            start = time.perf_counter()
            scores = model._score_rows(chunk, by, side)
            mid = time.perf_counter()
            topk.top_k(scores, n, seen=seen, rows=chunk, n_threads=1)
            product, select = product + mid - start, select + time.perf_counter() - mid
    return product, select


if __name__ == "__main__":
    main()

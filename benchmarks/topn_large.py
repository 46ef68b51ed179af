"""Top-10 over a million items: the bound index against scoring every item, and the
approximate-search libraries beside it.

    python benchmarks/topn_large.py [--users 10000] [--by rating] [--libraries]

The model is ``SGDMatrixFactorization(n_factors=100, n_epochs=10, random_state=0)`` on
``synthetic(n_users=100_000, n_items=1_000_000, n_ratings=20_000_000, rank=10, noise=0.5,
popularity_skew=1.0, rating_scale=(1, 5), discrete=True, random_state=0)``, trained once
and kept in ``bench-data/serve-1m.npz`` (about 10 minutes on 2 cores; benchmarks/
serve_load.py --scale 1m serves the same file). For ``--users`` random users (seed 0) it
times the top-10 with seen items excluded (``recommend``'s default score, biases and the
interaction part included) two ways on the same threads: exact scoring of every item in
chunks (what ``recommend`` does below ``models.bounded.MIN_ITEMS`` items) and the bound
index (models/bounded.py, what it does above). It prints the index's build time and
memory, each one's time per user, the ratio, and recall@10 of the bound search against
the exact lists (ties at the 10th place counted as found); then the same two ways for 300
new users folded in from 5 ratings each (their latency: p50, p99, max). ``--by rating``
ranks by the predicted rating instead (``recommend(..., by="rating")``: no interaction
part, so the factors decide, and the bound rules out less).

``--libraries`` adds the approximate-search libraries that were measured for this job
(hnswlib's HNSW on inner product, faiss's IVF on inner product), each asked for
10 + (the user's seen count) neighbours, re-ranked exactly, seen items dropped: their
build time, time per user and recall. They need ``pip install hnswlib faiss-cpu``; their
builds take minutes.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from _machine import describe

import latentrec
from latentrec import SGDMatrixFactorization
from latentrec.data import synthetic
from latentrec.kernels.bounded_topk import BoundIndex, bounded_top_k

MODEL = Path(__file__).resolve().parents[1] / "bench-data" / "serve-1m.npz"


def trained_model(path: Path = MODEL):
    """The 1M-item model, trained into ``path`` the first time."""
    if not path.exists():
        print(f"training the 1M-item model into {path} ...", flush=True)
        ratings = synthetic(n_users=100_000, n_items=1_000_000, n_ratings=20_000_000,
                            rank=10, noise=0.5, popularity_skew=1.0, rating_scale=(1, 5),
                            discrete=True, random_state=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        SGDMatrixFactorization(n_factors=100, n_epochs=10, random_state=0).fit(ratings) \
            .save(path)
        del ratings
        gc.collect()
    return latentrec.load(path)


def re_ranked(candidates, A, B, seen, users, k=10):
    """Each user's candidates without seen items, re-ranked by the exact score: (indices,
    scores)."""
    indptr, indices = seen
    out, out_s = np.full((len(users), k), -1), np.full((len(users), k), -np.inf)
    for r, (u, c) in enumerate(zip(users, candidates)):
        c = c[c >= 0].astype(np.int64)
        c = c[~np.isin(c, indices[indptr[u]:indptr[u + 1]])]
        s = B[c] @ A[r]
        best = np.lexsort((c, -s))[:k]
        out[r, :best.size], out_s[r, :best.size] = c[best], s[best]
    return out, out_s


def libraries(A, B, seen, users, exact_idx, exact_s, t_exact):
    """hnswlib and faiss rows, where installed."""
    n_seen = np.diff(seen[0])[users]
    k_each = np.minimum(10 + n_seen, 2000)
    rows = []
    try:
        import hnswlib
        t = time.perf_counter()
        index = hnswlib.Index(space="ip", dim=B.shape[1])
        index.init_index(B.shape[0], M=16, ef_construction=100)
        index.set_num_threads(2)
        index.add_items(B)
        build = time.perf_counter() - t
        for ef in (100, 400):
            t = time.perf_counter()
            found = []
            for r in range(len(users)):
                index.set_ef(max(ef, int(k_each[r])))
                found.append(index.knn_query(A[r:r + 1], k=int(k_each[r]))[0][0])
            q = time.perf_counter() - t
            rows.append((f"hnswlib HNSW ip, M=16, ef={ef}", build, q,
                         _recall(exact_idx, exact_s, *re_ranked(found, A, B, seen, users))))
    except ImportError:
        print("hnswlib not installed: left out")
    try:
        import faiss
        t = time.perf_counter()
        quantizer = faiss.IndexFlatIP(B.shape[1])
        index = faiss.IndexIVFFlat(quantizer, B.shape[1], 4096, faiss.METRIC_INNER_PRODUCT)
        index.train(B[::10])
        index.add(B)
        build = time.perf_counter() - t
        for nprobe in (16, 128):
            index.nprobe = nprobe
            t = time.perf_counter()
            found = [index.search(A[r:r + 1], int(k_each[r]))[1][0] for r in range(len(users))]
            q = time.perf_counter() - t
            rows.append((f"faiss IVF4096 ip, nprobe={nprobe}", build, q,
                         _recall(exact_idx, exact_s, *re_ranked(found, A, B, seen, users))))
    except ImportError:
        print("faiss-cpu not installed: left out")
    for name, build, q, rec in rows:
        print(f"{name:34s} build {build:7.1f} s  {q / len(users) * 1e3:7.3f} ms/user "
              f"({t_exact / q:5.1f}x exact)  recall@10 {rec:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--by", choices=("relevance", "rating"), default=None,
                    help="the score to rank by (default: recommend's)")
    ap.add_argument("--libraries", action="store_true")
    args = ap.parse_args()
    print(describe(), flush=True)
    model = trained_model()
    by = model._check_by(args.by)
    B = model._item_score_factors(by)
    rng = np.random.default_rng(0)
    users = np.sort(rng.choice(len(model.user_map_), args.users, replace=False))
    A = model._user_score_factors(users, by)
    seen = (model.seen_.indptr, model.seen_.indices)
    print(f"{B.shape[0]:,} items, score width {B.shape[1]}, {len(users):,} users "
          f"(median {int(np.median(np.diff(seen[0])[users]))} seen)", flush=True)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    index = BoundIndex(B, model.n_factors_)
    build = time.perf_counter() - t
    bounded_top_k(index, A[:200], 10, seen=seen, rows=users[:200])  # compiled code loaded
    model._top_chunks(users[:10], 10, True, None, by)

    exact_t, bound_t = [], []
    for _ in range(2):
        t = time.perf_counter()
        chunks = [c for c in _exact_chunks(model, users, by)]
        exact_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        b_idx, b_s = bounded_top_k(index, A, 10, seen=seen, rows=users)
        bound_t.append(time.perf_counter() - t)
    e_idx = np.vstack([c[1] for c in chunks])
    e_s = np.vstack([c[2] for c in chunks])
    t_exact, t_bound = min(exact_t), min(bound_t)
    same = np.mean([set(a) == set(b) for a, b in zip(e_idx.tolist(), b_idx.tolist())])
    print(f"\nbound index: built in {build:.1f} s, {index.nbytes / 2**20:.0f} MiB beside its "
          f"copy of the score's item side in tile order ({index.B.nbytes / 2**20:.0f} MiB, "
          f"which a model keeps in place of its own; peak RSS before it {rss / 2**10:.0f} MiB)")
    print(f"exact, every item scored      {t_exact / len(users) * 1e3:7.3f} ms/user")
    print(f"bound index                   {t_bound / len(users) * 1e3:7.3f} ms/user "
          f"({t_exact / t_bound:.1f}x exact)  recall@10 "
          f"{_recall(e_idx, e_s, b_idx, b_s):.4f}  identical lists {same:.2%}")
    folded(model, by, index)
    if args.libraries:
        libraries(A.astype(np.float32), B.astype(np.float32), seen, users, e_idx, e_s,
                  t_exact)
    print(f"\nthreads: {os.environ.get('NUMBA_NUM_THREADS', 'all')} (numba), BLAS default")


def folded(model, by, index, n_users=300):
    """New users folded in from 5 random ratings each (seed 1), as the service's POST
    /recommendations does: their top-10 by the bound index, one at a time, against
    scoring every item. Their factors come from a small ridge problem and are larger than
    trained users', so their bound rules out less: the index's worst case."""
    rng = np.random.default_rng(1)
    n_items = len(model.item_map_)
    times = {"exact": [], "bound index": []}
    same = 0
    scanned, norms, share = np.empty(1, np.int64), [], []
    for _ in range(n_users):
        items = rng.choice(n_items, 5, replace=False)
        user = model.fold_in(dict(zip(model.item_map_.to_ids(items).tolist(),
                                      rng.integers(1, 6, 5).astype(float).tolist())))
        row = model._folded_score_row(user, by)[None, :]
        seen = (np.array([0, 5]), np.sort(items))
        t = time.perf_counter()
        (e_ids, _), = model._top_n(model._folded_scores(user, by)[None, :], 10, None, seen)
        times["exact"].append(time.perf_counter() - t)
        t = time.perf_counter()
        b_idx, _ = bounded_top_k(index, row, 10, seen=seen, scanned=scanned)
        times["bound index"].append(time.perf_counter() - t)
        share.append(scanned[0] / index.tile_tail.shape[0])
        norms.append(np.linalg.norm(row[0, :model.n_factors_]))
        same += set(e_ids.tolist()) == set(model.item_map_.to_ids(b_idx[0]).tolist())
    trained = model._user_score_factors(np.arange(0, len(model.user_map_), 97), by)
    trained_norm = np.median(np.linalg.norm(trained[:, :model.n_factors_], axis=1))
    print(f"\n{n_users} folded-in users (5 ratings each), one at a time; identical lists "
          f"{same / n_users:.1%}; tiles scanned: median {np.median(share):.1%}, max "
          f"{max(share):.1%}; norm of the factor columns of their score rows: median "
          f"{np.median(norms):.2f} (trained users {trained_norm:.2f})")
    for name, ts in times.items():
        ms = np.array(ts) * 1e3
        print(f"{name:29s} p50 {np.median(ms):6.2f}  p99 {np.percentile(ms, 99):6.2f}  "
              f"max {ms.max():6.2f} ms")


def _exact_chunks(model, users, by):
    """The exact path, whatever the catalogue size: every item scored (models/bounded.py
    bypassed: neither the bound index nor the coarse bound)."""
    from latentrec.models import bounded
    keep = bounded.MIN_ITEMS, bounded.COARSE_MIN_ITEMS
    bounded.MIN_ITEMS = bounded.COARSE_MIN_ITEMS = sys.maxsize
    for kind in ("bound", "coarse"):
        model._normed.pop((kind, by), None)
    try:
        yield from model._top_chunks(users, 10, True, None, by)
    finally:
        bounded.MIN_ITEMS, bounded.COARSE_MIN_ITEMS = keep
        for kind in ("bound", "coarse"):
            model._normed.pop((kind, by), None)


def _recall(e_idx, e_s, f_idx, f_s) -> float:
    """Share of exact top-10 items found; where an exact item is missing, a found item
    whose score ties the exact 10th (1e-5 relative) counts in its place."""
    total = 0
    for ei, es, fi, fs in zip(e_idx, e_s, f_idx, f_s):
        found = set(fi[fi >= 0].tolist())
        hit = sum(j in found for j in ei[ei >= 0].tolist())
        extra = [s for j, s in zip(fi, fs) if j >= 0 and j not in set(ei.tolist())]
        tied = sum(np.isclose(s, es[-1], rtol=1e-5) for s in extra)
        total += min(10, hit + tied)
    return total / (10 * len(e_idx))


if __name__ == "__main__":
    main()

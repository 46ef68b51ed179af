"""Held-out accuracy of latentrec beside scikit-surprise, on the same folds, in one run.

    python benchmarks/accuracy.py                # ML-100K, 5-fold CV, u1 split, ablation
    python benchmarks/accuracy.py --folds 2 --skip-svdpp
    python benchmarks/accuracy.py --u1-only      # the u1 split and the feature ablation
    python benchmarks/accuracy.py --cold-only    # new users and items (cold_start_split)
    python benchmarks/accuracy.py --variety-only # synthetic scales, sparsities, exposures

The u1 split (GroupLens's u1.base / u1.test, ``datasets.load("ml-100k").split("u1")``) is
the one papers report on. Its table switches the factorization machine's feature groups
on one at a time (Rendle, Zhang and Koren's ablation), with fit times; predictions clipped
to 1-5 as in every table here.

The cold-start table holds out whole users and whole items
(``cold_start_split(ratings, 0.1, 0.1)``, split seeds 0-2): the factorization machine
with the bundled attributes against the bias baseline's fallback (the global mean plus
the known side's bias), overall and for each kind of test row.

The variety table runs the three rating models' defaults, and what ``latentrec train``
fits by default (``--algo auto``: tune()'s four fixed trials within 120 s), on synthetic
ratings of several sizes, sparsities, scales and exposure patterns
(``latentrec.data.synthetic``, holdout 0.2, seed 0), so that no default is judged on
MovieLens alone.

Models: latentrec's default SGDMatrixFactorization (untouched), latentrec tuned
(``latentrec.evaluation.tune`` run on each training fold only), latentrec's
BiasBaseline, and scikit-surprise's BaselineOnly, SVD and SVD++ with their defaults. Every
model sees the same folds (``latentrec.k_fold(ratings, 5, random_state=0)``). Also
reports NDCG@10 of the default SGD model beside the implicit-feedback models and the
popularity baseline (ratings >= 4 relevant; per-user 20% holdout; every model ranks all
items the user did not rate in training). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from latentrec import (
    BPR,
    BayesianFactorizationMachine,
    BayesianMatrixFactorization,
    BiasBaseline,
    ImplicitALS,
    Popularity,
    SGDMatrixFactorization,
    datasets,
)
from latentrec.cli.commands_train import AUTO_BUDGET, AUTO_TRIALS
from latentrec.data import cold_start_split, holdout, k_fold, synthetic, user_holdout
from latentrec.evaluation import evaluate, tune


def _scores(truth, pred) -> dict:
    err = np.asarray(pred, dtype=np.float64) - truth
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}


def latentrec_fold(model, train, test) -> dict:
    out = evaluate(model, train, test, ["rmse", "mae"])
    return {"rmse": out["rmse"], "mae": out["mae"], "fit_s": out["fit_seconds"]}


def tuned_fold(train, test, seed) -> dict:
    start = time.perf_counter()
    result = tune(train, random_state=seed)
    fit_s = time.perf_counter() - start
    out = evaluate(result.best_model, train, test, ["rmse", "mae"], fitted=True)
    name = type(result.best_model).__name__
    return {"rmse": out["rmse"], "mae": out["mae"], "fit_s": fit_s, "chosen": name}


def surprise_fold(algo_name, train, test) -> dict:
    import surprise

    df = train.to_dataframe()
    reader = surprise.Reader(rating_scale=(float(df.rating.min()), float(df.rating.max())))
    trainset = surprise.Dataset.load_from_df(df[["user", "item", "rating"]],
                                             reader).build_full_trainset()
    algo = {"BaselineOnly": lambda: surprise.BaselineOnly(verbose=False),
            "SVD": lambda: surprise.SVD(random_state=0),
            "SVD++": lambda: surprise.SVDpp(random_state=0)}[algo_name]()
    start = time.perf_counter()
    algo.fit(trainset)
    fit_s = time.perf_counter() - start
    tdf = test.to_dataframe()
    pred = [algo.predict(u, i).est for u, i in zip(tdf.user, tdf.item)]
    return dict(_scores(tdf.rating.to_numpy(), pred), fit_s=fit_s)


def accuracy_table(ratings, n_folds, skip_svdpp) -> pd.DataFrame:
    folds = k_fold(ratings, n_folds, random_state=0)
    runners = {
        "latentrec SGD (defaults)": lambda tr, te, f: latentrec_fold(
            SGDMatrixFactorization(random_state=f), tr, te),
        "latentrec BayesianMatrixFactorization": lambda tr, te, f: latentrec_fold(
            BayesianMatrixFactorization(random_state=0, ranking_factors=0), tr, te),
        "latentrec BayesianFactorizationMachine": lambda tr, te, f: latentrec_fold(
            BayesianFactorizationMachine(random_state=0, ranking_factors=0), tr, te),
        "latentrec tuned (tune() on the training fold)": lambda tr, te, f: tuned_fold(
            tr, te, f),
        "latentrec BiasBaseline": lambda tr, te, f: latentrec_fold(BiasBaseline(), tr, te),
        "surprise BaselineOnly": lambda tr, te, f: surprise_fold("BaselineOnly", tr, te),
        "surprise SVD": lambda tr, te, f: surprise_fold("SVD", tr, te),
    }
    if not skip_svdpp:
        runners["surprise SVD++"] = lambda tr, te, f: surprise_fold("SVD++", tr, te)
    rows = []
    for f, (train, test) in enumerate(folds):
        for name, run in runners.items():
            row = run(train, test, f)
            rows.append(dict(model=name, fold=f + 1, **row))
            print(f"fold {f + 1} {name}: {row}", flush=True)
    return pd.DataFrame(rows)


def ranking_table(ratings) -> pd.DataFrame:
    train, test = user_holdout(ratings, 0.2, random_state=0)
    rows = []
    for name, model in [("latentrec SGD (defaults)", SGDMatrixFactorization(random_state=0)),
                        ("latentrec ImplicitALS (defaults)", ImplicitALS(random_state=0)),
                        ("latentrec BPR (defaults)", BPR(random_state=0)),
                        ("Popularity", Popularity())]:
        out = evaluate(model, train, test, ["ndcg", "precision", "recall"], k=10,
                       relevance_threshold=4)
        rows.append({"model": name, "NDCG@10": out["ndcg@10"],
                     "precision@10": out["precision@10"], "recall@10": out["recall@10"]})
    return pd.DataFrame(rows)


#: The ablation: (row name, BayesianFactorizationMachine parameters, with attributes).
ABLATION = [
    ("user, item (no biases): BPMF with per-factor priors",
     dict(biases=False, implicit=False, flipped=False, time_bins=0), False),
    ("+ biases", dict(implicit=False, flipped=False, time_bins=0), False),
    ("+ implicit (SVD++)", dict(flipped=False, time_bins=0), False),
    ("+ flipped implicit", dict(time_bins=0), False),
    ("+ time bins (the defaults)", {}, False),
    ("+ user and item attributes", {}, True),
]


def u1_table(seeds) -> pd.DataFrame:
    ml = datasets.load("ml-100k")
    train, test = ml.split("u1")
    train = train.compacted()  # what evaluate fits on: u1.base's own users and items
    attrs = dict(user_attributes=ml.users[["age", "gender", "occupation"]],
                 item_attributes=ml.items[["year", "genres"]])
    rows = []
    for name, model in [("latentrec SGD (defaults)", SGDMatrixFactorization(random_state=0)),
                        ("latentrec BayesianMatrixFactorization",
                         BayesianMatrixFactorization(random_state=0, ranking_factors=0))]:
        rows.append(dict(model=name, **latentrec_fold(model, train, test)))
        print(rows[-1], flush=True)
    for name, params, with_attrs in ABLATION:
        model = BayesianFactorizationMachine(random_state=0, ranking_factors=0, **params)
        start = time.perf_counter()
        model.fit(train, **(attrs if with_attrs else {}))
        fit_s = time.perf_counter() - start
        out = evaluate(model, train, test, ["rmse", "mae"], fitted=True)
        rows.append(dict(model=f"BayesianFactorizationMachine: {name}", rmse=out["rmse"],
                         mae=out["mae"], fit_s=fit_s))
        print(rows[-1], flush=True)
    if not seeds:
        return pd.DataFrame(rows)
    defaults = [evaluate(BayesianFactorizationMachine(random_state=s, ranking_factors=0),
                         train, test, ["rmse"])["rmse"] for s in seeds]
    rows.append(dict(model=f"BayesianFactorizationMachine defaults, mean over seeds "
                           f"{seeds[0]}-{seeds[-1]}", rmse=float(np.mean(defaults)),
                     mae=float("nan"), fit_s=float("nan")))
    return pd.DataFrame(rows)


def cold_start_table(split_seeds) -> pd.DataFrame:
    ml = datasets.load("ml-100k")
    attrs = dict(user_attributes=ml.users[["age", "gender", "occupation"]],
                 item_attributes=ml.items[["year", "genres"]])
    rows = []
    for seed in split_seeds:
        train, test = cold_start_split(ml.ratings, 0.1, 0.1, random_state=seed)
        users, items = test.user_map.to_ids(test.users), test.item_map.to_ids(test.items)
        rated_u = set(train.user_map.to_ids(np.unique(train.users)).tolist())
        rated_i = set(train.item_map.to_ids(np.unique(train.items)).tolist())
        new_user = np.array([u not in rated_u for u in users.tolist()])
        new_item = np.array([i not in rated_i for i in items.tolist()])
        parts = {"all": np.ones(len(users), bool), "new user": new_user & ~new_item,
                 "new item": new_item & ~new_user, "both new": new_user & new_item}
        bfm = BayesianFactorizationMachine(random_state=0, ranking_factors=0)
        for name, model, kw in [("bias baseline (fallback)", BiasBaseline(), {}),
                                ("BayesianFactorizationMachine + attributes", bfm, attrs)]:
            start = time.perf_counter()
            model.fit(train, **kw)
            fit_s = time.perf_counter() - start
            stamps = {"timestamps": test.timestamps} if model is bfm else {}
            pred = model.predict(users, items, **stamps)
            row = {"split seed": seed, "model": name, "fit_s": fit_s}
            for part, mask in parts.items():
                row[f"rmse {part}"] = _scores(test.values[mask], pred[mask])["rmse"]
            rows.append(row)
            print(row, flush=True)
    return pd.DataFrame(rows)


#: (name, synthetic() arguments) of the variety table
VARIETY = [
    ("small, 1,000 ratings", dict(n_users=60, n_items=45, n_ratings=1000, discrete=True)),
    ("small, 3,000 ratings", dict(n_users=140, n_items=100, n_ratings=3000, discrete=True)),
    ("dense 1-5, 60,000", dict(n_users=1000, n_items=500, n_ratings=60000)),
    ("sparse 1-5, 40,000 (8 a user)", dict(n_users=5000, n_items=2000, n_ratings=40000)),
    ("users pick what they like, 1-100, 50,000",
     dict(n_users=2000, n_items=1000, n_ratings=50000, exposure=(1, 1),
          rating_scale=(1, 100))),
]


def _auto(train, test) -> dict:
    """What ``latentrec train`` (``--algo auto``, the default) fits, scored on ``test``."""
    start = time.perf_counter()
    result = tune(train, n_trials=AUTO_TRIALS, time_budget=AUTO_BUDGET, random_state=0)
    seconds = time.perf_counter() - start
    out = evaluate(result.best_model, train, test, ["rmse"], fitted=True)
    return {"auto rmse": out["rmse"], "auto fit s": seconds,
            "auto chose": type(result.best_model).__name__}


def variety_table() -> pd.DataFrame:
    rows = []
    for name, kw in VARIETY:
        train, test = holdout(synthetic(random_state=0, **kw), 0.2, random_state=0)
        row = {"data": name}
        for model in (BayesianFactorizationMachine(random_state=0, ranking_factors=0),
                      BayesianMatrixFactorization(random_state=0, ranking_factors=0),
                      SGDMatrixFactorization(random_state=0, ranking_factors=0)):
            out = evaluate(model, train, test, ["rmse"])
            label = type(model).__name__
            row[f"{label} rmse"], row[f"{label} fit s"] = out["rmse"], out["fit_seconds"]
        row.update(_auto(train, test))
        rows.append(row)
        print(row, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--skip-svdpp", action="store_true")
    ap.add_argument("--ranking-only", action="store_true")
    ap.add_argument("--u1-only", action="store_true")
    ap.add_argument("--cold-only", action="store_true")
    ap.add_argument("--variety-only", action="store_true")
    ap.add_argument("--seeds", type=int, default=5,
                    help="seeds 0..N-1 of the defaults' mean on u1 (0: skip)")
    args = ap.parse_args()
    ratings = datasets.load("ml-100k").ratings
    if args.variety_only:
        print("\nSynthetic variety, holdout 0.2 (seed 0):\n")
        print(variety_table().to_markdown(index=False, floatfmt=".4f"))
        return
    if args.cold_only:
        print("\nML-100K cold start, cold_start_split(0.1, 0.1):\n")
        print(cold_start_table([0, 1, 2]).to_markdown(index=False, floatfmt=".4f"))
        return
    if args.ranking_only:
        print(ranking_table(ratings).to_markdown(index=False, floatfmt=".4f"))
        return
    print("\nML-100K u1 split (train u1.base, test u1.test):\n")
    print(u1_table(list(range(args.seeds))).to_markdown(index=False, floatfmt=".4f"))
    if args.u1_only:
        return
    detail = accuracy_table(ratings, args.folds, args.skip_svdpp)
    summary = (detail.groupby("model", sort=False)
               .agg(rmse=("rmse", "mean"), rmse_std=("rmse", "std"), mae=("mae", "mean"),
                    fit_s=("fit_s", "mean")))
    print(f"\nML-100K, {args.folds}-fold CV (k_fold random_state=0), mean over folds:\n")
    print(summary.to_markdown(floatfmt=".4f"))
    if "chosen" in detail:
        print("\ntuned: model chosen per fold:",
              detail.dropna(subset=["chosen"])["chosen"].tolist())
    print("\nML-100K ranking, per-user 20% holdout, ratings >= 4 relevant:\n")
    print(ranking_table(ratings).to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()

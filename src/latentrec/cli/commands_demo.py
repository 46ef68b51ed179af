"""``latentrec demo``: the whole library in half a minute, on the bundled MovieLens-100K."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from . import options as O
from .inputs import check_folder, known_id
from .output import make_table

CURVE_FILE = "latentrec-demo-curve.png"
STAR_WARS = 50
#: Items with fewer ratings than this are left out of the "similar movies" list: with a
#: handful of ratings an item's factors say little, and cosine ignores how sure they are.
MIN_RATINGS_SIMILAR = 50


def demo(
    out_dir: Annotated[str | None, typer.Option(
        "--out", metavar="DIR", help="Folder for the training-curve PNG (default: a new "
        "folder in the system's temporary folder).", show_default=False)] = None,
    seed: O.Seed = 0,
    user: Annotated[str, typer.Option(
        "--user", metavar="ID", help="The MovieLens user to show.")] = "1",
    threads: Annotated[int, typer.Option(
        "--threads", min=1, help="Training threads. One thread gives the same numbers on "
        "every machine (and the shortest first run, when the kernels are compiled).")] = 1,
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Train on MovieLens-100K, compare with a baseline, recommend, find similar movies."""
    from .. import plots
    from ..data import datasets
    from ..data.split import holdout
    from ..evaluation import evaluate
    from ..models import BiasBaseline, SGDMatrixFactorization

    out = O.output(json_out, quiet)
    if out_dir is not None:
        check_folder(out_dir, "--out")  # before training, not when the curve is written
    plots.require()
    started = time.perf_counter()

    ml = datasets.load("ml-100k")
    ratings, items = ml.ratings, ml.items
    out.info(f"MovieLens 100K: {ratings.summary()}")
    train, test = holdout(ratings, 0.2, random_state=seed)
    out.info(f"Training on {len(train):,} ratings (80%, seed {seed}); "
             f"{len(test):,} held out.")

    model = SGDMatrixFactorization(random_state=seed, n_threads=threads)
    with out.progress("training SGD") as advance:
        model.fit(train, callback=lambda row: advance(
            text=f"epoch {row['epoch']}  train RMSE {row['train_rmse']:.4f}"))
    baseline = BiasBaseline().fit(train)
    measured = ("rmse", "mae", "ndcg")  # NDCG@10: held-out ratings of 4 or 5 count
    scores = {"SGD matrix factorization": evaluate(model, train, test, measured, fitted=True),
              "bias baseline": evaluate(baseline, train, test, measured, fitted=True)}
    search = [h for h in model.history_ if h.get("stage") != "refit"]
    refit = [h for h in model.history_ if h.get("stage") == "refit"]

    who = known_id(model.user_map_, user)
    mine = ratings.to_dataframe()
    counts = mine["item"].value_counts()
    mine = mine[mine["user"] == who]
    mine = mine.assign(n=counts.reindex(mine["item"]).to_numpy())
    favourites = mine.sort_values(["rating", "n"], ascending=False).head(10)
    rec_ids, _ = model.recommend(who, n=10, exclude=mine["item"].to_numpy())
    predicted = model.predict([who] * len(rec_ids), rec_ids)
    popular = counts.index[counts >= MIN_RATINGS_SIMILAR].to_numpy()
    sim_ids, sim_scores = model.similar_items(STAR_WARS, n=10, items=popular)
    # not the current folder by default: a demo run inside a project (this repository,
    # say) must leave nothing behind there
    folder = Path(out_dir) if out_dir is not None else Path(
        tempfile.mkdtemp(prefix="latentrec-demo-"))
    curve = plots.training_curve(model.history_, folder / CURVE_FILE,
                                 title="SGD on MovieLens-100K: RMSE per epoch")
    seconds = time.perf_counter() - started

    def movie(i):
        return {"item": i, "title": items.at[i, "title"], "year": items.at[i, "year"]}

    result = {
        "data": "ml-100k", "seed": seed, "n_train": len(train), "n_test": len(test),
        "model": repr(model),
        "epochs": {"searched": len(search), "refit": len(refit)},
        "scores": [{"model": k, "rmse": v["rmse"], "mae": v["mae"], "ndcg@10": v["ndcg@10"]}
                   for k, v in scores.items()],
        "user": who,
        "favourites": [dict(movie(r.item), rating=float(r.rating))
                       for r in favourites.itertuples()],
        "recommendations": [dict(movie(i), predicted=float(s))
                            for i, s in zip(rec_ids.tolist(), predicted.tolist())],
        "similar_to": movie(STAR_WARS),
        "similar": [dict(movie(i), similarity=float(s))
                    for i, s in zip(sim_ids.tolist(), sim_scores.tolist())],
        "curve": str(curve), "seconds": seconds,
    }
    out.emit_json(result)

    out.info(f"Trained {repr(model)}: early stopping chose {len(refit)} epochs "
             f"({len(search)} tried on a {model.validation_fraction:.0%} validation part), "
             "then refit on all the training ratings.")
    out.line()
    out.table(make_table(["model", "RMSE", "MAE", "NDCG@10"],
                         [[k, v["rmse"], v["mae"], v["ndcg@10"]] for k, v in scores.items()],
                         numeric={"RMSE", "MAE", "NDCG@10"},
                         title=f"Held-out error on {len(test):,} ratings, and how well "
                               "each top 10 finds the held-out movies rated 4 or 5"))
    out.line()
    out.table(make_table(["title", "year", "rating"],
                         [[r["title"], r["year"], f"{r['rating']:g}"]
                          for r in result["favourites"]], numeric={"year", "rating"},
                         title=f"User {who} rated {len(mine)} movies; their favourites"))
    out.line()
    out.table(make_table(["rank", "title", "year", "predicted"],
                         [[k, r["title"], r["year"], r["predicted"]] for k, r in
                          enumerate(result["recommendations"], start=1)],
                         numeric={"rank", "year", "predicted"},
                         title=f"Top 10 recommendations for user {who}"))
    out.line()
    sw = result["similar_to"]
    out.table(make_table(["rank", "title", "year", "similarity"],
                         [[k, r["title"], r["year"], r["similarity"]] for k, r in
                          enumerate(result["similar"], start=1)],
                         numeric={"rank", "year", "similarity"},
                         title=f"Most similar to {sw['title']} ({sw['year']}), among movies "
                               f"with at least {MIN_RATINGS_SIMILAR} ratings"))
    out.line()
    out.line(f"Training curve: {curve}")
    out.info(f"Done in {seconds:.1f} s. Next: 'latentrec train ml-100k -o model.npz', then "
             "'latentrec recommend model.npz --user 1 --items ml-100k'.")

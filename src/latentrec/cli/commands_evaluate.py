"""``latentrec evaluate``: measure one or several algorithms on the same folds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from . import options as O
from .algorithms import (
    ALGORITHMS,
    RANKING_BASELINES,
    RATING_BASELINES,
    build_model,
    parse_algos,
    unused_options,
)
from .inputs import CliError, check_distinct, check_output, read_ratings, split_fraction
from .output import make_table

_TIMES = ("fit_seconds", "predict_seconds")


def evaluate(
    ratings: O.Ratings,
    algo: Annotated[list[str] | None, typer.Option(
        "--algo", help="Algorithm(s) to compare: repeat the option or separate names by "
        f"commas ({', '.join(ALGORITHMS)}) (default: sgd).",
        rich_help_panel="Model", show_default=False)] = None,
    baselines: Annotated[bool, typer.Option(
        "--baselines", help="Add the baselines: mean and bias for rating metrics, "
        "popularity and random for ranking metrics.", rich_help_panel="Model")] = False,
    cv: Annotated[int | None, typer.Option(
        "--cv", metavar="K", min=2, help="K-fold cross-validation (default: 5 when "
        "--test-size is not given).", show_default=False)] = None,
    test_size: Annotated[float | None, typer.Option(
        "--test-size", metavar="FRACTION", help="One random holdout of this fraction "
        "instead of cross-validation.", show_default=False)] = None,
    test_file: Annotated[str | None, typer.Option(
        "--test", metavar="FILE", help="Train on RATINGS and measure on this ratings file "
        "(read with the same options), instead of cross-validation: a split made "
        "beforehand, such as MovieLens' u1.base and u1.test.", show_default=False)] = None,
    metrics: Annotated[str, typer.Option(
        "--metrics", help="Comma-separated: rmse, mae (rating error); precision, recall, "
        "ndcg, map, mrr, hit_rate, auc (ranking); coverage, novelty, popularity, diversity "
        "(what the top-k lists are made of).")] = "rmse,mae,ndcg,novelty",
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off of the ranking "
                                   "metrics.")] = 10,
    relevance_threshold: Annotated[str, typer.Option(
        "--relevance-threshold", metavar="liked|any|NUMBER", help="What counts as relevant "
        "for ranking metrics: 'liked' a test rating in the top 30% of the training scale, "
        "'any' every test rating, or a test rating at least NUMBER.")] = "liked",
    plot: Annotated[str | None, typer.Option(
        "--plot", metavar="PNG", help="Draw a bar chart of the results (mean and standard "
        "deviation over folds) into this PNG file.", show_default=False)] = None,
    factors: O.Factors = None, epochs: O.Epochs = None, lr: O.Lr = None, reg: O.Reg = None,
    threads: O.Threads = None, seed: O.Seed = 0,
    format: O.Format = "auto", sep: O.Sep = None, header: O.Header = None,
    user: O.UserCol = None, item: O.ItemCol = None, rating: O.RatingCol = None,
    timestamp: O.TimeCol = None, id_dtype: O.IdDtype = "auto",
    duplicates: O.Duplicates = None, member: O.Member = None,
    encoding: O.Encoding = "utf-8",
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Measure algorithms by cross-validation (or one holdout, or a given test file), all on
    the same folds."""
    from .. import plots
    from ..evaluation import compare

    out = O.output(json_out, quiet)
    names = parse_algos(algo or ["sgd"])
    wanted = _parse_metrics(metrics)
    relevance = _parse_relevance(relevance_threshold)
    if baselines:
        names += [b for b in _baselines_for(wanted) if b not in names]
    n_folds = _n_folds(cv, test_size, test_file)
    reader = O.reader(format, sep, header, user, item, rating, timestamp, id_dtype,
                      duplicates, member, encoding)
    opts = O.model_options(factors, epochs, lr, reg, threads, seed)
    models = {name: build_model(name, opts) for name in names}
    for option in unused_options(names, opts):
        out.note(f"note: {option} does not apply to {', '.join(names)}; ignored")
    plot_file = check_output(plot, "--plot", (".png",))
    check_distinct({"--plot": plot}, {"RATINGS": ratings, "--test": test_file})
    if plot_file is not None:
        plots.require()

    if test_file is not None and not Path(test_file).is_file():  # before reading RATINGS
        raise CliError(f"{test_file}: no such file")
    data = read_ratings(ratings, reader)
    out.info(f"Read {ratings}: {data.summary()}")
    started = time.perf_counter()
    if test_file is not None:  # users and items are matched by id (evaluate)
        test = read_ratings(test_file, reader)
        out.info(f"Read {test_file}: {test.summary()}")
        folds = [(data, test)]
    else:
        folds = _folds(data, n_folds, test_size, seed, out)
    with out.progress("evaluating", total=(n_folds or 1) * len(models)) as advance:
        table = compare(models, data, cv=folds, metrics=wanted, k=k,
                        relevance_threshold=relevance, random_state=seed,
                        progress=lambda done, total, name: advance(done=done, text=name))
    rows = table.reset_index().to_dict("records")
    seconds = time.perf_counter() - started

    out.emit_json(rows)
    title = (f"{n_folds}-fold cross-validation: mean ± std over folds" if n_folds
             else f"trained on {ratings}, tested on {test_file}" if test_file is not None
             else f"holdout: {test_size:.0%} of the ratings held out for testing")
    out.table(_results_table(rows, title))
    if plot_file is not None:
        plots.cv_comparison(table, plot_file, title=f"{title} ({ratings})")
        out.info(f"Chart written to {plot_file}")
    out.info(f"{seconds:.1f} s")


def _parse_metrics(metrics: str) -> list[str]:
    """The --metrics list, lower-cased; every name must be a known metric."""
    from ..evaluation.protocols import RANKING_METRICS, RATING_METRICS

    wanted = [m.strip().lower() for m in metrics.split(",") if m.strip()]
    for m in wanted:
        if m not in RATING_METRICS + RANKING_METRICS:
            raise typer.BadParameter(f"unknown metric {m!r}; choose from "
                                     f"{', '.join(RATING_METRICS + RANKING_METRICS)}",
                                     param_hint="'--metrics'")
    if not wanted:
        raise typer.BadParameter("name at least one metric", param_hint="'--metrics'")
    return wanted


def _parse_relevance(value: str):
    """--relevance-threshold as ``evaluate`` takes it: "liked", "any" or a number."""
    text = value.strip().lower()
    if text in ("liked", "any"):
        return text
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number != number or number in (float("inf"), float("-inf")):
        raise typer.BadParameter(f"must be 'liked', 'any' or a number, got {value!r}",
                                 param_hint="'--relevance-threshold'")
    return number


def _baselines_for(wanted: list[str]) -> tuple:
    """The baselines worth comparing against on these metrics: rating ones, ranking ones."""
    from ..evaluation.protocols import RANKING_METRICS, RATING_METRICS

    return (RATING_BASELINES if any(m in RATING_METRICS for m in wanted) else ()) + \
           (RANKING_BASELINES if any(m in RANKING_METRICS for m in wanted) else ())


def _n_folds(cv: int | None, test_size: float | None, test_file: str | None) -> int | None:
    """How many folds to cross-validate on; None for one holdout of ``test_size`` or the
    given test file."""
    given = [o for o, v in (("--cv", cv), ("--test-size", test_size), ("--test", test_file))
             if v is not None]
    if len(given) > 1:
        raise typer.BadParameter(f"give one of --cv, --test-size and --test, not "
                                 f"{' and '.join(given)}", param_hint=f"'{given[0]}'")
    if test_size is not None:
        split_fraction(test_size, "--test-size")
    return cv if cv is not None else (None if given else 5)


def _folds(data, n_folds: int | None, test_size: float | None, seed: int, out):
    """What ``compare`` takes as ``cv=``: the fold count, or the one holdout split."""
    from ..data.split import holdout

    if n_folds is not None:
        if n_folds > data.n_ratings:  # before the line that announces them
            raise typer.BadParameter(f"{n_folds:,} folds of {data.n_ratings:,} ratings: "
                                     "there can be at most one fold a rating",
                                     param_hint="'--cv'")
        out.info(f"{n_folds}-fold cross-validation (seed {seed}); every model sees the "
                 "same folds.")
        return n_folds
    folds = holdout(data, test_size, random_state=seed)
    out.info(f"Holdout: {len(folds.train):,} ratings to train, {len(folds.test):,} to "
             f"test (seed {seed}).")
    return folds


def _results_table(rows: list[dict], title: str):
    """One line per model: each metric as mean (± std when there are folds), fit seconds."""
    metric_cols = [c for c in rows[0] if c not in ("model", "class") + _TIMES
                   and not c.endswith("_std")]
    cells = []
    for row in rows:
        line = [row["model"]]
        for col in metric_cols:
            value, std = row[col], row.get(f"{col}_std")
            if value != value:  # not measured (rating error of a model without ratings)
                line.append("-")
            else:
                # a std of NaN: measured on one fold only (the library warned), no spread
                line.append(f"{value:.4f}" if std is None or std != std
                            else f"{value:.4f} ± {std:.4f}")
        fit = row["fit_seconds"]
        line.append("-" if fit != fit else f"{fit:.2f}")  # a model not measured: not fitted
        cells.append(line)
    return make_table(["model"] + metric_cols + ["fit s"], cells,
                      numeric=set(metric_cols) | {"fit s"}, title=title)

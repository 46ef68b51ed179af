"""``latentrec train`` and ``latentrec tune``."""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import time
from typing import Annotated

import typer

from ..evaluation import tune as tune_models
from ..evaluation.search import SGD_SPACE
from . import options as O
from .algorithms import ALGORITHMS, build_model, parse_algos, unused_options
from .commands_data import history_pairs
from .inputs import (
    MAX_VALIDATION,
    check_distinct,
    check_output,
    read_ratings,
    validation_fraction,
)
from .output import key_value_table, make_table

#: The space ``tune`` searches: the library's SGD search space (random draws; the epochs
#: are chosen by early stopping).
TUNE_SPACE = SGD_SPACE


def _describe_space(space: dict) -> str:
    parts = []
    for name, spec in space.items():
        if isinstance(spec, tuple) and len(spec) == 3 and spec[0] in ("log", "uniform", "int"):
            kind = {"log": "log-uniformly", "uniform": "uniformly", "int": "an integer"}[spec[0]]
            parts.append(f"{name} {kind} from {spec[1]:g}-{spec[2]:g}")
        else:
            parts.append(f"{name} from {', '.join(str(v) for v in spec)}")
    return "; ".join(parts)


#: The trials of ``--algo auto``: tune()'s fixed ones, without random SGD draws; and the
#: seconds they may take by default.
AUTO_TRIALS, AUTO_BUDGET = 4, 120.0


def train(
    ratings: O.Ratings,
    output_path: Annotated[str, typer.Option("--output", "-o", metavar="MODEL",
                                             help="Where to write the model (.npz).",
                                             show_default=False)],
    algo: Annotated[str, typer.Option(
        "--algo", help="Algorithm: auto (the best of SGD, BPMF and the Bayesian "
        "factorization machine on a validation part of the ratings, within --time-budget), "
        f"or one of {', '.join(ALGORITHMS)}.", rich_help_panel=O.MODEL_PANEL)] = "auto",
    time_budget: Annotated[float | None, typer.Option(
        "--time-budget", metavar="SECONDS", help=f"With --algo auto (default {AUTO_BUDGET:g}): "
        "the seconds its trials may take after the first (SGD, which always runs to its "
        "end); a trial projected to end later is left out. The chosen model is then "
        "refitted on all the ratings, which takes about as long as its trial, so the wall "
        "time is about the first trial, the budget and the refit.",
        rich_help_panel=O.MODEL_PANEL, show_default=False)] = None,
    factors: O.Factors = None, epochs: O.Epochs = None, lr: O.Lr = None, reg: O.Reg = None,
    threads: O.Threads = None, seed: O.Seed = 0,
    validation: Annotated[float | None, typer.Option(
        "--validation", metavar="FRACTION", help="Hold out this fraction of the ratings (at "
        f"most {MAX_VALIDATION:g}) and report validation RMSE per epoch (with --epochs auto: "
        "early stopping on it; the model then trains on the rest only).",
        show_default=False)] = None,
    plot: Annotated[str | None, typer.Option(
        "--plot", metavar="PNG", help="Draw the training curve (RMSE per epoch) into this "
        "PNG file.", show_default=False)] = None,
    format: O.Format = "auto", sep: O.Sep = None, header: O.Header = None,
    user: O.UserCol = None, item: O.ItemCol = None, rating: O.RatingCol = None,
    timestamp: O.TimeCol = None, id_dtype: O.IdDtype = "auto",
    duplicates: O.Duplicates = None, member: O.Member = None,
    encoding: O.Encoding = "utf-8",
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Train a model on a ratings file and save it."""
    from .. import plots
    from ..data.split import holdout

    out = O.output(json_out, quiet)
    auto = algo.strip().lower() == "auto"
    (name,) = ["auto"] if auto else parse_algos([algo])
    opts = O.model_options(factors, epochs, lr, reg, threads, seed)
    time_budget = _budget_for(name, opts, time_budget, out)
    if validation is not None:
        validation_fraction(validation)
    reader = O.reader(format, sep, header, user, item, rating, timestamp, id_dtype,
                      duplicates, member, encoding)
    model_file = check_output(output_path, "--output")
    plot_file = check_output(plot, "--plot", (".png",))
    check_distinct({"--output": output_path, "--plot": plot}, {"RATINGS": ratings})
    if plot_file is not None:
        plots.require()
    model = _model_for(name, opts, out)

    data = read_ratings(ratings, reader)
    summary = data.summary()
    out.info(f"Read {ratings}: {summary}")
    train_part, val_part = data, None
    if validation is not None:
        train_part, val_part = holdout(data, validation, random_state=seed)
        out.info(f"Holding out {len(val_part):,} ratings ({validation:.0%}) for validation; "
                 f"training on {len(train_part):,}.")

    started = time.perf_counter()
    if auto:
        model = _auto_model(train_part, seed, time_budget, out)
    else:
        _fit_with_progress(model, name, train_part, val_part, opts, out)
    seconds = time.perf_counter() - started
    model.save(model_file)
    history = model.summary()["history"]
    # nothing scored it per epoch (a model without ratings has no rating error to show)
    if val_part is not None and (auto or not model.history_) and model.predicts_ratings:
        from ..evaluation import evaluate

        history["final_val_rmse"] = evaluate(model, train_part, val_part, ["rmse"],
                                             fitted=True)["rmse"]
    if plot_file is not None and any(h.get("train_rmse") is not None for h in model.history_):
        plots.training_curve(model.history_, plot_file,
                             title=f"Training curve: {name} on {ratings}")
    elif plot_file is not None:
        out.note(f"note: {name} reports no RMSE per epoch; no curve drawn")
        plot_file = None

    result = {
        "data": {"source": ratings, **dataclasses.asdict(summary)},
        "model": {"algo": name, "class": type(model).__name__, "params": model.get_params()},
        "training": {**history, "wall_seconds": seconds,
                     "n_train": len(train_part),
                     "n_validation": None if val_part is None else len(val_part)},
        "output": str(model_file), "plot": None if plot_file is None else str(plot_file),
    }
    out.emit_json(result)
    if not out.quiet:
        out.table(key_value_table(_trained_pairs(model, history, seconds, auto, model_file,
                                                 plot_file)))


def _budget_for(name, opts, time_budget, out):
    """--time-budget checked, and what it is for ``name``: auto's (AUTO_BUDGET unless
    given; auto also refuses the model options), None for any other algorithm."""
    _check_budget(time_budget)
    if name == "auto":
        _check_auto_options(opts)
        return AUTO_BUDGET if time_budget is None else time_budget
    if time_budget is not None:
        out.note(f"note: --time-budget applies to --algo auto only; ignored for {name}")
    return None


def _trained_pairs(model, history, seconds, auto, model_file, plot_file) -> list:
    """The rows of train's closing table."""
    pairs = [("model", repr(model))]
    if model.history_:
        pairs += history_pairs(history)
    else:
        pairs.append(("training seconds", f"{seconds:.2f}"))
    if history["final_val_rmse"] is not None and (auto or not model.history_):
        pairs.append(("validation RMSE", history["final_val_rmse"]))
    if auto:  # the search and the refit: all a user waited for
        pairs.append(("wall seconds", f"{seconds:.1f}"))
    pairs.append(("saved to", str(model_file)))
    if plot_file is not None:
        pairs.append(("training curve", str(plot_file)))
    return pairs


#: What ``tune`` runs without --trials (the library's default), and how many of the trials
#: its table shows (the rest are counted; --json lists them all).
DEFAULT_TRIALS = inspect.signature(tune_models).parameters["n_trials"].default
TRIALS_SHOWN = 10


def _model_for(name, opts, out):
    """The model to train (None for ``auto``, which tune() makes); notes the options that
    do not reach it."""
    if name == "auto":
        return None
    for option in unused_options([name], opts):
        out.note(f"note: {option} does not apply to {name}; ignored")
    return build_model(name, opts)


def _check_auto_options(opts) -> None:
    """--algo auto chooses the model and its settings itself: a model option given with it
    would be silently lost, so it is an error."""
    given = [o for o, v in opts.items() if v is not None and o != "--seed"]
    if given:
        raise typer.BadParameter(
            "does not apply to --algo auto (the default), which chooses the model and its "
            f"settings itself: give --algo as well ({', '.join(ALGORITHMS)})",
            param_hint=f"'{given[0]}'")


def _check_budget(time_budget) -> None:
    """--time-budget, where given, is a positive, finite number of seconds."""
    if time_budget is not None and not 0 < time_budget < math.inf:
        raise typer.BadParameter(f"{time_budget:g} is not a positive, finite number of "
                                 "seconds", param_hint="'--time-budget'")


def _fit_with_progress(model, name, train_part, val_part, opts, out) -> None:
    epochs_total = opts["--epochs"] if isinstance(opts["--epochs"], int) else None
    with out.progress(f"training {name}", total=epochs_total) as advance:
        def on_epoch(row):
            text = f"epoch {row['epoch']}"
            if row.get("train_rmse") is not None:
                text += f"  train RMSE {row['train_rmse']:.4f}"
            if row.get("val_rmse") is not None:
                text += f"  val RMSE {row['val_rmse']:.4f}"
            if row.get("stage") == "refit":
                text += "  (refit on all)"
            advance(text=text)

        model.fit(train_part, validation=val_part, callback=on_epoch)


def _auto_model(ratings, seed, time_budget, out):
    """``--algo auto``: tune()'s four fixed trials (SGD's defaults, BPMF at K=10, the
    Bayesian factorization machine, BPMF at K=20) on the training ratings alone, within
    ``time_budget``; says what it picked and why."""
    with out.progress("choosing a model", total=AUTO_TRIALS) as advance:
        def on_trial(done, _total, row):
            advance(done=done, text=f"{row['model']}: validation RMSE {row['rmse']:.4f}")

        result = tune_models(ratings, n_trials=AUTO_TRIALS, time_budget=time_budget,
                             random_state=seed, progress=on_trial)
    table, best = result.results, result.results.iloc[0]
    why = f"validation RMSE {best['rmse']:.4f}"
    others = table[table["model"] != best["model"]]
    if len(others):
        why += f"; the best other family, {others.iloc[0]['model']}, {others.iloc[0]['rmse']:.4f}"
    out.info(f"auto: chose {best['model']} ({why}; {len(table)} trial"
             f"{'s' * (len(table) != 1)} on "
             f"{ratings.n_ratings:,} training ratings, 10% held out for scoring)")
    for line in _abandoned(result, time_budget):
        out.info(f"auto: {line}")
    return result.best_model


def _abandoned(result, time_budget) -> list[str]:
    """A line for each trial the search left out: stopped because it would have ended
    past the budget, or refused for the memory it would need."""
    lines = []
    for row in result.abandoned.to_dict("records"):
        if row["why"] == "time":
            need = row["projected_seconds"]
            lines.append(f"left out {row['model']}: projected to need {need:.0f} s or more, "
                         f"past what --time-budget {time_budget:g} had left")
        else:
            lines.append(f"left out {row['model']}: {row['why']}")
    return lines


def tune(
    ratings: O.Ratings,
    trials: Annotated[int | None, typer.Option(
        "--trials", help=f"How many settings to try, at least 4 (default: {DEFAULT_TRIALS}, "
        "or as many as --time-budget allows).", show_default=False)] = None,
    time_budget: Annotated[float | None, typer.Option(
        "--time-budget", metavar="SECONDS", help="The seconds the trials may take: none "
        "starts after it, and one whose projected end lies past it is abandoned (the first "
        "runs to its end).", show_default=False)] = None,
    metric: Annotated[str, typer.Option("--metric", help="rmse or mae (lower is "
                                        "better).")] = "rmse",
    validation: Annotated[float, typer.Option(
        "--validation", metavar="FRACTION", help="Fraction of the ratings every trial is "
        f"scored on (at most {MAX_VALIDATION:g}).")] = 0.1,
    output_path: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="MODEL", help="Save the best setting, refitted on all "
        "the ratings, here.", show_default=False)] = None,
    seed: O.Seed = 0,
    format: O.Format = "auto", sep: O.Sep = None, header: O.Header = None,
    user: O.UserCol = None, item: O.ItemCol = None, rating: O.RatingCol = None,
    timestamp: O.TimeCol = None, id_dtype: O.IdDtype = "auto",
    duplicates: O.Duplicates = None, member: O.Member = None,
    encoding: O.Encoding = "utf-8",
    json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Search for a good model (the full help is set below)."""
    out = O.output(json_out, quiet)
    n_iter = _tune_checks(metric, validation, time_budget, trials)
    reader = O.reader(format, sep, header, user, item, rating, timestamp, id_dtype,
                      duplicates, member, encoding)
    model_file = check_output(output_path, "--output")
    check_distinct({"--output": output_path}, {"RATINGS": ratings})
    data = read_ratings(ratings, reader)
    out.info(f"Read {ratings}: {data.summary()}")
    started = time.perf_counter()
    total = None if trials is None and time_budget is not None else n_iter
    with out.progress("tuning", total=total) as advance:
        def on_trial(done, _total, row):
            advance(done=done, text=f"last {metric} {row[metric]:.4f}")

        result = tune_models(data, n_trials=n_iter, metric=metric,
                             validation_fraction=validation, time_budget=time_budget,
                             random_state=seed, progress=on_trial)
    seconds = time.perf_counter() - started
    if model_file is not None:
        result.best_model.save(model_file)
    columns = _trial_columns(list(result.results.columns), metric)
    integers = {c for c in columns if _integral(result.results[c])}
    rows = [{c: _as_int(r[c]) if c in integers else r[c] for c in columns}
            for r in result.results.to_dict("records")]
    out.emit_json({"metric": metric, "best_model": type(result.best_model).__name__,
                   "best_params": result.best_params,
                   "best_score": result.best_score, "trials": rows, "seconds": seconds,
                   "abandoned": result.abandoned.to_dict("records"),
                   "space": {k: list(v) for k, v in TUNE_SPACE.items()},
                   "output": None if model_file is None else str(model_file)})
    out.table(_trials_table(rows, columns, metric, validation))
    if len(rows) > TRIALS_SHOWN:
        out.line(f"... and {len(rows) - TRIALS_SHOWN:,} more trials (--json lists them all)")
    for line in _abandoned(result, time_budget):
        out.line(line)
    out.line()
    best = ", ".join(f"{k}={_cell(v)}" for k, v in result.best_params.items())
    out.line(f"best: {type(result.best_model).__name__}({best})  ({metric} "
             f"{result.best_score:.4f})")
    if model_file is not None:
        out.line(f"saved the best model, refitted on all {len(data):,} ratings, to "
                 f"{model_file}")
    out.info(f"{seconds:.1f} s")


def _tune_checks(metric: str, validation: float, time_budget, trials) -> int:
    """Check tune's own options; the number of trials to ask the library for."""
    if metric not in ("rmse", "mae"):
        raise typer.BadParameter(f"{metric!r} is not rmse or mae", param_hint="'--metric'")
    validation_fraction(validation)
    _check_budget(time_budget)
    if trials is not None and trials < 4:
        raise typer.BadParameter(f"{trials}: must be at least 4 (the four fixed trials: SGD's "
                                 "defaults and three Bayesian models)", param_hint="'--trials'")
    if trials is not None:
        return trials
    # a budget alone: more trials than it can run, so the budget is what stops the search
    return 10_000 if time_budget is not None else DEFAULT_TRIALS


def _trial_columns(columns: list, metric: str) -> list:
    """The model, its parameters, then the score and the seconds."""
    params = [c for c in columns if c not in ("model", metric, "seconds")]
    return ["model"] + params + [metric, "seconds"]


def _integral(values) -> bool:
    """Whether a column holds whole numbers only (pandas makes floats of an int column that
    a model lacks, e.g. the epochs of a Bayesian trial)."""
    present = [v for v in values if not (isinstance(v, float) and v != v)]
    return bool(present) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool)
        or isinstance(v, float) and v.is_integer() for v in present)


def _as_int(v):
    return v if isinstance(v, float) and v != v else int(v)


def _trials_table(rows: list, columns: list, metric: str, validation: float):
    """The best TRIALS_SHOWN trials, one per line."""
    cells = [[k] + [f"{r[c]:.2f}" if c == "seconds" else _cell(r[c]) for c in columns]
             for k, r in enumerate(rows[:TRIALS_SHOWN], start=1)]
    shown = "" if len(rows) <= TRIALS_SHOWN else f", the best {TRIALS_SHOWN} shown"
    return make_table(["rank"] + [_SHORT.get(c, c) for c in columns], cells,
                      numeric={_SHORT.get(c, c) for c in columns[1:]} | {"rank"},
                      title=f"{len(rows):,} trials, best first{shown} ({metric} on "
                            f"{validation:.0%} of the ratings)")


#: Column headers of the trials table (the JSON keeps the parameter names).
_SHORT = {"n_factors": "factors", "learning_rate": "lr", "regularization": "reg",
          "bias_regularization": "bias reg", "n_epochs": "epochs"}


def _cell(v):
    if isinstance(v, float) and v != v:
        return ""  # a parameter that model has not
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 0.1 else f"{v:.4f}"
    return v


tune.__doc__ = (  # one paragraph per line: the help keeps line breaks
    "Search for a good model on a validation part of the ratings (no test data used).\n\n"
    "Tries SGD with its defaults, Bayesian matrix factorization with 10 factors, the "
    "Bayesian factorization machine, Bayesian matrix factorization with 20 factors, then "
    f"SGD settings that draw {_describe_space(TUNE_SPACE)}; every SGD trial's epochs are "
    "chosen by early stopping on the validation part. The best model is refitted on all "
    "the ratings.")

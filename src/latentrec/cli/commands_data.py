"""``latentrec datasets`` and ``latentrec info``: what there is to train on, what a model is."""

from __future__ import annotations

from . import options as O
from .inputs import load_model
from .output import key_value_table, make_table


def datasets(json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False):
    """List the named data sets: which ship with latentrec and which need a download."""
    from ..data import datasets as ds

    out = O.output(json_out, quiet)
    rows = [ds.describe(name) for name in ds.list()]
    out.emit_json(rows)
    out.table(make_table(["name", "bundled", "description"],
                         [[r["name"], "yes" if r["bundled"] else "download",
                           r["description"]] for r in rows]))
    out.info("Bundled data sets can be named in place of a ratings file, e.g. "
             "'latentrec train ml-100k -o model.npz'.")


def info(model_path: O.ModelPath, json_out: O.Json = False, quiet: O.Quiet = False,
         debug: O.Debug = False):
    """Describe a saved model: class, hyperparameters, size, training history."""
    from .._version import __version__

    out = O.output(json_out, quiet)
    model = load_model(model_path)
    summary = model.summary()
    summary["file"] = model_path
    summary["library_version"] = model.file_metadata_["library_version"]
    summary["running_library_version"] = __version__
    out.emit_json(summary)
    history = summary["history"]
    pairs = [("file", model_path), ("class", summary["class"]),
             ("users", f"{summary['n_users']:,}"), ("items", f"{summary['n_items']:,}"),
             ("ratings", f"{summary['n_ratings']:,}"),
             ("factors", _factors(summary)),
             ("global mean", summary["global_mean"]),
             ("rating range", "{:g} .. {:g}".format(*summary["rating_range"])),
             ("written by latentrec", summary["library_version"]),
             ("running latentrec", __version__)]
    out.table(key_value_table(pairs))
    out.line()
    out.table(make_table(["hyperparameter", "value"],
                         [[k, repr(v)] for k, v in summary["params"].items()],
                         title="Hyperparameters"))
    if history["epochs"]:
        out.line()
        out.table(key_value_table(history_pairs(history), title="Training"))


def _factors(summary: dict):
    """The model's K. A model that keeps several posterior samples (BPMF) stores them side
    by side, so its factor matrices are K x samples wide: both are said."""
    k, stored = summary["params"].get("n_factors"), summary["n_factors"]
    if not isinstance(k, int) or k < 1 or stored in (k, 0):
        return stored
    if summary["class"] == "BayesianFactorizationMachine":  # its sides fold its groups in
        return f"{k} ({stored:,} stored columns: the factors with the other feature groups)"
    if stored % k:
        return stored
    return f"{k} (x {stored // k} kept samples: {stored:,} stored columns)"


def history_pairs(h: dict) -> list:
    """Lines of the training table, from ``Recommender.summary()["history"]``."""
    pairs = []
    if h.get("epochs_continued"):
        pairs.append(("epochs", f"{h['epochs']} (the best of {h['epochs_searched']} by early "
                                f"stopping on held-out data, then {h['epochs_continued']} "
                                "more on all)"))
    elif h["refit_on_all_data"]:
        pairs.append(("epochs", f"{h['epochs']} (best of {h['epochs_searched']} by early "
                                "stopping on held-out data, then refit on all)"))
    else:
        pairs.append(("epochs", h["epochs"]))
    if h["final_train_rmse"] is not None:
        pairs.append(("final train RMSE", h["final_train_rmse"]))
    if h["final_val_rmse"] is not None:
        pairs.append(("final validation RMSE", h["final_val_rmse"]))
    if h["best_val_rmse"] is not None:
        pairs.append(("best validation RMSE", f"{h['best_val_rmse']:.4f} (epoch "
                                              f"{h['best_epoch']})"))
    pairs.append(("training seconds", f"{h['seconds']:.2f}"))
    return pairs

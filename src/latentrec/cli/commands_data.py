"""``latentrec datasets`` and ``latentrec info``: what there is to train on, what a model is."""

from __future__ import annotations

from . import options as O
from .inputs import load_model
from .output import key_value_table, make_table


def datasets(json_out: O.Json = False, quiet: O.Quiet = False, debug: O.Debug = False):
    """List the named data sets: which ship with latentrec and which need a download."""
    from .. import datasets as ds

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
    from .. import __version__

    out = O.output(json_out, quiet)
    model = load_model(model_path)
    summary = model_summary(model)
    summary["file"] = model_path
    summary["library_version"] = model.file_metadata_["library_version"]
    summary["running_library_version"] = __version__
    out.emit_json(summary)
    history = summary["history"]
    pairs = [("file", model_path), ("class", summary["class"]),
             ("users", f"{summary['n_users']:,}"), ("items", f"{summary['n_items']:,}"),
             ("factors", summary["n_factors"]),
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


def model_summary(model) -> dict:
    """What ``info`` reports, as plain values (also the JSON object)."""
    return {
        "class": type(model).__name__,
        "params": model.get_params(),
        "n_users": len(model.user_map_), "n_items": len(model.item_map_),
        "n_factors": model.n_factors_,
        "user_id_type": model.user_map_.kind, "item_id_type": model.item_map_.kind,
        "global_mean": model.global_mean_,
        "rating_range": list(model.rating_range_),
        "history": history_summary(model.history_),
    }


def history_summary(history: list) -> dict:
    """Epochs run, final and best RMSEs, seconds; separates an early-stopping search from
    the refit on all the data (rows with ``stage == "refit"``)."""
    search = [h for h in history if h.get("stage") != "refit"]
    refit = [h for h in history if h.get("stage") == "refit"]
    with_val = [h for h in search if h.get("val_rmse") is not None]
    best = min(with_val, key=lambda h: h["val_rmse"]) if with_val else None
    final = history[-1] if history else {}
    return {
        "epochs": len(refit) if refit else len(search),
        "epochs_searched": len(search) if refit else None,
        "refit_on_all_data": bool(refit),
        "final_train_rmse": final.get("train_rmse"),
        "final_val_rmse": final.get("val_rmse"),
        "best_val_rmse": best["val_rmse"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "seconds": sum(h.get("seconds", 0.0) for h in history),
    }


def history_pairs(h: dict) -> list:
    pairs = []
    if h["refit_on_all_data"]:
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

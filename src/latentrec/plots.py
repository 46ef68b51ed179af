"""Pictures of models and results: training curves, cross-validation comparisons, item maps.

Needs matplotlib (``pip install "latentrec[plot]"``), imported here on first use only.
The figures are drawn with matplotlib's Agg renderer without touching pyplot, so a
notebook's own backend and open figures are left alone. Each function writes one PNG
atomically (a temporary file renamed into place) and returns its path.

>>> from latentrec import plots
>>> plots.training_curve(model.history_, "curve.png")           # doctest: +SKIP
>>> plots.cv_comparison({"sgd": cv_sgd, "bias": cv_bias}, "cv.png")  # doctest: +SKIP
>>> plots.item_map(model, dataset.items, "items.png")            # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._files import atomic_write
from .errors import DataError

__all__ = ["training_curve", "cv_comparison", "item_map", "require"]

_MISSING = ("latentrec.plots needs matplotlib, which is not installed; install "
            "latentrec[plot] (pip install \"latentrec[plot]\")")
_TIMES = ("fit_seconds", "predict_seconds")
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def require() -> None:
    """Raise ImportError (naming the ``plot`` extra) unless matplotlib can be imported."""
    _figure_class()


def _figure_class():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_MISSING) from None
    return Figure, FigureCanvasAgg


def _new_figure(width: float, height: float):
    """A figure on its own Agg canvas (pyplot and its global state are never involved)."""
    figure, canvas = _figure_class()
    fig = figure(figsize=(width, height), dpi=110, layout="constrained")
    canvas(fig)
    return fig


def _save(fig, path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", facecolor="white"))


# training curve -------------------------------------------------------------------------
def training_curve(history, path, *, title: str | None = None) -> Path:
    """Train and validation RMSE per epoch.

    ``history`` is a fitted model's ``history_`` (a list of ``{epoch, train_rmse,
    val_rmse, ...}`` rows) or the model itself. Epochs of an early-stopping search and of
    the refit on all the data (rows with ``stage == "refit"``) are drawn as separate lines,
    and the best validation epoch is marked.
    """
    rows = _rmse_rows(history)
    fig = _new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    search = [r for r in rows if r.get("stage") != "refit"]
    refit = [r for r in rows if r.get("stage") == "refit"]
    _by_epoch(ax, search, "train_rmse", color=_COLORS[0], marker="o", markersize=3,
              label="train RMSE")
    with_val = [r for r in search if r.get("val_rmse") is not None]
    if with_val:
        _by_epoch(ax, with_val, "val_rmse", color=_COLORS[1], marker="o", markersize=3,
                  label="validation RMSE")
        _mark_best(ax, with_val, last=max(r["epoch"] for r in rows))
    if refit:
        _by_epoch(ax, refit, "train_rmse", color=_COLORS[2], linestyle="--", linewidth=1.2,
                  label="train RMSE, refit on all data")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.set_title(title or "Training curve")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, path)


def _rmse_rows(history) -> list:
    """The history's rows that have a train RMSE (``history`` may be the model itself)."""
    if hasattr(history, "history_"):
        history = history.history_
    rows = [r for r in (history or []) if r.get("train_rmse") is not None]
    if not rows:
        raise DataError("the training history has no RMSE per epoch: nothing to draw "
                        "(baselines train without epochs; implicit-feedback models report "
                        "only time)")
    return rows


def _by_epoch(ax, rows, key, **style) -> None:
    ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], **style)


def _mark_best(ax, with_val, last) -> None:
    """A dotted line and a note at the epoch with the lowest validation RMSE."""
    best = min(with_val, key=lambda r: r["val_rmse"])
    ax.axvline(best["epoch"], color="0.5", linestyle=":", linewidth=1)
    right = best["epoch"] > 0.6 * last  # keep the note inside the axes
    ax.annotate(f"best validation\nepoch {best['epoch']}: {best['val_rmse']:.4f}",
                xy=(best["epoch"], best["val_rmse"]), xytext=(-8 if right else 8, 18),
                ha="right" if right else "left", textcoords="offset points", fontsize=8,
                color="0.25",
                arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.8})


# cross-validation comparison --------------------------------------------------------------
def cv_comparison(results, path, *, metrics=None, title: str | None = None) -> Path:
    """Bar chart of each model's mean score per metric, with standard-deviation error bars.

    ``results`` is a dict ``{name: CVResult}`` (from :func:`latentrec.evaluation.
    cross_validate`) or a DataFrame with one row per model (the index names it), a
    column per metric and optional ``<metric>_std`` columns (as ``latentrec evaluate
    --json`` prints). ``metrics`` picks and orders the metrics (default: all but timings).
    """
    means, stds = _comparison_table(results)
    metrics = _chosen_metrics(means, metrics)
    models = list(means.index)
    n = len(metrics)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _new_figure(max(4.2, 0.7 * len(models) + 1.6) * cols, 3.6 * rows)
    colors = {m: _COLORS[k % len(_COLORS)] for k, m in enumerate(models)}
    zoomed = False
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, k + 1)
        zoomed |= _metric_bars(ax, metric, means, stds, models, colors)
    fig.suptitle(title or ("Cross-validation comparison" if len(stds.columns)
                           else "Comparison"))
    if zoomed:
        fig.supxlabel("The value axes do not start at zero, to show small differences.",
                      fontsize=7, color="0.4")
    return _save(fig, path)


def _chosen_metrics(means, metrics) -> list:
    """The metrics to draw: those asked for, all of which must be in the results, or by
    default every column but the timings."""
    if metrics is None:
        metrics = [m for m in means.columns if m not in _TIMES]
    else:
        missing = [m for m in metrics if m not in means.columns]
        if missing:
            raise DataError(f"no metric {missing[0]!r} in the results; they have "
                            f"{list(means.columns)}")
    if not metrics or means.empty:
        raise DataError("no metrics to draw")
    return metrics


def _metric_bars(ax, metric, means, stds, models, colors) -> bool:
    """One metric's panel: a bar per model, labelled with its mean; returns whether the
    value axis was zoomed (no longer starts at zero)."""
    x = np.arange(len(models))
    mean = means[metric].to_numpy(dtype=float)
    has_std = metric in stds.columns
    std = np.nan_to_num(stds[metric].to_numpy(dtype=float)) if has_std \
        else np.zeros_like(mean)
    ax.bar(x, mean, yerr=std if has_std else None, capsize=4,
           color=[colors[m] for m in models],
           edgecolor="0.2", linewidth=0.6, error_kw={"elinewidth": 1})
    ax.set_xticks(x, [str(m) for m in models], rotation=30 if len(models) > 4 else 0,
                  ha="right" if len(models) > 4 else "center")
    ax.set_title(metric)
    ax.set_ylabel(f"{metric} (mean ± std)" if has_std else metric)
    zoomed = _zoom(ax, mean, std)
    for xi, (m, s) in enumerate(zip(mean, std)):
        if np.isfinite(m):
            ax.annotate(f"{m:.4f}", (xi, m + s), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return zoomed


def _comparison_table(results):
    import pandas as pd

    if isinstance(results, dict):
        means = pd.DataFrame({name: r.mean for name, r in results.items()}).T
        stds = pd.DataFrame({name: r.std for name, r in results.items()}).T
        return means, stds
    if isinstance(results, pd.DataFrame):
        df = results.select_dtypes("number")
        std_cols = [c for c in df.columns if str(c).endswith("_std")]
        means = df.drop(columns=std_cols)
        stds = df[std_cols].rename(columns=lambda c: str(c)[: -len("_std")])
        return means, stds
    raise TypeError("results must be a dict of CVResult or a DataFrame, got "
                    f"{type(results).__name__}")


def _zoom(ax, mean, std) -> bool:
    """Start the axis near the smallest bar so small differences stay visible; returns
    whether the axis no longer starts at zero."""
    ok = np.isfinite(mean)
    if not ok.any():
        return False
    lo, hi = float(np.min(mean[ok] - std[ok])), float(np.max(mean[ok] + std[ok]))
    span = max(hi - lo, 0.05 * abs(hi)) or 1.0  # differences of a few % stay modest
    bottom = lo - 1.5 * span
    if lo >= 0 and bottom < 0.25 * lo:
        bottom = 0.0
    ax.set_ylim(bottom, hi + 0.35 * span)
    return bottom != 0.0


# item map -------------------------------------------------------------------------------
def item_map(model, items, path, n_labels: int = 25, *, title: str | None = None) -> Path:
    """The items' latent factors projected on their first two principal components.

    Each point is an item, sized and coloured by how many training ratings it has; the
    ``n_labels`` most-rated items are labelled with their title. ``items`` is a DataFrame
    indexed by item id with a ``title`` column (and optionally ``year``), such as
    ``datasets.load("ml-100k").items``.
    """
    from matplotlib.colors import LogNorm

    factors = np.asarray(model.item_factors_, dtype=np.float64)
    if factors.shape[1] < 2:
        raise DataError(f"{type(model).__name__} has {factors.shape[1]} latent factors; a "
                        "map needs at least 2")
    counts = np.asarray(model.seen_.sum(axis=0)).ravel()
    centred = factors - factors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    explained = s[:2] ** 2 / np.sum(s ** 2)

    fig = _new_figure(9.5, 7.5)
    ax = fig.add_subplot()
    order = np.argsort(counts)  # the popular on top
    sizes = 6 + 60 * np.sqrt(counts / max(counts.max(), 1))
    points = ax.scatter(xy[order, 0], xy[order, 1], s=sizes[order],
                        c=np.maximum(counts[order], 1), cmap="viridis",
                        norm=LogNorm(vmin=1, vmax=max(counts.max(), 2)), alpha=0.75,
                        linewidths=0.3, edgecolors="white")
    fig.colorbar(points, ax=ax, label="ratings in training (log scale)", pad=0.01)
    labels = _titles(items)
    ids = model.item_map_.ids
    ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of the variance)")
    ax.set_title(title or f"Item factors of {type(model).__name__} ({factors.shape[1]} "
                          "factors), first two principal components")
    ax.grid(True, alpha=0.25)
    if n_labels:
        ax.text(0.99, 0.01, f"labelled: the {int(n_labels)} most-rated items",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.35")
    top = np.argsort(-counts, kind="stable")[:max(int(n_labels), 0)]
    _place_labels(fig, ax, xy[top], [labels.get(_plain(ids[k]), str(_plain(ids[k])))
                                     for k in top])
    return _save(fig, path)


_OFFSETS = [(5, 4, "left", "bottom"), (5, -4, "left", "top"), (-5, 4, "right", "bottom"),
            (-5, -4, "right", "top"), (0, 8, "center", "bottom"), (0, -8, "center", "top"),
            (14, 14, "left", "bottom"), (-14, -14, "right", "top")]


def _place_labels(fig, ax, points, texts) -> None:
    """Label points in order, each at the first of a few spots that overlaps no earlier
    label; a label with no free spot is left out rather than drawn over another."""
    fig.canvas.draw()  # lay the figure out once, then freeze it: labels must not move it
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed = []
    for (x, y), text in zip(points, texts):
        for dx, dy, ha, va in _OFFSETS:
            label = ax.annotate(_short(text), (x, y), xytext=(dx, dy),
                                textcoords="offset points", ha=ha, va=va, fontsize=7.5,
                                color="0.1", bbox={"boxstyle": "round,pad=0.15",
                                                   "fc": "white", "ec": "none",
                                                   "alpha": 0.75})
            box = label.get_window_extent(renderer).expanded(1.02, 1.1)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                    and box.y1 <= inside.y1)
            if fits and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()


def _plain(raw):
    return raw.item() if hasattr(raw, "item") else raw


def _titles(items) -> dict:
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    titles = items["title"].astype(str)
    if "year" in items.columns:
        import pandas as pd

        titles = [t if pd.isna(y) else f"{t} ({y})" for t, y in zip(titles, items["year"])]
    return dict(zip(items.index.tolist(), titles))


def _short(text: str, width: int = 32) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"

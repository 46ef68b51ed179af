"""latentrec.plots: each function writes a non-empty PNG and returns its path."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import latentrec
from latentrec import plots
from latentrec.evaluation import cross_validate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def fitted(small_ratings):
    return latentrec.SGDMatrixFactorization(n_factors=4, n_threads=1, random_state=0).fit(
        small_ratings)


def test_training_curve(fitted, tmp_path):
    path = plots.training_curve(fitted.history_, tmp_path / "curve.png")
    assert path == tmp_path / "curve.png" and _is_png(path)
    assert _is_png(plots.training_curve(fitted, tmp_path / "again.png"))  # a model works too
    assert not list(tmp_path.glob(".*.tmp"))


def test_training_curve_of_nothing_is_an_error(tmp_path):
    with pytest.raises(latentrec.DataError, match="no RMSE"):
        plots.training_curve([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cv_comparison_from_results_and_from_a_table(small_ratings, tmp_path):
    from latentrec.data.split import k_fold

    folds = k_fold(small_ratings, 3, random_state=0)
    results = {"sgd": cross_validate(latentrec.SGDMatrixFactorization(
                   n_factors=3, n_epochs=5, n_threads=1, random_state=0), small_ratings, folds),
               "bias": cross_validate(latentrec.BiasBaseline(), small_ratings, folds)}
    assert _is_png(plots.cv_comparison(results, tmp_path / "cv.png"))
    table = pd.DataFrame({"rmse": [0.9, 0.95], "rmse_std": [0.01, 0.02], "mae": [0.7, 0.75]},
                         index=["sgd", "bias"])
    assert _is_png(plots.cv_comparison(table, tmp_path / "table.png", metrics=["rmse"]))
    with pytest.raises(latentrec.DataError, match="ndcg"):
        plots.cv_comparison(table, tmp_path / "bad.png", metrics=["ndcg"])


def test_item_map_labels_titles(fitted, tmp_path):
    ids = fitted.item_map_.ids
    items = pd.DataFrame({"title": [f"Item {i}" for i in ids],
                          "year": np.arange(len(ids)) + 1990}, index=ids)
    assert _is_png(plots.item_map(fitted, items, tmp_path / "map.png", n_labels=5))


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"latentrec\[plot\]"):
        plots.training_curve([{"epoch": 1, "train_rmse": 1.0, "val_rmse": None}],
                             tmp_path / "x.png")


def test_cli_reports_missing_matplotlib_in_one_line(cli, files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = cli("train", "--algo", "sgd", files / "ratings.csv", "-o", tmp_path / "m.npz",
                 "--plot",
                 tmp_path / "c.png", expect=2)
    assert result.stderr.strip().splitlines() == [
        "error: latentrec.plots needs matplotlib, which is not installed; install "
        "latentrec[plot] (pip install \"latentrec[plot]\")"]
    assert not (tmp_path / "m.npz").exists()


def test_pngs_get_the_usual_file_mode(fitted, tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    path = plots.training_curve(fitted, tmp_path / "mode.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask

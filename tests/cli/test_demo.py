"""The demo, end to end on the bundled MovieLens-100K (about ten seconds a run)."""

from __future__ import annotations

import tempfile


def test_demo_trains_compares_recommends_and_draws(cli, tmp_path):
    result = cli("demo", "--out", tmp_path)
    text = result.stdout
    png = tmp_path / "latentrec-demo-curve.png"
    assert png.is_file() and png.stat().st_size > 10_000
    assert "SGD matrix factorization" in text and "bias baseline" in text
    assert "RMSE" in text and "MAE" in text
    assert "Top 10 recommendations for user 1" in text
    assert "Most similar to Star Wars (1977)" in text
    assert "Return of the Jedi" in text  # Star Wars' nearest neighbour
    assert str(png) in text


def test_demo_leaves_the_current_folder_as_it_was(cli, tmp_path, monkeypatch):
    """Run in a repository, it once left its PNG there for `git status` to show."""
    here, temp = tmp_path / "project", tmp_path / "temp"
    here.mkdir()
    temp.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    result = cli.json("demo")
    assert list(here.iterdir()) == []
    (folder,) = temp.iterdir()
    assert result["curve"] == str(folder / "latentrec-demo-curve.png")
    assert (folder / "latentrec-demo-curve.png").stat().st_size > 10_000


def test_demo_refuses_a_missing_out_folder_before_training(cli, tmp_path):
    result = cli("demo", "--out", tmp_path / "none", expect=2)
    assert "none: no such folder (--out)" in result.stderr

"""The demo, end to end on the bundled MovieLens-100K (about ten seconds)."""

from __future__ import annotations


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

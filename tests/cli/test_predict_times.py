"""`latentrec predict` at given times: --at for --pair pairs, a timestamp column in a
--pairs file; and the service's per-pair timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import latentrec
from latentrec import BayesianFactorizationMachine, Ratings
from latentrec.data import synthetic
from latentrec.serve import create_app


@pytest.fixture(scope="module")
def timed_model(tmp_path_factory):
    """A factorization machine with a time group: each run of 40 ratings in time order
    is shifted by its own offset."""
    base = synthetic(200, 100, 8000, rank=3, noise=0.3, random_state=2)
    rng = np.random.default_rng(0)
    when = rng.permutation(base.n_ratings)
    offset = rng.normal(0, 0.8, base.n_ratings // 40 + 1)[when // 40]
    df = pd.DataFrame({"user": base.users, "item": base.items,
                       "rating": base.values + offset, "t": 10**9 + 60 * when})
    model = BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5, n_threads=1,
                                         random_state=0, ranking_factors=0)
    model.fit(Ratings.from_dataframe(df, timestamp="t"))
    path = tmp_path_factory.mktemp("timed") / "fm.npz"
    model.save(path)
    return path, model, df


def test_at_predicts_the_pairs_at_that_time(cli, timed_model):
    path, model, df = timed_model
    u, i, t = (int(df["user"][0]), int(df["item"][1]), int(df["t"][5]))
    rows = cli.json("predict", path, "--pair", u, i, "--at", t)
    want = model.predict([u], [i], timestamps=[t])[0]
    assert rows[0]["prediction"] == pytest.approx(float(want), rel=1e-6)
    plain = cli.json("predict", path, "--pair", u, i)[0]["prediction"]
    assert plain == pytest.approx(float(model.predict([u], [i])[0]), rel=1e-6)
    assert plain != pytest.approx(rows[0]["prediction"])


def test_a_timestamp_column_gives_each_pair_its_time(cli, timed_model, tmp_path):
    path, model, df = timed_model
    pairs = df.iloc[:6][["user", "item", "t"]].rename(columns={"t": "timestamp"})
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    rows = cli.json("predict", path, "--pairs", tmp_path / "pairs.csv")
    want = model.predict(pairs["user"].tolist(), pairs["item"].tolist(),
                         timestamps=pairs["timestamp"].to_numpy())
    np.testing.assert_allclose([r["prediction"] for r in rows], want, rtol=1e-6)


def test_bad_times_are_clear_errors(cli, timed_model, tmp_path):
    path, _, df = timed_model
    (tmp_path / "bad.csv").write_text("user,item,timestamp\n1,2,100\n1,3,soon\n")
    result = cli("predict", path, "--pairs", tmp_path / "bad.csv", expect=2)
    assert "line 3" in result.stderr and "timestamp is not a number" in result.stderr
    (tmp_path / "ok.csv").write_text("user,item,timestamp\n1,2,100\n")
    result = cli("predict", path, "--pairs", tmp_path / "ok.csv", "--pair", 1, 2, expect=2)
    assert "some pairs have a time and some do not" in result.stderr
    result = cli("predict", path, "--pair", 1, 2, "--at", "nan", expect=2)
    assert "--at" in result.stderr


def test_a_model_without_time_says_the_times_change_nothing(cli, model):
    result = cli("predict", model, "--pair", "alice", "kiwi", "--at", 10**9)
    assert "has no time group here" in result.stderr


def test_the_service_predicts_pairs_with_a_timestamp_at_their_times(timed_model):
    path, model, df = timed_model
    client = TestClient(create_app(path))
    u, i, t = int(df["user"][0]), int(df["item"][1]), int(df["t"][5])
    body = {"pairs": [{"user": u, "item": i, "timestamp": t}, {"user": u, "item": i}]}
    got = [p["prediction"] for p in client.post("/predict", json=body).json()["predictions"]]
    want = [model.predict([u], [i], timestamps=[t])[0], model.predict([u], [i])[0]]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    bad = client.post("/predict", json={"pairs": [{"user": u, "item": i,
                                                   "timestamp": "soon"}]})
    assert bad.status_code == 422


def test_every_model_takes_timestamps_and_one_without_time_ignores_them():
    ratings = synthetic(50, 30, 600, random_state=0)
    model = latentrec.SGDMatrixFactorization(n_epochs=3, random_state=0).fit(ratings)
    np.testing.assert_array_equal(model.predict([0, 1], [2, 3], timestamps=[1.0, 2.0]),
                                  model.predict([0, 1], [2, 3]))
    assert not model.uses_timestamps

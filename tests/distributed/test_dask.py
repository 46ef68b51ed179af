"""SGDMatrixFactorization on a real Dask cluster: two worker processes on this machine."""

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from latentrec import Ratings, SGDMatrixFactorization
from latentrec.data import holdout, synthetic

distributed = pytest.importorskip("distributed")
from latentrec.distributed import CheckpointError, ClusterError, DaskEngine

FACTORS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(autouse=True)
def two_workers(client):
    """Every test starts with both workers (a test may have killed one)."""
    client.wait_for_workers(2, timeout=60)


@pytest.fixture(scope="module")
def ratings():
    return synthetic(400, 250, 8000, rank=4, random_state=0)


def one_process(ratings, **kw):
    return SGDMatrixFactorization(schedule="dsgd", n_threads=1, **kw).fit(ratings)


def assert_same_model(a, b):
    assert a.user_map_ == b.user_map_ and a.item_map_ == b.item_map_
    for name in FACTORS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert [h["train_rmse"] for h in a.history_] == [h["train_rmse"] for h in b.history_]


def kill_a_worker(client):
    """SIGKILL one worker process (its nanny starts a new one) and wait until it is gone."""
    pids = client.run(os.getpid)
    victim = min(pids)
    os.kill(pids[victim], signal.SIGKILL)
    while victim in client.scheduler_info()["workers"]:
        time.sleep(0.05)


def test_cluster_gives_the_one_process_model_bit_for_bit(client, ratings):
    kw = {"n_factors": 4, "n_epochs": 2, "random_state": 3}  # n_blocks: the default, 20
    model = SGDMatrixFactorization(**kw)
    assert model.fit(ratings, engine=DaskEngine(client)) is model
    assert_same_model(model, one_process(ratings, **kw))
    assert model.schedule == "blocks"  # the engine ran "dsgd"; the parameter is untouched


def test_held_out_rmse_within_one_percent_of_the_default_schedule(client, ratings):
    train, test = holdout(ratings, 0.2, random_state=0)
    ids = (test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    kw = {"n_factors": 4, "n_epochs": 20, "random_state": 0}
    cluster = SGDMatrixFactorization(n_blocks=5, **kw).fit(train, engine=DaskEngine(client))
    plain = SGDMatrixFactorization(n_threads=1, **kw).fit(train)
    rmse = [float(np.sqrt(np.mean((m.predict(*ids) - test.values) ** 2)))
            for m in (cluster, plain)]
    baseline = float(np.sqrt(np.mean((test.values - train.values.mean()) ** 2)))
    assert rmse[0] == pytest.approx(rmse[1], rel=0.01) and rmse[0] < 0.95 * baseline


@pytest.fixture(scope="module")
def parquet(tmp_path_factory, ratings):
    """The ratings in two Parquet files, string user ids, rows shuffled, odd column names."""
    df = ratings.to_dataframe().sample(frac=1, random_state=0).reset_index(drop=True)
    df["user"] = [f"u{u:04d}" for u in df["user"]]
    df.columns = ["userId", "movieId", "score"]
    folder = tmp_path_factory.mktemp("parquet")
    df.iloc[:5000].to_parquet(folder / "part-0.parquet")
    df.iloc[5000:].to_parquet(folder / "part-1.parquet")
    same = Ratings.from_arrays(df["userId"].to_numpy(), df["movieId"].to_numpy(),
                               df["score"].to_numpy())
    return folder, same


COLUMNS = ("userId", "movieId", "score")


@pytest.mark.parametrize("given", ["glob", "dask DataFrame"])
def test_parquet_is_read_by_the_workers(client, parquet, given, monkeypatch):
    import dask.dataframe as dd
    from dask.dataframe.io.parquet import core

    def no_reading_here(*args, **kwargs):
        raise AssertionError("the ratings were read in the client process")

    monkeypatch.setattr(core, "read_parquet_part", no_reading_here)
    folder, same = parquet
    data = str(folder / "*.parquet") if given == "glob" else dd.read_parquet(folder)
    kw = {"n_factors": 4, "n_epochs": 2, "n_blocks": 4, "random_state": 1}
    model = SGDMatrixFactorization(**kw).fit(data, engine=DaskEngine(client, columns=COLUMNS))
    reference = one_process(same, **kw)
    assert_same_model(model, reference)
    assert (model.seen_ != reference.seen_).nnz == 0
    assert model.rating_range_ == reference.rating_range_
    assert model.user_map_.kind == "str" and model.item_map_.kind == "int"


@pytest.mark.parametrize("every", [None, 1])
def test_a_worker_killed_mid_fit_is_survived(client, parquet, every, tmp_path):
    folder, same = parquet
    kw = {"n_factors": 4, "n_epochs": 3, "n_blocks": 4, "random_state": 2}
    killed = []

    def kill_after_epoch_1(row):
        if row["epoch"] == 1:
            kill_a_worker(client)
            killed.append(True)

    engine = DaskEngine(client, columns=COLUMNS, timeout=120,
                        checkpoint=None if every is None else tmp_path / "ck.npz",
                        checkpoint_every=every or 1)
    model = SGDMatrixFactorization(**kw).fit(str(folder), engine=engine,
                                             callback=kill_after_epoch_1)
    assert killed and len(model.history_) == 3
    assert_same_model(model, one_process(same, **kw))


def test_losing_data_sent_from_this_process_stops_the_fit_naming_the_epoch(client, ratings):
    def kill_after_epoch_1(row):
        if row["epoch"] == 1:
            kill_a_worker(client)

    model = SGDMatrixFactorization(n_factors=4, n_epochs=3, n_blocks=4, random_state=0)
    with pytest.raises(ClusterError, match="failed in epoch 2: .*path of Parquet files"):
        model.fit(ratings, engine=DaskEngine(client, timeout=60), callback=kill_after_epoch_1)
    assert not hasattr(model, "user_factors_")


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_model(client, ratings, tmp_path):
    path = tmp_path / "ck.npz"
    kw = {"n_factors": 4, "n_epochs": 4, "n_blocks": 4}

    def crash_in_epoch_3(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    engine = DaskEngine(client, checkpoint=path, checkpoint_every=2, resume=True)
    with pytest.raises(KeyboardInterrupt):
        SGDMatrixFactorization(random_state=7, **kw).fit(ratings, engine=engine,
                                                         callback=crash_in_epoch_3)
    seen = []
    # random_state=None: the seed comes from the checkpoint
    resumed = SGDMatrixFactorization(**kw).fit(ratings, engine=engine, callback=seen.append)
    assert [h["epoch"] for h in seen] == [3, 4]
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    assert_same_model(resumed, one_process(ratings, random_state=7, **kw))


def test_a_checkpoint_of_another_fit_is_refused(client, ratings, tmp_path):
    path = tmp_path / "ck.npz"
    kw = {"n_epochs": 1, "n_blocks": 4, "random_state": 0}
    SGDMatrixFactorization(n_factors=4, **kw).fit(
        ratings, engine=DaskEngine(client, checkpoint=path))
    with pytest.raises(CheckpointError, match="n_factors is 4 there and 5 here"):
        SGDMatrixFactorization(n_factors=5, **kw).fit(
            ratings, engine=DaskEngine(client, checkpoint=path, resume=True))


def test_bad_cluster_input_is_a_data_error(client, tmp_path):
    pd.DataFrame({"user": [1, 2], "item": [1, 1], "score": [3.0, 4.0]}).to_parquet(
        tmp_path / "r.parquet")
    with pytest.raises(ValueError, match="no rating column 'rating'"):
        SGDMatrixFactorization(n_epochs=1).fit(str(tmp_path / "r.parquet"),
                                               engine=DaskEngine(client))
    with pytest.raises(ValueError, match="must be a Ratings, a pandas or dask DataFrame"):
        SGDMatrixFactorization(n_epochs=1).fit(42, engine=DaskEngine(client))

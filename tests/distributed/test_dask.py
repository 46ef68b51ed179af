"""SGDMatrixFactorization on a real Dask cluster: two worker processes on this machine."""

import os
import signal
import threading
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import latentrec
from latentrec import DataError, Ratings, SGDMatrixFactorization
from latentrec.data import holdout, synthetic

distributed = pytest.importorskip("distributed")
from latentrec.distributed import CheckpointError, ClusterError, DaskEngine

FACTORS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


class TwoWorkers:
    """The module's LocalCluster (2 worker processes) and its Client."""

    def __init__(self):
        self.cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                                processes=True, dashboard_address=None)
        self.client = distributed.Client(self.cluster)

    def close(self):
        self.client.close()
        self.cluster.close()


@pytest.fixture(scope="module")
def cluster():
    held = [TwoWorkers()]
    yield held
    if held[0] is not None:
        held[0].close()


@pytest.fixture
def client(cluster):
    """A client with both workers up, on a cluster where no earlier test killed a worker.
    A killed worker's nanny starts a new one, but while it does (and on a loaded machine
    it can fail for good) the cluster may drop the next test's tasks, an error that is
    not that test's: a test after which the workers are not the ones it began with
    leaves a fresh cluster behind."""
    try:
        cluster[0].client.wait_for_workers(2, timeout=60)
    except (AttributeError, distributed.TimeoutError):  # AttributeError: none to wait for
        _replace(cluster)
    before = cluster[0].client.run(os.getpid)
    yield cluster[0].client
    try:
        after = cluster[0].client.run(os.getpid)
    except Exception:  # a worker lost while asked: the cluster is not the one begun with
        after = None
    if after != before:
        _replace(cluster)


def _replace(cluster):
    """A new cluster in place of the old; if it fails to start, the next test tries again."""
    old, cluster[0] = cluster[0], None
    if old is not None:
        old.close()
    cluster[0] = TwoWorkers()
    cluster[0].client.wait_for_workers(2, timeout=60)


@pytest.fixture(scope="module")
def ratings():
    return synthetic(400, 250, 8000, rank=4, random_state=0)


def one_process(ratings, **kw):
    return SGDMatrixFactorization(schedule="dsgd", n_threads=1, **kw).fit(ratings)


def assert_same_model(a, b):
    assert a.user_map_ == b.user_map_ and a.item_map_ == b.item_map_
    for name in FACTORS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.global_mean_ == b.global_mean_ and a.rating_std_ == b.rating_std_
    assert a.rating_range_ == b.rating_range_
    assert a.seen_.shape == b.seen_.shape and (a.seen_ != b.seen_).nnz == 0
    assert np.array_equal(a.seen_.indptr, b.seen_.indptr)
    assert np.array_equal(a.seen_.indices, b.seen_.indices)
    assert [h["train_rmse"] for h in a.history_] == [h["train_rmse"] for h in b.history_]


def kill_a_worker(client, address=None, timeout=30):
    """SIGKILL a worker process (its nanny starts a new one) and wait until it is gone."""
    pids = client.run(os.getpid)
    victim = address or min(pids)
    os.kill(pids[victim], signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while victim in client.scheduler_info()["workers"]:
        assert time.monotonic() < deadline, f"worker {victim} still there after {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def slow_rounds(client):
    """Each sub-epoch task on the current workers sleeps 0.3 s first (a worker started
    later runs at full speed), so a test can kill a worker while one is running."""
    def patch(seconds):
        from latentrec.kernels import sgd

        fast = sgd.__dict__.setdefault("_fast_run_blocks", sgd.run_blocks)
        sgd.run_blocks = fast if seconds is None else (
            lambda *a, **k: (time.sleep(seconds), fast(*a, **k))[1])

    client.run(patch, 0.3)
    yield
    client.run(patch, None)


def kill_while_running(client, prefix, timeout=30):
    """A started thread that SIGKILLs the worker processing a task whose key starts with
    ``prefix`` as soon as there is one; its list gets that worker's address."""
    pids, killed = client.run(os.getpid), []

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not killed:
            for address, keys in client.processing().items():
                if any(str(k).startswith(prefix) for k in keys):
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append(address)
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, killed


@pytest.mark.parametrize("shape", ["more users", "more items"])
def test_cluster_gives_the_one_process_model_bit_for_bit(client, ratings, shape, tmp_path):
    if shape == "more items":
        ratings = synthetic(150, 400, 6000, rank=4, random_state=1)
    kw = {"n_factors": 4, "n_epochs": 2, "random_state": 3}  # n_blocks: the default, 20
    model = SGDMatrixFactorization(**kw)
    assert model.fit(ratings, engine=DaskEngine(client)) is model
    assert_same_model(model, one_process(ratings, **kw))
    assert model.schedule == "blocks"  # the engine ran "dsgd"; the parameter is untouched
    assert model.schedule_ == "dsgd" and model.history_[0]["schedule"] == "dsgd"
    model.save(tmp_path / "m.npz")
    assert latentrec.load(tmp_path / "m.npz").schedule_ == "dsgd"


def test_held_out_rmse_within_one_percent_of_the_default_schedule(client, ratings):
    train, test = holdout(ratings, 0.2, random_state=0)
    ids = (test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    kw = {"n_factors": 4, "n_epochs": 20, "random_state": 0}
    cluster = SGDMatrixFactorization(n_blocks=5, **kw).fit(train, engine=DaskEngine(client))
    plain = SGDMatrixFactorization(n_threads=1, **kw).fit(train)  # both adaptive
    assert cluster.learning_rate_schedule_ == plain.learning_rate_schedule_ == "adaptive"
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
def test_a_worker_killed_in_a_sub_epoch_is_survived(client, parquet, every, tmp_path,
                                                    slow_rounds):
    folder, same = parquet
    kw = {"n_factors": 4, "n_epochs": 3, "n_blocks": 4, "random_state": 2}
    engine = DaskEngine(client, columns=COLUMNS, timeout=120,
                        checkpoint=None if every is None else tmp_path / "ck.npz",
                        checkpoint_every=every or 1)
    thread, killed = kill_while_running(client, "dsgd-round-2-")
    with distributed.get_task_stream(client) as stream:
        model = SGDMatrixFactorization(**kw).fit(str(folder), engine=engine)
    thread.join()
    assert killed and len(model.history_) == 3
    assert_same_model(model, one_process(same, **kw))
    runs = Counter(t["key"] for t in stream.data if str(t["key"]).startswith("dsgd-round-1-"))
    assert len(runs) == 4 * 2  # 4 sub-epochs x 2 groups
    if every == 1:  # the rebuild started from the checkpoint of epoch 1
        assert set(runs.values()) == {1}
    else:  # from the start: the lost group's sub-epochs of epoch 1 ran again
        assert max(runs.values()) == 2


def test_either_schedule_of_steps_gives_the_one_process_model(client, ratings):
    kw = {"n_factors": 4, "n_epochs": 3, "n_blocks": 4, "random_state": 0}
    models = {}
    for kind in ("adaptive", "constant"):
        model = SGDMatrixFactorization(learning_rate_schedule=kind, **kw)
        models[kind] = model.fit(ratings, engine=DaskEngine(client, timeout=60))
        assert model.learning_rate_schedule_ == kind
        assert_same_model(model, one_process(ratings, learning_rate_schedule=kind, **kw))
    # the cluster's steps did follow the schedule
    assert not np.array_equal(models["adaptive"].user_factors_,
                              models["constant"].user_factors_)


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
    with pytest.raises(DataError, match="no rating column 'rating'"):
        SGDMatrixFactorization(n_epochs=1).fit(str(tmp_path / "r.parquet"),
                                               engine=DaskEngine(client))
    with pytest.raises(DataError, match="must be a Ratings, a pandas or dask DataFrame"):
        SGDMatrixFactorization(n_epochs=1).fit(42, engine=DaskEngine(client))
    pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3.0, 1e39]}).to_parquet(
        tmp_path / "huge.parquet")
    with pytest.raises(DataError, match="rating is not a finite number"):
        SGDMatrixFactorization(n_epochs=1).fit(str(tmp_path / "huge.parquet"),
                                               engine=DaskEngine(client))


def test_resume_refuses_other_settings_and_damaged_checkpoints(client, ratings, tmp_path):
    path = tmp_path / "ck.npz"
    kw = {"n_factors": 4, "n_blocks": 4}
    SGDMatrixFactorization(n_epochs=2, random_state=7, **kw).fit(
        ratings, engine=DaskEngine(client, checkpoint=path))
    resume = DaskEngine(client, checkpoint=path, resume=True)
    epochs = []

    def fit(**more):
        SGDMatrixFactorization(**{"n_epochs": 3, "random_state": 7, **kw, **more}).fit(
            ratings, engine=resume, callback=epochs.append)

    with pytest.raises(CheckpointError, match=r"seed \(drawn from random_state\) is \d+ there"):
        fit(random_state=8)
    with pytest.raises(CheckpointError, match="holds epoch 2, past n_epochs=1"):
        fit(n_epochs=1)
    with pytest.raises(CheckpointError, match="learning_rate_schedule is 'adaptive' there "
                                              "and 'constant' here"):
        fit(learning_rate_schedule="constant")
    with pytest.raises(CheckpointError, match="learning_rate is 0.05 there and 0.1 here"):
        fit(learning_rate=0.1)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # inside some stripe's factors
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="ck.npz: .*(checksum|CRC|not a readable)"):
        fit()
    with pytest.raises(CheckpointError, match="folder .*missing.* does not exist"):
        SGDMatrixFactorization(n_epochs=1, **kw).fit(
            ratings, engine=DaskEngine(client, checkpoint=tmp_path / "missing" / "ck.npz"),
            callback=epochs.append)
    assert epochs == []  # all refused before training

"""The DSGD plan and kernels, checkpoints and the engine's arguments: no cluster needed."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from latentrec import ParameterError
from latentrec.distributed import CheckpointError, checkpoint
from latentrec.kernels import moments
from latentrec.models.plan import Plan, Stats, Stripe


def test_moment_bins_are_exact_and_add_up_in_any_order():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(3, 1, 5000), [1e-45, -1e-40, 3e38, -3e38, 0.0, -0.0],
                             rng.integers(1, 6, 5000)]).astype(np.float32)
    s, q = moments.exact_sums(moments.moment_bins(values))
    exact = [Fraction(float(v)) for v in values]
    assert Fraction(s, 2**149) == sum(exact)
    assert Fraction(q, 2**298) == sum(x * x for x in exact)
    parts = np.array_split(rng.permutation(values), 7)
    assert np.array_equal(sum(moments.moment_bins(p) for p in parts),
                          moments.moment_bins(values))


def _stats(users, items, values, n_users, n_items):
    return Stats.of(users, items, values, n_users, n_items)


def _plan(users, items, values, n_users, n_items, g=4, seed=5):
    return Plan.make(_stats(users, items, values, n_users, n_items), n_blocks=g, seed=seed,
                     biased=True, n_factors=3, init_scale=0.1, dtype="float32")


def _ratings(n_users, n_items, n, seed=0):
    rng = np.random.default_rng(seed)
    cells = rng.choice(n_users * n_items, n, replace=False)
    return ((cells // n_items).astype(np.int32), (cells % n_items).astype(np.int32),
            rng.integers(1, 6, n).astype(np.float32))


def test_standardisation_uses_the_exact_mean_and_spread():
    users, items, values = _ratings(50, 30, 600)
    plan = _plan(users, items, values, 50, 30)
    mean = sum(Fraction(float(v)) for v in values) / len(values)
    var = sum((Fraction(float(v)) - mean) ** 2 for v in values) / len(values)
    assert plan.mu == float(mean)
    assert plan.sigma == pytest.approx(float(var) ** 0.5, rel=1e-15)


@pytest.mark.parametrize("n_users, n_items", [(60, 25), (25, 60)])
def test_layout_depends_on_the_set_of_ratings_not_their_order(n_users, n_items):
    users, items, values = _ratings(n_users, n_items, 700)
    plan = _plan(users, items, values, n_users, n_items)
    assert plan.items_stay == (n_items > n_users)
    rows, cols = plan.orient(users, items)
    first = plan.layout(rows, cols, values, 0, 4)
    p = np.random.default_rng(1).permutation(len(values))
    again = plan.layout(rows[p], cols[p], values[p], 0, 4, parallel=True)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
    # one row stripe laid out alone (as a worker does) is that stripe's part of the whole
    r, c, v, ptr = first
    for s in range(4):
        piece = plan.split(users, items, values)[s]
        alone = plan.layout(*piece, s, s + 1)
        lo, hi = ptr[s * 4], ptr[(s + 1) * 4]
        assert np.array_equal(alone[0], r[lo:hi]) and np.array_equal(alone[2], v[lo:hi])
        assert np.array_equal(alone[3], ptr[s * 4:(s + 1) * 4 + 1] - lo)
    # inside a block: rows ascending, the order of a row's columns shuffled by the seed
    blocks = [(r[ptr[b]:ptr[b + 1]], c[ptr[b]:ptr[b + 1]]) for b in range(16)]
    assert all(np.all(np.diff(br) >= 0) for br, _ in blocks)
    assert any(np.any(np.diff(bc[br == br[0]]) < 0) for br, bc in blocks if br.size > 3)


def test_repeated_pairs_are_refused():
    users, items, values = _ratings(20, 20, 100)
    users, items, values = (np.append(a, a[:3]) for a in (users, items, values))
    plan = _plan(users, items, values, 20, 20)
    with pytest.raises(ValueError, match="3 .user, item. pairs are rated more than once"):
        plan.layout(*plan.orient(users, items), values, 0, 4)


def test_initial_factors_are_drawn_per_stripe_from_the_seed():
    users, items, values = _ratings(40, 30, 300)
    a, b = _plan(users, items, values, 40, 30), _plan(users, items, values, 40, 30, seed=6)
    assert np.array_equal(a.initial("rows", 2).factors, a.initial("rows", 2).factors)
    assert not np.array_equal(a.initial("rows", 2).factors, b.initial("rows", 2).factors)
    f = a.initial("cols", 1).factors
    assert f.shape == (a.col_bounds[2] - a.col_bounds[1], 3) and f.dtype == np.float32
    assert not np.array_equal(a.initial("rows", 0).factors[:5], a.initial("rows", 1).factors[:5])


def test_each_stratum_is_n_blocks_blocks_sharing_no_stripe():
    users, items, values = _ratings(40, 30, 300)
    plan = _plan(users, items, values, 40, 30, g=5)
    sched = plan.schedule(3)
    assert sorted(sched.ravel()) == list(range(25))
    for stratum in sched:
        assert len(set(stratum // 5)) == 5 and len(set(stratum % 5)) == 5
    assert np.array_equal(sched, plan.schedule(3)) and not np.array_equal(sched, plan.schedule(4))


def test_import_latentrec_imports_no_dask():
    code = ("import sys, latentrec, latentrec.distributed; "
            "from latentrec import SGDMatrixFactorization; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_dask_the_engine_says_how_to_install_it(monkeypatch):
    from latentrec.distributed import DaskEngine

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "latentrec\[dask\]"'):
        DaskEngine()


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": ("u", "i")}, "columns must be three column names"),
    ({"checkpoint_every": 0}, "checkpoint_every must be an integer >= 1, got 0"),
    ({"resume": True}, r"resume must be True \(with a checkpoint path\)"),
    ({"timeout": -1}, "timeout must be a positive number of seconds or None, got -1"),
])
def test_engine_arguments_are_checked(kwargs, message):
    from latentrec.distributed import DaskEngine

    with pytest.raises(ParameterError, match=message):
        DaskEngine(**kwargs)


def test_checkpoints_round_trip_and_refuse_other_fits(tmp_path):
    path = tmp_path / "ck.npz"
    stripe = Stripe(np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(2, np.float32))
    fp = {"n_factors": 3, "seed": 1}
    checkpoint.save(path, epoch=4, fingerprint=fp, history=[{"epoch": 1}], rows={0: stripe},
                    cols={0: stripe})
    meta = checkpoint.read_meta(path)
    assert meta["epoch"] == 4 and meta["history"] == [{"epoch": 1}]
    checkpoint.check(meta, fp, path)
    got = checkpoint.read_stripe(path, 4, "rows", 0)
    assert np.array_equal(got.factors, stripe.factors) and got.bias.dtype == np.float32
    with pytest.raises(CheckpointError, match="n_factors is 3 there and 5 here"):
        checkpoint.check(meta, {"n_factors": 5, "seed": 1}, path)
    with pytest.raises(CheckpointError, match="holds epoch 4, not epoch 2"):
        checkpoint.read_stripe(path, 2, "rows", 0)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable DSGD checkpoint"):
        checkpoint.read_meta(tmp_path / "junk.npz")


def test_a_checkpoint_keeps_the_adaptive_steps_and_verify_wants_them(tmp_path):
    users, items, values = _ratings(40, 30, 300)
    plan = _plan(users, items, values, 40, 30)
    g = range(plan.n_blocks)
    for adaptive in (True, False):
        path = tmp_path / f"{adaptive}.npz"
        rows = {s: plan.initial("rows", s, adaptive) for s in g}
        cols = {t: plan.initial("cols", t, adaptive) for t in g}
        for stripe in [*rows.values(), *cols.values()]:
            if adaptive:  # accumulators as an epoch leaves them: not all ones
                stripe.steps[:] = np.arange(stripe.steps.size).reshape(-1, 2) + 1.5
        checkpoint.save(path, epoch=1, fingerprint={}, history=[], rows=rows, cols=cols)
        meta = checkpoint.read_meta(path)
        checkpoint.verify(path, meta, plan, adaptive)
        for side, stripes in (("rows", rows), ("cols", cols)):
            for s in g:
                got = checkpoint.read_stripe(path, 1, side, s, adaptive)
                if adaptive:
                    assert np.array_equal(got.steps, stripes[s].steps)
                    assert got.steps.dtype == np.dtype(plan.dtype)
                else:
                    assert got.steps is None
        # the file's own check, behind the fingerprint's (which names the schedule first):
        # a fit with the other schedule of steps finds arrays missing, or arrays too many
        other = "is missing" if not adaptive else "is not one of this fit's"
        with pytest.raises(CheckpointError, match=rf"array '(rows|cols).0.steps' {other}"):
            checkpoint.verify(path, meta, plan, not adaptive)
        if not adaptive:
            with pytest.raises(CheckpointError, match=r"array 'rows.0.steps' is missing"):
                checkpoint.read_stripe(path, 1, "rows", 0, True)


def test_a_format_1_checkpoint_reads_as_a_constant_step_fit(tmp_path):
    """Format 1 (before the accumulators) was written by fits with constant steps only."""
    from latentrec._archive import write_archive

    stripe = Stripe(np.ones((2, 3), np.float32), np.zeros(2, np.float32))
    for rate, resolved in (("auto", 0.01), (0.02, 0.02)):
        meta = {"format": checkpoint.FORMAT_NAME, "format_version": 1, "epoch": 1,
                "fingerprint": {"seed": 3, "learning_rate": rate}, "history": []}
        write_archive(tmp_path / "ck.npz", {"rows.0.factors": stripe.factors,
                                            "rows.0.bias": stripe.bias}, meta)
        read = checkpoint.read_meta(tmp_path / "ck.npz")
        constant = {"seed": 3, "learning_rate_schedule": "constant",
                    "learning_rate": resolved}
        checkpoint.check(read, constant, "ck.npz")
        with pytest.raises(CheckpointError, match="learning_rate_schedule is 'constant' "
                                                  "there and 'adaptive' here"):
            checkpoint.check(read, {**constant, "learning_rate_schedule": "adaptive"},
                             "ck.npz")
        assert checkpoint.read_stripe(tmp_path / "ck.npz", 1, "rows", 0).steps is None
    # a development version wrote format 1 with the schedule: what it says stands
    meta["fingerprint"] = {"learning_rate_schedule": "adaptive", "learning_rate": "auto"}
    write_archive(tmp_path / "ck.npz", {}, meta)
    assert checkpoint.read_meta(tmp_path / "ck.npz")["fingerprint"] == meta["fingerprint"]
    meta["format_version"] = 3
    write_archive(tmp_path / "ck.npz", {}, meta)
    with pytest.raises(CheckpointError, match="checkpoint format 3; this latentrec reads "
                                              "formats 1 and 2"):
        checkpoint.read_meta(tmp_path / "ck.npz")


def _checkpoint_of(plan, path, **meta_changes):
    """A checkpoint of ``plan``'s initial factors (epoch 1)."""
    g = range(plan.n_blocks)
    checkpoint.save(path, epoch=1, fingerprint={"seed": plan.seed}, history=[],
                    rows={s: plan.initial("rows", s) for s in g},
                    cols={t: plan.initial("cols", t) for t in g})


def test_a_damaged_checkpoint_is_a_checkpoint_error_before_training(tmp_path):
    users, items, values = _ratings(40, 30, 300)
    plan = _plan(users, items, values, 40, 30)
    path = tmp_path / "ck.npz"
    _checkpoint_of(plan, path)
    meta = checkpoint.read_meta(path)
    checkpoint.verify(path, meta, plan)  # intact: passes
    blob = bytearray(path.read_bytes())
    at = blob.index(plan.initial("rows", 2).factors.tobytes()[:16]) + 5
    blob[at] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="ck.npz: .*(checksum|CRC)"):
        checkpoint.verify(path, meta, plan)
    with pytest.raises(CheckpointError, match="(checksum|CRC)"):
        checkpoint.read_stripe(path, 1, "rows", 2)
    other = _plan(users, items, values, 40, 30, g=5)
    _checkpoint_of(plan, path)
    with pytest.raises(CheckpointError, match=r"'rows.0.factors' has dtype and shape "
                                              r"\['<f4', \[11, 3\]\], but this fit needs"):
        checkpoint.verify(path, meta, other)
    wider = Plan.make(_stats(users, items, values, 40, 30), n_blocks=4, seed=5, biased=True,
                      n_factors=6, init_scale=0.1, dtype="float32")
    with pytest.raises(CheckpointError, match=r"this fit needs \['<f4', \[11, 6\]\]"):
        checkpoint.verify(path, checkpoint.read_meta(path), wider)


@pytest.mark.parametrize("drop", ["fingerprint", "epoch", "history"])
def test_checkpoint_metadata_lacking_a_key_is_a_checkpoint_error(tmp_path, drop):
    from latentrec._archive import write_archive

    meta = {"format": checkpoint.FORMAT_NAME, "format_version": checkpoint.FORMAT_VERSION,
            "epoch": 1, "fingerprint": {}, "history": []}
    del meta[drop]
    write_archive(tmp_path / "ck.npz", {}, meta)
    with pytest.raises(CheckpointError, match=f"metadata lacks '{drop}'"):
        checkpoint.read_meta(tmp_path / "ck.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        checkpoint.read_meta(tmp_path / "plain.npy")


def test_cluster_ratings_are_checked_as_read_ratings_checks_them(tmp_path):
    import decimal

    import pandas as pd

    from latentrec import DataError, read_ratings
    from latentrec.distributed import tasks

    columns = ("user", "item", "rating")
    huge = pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3.0, 1e39]})
    huge.to_parquet(tmp_path / "huge.parquet")
    with pytest.raises(DataError, match="rating is not a finite number") as local:
        read_ratings(tmp_path / "huge.parquet")
    with pytest.raises(DataError, match="rating is not a finite number") as cluster:
        tasks.summarize(huge, columns)
    assert local.value.reason.endswith(cluster.value.reason)  # read_ratings adds the row
    assert cluster.value.value == 1e39 and cluster.value.column == "rating"
    exact = pd.DataFrame({"user": [1, 2], "item": [1, 1],
                          "rating": [decimal.Decimal("3.5"), decimal.Decimal(4)]})
    assert tasks.summarize(exact, columns).high == 4.0
    with pytest.raises(DataError, match="ratings must be numbers"):
        tasks.summarize(exact.assign(rating=[True, False]), columns)


def test_only_a_lost_worker_gets_the_lost_worker_hint():
    pytest.importorskip("distributed")
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    from latentrec.distributed.engine import _lost_worker

    assert _lost_worker(KilledWorker("k", "w", 3)) and _lost_worker(CancelledError())
    assert not _lost_worker(TimeoutError()) and not _lost_worker(ValueError("bad"))


def test_an_engine_refuses_shuffle_false_as_schedule_dsgd_does():
    pytest.importorskip("distributed")
    from latentrec import SGDMatrixFactorization
    from latentrec.distributed import DaskEngine

    for model in (SGDMatrixFactorization(n_epochs=1, shuffle=False),
                  SGDMatrixFactorization(n_epochs=1, shuffle=False, schedule="dsgd")):
        with pytest.raises(ParameterError, match="shuffle=False .* cannot follow it"):
            model.fit(None, engine=DaskEngine())

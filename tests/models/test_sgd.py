import numpy as np
import pytest

from latentrec import DataError, Ratings, TrainingDivergedError
from latentrec.data.split import holdout
from latentrec.data.synthetic import synthetic
from latentrec.models import SGDMatrixFactorization


def fit(ratings, **kw):
    kw.setdefault("n_threads", 1)
    kw.setdefault("random_state", 0)
    return SGDMatrixFactorization(**kw).fit(ratings)


@pytest.mark.parametrize("param, value, message", [
    ("n_factors", 0, r"n_factors must be an integer in \[1, inf\), got 0"),
    ("n_factors", 2.5, "n_factors must be an integer"),
    ("n_epochs", -1, r"n_epochs must be an integer in \[0, inf\) or one of 'auto', got -1"),
    ("n_epochs", "many", "n_epochs must be .* got 'many'"),
    ("learning_rate", 0, r"learning_rate must be a number in \(0, inf\) or one of 'auto', got 0"),
    ("learning_rate", "fast", "learning_rate must be .* or one of 'auto', got 'fast'"),
    ("learning_rate", float("nan"), "learning_rate must be a number"),
    ("regularization", -0.1, "regularization must be a number in"),
    ("learning_rate_decay", 1.5, r"learning_rate_decay must be a number in \(0, 1\]"),
    ("biased", "yes", "biased must be one of True, False, got 'yes'"),
    ("n_threads", 0, "n_threads must be an integer in"),
    ("dtype", "float16", "dtype must be one of 'float32', 'float64', got 'float16'"),
    ("validation_fraction", 1.0, r"validation_fraction must be a number in \(0, 1\)"),
    ("learning_rate_schedule", "cosine",
     "learning_rate_schedule must be one of 'auto', 'constant', 'adaptive', got 'cosine'"),
])
def test_bad_parameters_are_named(small_ratings, param, value, message):
    with pytest.raises(ValueError, match=message):
        SGDMatrixFactorization(**{param: value}).fit(small_ratings)


def test_init_stores_parameters_untouched():
    m = SGDMatrixFactorization(n_factors=7, learning_rate=0.5, n_epochs="auto")
    assert m.get_params()["n_factors"] == 7 and m.n_epochs == "auto"
    assert "n_factors=7" in repr(m)
    with pytest.raises(ValueError, match="has no parameter 'factors'"):
        m.set_params(factors=3)


def test_integer_epochs_train_exactly_that_many(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=7)
    assert [h["epoch"] for h in m.history_] == list(range(1, 8))
    assert all(h["val_rmse"] is None and h["seconds"] >= 0 for h in m.history_)
    train_rmse = [h["train_rmse"] for h in m.history_]
    assert train_rmse[-1] < train_rmse[0]


def test_auto_epochs_stop_early_then_refit(small_ratings):
    # the constant step: on this tiny set the adaptive one improves for 500 epochs
    m = fit(small_ratings, n_factors=3, patience=2, max_epochs=300,
            learning_rate_schedule="constant")
    search = [h for h in m.history_ if "stage" not in h]
    refit = [h for h in m.history_ if h.get("stage") == "refit"]
    assert len(search) < 300 and all(h["val_rmse"] is not None for h in search)
    best = min(search, key=lambda h: h["val_rmse"])["epoch"]
    assert [h["epoch"] for h in refit] == list(range(1, best + 1))


def test_auto_epochs_go_on_from_the_search_on_large_data(small_ratings, monkeypatch):
    import latentrec.models.sgd as sgd

    monkeypatch.setattr(sgd, "CONTINUE_FROM", 500)  # small_ratings has 840
    m = fit(small_ratings, n_factors=3, patience=2, learning_rate=0.2)
    search = [h for h in m.history_ if "stage" not in h]
    refit = [h for h in m.history_ if h.get("stage") == "refit"]
    assert len(search) < 200
    best = min(search, key=lambda h: h["val_rmse"])["epoch"]
    assert [h["epoch"] for h in refit] == list(range(best + 1, best + 1 + -(-best // 4)))
    assert sgd.continued_epochs(best, 499) is None and sgd.continued_epochs(8, 500) == 2
    assert m.learning_rate_ == 0.2 and m.learning_rate_schedule_ == "adaptive"


def test_resuming_a_run_on_more_ratings_keeps_its_predictions(small_ratings):
    from latentrec.models.engine import EpochRunner

    model = SGDMatrixFactorization(n_factors=3, random_state=0)
    model._rate, model._step_kind = model._resolved("adaptive")
    part, _ = holdout(small_ratings, 0.3, random_state=0)
    first = EpochRunner(model, part, seed=1)
    for epoch in (1, 2, 3):
        first.epoch(epoch, 0.05, 0.08, 0.02, True)
    state = first.state()
    then = EpochRunner(model, small_ratings, seed=2)
    then.resume(4, state)
    assert then.first_epoch == 4 and then.sigma != first.sigma

    def predictions(run):
        P, Q, bu, bi = run.factors()
        return run.mu + run.sigma * (bu[:, None] + bi[None, :] + P @ Q.T)

    np.testing.assert_allclose(predictions(then), predictions(first), rtol=1e-5, atol=1e-5)
    for name in ("gu", "gi"):
        np.testing.assert_array_equal(then.steps[name], state["steps"][name])


def test_explicit_validation_with_early_stopping(small_ratings):
    train, val = holdout(small_ratings, 0.2, random_state=0)
    m = SGDMatrixFactorization(n_factors=3, n_epochs=500, early_stopping=True, patience=3,
                               n_threads=1, random_state=0,
                               learning_rate_schedule="constant").fit(train, validation=val)
    assert len(m.history_) < 500
    vals = [h["val_rmse"] for h in m.history_]
    assert np.argmin(vals) == len(vals) - 1 - 3


def test_early_stopping_without_validation_is_an_error(small_ratings):
    with pytest.raises(DataError, match="early stopping needs validation data"):
        SGDMatrixFactorization(n_epochs=5, early_stopping=True).fit(small_ratings)


def test_divergence_names_the_epoch_and_leaves_model_unfitted(small_ratings):
    m = SGDMatrixFactorization(n_factors=5, n_epochs=20, learning_rate=200.0, n_threads=1,
                               random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch \d+ .*try 20"):
        m.fit(small_ratings)
    assert not hasattr(m, "user_factors_")


def test_float64_on_request(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=2, dtype="float64")
    assert m.user_factors_.dtype == np.float64 and m.item_bias_.dtype == np.float64


def test_predict_matrix_and_its_cap(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=2)
    full = m.predict_matrix()
    assert full.shape == (small_ratings.n_users, small_ratings.n_items)
    u, i = small_ratings.users[:5], small_ratings.items[:5]
    np.testing.assert_allclose(
        full[u, i], m.predict(m.user_map_.to_ids(u), m.item_map_.to_ids(i)), rtol=1e-5)
    with pytest.raises(DataError, match="above the cap of 100; use recommend"):
        m.predict_matrix(max_cells=100)


def test_clip_to_training_scale(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=2)
    full = m.predict(np.repeat(m.user_map_.ids, 3)[:50], np.tile(m.item_map_.ids, 5)[:50],
                     clip=True)
    lo, hi = m.rating_range_
    assert full.min() >= lo and full.max() <= hi


def test_same_model_on_any_rating_scale(small_ratings):
    """Standardised training: ratings x 20 + 7 give predictions x 20 + 7."""
    df = small_ratings.to_dataframe()
    scaled = Ratings.from_arrays(df.user, df.item, df.rating * 20 + 7)
    a = fit(small_ratings, n_factors=3, n_epochs=5, dtype="float64")
    b = fit(scaled, n_factors=3, n_epochs=5, dtype="float64")
    pa = a.predict(df.user, df.item)
    pb = b.predict(df.user, df.item)
    np.testing.assert_allclose(pb, pa * 20 + 7, rtol=1e-6)


def test_unbiased_model_has_no_biases(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=3, biased=False)
    assert m.global_mean_ == 0 and not m.user_bias_.any() and not m.item_bias_.any()


def test_user_groups(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=5)
    groups = m.user_groups(3, random_state=0)
    assert len(groups) == small_ratings.n_users and set(groups) <= {0, 1, 2}
    assert groups.equals(m.user_groups(3, random_state=0))
    with pytest.raises(ValueError, match="k must be an integer"):
        m.user_groups(0)


def test_partial_fit_adds_new_users_and_items_and_learns_them(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=10)
    before = m.predict(["u01"], [0])
    new = Ratings.from_arrays(["newbie"] * 6 + ["u01"], [0, 10, 20, 30, 40, 777, 777],
                              [5, 5, 5, 5, 5, 4, 4])
    assert m.partial_fit(new, n_epochs=30) is m
    assert "newbie" in m.user_map_ and 777 in m.item_map_
    assert m.user_factors_.shape[0] == small_ratings.n_users + 1
    assert m.item_factors_.shape[0] == small_ratings.n_items + 1
    # the new user's known ratings pull their predictions up towards 5
    assert m.predict(["newbie"], [10])[0] > m.global_mean_
    ids, _ = m.recommend("newbie", n=50)
    assert not {0, 10, 20, 30, 40, 777} & set(ids)
    assert np.isfinite(m.predict(["u01"], [0])).all() and before.shape == (1,)


def test_partial_fit_widens_the_rating_range_to_the_new_ratings(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=5)
    lo, hi = m.rating_range_
    new = Ratings.from_arrays(["newbie"] * 3, [0, 10, 20], [hi + 2, hi + 2, lo - 1])
    m.partial_fit(new, n_epochs=50)
    assert m.rating_range_ == (lo - 1, hi + 2)
    # learnt above the old top: no longer clipped to it, and fold-in takes such a rating
    assert m.predict(["newbie"], [0])[0] > hi
    m.fold_in({0: hi + 2})


def test_partial_fit_on_nothing_says_so(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=2)
    empty = small_ratings.subset(np.array([], dtype=np.int64))
    with pytest.raises(DataError, match=r"^partial_fit needs new ratings to learn from"):
        m.partial_fit(empty)


def test_partial_fit_on_unfitted_model_raises():
    from latentrec import NotFittedError

    with pytest.raises(NotFittedError):
        SGDMatrixFactorization().partial_fit(Ratings.from_arrays([1], [2], [3]))


def test_one_and_two_threads_give_the_same_model(small_ratings, monkeypatch):
    from latentrec.models import threads

    monkeypatch.setattr(threads, "SMALL_WORK", 0)  # really use two threads on small data
    assert threads.resolve_threads(2, small_ratings.n_ratings) == min(
        2, threads.numba.config.NUMBA_NUM_THREADS)
    a = fit(small_ratings, n_factors=3, n_epochs=4, n_threads=1)
    b = fit(small_ratings, n_factors=3, n_epochs=4, n_threads=2)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_setup_on_two_threads_is_the_setup_in_turn(small_ratings, monkeypatch, n_threads):
    """The runner groups the ratings on a second thread while it draws the factors; the
    result must be what drawing P, Q, then the layout's seed, in turn, gives."""
    from latentrec._random import seed_from
    from latentrec.kernels.sgd import make_block_layout
    from latentrec.models import threads
    from latentrec.models._scaled import standardisation, standardised
    from latentrec.models.engine import EpochRunner

    monkeypatch.setattr(threads, "SMALL_WORK", 0)
    model = SGDMatrixFactorization(n_factors=3, n_threads=n_threads, init_scale=0.2)
    model._rate, model._step_kind = model._resolved("adaptive")
    runner = EpochRunner(model, small_ratings, 5)
    r = small_ratings
    rng = np.random.default_rng(5)
    P = rng.standard_normal((r.n_users, 3), dtype=np.float32) * np.float32(0.2)
    Q = rng.standard_normal((r.n_items, 3), dtype=np.float32) * np.float32(0.2)
    mu, sigma = standardisation(r.values, True)
    layout = make_block_layout(r.users, r.items, standardised(r.values, mu, sigma, np.float32),
                               r.n_users, r.n_items, runner.n_threads, seed_from(rng),
                               n_factors=3)
    assert (runner.mu, runner.sigma) == (mu, sigma)
    np.testing.assert_array_equal(runner.P, P)
    np.testing.assert_array_equal(runner.Q, Q)
    for got, want in zip(runner.layout, layout):
        np.testing.assert_array_equal(got, want)
    assert seed_from(runner.rng) == seed_from(rng)  # the epochs' seeds follow on


def test_a_setup_that_fails_leaves_no_thread_behind(small_ratings, monkeypatch):
    """Drawing the factors fails (no memory, say) while the second thread still groups
    the ratings: the error comes once that thread is done, not before."""
    import threading
    import time

    import numba

    from latentrec.models import engine, threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU: the fit has no second thread")
    monkeypatch.setattr(threads, "SMALL_WORK", 0)
    grouping = engine.kernels.group_blocks

    def slow_grouping(*args, **kwargs):
        time.sleep(0.5)
        return grouping(*args, **kwargs)

    def failing_draw(*args):
        raise MemoryError("no room for the factors")

    monkeypatch.setattr(engine.kernels, "group_blocks", slow_grouping)
    monkeypatch.setattr(engine, "_initial_factors", failing_draw)
    with pytest.raises(MemoryError, match="no room"):
        SGDMatrixFactorization(n_factors=3, n_threads=2).fit(small_ratings)
    assert not [t for t in threading.enumerate() if t.name.startswith("latentrec-prepare")]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_grouping_that_fails_is_raised_with_no_thread_behind(small_ratings, monkeypatch,
                                                               n_threads):
    """In a one-thread fit before the factors are drawn, as it always was; with a second
    thread once the draws are done, and nothing left running on that thread."""
    import threading

    from latentrec.models import engine, threads

    monkeypatch.setattr(threads, "SMALL_WORK", 0)
    drawn = []
    draw = engine._initial_factors

    def failing_grouping(*args, **kwargs):
        raise ValueError("no grouping today")

    def counted_draw(*args):
        drawn.append(args[1])
        return draw(*args)

    monkeypatch.setattr(engine.kernels, "group_blocks", failing_grouping)
    monkeypatch.setattr(engine, "_initial_factors", counted_draw)
    with pytest.raises(ValueError, match="no grouping today"):
        SGDMatrixFactorization(n_factors=3, n_threads=n_threads).fit(small_ratings)
    if n_threads == 1:
        assert drawn == []
    assert not [t for t in threading.enumerate() if t.name.startswith("latentrec-prepare")]


def test_unshuffled_training_is_serial_in_the_given_order(small_ratings):
    a = fit(small_ratings, n_factors=3, n_epochs=3, shuffle=False)
    b = fit(small_ratings, n_factors=3, n_epochs=3, shuffle=False, n_threads=2)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    assert a.history_[-1]["train_rmse"] < a.history_[0]["train_rmse"]


# -- schedule="dsgd": the single-process twin of training on a Dask cluster ------------------
@pytest.mark.parametrize("param, value, message", [
    ("schedule", "ring", "schedule must be one of 'blocks', 'dsgd', got 'ring'"),
    ("n_blocks", 0, r"n_blocks must be an integer in \[1, inf\), got 0"),
])
def test_dsgd_parameters_are_named(small_ratings, param, value, message):
    with pytest.raises(ValueError, match=message):
        SGDMatrixFactorization(**{param: value}).fit(small_ratings)


def test_dsgd_refuses_the_serial_order(small_ratings):
    with pytest.raises(ValueError, match="shuffle=False .* cannot follow it"):
        fit(small_ratings, n_epochs=2, schedule="dsgd", shuffle=False)


def _synthetic(n_users, n_items, seed=0):
    from latentrec.data import synthetic

    return synthetic(n_users, n_items, 6000, rank=4, random_state=seed)


@pytest.mark.parametrize("n_users, n_items", [(200, 120), (120, 200)])
def test_dsgd_depends_on_neither_input_order_nor_threads(n_users, n_items, monkeypatch):
    from latentrec.models import threads

    monkeypatch.setattr(threads, "SMALL_WORK", 0)  # really use two threads on small data
    ratings = _synthetic(n_users, n_items)
    shuffled = ratings.subset(np.random.default_rng(1).permutation(ratings.n_ratings))
    kw = {"n_factors": 4, "n_epochs": 3, "schedule": "dsgd", "n_blocks": 5}
    a = fit(ratings, n_threads=1, **kw)
    b = fit(shuffled, n_threads=2, **kw)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert [h["train_rmse"] for h in a.history_] == [h["train_rmse"] for h in b.history_]
    assert a.history_[-1]["train_rmse"] < a.history_[0]["train_rmse"]
    c = fit(ratings, n_threads=1, **{**kw, "n_blocks": 6})
    assert not np.array_equal(a.user_factors_, c.user_factors_)


def test_dsgd_learns_as_well_as_the_default_schedule():
    ratings = _synthetic(300, 150)
    train, test = holdout(ratings, 0.2, random_state=0)
    ids = (test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))

    def rmse(**kw):
        m = fit(train, n_factors=4, n_epochs=25, learning_rate_schedule="constant", **kw)
        return float(np.sqrt(np.mean((m.predict(*ids) - test.values) ** 2)))

    assert rmse(schedule="dsgd") == pytest.approx(rmse(), rel=0.01)


def test_the_auto_schedule_is_adaptive_on_every_schedule(small_ratings):
    blocks = fit(small_ratings, n_factors=3, n_epochs=2)
    dsgd = fit(small_ratings, n_factors=3, n_epochs=2, schedule="dsgd")
    assert (blocks.learning_rate_schedule_, blocks.learning_rate_) == ("adaptive", 0.05)
    assert (dsgd.learning_rate_schedule_, dsgd.learning_rate_) == ("adaptive", 0.05)
    same = fit(small_ratings, n_factors=3, n_epochs=2, learning_rate_schedule="adaptive",
               learning_rate=0.05, schedule="dsgd")
    np.testing.assert_array_equal(dsgd.user_factors_, same.user_factors_)


def test_a_model_file_without_its_steps_resolves_them_as_its_version_did(small_ratings,
                                                                          tmp_path):
    """Files from before the steps were recorded: "auto" then meant constant steps for
    "dsgd" (a cluster ran no others) and adaptive ones otherwise."""
    import json

    from latentrec import load
    from latentrec._archive import META, write_archive

    for schedule, expected in (("dsgd", ("constant", 0.01)), ("blocks", ("adaptive", 0.05))):
        path = tmp_path / f"{schedule}.npz"
        fit(small_ratings, n_factors=3, n_epochs=1, schedule=schedule).save(path)
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz[META].tobytes())
            arrays = {k: npz[k] for k in npz.files if k != META
                      and k not in ("extra.learning_rate_used", "extra.adaptive_steps_used")}
        assert len(arrays) == len(meta.pop("arrays")) - 2
        write_archive(path, arrays, meta)
        back = load(path)
        assert (back.learning_rate_schedule_, back.learning_rate_) == expected


def test_dsgd_refuses_repeated_pairs():
    r = Ratings.from_arrays([1, 2, 3], [1, 1, 2], [4, 5, 3])
    twice = Ratings(np.r_[r.users, r.users[:1]], np.r_[r.items, r.items[:1]],
                    np.r_[r.values, r.values[:1]], user_map=r.user_map, item_map=r.item_map)
    with pytest.raises(DataError, match="1 .user, item. pairs are rated more than once"):
        fit(twice, n_epochs=1, schedule="dsgd")


def test_dsgd_model_saves_and_loads(small_ratings, tmp_path):
    import latentrec

    m = fit(small_ratings, n_factors=3, n_epochs=3, schedule="dsgd", n_blocks=3)
    m.save(tmp_path / "m.npz")
    back = latentrec.load(tmp_path / "m.npz")
    assert back.schedule == "dsgd" and back.n_blocks == 3 and back.schedule_ == "dsgd"
    assert np.array_equal(back.user_factors_, m.user_factors_)


def test_the_dsgd_grid_defaults_to_the_shared_constant_and_blocks_ignores_it(small_ratings):
    from latentrec.kernels.blocks import GRID_TARGET

    assert SGDMatrixFactorization().n_blocks == GRID_TARGET
    a = fit(small_ratings, n_factors=3, n_epochs=2, n_blocks=2)
    b = fit(small_ratings, n_factors=3, n_epochs=2, n_blocks=7)
    assert np.array_equal(a.user_factors_, b.user_factors_) and a.schedule_ == "blocks"


def test_blocks_and_dsgd_standardise_with_the_same_exact_moments(small_ratings):
    a = fit(small_ratings, n_factors=3, n_epochs=1)
    b = fit(small_ratings, n_factors=3, n_epochs=1, schedule="dsgd")
    assert a.global_mean_ == b.global_mean_ and a.rating_std_ == b.rating_std_


def test_engine_needs_integer_epochs_and_no_validation(small_ratings):
    from latentrec.distributed import DaskEngine

    with pytest.raises(ValueError, match="engine must be None, a latentrec.models.LocalEngine "
                                         "or a latentrec.distributed"):
        SGDMatrixFactorization(n_epochs=2).fit(small_ratings, engine="dask")
    with pytest.raises(ValueError, match=r"pass an integer n_epochs \(got n_epochs='auto'\)"):
        SGDMatrixFactorization().fit(small_ratings, engine=DaskEngine())
    with pytest.raises(ValueError, match="no validation="):
        SGDMatrixFactorization(n_epochs=2).fit(small_ratings, small_ratings,
                                                engine=DaskEngine())


def test_every_fit_goes_through_an_engine(small_ratings):
    """The default fit is LocalEngine's; an engine of one's own sees every run (the
    validation run and the refit of n_epochs="auto")."""
    from latentrec.models import Engine, LocalEngine

    class Counting(LocalEngine):
        def __init__(self):
            self.runs = []

        def sgd_run(self, model, data, seed):
            self.runs.append(data.n_ratings)
            return super().sgd_run(model, data, seed)

    engine = Counting()
    assert isinstance(engine, Engine)
    params = dict(n_factors=3, max_epochs=4, patience=1, n_threads=1, random_state=0)
    by_default = SGDMatrixFactorization(**params).fit(small_ratings)
    counted = SGDMatrixFactorization(**params).fit(small_ratings, engine=engine)
    assert engine.runs[0] < engine.runs[1] == small_ratings.n_ratings and len(engine.runs) == 2
    assert np.array_equal(by_default.user_factors_, counted.user_factors_)
    assert counted.schedule_ == "blocks"


def test_an_engine_without_adaptive_steps_runs_auto_as_the_constant_step(small_ratings):
    """The Engine protocol's ``adaptive`` is optional: an engine without it trains the
    constant step by default and refuses the adaptive one by name."""
    from latentrec.models import Engine, LocalEngine

    class Plain:
        schedule, reads_input = None, False

        def sgd_run(self, model, data, seed):
            return LocalEngine().sgd_run(model, data, seed)

    assert isinstance(Plain(), Engine)
    params = dict(n_factors=3, n_epochs=2, n_threads=1, random_state=0)
    model = SGDMatrixFactorization(**params).fit(small_ratings, engine=Plain())
    assert (model.learning_rate_schedule_, model.learning_rate_) == ("constant", 0.01)
    same = SGDMatrixFactorization(learning_rate_schedule="constant", **params).fit(
        small_ratings)
    np.testing.assert_array_equal(model.user_factors_, same.user_factors_)
    with pytest.raises(ValueError, match="Plain trains with a constant learning rate only"):
        SGDMatrixFactorization(learning_rate_schedule="adaptive", **params).fit(
            small_ratings, engine=Plain())


def test_adaptive_learning_rate_is_the_kernels_adaptive_step():
    """shuffle=False visits the ratings serially in their order: the model's epochs are
    then kernels.sgd_epoch's with the accumulators, from the model's initial factors."""
    from latentrec.kernels import sgd as kernels
    from latentrec.models._scaled import standardisation, standardised

    data = synthetic(60, 40, 900, rank=3, noise=0.3, random_state=0)
    params = dict(n_factors=3, n_epochs=3, learning_rate=0.1, shuffle=False,
                  ranking_factors=0, n_threads=1, random_state=0)
    model = SGDMatrixFactorization(learning_rate_schedule="adaptive", **params).fit(data)
    start = SGDMatrixFactorization(learning_rate_schedule="adaptive",
                                   **dict(params, n_epochs=0)).fit(data)
    mu, sigma = standardisation(data.values, True)
    root, dtype = np.sqrt(sigma), start.user_factors_.dtype
    P, Q = ((f / root).astype(dtype) for f in (start.user_factors_, start.item_factors_))
    bu, bi = np.zeros_like(start.user_bias_), np.zeros_like(start.item_bias_)
    gu, gi = np.ones((len(P), 2), P.dtype), np.ones((len(Q), 2), Q.dtype)
    values = standardised(data.values, mu, sigma, P.dtype)
    for _ in range(3):
        kernels.sgd_epoch(data.users, data.items, values, np.arange(len(values)), P, Q, bu,
                          bi, 0.0, 0.1, 0.08, 0.02, True, gu=gu, gi=gi)
    np.testing.assert_allclose(model.user_factors_, P * root, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.item_bias_, bi * sigma, rtol=1e-5, atol=1e-6)
    constant = SGDMatrixFactorization(learning_rate_schedule="constant", **params).fit(data)
    assert not np.allclose(constant.user_factors_, model.user_factors_)


def test_adaptive_partial_fit_starts_its_steps_afresh():
    data = synthetic(60, 40, 900, rank=3, noise=0.3, random_state=0)
    more = synthetic(60, 40, 300, rank=3, noise=0.3, random_state=1)
    runs = [SGDMatrixFactorization(n_factors=3, n_epochs=5, learning_rate=0.1,
                                   learning_rate_schedule=schedule, ranking_factors=0,
                                   n_threads=1, random_state=0).fit(data)
            for schedule in ("adaptive", "adaptive", "constant")]
    for model in runs:
        model.partial_fit(more, n_epochs=2)
    np.testing.assert_array_equal(runs[0].user_factors_, runs[1].user_factors_)
    assert np.all(np.isfinite(runs[0].user_factors_))
    assert not np.allclose(runs[0].item_factors_, runs[2].item_factors_)


def test_recommend_all_raises_what_a_chunks_product_raised(small_ratings, monkeypatch):
    import latentrec.models.base as base

    model = fit(small_ratings, n_factors=2, n_epochs=2)
    monkeypatch.setattr(base, "_CHUNK_USERS", 3)
    calls = []

    def failing(self, u_idx, by="rating", side=None):  # the second chunk's product fails
        calls.append(len(u_idx))
        if len(calls) == 2:
            raise MemoryError("no room for the scores")
        return original(self, u_idx, by, side)

    original = base.Recommender._score_rows
    monkeypatch.setattr(base.Recommender, "_score_rows", failing)
    chunks = model.recommend_all(n=2)
    assert len(next(chunks)) > 0  # the first chunk, while the second is computed
    with pytest.raises(MemoryError, match="no room for the scores"):
        list(chunks)


def test_auto_epochs_without_early_stopping_retrain_from_scratch(small_ratings, monkeypatch):
    import latentrec.models.sgd as sgd

    monkeypatch.setattr(sgd, "CONTINUE_FROM", 0)  # going on needs the search's best state
    m = fit(small_ratings, n_factors=3, early_stopping=False, max_epochs=30)
    search = [h for h in m.history_ if "stage" not in h]
    refit = [h for h in m.history_ if h.get("stage") == "refit"]
    assert len(search) == 30
    best = min(search, key=lambda h: h["val_rmse"])["epoch"]
    assert [h["epoch"] for h in refit] == list(range(1, best + 1))


def test_the_steps_a_fit_used_are_kept_and_saved(small_ratings, tmp_path):
    from latentrec import load

    m = fit(small_ratings, n_factors=3, n_epochs=2, schedule="dsgd",
            learning_rate_schedule="constant")
    m.set_params(schedule="blocks", learning_rate=0.3)  # changes the next fit only
    assert (m.learning_rate_, m.learning_rate_schedule_) == (0.01, "constant")
    m.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert (back.learning_rate_, back.learning_rate_schedule_) == (0.01, "constant")
    assert fit(small_ratings, n_factors=3, n_epochs=2).learning_rate_schedule_ == "adaptive"


def test_a_continued_fit_is_told_apart_in_its_summary(small_ratings, monkeypatch):
    import latentrec.models.sgd as sgd

    monkeypatch.setattr(sgd, "CONTINUE_FROM", 500)
    m = fit(small_ratings, n_factors=3, patience=2, learning_rate=0.2)
    digest = m.summary()["history"]
    refit = [h for h in m.history_ if h.get("stage") == "refit"]
    assert digest["epochs"] == refit[-1]["epoch"] and digest["epochs_continued"] == len(refit)
    plain = fit(small_ratings, n_factors=3, n_epochs=3).summary()["history"]
    assert plain["epochs"] == 3 and plain["epochs_continued"] is None

"""Fits that end well or fail clearly: early stopping that does not stop at the start, a
warning when a model loses to the simplest baselines, tiny data, and sizes that cannot
fit in memory (refused before anything is allocated)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import latentrec as lr
from latentrec import DataError, ParameterError, Ratings
from latentrec._random import check_random_state
from latentrec.data.io import read_ratings
from latentrec.data.split import holdout
from latentrec.data.synthetic import synthetic
from latentrec.evaluation import search
from latentrec.models import memory
from latentrec.models.base import ConstantRatingsWarning
from latentrec.models.sgd import WorseThanBaselineWarning, _baselines
from latentrec.models.threads import resolve_threads

PROBE = Path(__file__).parents[1] / "data" / "probe-1to10" / "ratings.csv"


@pytest.fixture(scope="module")
def probe() -> Ratings:
    with warnings.catch_warnings():  # its 20 repeated pairs are resolved, as documented
        warnings.simplefilter("ignore")
        return read_ratings(PROBE)


def tiny(n: int) -> Ratings:
    return Ratings.from_arrays(np.arange(n), np.arange(n) % 2, np.arange(n) + 1.0)


# -- item 4: early stopping ------------------------------------------------------------
def test_default_sgd_learns_the_probe_set_instead_of_stopping_at_epoch_1(probe):
    # 200 users, 300 items, 5,000 ratings 1-10 and no real biases: the first epochs get
    # worse (biases fit noise while the factors are still small) before the factors learn
    # the structure. Patience counted from epoch 1 stopped there, at the global mean's
    # level (2.59 against 2.58).
    model = lr.SGDMatrixFactorization(random_state=0, n_threads=1).fit(probe)
    digest = model.summary()["history"]
    train, val = holdout(probe, 0.1, random_state=check_random_state(0))
    mean_rmse = float(np.sqrt(np.mean((val.values - train.values.mean()) ** 2)))
    assert digest["epochs_searched"] > 50
    assert digest["best_val_rmse"] < 0.8 * mean_rmse


def test_the_stopping_bar_is_the_best_baseline_less_its_noise(probe):
    train, val = holdout(probe, 0.1, random_state=0)
    rmses, bar = _baselines(train, val)
    y = val.values.astype(np.float64)
    mean = np.full(y.size, float(np.mean(train.values, dtype=np.float64)))
    assert rmses["the global mean"] == pytest.approx(np.sqrt(np.mean((y - mean) ** 2)))
    best = min(rmses.values())
    assert 0 < bar < best  # 500 validation ratings: two standard errors are ~0.13
    assert best - bar == pytest.approx(0.13, abs=0.05)


def test_patience_runs_out_only_below_the_bar(probe, monkeypatch):
    import latentrec.models.sgd as sgd

    train, val = holdout(probe, 0.1, random_state=0)
    # the constant step (the adaptive one beats the mean from its first epoch here): its
    # first epochs get worse before the factors learn anything
    model = lr.SGDMatrixFactorization(n_epochs=40, early_stopping=True, patience=2,
                                      n_threads=1, random_state=0,
                                      learning_rate_schedule="constant")
    monkeypatch.setattr(sgd, "_bar", lambda baselines: np.inf)  # the old rule
    with pytest.warns(WorseThanBaselineWarning, match="of the global mean"):
        assert len(model.fit(train, val).history_) < 10
    monkeypatch.undo()
    scores = [h["val_rmse"] for h in model.fit(train, val).history_]
    assert len(scores) > 10
    assert min(scores) < _baselines(train, val).bar


def test_a_model_worse_than_the_bias_baseline_warns_with_both_numbers():
    # strong biases, and a learning rate that leaves the model at the global mean
    data = synthetic(60, 40, 900, rank=0, random_state=0)
    train, val = holdout(data, 0.2, random_state=0)
    model = lr.SGDMatrixFactorization(n_epochs=2, learning_rate=1e-6, random_state=0)
    with pytest.warns(WorseThanBaselineWarning,
                      match=r"validation RMSE \d+\.\d{4} is worse than \d+\.\d{4} of the "
                            r"bias baseline \(global mean \+ user and item biases\)"):
        model.fit(train, val)
    assert issubclass(WorseThanBaselineWarning, UserWarning)


def test_auto_warns_too_when_its_best_epoch_loses_to_the_baselines():
    data = synthetic(60, 40, 900, rank=0, random_state=0)
    model = lr.SGDMatrixFactorization(learning_rate=1e-6, max_epochs=3, random_state=0)
    with pytest.warns(WorseThanBaselineWarning, match=r"is worse than \d+\.\d{4} of the"):
        model.fit(data)


@pytest.mark.filterwarnings("error")
def test_a_model_that_beats_the_baselines_does_not_warn(small_ratings):
    lr.SGDMatrixFactorization(n_factors=8, random_state=0).fit(small_ratings)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n", [1, 2])
def test_auto_on_one_or_two_ratings_says_the_data_is_too_small(n):
    with pytest.raises(DataError, match=r"too small to score; pass an integer n_epochs"):
        lr.SGDMatrixFactorization(random_state=0).fit(tiny(n))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n", [1, 2])
def test_fixed_epochs_on_one_or_two_ratings_report_no_nan(n):
    model = lr.SGDMatrixFactorization(n_epochs=3, random_state=0).fit(tiny(n))
    digest = model.summary()["history"]
    assert digest["best_val_rmse"] is None
    assert np.isfinite(digest["final_train_rmse"])


@pytest.mark.filterwarnings("error")
def test_an_empty_validation_part_scores_nothing():
    data = tiny(4)
    empty = data.subset(np.array([], dtype=np.int64))
    model = lr.SGDMatrixFactorization(n_epochs=2, random_state=0).fit(data, empty)
    assert all(h["val_rmse"] is None for h in model.history_)
    with pytest.raises(DataError, match=r"early stopping needs validation data"):
        lr.SGDMatrixFactorization(n_epochs=2, early_stopping=True).fit(data, empty)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("model", [lr.ALSMatrixFactorization(n_factors=2, n_epochs=2),
                                   lr.BayesianMatrixFactorization(n_factors=2, n_samples=2,
                                                                  burn_in=1),
                                   lr.BayesianFactorizationMachine(n_factors=2, n_samples=3,
                                                                   burn_in=1)])
def test_every_model_scores_nothing_on_an_empty_validation_part(model, small_ratings):
    empty = small_ratings.subset(np.array([], dtype=np.int64))
    model.fit(small_ratings, empty)
    assert all(h["val_rmse"] is None for h in model.history_)
    assert model.summary()["history"]["best_val_rmse"] is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 10), min_size=1, max_size=14), st.integers(0, 3))
def test_tiny_data_never_reports_nan_nor_warns_from_numpy(values, seed):
    data = Ratings.from_arrays(np.arange(len(values)) % 3, np.arange(len(values)),
                               np.array(values, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", WorseThanBaselineWarning)  # may lose (and say so)
        warnings.simplefilter("ignore", ConstantRatingsWarning)  # [3, 3]: says so, rightly
        try:
            model = lr.SGDMatrixFactorization(n_factors=4, random_state=seed).fit(data)
        except DataError as err:
            assert "too small to score" in str(err)
            return
    assert np.isfinite(model.summary()["history"]["best_val_rmse"])


# -- item 4: tune ----------------------------------------------------------------------
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n", [1, 2])
def test_tune_on_one_or_two_ratings_says_the_data_is_too_small(n):
    with pytest.raises(DataError, match=r"too small to score a search: .* leaves \d+ to "
                                        r"train on and 0 to score on"):
        search.tune(tiny(n), n_trials=4, random_state=0)


def test_a_search_whose_trials_score_nan_returns_nothing(small_ratings, monkeypatch):
    def unscored(model, combo, train, val, metric, max_epochs, deadline=None):
        return {"model": type(model).__name__, **combo, metric: float("nan"), "seconds": 0}

    monkeypatch.setattr(search, "_trial", unscored)
    with pytest.raises(DataError, match=r"no trial has a finite validation rmse"):
        search.grid_search(lr.SGDMatrixFactorization(n_epochs=2), small_ratings,
                           {"n_factors": [2]}, random_state=0)


def test_a_search_whose_best_loses_to_the_bias_baseline_warns_once():
    data = synthetic(60, 40, 900, rank=0, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.grid_search(lr.SGDMatrixFactorization(learning_rate=1e-6), data,
                           {"n_factors": [2, 3]}, max_epochs=3, random_state=0)
    mine = [w for w in caught if issubclass(w.category, WorseThanBaselineWarning)]
    assert len(mine) == 1
    assert "worse than" in str(mine[0].message) and "bias baseline" in str(mine[0].message)


# -- item 8: memory --------------------------------------------------------------------
MODELS = {
    "sgd": lambda k: lr.SGDMatrixFactorization(n_factors=k, n_epochs=1),
    "sgd_auto": lambda k: lr.SGDMatrixFactorization(n_factors=k, max_epochs=2),
    "als": lambda k: lr.ALSMatrixFactorization(n_factors=k, n_epochs=1),
    "bpmf": lambda k: lr.BayesianMatrixFactorization(n_factors=k, n_samples=2, burn_in=1),
    "implicit_als": lambda k: lr.ImplicitALS(n_factors=k, n_epochs=1),
    "bpr": lambda k: lr.BPR(n_factors=k, n_epochs=1),
    "fm": lambda k: lr.BayesianFactorizationMachine(n_factors=k, n_samples=2, burn_in=1,
                                                    implicit=True, flipped=True),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_fit_that_cannot_fit_in_memory_is_refused_first(name, small_ratings, monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: 64 * 1024)  # 64 KiB free
    model = MODELS[name](200)
    with pytest.raises(ParameterError, match=r"n_factors=200 on 60 users x 40 items would "
                                             r"need about \d+\.\d GiB of memory, but "
                                             r"0\.0 GiB is available now"):
        model.fit(small_ratings)
    assert not hasattr(model, "user_factors_")  # nothing fitted, nothing half-done


@pytest.mark.filterwarnings("ignore::latentrec.models.sgd.WorseThanBaselineWarning")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_estimate_is_not_under_what_the_fit_allocates(name, small_ratings, traced):
    model = MODELS[name](64)
    model.fit(small_ratings)  # compiled and warm: only the fit's own arrays count below
    needed = {}
    real = memory.require

    def spy(m, ratings, n):
        needed["bytes"] = n
        real(m, ratings, n)

    memory.require = spy
    try:
        with traced() as t:
            model.fit(small_ratings)
    finally:
        memory.require = real
    assert t["peak"] <= needed["bytes"]
    factors = (60 + 40) * 64 * 4
    assert needed["bytes"] >= factors


def test_als_counts_each_threads_normal_equations(small_ratings):
    one = memory.als_bytes(lr.ALSMatrixFactorization(n_factors=1000, n_threads=1),
                           small_ratings)
    assert one >= 1001 ** 2 * 8
    if resolve_threads(None) > 1:
        two = memory.als_bytes(lr.ALSMatrixFactorization(n_factors=1000, n_threads=2),
                               small_ratings)
        assert two - one >= 1001 ** 2 * 8


def test_a_fit_that_fits_is_not_refused(small_ratings, monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: 1 << 40)
    lr.ALSMatrixFactorization(n_factors=4, n_epochs=1).fit(small_ratings)


def test_unknown_free_memory_refuses_nothing(small_ratings, monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "_MEMINFO", tmp_path / "no-such-file")
    assert memory.available() is None
    lr.SGDMatrixFactorization(n_factors=4, n_epochs=1).fit(small_ratings)


def test_available_memory_is_read_from_meminfo(monkeypatch, tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       16000000 kB\nMemFree:   100 kB\n"
                    "MemAvailable:    2048 kB\n")
    monkeypatch.setattr(memory, "_MEMINFO", info)
    assert memory.available() == 2048 * 1024
    info.write_text("MemTotal: 16000000 kB\n")
    assert memory.available() is None
    info.write_text("MemAvailable: lots\n")
    assert memory.available() is None


def test_one_valued_ratings_warn_once_not_also_that_a_baseline_is_better():
    ratings = Ratings.from_arrays(np.arange(60) % 12, np.arange(60) % 7, np.full(60, 4.0))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        lr.SGDMatrixFactorization(n_factors=2, random_state=0).fit(ratings)
    kinds = [w.category for w in said]
    assert kinds.count(ConstantRatingsWarning) == 1 and WorseThanBaselineWarning not in kinds

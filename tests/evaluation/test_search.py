import time

import numpy as np
import pytest

from latentrec import BiasBaseline, SGDMatrixFactorization
from latentrec.evaluation import grid_search, random_search


def sgd():
    return SGDMatrixFactorization(n_factors=3, n_threads=1, random_state=0)


def test_grid_search_tries_every_combination_and_refits_the_best(small_ratings):
    res = grid_search(sgd(), small_ratings, {"regularization": [0.01, 0.1],
                                             "learning_rate": [0.005, 0.02]},
                      max_epochs=60, random_state=0)
    assert len(res.results) == 4
    assert res.results["rmse"].is_monotonic_increasing
    best = res.results.iloc[0]
    assert res.best_params["regularization"] == best["regularization"]
    # the epoch count came from early stopping and is what the refit trains
    assert res.best_params["n_epochs"] == best["n_epochs"] >= 1
    assert len(res.best_model.history_) == res.best_params["n_epochs"]
    assert res.best_model.user_factors_.shape[0] == small_ratings.n_users


def test_search_is_reproducible(small_ratings):
    space = {"regularization": ("log", 0.01, 0.5), "n_factors": ("int", 2, 6)}
    a = random_search(sgd(), small_ratings, space, n_iter=3, max_epochs=20, random_state=3)
    b = random_search(sgd(), small_ratings, space, n_iter=3, max_epochs=20, random_state=3)
    assert a.results.drop(columns="seconds").equals(b.results.drop(columns="seconds"))
    assert 0.01 <= a.best_params["regularization"] <= 0.5
    assert 2 <= a.best_params["n_factors"] <= 6


def test_model_without_epochs(small_ratings):
    res = grid_search(BiasBaseline(), small_ratings, {"user_regularization": [0, 5, 50]},
                      random_state=0)
    assert len(res.results) == 3 and np.isfinite(res.best_score)


def test_time_budget_stops_starting_trials(small_ratings):
    res = random_search(sgd(), small_ratings, {"regularization": [0.01, 0.1]}, n_iter=50,
                        time_budget=1e-9, max_epochs=5, random_state=0)
    assert len(res.results) == 1


def test_time_budget_abandons_a_trial_that_would_end_past_it(small_ratings):
    from latentrec import BayesianFactorizationMachine

    started = time.perf_counter()
    res = grid_search(BayesianFactorizationMachine(n_factors=2, burn_in=2, random_state=0),
                      small_ratings, {"n_samples": [3, 10**6, 4]}, time_budget=60,
                      random_state=0)
    assert time.perf_counter() - started < 60  # the million-sample trial did not run out
    assert res.results["n_samples"].tolist() in ([3, 4], [4, 3])
    (row,) = res.abandoned.to_dict("records")
    assert row["model"] == "BayesianFactorizationMachine" and row["n_samples"] == 10**6
    assert row["projected_seconds"] > 60


def test_a_later_trial_that_would_not_fit_in_memory_is_left_out(small_ratings, monkeypatch):
    from latentrec import BayesianMatrixFactorization, ParameterError
    from latentrec.evaluation import tune

    def too_big(self, *args, **kwargs):
        raise ParameterError("would need about 9.0 GiB of memory")

    monkeypatch.setattr(BayesianMatrixFactorization, "_fit", too_big)
    res = tune(small_ratings, n_trials=4, random_state=0)
    assert set(res.results["model"]) == {"SGDMatrixFactorization",
                                         "BayesianFactorizationMachine"}
    assert res.abandoned["model"].tolist() == ["BayesianMatrixFactorization"] * 2
    assert res.abandoned["why"].str.startswith("refused: would need about 9.0 GiB").all()


def test_the_first_trial_always_runs_to_its_end(small_ratings):
    from latentrec import BayesianFactorizationMachine

    res = grid_search(BayesianFactorizationMachine(n_factors=2, burn_in=2, random_state=0),
                      small_ratings, {"n_samples": [300, 3]}, time_budget=1e-3,
                      random_state=0)
    # watched, 300 samples would be abandoned (projected past 1 ms); the second never starts
    assert res.results["n_samples"].tolist() == [300] and res.abandoned.empty


def test_a_bad_value_in_a_later_trial_fails_before_any_training(small_ratings):
    with pytest.raises(ValueError, match="n_factors must be an integer in"):
        grid_search(sgd(), small_ratings, {"n_factors": [2, 0]}, time_budget=60,
                    random_state=0)


@pytest.mark.parametrize("kw, message", [
    (dict(param_distributions={"nope": [1]}), "has no parameter 'nope'"),
    (dict(param_distributions={"regularization": []}), "non-empty list"),
    (dict(n_iter=0), "n_iter must be a positive integer, got 0"),
    (dict(metric="auc"), "metric must be 'rmse' or 'mae', got 'auc'"),
    (dict(time_budget=-1), "time_budget must be a positive number"),
    (dict(time_budget="5"), r"time_budget must be a positive number of seconds, got '5'"),
    (dict(max_epochs=0), "max_epochs must be a positive integer, got 0"),
    (dict(param_distributions={"regularization": ("log", 0, 1)}), r"regularization: a range "
     r"is \(kind, low, high\).*got \('log', 0, 1\)"),
    (dict(param_distributions={"n_factors": ("int", 5, 2)}), r"n_factors: a range is"),
    (dict(param_distributions={"regularization": ("log", 1)}), r"regularization: a range is"),
    (dict(param_distributions={"regularization": 0.1}), r"regularization: give a non-empty "
     r"list of values or a \('log'\|'uniform'\|'int', low, high\) range, got 0.1"),
    (dict(param_distributions=[("regularization", [0.1])]), "param_distributions must be a "
     r"\{name: values\} dict"),
    (dict(model=SGDMatrixFactorization), r"model must be a model object, such as "
     r"SGDMatrixFactorization\(\), got <class"),
])
def test_bad_search_arguments(small_ratings, kw, message):
    args = dict(param_distributions={"regularization": [0.1]}, n_iter=1)
    args.update(kw)
    model = args.pop("model", sgd())
    with pytest.raises(ValueError, match=message):
        random_search(model, small_ratings, **args)


@pytest.mark.parametrize("grid, message", [
    ({"n_factors": []}, r"^n_factors: give a non-empty list of values, got \[\]$"),
    ({"n_factors": 2}, r"^n_factors: give a non-empty list of values, got 2$"),
    ({"n_factors": "ab"}, r"^n_factors: give a non-empty list of values, got 'ab'$"),
])
def test_bad_grids(small_ratings, grid, message):
    with pytest.raises(ValueError, match=message):
        grid_search(sgd(), small_ratings, grid)


def test_cross_validate_refuses_a_fractional_number_of_folds(small_ratings):
    from latentrec.evaluation import cross_validate

    with pytest.raises(ValueError, match=r"^cv must be a number of folds or the folds "
                       r"themselves, got 5.0$"):
        cross_validate(sgd(), small_ratings, cv=5.0)


def test_tune_compares_model_families_on_training_data_only(small_ratings):
    from latentrec.evaluation import tune

    res = tune(small_ratings, n_trials=4, random_state=0)
    assert set(res.results["model"]) == {"BayesianFactorizationMachine",
                                         "BayesianMatrixFactorization",
                                         "SGDMatrixFactorization"}
    assert type(res.best_model).__name__ == res.results["model"].iloc[0]
    assert res.best_model.user_factors_.shape[0] == small_ratings.n_users
    with pytest.raises(ValueError, match="n_trials must be an integer >= 4, got 3"):
        tune(small_ratings, n_trials=3)

import itertools

import numpy as np
import pytest

import latentrec
from latentrec import Ratings
from latentrec.data import holdout, synthetic
from latentrec.evaluation import evaluate
from latentrec.models import ALSMatrixFactorization, BiasBaseline, SGDMatrixFactorization


def fit(ratings, validation=None, **kw):
    kw.setdefault("n_threads", 1)
    kw.setdefault("random_state", 0)
    return ALSMatrixFactorization(**kw).fit(ratings, validation)


@pytest.mark.parametrize("param, value, message", [
    ("n_factors", 0, r"n_factors must be an integer in \[1, inf\), got 0"),
    ("n_epochs", 0, r"n_epochs must be an integer in \[1, inf\), got 0"),
    ("regularization", 0.0, r"regularization must be a number in \(0, inf\), got 0.0"),
    ("bias_regularization", -1, "bias_regularization must be a number in .* or None"),
    ("biased", 1, "biased must be one of True, False, got 1"),
    ("init_scale", 0, "init_scale must be a number in"),
    ("n_threads", 0, "n_threads must be an integer in"),
    ("dtype", "float16", "dtype must be one of 'float32', 'float64', got 'float16'"),
])
def test_bad_parameters_are_named(small_ratings, param, value, message):
    with pytest.raises(ValueError, match=message):
        ALSMatrixFactorization(**{param: value}).fit(small_ratings)


def test_init_stores_parameters_untouched():
    m = ALSMatrixFactorization(n_factors=7, regularization=0.3)
    assert m.get_params()["n_factors"] == 7 and m.regularization == 0.3
    assert repr(m) == "ALSMatrixFactorization(n_factors=7, regularization=0.3)"


def test_history_per_sweep_with_validation(small_ratings):
    train, val = holdout(small_ratings, 0.2, random_state=0)
    seen = []
    m = fit(train, val, n_factors=3, n_epochs=6)
    m2 = ALSMatrixFactorization(n_factors=3, n_epochs=6, n_threads=1, random_state=0)
    m2.fit(train, val, callback=seen.append)
    assert [h["epoch"] for h in m.history_] == list(range(1, 7))
    assert seen == m2.history_
    train_rmse = [h["train_rmse"] for h in m.history_]
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(train_rmse))  # ALS never rises
    assert all(h["val_rmse"] > 0 and h["seconds"] >= 0 for h in m.history_)
    pred = m.predict(train.user_map.to_ids(train.users), train.item_map.to_ids(train.items),
                     clip=False)  # the history's train RMSE is of the raw predictions
    rmse = np.sqrt(np.mean((pred - train.values) ** 2))
    assert rmse == pytest.approx(train_rmse[-1], rel=1e-4)


def test_each_item_solve_is_the_exact_ridge_solution(small_ratings):
    """After the last sweep (items), every item's [q, b] solves its ALS-WR normal equations."""
    m = fit(small_ratings, n_factors=3, n_epochs=4, dtype="float64")
    s = m.rating_std_
    df = small_ratings
    for i in (0, 5, 17):
        rows = df.items == i
        u = df.users[rows]
        n = u.size
        A = np.hstack([m.user_factors_[u], np.ones((n, 1))])
        y = df.values[rows] - m.global_mean_ - m.user_bias_[u]
        # in rating units: e^2 + reg sigma n |q|^2 + reg_b n b^2 (see _fold_in_regularization)
        lam = np.diag([m.regularization * s * n] * 3 + [m.regularization * n])
        x = np.linalg.solve(A.T @ A + lam, A.T @ y)
        np.testing.assert_allclose(m.item_factors_[i], x[:3], rtol=1e-6, atol=1e-9)
        assert m.item_bias_[i] == pytest.approx(x[3], rel=1e-6, abs=1e-9)


def test_same_result_for_every_thread_count(small_ratings):
    a = fit(small_ratings, n_factors=4, n_epochs=3, n_threads=1)
    b = fit(small_ratings, n_factors=4, n_epochs=3, n_threads=2)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)


def test_same_model_on_any_rating_scale(small_ratings):
    df = small_ratings.to_dataframe()
    scaled = Ratings.from_arrays(df.user, df.item, df.rating * 20 + 7)
    a = fit(small_ratings, n_factors=3, n_epochs=4, dtype="float64")
    b = fit(scaled, n_factors=3, n_epochs=4, dtype="float64")
    np.testing.assert_allclose(b.predict(df.user, df.item), a.predict(df.user, df.item) * 20 + 7,
                               rtol=1e-6)


def test_unbiased_model_has_no_biases(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=3, biased=False)
    assert m.global_mean_ == 0 and not m.user_bias_.any() and not m.item_bias_.any()
    assert m.user_factors_.dtype == np.float32


def test_fold_in_of_a_training_user_recovers_that_user(small_ratings):
    m = fit(small_ratings, n_factors=3, n_epochs=8, dtype="float64")
    df = small_ratings.to_dataframe().query("user == 'u12'")
    # the user's solve is exact given the items, but the items moved after it: close
    folded = m.fold_in(dict(zip(df.item, df.rating)))
    u = m.user_map_.to_index("u12")
    np.testing.assert_allclose(folded.factors, m.user_factors_[u], atol=0.05)
    assert folded.bias == pytest.approx(m.user_bias_[u], abs=0.05)


def test_save_load_keeps_fold_in(small_ratings, tmp_path):
    m = fit(small_ratings, n_factors=3, n_epochs=3)
    m.save(tmp_path / "als.lrm")
    loaded = latentrec.load(tmp_path / "als.lrm")
    assert loaded.rating_std_ == m.rating_std_
    a, b = m.fold_in({0: 4.0, 10: 2.0}), loaded.fold_in({0: 4.0, 10: 2.0})
    np.testing.assert_array_equal(a.factors, b.factors)


def test_beats_the_bias_baseline_on_low_rank_data():
    r = synthetic(n_users=300, n_items=200, n_ratings=15000, rank=4, noise=0.3,
                  random_state=0)
    train, test = holdout(r, 0.2, random_state=0)
    als = evaluate(ALSMatrixFactorization(n_factors=8, n_threads=2, random_state=0), train,
                   test, ["rmse"])["rmse"]
    bias = evaluate(BiasBaseline(), train, test, ["rmse"])["rmse"]
    assert als < 0.9 * bias


@pytest.mark.slow
def test_ml100k_five_fold_rmse_within_one_percent_of_sgd():
    from latentrec import datasets
    from latentrec.evaluation import cross_validate

    ratings = datasets.load("ml-100k").ratings
    folds = latentrec.k_fold(ratings, 5, random_state=0)
    sgd = cross_validate(SGDMatrixFactorization(random_state=0), ratings, folds,
                         metrics=["rmse"]).mean["rmse"]
    als = cross_validate(ALSMatrixFactorization(random_state=0), ratings, folds,
                         metrics=["rmse"]).mean["rmse"]
    assert als <= 1.01 * sgd

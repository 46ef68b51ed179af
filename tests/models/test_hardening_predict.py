"""predict's ids and bounds: ids in the other type, unknown ids made visible, predictions
clipped to the training scale, fold-in ratings checked against it."""

from __future__ import annotations

import inspect
import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import latentrec
from latentrec import (
    BPR,
    ALSMatrixFactorization,
    BayesianMatrixFactorization,
    BiasBaseline,
    DataError,
    GlobalMean,
    ImplicitALS,
    ParameterError,
    Popularity,
    RandomRecommender,
    Ratings,
    SGDMatrixFactorization,
    UnknownIdError,
)
from latentrec.cli import app
from latentrec.models.base import UnknownIdWarning

RATING_MODELS = {
    "sgd": lambda: SGDMatrixFactorization(n_factors=2, n_epochs=20, n_threads=1,
                                          random_state=0),
    "als": lambda: ALSMatrixFactorization(n_factors=2, n_epochs=5, n_threads=1,
                                          random_state=0),
    "bpmf": lambda: BayesianMatrixFactorization(n_factors=2, n_samples=20, burn_in=5,
                                                random_state=0),
    "bias": lambda: BiasBaseline(),
    "mean": lambda: GlobalMean(),
}
OTHER_MODELS = {
    "ials": lambda: ImplicitALS(n_factors=2, n_epochs=3, n_threads=1, random_state=0),
    "bpr": lambda: BPR(n_factors=2, n_epochs=3, n_threads=1, random_state=0),
    "popularity": lambda: Popularity(),
    "random": lambda: RandomRecommender(n_factors=2, random_state=0),
}

#: The classic example: 0 is a missing rating; ids "1".."5" (users) and "10".."40" (items).
DENSE = np.array([[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4]])


def text_ratings() -> Ratings:
    """DENSE with string ids that look like numbers, as a file read as text gives them."""
    u, i = np.nonzero(DENSE)
    return Ratings.from_arrays(np.array([str(k + 1) for k in u], dtype=object),
                               np.array([str(10 * (k + 1)) for k in i], dtype=object),
                               DENSE[u, i].astype(np.float32))


def int_ratings() -> Ratings:
    u, i = np.nonzero(DENSE)
    return Ratings.from_arrays(u + 1, 10 * (i + 1), DENSE[u, i].astype(np.float32))


@pytest.fixture(scope="module")
def tiny_sgd():
    """The docs' tiny model: its raw predictions leave the 1-5 scale (5.64, 0.68)."""
    return SGDMatrixFactorization(n_factors=2, n_epochs=300, regularization=0.01,
                                  n_threads=1, random_state=0).fit(Ratings.from_dense(DENSE))


@pytest.fixture(scope="module")
def text_model():
    return SGDMatrixFactorization(n_factors=2, n_epochs=50, n_threads=1,
                                  random_state=0).fit(text_ratings())


@pytest.fixture(scope="module")
def int_model():
    return SGDMatrixFactorization(n_factors=2, n_epochs=50, n_threads=1,
                                  random_state=0).fit(int_ratings())


def no_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


# -- item 2: ids in the other type ----------------------------------------------------------
def test_int_ids_find_a_text_model_s_ids(text_model):
    as_text = text_model.predict(["1", "3"], ["10", "30"])
    as_int, unknown = no_warning(lambda: text_model.predict([1, 3], [10, 30],
                                                            return_unknown=True))
    np.testing.assert_array_equal(as_int, as_text)
    assert not unknown.any()
    assert not np.allclose(as_int, text_model.global_mean_)


def test_text_ids_find_an_int_model_s_ids(int_model):
    np.testing.assert_array_equal(int_model.predict(["1", "3"], ["10", "30"]),
                                  int_model.predict([1, 3], [10, 30]))


@pytest.mark.parametrize("user", ["01", "+1", "1.0", " 1", True, 1.5])
def test_a_spelling_that_is_not_the_number_s_own_never_matches(int_model, user):
    _, unknown = int_model.predict(np.array([user, 1], dtype=object), [10, 10],
                                   return_unknown=True, unknown="nan")
    assert unknown.tolist() == [True, False]


def test_a_whole_float_is_its_int_id(int_model):
    # a pandas id column with a missing value is float; a table reads 1.0 as id 1
    np.testing.assert_array_equal(int_model.predict(np.array([1.0, 3.0]), [10.0, 30.0]),
                                  int_model.predict([1, 3], [10, 30]))


@pytest.mark.parametrize("user", [1.0, True, "01"])
def test_a_text_model_matches_no_float_bool_or_other_spelling(text_model, user):
    _, unknown = text_model.predict(np.array([user, 1], dtype=object), ["10", "10"],
                                    return_unknown=True, unknown="nan")
    assert unknown.tolist() == [True, False]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_an_int_finds_its_canonical_text_and_nothing_else(n):
    ids = latentrec.IdMap([str(n), "0" + str(abs(n)), "x"], name="user")
    assert ids.to_indices([n], unknown="missing").tolist() == [0]
    assert ids.to_indices(np.array([np.int64(n), "x"], dtype=object),
                          unknown="missing").tolist() == [0, 2]
    lone = latentrec.IdMap(["0" + str(abs(n))], name="user")
    assert lone.to_indices([n], unknown="missing").tolist() == [-1]


def test_recommend_names_an_unknown_id_as_given(text_model):
    with pytest.raises(UnknownIdError, match=r"^unknown user id 99$"):
        text_model.recommend(99)
    with pytest.raises(UnknownIdError, match=r"^unknown user id 1\.5$"):
        text_model.recommend(1.5)
    assert text_model.recommend(1, n=2)[0].tolist() == text_model.recommend("1", n=2)[0].tolist()


# -- item 2: the fallback made visible ---------------------------------------------------
def test_return_unknown_marks_the_pairs_with_an_unknown_id(int_model):
    pred, unknown = no_warning(lambda: int_model.predict(
        [1, 99999, 99999, 2], [10, 10, 77, 77], return_unknown=True))
    assert unknown.tolist() == [False, True, True, True]
    average = (int_model.global_mean_ + int_model.user_bias_.mean()  # both unseen: the
               + int_model.item_bias_.mean()                           # average user and
               + int_model.user_factors_.mean(0) @ int_model.item_factors_.mean(0))  # item
    assert pred[2] == pytest.approx(average, rel=1e-5)
    assert pred[0] == int_model.predict([1], [10])[0]


def test_return_unknown_of_a_folded_user_marks_unknown_items(int_model):
    folded = int_model.fold_in({10: 5.0, 20: 3.0})
    _, unknown = int_model.predict(folded, [10, 99999], return_unknown=True)
    assert unknown.tolist() == [False, True]


@pytest.mark.parametrize("unknown, fallback", [("bias", "the estimate for the model's average"),
                                                    ("nan", "NaN")])
def test_a_call_with_every_pair_unknown_warns(int_model, unknown, fallback):
    with pytest.warns(UnknownIdWarning, match=re.escape(
            f"none of the 2 (user, item) pairs has both ids known to the model, so every "
            f"prediction is the unknown={unknown!r} fallback ({fallback}")):
        int_model.predict([99999, 1], [10, 77777], unknown=unknown)


def test_the_warning_names_the_id_types(text_model):
    with pytest.warns(UserWarning, match="the model's user ids are str, its item ids str"):
        text_model.predict([1.5], ["10"])


def test_no_warning_while_one_pair_is_known_or_none_is_given(int_model):
    no_warning(lambda: int_model.predict([99999, 1], [10, 10]))
    no_warning(lambda: int_model.predict([], []))


def test_unknown_error_raises_without_a_warning(int_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnknownIdError, match="unknown user id 99999"):
            int_model.predict([99999], [10], unknown="error")


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_return_unknown_must_be_a_bool(int_model, value):
    with pytest.raises(ParameterError, match=f"return_unknown must be True or False, "
                                             f"got {re.escape(repr(value))}"):
        int_model.predict([1], [10], return_unknown=value)


# -- item 3: clipped to the training scale ------------------------------------------------
def test_predict_matrix_is_clipped_by_default(tiny_sgd):
    raw = tiny_sgd.predict_matrix(clip=False)
    assert raw.max() > 5 and raw.min() < 1  # the case: the model extrapolates
    clipped = tiny_sgd.predict_matrix()
    np.testing.assert_array_equal(clipped, np.clip(raw, 1, 5))
    assert clipped.dtype == raw.dtype


def test_predict_is_clipped_by_default_and_clip_false_is_raw(tiny_sgd):
    users, items = np.repeat(np.arange(5), 4), np.tile(np.arange(4), 5)
    raw = tiny_sgd.predict(users, items, clip=False)
    np.testing.assert_array_equal(tiny_sgd.predict(users, items), np.clip(raw, 1, 5))
    np.testing.assert_array_equal(tiny_sgd.predict(users, items, clip=True),
                                  np.clip(raw, 1, 5))
    np.testing.assert_allclose(raw, tiny_sgd.predict_matrix(clip=False).ravel(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(RATING_MODELS))
def test_every_rating_model_clips_by_default(name):
    model = RATING_MODELS[name]().fit(int_ratings())
    model.global_mean_ += 10.0  # every raw prediction far above the scale
    users, items = [1, 2, 99999], [10, 20, 30]
    assert (model.predict(users, items, clip=False) > 5).all()
    assert model.predict(users, items).tolist() == [5.0, 5.0, 5.0]
    assert model.predict_matrix().max() == 5.0


@pytest.mark.parametrize("name", sorted(OTHER_MODELS))
def test_a_model_whose_predictions_are_not_ratings_is_never_clipped(name):
    model = OTHER_MODELS[name]().fit(int_ratings())
    model.item_bias_ = model.item_bias_ + 100.0  # far outside the 1-5 values it saw
    users, items = [1, 2, 3], [10, 20, 30]
    np.testing.assert_array_equal(model.predict(users, items),
                                  model.predict(users, items, clip=False))
    assert (model.predict(users, items) > 5).all()
    np.testing.assert_array_equal(model.predict_matrix(), model.predict_matrix(clip=False))
    with pytest.raises(ParameterError, match=f"clip=True: {type(model).__name__}'s "
                                             "predictions are not ratings"):
        model.predict(users, items, clip=True)
    with pytest.raises(ParameterError, match="predictions are not ratings"):
        model.predict_matrix(clip=True)


@pytest.mark.parametrize("value", ["yes", 1, 0.5])
def test_clip_must_be_true_false_or_none(tiny_sgd, value):
    with pytest.raises(ParameterError, match=f"clip must be True, False or None, "
                                             f"got {re.escape(repr(value))}"):
        tiny_sgd.predict([0], [0], clip=value)


def test_a_folded_in_user_s_predictions_are_clipped(tiny_sgd):
    folded = tiny_sgd.fold_in({2: 5.0})  # a visitor who rated one film 5
    folded.bias += 3.0  # such a visitor's estimate above the scale, as in the issue
    items = np.arange(4)
    raw = tiny_sgd.predict(folded, items, clip=False)
    clipped = tiny_sgd.predict(folded, items)
    assert raw.max() > 5
    np.testing.assert_array_equal(clipped, np.clip(raw, 1, 5))


def test_recommend_by_rating_keeps_the_unclipped_scores_and_their_order(tiny_sgd):
    ids, scores = tiny_sgd.recommend(2, n=4, by="rating", exclude_seen=False)
    assert ids.tolist()[0] == 2 and scores[0] > 5  # 5.64: not tied with a 5 by clipping
    np.testing.assert_allclose(scores, tiny_sgd.predict([2] * 4, ids, clip=False), rtol=1e-6)


# -- item 3: fold-in ratings within the scale ---------------------------------------------
@pytest.mark.parametrize("value, shown", [
    (0, "0"), (0.5, "0.5"), (5.5, "5.5"), (100, "100"), (-1, "-1"), (float("inf"), "inf"),
    (float("nan"), "nan"),
])
def test_fold_in_refuses_a_rating_outside_the_scale(int_model, value, shown):
    with pytest.raises(DataError, match=re.escape(
            f"fold_in: the rating of item 20, {shown}, is outside the model's rating range, "
            "1 to 5")):
        int_model.fold_in({10: 4.0, 20: value})


@pytest.mark.parametrize("value", ["five", None, True])
def test_fold_in_refuses_a_rating_that_is_no_number(int_model, value):
    with pytest.raises(DataError, match=re.escape(
            f"fold_in: the rating of item 30 must be a number, got {value!r}")):
        int_model.fold_in({30: value})


def test_fold_in_takes_the_ends_of_the_scale(int_model):
    assert int_model.fold_in({10: 1, 20: 5.0, 30: np.float32(3)}).n_ratings == 3


def test_fold_in_takes_a_float32_stored_end():
    r = Ratings.from_arrays([1, 1, 2], [1, 2, 1], np.array([0.1, 1.0, 0.7], np.float32))
    model = BiasBaseline().fit(r)
    assert model.rating_range_[0] != 0.1  # float32's 0.1, a little above
    assert model.fold_in({1: 0.1}).n_ratings == 1


@pytest.fixture(scope="module")
def implicit_model():
    return OTHER_MODELS["ials"]().fit(int_ratings())


def test_an_implicit_model_folds_in_any_finite_value(implicit_model):
    assert implicit_model.fold_in({10: -2.0, 20: 40.0}).n_ratings == 2


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_an_implicit_model_refuses_a_value_that_is_not_finite(implicit_model, bad):
    with pytest.raises(DataError, match=f"rating of item 20, {bad}, is not a finite number"):
        implicit_model.fold_in({10: 1.0, 20: float(bad)})


# -- the command line ----------------------------------------------------------------------
class Cli:
    def __init__(self):
        kwargs = {"mix_stderr": False} if "mix_stderr" in inspect.signature(
            CliRunner.__init__).parameters else {}
        self.runner = CliRunner(**kwargs)

    def __call__(self, *args, expect=0):
        result = self.runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == expect, (result.stdout, result.stderr)
        return result


@pytest.fixture(scope="module")
def saved(tiny_sgd, tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    tiny_sgd.save(folder / "tiny.npz")
    OTHER_MODELS["popularity"]().fit(int_ratings()).save(folder / "pop.npz")
    return folder


def test_cli_fill_clips_by_default_and_not_with_no_clip(saved):
    cli = Cli()
    clipped = json.loads(cli("fill", saved / "tiny.npz", "--json").stdout)["ratings"]
    raw = json.loads(cli("fill", saved / "tiny.npz", "--json", "--no-clip").stdout)["ratings"]
    assert max(map(max, clipped)) == 5.0 and min(map(min, clipped)) == 1.0
    assert max(map(max, raw)) > 5


def test_cli_predict_clips_by_default_and_not_with_no_clip(saved):
    cli = Cli()
    clipped = json.loads(cli("predict", saved / "tiny.npz", "--pair", 2, 2, "--json").stdout)
    raw = json.loads(cli("predict", saved / "tiny.npz", "--pair", 2, 2, "--json",
                         "--no-clip").stdout)
    assert clipped[0]["prediction"] == 5.0 and raw[0]["prediction"] > 5


def test_cli_clip_on_a_model_without_ratings_is_a_usage_error(saved):
    result = Cli()("predict", saved / "pop.npz", "--pair", 1, 10, "--clip", expect=2)
    assert "'--clip': Popularity's predictions are not ratings" in result.stderr


def test_cli_predict_warns_of_the_pairs_with_an_unknown_id(saved):
    result = Cli()("predict", saved / "tiny.npz", "--pair", 0, 0, "--pair", 0, 99,
                   "--pair", 77, 1, "--unknown", "bias")
    assert result.stderr.strip() == (
        "warning: 2 of 3 pairs have an id the model has not seen (the first: user 0, item "
        "99); their predictions are the estimate from what is known (the unseen side as "
        "the model's average user or item)")
    quiet = Cli()("predict", saved / "tiny.npz", "--pair", 0, 0, "--pair", 0, 1)
    assert quiet.stderr == ""

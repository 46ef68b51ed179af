import numpy as np
import pandas as pd
import pytest

from latentrec import (
    BiasBaseline,
    DataError,
    ParameterError,
    Popularity,
    Ratings,
    SGDMatrixFactorization,
)
from latentrec.data.split import holdout, k_fold
from latentrec.evaluation import compare, cross_validate, evaluate
from latentrec.models.base import UnknownIdWarning


def tiny():
    """4 users x 4 items; train/test written out so ranking metrics can be worked by hand."""
    train = [("a", "x", 5), ("b", "x", 4), ("c", "x", 3), ("a", "y", 4), ("b", "y", 2),
             ("d", "z", 1)]
    test = [("c", "y", 5), ("d", "x", 4), ("d", "w", 2)]
    df = pd.DataFrame(train + test, columns=["user", "item", "rating"])
    r = Ratings.from_dataframe(df)
    return r.subset(np.arange(6)), r.subset(np.arange(6, 9))


def test_ranking_metrics_worked_by_hand():
    train, test = tiny()
    # Popularity ranks x (3 ratings) > y (2) > z (1) > w (0); train items excluded.
    # c: candidates y, z, w -> top-2 [y, z]; relevant {y}: hit at rank 1.
    # d: candidates x, y, w -> top-2 [x, y]; relevant (threshold 3) {x}: hit at rank 1.
    out = evaluate(Popularity(), train, test, ["precision", "recall", "hit_rate", "mrr"],
                   k=2, relevance_threshold=3)
    assert out["precision@2"] == pytest.approx(0.5)
    assert out["recall@2"] == pytest.approx(1.0)
    assert out["hit_rate@2"] == pytest.approx(1.0)
    assert out["mrr@2"] == pytest.approx(1.0)
    # relevance "any" (or None): d's relevant set is {x, w}, recall 1/2 for d
    for relevance in ("any", None):
        out = evaluate(Popularity(), train, test, ["recall"], k=2,
                       relevance_threshold=relevance)
        assert out["recall@2"] == pytest.approx((1 + 0.5) / 2)


def test_liked_is_the_top_30_percent_of_the_scale():
    train, test = tiny()
    # trained on 1..5: liked is >= 1 + 0.7 * 4 = 3.8, so {y} for c and {x} for d
    assert evaluate(Popularity(), train, test, ["recall"], k=2)["recall@2"] == 1.0
    # a model trained on one value takes the test's scale, 2..5: liked is >= 4.1, so c
    # alone counts ({y}, found); on the one-valued scale every test item would count
    picks = Ratings(train.users, train.items, np.ones(train.n_ratings),
                    user_map=train.user_map, item_map=train.item_map)
    model = Popularity().fit(picks)
    assert evaluate(model, train, test, ["recall"], k=2, fitted=True)["recall@2"] == 1.0
    assert evaluate(model, train, test, ["recall"], k=2, fitted=True,
                    relevance_threshold="any")["recall@2"] == pytest.approx(0.75)


@pytest.mark.parametrize("value", ["loved", float("nan"), True, [4]])
def test_bad_relevance(value):
    train, test = tiny()
    with pytest.raises(ParameterError, match="relevance_threshold must be 'liked', 'any'"):
        evaluate(Popularity(), train, test, ["ndcg"], relevance_threshold=value)


def test_rating_metrics_match_predictions(small_ratings):
    train, test = holdout(small_ratings, 0.25, random_state=1)
    model = BiasBaseline().fit(train)
    pred = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    out = evaluate(BiasBaseline(), train, test, ["rmse", "mae"])
    assert out["rmse"] == pytest.approx(np.sqrt(np.mean((pred - test.values) ** 2)))
    assert out["mae"] == pytest.approx(np.mean(np.abs(pred - test.values)))
    assert out["fit_seconds"] >= 0 and out["predict_seconds"] >= 0


def test_evaluate_leaves_the_given_model_untouched(small_ratings):
    train, test = holdout(small_ratings, 0.25, random_state=1)
    model = SGDMatrixFactorization(n_factors=2, n_epochs=2, n_threads=1)
    evaluate(model, train, test, ["rmse", "auc", "ndcg", "coverage"])
    assert not hasattr(model, "user_factors_")


def test_cross_validate_same_seed_same_folds_and_table(small_ratings):
    a = cross_validate(BiasBaseline(), small_ratings, cv=3, random_state=4)
    b = cross_validate(BiasBaseline(), small_ratings, cv=3, random_state=4)
    pd.testing.assert_series_equal(a.folds["rmse"], b.folds["rmse"])
    table = a.to_dataframe()
    assert list(table.index) == ["fold 1", "fold 2", "fold 3", "mean", "std"]
    assert table.loc["mean", "rmse"] == pytest.approx(a.folds["rmse"].mean())
    assert "BiasBaseline" in str(a) and "fit_seconds" in table.columns


def test_cross_validate_reuses_given_folds(small_ratings):
    folds = k_fold(small_ratings, 3, random_state=0)
    a = cross_validate(BiasBaseline(), small_ratings, cv=folds)
    b = cross_validate(BiasBaseline(), small_ratings, cv=3, random_state=0)
    np.testing.assert_allclose(a.folds["rmse"], b.folds["rmse"])


@pytest.mark.parametrize("kw, message", [
    (dict(metrics=["rmse", "accuracy"]), "unknown metric 'accuracy'"),
    (dict(metrics=[]), "at least one metric"),
    (dict(k=0), "k must be a positive integer, got 0"),
])
def test_bad_arguments(small_ratings, kw, message):
    train, test = holdout(small_ratings, 0.25, random_state=1)
    with pytest.raises(ValueError, match=message):
        evaluate(BiasBaseline(), train, test, **kw)


def test_compare_gives_each_models_numbers_on_the_same_folds(small_ratings):
    models = {"mf": SGDMatrixFactorization(n_factors=2, n_epochs=3, n_threads=1,
                                           random_state=0),
              "bias": BiasBaseline(), "pop": Popularity()}
    metrics = ["rmse", "mae", "ndcg"]
    table = compare(models, small_ratings, cv=3, metrics=metrics, k=5, random_state=2)
    assert list(table.index) == ["mf", "bias", "pop"] and table.index.name == "model"
    assert list(table["class"]) == ["SGDMatrixFactorization", "BiasBaseline", "Popularity"]
    folds = k_fold(small_ratings, 3, random_state=2)
    for name, model in models.items():
        by_hand = pd.DataFrame([evaluate(model, train, test, metrics, k=5)
                                for train, test in folds])
        for col in ("rmse", "mae", "ndcg@5"):
            if col != "ndcg@5" and name == "pop":  # its predictions are counts
                assert np.isnan(table.loc[name, col])
                continue
            assert table.loc[name, col] == pytest.approx(by_hand[col].mean())
            assert table.loc[name, f"{col}_std"] == pytest.approx(by_hand[col].std(ddof=0))
    assert (table[["fit_seconds", "predict_seconds"]] >= 0).all().all()


def test_compare_on_one_holdout_has_no_spread(small_ratings):
    split = holdout(small_ratings, 0.25, random_state=1)
    table = compare({"bias": BiasBaseline()}, small_ratings, cv=split)
    by_hand = evaluate(BiasBaseline(), split.train, split.test)
    assert table.loc["bias", "rmse"] == pytest.approx(by_hand["rmse"])
    assert table.loc["bias", "mae"] == pytest.approx(by_hand["mae"])
    assert not any(c.endswith("_std") for c in table.columns)


def test_compare_reports_progress_over_all_models_and_folds(small_ratings):
    seen = []
    compare({"a": BiasBaseline(), "b": BiasBaseline()}, small_ratings, cv=2, random_state=0,
            progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen == [(1, 4, "a"), (2, 4, "a"), (3, 4, "b"), (4, 4, "b")]


@pytest.mark.parametrize("kw, message", [
    (dict(models={}), "models must be a non-empty"),
    (dict(cv=[]), "cv must be a number of folds or at least one"),
    (dict(metrics=["accuracy"]), "unknown metric 'accuracy'"),
    (dict(k=0), "k must be a positive integer, got 0"),
])
def test_compare_bad_arguments(small_ratings, kw, message):
    kw = {"models": {"bias": BiasBaseline()}, **kw}
    with pytest.raises(ValueError, match=message):
        compare(ratings=small_ratings, **kw)


def test_compare_leaves_out_rating_error_of_models_without_ratings(small_ratings):
    table = compare({"bias": BiasBaseline(), "pop": Popularity()}, small_ratings, cv=2,
                    metrics=("rmse", "ndcg"), random_state=0)
    assert np.isfinite(table.loc["bias", "rmse"]) and np.isnan(table.loc["pop", "rmse"])
    assert np.isfinite(table.loc["pop", "ndcg@10"])


def test_compare_leaves_out_rating_error_when_it_is_all_that_is_asked(small_ratings):
    table = compare({"bias": BiasBaseline(), "pop": Popularity()}, small_ratings, cv=2,
                    metrics=("rmse",), random_state=0)
    assert np.isfinite(table.loc["bias", "rmse"]) and np.isnan(table.loc["pop", "rmse"])
    assert table.loc["pop", "class"] == "Popularity"
    alone = compare({"pop": Popularity()}, small_ratings, cv=2, metrics=("rmse",),
                    random_state=0)
    assert list(alone.columns) == ["class", "rmse", "rmse_std", "fit_seconds",
                                   "predict_seconds"]
    assert alone.drop(columns="class").isna().all(axis=None)


def own_maps(test):
    """``test`` rebuilt from its raw ids, users and items in reverse order: IdMaps of its
    own, as when a test file is read apart from the training file."""
    rows = np.arange(test.n_ratings)[::-1]
    return Ratings.from_arrays(test.user_map.to_ids(test.users[rows]),
                               test.item_map.to_ids(test.items[rows]), test.values[rows])


RANKING = ["precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc", "coverage",
           "novelty", "popularity", "diversity"]


def test_ranking_matches_items_by_raw_id_when_the_test_set_has_maps_of_its_own():
    train, test = tiny()
    alone = own_maps(test)
    assert alone.item_map != test.item_map
    model = Popularity().fit(train)
    want = evaluate(model, train, test, RANKING, k=2, relevance_threshold=3, fitted=True)
    got = evaluate(model, train, alone, RANKING, k=2, relevance_threshold=3, fitted=True)
    for name in want:
        if not name.endswith("_seconds"):
            assert got[name] == pytest.approx(want[name], nan_ok=True), name
    assert got["precision@2"] == pytest.approx(0.5)  # the hand-worked figure above


def test_a_test_user_or_item_the_model_never_saw_counts_and_is_never_found():
    train, _ = tiny()
    # c likes y (found at rank 1, as above); "e" is unknown (an empty list); d likes "v",
    # an item the model does not know: relevant, never recommended
    test = Ratings.from_arrays(["c", "e", "d"], ["y", "x", "v"], [5.0, 5.0, 5.0])
    with pytest.warns(UnknownIdWarning, match=r"^1 of the 3 test users with a relevant "
                      r"rating are not in the model: they count with empty lists"):
        out = evaluate(Popularity().fit(train), train, test, ["precision", "recall", "auc"],
                       k=2, relevance_threshold=3, fitted=True)
    assert out["precision@2"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert out["recall@2"] == pytest.approx((1 + 0 + 0) / 3)
    # AUC over the users and items the model knows: c's y above its other candidates z, w
    # (x is seen); d has no known relevant item
    assert out["auc"] == pytest.approx(1.0)


def test_auc_with_no_relevant_test_rating_is_nan_like_the_other_ranking_metrics():
    train, test = tiny()
    out = evaluate(Popularity(), train, test, ["auc", "ndcg"], relevance_threshold=6)
    assert np.isnan(out["auc"]) and np.isnan(out["ndcg@10"])


def test_a_metric_some_folds_cannot_measure_is_said_and_has_no_spread_from_one_fold():
    # fold 1's test users have no relevant item (NaN NDCG): the mean is fold 2's alone,
    # and a std of 0 over one fold read as a perfectly stable figure
    data = Ratings.from_dataframe(pd.DataFrame({
        "user": [1, 1, 1, 2, 2, 3, 3, 4], "item": [1, 2, 3, 1, 4, 2, 5, 6],
        "rating": [5, 4, 1, 2, 5, 3, 4, 5.0]}))
    folds = k_fold(data, 2, random_state=0)
    with pytest.warns(UserWarning, match=r"measured: ndcg@10 on 1 of 2 folds"):
        result = cross_validate(BiasBaseline(), data, folds, metrics=["rmse", "ndcg"])
    assert result.folds["ndcg@10"].isna().sum() == 1
    assert result.mean["ndcg@10"] == result.folds["ndcg@10"].max()
    assert np.isnan(result.std["ndcg@10"]) and result.std["rmse"] > 0
    with pytest.warns(UserWarning, match=r"measured: ndcg@10 on 1 of 2 folds"):
        table = compare({"bias": BiasBaseline()}, data, cv=folds, metrics=["rmse", "ndcg"])
    assert np.isnan(table.loc["bias", "ndcg@10_std"])


def test_fitted_true_with_another_train_is_a_clear_error(small_ratings):
    # its ranking metrics read train by the model's indices: "exclude has 69 item
    # columns, but scores has 80", or quietly wrong where the counts agreed
    train, test = holdout(small_ratings, 0.2, random_state=0)
    model = BiasBaseline().fit(train)
    df = train.to_dataframe()
    other = Ratings.from_dataframe(df[df["user"] != df["user"].iloc[0]])  # a user fewer
    with pytest.raises(DataError, match=r"^fitted=True: the model's users are not train's, "
                       r"so auc, novelty"):
        evaluate(model, other, test, ["auc"], fitted=True)
    assert np.isfinite(evaluate(model, other, test, ["ndcg"], fitted=True)["ndcg@10"])
    # rating metrics read no train: a model whose ids are more than train's (attributes
    # can add some) is measured as before
    assert np.isfinite(evaluate(model, other, test, ["rmse"], fitted=True)["rmse"])


def test_rating_error_of_a_model_without_ratings_is_nan_as_in_compare(small_ratings):
    # Popularity's "predictions" are counts: their RMSE against ratings meant nothing
    train, test = holdout(small_ratings, 0.2, random_state=0)
    got = evaluate(Popularity(), train, test, ["rmse", "mae", "ndcg"])
    assert np.isnan(got["rmse"]) and np.isnan(got["mae"]) and np.isfinite(got["ndcg@10"])


def test_the_model_evaluate_fits_knows_only_what_its_training_part_has(small_ratings):
    # a split keeps the whole table's ids: a model fitted on the train part took in the
    # items only the test part has (recommendable: a leak), and its figures differed from
    # those of the same split read as two files
    rng = np.random.default_rng(3)
    to_test = (rng.random(small_ratings.n_ratings) < 0.3) | (small_ratings.items < 3)
    train, test = small_ratings.subset(~to_test), small_ratings.subset(to_test)
    alone = [Ratings.from_dataframe(part.to_dataframe()) for part in (train, test)]
    metrics = ["rmse", "auc", "ndcg", "coverage"]
    for model in (Popularity(), BiasBaseline()):
        shared = evaluate(model, train, test, metrics)
        apart = evaluate(model, *alone, metrics)
        for m in ("rmse", "auc", "ndcg@10", "coverage@10"):
            np.testing.assert_equal(shared[m], apart[m])
    compact = train.compacted()
    assert len(compact.item_map) == len(np.unique(train.items)) < len(train.item_map)
    assert compact.to_dataframe().equals(train.to_dataframe())


def test_compacted_is_the_table_itself_when_every_id_has_a_rating(small_ratings):
    assert small_ratings.compacted() is small_ratings


def test_a_relevance_threshold_no_test_rating_reaches_is_said(small_ratings):
    train, test = holdout(small_ratings, 0.2, random_state=0)
    with pytest.warns(UserWarning, match=r"no test rating is at or above the relevance "
                      r"threshold 10 \(they lie in 1 \.\. 5\)"):
        got = evaluate(BiasBaseline(), train, test, ["ndcg"], relevance_threshold=10)
    assert np.isnan(got["ndcg@10"])

"""BayesianFactorizationMachine: what the behaviour suite does not cover (attributes, cold
start, fold-in, the posterior mean, repeatability, its agreement with BPMF)."""

import numpy as np
import pandas as pd
import pytest

from latentrec import (
    BayesianFactorizationMachine,
    BayesianMatrixFactorization,
    BiasBaseline,
    Ratings,
    load,
)
from latentrec.data import cold_start_split, holdout, synthetic
from latentrec.errors import DataError, ParameterError
from latentrec.models.fm_design import time_bins, time_edges
from latentrec.models.lowrank_mean import LowRankMean


def small(**kw):
    args = dict(n_factors=4, n_samples=30, burn_in=10, n_threads=1, random_state=0,
                ranking_factors=0, implicit=True, flipped=True)
    args.update(kw)
    return BayesianFactorizationMachine(**args)


@pytest.fixture(scope="module")
def data():
    return synthetic(150, 80, 4000, rank=3, noise=0.3, random_state=1)


@pytest.fixture(scope="module")
def taste():
    """Ratings that the users' and items' attributes explain: a user's group likes the
    items of one kind. Returns (ratings, user attributes, item attributes)."""
    rng = np.random.default_rng(0)
    n_u, n_i = 300, 120
    ug, ik = rng.integers(0, 3, n_u), rng.integers(0, 3, n_i)
    age = rng.normal(40, 10, n_u)
    u, i = rng.integers(0, n_u, 9000), rng.integers(0, n_i, 9000)
    r = np.clip(np.round(3 + 1.5 * (ug[u] == ik[i]) - 0.8 * (ug[u] != ik[i])
                         + 0.02 * (age[u] - 40) + rng.normal(0, 0.5, u.size)), 1, 5)
    df = pd.DataFrame({"user": u, "item": i, "rating": r}).drop_duplicates(["user", "item"])
    users = pd.DataFrame({"group": np.array(["a", "b", "c"])[ug], "age": age},
                         index=pd.Index(np.arange(n_u), name="user"))
    items = pd.DataFrame({"kind": [["x|y", "y", "z"][k] for k in ik]},
                         index=pd.Index(np.arange(n_i), name="item"))
    return Ratings.from_dataframe(df), users, items


@pytest.fixture(scope="module")
def sessions():
    """Ratings that move with time: every run of 40 ratings in time order (a rating
    session) is shifted by its own offset."""
    base = synthetic(200, 100, 8000, rank=3, noise=0.3, random_state=2)
    rng = np.random.default_rng(0)
    when = rng.permutation(base.n_ratings)  # each rating's place in time
    offset = rng.normal(0, 0.8, base.n_ratings // 40 + 1)[when // 40]
    df = pd.DataFrame({"user": base.users, "item": base.items,
                       "rating": base.values + offset, "t": 10**9 + 60 * when})
    return Ratings.from_dataframe(df, timestamp="t")


def rmse(model, test, **kw):
    p = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items),
                      **kw)
    return float(np.sqrt(np.mean((p - test.values) ** 2)))


def test_time_bins_hold_equal_counts_and_a_new_bin_outside_the_span():
    ts = np.arange(1, 101)
    edges = time_edges(ts, 4)
    np.testing.assert_array_equal(edges, [25, 50, 75])
    bins = time_bins([1, 24, 25, 100, 0, 101], edges, (1, 100))
    np.testing.assert_array_equal(bins, [0, 0, 1, 3, 4, 4])
    assert len(time_edges(np.repeat([5, 6], 50), 10)) == 1  # repeated times: fewer bins


def test_the_time_group_predicts_each_rating_at_its_time(sessions, tmp_path):
    train, test = holdout(sessions, 0.2, random_state=0)
    timed = small(n_samples=60).fit(train)
    assert timed.uses_timestamps
    plain = small(n_samples=60, time_bins=0).fit(train)
    assert not plain.uses_timestamps
    at = {"timestamps": test.timestamps}
    assert rmse(timed, test, **at) < rmse(plain, test) - 0.15
    # without timestamps, or outside the training period: a new time bin
    late = np.full(test.n_ratings, train.timestamps.max() + 1)
    np.testing.assert_allclose(rmse(timed, test, timestamps=late), rmse(timed, test))
    assert rmse(plain, test, **at) == rmse(plain, test)  # ignored without the group
    timed.save(tmp_path / "m.lrec")
    back = load(tmp_path / "m.lrec")
    assert rmse(back, test, **at) == pytest.approx(rmse(timed, test, **at), abs=1e-6)


def test_the_shared_surface_works_with_the_time_group(sessions):
    model = small(n_samples=20).fit(sessions)
    assert model.uses_timestamps
    user = sessions.user_map.to_ids(sessions.users[:1])[0]
    ids, scores = model.recommend(user, n=5)
    seen = set(sessions.item_map.to_ids(sessions.items[sessions.users == sessions.users[0]]))
    assert len(ids) == 5 and not seen & set(ids) and np.all(np.diff(scores) <= 0)
    assert len(model.similar_items(ids[0], n=3)[0]) == 3
    folded = model.fold_in({ids[0]: 5.0, ids[1]: 1.0})
    at = model.predict(folded, ids[:2], timestamps=sessions.timestamps[:2])
    assert np.all(np.isfinite(at))


def test_timestamps_given_as_dates_of_any_unit_are_seconds(sessions):
    train, test = holdout(sessions, 0.2, random_state=0)
    model = small(n_samples=20).fit(train)
    users, items = test.user_map.to_ids(test.users), test.item_map.to_ids(test.items)
    want = model.predict(users, items, timestamps=test.timestamps)
    for unit in ("s", "ms", "ns"):
        dates = test.timestamps.astype("datetime64[s]").astype(f"datetime64[{unit}]")
        np.testing.assert_array_equal(model.predict(users, items, timestamps=dates), want)
    with pytest.raises(DataError, match="timestamps must be 2 numbers, one per pair"):
        model.predict(users[:2], items[:2], timestamps=np.array(["NaT", "2020-01-01"],
                                                                "datetime64[ns]"))


def test_bad_timestamps_are_clear_errors(sessions):
    model = small(n_samples=5).fit(sessions)
    users = sessions.user_map.to_ids(sessions.users[:2])
    items = sessions.item_map.to_ids(sessions.items[:2])
    with pytest.raises(DataError, match="timestamps must be 2 numbers, one per pair"):
        model.predict(users, items, timestamps=[1.0])
    with pytest.raises(DataError, match="timestamps must be 2 numbers, one per pair"):
        model.predict(users, items, timestamps=["noon", 5])


def test_time_bins_need_timestamps_and_biases(data, sessions):
    assert not small(time_bins="auto").fit(data).uses_timestamps
    with pytest.raises(DataError, match="time_bins=5 needs ratings with timestamps"):
        small(time_bins=5).fit(data)
    assert not small(n_samples=5, biases=False).fit(sessions).uses_timestamps
    with pytest.raises(ParameterError, match="time_bins=5 needs biases=True"):
        small(time_bins=5, biases=False).fit(sessions)


def test_a_seed_gives_the_same_model_on_any_number_of_threads(data):
    a = small(n_threads=1).fit(data)
    b = small(n_threads=2).fit(data)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)
    assert a.global_mean_ == b.global_mean_
    c = small(random_state=1).fit(data)
    assert not np.array_equal(a.user_factors_, c.user_factors_)


def test_beats_the_bias_baseline_on_held_out_ratings(data):
    train, test = holdout(data, 0.2, random_state=0)
    assert rmse(small().fit(train), test) < rmse(BiasBaseline().fit(train), test) - 0.05


def test_validation_rmse_is_that_of_the_averaged_predictions(data):
    train, test = holdout(data, 0.2, random_state=0)
    model = small().fit(train, test)
    last = model.history_[-1]["val_rmse"]
    # the stored (rank-bounded) posterior mean predicts what the sampler averaged
    raw = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items),
                        clip=False)
    assert abs(float(np.sqrt(np.mean((raw - test.values) ** 2))) - last) < 1e-3
    assert [h["stage"] for h in model.history_].count("burn-in") == 10


def test_without_biases_and_implicit_groups_it_is_close_to_bpmf_on_synthetic_data():
    """The cheap version of the next test, in the default run."""
    data = synthetic(400, 200, 12000, rank=4, noise=0.5, random_state=0)
    train, test = holdout(data, 0.2, random_state=0)
    fm = [rmse(BayesianFactorizationMachine(
        n_factors=4, n_samples=150, biases=False, implicit=False, flipped=False,
        time_bins=0, random_state=s, ranking_factors=0).fit(train), test) for s in range(2)]
    bp = [rmse(BayesianMatrixFactorization(n_factors=4, n_samples=150, random_state=s,
                                           ranking_factors=0).fit(train), test)
          for s in range(2)]
    assert abs(np.mean(fm) - np.mean(bp)) < 0.01, (fm, bp)


@pytest.mark.slow
def test_without_biases_and_implicit_groups_it_is_bpmf():
    """The same model with per-factor priors: on MovieLens-100K's u1 split, RMSEs within
    0.002 of BayesianMatrixFactorization, averaged over seeds 0-2 (sampler noise aside)."""
    from latentrec import datasets

    train, test = datasets.load("ml-100k").split("u1")
    fm, bp = [], []
    for seed in range(3):
        fm.append(rmse(BayesianFactorizationMachine(
            n_factors=10, biases=False, implicit=False, flipped=False, time_bins=0,
            random_state=seed, ranking_factors=0).fit(train), test))
        bp.append(rmse(BayesianMatrixFactorization(random_state=seed,
                                                   ranking_factors=0).fit(train), test))
    assert abs(np.mean(fm) - np.mean(bp)) < 0.002, (fm, bp)


def test_attributes_predict_cold_users_and_items(taste):
    ratings, users, items = taste
    train, test = cold_start_split(ratings, 0.2, 0.2, random_state=0)
    model = small(n_factors=4, n_samples=60).fit(train, user_attributes=users,
                                                 item_attributes=items)
    fallback = rmse(BiasBaseline().fit(train), test)
    assert rmse(model, test) < fallback - 0.2, (rmse(model, test), fallback)
    # and with no attributes the model can do no better than that fallback
    assert rmse(small().fit(train), test) > fallback - 0.05


def test_ids_with_attributes_and_no_ratings_join_the_model(taste):
    ratings, users, items = taste
    extra_u = pd.concat([users, pd.DataFrame({"group": ["a"], "age": [30.0]},
                                             index=pd.Index([9999], name="user"))])
    model = small().fit(ratings, user_attributes=extra_u)
    assert 9999 in model.user_map_
    items_, _ = model.recommend(9999, n=5)
    assert len(items_) == 5
    assert np.isfinite(model.predict([9999], [0])).all()


def test_an_attribute_table_id_of_another_type_is_refused_by_name(taste):
    ratings, users, _ = taste  # integer user ids
    extra = pd.DataFrame({"group": ["a"], "age": [30.0]}, index=pd.Index(["u1"]))
    with pytest.raises(DataError, match=r"^user_attributes: user id 'u1' is not an integer, "
                       r"but the user ids are integers"):
        small().fit(ratings, user_attributes=pd.concat([users, extra]))


def test_fold_in_from_attributes_alone_matches_a_cold_user(taste):
    ratings, users, items = taste
    extra = pd.DataFrame({"group": ["b"], "age": [50.0]}, index=pd.Index([777]))
    model = small().fit(ratings, user_attributes=pd.concat([users, extra]))
    folded = model.fold_in(attributes={"group": "b", "age": 50.0})
    # a joined user's own id vector is drawn from its prior; the fold-in uses its mean
    a = model.predict([777] * 10, list(range(10)), clip=False)
    b = model.predict(folded, list(range(10)), clip=False)
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_fold_in_of_a_training_user_agrees_with_the_fitted_user(taste):
    ratings, users, _ = taste
    model = small(n_samples=60).fit(ratings, user_attributes=users)
    u = 5
    seen = model.seen_items(u)
    r = ratings.subset(np.flatnonzero(ratings.users == ratings.user_map.to_index(u)))
    folded = model.fold_in(dict(zip(ratings.item_map.to_ids(r.items), r.values)),
                           attributes=users.loc[u].to_dict())
    assert folded.n_ratings == len(seen)
    items = list(range(100))
    a, b = model.predict([u] * 100, items), model.predict(folded, items)
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_model_file_keeps_fold_in_and_attributes(taste, tmp_path):
    ratings, users, items = taste
    model = small().fit(ratings, user_attributes=users, item_attributes=items)
    model.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    new = {"group": "c", "age": 20.0}
    np.testing.assert_allclose(back.predict(back.fold_in({0: 5, 3: 1}, attributes=new), [1, 2]),
                               model.predict(model.fold_in({0: 5, 3: 1}, attributes=new),
                                             [1, 2]), rtol=1e-6)


def test_bad_attributes_are_clear_errors(data, taste):
    ratings, users, _ = taste
    with pytest.raises(DataError, match="user_attributes must be a pandas DataFrame"):
        small().fit(ratings, user_attributes={"group": "a"})
    with pytest.raises(DataError, match="user id 3 appears more than once"):
        small().fit(ratings, user_attributes=pd.concat([users, users.iloc[[3]]]))
    model = small().fit(ratings, user_attributes=users)
    with pytest.raises(DataError, match=r"unknown user attribute\(s\) \['height'\]"):
        model.fold_in(attributes={"height": 180})
    with pytest.raises(DataError, match="fold_in needs ratings, attributes or both"):
        model.fold_in()
    # a number the model cannot read was taken for a missing one (the mean), in silence
    with pytest.raises(DataError, match=r"^attribute 'age': 'thirty' is not a finite number"):
        model.fold_in(attributes={"age": "thirty"})
    with pytest.raises(DataError, match=r"^attribute 'age': inf is not a finite number"):
        model.fold_in(attributes={"age": np.float64("inf")})
    model.fold_in(attributes={"age": None, "group": "a"})  # missing: the mean, as documented
    plain = small().fit(data)
    with pytest.raises(DataError, match="fitted without user attributes"):
        plain.fold_in(attributes={"group": "a"})


@pytest.mark.parametrize("param, value, message", [
    ("n_factors", 0, r"n_factors must be an integer in \[1, inf\), got 0"),
    ("mean_rank", 0, r"mean_rank must be an integer in \[1, inf\) or None, got 0"),
    ("implicit", "yes", r"implicit must be one of True, False, 'auto', got 'yes'"),
    ("init_std", -1.0, r"init_std must be a number in \(0, inf\), got -1.0"),
    ("time_bins", -1, r"time_bins must be one of 'auto' or an integer in \[0, inf\), got -1"),
])
def test_bad_hyperparameters_name_themselves(data, param, value, message):
    with pytest.raises(ParameterError, match=message):
        small(**{param: value}).fit(data)


@pytest.mark.parametrize("n_samples", [12, 40])  # one compression, then several
def test_low_rank_mean_is_exact_at_full_rank_and_close_below(n_samples):
    rng = np.random.default_rng(0)
    # samples near a common low-rank mean, as posterior samples are
    base_a, base_b = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    samples = [(base_a + 0.3 * rng.normal(size=(40, 3)),
                base_b + 0.3 * rng.normal(size=(30, 3))) for _ in range(n_samples)]
    exact = sum(a @ b.T for a, b in samples) / len(samples)
    full, low = LowRankMean(3 * n_samples), LowRankMean(12)
    for a, b in samples:
        full.add(a, b)
        low.add(a, b)
    A, B = full.factors()
    np.testing.assert_allclose(A @ B.T, exact, atol=1e-10)
    A, B = low.factors()
    assert A.shape[1] == 12
    best = np.linalg.svd(exact, compute_uv=False)
    # never better than the best rank-12 approximation, and close to it
    err = np.linalg.norm(A @ B.T - exact)
    assert np.sqrt((best[12:] ** 2).sum()) - 1e-9 <= err <= 2 * np.sqrt((best[12:] ** 2).sum())


def test_the_sets_switch_on_from_five_thousand_ratings():
    """implicit="auto" and flipped="auto": below 5,000 training ratings the sets made
    predictions worse than BPMF's; a model with the implicit group has its fold-in
    weights, and one with the flipped group its as-if column (the last but one)."""
    def groups(n, **kw):
        r = synthetic(300, 200, n, rank=3, noise=0.3, random_state=0)
        m = BayesianFactorizationMachine(n_factors=2, n_samples=5, burn_in=2, n_threads=1,
                                         random_state=0, ranking_factors=0, **kw).fit(r)
        return "implicit" in m.fold_in_weights_, bool(np.any(m.item_factors_[:, -2]))

    assert groups(4999) == (False, False)
    assert groups(5000) == (True, True)
    assert groups(4999, implicit=True) == (True, False)
    assert groups(5000, flipped=False) == (True, False)


def test_a_dozen_ratings_give_predictions_near_them():
    """On 13 ratings the sets (forced on) gave unclipped predictions of 10 to 30 on a 1-5
    scale; the defaults keep them near the ratings."""
    df = pd.DataFrame({"user": list("aaabbcccddeee"), "item": [1, 2, 4, 1, 4, 1, 2, 4, 1, 4,
                                                               2, 3, 4],
                       "rating": [5, 3, 1, 4, 1, 1, 1, 5, 1, 4, 1, 5, 4]})
    model = BayesianFactorizationMachine(random_state=0).fit(Ratings.from_dataframe(df))
    pred = model.predict_matrix(clip=False)
    assert np.all((pred > -1) & (pred < 7)), pred

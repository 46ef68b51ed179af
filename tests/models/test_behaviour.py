"""One behaviour suite that every model passes (fit, predict, recommend, similar, fold-in,
save/load, unknown ids, reproducibility)."""

import warnings

import numba
import numpy as np
import pandas as pd
import pytest

import latentrec
from latentrec import UnknownIdError
from latentrec.models import (
    BPR,
    ALSMatrixFactorization,
    BayesianFactorizationMachine,
    BayesianMatrixFactorization,
    BiasBaseline,
    FoldedUser,
    GlobalMean,
    ImplicitALS,
    Popularity,
    RandomRecommender,
    SGDMatrixFactorization,
)
from latentrec.models.base import ConstantRatingsWarning, UnknownIdWarning

MODELS = {
    "sgd": lambda: SGDMatrixFactorization(n_factors=4, n_epochs=15, n_threads=1,
                                          random_state=0),
    "sgd-unbiased": lambda: SGDMatrixFactorization(n_factors=4, n_epochs=15, biased=False,
                                                   n_threads=1, random_state=0),
    "sgd-parallel": lambda: SGDMatrixFactorization(n_factors=4, n_epochs=15, n_threads=2,
                                                   random_state=0),
    "sgd-adaptive": lambda: SGDMatrixFactorization(n_factors=4, n_epochs=15,
                                                   learning_rate_schedule="adaptive",
                                                   learning_rate=0.1, n_threads=2,
                                                   random_state=0),
    "bias": BiasBaseline,
    "mean": GlobalMean,
    "popularity": Popularity,
    "random": lambda: RandomRecommender(random_state=0),
    "als": lambda: ALSMatrixFactorization(n_factors=4, n_epochs=5, n_threads=1,
                                          random_state=0),
    "als-unbiased": lambda: ALSMatrixFactorization(n_factors=4, n_epochs=5, biased=False,
                                                   n_threads=2, random_state=0),
    "implicit-als": lambda: ImplicitALS(n_factors=4, n_epochs=5, regularization=0.1,
                                        n_threads=1, random_state=0),
    "implicit-als-bm25": lambda: ImplicitALS(n_factors=4, n_epochs=5, weighting="bm25",
                                             n_threads=2, random_state=0),
    "bpmf": lambda: BayesianMatrixFactorization(n_factors=3, n_samples=10, burn_in=5, keep=4,
                                                n_threads=1, random_state=0),
    # the sets forced on: the suite's data sets are below where "auto" switches them on
    "bfm": lambda: BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5,
                                                implicit=True, flipped=True,
                                                n_threads=1, random_state=0),
    "bfm-plain": lambda: BayesianFactorizationMachine(n_factors=3, n_samples=10, burn_in=5,
                                                      biases=False, implicit=False,
                                                      flipped=False, time_bins=0,
                                                      n_threads=2,
                                                      random_state=0),
    "bpr": lambda: BPR(n_factors=4, n_epochs=20, learning_rate=0.05, n_threads=1,
                       random_state=0),
}
IMPLICIT = {"implicit-als", "implicit-als-bm25", "bpr"}
RATING = {"sgd", "sgd-unbiased", "sgd-parallel", "sgd-adaptive", "als", "als-unbiased",
          "bpmf", "bfm", "bfm-plain"}
HAS_FACTORS = {"bpmf", "bfm", "bfm-plain", "sgd", "sgd-unbiased", "sgd-parallel",
               "sgd-adaptive", "random",
               "als", "als-unbiased", "implicit-als", "implicit-als-bm25", "bpr"}


@pytest.fixture(params=sorted(MODELS))
def name(request):
    return request.param


@pytest.fixture
def make(name):
    return MODELS[name]


@pytest.fixture
def fitted(make, small_ratings):
    return make().fit(small_ratings)


def test_fit_returns_self_and_sets_fitted_attributes(make, small_ratings):
    model = make()
    assert not hasattr(model, "user_factors_")
    assert model.fit(small_ratings) is model
    assert model.user_factors_.shape[0] == small_ratings.n_users
    assert model.item_factors_.shape[0] == small_ratings.n_items
    assert model.user_bias_.shape == (small_ratings.n_users,)


def test_seen_is_built_on_first_read_once_and_is_who_rated_what(name, make, small_ratings,
                                                                 monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from latentrec.data import csr

    builds = []
    build = csr.pattern
    monkeypatch.setattr(csr, "pattern", lambda *a: builds.append(1) or build(*a))
    model = make().fit(small_ratings)
    df = small_ratings.to_dataframe()
    model.predict(df["user"], df["item"])  # reads no seen_
    assert builds == ([1] if name == "bpr" else [])  # BPR samples by it as it fits
    with ThreadPoolExecutor(8) as pool:  # first readers at once: one build, one matrix
        got = list(pool.map(lambda _: model.seen_, range(8)))
    assert len(builds) == 1 and all(g is got[0] for g in got)  # BPR: none more
    want = small_ratings.seen()
    assert (got[0] != want).nnz == 0 and np.array_equal(got[0].indices, want.indices)


def test_seen_left_due_when_its_build_fails(small_ratings, monkeypatch):
    from latentrec.data import csr

    model = SGDMatrixFactorization(n_factors=4, n_epochs=2, random_state=0,
                                   ranking_factors=0).fit(small_ratings)
    build = csr.pattern
    monkeypatch.setattr(csr, "pattern", lambda *a: (_ for _ in ()).throw(MemoryError))
    with pytest.raises(MemoryError):
        model.seen_  # noqa: B018
    monkeypatch.setattr(csr, "pattern", build)
    assert model.seen_.nnz == small_ratings.n_ratings


def test_one_models_seen_build_does_not_hold_up_anothers(small_ratings, monkeypatch):
    import threading

    from latentrec.data import csr

    def make():
        return SGDMatrixFactorization(n_factors=4, n_epochs=2, random_state=0,
                                      ranking_factors=0).fit(small_ratings)

    first, second = make(), make()
    started, release = threading.Event(), threading.Event()
    build = csr.pattern

    def slow_for_first(*a):  # the first model's build waits until released
        if threading.current_thread().name == "first":
            started.set()
            release.wait(10)
        return build(*a)

    monkeypatch.setattr(csr, "pattern", slow_for_first)
    reader = threading.Thread(target=lambda: first.seen_, name="first")
    reader.start()
    try:
        assert started.wait(10)
        done = threading.Event()
        threading.Thread(target=lambda: (second.seen_, done.set())).start()
        assert done.wait(5), "the second model waited for the first one's build"
    finally:
        release.set()
        reader.join()
    assert first.seen_.nnz == second.seen_.nnz == small_ratings.n_ratings


def test_unfitted_model_raises_not_fitted(make):
    with pytest.raises(latentrec.NotFittedError, match="not fitted yet"):
        make().recommend("u01")


def test_predict_shapes_and_dtype(fitted, small_ratings):
    df = small_ratings.to_dataframe()
    pred = fitted.predict(df.user.to_numpy(), df.item.to_numpy())
    assert pred.shape == (small_ratings.n_ratings,) and np.isfinite(pred).all()


def test_recommend_excludes_seen_and_sorts(fitted, small_ratings):
    ids, scores = fitted.recommend("u03", n=5)
    seen = set(small_ratings.to_dataframe().query("user == 'u03'").item)
    assert len(ids) == 5 and not seen & set(ids)
    assert np.all(np.diff(scores) <= 0)
    all_ids, _ = fitted.recommend("u03", n=1000, exclude_seen=False)
    assert len(all_ids) == small_ratings.n_items


def test_recommend_by_rating_scores_equal_predictions(fitted):
    # recommend's scores are the unclipped predictions (clipping would tie the top)
    if not fitted.predicts_ratings:  # no predicted rating: refused, not its own score
        with pytest.raises(latentrec.ParameterError, match=r"scores are not ratings, so "
                           r"there is no predicted rating to rank by"):
            fitted.recommend("u05", n=3, by="rating")
        return
    ids, scores = fitted.recommend("u05", n=3, by="rating")
    np.testing.assert_allclose(scores, fitted.predict(["u05"] * 3, ids, clip=False), rtol=1e-5)
    best = np.argsort(-fitted.predict(["u05"] * fitted.seen_.shape[1],
                                      fitted.item_map_.ids, clip=False), kind="stable")
    unseen = [i for i in fitted.item_map_.ids[best] if i not in fitted.seen_items("u05")]
    np.testing.assert_array_equal(ids, unseen[:3])


def test_default_ranking(fitted, name):
    """The rating models rank by relevance (models/ranking.py), the others by their
    predictions; both orders are served for one user, a batch and a folded-in user."""
    default = fitted.recommend("u05", n=4)
    rating = name not in RATING
    by = "rating" if rating else "relevance"
    if fitted.predicts_ratings:  # the others have no rating to rank by (a test above)
        np.testing.assert_array_equal(default[0], fitted.recommend("u05", n=4, by=by)[0])
    if rating:
        with pytest.raises(latentrec.ParameterError, match="no interaction part"):
            fitted.recommend("u05", by="relevance")
    with pytest.raises(latentrec.ParameterError, match="by must be"):
        fitted.recommend("u05", by="score")


def test_recommend_respects_candidates_and_exclusions(fitted):
    ids, _ = fitted.recommend("u03", n=10, items=[0, 10, 20, 30], exclude_seen=False,
                              exclude=[10])
    assert sorted(ids) == [0, 20, 30]


def test_batch_recommend_equals_single(fitted):
    users = ["u01", "u02", "u10"]
    batch = fitted.recommend(users, n=4)
    for user, (ids, scores) in zip(users, batch):
        one_ids, one_scores = fitted.recommend(user, n=4)
        np.testing.assert_array_equal(ids, one_ids)
        np.testing.assert_allclose(scores, one_scores, rtol=1e-6)  # BLAS gemm vs gemv


def test_recommend_all_lists_every_user_as_recommend_does(fitted, monkeypatch):
    import latentrec.models.base as base

    monkeypatch.setattr(base, "_CHUNK_USERS", 7)  # several chunks, the last one short
    chunks = list(fitted.recommend_all(n=4, items=fitted.item_map_.ids[:30], exclude=[3]))
    assert len(chunks) == -(-len(fitted.user_map_) // 7)
    table = pd.concat(chunks, ignore_index=True)
    assert list(table.columns) == ["user", "rank", "item", "score"]
    users = list(fitted.user_map_.ids)
    assert table["user"].drop_duplicates().tolist() == users
    lists = fitted.recommend(users, n=4, items=fitted.item_map_.ids[:30], exclude=[3])
    for user, (ids, scores) in zip(users, lists):
        mine = table[table["user"] == user]
        assert mine["rank"].tolist() == list(range(1, len(ids) + 1))
        np.testing.assert_array_equal(mine["item"].to_numpy(), ids)
        np.testing.assert_allclose(mine["score"].to_numpy(), scores)
    some = pd.concat(fitted.recommend_all(n=2, users=["u02", "u01"], exclude_seen=False))
    assert some["user"].tolist() == ["u02", "u02", "u01", "u01"]
    (none,) = fitted.recommend_all(users=[])
    assert none.empty and list(none.columns) == ["user", "rank", "item", "score"]
    with pytest.raises(UnknownIdError, match="nobody"):  # at the call, before any chunk
        fitted.recommend_all(users=["nobody"])
    # a large catalogue: fewer users a chunk, so that a chunk's scores stay under the cap
    monkeypatch.setattr(base, "_CHUNK_CELLS", 3 * len(fitted.item_map_) + 1)
    sizes = [chunk["user"].nunique() for chunk in fitted.recommend_all(n=1)]
    assert sizes[:-1] == [3] * (len(sizes) - 1) and sum(sizes) == len(fitted.user_map_)


def test_recommend_all_on_threads_gives_what_one_thread_gives(fitted, monkeypatch):
    import latentrec.models.base as base
    from latentrec.kernels.threads import num_threads

    # workers' chunks of 2 users, merged by 2 into tables of 4 (the last one shorter)
    monkeypatch.setattr(base, "_WORKER_CELLS", 2 * len(fitted.item_map_))
    monkeypatch.setattr(base, "_CHUNK_USERS", 5)
    with num_threads(2):
        tables = list(fitted.recommend_all(n=3, exclude=[2]))
    with num_threads(1):  # one thread: chunks of _CHUNK_USERS, in this thread
        alone = list(fitted.recommend_all(n=3, exclude=[2]))
    sizes = [t["user"].nunique() for t in tables]
    assert sizes[:-1] == [4 if numba.config.NUMBA_NUM_THREADS > 1 else 5] * (len(sizes) - 1)
    assert sum(sizes) == len(fitted.user_map_)
    assert [t["user"].nunique() for t in alone][:-1] == [5] * (len(alone) - 1)
    both, one = (pd.concat(t, ignore_index=True) for t in (tables, alone))
    pd.testing.assert_frame_equal(both.drop(columns="score"), one.drop(columns="score"))
    np.testing.assert_allclose(both["score"], one["score"], rtol=1e-6)


def test_similar_items_and_users(fitted, name):
    if name not in HAS_FACTORS:
        with pytest.raises(latentrec.LatentrecError, match="has no latent factors"):
            fitted.similar_items(10)
        return
    ids, scores = fitted.similar_items(10, n=5)
    assert 10 not in ids and len(ids) == 5 and np.all(np.diff(scores) <= 0)
    assert np.all(scores <= 1 + 1e-6)
    uids, _ = fitted.similar_users("u01", n=3)
    assert "u01" not in uids and len(uids) == 3


def test_fold_in_new_user_resembles_existing_user(fitted, small_ratings, name):
    df = small_ratings.to_dataframe().query("user == 'u07'")
    folded = fitted.fold_in(dict(zip(df.item, df.rating)))
    assert isinstance(folded, FoldedUser)
    ids, _ = fitted.recommend(folded, n=5)
    assert not set(df.item) & set(ids)
    if name == "random":
        return  # a random model's fold-in has nothing to resemble
    if name in IMPLICIT:
        # scores are preferences, not ratings: the folded-in factors must point where the
        # trained user's do
        trained_f = fitted.user_factors_[fitted.user_map_.to_index("u07")]
        cos = folded.factors @ trained_f / (np.linalg.norm(folded.factors)
                                            * np.linalg.norm(trained_f))
        assert cos > 0.9, cos
        return
    truth = df.rating.to_numpy()
    folded_rmse = np.sqrt(np.mean((fitted.predict(folded, df.item.to_numpy()) - truth) ** 2))
    trained = fitted.predict(df.user.to_numpy(), df.item.to_numpy())
    trained_rmse = np.sqrt(np.mean((trained - truth) ** 2))
    assert folded_rmse <= trained_rmse + 0.05  # as good as having trained on the user


def test_save_load_round_trip(fitted, tmp_path):
    path = tmp_path / "m.lrm"
    fitted.save(path)
    loaded = latentrec.load(path)
    assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
    for a, b in zip(fitted.recommend(["u01", "u02"], n=5), loaded.recommend(["u01", "u02"], n=5)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(fitted.predict(["u01"], [0]), loaded.predict(["u01"], [0]))


def test_unknown_ids(fitted, name):
    with pytest.raises(UnknownIdError, match="unknown user id 'nobody'"):
        fitted.recommend("nobody")
    if fitted.n_factors_:
        with pytest.raises(UnknownIdError, match="unknown item id 99999"):
            fitted.similar_items(99999)
        with pytest.raises(UnknownIdError, match="unknown user id"):
            fitted.similar_users("nobody")
    with pytest.raises(UnknownIdError, match="unknown item id 12345"):
        fitted.fold_in({12345: 4.0})
    with pytest.warns(UnknownIdWarning):
        assert np.isnan(fitted.predict(["nobody"], [0], unknown="nan"))[0]
    with pytest.raises(UnknownIdError):
        fitted.predict(["nobody"], [0], unknown="error")
    with pytest.warns(UnknownIdWarning):
        est = fitted.predict(["nobody"], [0], clip=False)[0]
    # a rating model takes the unknown user as its average user (mean bias and factor
    # row); a model whose predictions are not ratings as nothing (Popularity: count 0)
    rating = fitted.predicts_ratings
    want = (fitted.global_mean_ + rating * fitted.user_bias_.mean() + fitted.item_bias_[0]
            + rating * fitted.user_factors_.mean(axis=0) @ fitted.item_factors_[0])
    assert est == pytest.approx(want, rel=1e-5, abs=1e-6)
    est = fitted.predict(["u01"], [12345], clip=False)[0]  # an unknown item: the average one
    u = fitted.user_map_.to_index("u01")
    want = (fitted.global_mean_ + fitted.user_bias_[u] + rating * fitted.item_bias_.mean()
            + rating * fitted.user_factors_[u] @ fitted.item_factors_.mean(axis=0))
    assert est == pytest.approx(want, rel=1e-5, abs=1e-6)
    if name == "popularity":
        assert fitted.predict(["u01"], [12345], clip=False)[0] == 0  # no count


def test_item_ids_given_as_text_are_accepted(fitted):
    np.testing.assert_array_equal(fitted.predict(["u01"], ["10"]), fitted.predict(["u01"], [10]))


def test_reproducible_with_seed_single_thread(make, small_ratings):
    a, b = make().fit(small_ratings), make().fit(small_ratings)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_a_rating_model_warns_when_every_rating_is_one_value(make, small_ratings):
    # as a file without a rating column reads: every value 1
    ones = latentrec.Ratings(small_ratings.users, small_ratings.items,
                             np.ones(small_ratings.n_ratings, np.float32),
                             user_map=small_ratings.user_map, item_map=small_ratings.item_map)
    model = make()
    if model.predicts_ratings:
        with pytest.warns(ConstantRatingsWarning, match=r"^every rating is 1: a rating model "
                          r"can only learn that constant.*implicit model \(ImplicitALS, BPR\)"):
            model.fit(ones)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConstantRatingsWarning)
            model.fit(ones)
    with warnings.catch_warnings():  # and not on ratings of several values
        warnings.simplefilter("error", ConstantRatingsWarning)
        model.fit(small_ratings)


def test_fold_in_refuses_one_item_under_two_keys(make, small_ratings):
    # integer item ids, so that 5 and "5" name the same item
    codes = small_ratings.items.astype(np.int64) + 1
    ratings = latentrec.Ratings.from_arrays(small_ratings.user_map.to_ids(small_ratings.users),
                                            codes, small_ratings.values)
    model = make().fit(ratings)
    with pytest.raises(latentrec.DataError, match=r"^fold_in got item 5 twice, as 5 and as "
                       r"'5': give each rated item once$"):
        model.fold_in({5: 4.0, "5": 2.0})
    assert model.fold_in({5: 4.0, "6": 2.0}).n_ratings == 2


def test_similarity_leaves_the_factors_as_they_were(fitted, name):
    # the unit vectors are normalised in place where they are a new array, never a view
    if name not in HAS_FACTORS:
        return  # nothing to compare (test_similar_items_and_users: refused)
    before = fitted.user_factors_.copy(), fitted.item_factors_.copy()
    fitted.similar_items(fitted.item_map_.ids[0], n=3)
    fitted.similar_users(fitted.user_map_.ids[0], n=3)
    np.testing.assert_array_equal(fitted.user_factors_, before[0])
    np.testing.assert_array_equal(fitted.item_factors_, before[1])
    for side in ("item", "user"):
        norms = np.linalg.norm(fitted._normed_factors(side), axis=1)
        assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)


def test_a_folded_user_is_answered_only_by_the_fit_that_made_it(make, small_ratings):
    model, other = make().fit(small_ratings), make().fit(small_ratings)
    df = small_ratings.to_dataframe().query("user == 'u07'")
    folded = model.fold_in(dict(zip(df.item, df.rating)))
    model.recommend(folded, n=3)  # its own model: answered
    refused = r"^this FoldedUser was folded in by another model \(or by this one before it " \
              r"was fitted again\): fold the user in with this model's fold_in$"
    calls = [lambda m: m.recommend(folded, n=3), lambda m: m.predict(folded, list(df.item)),
             lambda m: m.seen_items(folded)]
    if type(model).__name__ not in ("BiasBaseline", "GlobalMean", "Popularity"):
        calls.append(lambda m: m.similar_users(folded, n=3))
    for call in calls:
        with pytest.raises(latentrec.DataError, match=refused):
            call(other)
    model.fit(small_ratings)  # fitted again: its factors are others
    with pytest.raises(latentrec.DataError, match=refused):
        model.recommend(folded, n=3)


def test_candidate_and_exclusion_collections_of_any_kind(fitted, name):
    some = list(fitted.item_map_.ids[:4])
    want = fitted.recommend("u01", n=3, items=some, exclude=some[:1])
    for items in (set(some), (i for i in some), dict.fromkeys(some).keys()):
        got = fitted.recommend("u01", n=3, items=items, exclude={some[0]})
        np.testing.assert_array_equal(got[0], want[0])
    with pytest.raises(latentrec.ParameterError, match=r"^items must be a flat list of item "
                       r"ids, got an array of shape \(2, 2\)$"):
        fitted.recommend("u01", items=[some[:2], some[2:]])
    if name in HAS_FACTORS:
        with pytest.raises(latentrec.ParameterError, match=r"^similar_items takes one item "
                           r"id, got list of 2: call it once for each$"):
            fitted.similar_items(some[:2])
    folded = fitted.fold_in({some[0]: 4.0})
    with pytest.raises(latentrec.ParameterError, match=r"^recommend takes a FoldedUser on "
                       r"its own, not in a list"):
        fitted.recommend([folded, folded])


def test_pandas_extension_arrays_of_ids_are_batches(fitted, small_ratings):
    # pandas 3 reads text columns as Arrow-backed arrays (.values, .unique()): each was
    # taken as one id, so predict gave one value for many pairs
    df = small_ratings.to_dataframe().head(6)
    users, items = pd.array(df["user"], dtype="string"), pd.array(df["item"], dtype="string")
    np.testing.assert_array_equal(fitted.predict(users, items),
                                  fitted.predict(df["user"].to_numpy(), df["item"].to_numpy()))
    some = pd.array(["u01", "u02"], dtype="string")
    got, want = fitted.recommend(some, n=3), fitted.recommend(["u01", "u02"], n=3)
    for (gi, gs), (wi, ws) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gi, wi)
        np.testing.assert_array_equal(gs, ws)
    table = pd.concat(fitted.recommend_all(n=3, users=some))
    assert sorted(set(table["user"])) == ["u01", "u02"]


def test_a_folded_user_in_a_list_is_refused_by_every_query(fitted, small_ratings):
    folded = fitted.fold_in({fitted.item_map_.ids[0]: 4.0})
    item = fitted.item_map_.ids[1]
    for call, name in ((lambda: fitted.predict([folded, "u01"], [item, item]), "predict"),
                       (lambda: fitted.recommend([folded, "u01"]), "recommend"),
                       (lambda: list(fitted.recommend_all(users=[folded])), "recommend_all")):
        with pytest.raises(latentrec.ParameterError, match=rf"^{name} takes a FoldedUser on "
                           "its own, not in a list"):
            call()

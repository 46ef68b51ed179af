import itertools

import numpy as np
import pytest

import latentrec
from latentrec import Ratings
from latentrec.data import synthetic, user_holdout
from latentrec.evaluation import evaluate
from latentrec.models import BPR, ImplicitALS, Popularity
from latentrec.models.weighting import bm25_weight, tfidf_weight


@pytest.fixture(scope="module")
def interactions() -> Ratings:
    """Implicit data with a personal signal: the ratings >= 4 of a rank-3 synthetic set
    (about 5,000 interactions of 300 users on 200 items, with timestamps)."""
    r = synthetic(n_users=300, n_items=200, n_ratings=24000, rank=3, noise=0.2,
                  timestamps=True, random_state=0)
    return r.subset(np.flatnonzero(r.values >= 4))


def ials(**kw):
    kw = {"n_factors": 8, "n_epochs": 15, "regularization": 1.0, "alpha": 5.0,
          "n_threads": 1, "random_state": 0, **kw}
    return ImplicitALS(**kw)


def bpr(**kw):
    kw = {"n_factors": 8, "n_epochs": 30, "learning_rate": 0.05, "n_threads": 1,
          "random_state": 0, **kw}
    return BPR(**kw)


def loss(model, ratings, alpha, reg):
    """The implicit-ALS objective, built densely."""
    S = model.user_factors_.astype(np.float64) @ model.item_factors_.T
    C = np.zeros(S.shape)
    C[ratings.users, ratings.items] = alpha * ratings.values
    W = np.where(C != 0, np.abs(C), 1.0)
    pref = (C > 0).astype(float)
    return (np.sum(W * (pref - S) ** 2)
            + reg * (np.sum(model.user_factors_ ** 2) + np.sum(model.item_factors_ ** 2)))


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("make, param, value, message", [
    (ImplicitALS, "alpha", 0, r"alpha must be a number in \(0, inf\), got 0"),
    (ImplicitALS, "regularization", -1, r"regularization must be a number in \[0, inf\)"),
    (ImplicitALS, "weighting", "idf", "weighting must be None or one of 'bm25', 'tfidf'"),
    (ImplicitALS, "B", 2, r"B must be a number in \[0, 1\], got 2"),
    (ImplicitALS, "cg_steps", 0, "cg_steps must be an integer in"),
    (ImplicitALS, "n_factors", 0, "n_factors must be an integer in"),
    (BPR, "learning_rate", 0, r"learning_rate must be a number in \(0, inf\)"),
    (BPR, "negatives", "hard", "negatives must be one of 'uniform', 'popularity'"),
    (BPR, "n_epochs", 0, "n_epochs must be an integer in"),
    (BPR, "dtype", "half", "dtype must be one of"),
])
def test_bad_parameters_are_named(small_ratings, make, param, value, message):
    with pytest.raises(ValueError, match=message):
        make(**{param: value}).fit(small_ratings)


def test_init_stores_parameters_untouched():
    m = ImplicitALS(alpha=40, weighting="bm25")
    assert repr(m) == "ImplicitALS(alpha=40, weighting='bm25')"
    assert BPR(learning_rate=0.1).get_params()["learning_rate"] == 0.1


# -- ImplicitALS ---------------------------------------------------------------------------
def test_implicit_als_objective_falls_every_sweep(interactions):
    values = [loss(ials(n_epochs=e, dtype="float64").fit(interactions), interactions, 5.0, 1.0)
              for e in (1, 2, 4, 8)]
    assert all(b < a for a, b in itertools.pairwise(values))


@pytest.mark.filterwarnings("ignore:.*threadpool:RuntimeWarning")
def test_implicit_als_is_the_implicit_packages_model(interactions):
    """Same alpha, regularization, data and seed: the same factors as ``implicit``."""
    implicit_als = pytest.importorskip("implicit.cpu.als")
    ours = ials(n_epochs=4, dtype="float64").fit(interactions)
    theirs = implicit_als.AlternatingLeastSquares(factors=8, iterations=4, regularization=1.0,
                                                  alpha=5.0, dtype=np.float64, num_threads=1,
                                                  random_state=0)
    theirs.fit(interactions.to_csr(), show_progress=False)
    np.testing.assert_allclose(ours.user_factors_ @ ours.item_factors_.T,
                               theirs.user_factors @ theirs.item_factors.T, atol=1e-3)


def test_alpha_scales_the_confidence(interactions):
    ones, fives = (Ratings(interactions.users, interactions.items,
                           np.full(interactions.n_ratings, v, np.float32),
                           user_map=interactions.user_map, item_map=interactions.item_map)
                   for v in (1, 5))
    a = ials(alpha=5.0, n_epochs=3, dtype="float64").fit(ones)
    b = ials(alpha=1.0, n_epochs=3, dtype="float64").fit(fives)
    np.testing.assert_allclose(a.user_factors_, b.user_factors_, rtol=1e-9, atol=1e-12)


def test_implicit_als_has_no_biases_and_scores_are_dot_products(interactions):
    m = ials(n_epochs=2).fit(interactions)
    assert m.global_mean_ == 0 and not m.user_bias_.any() and not m.item_bias_.any()
    assert m.predict([3], [7])[0] == pytest.approx(m.user_factors_[3] @ m.item_factors_[7],
                                                   rel=1e-5)
    assert [h["epoch"] for h in m.history_] == list(range(1, 3))


def test_implicit_als_same_for_every_thread_count(interactions):
    a = ials(n_epochs=3, n_threads=1).fit(interactions)
    b = ials(n_epochs=3, n_threads=2).fit(interactions)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


@pytest.mark.parametrize("weighting", [None, "bm25", "tfidf"])
def test_fold_in_solves_the_users_exact_problem(interactions, weighting):
    m = ials(n_epochs=15, cg_steps=8, weighting=weighting, dtype="float64").fit(interactions)
    df = interactions.to_dataframe().query("user == 17")
    folded = m.fold_in(dict(zip(df.item, df.rating)))
    # exact solve against the final item factors, densely
    row = {"bm25": bm25_weight, "tfidf": tfidf_weight}.get(weighting, lambda r: r)(interactions)
    rows = row.users == 17
    c = np.zeros(interactions.n_items)
    c[row.items[rows]] = 5.0 * row.values[rows]
    Y = m.item_factors_
    W = np.where(c != 0, np.abs(c), 1.0)
    x = np.linalg.solve(Y.T @ (W[:, None] * Y) + np.eye(8), Y.T @ (W * (c > 0)))
    np.testing.assert_allclose(folded.factors, x, rtol=1e-4, atol=1e-6)
    u = m.user_map_.to_index(17)
    cos = x @ m.user_factors_[u] / np.linalg.norm(x) / np.linalg.norm(m.user_factors_[u])
    assert cos > 0.98  # the user's last solve in training, against the items before theirs
    assert folded.bias == 0.0


def test_save_load_keeps_the_weighting(interactions, tmp_path):
    m = ials(n_epochs=2, weighting="bm25", K1=50, B=0.5).fit(interactions)
    m.save(tmp_path / "ials.lrm")
    loaded = latentrec.load(tmp_path / "ials.lrm")
    np.testing.assert_array_equal(loaded.item_length_norm_, m.item_length_norm_)
    a, b = m.fold_in({0: 1.0, 5: 3.0}), loaded.fold_in({0: 1.0, 5: 3.0})
    np.testing.assert_array_equal(a.factors, b.factors)


def test_weighting_equals_the_implicit_packages(interactions):
    nn = pytest.importorskip("implicit.nearest_neighbours")
    counts = Ratings(interactions.users, interactions.items,
                     np.random.default_rng(0).integers(1, 20, interactions.n_ratings),
                     user_map=interactions.user_map, item_map=interactions.item_map)
    X = counts.to_csr().astype(np.float64)
    for ours, theirs in ((bm25_weight(counts, K1=50, B=0.6), nn.bm25_weight(X.T, 50, 0.6).T),
                         (tfidf_weight(counts), nn.tfidf_weight(X.T).T)):
        np.testing.assert_allclose(ours.to_csr().toarray(), theirs.toarray(), rtol=1e-6)


# -- BPR -----------------------------------------------------------------------------------
def test_bpr_learns_and_reports_train_auc(interactions):
    m = bpr().fit(interactions)
    auc = [h["train_auc"] for h in m.history_]
    assert auc[-1] > 0.8 > auc[0]
    assert all(h["skipped"] == 0 for h in m.history_)
    assert m.global_mean_ == 0 and not m.user_bias_.any() and m.item_bias_.any()
    assert m.predict([3], [7])[0] == pytest.approx(
        m.item_bias_[7] + m.user_factors_[3] @ m.item_factors_[7], rel=1e-5)


def test_bpr_seed_matters_and_threads_run(interactions):
    a = bpr(n_epochs=3, random_state=1).fit(interactions)
    b = bpr(n_epochs=3, random_state=2).fit(interactions)
    assert not np.array_equal(a.item_factors_, b.item_factors_)
    c = bpr(n_epochs=20, n_threads=2, negatives="popularity").fit(interactions)
    assert np.isfinite(c.item_factors_).all() and c.history_[-1]["train_auc"] > 0.7


def test_bpr_fold_in_resembles_the_trained_user(interactions):
    m = bpr().fit(interactions)
    df = interactions.to_dataframe().query("user == 17")
    folded = m.fold_in(dict(zip(df.item, df.rating)))
    trained, _ = m.recommend(17, n=20)
    again, _ = m.recommend(folded, n=20)
    assert len(set(trained) & set(again)) >= 10
    np.testing.assert_array_equal(folded.factors,
                                  m.fold_in(dict(zip(df.item, df.rating))).factors)


# -- ranking evaluation --------------------------------------------------------------------
@pytest.mark.parametrize("split", ["holdout", "leave-last-out"])
@pytest.mark.parametrize("make", [ials, bpr], ids=["ImplicitALS", "BPR"])
def test_ndcg_beats_popularity(interactions, split, make):
    if split == "holdout":
        train, test = user_holdout(interactions, random_state=0)
    else:
        train, test = user_holdout(interactions, by_time=True, n_test=1)
    ndcg = evaluate(make(), train, test, ["ndcg"], k=10)["ndcg@10"]
    base = evaluate(Popularity(), train, test, ["ndcg"], k=10)["ndcg@10"]
    assert ndcg > 1.15 * base

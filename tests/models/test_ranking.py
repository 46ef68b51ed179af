"""The rating models' ranking (models/ranking.py) against a slow NumPy reference."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

import latentrec
from latentrec import ModelFileError, ParameterError
from latentrec._archive import META, write_archive
from latentrec.data.synthetic import synthetic
from latentrec.models import (
    ALSMatrixFactorization,
    BayesianMatrixFactorization,
    SGDMatrixFactorization,
)
from latentrec.models.ranking import interaction_vectors

RATING_MODELS = {
    "sgd": lambda **kw: SGDMatrixFactorization(n_factors=4, n_epochs=10, n_threads=1,
                                               random_state=0, **kw),
    "als": lambda **kw: ALSMatrixFactorization(n_factors=4, n_epochs=4, n_threads=1,
                                               random_state=0, **kw),
    "bpmf": lambda **kw: BayesianMatrixFactorization(n_factors=3, n_samples=10, burn_in=5,
                                                     keep=4, n_threads=1, random_state=0,
                                                     **kw),
}


@pytest.fixture(scope="module")
def data():
    return synthetic(120, 80, 2500, rank=3, rating_scale=(1, 5), discrete=True,
                     random_state=0)


def _binary(model):
    R = model.seen_.toarray().astype(np.float64)
    return (R > 0).astype(np.float64)


def reference_scores(model, weight):
    """score(u, i) = z_u(x_u . v_i) + weight * (p_u . q_i + b_i) / spread, densely."""
    V = model.interaction_item_factors_.astype(np.float64)
    inter = _binary(model) @ V @ V.T
    inter /= inter.std(axis=1, keepdims=True)
    rating = (model.user_factors_.astype(np.float64) @ model.item_factors_.T.astype(np.float64)
              + model.item_bias_)
    return inter + weight / model.rating_spread_ * rating


@pytest.mark.parametrize("name", sorted(RATING_MODELS))
def test_recommend_ranks_by_the_reference_score(data, name):
    model = RATING_MODELS[name](ranking_factors=6, ranking_weight=0.7).fit(data)
    expected = reference_scores(model, 0.7)
    users = model.user_map_.ids[:10]
    for u, (ids, scores) in zip(range(10), model.recommend(list(users), n=8)):
        got = expected[u, model.item_map_.to_indices(ids)]
        # the served score is the reference less what the user's row shares
        np.testing.assert_allclose(scores - scores[0], got - got[0], atol=2e-4)
        unseen = np.setdiff1d(np.arange(expected.shape[1]), model.seen_[u].indices)
        best = unseen[np.argsort(-expected[u, unseen], kind="stable")][:8]
        np.testing.assert_allclose(np.sort(expected[u, best]), np.sort(got), atol=2e-4)


def test_interaction_vectors_span_the_top_singular_vectors(data):
    R = SGDMatrixFactorization(n_epochs=1, ranking_factors=0).fit(data).seen_
    V = interaction_vectors(R, 5, 0).astype(np.float64)
    np.testing.assert_allclose(V.T @ V, np.eye(5), atol=1e-4)
    dense = (R.toarray() > 0).astype(np.float64)
    singular = np.linalg.svd(dense, compute_uv=False)[:5]
    # the Rayleigh quotients of R'R along V are its top eigenvalues, in order
    np.testing.assert_allclose(np.linalg.norm(dense @ V, axis=0), singular, rtol=2e-2)


def test_auto_rank_picks_a_candidate_and_repeats(data):
    R = SGDMatrixFactorization(n_epochs=1, ranking_factors=0).fit(data).seen_
    a, b = interaction_vectors(R, "auto", 3), interaction_vectors(R, "auto", 3)
    assert a.shape[1] in (4, 8, 16, 32, 64) and a.shape[0] == data.n_items
    np.testing.assert_array_equal(a, b)


def test_folded_user_with_a_trained_users_items_gets_their_interaction_vector(data):
    model = RATING_MODELS["sgd"]().fit(data)
    u = 7
    items = model.item_map_.to_ids(model.seen_[u].indices)
    folded = model.fold_in({i: 3.0 for i in items})
    x = model._folded_interactions(folded.seen)
    np.testing.assert_allclose(x, model.interaction_user_factors_[u], rtol=1e-5, atol=1e-6)


def test_ranking_factors_zero_ranks_by_rating(data):
    model = RATING_MODELS["sgd"](ranking_factors=0).fit(data)
    assert model.interaction_item_factors_ is None
    ids, scores = model.recommend(model.user_map_.ids[0], n=5)
    np.testing.assert_allclose(scores, model.predict([model.user_map_.ids[0]] * 5, ids),
                               rtol=1e-5)


def test_weight_zero_is_the_interaction_part_alone(data):
    model = RATING_MODELS["als"](ranking_factors=6, ranking_weight=0.0).fit(data)
    expected = reference_scores(model, 0.0)
    ids, _ = model.recommend(model.user_map_.ids[3], n=5)
    unseen = np.setdiff1d(np.arange(expected.shape[1]), model.seen_[3].indices)
    best = unseen[np.argsort(-expected[3, unseen], kind="stable")][:5]
    np.testing.assert_array_equal(model.item_map_.to_indices(ids), best)


def test_similar_items_by_cosine_of_the_ranking_vectors(data):
    model = RATING_MODELS["sgd"](ranking_factors=6).fit(data)
    w = model.ranking_weight / model.rating_spread_
    E = np.hstack([model.interaction_item_factors_, w * model.item_factors_]).astype(float)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    cos = E @ E[0]
    cos[0] = -np.inf
    ids, scores = model.similar_items(model.item_map_.ids[0], n=4)
    np.testing.assert_array_equal(model.item_map_.to_indices(ids), np.argsort(-cos)[:4])
    np.testing.assert_allclose(scores, np.sort(cos)[::-1][:4], atol=1e-5)


def test_partial_fit_extends_the_interaction_part(data):
    model = RATING_MODELS["sgd"]().fit(data)
    new = latentrec.Ratings.from_arrays([10_000, 10_000], [0, 1], [5.0, 4.0])
    model.partial_fit(new, n_epochs=1)
    assert model.interaction_user_factors_.shape[0] == len(model.user_map_)
    ids, _ = model.recommend(10_000, n=3)
    assert not {0, 1} & set(ids)


def test_save_load_keeps_the_ranking_and_older_files_rank_by_rating(data, tmp_path):
    model = RATING_MODELS["sgd"]().fit(data)
    model.save(tmp_path / "m.lrm")
    loaded = latentrec.load(tmp_path / "m.lrm")
    for a, b in zip(model.recommend([0, 1, 2], n=5), loaded.recommend([0, 1, 2], n=5)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with np.load(tmp_path / "m.lrm") as z:
        arrays = {k: z[k] for k in z.files if k != META}
        meta = json.loads(z[META].tobytes())
    older = {k: v for k, v in arrays.items() if "interaction" not in k and "spread" not in k}
    write_archive(tmp_path / "old.lrm", older, meta)
    old = latentrec.load(tmp_path / "old.lrm")
    np.testing.assert_array_equal(old.recommend(0, n=5)[0],
                                  model.recommend(0, n=5, by="rating")[0])
    key = next(k for k in arrays if k.endswith("interaction_items"))
    write_archive(tmp_path / "bad.lrm", {**arrays, key: arrays[key][:-1]}, meta)
    with pytest.raises(ModelFileError, match="interaction part"):
        latentrec.load(tmp_path / "bad.lrm")


@pytest.mark.parametrize("value", [-1, 1.5, "many", True, None])
def test_bad_ranking_factors(data, value):
    with pytest.raises(ParameterError, match=f"ranking_factors must be .*got {value!r}"):
        SGDMatrixFactorization(ranking_factors=value).fit(data)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "high", None])
def test_bad_ranking_weight(data, value):
    with pytest.raises(ParameterError, match="ranking_weight must be"):
        ALSMatrixFactorization(ranking_weight=value).fit(data)


def test_seen_pattern_is_binary_whatever_the_stored_values(data):
    model = RATING_MODELS["sgd"](ranking_factors=4).fit(data)
    R = model.seen_.copy()
    R.data = R.data * 0 + 7
    a = interaction_vectors(sp.csr_matrix(R), 4, 1)
    b = interaction_vectors(model.seen_, 4, 1)
    np.testing.assert_array_equal(a, b)


def test_tiny_data_without_users_to_validate_on_still_ranks():
    tiny = latentrec.Ratings.from_arrays([1, 1, 2, 3], [10, 20, 20, 30], [5.0, 3.0, 4.0, 1.0])
    model = SGDMatrixFactorization(n_epochs=3, random_state=0).fit(tiny)
    assert model.interaction_item_factors_.shape == (3, 3)
    ids, _ = model.recommend(2, n=2)
    assert set(ids) == {10, 30}


def test_the_interaction_part_is_learnt_on_first_read_as_the_fit_would_have(data, monkeypatch):
    import latentrec.models.ranking as ranking

    model = RATING_MODELS["sgd"]().fit(data)
    assert model.__dict__["_interactions_due"] is not None  # not learnt by fit
    model.set_params(ranking_factors=2, random_state=5)  # read at fit time, not now
    learnt = model.interaction_item_factors_
    eager = RATING_MODELS["sgd"]().fit(data)
    np.testing.assert_array_equal(learnt, eager.interaction_item_factors_)
    assert learnt.shape[1] != 2

    calls = []

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no room")
        return interaction_vectors(*args)

    again = RATING_MODELS["sgd"]().fit(data)
    monkeypatch.setattr(ranking, "interaction_vectors", fails_once)
    with pytest.raises(MemoryError):
        again.recommend(again.user_map_.ids[0], 5)
    assert again.__dict__["_interactions_due"] is not None  # still due, not "none"
    np.testing.assert_array_equal(again.recommend(again.user_map_.ids[0], 5)[0],
                                  eager.recommend(eager.user_map_.ids[0], 5)[0])

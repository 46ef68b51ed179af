"""The rating models' default ranking finds what users like: against Popularity and the
implicit-feedback models, where the truth is known (synthetic data missing not at random)
and on MovieLens-100K's held-out ratings."""

import numpy as np
import pytest
import scipy.sparse as sp

import latentrec as lr
from latentrec.data import user_holdout
from latentrec.data.synthetic import synthetic
from latentrec.evaluation import evaluate, ndcg_at_k


def implicit_copy(data):
    return lr.Ratings(data.users, data.items, np.ones(data.n_ratings), user_map=data.user_map,
                      item_map=data.item_map)


def true_top10(data, truth):
    """Each user's ten truly best items among those they did not rate (CSR)."""
    users, items = np.divmod(np.arange(data.n_users * data.n_items), data.n_items)
    expected = truth.expected(users, items).reshape(data.n_users, data.n_items)
    expected[data.seen().nonzero()] = -np.inf
    top = np.argsort(-expected, axis=1, kind="stable")[:, :10]
    return sp.csr_matrix((np.ones(top.size), top.ravel(), np.arange(0, top.size + 1, 10)),
                         shape=expected.shape)


def ndcg_against(model, data, relevant):
    lists = model.recommend(list(data.user_map.ids), n=10)
    recommended = np.array([data.item_map.to_indices(ids) for ids, _ in lists])
    return ndcg_at_k(recommended, relevant, 10)


@pytest.mark.parametrize("scale", [(1, 5), (1, 100)])
def test_on_mnar_data_the_default_finds_the_true_favourites(scale):
    data, truth = synthetic(5000, 2000, 300_000, rating_scale=scale, exposure=(1, 1),
                            random_state=0, return_truth=True)
    relevant = true_top10(data, truth)
    picks = implicit_copy(data)
    popularity = ndcg_against(lr.Popularity().fit(data), data, relevant)
    implicit = max(ndcg_against(lr.BPR(random_state=0).fit(picks), data, relevant),
                   ndcg_against(lr.ImplicitALS(random_state=0).fit(picks), data, relevant))
    default = ndcg_against(lr.SGDMatrixFactorization(random_state=0).fit(data), data,
                           relevant)
    assert default >= 1.5 * popularity, (default, popularity)
    assert default >= implicit, (default, implicit)


def test_on_movielens_the_default_beats_popularity_and_the_implicit_models():
    ratings = lr.datasets.load("ml-100k").ratings
    train, test = user_holdout(ratings, 0.2, random_state=0)
    picks = implicit_copy(train)

    def ndcg(model, relevance):
        return evaluate(model, train, test, ("ndcg",), relevance_threshold=relevance,
                        fitted=True)["ndcg@10"]

    models = {"default": lr.SGDMatrixFactorization(random_state=0).fit(train),
              "popularity": lr.Popularity().fit(train),
              "bpr": lr.BPR(random_state=0).fit(picks),
              "implicit_als": lr.ImplicitALS(random_state=0).fit(picks)}
    liked = {name: ndcg(model, "liked") for name, model in models.items()}
    assert liked["default"] >= max(liked["bpr"], liked["implicit_als"]), liked
    assert liked["default"] >= 1.5 * liked["popularity"], liked
    anything = {name: ndcg(models[name], "any") for name in ("default", "popularity")}
    assert anything["default"] >= anything["popularity"], anything

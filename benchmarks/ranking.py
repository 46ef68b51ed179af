"""How the rating models should rank: every candidate measured, side by side (an ablation).

    python benchmarks/ranking.py

It takes about a minute on 2 cores. Three data sets:
  * MovieLens-100K, ``user_holdout(ratings, 0.2, random_state=0)``: every item a user did
    not rate in training is a candidate; relevant are the held-out ratings >= 4 ("liked",
    the evaluation's default for rating data) or every held-out rating ("any"); beside
    NDCG@10, what the lists are made of (catalog coverage, novelty, average popularity of
    the recommended items, intra-list diversity), all by ``latentrec.evaluation.evaluate``;
  * synthetic ratings missing not at random, 5,000 users x 2,000 items, 300,000 ratings,
    ``exposure=(1, 1)`` (who rates what grows with popularity and with the user's true
    preference), on a 1-5 and on a 1-100 scale: relevant are a user's true ten best items
    among those they did not rate.
The implicit-feedback models train on the training rows as value 1. The weights of the
relevance order are tried on one fitted model each (the weight is read at ranking time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import latentrec as lr
from latentrec.data import user_holdout
from latentrec.data.synthetic import synthetic
from latentrec.evaluation import evaluate, ndcg_at_k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe  # noqa: E402

WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
BEYOND = ("coverage", "novelty", "popularity", "diversity")


def implicit_copy(data):
    return lr.Ratings(data.users, data.items, np.ones(data.n_ratings), user_map=data.user_map,
                      item_map=data.item_map)


class Reranked:
    """BPR's top 50, re-ordered by a rating model's predicted rating."""

    def __init__(self, bpr, rating):
        self.bpr, self.rating = bpr, rating
        self.item_map_, self.rating_range_ = bpr.item_map_, rating.rating_range_

    def recommend(self, users, n=10):
        out = []
        for u, (ids, _) in zip(users, self.bpr.recommend(users, n=50)):
            pred = self.rating.predict([u] * len(ids), ids)
            order = np.argsort(-pred, kind="stable")[:n]
            out.append((ids[order], pred[order]))
        return out


class Product:
    """The expected value of showing an item: the interaction part's score (clipped at 0,
    a stand-in for the chance of picking it) times the predicted rating's place on the
    scale (0 at the bottom, 1 at the top)."""

    def __init__(self, model):
        self.model = model
        self.item_map_, self.rating_range_ = model.item_map_, model.rating_range_

    def recommend(self, users, n=10):
        m, (lo, hi) = self.model, self.model.rating_range_
        idx = m.user_map_.to_indices(np.asarray(users))
        pick = np.maximum(m.interaction_user_factors_[idx] @ m.interaction_item_factors_.T, 0)
        like = np.clip((m._score_rows(idx, "rating") - lo) / (hi - lo), 0, 1)
        score = pick * like
        score[m.seen_[idx].nonzero()] = -np.inf
        top = np.argsort(-score, axis=1, kind="stable")[:, :n]
        return [(m.item_map_.to_ids(t), s[t]) for t, s in zip(top, score)]


def candidates(train):
    """(name, model) pairs, fitted on ``train``; weights share one fit per model."""
    picks = implicit_copy(train)
    sgd = lr.SGDMatrixFactorization(random_state=0).fit(train)
    bpr = lr.BPR(random_state=0).fit(picks)
    yield "Popularity", lr.Popularity().fit(train)
    yield "BPR (implicit)", bpr
    yield "ImplicitALS (implicit)", lr.ImplicitALS(random_state=0).fit(picks)
    yield "SGD by predicted rating", _Order(sgd, "rating")
    yield "BPR's top 50 re-ranked by SGD's rating", Reranked(bpr, sgd)
    yield "interaction part x rating's place on the scale (product)", Product(sgd)
    for w in WEIGHTS:
        label = ("interaction part alone (weight 0)" if w == 0
                 else f"SGD relevance, weight {w:g}" + (" (default)" if w == 2 else ""))
        yield label, _Weighted(sgd, w)
    yield "ALS, default", lr.ALSMatrixFactorization(random_state=0).fit(train)
    yield "BPMF, default", lr.BayesianMatrixFactorization(random_state=0).fit(train)


class _Order:
    """A fitted model, ranking ``by`` one order."""

    def __init__(self, model, by):
        self.model, self.by = model, by
        self.item_map_, self.rating_range_ = model.item_map_, model.rating_range_

    def recommend(self, users, n=10):
        return self.model.recommend(users, n=n, by=self.by)


class _Weighted(_Order):
    def __init__(self, model, weight):
        super().__init__(model, "relevance")
        self.weight = weight

    def recommend(self, users, n=10):
        kept = self.model.ranking_weight
        self.model.ranking_weight = self.weight
        try:
            return super().recommend(users, n=n)
        finally:
            self.model.ranking_weight = kept


def movielens_rows():
    ratings = lr.datasets.load("ml-100k").ratings
    train, test = user_holdout(ratings, 0.2, random_state=0)
    rows = {}
    for name, model in candidates(train):
        liked = evaluate(model, train, test, ("ndcg",) + BEYOND, fitted=True)
        anything = evaluate(model, train, test, ("ndcg",), relevance_threshold="any",
                            fitted=True)
        rows[name] = {"liked": liked["ndcg@10"], "any": anything["ndcg@10"],
                      **{m: liked[f"{m}@10"] for m in BEYOND}}
    return rows


def mnar_rows(scale):
    data, truth = synthetic(5000, 2000, 300_000, rating_scale=scale, exposure=(1, 1),
                            random_state=0, return_truth=True)
    users, items = np.divmod(np.arange(data.n_users * data.n_items), data.n_items)
    expected = truth.expected(users, items).reshape(data.n_users, data.n_items)
    expected[data.seen().nonzero()] = -np.inf
    top = np.argsort(-expected, axis=1, kind="stable")[:, :10]
    relevant = sp.csr_matrix((np.ones(top.size), top.ravel(), np.arange(0, top.size + 1, 10)),
                             shape=expected.shape)
    rows = {}
    for name, model in candidates(data):
        lists = model.recommend(list(data.user_map.ids), n=10)
        recs = np.array([data.item_map.to_indices(ids) for ids, _ in lists])
        rows[name] = ndcg_at_k(recs, relevant, 10)
    return rows


def main():
    print(describe())
    ml = movielens_rows()
    mnar = {scale: mnar_rows(scale) for scale in ((1, 5), (1, 100))}
    print("\n| candidate | ML-100K liked | ML-100K any | coverage | novelty (bits) | avg. "
          "popularity | diversity | MNAR 1-5 | MNAR 1-100 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in ml.items():
        print(f"| {name} | {r['liked']:.4f} | {r['any']:.4f} | {r['coverage']:.3f} | "
              f"{r['novelty']:.2f} | {r['popularity']:.0f} | {r['diversity']:.3f} | "
              f"{mnar[(1, 5)][name]:.4f} | {mnar[(1, 100)][name]:.4f} |")


if __name__ == "__main__":
    main()

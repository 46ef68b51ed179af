"""recommend over a large catalogue: the bound index (models/bounded.py) gives the lists
that scoring every item gives, and is used only where it pays."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from latentrec import ALSMatrixFactorization, SGDMatrixFactorization
from latentrec.data.synthetic import synthetic
from latentrec.kernels.topk import HEAP_K
from latentrec.models import bounded


@pytest.fixture(scope="module")
def data():
    return synthetic(300, 3000, 12_000, rank=4, popularity_skew=1.0, random_state=0)


@pytest.fixture(scope="module", params=["sgd", "als"])
def fitted(request, data):
    kind = {"sgd": lambda: SGDMatrixFactorization(n_factors=8, n_epochs=5, random_state=0),
            "als": lambda: ALSMatrixFactorization(n_factors=8, n_epochs=3, random_state=0)}
    return kind[request.param]().fit(data)


def lists(model, monkeypatch, *, bound: bool, users, **kw):
    """recommend's lists with the index forced on (any catalogue) or off."""
    monkeypatch.setattr(bounded, "MIN_ITEMS", 0 if bound else 10**12)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 1.0)
    model._normed.clear()
    try:
        assert (model._bound_index(model._check_by(kw.get("by")), 10) is not None) == bound
        return model.recommend(users, **kw)
    finally:
        model._normed.clear()


@pytest.mark.parametrize("kw", [{}, {"by": "rating"}, {"exclude_seen": False},
                                {"n": 3, "exclude": [1, 2, 3]}])
def test_the_index_finds_the_lists_of_scoring_every_item(fitted, monkeypatch, kw):
    users = list(fitted.user_map_.ids[:60])
    exact = lists(fitted, monkeypatch, bound=False, users=users, **kw)
    found = lists(fitted, monkeypatch, bound=True, users=users, **kw)
    for (ei, es), (fi, fs) in zip(exact, found):
        assert_same_list(fi, fs, ei, es)


def assert_same_list(items, scores, exact_items, exact_scores, rtol=1e-5):
    """The same scores rank by rank, and each item at its own score: two items whose
    scores tie to rounding (the index sums in another order) may trade places."""
    np.testing.assert_allclose(scores, exact_scores, rtol=rtol)
    exact = dict(zip(exact_items.tolist(), exact_scores.tolist()))
    for item, score in zip(items.tolist(), scores.tolist()):
        # an item not in the exact list ties with its last one
        np.testing.assert_allclose(score, exact.get(item, exact_scores[-1]), rtol=rtol)


def test_recommend_all_and_a_folded_user_use_it_too(fitted, monkeypatch):
    monkeypatch.setattr(bounded, "MIN_ITEMS", 0)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 1.0)
    fitted._normed.clear()
    table = next(fitted.recommend_all(5, users=fitted.user_map_.ids[:7]))
    assert fitted._normed[("bound", fitted._check_by(None))] is not None
    first = table[table.user == fitted.user_map_.ids[0]]
    assert first.item.tolist() == fitted.recommend(fitted.user_map_.ids[0], 5)[0].tolist()
    folded = fitted.fold_in({fitted.item_map_.ids[i]: 5.0 for i in (0, 4, 9)})
    found = fitted.recommend(folded, 8)
    monkeypatch.setattr(bounded, "MIN_ITEMS", 10**12)
    fitted._normed.clear()
    exact = fitted.recommend(folded, 8)
    fitted._normed.clear()
    np.testing.assert_array_equal(found[0], exact[0])
    assert not set(found[0]) & {fitted.item_map_.ids[i] for i in (0, 4, 9)}


def test_a_kept_index_holds_the_only_copy_of_the_item_side(fitted, monkeypatch):
    by = fitted._check_by(None)
    users = list(fitted.user_map_.ids[:5])
    folded = fitted.fold_in({fitted.item_map_.ids[i]: 4.0 for i in (1, 5)})
    monkeypatch.setattr(bounded, "MIN_ITEMS", 10**12)
    fitted._normed.clear()
    exact_side = fitted._item_score_factors(by).copy()
    before = (fitted._score_rows(np.arange(5), by), fitted._folded_scores(folded, by),
              fitted.recommend(users, n=70))  # n past the heap's k: the exact path
    monkeypatch.setattr(bounded, "MIN_ITEMS", 0)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 1.0)
    fitted._normed.clear()
    index = fitted._bound_index(by, 10)
    np.testing.assert_array_equal(index.B, exact_side[index.order])
    after = (fitted._score_rows(np.arange(5), by), fitted._folded_scores(folded, by),
             fitted.recommend(users, n=70))
    assert ("score", by) not in fitted._normed  # the exact path read the index's copy
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6)
    np.testing.assert_allclose(after[1], before[1], rtol=1e-6)
    for (ei, es), (fi, fs) in zip(before[2], after[2]):
        np.testing.assert_array_equal(fi, ei)
        np.testing.assert_allclose(fs, es, rtol=1e-6)
    np.testing.assert_array_equal(fitted._item_score_factors(by), exact_side)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 0.0)  # not kept: the exact path keeps it
    fitted._normed.clear()
    assert fitted._bound_index(by, 10) is None
    assert ("score", by) not in fitted._normed  # stacked in item order when first read
    np.testing.assert_array_equal(fitted._item_side(by)[0], exact_side)
    np.testing.assert_array_equal(fitted._normed[("score", by)], exact_side)
    fitted._normed.clear()


def test_a_folded_user_is_scored_in_the_factors_dtype(fitted):
    folded = fitted.fold_in({fitted.item_map_.ids[i]: 4.0 for i in (1, 5)})
    by = fitted._check_by(None)
    scores = fitted._folded_scores(folded, by)
    items = fitted._item_score_factors(by)
    assert scores.dtype == items.dtype == np.float32
    reference = items.astype(np.float64) @ fitted._folded_score_row(folded, by)
    np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-4)


def test_no_index_below_the_size_or_where_it_would_scan_too_much(fitted, monkeypatch):
    fitted._normed.clear()
    assert len(fitted.item_map_) < bounded.MIN_ITEMS
    assert fitted._bound_index(fitted._check_by(None), 10) is None
    monkeypatch.setattr(bounded, "MIN_ITEMS", 0)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 0.0)  # every search scans a tile
    fitted._normed.clear()
    assert fitted._bound_index(fitted._check_by(None), 10) is None
    monkeypatch.setattr(bounded, "MAX_SCANNED", 1.0)
    fitted._normed.clear()
    assert fitted._bound_index(fitted._check_by(None), 10) is not None
    assert fitted._bound_index(fitted._check_by(None), 65) is None  # past the heap's k
    fitted._normed.clear()


def test_similarity_over_a_large_catalogue_gives_the_same_lists(fitted, monkeypatch):
    item, user = fitted.item_map_.ids[3], fitted.user_map_.ids[2]
    folded = fitted.fold_in({fitted.item_map_.ids[i]: 4.0 for i in (1, 2)})
    runs = {}
    for min_items in (10**12, 0):
        monkeypatch.setattr(bounded, "MIN_ITEMS", min_items)
        fitted._normed.clear()
        runs[min_items] = [fitted.similar_items(item, 10),
                           fitted.similar_items(item, 5, items=fitted.item_map_.ids[:500]),
                           fitted.similar_users(user, 7), fitted.similar_users(folded, 4)]
        assert (fitted._quantized("item") is not None) == (min_items == 0)
    fitted._normed.clear()
    for (ei, es), (qi, qs) in zip(runs[10**12], runs[0]):
        np.testing.assert_array_equal(qi, ei)
        np.testing.assert_allclose(qs, es, rtol=1e-5)


def test_threads_asking_at_once_wait_for_one_build(fitted, monkeypatch):
    built = []

    class Slow(bounded.BoundIndex):
        def __init__(self, *args, **kwargs):
            built.append(1)
            time.sleep(0.3)  # long enough for the other threads to ask meanwhile
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(bounded, "BoundIndex", Slow)
    monkeypatch.setattr(bounded, "MIN_ITEMS", 0)
    monkeypatch.setattr(bounded, "MAX_SCANNED", 1.0)
    fitted._normed.clear()
    users = list(fitted.user_map_.ids[:3])
    with ThreadPoolExecutor(4) as pool:
        lists = list(pool.map(lambda u: fitted.recommend(u, n=5), users * 4))
    assert len(built) == 1
    for u, (ids, _) in zip(users * 4, lists):
        np.testing.assert_array_equal(ids, fitted.recommend(u, n=5)[0])
    assert ("score", fitted._check_by(None)) not in fitted._normed
    fitted._normed.clear()


def coarse_lists(model, monkeypatch, *, coarse: bool, by=None, **kw):
    """recommend_all's table with the coarse bound forced on (any catalogue, any cost) or
    off."""
    monkeypatch.setattr(bounded, "COARSE_MIN_ITEMS", 0 if coarse else 10**12)
    monkeypatch.setattr(bounded, "COARSE_GAIN", 1e9)
    model._normed.clear()
    try:
        by = model._check_by(by)
        assert (model._coarse_bound(by, 10) is not None) == coarse
        return pd.concat(model.recommend_all(by=by, **kw), ignore_index=True)
    finally:
        model._normed.clear()


@pytest.mark.parametrize("kw", [{}, {"by": "rating"}, {"exclude_seen": False},
                                {"n": 3, "exclude": [1, 2, 3]}])
def test_the_coarse_bound_finds_the_lists_of_scoring_every_item(fitted, monkeypatch, kw):
    exact = coarse_lists(fitted, monkeypatch, coarse=False, **kw)
    found = coarse_lists(fitted, monkeypatch, coarse=True, **kw)
    assert len(found) == len(exact)
    for (_, e), (_, f) in zip(exact.groupby("user"), found.groupby("user")):
        assert_same_list(f["item"].to_numpy(), f["score"].to_numpy(),
                         e["item"].to_numpy(), e["score"].to_numpy())


def test_the_coarse_bound_is_kept_only_where_it_pays(fitted, monkeypatch):
    fitted._normed.clear()
    assert len(fitted.item_map_) > bounded.COARSE_MIN_ITEMS
    monkeypatch.setattr(bounded, "COARSE_GAIN", 0.0)  # nothing pays
    assert fitted._coarse_bound("rating", 10) is None
    fitted._normed.clear()
    monkeypatch.setattr(bounded, "COARSE_GAIN", 1e9)  # anything pays: the cheapest width
    bound = fitted._coarse_bound("rating", 10)
    assert bound is not None and bound.V.shape[1] in bounded.LEAD_WIDTHS
    assert fitted._coarse_bound("rating", HEAP_K + 1) is None  # only heap-sized lists
    fitted._normed.clear()

import math

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import DataError, Ratings
from latentrec.evaluation import (
    auc,
    catalog_coverage,
    hit_rate_at_k,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
)
from latentrec.evaluation import metrics as metrics_module
from latentrec.kernels import ranking as kernels

RANKING = {"precision": precision_at_k, "recall": recall_at_k, "ndcg": ndcg_at_k,
           "map": map_at_k, "mrr": mrr, "hit_rate": hit_rate_at_k}
FAST = settings(max_examples=60, deadline=None)
L3 = 1 / math.log2(3)  # discount at rank 2; rank 3 is 1/log2 4 = 1/2


# slow, obvious reference implementations -------------------------------------------

def reference_user(row, rel, k):
    """Every ranking metric for one user, or None when the user has no relevant items."""
    if not rel:
        return None
    top = list(row[:k])
    hits = [r for r, item in enumerate(top, start=1) if item >= 0 and item in rel]
    n, cut = len(rel), min(len(rel), k)
    dcg = sum(1 / math.log2(r + 1) for r in hits)
    idcg = sum(1 / math.log2(r + 1) for r in range(1, cut + 1))
    ap = sum(sum(1 for h in hits if h <= r) / r for r in hits) / cut
    return {"precision": len(hits) / k, "recall": len(hits) / n, "ndcg": dcg / idcg,
            "map": ap, "mrr": 1 / hits[0] if hits else 0.0,
            "hit_rate": 1.0 if hits else 0.0,
            "stats": (len(hits), dcg, ap * cut, hits[0] if hits else 0)}


def reference_auc(scores, rel, exclude):
    """Brute force over every (positive, negative) pair; ties count half."""
    out = []
    for u, row in enumerate(scores):
        cand = [i for i in range(len(row)) if i not in exclude[u]]
        pos = [i for i in cand if i in rel[u]]
        neg = [i for i in cand if i not in rel[u]]
        if not pos or not neg:
            out.append(np.nan)
            continue
        wins = sum(1.0 if row[p] > row[q] else 0.5 if row[p] == row[q] else 0.0
                   for p in pos for q in neg)
        out.append(wins / (len(pos) * len(neg)))
    return np.array(out)


def to_csr(sets, n_items):
    rows = [u for u, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in sorted(s)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


# rating metrics ----------------------------------------------------------------------

def test_rmse_and_mae_by_hand():
    # errors 0, 1, 2: RMSE = sqrt((0 + 1 + 4) / 3), MAE = (0 + 1 + 2) / 3
    assert rmse([1, 2, 3], [1, 3, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert mae(np.array([1, 2, 3]), [1, 3, 1]) == pytest.approx(1.0)


def test_rmse_takes_ratings_values():
    r = Ratings.from_arrays(["a", "b"], [10, 20], [4.0, 2.0])
    # errors 1 and 0: RMSE = sqrt(1 / 2), MAE = 1 / 2
    assert rmse(r, [3.0, 2.0]) == pytest.approx(math.sqrt(0.5))
    assert mae(r, np.array([3.0, 2.0], dtype=np.float32)) == pytest.approx(0.5)


def test_rating_metrics_of_nothing_are_nan():
    assert math.isnan(rmse([], [])) and math.isnan(mae(np.array([]), []))


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([1, 2, 3], [1, 2], "y_true and y_pred must have the same length; got 3 and 2"),
    ([1, np.nan, 3], [1, 2, 3], r"y_true contains NaN \(1 of 3, first at position 1\)"),
    ([1, 2, 3], [1, 2, float("nan")], "y_pred contains NaN"),
    ([1, 2], ["a", "b"], "y_pred must hold numbers"),
    ([[1, 2]], [1, 2], r"must have the same shape; got \(1, 2\) and \(2,\)"),
])
def test_rating_metrics_reject_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        rmse(y_true, y_pred)


# ranking metrics by hand -------------------------------------------------------------

# user 0: hits at ranks 1 and 3 of 4, two relevant items
# user 1: hit at rank 2, three relevant items
# user 2: no relevant items -> skipped
# user 3: one relevant item, not recommended
RECS = np.array([[3, 0, 7, 4], [2, 5, -1, -1], [1, 2, 3, 4], [6, -1, -1, -1]])
REL = [{3, 7}, {5, 6, 8}, set(), {0}]


@pytest.mark.parametrize("name, per_user", [
    ("precision", [2 / 4, 1 / 4, np.nan, 0]),
    ("recall", [2 / 2, 1 / 3, np.nan, 0]),
    # DCG user 0 = 1 + 1/log2(4); ideal over min(2, 4) = 2 places = 1 + 1/log2(3)
    # DCG user 1 = 1/log2(3);     ideal over min(3, 4) = 3 places = 1 + 1/log2(3) + 1/2
    ("ndcg", [(1 + 1 / 2) / (1 + L3), L3 / (1 + L3 + 1 / 2), np.nan, 0]),
    # AP user 0 = (1/1 + 2/3) / min(2, 4); user 1 = (1/2) / min(3, 4)
    ("map", [(1 + 2 / 3) / 2, (1 / 2) / 3, np.nan, 0]),
    ("mrr", [1, 1 / 2, np.nan, 0]),
    ("hit_rate", [1, 1, np.nan, 0]),
])
def test_ranking_metrics_by_hand(name, per_user):
    f = RANKING[name]
    got = f(RECS, REL, per_user=True)
    np.testing.assert_allclose(got, per_user)
    assert f(RECS, REL) == pytest.approx(np.nanmean(per_user))  # mean of users 0, 1, 3
    assert f(RECS, to_csr(REL, 9)) == pytest.approx(np.nanmean(per_user))


@pytest.mark.parametrize("name, per_user", [
    ("precision", [1 / 2, 1 / 2, 0]),          # one hit each in the top 2
    ("recall", [1 / 2, 1 / 3, 0]),
    ("ndcg", [1 / (1 + L3), L3 / (1 + L3), 0]),  # ideal over min(n_rel, 2) = 2 places
    ("map", [1 / 2, (1 / 2) / 2, 0]),           # divided by min(n_rel, 2) = 2
    ("mrr", [1, 1 / 2, 0]),
])
def test_ranking_metrics_cut_at_k(name, per_user):
    got = RANKING[name](RECS, REL, k=2, per_user=True)
    np.testing.assert_allclose(got[[0, 1, 3]], per_user)


def test_k_wider_than_the_lists_counts_missing_slots_as_misses():
    # the 4-wide lists act as if padded with -1 to 6: precision divides by 6 ...
    np.testing.assert_allclose(precision_at_k(RECS, REL, k=6, per_user=True),
                               [2 / 6, 1 / 6, np.nan, 0])
    # ... while the rest see the same hits; ideal DCG and AP's divisor use min(n_rel, 6)
    for name in ("recall", "ndcg", "map", "mrr", "hit_rate"):
        np.testing.assert_allclose(RANKING[name](RECS, REL, k=6, per_user=True),
                                   RANKING[name](RECS, REL, per_user=True))


def test_users_with_nothing_relevant_are_skipped_or_count_zero():
    assert precision_at_k(RECS, REL) == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)
    assert precision_at_k(RECS, REL, skip_empty=False) == pytest.approx((2 / 4 + 1 / 4) / 4)
    np.testing.assert_array_equal(recall_at_k(RECS, REL, per_user=True, skip_empty=False),
                                  [1, 1 / 3, 0, 0])


@pytest.mark.parametrize("name", sorted(RANKING))
def test_all_users_skipped_gives_nan(name):
    f = RANKING[name]
    assert math.isnan(f(RECS, [set()] * 4))
    assert np.isnan(f(RECS, [set()] * 4, per_user=True)).all()
    assert f(RECS, [set()] * 4, skip_empty=False) == 0.0
    assert math.isnan(f(np.zeros((0, 3), dtype=int), []))  # no users at all


def test_plain_lists_ragged_lists_and_sparse_forms_agree():
    ragged = [[3, 0, 7, 4], [2, 5], [1, 2, 3, 4], [6]]
    rel_lists = [[7, 3], np.array([8, 6, 5]), [], (0,)]
    want = ndcg_at_k(RECS, REL, per_user=True)
    np.testing.assert_array_equal(ndcg_at_k(ragged, rel_lists, per_user=True), want)
    np.testing.assert_array_equal(ndcg_at_k(RECS.astype(np.int32), sp.csr_array(to_csr(REL, 9)),
                                            per_user=True), want)


def test_sparse_relevance_ignores_explicit_zeros():
    rel = sp.csr_matrix((np.array([1.0, 0.0]), np.array([3, 7]), np.array([0, 2])), shape=(1, 9))
    assert rel.nnz == 2
    assert recall_at_k(RECS[:1], rel) == 1.0  # only item 3 is relevant, found at rank 1
    assert precision_at_k(RECS[:1], rel) == 1 / 4


# ranking metrics against the reference -----------------------------------------------

@st.composite
def ranking_cases(draw):
    n_items = draw(st.integers(1, 12))
    n_users = draw(st.integers(0, 6))
    width = draw(st.integers(1, 8))
    recs = np.full((n_users, width), -1, dtype=np.int64)
    rel = []
    for u in range(n_users):
        items = draw(st.permutations(range(n_items)))[: draw(st.integers(0, width))]
        recs[u, : len(items)] = items
        rel.append(draw(st.sets(st.integers(0, n_items - 1), max_size=n_items)))
    k = draw(st.integers(1, width + 3))
    return recs, rel, n_items, k


@FAST
@given(ranking_cases(), st.booleans())
def test_ranking_metrics_match_the_reference(case, sparse_rel):
    recs, rel, n_items, k = case
    refs = [reference_user(recs[u], rel[u], k) for u in range(len(rel))]
    relevant = to_csr(rel, n_items) if sparse_rel else rel
    for name, f in RANKING.items():
        want = np.array([np.nan if r is None else r[name] for r in refs])
        np.testing.assert_allclose(f(recs, relevant, k, per_user=True), want, rtol=1e-12)
        mean = f(recs, relevant, k)
        assert (math.isnan(mean) if np.isnan(want).all()
                else mean == pytest.approx(np.nanmean(want)))


@FAST
@given(ranking_cases())
def test_ranking_kernel_matches_the_reference(case):
    recs, rel, n_items, k = case
    csr = to_csr(rel, n_items)
    stats = metrics_module._call(kernels.ranking_stats, 0, recs, k,
                                 csr.indptr.astype(np.int64), csr.indices.astype(np.int64))
    for u in range(len(rel)):
        ref = reference_user(recs[u], rel[u], k)
        np.testing.assert_allclose(stats[u], ref["stats"] if ref else 0, rtol=1e-12)


def test_threaded_kernels_agree(monkeypatch):
    monkeypatch.setattr(metrics_module, "SERIAL_WORK", 0)  # every kernel call on all threads
    rng = np.random.default_rng(1)
    n_users, n_items, k = 500, 60, 10
    recs = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    recs[rng.random((n_users, k)) < 0.1] = -1  # holes, not only tail padding
    rel = [set(rng.choice(n_items, size=rng.integers(0, 12), replace=False).tolist())
           for _ in range(n_users)]
    refs = [reference_user(recs[u], rel[u], k) for u in range(n_users)]
    before = numba.get_num_threads()
    for name, f in RANKING.items():
        want = np.array([np.nan if r is None else r[name] for r in refs])
        np.testing.assert_allclose(f(recs, to_csr(rel, n_items), per_user=True), want,
                                   rtol=1e-12)
    scores = rng.integers(0, 20, size=(n_users, n_items)).astype(np.float32)  # many ties
    want = []
    for u in range(n_users):
        pos = scores[u, sorted(rel[u])]
        neg = np.delete(scores[u], sorted(rel[u]))
        wins = (pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()
        want.append(wins / (pos.size * neg.size) if pos.size else np.nan)
    np.testing.assert_allclose(auc(scores, rel, per_user=True), want, rtol=1e-12)
    assert numba.get_num_threads() == before


def test_small_inputs_run_on_one_thread_and_restore_the_count():
    before = numba.get_num_threads()
    seen = metrics_module._call(lambda: numba.get_num_threads(), 0)
    assert seen == 1 and numba.get_num_threads() == before


# AUC ---------------------------------------------------------------------------------

def test_auc_by_hand():
    scores = np.array([[0.9, 0.1, 0.5, 0.5, 0.3],
                       [0.1, 0.2, 0.3, 0.4, 0.5],
                       [0.1, 0.2, 0.3, 0.4, 0.5]])
    rel = [{0, 3}, set(range(5)), set()]  # users 1 (no negatives) and 2 (no positives) skip
    # user 0, item 4 excluded: positives 0.9, 0.5 vs negatives 0.1, 0.5 -> pairs 1, 1, 1, 1/2
    exclude = sp.csr_matrix(([1.0], [4], [0, 1, 1, 1]), shape=(3, 5))
    np.testing.assert_allclose(auc(scores, rel, exclude, per_user=True), [3.5 / 4, np.nan, np.nan])
    # without exclusion negative 0.3 joins: 0.9 beats all 3; 0.5 beats 0.1 and 0.3, ties 0.5
    assert auc(scores, rel) == pytest.approx((3 + 2.5) / 6)


def test_auc_extremes():
    scores = np.tile(np.arange(6.0), (2, 1))
    assert auc(scores, [{4, 5}, {0, 1}], per_user=True).tolist() == [1.0, 0.0]
    assert auc(np.ones((1, 6), dtype=np.float32), [{2}]) == 0.5  # all tied
    assert math.isnan(auc(scores, [set(), set(range(6))]))      # every user skipped


@st.composite
def auc_cases(draw):
    n_items = draw(st.integers(1, 10))
    n_users = draw(st.integers(1, 5))
    # small integer scores force ties
    scores = np.array(draw(st.lists(st.lists(st.integers(-2, 2), min_size=n_items,
                                             max_size=n_items),
                                    min_size=n_users, max_size=n_users)), dtype=np.float64)
    sets = st.sets(st.integers(0, n_items - 1), max_size=n_items)
    rel = [draw(sets) for _ in range(n_users)]
    exclude = [draw(sets) for _ in range(n_users)]
    return scores, rel, exclude, n_items


@FAST
@given(auc_cases(), st.booleans())
def test_auc_matches_brute_force(case, float32):
    scores, rel, exclude, n_items = case
    want = reference_auc(scores, rel, exclude)
    s = scores.astype(np.float32) if float32 else scores
    np.testing.assert_allclose(auc(s, to_csr(rel, n_items), to_csr(exclude, n_items),
                                   per_user=True), want, rtol=1e-12)
    np.testing.assert_allclose(auc(s, rel, exclude, per_user=True), want, rtol=1e-12)


def test_auc_on_random_real_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 50))
    rel = [set(rng.choice(50, size=rng.integers(0, 10), replace=False).tolist())
           for _ in range(20)]
    exclude = [set(rng.choice(50, size=5, replace=False).tolist()) for _ in range(20)]
    want = reference_auc(scores, rel, exclude)
    np.testing.assert_allclose(auc(scores, rel, to_csr(exclude, 50), per_user=True), want)
    assert auc(scores, rel, to_csr(exclude, 50)) == pytest.approx(np.nanmean(want))


# coverage ----------------------------------------------------------------------------

def test_catalog_coverage_by_hand():
    recs = [[0, 1, -1], [1, 2, 3]]
    assert catalog_coverage(recs, 10) == pytest.approx(4 / 10)      # {0, 1, 2, 3}
    assert catalog_coverage(recs, 10, k=2) == pytest.approx(3 / 10)  # {0, 1, 2}
    assert catalog_coverage(np.zeros((0, 3), dtype=int), 5) == 0.0


# argument checking -------------------------------------------------------------------

@pytest.mark.parametrize("k, message", [
    (0, "k must be a positive integer, got 0"),
    (-2, "k must be a positive integer, got -2"),
    (2.5, "k must be a positive integer, got 2.5"),
    (True, "k must be a positive integer, got True"),
    ("3", "k must be a positive integer, got '3'"),
])
def test_bad_k(k, message):
    with pytest.raises(ValueError, match=message):
        precision_at_k(RECS, REL, k)


@pytest.mark.parametrize("recommended, relevant, message", [
    (np.array([1, 2, 3]), [{1}],
     r"recommended must be a 2-D \(users x k\) array, got shape \(3,\)"),
    (np.array([[1.0, 2.0]]), [{1}],
     "recommended must hold integer item indices, got dtype float64"),
    ([[1, 2], [0.5]], [{1}, {2}],
     "recommended must hold integer item indices, got dtype float64 in row 1"),
    ([[1, -2]], [{1}],
     "recommended holds item index -2 at row 0, column 1; indices must be >= 0, or -1"),
    ([[1, 9]], to_csr([{1}], 5), r"item index 9 at row 0, column 1, but there are only 5 items"),
    ([[3, 1, 3]], [{1}], "recommended repeats item 3 in row 0"),
    (np.zeros((2, 0), dtype=int), [{1}, {2}], "recommended has no columns, so k has no default"),
    ([[1], [2]], [{1}], "relevant has 1 users, but recommended has 2"),
    ([[1], [2]], to_csr([{1}], 5), "relevant has 1 user rows, but recommended has 2"),
    ([[1]], [{-3}], "relevant holds item index -3 for user row 0; indices must be >= 0"),
    ([[1]], [[0.5]], "relevant must hold integer item indices, got dtype float64"),
    ([[1]], 5, "relevant must be a scipy sparse matrix or a sequence .* got int"),
])
def test_bad_ranking_input(recommended, relevant, message):
    with pytest.raises(DataError, match=message):
        ndcg_at_k(recommended, relevant)


@pytest.mark.parametrize("scores, relevant, exclude, message", [
    (np.zeros(4), [{1}], None, r"scores must be a 2-D \(users x items\) array, got shape \(4,\)"),
    (np.array([[0.1, np.nan]]), [{1}], None, "scores contains NaN .*user row 0, item column 1"),
    (np.array([["a", "b"]]), [{1}], None, "scores must hold numbers"),
    (np.zeros((1, 3)), [{3}], None,
     "relevant holds item index 3 for user row 0, but there are only 3"),
    (np.zeros((1, 3)), to_csr([{1}], 4), None, "relevant has 4 item columns, but scores has 3"),
    (np.zeros((1, 3)), [{1}], to_csr([{1}, {2}], 3), "exclude has 2 user rows, but scores has 1"),
])
def test_bad_auc_input(scores, relevant, exclude, message):
    with pytest.raises(DataError, match=message):
        auc(scores, relevant, exclude)


@pytest.mark.parametrize("recommended, n_items, message", [
    ([[1]], 0, "n_items must be a positive integer, got 0"),
    ([[1]], 2.0, "n_items must be a positive integer, got 2.0"),
    ([[1, 4]], 3, "item index 4 at row 0, column 1, but there are only 3 items"),
])
def test_bad_coverage_input(recommended, n_items, message):
    with pytest.raises(ValueError, match=message):
        catalog_coverage(recommended, n_items)

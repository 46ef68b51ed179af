"""Novelty, average popularity and intra-list diversity: by hand, against slow references,
and their errors."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import DataError, ParameterError
from latentrec.evaluation import average_popularity, intra_list_diversity, novelty

FAST = settings(max_examples=60, deadline=None)


# slow, obvious references --------------------------------------------------------------

def reference_slots(recs, k):
    return [i for row in recs for i in row[:k] if i >= 0]


def reference_novelty(recs, counts, n_users, k):
    slots = reference_slots(recs, k)
    if not slots:
        return math.nan
    return sum(-math.log2(max(counts[i], 1) / n_users) for i in slots) / len(slots)


def reference_popularity(recs, counts, k):
    slots = reference_slots(recs, k)
    return sum(counts[i] for i in slots) / len(slots) if slots else math.nan


def reference_diversity(recs, vectors, k):
    out = []
    for row in recs:
        items = [i for i in row[:k] if i >= 0]
        if len(items) < 2:
            out.append(math.nan)
            continue
        dists = []
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                x, y = vectors[items[a]], vectors[items[b]]
                nx, ny = math.sqrt(sum(v * v for v in x)), math.sqrt(sum(v * v for v in y))
                cos = 0.0 if nx == 0 or ny == 0 else sum(p * q for p, q in zip(x, y)) / nx / ny
                dists.append(1 - cos)
        out.append(sum(dists) / len(dists))
    return out


# by hand ---------------------------------------------------------------------------------

RECS = np.array([[0, 1], [1, -1]])


def test_novelty_by_hand():
    # slots: item 0 (1 of 4 users: 2 bits), item 1 twice (2 of 4: 1 bit each)
    assert novelty(RECS, [1, 2, 4], 4) == pytest.approx(4 / 3)
    assert novelty(RECS, [1, 2, 4], 4, k=1) == pytest.approx(3 / 2)
    # an item no training user had counts as if one had
    assert novelty([[2]], [1, 2, 0], 8) == pytest.approx(3.0)


def test_average_popularity_by_hand():
    assert average_popularity(RECS, [1, 2, 4]) == pytest.approx(5 / 3)
    assert average_popularity([[2, 0]], [1, 2, 4], k=1) == 4.0


def test_intra_list_diversity_by_hand():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    far = 1 - 1 / math.sqrt(2)
    per_user = intra_list_diversity([[0, 1, 2], [0, -1, -1], [0, 3, -1]], vectors,
                                    per_user=True)
    np.testing.assert_allclose(per_user, [(1 + 2 * far) / 3, np.nan, 1.0])
    assert intra_list_diversity([[0, 1, 2], [0, -1, -1]], vectors) == pytest.approx(
        (1 + 2 * far) / 3)
    assert intra_list_diversity([[0, 2, 1]], vectors, k=2) == pytest.approx(far)


def test_sparse_and_dense_vectors_agree():
    dense = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [3.0, 0.0, 0.0]])
    recs = [[0, 1, 2], [2, 1, -1]]
    assert intra_list_diversity(recs, sp.csr_matrix(dense)) == pytest.approx(
        intra_list_diversity(recs, dense))


def test_nothing_to_describe_is_nan():
    assert math.isnan(novelty(np.full((2, 3), -1), [1, 1, 1], 3))
    assert math.isnan(average_popularity(np.zeros((0, 3), np.int64), [1, 1, 1]))
    assert math.isnan(intra_list_diversity([[0], [1]], np.eye(2)))


# against the references ------------------------------------------------------------------

@st.composite
def lists(draw):
    n_items = draw(st.integers(1, 10))
    n_users = draw(st.integers(0, 5))
    width = draw(st.integers(1, 6))
    recs = np.full((n_users, width), -1, dtype=np.int64)
    for u in range(n_users):
        items = draw(st.permutations(range(n_items)))[: draw(st.integers(0, width))]
        recs[u, : len(items)] = items
    k = draw(st.integers(1, width + 2))
    return recs, n_items, k


@FAST
@given(lists(), st.data())
def test_novelty_and_popularity_match_the_references(case, data):
    recs, n_items, k = case
    n_users = data.draw(st.integers(1, 50))
    counts = np.array(data.draw(st.lists(st.integers(0, n_users), min_size=n_items,
                                         max_size=n_items)))
    want = reference_novelty(recs, counts, n_users, k)
    got = novelty(recs, counts, n_users, k=k)
    assert math.isnan(got) if math.isnan(want) else got == pytest.approx(want)
    want = reference_popularity(recs, counts, k)
    got = average_popularity(recs, counts, k=k)
    assert math.isnan(got) if math.isnan(want) else got == pytest.approx(want)


@FAST
@given(lists(), st.data(), st.booleans())
def test_diversity_matches_the_reference(case, data, sparse):
    recs, n_items, k = case
    dim = data.draw(st.integers(1, 4))
    vectors = np.array(data.draw(st.lists(
        st.lists(st.integers(-3, 3).map(float), min_size=dim, max_size=dim),
        min_size=n_items, max_size=n_items)))
    want = np.array(reference_diversity(recs, vectors.tolist(), k), dtype=float)
    got = intra_list_diversity(recs, sp.csr_matrix(vectors) if sparse else vectors, k=k,
                               per_user=True)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_diversity_in_many_chunks_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    vectors = rng.random((40, 5))
    recs = np.array([rng.permutation(40)[:6] for _ in range(700)])
    whole = intra_list_diversity(recs, vectors, per_user=True)
    ones = [intra_list_diversity(recs[u:u + 1], vectors) for u in range(0, 700, 97)]
    np.testing.assert_allclose(whole[::97], ones)


# errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("counts, message", [
    ([[1, 2]], "item_counts must be a 1-D array"),
    ([1, -1, 2], "finite and >= 0"),
    ([1, np.nan, 2], "finite and >= 0"),
    (["a", "b", "c"], "item_counts must be a 1-D array"),
])
def test_bad_item_counts(counts, message):
    with pytest.raises(DataError, match=message):
        average_popularity([[0]], counts)


def test_novelty_needs_the_user_count():
    with pytest.raises(ParameterError, match="n_users must be a positive integer, got 0"):
        novelty([[0]], [1], 0)
    with pytest.raises(DataError, match="more than the 2 users"):
        novelty([[0]], [3], 2)


def test_recommended_items_must_have_counts_and_vectors():
    with pytest.raises(DataError, match="only 2 items"):
        novelty([[2]], [1, 1], 3)
    with pytest.raises(DataError, match="only 2 items"):
        intra_list_diversity([[0, 2]], np.eye(2))


@pytest.mark.parametrize("vectors, message", [
    (np.ones(3), "must be 2-D"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "must be finite"),
    (sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 1.0]])), "must be finite"),
])
def test_bad_item_vectors(vectors, message):
    with pytest.raises(DataError, match=message):
        intra_list_diversity([[0, 1]], vectors)

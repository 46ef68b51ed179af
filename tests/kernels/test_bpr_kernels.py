"""BPR kernels against a Python loop over the same triples, and the sampler's guarantees."""

import numpy as np
import pytest
import scipy.sparse as sp

from latentrec.kernels import bpr as K


def problem(n_users=30, n_items=25, density=0.25, k=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[4] = False
    mask[5] = True  # a user who has every item: no negative exists
    R = sp.csr_matrix(mask.astype(np.float32))
    R.sort_indices()
    P = ((rng.random((n_users, k + 1)) - 0.5) / k).astype(dtype)
    P[:, k] = 1.0
    Q = ((rng.random((n_items, k + 1)) - 0.5) / k).astype(dtype)
    return R.indptr.astype(np.int64), R.indices.astype(np.int32), P, Q


def reference_triples(users, pos, neg, P, Q, lr, reg):
    """The BPR update, one triple at a time, in P's dtype."""
    t = P.dtype.type
    lr, reg = t(lr), t(reg)
    k = P.shape[1] - 1
    correct = 0
    for u, i, j in zip(users, pos, neg):
        if j < 0:
            continue
        x = P[u] @ (Q[i] - Q[j])
        z = t(1) / (t(1) + np.exp(x))
        correct += x > 0
        pu, qi, qj = P[u, :k].copy(), Q[i, :k].copy(), Q[j, :k].copy()
        P[u, :k] += lr * (z * (qi - qj) - reg * pu)
        Q[i, :k] += lr * (z * pu - reg * qi)
        Q[j, :k] += lr * (-z * pu - reg * qj)
        Q[i, k] += lr * (z - reg * Q[i, k])
        Q[j, k] += lr * (-z - reg * Q[j, k])
    return correct


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_matches_python_loop_of_the_same_triples(dtype):
    indptr, indices, P, Q = problem(dtype=dtype)
    order = np.random.default_rng(1).permutation(P.shape[0])
    users, pos, neg = K.sample_triples(indptr, indices, order, seed=3, n_items=Q.shape[0])
    P2, Q2 = P.copy(), Q.copy()
    correct = K.bpr_triples(users, pos, neg, P, Q, 0.1, 0.02)
    ref = reference_triples(users, pos, neg, P2, Q2, 0.1, 0.02)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(P, P2, rtol=tol, atol=tol)
    np.testing.assert_allclose(Q, Q2, rtol=tol, atol=tol)
    assert correct == ref
    assert np.all(P[:, -1] == 1.0)  # the user's bias column never moves


@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
def test_epoch_visits_every_positive_once_with_unseen_negatives(negatives):
    indptr, indices, P, Q = problem()
    order = np.random.default_rng(0).permutation(P.shape[0])
    users, pos, neg = K.sample_triples(indptr, indices, order, seed=1, negatives=negatives,
                                       n_items=Q.shape[0])
    stored = sorted((u, i) for u in range(P.shape[0]) for i in indices[indptr[u]:indptr[u + 1]])
    assert sorted(zip(users, pos)) == stored
    liked = set(stored)
    ok = neg >= 0
    assert not any((u, j) in liked for u, j in zip(users[ok], neg[ok]))
    assert np.all(users[~ok] == 5) and np.sum(~ok) == 25  # user 5 has every item
    if negatives == "uniform":
        assert np.unique(neg[ok]).size == Q.shape[0]


def test_users_come_in_order_in_interleaved_groups():
    n_users = 2 * K.GROUP + 5
    indptr = np.arange(0, 3 * n_users + 1, 3, dtype=np.int64)  # 3 items each
    indices = np.tile(np.array([0, 1, 2], np.int32), n_users)
    order = np.random.default_rng(0).permutation(n_users)
    users, pos, neg = K.sample_triples(indptr, indices, order, seed=0, n_items=50)
    g = K.GROUP
    # the first group's users in turn, three rounds, then the next group
    np.testing.assert_array_equal(users[:3 * g], np.tile(order[:g], 3))
    np.testing.assert_array_equal(users[3 * g:6 * g], np.tile(order[g:2 * g], 3))
    for u in order[:g]:  # each user's three positives, once each
        assert sorted(pos[:3 * g][users[:3 * g] == u]) == [0, 1, 2]
    assert neg.min() >= 3


def test_epoch_on_one_block_equals_its_triples_in_order():
    indptr, indices, P, Q = problem(dtype=np.float32)
    P2, Q2 = P.copy(), Q.copy()
    order = np.random.default_rng(2).permutation(P.shape[0])
    correct, skipped = K.bpr_epoch(indptr, indices, P, Q, 0.05, 0.01, order, [42],
                                   n_threads=1)
    users, pos, neg = K.sample_triples(indptr, indices, order, seed=42, n_items=Q.shape[0])
    assert correct == K.bpr_triples(users, pos, neg, P2, Q2, 0.05, 0.01)
    assert skipped == np.sum(neg < 0) > 0
    np.testing.assert_array_equal(P, P2)
    np.testing.assert_array_equal(Q, Q2)


def test_parallel_epoch_learns_to_rank_positives_first():
    indptr, indices, P, Q = problem(n_users=60, n_items=40, k=8, dtype=np.float32)
    seeds = np.arange(1, 9, dtype=np.uint64)
    rng = np.random.default_rng(0)
    first, _ = K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.01, rng.permutation(60), seeds,
                           n_threads=2)
    for _ in range(40):
        last, _ = K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.01, rng.permutation(60),
                              seeds + 1, n_threads=2)
    assert last > first * 1.2
    assert np.isfinite(P).all() and np.isfinite(Q).all()


def test_fold_in_moves_only_the_user_towards_its_positives():
    indptr, indices, P, Q = problem(n_users=60, n_items=40, k=8, dtype=np.float32)
    for s in range(30):
        K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.01, np.arange(60), np.array([s]))
    Q_before = Q.copy()
    liked = np.array([1, 7, 12, 30])
    x = K.bpr_fold_in(liked, Q, 0.1, 0.01, 2000, seed=0, item_pool=np.arange(40))
    np.testing.assert_array_equal(Q, Q_before)
    assert x[-1] == 1.0
    scores = Q @ x
    others = np.setdiff1d(np.arange(40), liked)
    assert scores[liked].mean() > scores[others].mean()
    again = K.bpr_fold_in(liked, Q, 0.1, 0.01, 2000, seed=0, item_pool=np.arange(40))
    np.testing.assert_array_equal(x, again)


def test_random_negatives_are_in_range_and_even():
    n = 30000
    indptr = np.arange(n + 1, dtype=np.int64)  # every user has item 0 only
    _, _, neg = K.sample_triples(indptr, np.zeros(n, np.int32), np.arange(n), seed=9,
                                 n_items=7)
    counts = np.bincount(neg, minlength=7)
    assert counts[0] == 0 and neg.min() >= 1 and neg.max() <= 6
    assert counts[1:].min() > 0.9 * n / 6


def test_epoch_checks_its_arguments():
    indptr, indices, P, Q = problem()
    with pytest.raises(ValueError, match="negatives must be one of"):
        K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.1, [0], [1], negatives="hard")
    with pytest.raises(ValueError, match="one dtype and width"):
        K.bpr_epoch(indptr, indices, P, Q[:, :3].copy(), 0.1, 0.1, [0], [1])
    with pytest.raises(ValueError, match="seeds must be a non-empty"):
        K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.1, [0], [])
    with pytest.raises(ValueError, match="order must be a 1-D array of user indices"):
        K.bpr_epoch(indptr, indices, P, Q, 0.1, 0.1, [99], [1])

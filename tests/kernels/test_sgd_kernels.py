"""SGD kernels against slow, obvious Python versions of the same updates."""

import numpy as np
import pytest
from numba import njit

from latentrec.kernels import blocks
from latentrec.kernels import sgd as K
from latentrec.kernels.blocks import (
    _balanced_bounds,
    default_n_blocks,
    group_blocks,
    grouped,
    make_block_layout,
)
from latentrec.models._scaled import standardised


def reference_epoch(users, items, values, order, P, Q, bu, bi, mu, lr, reg, reg_bias, biased,
                    gu=None, gi=None):
    """The update rule, one rating at a time, in P's dtype. With accumulators gu and gi
    (rows x 2), the adaptive step (LibMF's schedule): a row's factors step by
    lr / sqrt(g[:, 0]), which then grows by the mean squared gradient of those factors;
    its bias by lr / sqrt(g[:, 1]), which grows by the bias's squared gradient."""
    t = P.dtype.type
    mu, lr, reg, reg_bias = t(mu), t(lr), t(reg), t(reg_bias)
    sse = 0.0
    for j in order:
        u, i = users[j], items[j]
        pred = P[u] @ Q[i] + (mu + bu[u] + bi[i] if biased else 0)
        e = t(values[j]) - pred
        su, si = (lr, lr) if gu is None else (lr / np.sqrt(gu[u, 0]), lr / np.sqrt(gi[i, 0]))
        if biased:
            cu, ci = e - reg_bias * bu[u], e - reg_bias * bi[i]
            bu[u] += (lr if gu is None else lr / np.sqrt(gu[u, 1])) * cu
            bi[i] += (lr if gi is None else lr / np.sqrt(gi[i, 1])) * ci
            if gu is not None:
                gu[u, 1] += cu * cu
                gi[i, 1] += ci * ci
        grad_p, grad_q = e * Q[i] - reg * P[u], e * P[u] - reg * Q[i]
        P[u] += su * grad_p
        Q[i] += si * grad_q
        if gu is not None:
            gu[u, 0] += np.mean(grad_p * grad_p)
            gi[i, 0] += np.mean(grad_q * grad_q)
        sse += float(e) ** 2
    return sse


def problem(n_users=30, n_items=20, n=400, k=6, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    values = (1 + 4 * rng.random(n)).astype(dtype)
    factors = [(rng.random((n_users, k)) * 0.3).astype(dtype),
               (rng.random((n_items, k)) * 0.3).astype(dtype),
               (rng.normal(0, 0.1, n_users)).astype(dtype),
               (rng.normal(0, 0.1, n_items)).astype(dtype)]
    return users, items, values, factors


def copies(factors):
    return [a.copy() for a in factors]


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("biased", [True, False])
def test_serial_matches_reference(dtype, tol, biased):
    users, items, values, factors = problem(dtype=dtype)
    order = np.random.default_rng(1).permutation(len(users))
    got, want = copies(factors), copies(factors)
    for _ in range(3):
        s_got = K.sgd_epoch(users, items, values, order, *got, 3.0, 0.05, 0.02, 0.01, biased)
        s_want = reference_epoch(users, items, values, order, *want, 3.0, 0.05, 0.02, 0.01,
                                 biased)
        assert s_got == pytest.approx(s_want, rel=tol * 10)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=tol)
    if not biased:  # biases neither read nor written
        np.testing.assert_array_equal(got[2], factors[2])
        np.testing.assert_array_equal(got[3], factors[3])


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("biased", [True, False])
def test_adaptive_serial_matches_reference(dtype, tol, biased):
    users, items, values, factors = problem(dtype=dtype)
    order = np.random.default_rng(1).permutation(len(users))
    got = copies(factors) + [np.ones((30, 2), dtype), np.ones((20, 2), dtype)]
    want = copies(got)
    for _ in range(3):
        s_got = K.sgd_epoch(users, items, values, order, *got[:4], 3.0, 0.1, 0.02, 0.01,
                            biased, gu=got[4], gi=got[5])
        s_want = reference_epoch(users, items, values, order, *want[:4], 3.0, 0.1, 0.02,
                                 0.01, biased, gu=want[4], gi=want[5])
        assert s_got == pytest.approx(s_want, rel=tol * 10)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol * 10, atol=tol)
    assert np.all(got[4][np.unique(users), 0] > 1)  # every rated row's steps shrank
    assert np.all(got[4][np.unique(users), 1] > 1) == biased  # biases': only if learnt


def test_adaptive_block_epoch_is_its_serial_epoch_for_any_threads():
    users, items, values, factors = problem(n_users=40, n_items=25, n=2000)
    lay = make_block_layout(users, items, values, 40, 25, n_blocks=4, seed=5)
    order = np.concatenate([np.arange(lay.block_ptr[b], lay.block_ptr[b + 1])
                            for b in K.block_schedule(4, 99).ravel()])
    want = copies(factors) + [np.ones((40, 2), np.float32), np.ones((25, 2), np.float32)]
    K.sgd_epoch(lay.users, lay.items, lay.values, order, *want[:4], 3.0, 0.1, 0.02, 0.02, True,
                gu=want[4], gi=want[5])
    for threads in (1, 2):
        got = copies(factors) + [np.ones((40, 2), np.float32), np.ones((25, 2), np.float32)]
        K.sgd_epoch_blocks(lay, *got[:4], 3.0, 0.1, 0.02, 0.02, True, 99, threads,
                           gu=got[4], gi=got[5])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("gu, gi, match", [
    (np.ones((30, 2), np.float32), None, "give both gu and gi"),
    (np.ones((29, 2), np.float32), np.ones((20, 2), np.float32),
     r"gu must have shape \(30, 2\) and dtype float32"),
    (np.ones(30, np.float32), np.ones((20, 2), np.float32),
     r"gu must have shape \(30, 2\)"),
    (np.ones((30, 2), np.float32), np.ones((20, 2), np.float64),
     r"gi must have shape \(20, 2\) and dtype float32; got float64"),
])
def test_adaptive_accumulators_are_checked(gu, gi, match):
    users, items, values, factors = problem()
    with pytest.raises(ValueError, match=match):
        K.sgd_epoch(users, items, values, np.arange(len(users)), *factors, 3.0, 0.1, 0.02,
                    0.01, True, gu=gu, gi=gi)


def test_serial_is_repeatable_and_follows_the_order():
    users, items, values, factors = problem()
    order = np.random.default_rng(2).permutation(len(users))
    a, b, c = copies(factors), copies(factors), copies(factors)
    K.sgd_epoch(users, items, values, order, *a, 3.0, 0.05, 0.02, 0.02, True)
    K.sgd_epoch(users, items, values, order, *b, 3.0, 0.05, 0.02, 0.02, True)
    K.sgd_epoch(users, items, values, order[::-1].copy(), *c, 3.0, 0.05, 0.02, 0.02, True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_layout_holds_every_rating_once_in_its_block():
    users, items, values, _ = problem(n_users=50, n_items=35, n=3000)
    lay = make_block_layout(users, items, values, 50, 35, n_blocks=4, seed=3)
    g = lay.n_blocks
    assert g == 4 and lay.block_ptr[0] == 0 and lay.block_ptr[-1] == len(users)
    key = lambda u, i, v: sorted(zip(u.tolist(), i.tolist(), v.tolist()))  # noqa: E731
    assert key(lay.users, lay.items, lay.values) == key(users, items, values)
    sizes = np.diff(lay.block_ptr)
    assert sizes.max() < 2 * sizes.mean()  # stripes cut to balanced counts
    for b in range(g * g):
        lo, hi = lay.block_ptr[b], lay.block_ptr[b + 1]
        r, c = divmod(b, g)
        u, i = lay.users[lo:hi], lay.items[lo:hi]
        assert np.all((lay.user_bounds[r] <= u) & (u < lay.user_bounds[r + 1]))
        assert np.all((lay.item_bounds[c] <= i) & (i < lay.item_bounds[c + 1]))
        assert np.all(np.diff(u) >= 0)  # sorted by user (the larger side) in the block
    again = make_block_layout(users, items, values, 50, 35, n_blocks=4, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(lay, again))


def test_layout_sorts_by_items_when_items_outnumber_users():
    users, items, values, _ = problem(n_users=10, n_items=40, n=800)
    lay = make_block_layout(users, items, values, 10, 40, n_blocks=3, seed=0)
    for b in range(9):
        assert np.all(np.diff(lay.items[lay.block_ptr[b]:lay.block_ptr[b + 1]]) >= 0)


@njit
def numbas_fisher_yates(n, seed):
    """The permutation numba's own generator shuffles n places into."""
    np.random.seed(seed)
    p = np.arange(n)
    for k in range(n - 1, 0, -1):
        r = np.random.randint(0, k + 1)
        p[k], p[r] = p[r], p[k]
    return p


def reference_layout(users, items, values, n_users, n_items, g, seed):
    """make_block_layout spelled out: stripes of balanced counts, each block's ratings in
    their given order, shuffled by numba's generator seeded per block, then sorted stably
    by the larger side."""
    ub = _balanced_bounds(np.bincount(users, minlength=n_users), g)
    ib = _balanced_bounds(np.bincount(items, minlength=n_items), g)
    block = (np.searchsorted(ub, users, "right") - 1) * g + np.searchsorted(ib, items, "right") - 1
    seeds = np.random.default_rng(seed).integers(0, 2**32, g * g, dtype=np.int64)
    key = users if n_users >= n_items else items
    order = []
    for b in range(g * g):
        mine = np.flatnonzero(block == b)
        mine = mine[numbas_fisher_yates(len(mine), seeds[b])]
        order.append(mine[np.argsort(key[mine], kind="stable")])
    order = np.concatenate(order)
    return users[order], items[order], values[order], np.bincount(block, minlength=g * g)


@pytest.mark.parametrize(("n_users", "n_items", "g", "dtype"),
                         [(50, 35, 4, np.float32), (10, 40, 3, np.float64), (7, 7, 1, np.float32)])
def test_layout_is_the_reference_layout(n_users, n_items, g, dtype):
    users, items, values, _ = problem(n_users=n_users, n_items=n_items, n=3000, dtype=dtype)
    lay = make_block_layout(users, items, values, n_users, n_items, n_blocks=g, seed=9)
    u, i, v, sizes = reference_layout(users, items, values, n_users, n_items, g, 9)
    np.testing.assert_array_equal(np.diff(lay.block_ptr), sizes)
    for got, want in ((lay.users, u), (lay.items, i), (lay.values, v)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_a_block_past_32_bit_places_is_refused(monkeypatch):
    # the shuffle packs a rating's place in its block into 32 bits
    users, items, values, _ = problem(n_users=20, n_items=20, n=400)
    monkeypatch.setattr(blocks, "MAX_BLOCK", 30)
    lay = group_blocks(users, items, values, 20, 20, n_blocks=2)
    with pytest.raises(ValueError, match=r"a block holds \d+ ratings, more than 30"):
        K.order_blocks(lay, 0)
    monkeypatch.setattr(blocks, "MAX_BLOCK", int(np.diff(lay.block_ptr).max()))
    K.order_blocks(lay, 0)  # the largest block at the limit is fine


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_grouping_is_the_same_in_any_number_of_runs(parts):
    users, items, values, _ = problem(n_users=40, n_items=25, n=2001)
    bounds = [0, 9, 30, 40], [0, 2, 11, 20, 25]
    u, i, v, ptr = grouped(users, items, values, *bounds, parts=parts)
    block = (np.searchsorted(bounds[0], users, "right") - 1) * 4 \
        + np.searchsorted(bounds[1], items, "right") - 1
    order = np.argsort(block, kind="stable")  # each block's ratings in their given order
    for got, want in ((u, users), (i, items), (v, values)):
        np.testing.assert_array_equal(got, want[order])
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(block, minlength=12))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grouping_standardises_as_numpy_does(dtype):
    users, items, values, _ = problem(n_users=30, n_items=20, n=3000, dtype=np.float64)
    mu, sigma = 3.1416, 0.7071
    lay = group_blocks(users, items, values, 30, 20, n_blocks=3,
                       standardise=(mu, sigma, dtype))
    plain = group_blocks(users, items, standardised(values, mu, sigma, dtype), 30, 20,
                         n_blocks=3)
    assert lay.values.dtype == dtype
    for got, want in zip(lay, plain):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("g", [1, 2, 5, 20])
def test_schedule_covers_grid_once_with_independent_rounds(g):
    sched = K.block_schedule(g, 11)
    assert sched.shape == (g, g)
    assert sorted(sched.ravel().tolist()) == list(range(g * g))
    for round_ in sched:
        assert len(set((round_ // g).tolist())) == g  # no shared user stripe
        assert len(set((round_ % g).tolist())) == g  # no shared item stripe
    assert np.array_equal(sched, K.block_schedule(g, 11))
    if g > 2:
        assert not np.array_equal(sched, K.block_schedule(g, 12))


def test_default_grid_fits_a_stripe_of_factors_in_cache_and_ignores_small_thread_counts():
    assert default_n_blocks(943, 1682, 100) == 4  # ML-100K: everything fits; the minimum
    assert default_n_blocks(200_000, 20_000, 100) == 8  # 20,000 x 101 x 4 B = 7.7 MiB
    assert default_n_blocks(20_000, 200_000, 100) == 8  # the smaller side is the minor one
    assert default_n_blocks(200_000, 20_000, 100, itemsize=8) == 16
    assert default_n_blocks(943, 1682, 100, n_threads=1) == default_n_blocks(
        943, 1682, 100, n_threads=2)  # 1 and 2 threads train the same model
    assert default_n_blocks(943, 1682, 100, n_threads=16) == 32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_epoch_is_the_serial_epoch_in_schedule_order(dtype):
    users, items, values, factors = problem(n_users=40, n_items=25, n=2000, dtype=dtype)
    lay = make_block_layout(users, items, values, 40, 25, n_blocks=4, seed=5)
    sched = K.block_schedule(4, 99)
    order = np.concatenate([np.arange(lay.block_ptr[b], lay.block_ptr[b + 1])
                            for b in sched.ravel()])
    assert np.array_equal(np.sort(order), np.arange(len(users)))  # each rating once
    got, want = copies(factors), copies(factors)
    s_got = K.sgd_epoch_blocks(lay, *got, 3.0, 0.05, 0.02, 0.02, True, 99, n_threads=2)
    s_want = K.sgd_epoch(lay.users, lay.items, lay.values, order, *want, 3.0, 0.05, 0.02,
                         0.02, True)
    assert s_got == pytest.approx(s_want, rel=1e-9)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_block_epoch_same_for_every_thread_count_and_seeded():
    users, items, values, factors = problem(n_users=60, n_items=30, n=3000)
    lay = make_block_layout(users, items, values, 60, 30, n_threads=2, seed=1)
    runs = {}
    for threads, seed in [(1, 7), (2, 7), (2, 7), (2, 8)]:
        f = copies(factors)
        for epoch in range(3):
            K.sgd_epoch_blocks(lay, *f, 3.0, 0.05, 0.02, 0.02, True, seed + epoch, threads)
        runs.setdefault((threads, seed), []).append(f)
    base = runs[(2, 7)][0]
    for other in (runs[(2, 7)][1], runs[(1, 7)][0]):
        assert all(np.array_equal(x, y) for x, y in zip(base, other))
    assert not np.array_equal(base[0], runs[(2, 8)][0][0])


def test_run_blocks_is_the_serial_run_of_its_order_for_any_threads():
    """The grid's blocks on one set of factors (as sgd_rounds runs them) and blocks that
    each bring their own arrays (as a cluster worker's do) give the serial epoch's bits."""
    users, items, values, factors = problem(n_users=40, n_items=25, n=2000)
    lay = make_block_layout(users, items, values, 40, 25, n_blocks=4, seed=5)
    sched = K.block_schedule(4, 3).ravel()
    ids = np.arange(16)
    step = (3.0, 0.05, 0.02, 0.01, True)
    want = copies(factors)
    serial = [K.sgd_epoch(lay.users, lay.items, lay.values,
                          np.arange(lay.block_ptr[b], lay.block_ptr[b + 1]), *want, *step)
              for b in sched]
    for threads in (1, 2):
        got = copies(factors)
        blocks = [(lay.users, lay.items, lay.values, lay.block_ptr[b], lay.block_ptr[b + 1],
                   *got) for b in ids]
        sse = K.run_blocks(blocks, step, threads, order=sched, rows=ids // 4, cols=ids % 4)
        assert sse.dtype == np.float64 and sse.shape == (16,)
        np.testing.assert_array_equal(sse[sched], serial)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        rounds_f = copies(factors)
        total = K.sgd_rounds(lay.users, lay.items, lay.values, lay.block_ptr,
                             sched.reshape(4, 4), *rounds_f, *step, threads)
        assert total == float(sse.sum())
        for g, w in zip(rounds_f, want):
            np.testing.assert_array_equal(g, w)
    # independent blocks, each with its own factors: any thread count, the same bits
    own = [copies(factors) for _ in range(3)]
    alone = [copies(factors) for _ in range(3)]
    items_ = [(users, items, values, 100 * k, 100 * k + 500, *own[k]) for k in range(3)]
    sse = K.run_blocks(items_, step, 2)
    for k in range(3):
        one = K.run_blocks([(users, items, values, 100 * k, 100 * k + 500, *alone[k])], step)
        assert one[0] == sse[k]
        assert all(np.array_equal(x, y) for x, y in zip(own[k], alone[k]))
    assert K.run_blocks([], step, 2).shape == (0,)


def low_rank_problem(seed=0, n_users=1500, n_items=400, n=60_000, rank=4):
    """Rank-4 ratings plus noise 0.3; long-tailed items (the most popular has ~4%)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    w = 1.0 / (np.arange(n_items) + 5.0)
    items = rng.permutation(n_items)[rng.choice(n_items, n, p=w / w.sum())].astype(np.int32)
    Pt, Qt = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    values = 3 + np.einsum("ij,ij->i", Pt[users], Qt[items]) + rng.normal(0, 0.3, n)
    return users, items, values.astype(np.float32)


def test_block_rmse_within_half_percent_of_serial():
    users, items, values = low_rank_problem()
    test = np.random.default_rng(1).random(len(users)) < 0.1
    tr = [a[~test] for a in (users, items, values)]
    rng = np.random.default_rng(2)
    start = [rng.normal(0, 0.1, (1500, 16)).astype(np.float32),
             rng.normal(0, 0.1, (400, 16)).astype(np.float32),
             np.zeros(1500, np.float32), np.zeros(400, np.float32)]
    mu = float(tr[2].mean())
    serial, blocks = copies(start), copies(start)
    lay = make_block_layout(*tr, 1500, 400, n_threads=2, seed=0)
    for epoch in range(20):
        order = rng.permutation(len(tr[0]))
        K.sgd_epoch(*tr, order, *serial, mu, 0.02, 0.02, 0.02, True)
        K.sgd_epoch_blocks(lay, *blocks, mu, 0.02, 0.02, 0.02, True, epoch, 2)

    def rmse(f):
        pred = K.predict_pairs(users[test], items[test], *f, mu)
        return float(np.sqrt(np.mean((values[test] - pred) ** 2)))

    assert rmse(serial) < 0.6  # it learnt something (noise 0.3, spread ~1.1)
    assert abs(rmse(blocks) - rmse(serial)) <= 0.005 * rmse(serial)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_pairs_matches_numpy(dtype):
    users, items, _, (P, Q, bu, bi) = problem(n=10_000, dtype=dtype)
    got = K.predict_pairs(users, items, P, Q, bu, bi, 3.0, n_threads=2)
    want = 3.0 + bu[users] + bi[items] + np.einsum("ij,ij->i", P[users], Q[items])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    u = np.array([-1, 2, -1], np.int64)
    i = np.array([3, -1, -1], np.int64)
    np.testing.assert_allclose(K.predict_pairs(u, i, P, Q, bu, bi, 3.0),
                               [3.0 + bi[3], 3.0 + bu[2], 3.0], rtol=1e-6)


def test_thread_count_restored():
    import numba
    before = numba.get_num_threads()
    users, items, _, (P, Q, bu, bi) = problem()
    K.predict_pairs(users, items, P, Q, bu, bi, 0.0, n_threads=1)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("change, match", [
    ({"Q": np.zeros((20, 5), np.float32)}, "same number of columns"),
    ({"P": np.zeros((30, 6))}, "must be float32 or float64 like P"),
    ({"bu": np.zeros(29, np.float32)}, "one entry per row of P and Q"),
    ({"users": np.array([0, 30], np.int32), "items": np.zeros(2, np.int32),
      "values": np.ones(2, np.float32)}, r"users must lie in \[0, 30\).*\[0, 30\]"),
    ({"order": np.array([0, 400])}, "order must index the 400 ratings"),
])
def test_sgd_epoch_rejects_bad_arrays(change, match):
    users, items, values, (P, Q, bu, bi) = problem()
    args = dict(users=users, items=items, values=values, order=np.arange(len(users)), P=P,
                Q=Q, bu=bu, bi=bi, mu=0.0, lr=0.01, reg=0.0, reg_bias=0.0, biased=True)
    args.update(change)
    with pytest.raises(ValueError, match=match):
        K.sgd_epoch(**args)


def test_layout_and_block_epoch_reject_mismatches():
    users, items, values, (P, Q, bu, bi) = problem()
    with pytest.raises(ValueError, match=r"items must lie in \[0, n_items=10\)"):
        make_block_layout(users, items, values, 30, 10)
    with pytest.raises(ValueError, match="n_blocks must be at least 1"):
        make_block_layout(users, items, values, 30, 20, n_blocks=0)
    lay = make_block_layout(users, items, values, 30, 20)
    with pytest.raises(ValueError, match="built for 30 users and 20 items"):
        K.sgd_epoch_blocks(lay, P[:20].copy(), Q, bu[:20].copy(), bi, 0.0, 0.01, 0.0, 0.0,
                           True, 0)

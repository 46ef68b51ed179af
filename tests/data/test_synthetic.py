import importlib

import numpy as np
import pytest

from latentrec import IdMap, Ratings
from latentrec.data.synthetic import SyntheticTruth, synthetic

# The module itself (latentrec.data exports the function under the module's name).
synthetic_module = importlib.import_module("latentrec.data.synthetic")


def pair_keys(r: Ratings) -> np.ndarray:
    return r.users.astype(np.int64) * r.n_items + r.items


@pytest.mark.parametrize("kw", [
    {},
    dict(n_users=1000, n_items=500, n_ratings=250_000),      # the densest allowed
    dict(n_users=300, n_items=50, n_ratings=7000, popularity_skew=3.0),
    dict(n_users=4, n_items=20_000, n_ratings=40_000),        # users rating half the items
    dict(n_users=50, n_items=40, n_ratings=1000, popularity_skew=0.0),
    dict(n_users=2, n_items=1, n_ratings=1),
    dict(n_ratings=0),
])
def test_exact_count_and_no_pair_twice(kw):
    r = synthetic(random_state=0, **kw)
    assert isinstance(r, Ratings)
    assert r.n_ratings == kw.get("n_ratings", 20000)
    keys = pair_keys(r)
    assert np.unique(keys).size == keys.size
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.values.dtype == np.float32
    assert np.all(np.diff(r.users) >= 0), "rows come grouped by user, in user order"


def test_id_maps_cover_every_user_and_item_even_without_ratings():
    r = synthetic(n_users=300, n_items=200, n_ratings=100, random_state=1)
    assert r.user_map == IdMap.range(300) and r.item_map == IdMap.range(200)
    assert np.unique(r.users).size < 300 and np.unique(r.items).size < 200


def test_values_lie_on_the_scale():
    r = synthetic(noise=2.0, random_state=2)
    assert r.values.min() == 1.0 and r.values.max() == 5.0  # wide noise reaches both ends
    r = synthetic(rating_scale=(0, 10), discrete=True, random_state=2)
    assert set(np.unique(r.values)) <= set(range(11))
    assert np.unique(r.values).size >= 5
    r = synthetic(rating_scale=(-1, 1), random_state=2)
    assert -1 <= r.values.min() and r.values.max() <= 1
    assert np.unique(r.values).size > 1000  # continuous


def test_raw_values_without_a_scale():
    r = synthetic(rating_scale=None, noise=3.0, random_state=2)
    assert r.values.min() < -5 and r.values.max() > 5
    assert abs(float(r.values.mean())) < 0.3


def test_popularity_is_long_tailed_and_users_milder():
    r = synthetic(n_users=2000, n_items=1000, n_ratings=50_000, random_state=3)
    per_item = np.bincount(r.items, minlength=r.n_items)
    per_user = np.bincount(r.users, minlength=r.n_users)
    item_ratio = per_item.max() / np.median(per_item)
    user_ratio = per_user.max() / np.median(per_user)
    assert item_ratio > 20
    assert 3 < user_ratio < item_ratio
    # the most popular items are not simply the lowest ids
    assert per_item.argmax() != 0 or per_item[1] < per_item[0] / 2


def test_no_skew_is_close_to_uniform():
    r = synthetic(n_users=2000, n_items=1000, n_ratings=50_000, popularity_skew=0,
                  random_state=3)
    per_item = np.bincount(r.items, minlength=r.n_items)
    assert per_item.max() / np.median(per_item) < 2.0


def test_same_seed_same_data_other_seed_other_data():
    kw = dict(n_users=400, n_items=300, n_ratings=10_000, timestamps=True)
    a = synthetic(random_state=7, **kw)
    assert a.equals(synthetic(random_state=7, **kw))
    assert a.equals(synthetic(random_state=np.random.default_rng(7), **kw))
    assert not a.equals(synthetic(random_state=8, **kw))


def test_truth_explains_continuous_unclipped_data():
    r, truth = synthetic(n_users=1500, n_items=800, n_ratings=60_000, noise=0.5,
                         rating_scale=None, random_state=4, return_truth=True)
    resid = r.values - truth.expected(r.users, r.items)
    assert np.sqrt(np.mean(resid ** 2)) == pytest.approx(0.5, rel=0.02)
    assert abs(resid.mean()) < 0.01
    # the signal is real: the truth explains most of the variance
    assert np.var(resid) < 0.5 * np.var(r.values)


def test_noise_free_data_is_the_truth():
    r, truth = synthetic(noise=0.0, rating_scale=None, random_state=5, return_truth=True)
    np.testing.assert_allclose(r.values, truth.expected(r.users, r.items), atol=1e-5)


def test_truth_shapes_and_clipped_expectations():
    r, truth = synthetic(n_users=120, n_items=80, n_ratings=2000, rank=4, random_state=6,
                         return_truth=True)
    assert isinstance(truth, SyntheticTruth)
    assert truth.user_factors.shape == (120, 4) and truth.item_factors.shape == (80, 4)
    assert truth.user_bias.shape == (120,) and truth.item_bias.shape == (80,)
    assert truth.rank == 4 and truth.rating_scale == (1.0, 5.0)
    assert truth.global_mean == pytest.approx(3.4)
    assert truth.item_popularity.sum() == pytest.approx(1.0)
    assert truth.user_activity.sum() == pytest.approx(1.0)
    e = truth.expected(r.users, r.items, clip=True)
    assert e.min() >= 1 and e.max() <= 5
    assert truth.expected(3, 5).shape == ()
    with pytest.raises(ValueError):
        truth.user_factors[0, 0] = 1.0
    # the clipped truth tracks the data: correlation well above chance
    assert np.corrcoef(e, r.values)[0, 1] > 0.6


def test_rank_zero_is_biases_only():
    r, truth = synthetic(rank=0, noise=0.0, rating_scale=None, random_state=1,
                         return_truth=True)
    np.testing.assert_allclose(
        r.values, truth.global_mean + truth.user_bias[r.users] + truth.item_bias[r.items],
        atol=1e-5)


def test_timestamps_when_asked():
    assert synthetic(random_state=0).timestamps is None
    r = synthetic(timestamps=True, random_state=0)
    ts = r.timestamps
    assert ts.dtype == np.int64
    assert ts.min() >= 1_262_304_000 and ts.max() < 1_577_836_800  # 2010 .. 2019
    # each user is active for a while, not over the whole decade
    spans = [np.ptp(ts[r.users == u]) for u in range(50) if (r.users == u).sum() > 5]
    assert np.median(spans) < 3 * 365 * 86_400


@pytest.mark.parametrize("es_factor, max_rounds, max_draws, skew", [
    (0.5, 25, 1 << 23, 1.5),   # as shipped
    (0.0, 25, 1 << 23, 1.5),   # everyone exact (Gumbel top-k)
    (1e9, 25, 1 << 23, 1.5),   # everyone by rejection
    (1e9, 1, 1 << 23, 1.5),    # rejection, stragglers finished exactly
    (1e9, 25, 5000, 1.5),      # rejection in many small batches
    (1e9, 25, 1 << 23, 1.0), (1e9, 25, 1 << 23, 0.0), (1e9, 25, 1 << 23, 0.7),
])
def test_both_samplers_draw_weighted_without_replacement(monkeypatch, es_factor, max_rounds,
                                                         max_draws, skew):
    """Exact (Gumbel top-k), rejection and the straggler fallback all give successive
    sampling: P(i chosen among 2) = p_i + sum_j p_j p_i / (1 - p_j)."""
    monkeypatch.setattr(synthetic_module, "_ES_FACTOR", es_factor)
    monkeypatch.setattr(synthetic_module, "_MAX_ROUNDS", max_rounds)
    monkeypatch.setattr(synthetic_module, "_MAX_DRAWS", max_draws)
    sampler = synthetic_module._ItemSampler(np.random.default_rng(0), skew,
                                            np.array([3, 0, 5, 1, 2, 4], dtype=np.int32))
    p = sampler.popularity
    assert p.sum() == pytest.approx(1.0)
    if skew:
        assert p[3] > p[0] > p[5] > p[1] > p[2] > p[4]
    want = np.array([p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(6) if j != i)
                     for i in range(6)])
    n = 100_000
    picks = sampler.sample_chunk(np.full(n, 2)).reshape(n, 2)
    assert np.all(picks[:, 0] != picks[:, 1])
    got = np.bincount(picks.ravel(), minlength=6) / n
    assert np.all(np.abs(got - want) < 5 * np.sqrt(want * (1 - want) / n))
    first = np.bincount(picks[:, 0], minlength=6) / n
    assert np.all(np.abs(first - p) < 5 * np.sqrt(p * (1 - p) / n))


@pytest.mark.parametrize("kw, match", [
    (dict(n_users=0), r"n_users must be an int in \[1, 2147483647\], got 0"),
    (dict(n_items=2.5), r"n_items must be an int in \[1, 2147483647\], got 2.5"),
    (dict(n_ratings=-1), "n_ratings must be an int >= 0, got -1"),
    (dict(rank=-2), "rank must be an int >= 0, got -2"),
    (dict(noise=-0.1), "noise must be a finite number >= 0, got -0.1"),
    (dict(noise=float("inf")), "noise must be a finite number >= 0, got inf"),
    (dict(popularity_skew=-1), "popularity_skew must be a finite number >= 0, got -1"),
    (dict(rating_scale=(5, 1)), r"rating_scale must be None or \(low, high\) with finite "
                                r"low < high, got \(5, 1\)"),
    (dict(rating_scale=5), r"rating_scale must be None or \(low, high\).*got 5"),
    (dict(rating_scale=(0.5, 5), discrete=True),
     r"rating_scale must have whole-number ends when discrete=True, got \(0.5, 5\)"),
    (dict(discrete="yes"), "discrete must be True or False, got 'yes'"),
    (dict(timestamps=1), "timestamps must be True or False, got 1"),
    (dict(n_users=10, n_items=10, n_ratings=51),
     r"n_ratings must be at most half of n_users \* n_items \(50 for 10 x 10\), got 51"),
    (dict(random_state="x"), "random_state must be None, a non-negative int"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        synthetic(**kw)


@pytest.mark.slow
def test_ten_million_ratings():
    r = synthetic(100_000, 20_000, 10_000_000, random_state=0, timestamps=True)
    assert r.n_ratings == 10_000_000
    keys = np.sort(pair_keys(r))
    assert np.all(keys[1:] != keys[:-1])

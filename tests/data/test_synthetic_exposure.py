"""The missing-not-at-random exposure model of ``synthetic(exposure=(a, b))``."""

import hashlib
import importlib

import numpy as np
import pytest

from latentrec.data.synthetic import synthetic

# The module itself (latentrec.data exports the function under the module's name).
synthetic_module = importlib.import_module("latentrec.data.synthetic")

SCALES = [(1, 5), (1, 100), None]
SMALL = dict(n_users=1000, n_items=400, n_ratings=20_000)


def digest(r) -> str:
    h = hashlib.sha256()
    for a in (r.users, r.items, r.values, r.timestamps):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def rated_mask(r) -> np.ndarray:
    m = np.zeros((r.n_users, r.n_items), dtype=bool)
    m[r.users, r.items] = True
    return m


def all_preferences(truth) -> np.ndarray:
    n_users, n_items = truth.user_bias.shape[0], truth.item_bias.shape[0]
    return truth.preference(np.arange(n_users)[:, None], np.arange(n_items)[None, :])


def preference_gap(exposure, seed=0, **kw):
    """Mean true preference of rated pairs minus that of unrated pairs."""
    r, truth = synthetic(**{**SMALL, **kw}, exposure=exposure, random_state=seed,
                         return_truth=True)
    pref, rated = all_preferences(truth), rated_mask(r)
    return pref[rated].mean() - pref[~rated].mean()


def top_share(r, truth, fraction=0.05) -> float:
    """Share of the ratings that fall on the most popular ``fraction`` of items."""
    top = np.argsort(-truth.item_popularity)[:max(1, int(fraction * r.n_items))]
    return float(np.isin(r.items, top).mean())


# -- the default path ------------------------------------------------------------------------

@pytest.mark.parametrize("kw, want", [
    # light users: the rejection sampler
    (dict(n_users=300, n_items=200, n_ratings=6000, timestamps=True, random_state=11),
     "4be20bb482ae4b06405bbaecffe1dbe5510410c30f520df0ebc10b9e057d2d84"),
    # heavy users: the exact (Gumbel top-k) sampler
    (dict(n_users=4, n_items=3000, n_ratings=6000, rating_scale=(1, 100), discrete=True,
          random_state=12),
     "8b4413dd7c5dc09a01e2f773c4925e739e3e222a13d2b1767a0376060f614220"),
])
def test_default_path_is_bit_for_bit_unchanged(kw, want):
    """Digests taken from the generator before exposure existed."""
    assert digest(synthetic(**kw)) == want
    assert digest(synthetic(**kw, exposure=None)) == want


# -- what the exposure model keeps -----------------------------------------------------------

def test_same_seed_same_data_other_seed_other_data():
    kw = dict(**SMALL, exposure=(1, 1), timestamps=True)
    a = synthetic(random_state=7, **kw)
    assert a.equals(synthetic(random_state=7, **kw))
    assert a.equals(synthetic(random_state=np.random.default_rng(7), **kw))
    assert not a.equals(synthetic(random_state=8, **kw))


def test_truth_and_counts_per_user_are_those_of_the_activity_model():
    """The same seed gives the same truth and the same ratings per user, with or without
    exposure: only which items each user rates changes."""
    r0, t0 = synthetic(**SMALL, random_state=3, return_truth=True)
    per_user = np.bincount(r0.users, minlength=r0.n_users)
    assert np.corrcoef(per_user, t0.user_activity)[0, 1] > 0.9
    for exposure in [(1, 1), (2.5, -1), (0, 3)]:
        r, t = synthetic(**SMALL, exposure=exposure, random_state=3, return_truth=True)
        np.testing.assert_array_equal(np.bincount(r.users, minlength=r.n_users), per_user)
        np.testing.assert_array_equal(r.users, r0.users)
        for name in ("user_bias", "item_bias", "user_factors", "item_factors",
                     "user_activity", "item_popularity"):
            np.testing.assert_array_equal(getattr(t, name), getattr(t0, name), err_msg=name)
        assert t.exposure == tuple(float(x) for x in exposure)
        assert not np.array_equal(r.items, r0.items)
    assert t0.exposure is None


@pytest.mark.parametrize("kw", [
    dict(n_users=1000, n_items=500, n_ratings=250_000),      # the densest allowed
    dict(n_users=4, n_items=20_000, n_ratings=40_000),        # users rating half the items
    dict(n_users=2, n_items=1, n_ratings=1),                  # a user rating every item
    dict(n_users=300, n_items=50, n_ratings=7000, popularity_skew=3.0, exposure=(2, 5)),
    dict(n_users=50, n_items=40, n_ratings=1000, popularity_skew=0.0, exposure=(0, -2)),
    dict(rank=0, exposure=(1, 40)),
    dict(n_ratings=0),
])
def test_exact_count_and_no_pair_twice(kw):
    kw = {"exposure": (1, 1), **kw}
    r = synthetic(random_state=0, **kw)
    assert r.n_ratings == kw.get("n_ratings", 20000)
    keys = r.users.astype(np.int64) * r.n_items + r.items
    assert np.unique(keys).size == keys.size
    assert r.items.dtype == np.int32 and r.items.min(initial=0) >= 0
    assert r.items.max(initial=0) < r.n_items
    assert np.all(np.diff(r.users) >= 0), "rows come grouped by user, in user order"


@pytest.mark.parametrize("scale", SCALES)
def test_the_truth_still_describes_the_values(scale):
    r, truth = synthetic(**SMALL, exposure=(1, 1), noise=0.0, rating_scale=scale,
                         random_state=5, return_truth=True)
    np.testing.assert_allclose(r.values, truth.expected(r.users, r.items, clip=True),
                               rtol=1e-5, atol=1e-5 * truth.unit)


# -- what the exposure model changes ---------------------------------------------------------

@pytest.mark.parametrize("scale", SCALES)
def test_users_rate_what_they_like_when_b_is_positive(scale):
    # b = 1 tilts each user's pick towards preference: the within-user variance of the
    # item terms is 0.4^2 + 0.6^2 = 0.52, so rated pairs sit about half a unit higher
    assert preference_gap((1, 1), rating_scale=scale) > 0.3
    assert preference_gap((1, 2), rating_scale=scale) > preference_gap((1, 1),
                                                                        rating_scale=scale)
    assert abs(preference_gap((1, 0), rating_scale=scale)) < 0.1
    assert abs(preference_gap((0, 0), rating_scale=scale)) < 0.1
    assert preference_gap((1, -1), rating_scale=scale) < -0.3


def test_each_chunk_of_users_uses_its_own_preferences(monkeypatch):
    """Many user chunks: each user's picks still follow that user's own p_u . q_i."""
    monkeypatch.setattr(synthetic_module, "_CHUNK_RATINGS", 1500)
    r, truth = synthetic(**SMALL, exposure=(0, 1), random_state=2, return_truth=True)
    inter = (truth.user_factors.astype(np.float64) @ truth.item_factors.T) / truth.unit
    rated = rated_mask(r)
    # the interaction's variance is 0.6^2 = 0.36: the gap is about that with b = 1
    assert inter[rated].mean() - inter[~rated].mean() > 0.25


def test_exposure_is_scale_free():
    """The truth is the same in units at every scale, so the same seed picks the same
    items (up to float32 rounding of the truth at 1-100)."""
    kw = dict(**SMALL, exposure=(1, 1), random_state=4)
    items = {scale: synthetic(**kw, rating_scale=scale).items for scale in SCALES}
    np.testing.assert_array_equal(items[(1, 5)], items[None])  # both have unit 1.0
    assert np.mean(items[(1, 5)] == items[(1, 100)]) > 0.999


@pytest.mark.parametrize("b", [0, 1])
def test_popularity_concentrates_as_a_grows(b):
    shares = []
    for a in (0, 0.5, 1, 2):
        r, truth = synthetic(**SMALL, exposure=(a, b), random_state=6, return_truth=True)
        shares.append(top_share(r, truth))
    assert abs(shares[0] - 0.05) < 0.01          # a = 0: the top 5% get about 5%
    assert np.all(np.diff(shares) > 0.05), shares
    # a = 1, b = 0 is today's popularity model in distribution
    r, truth = synthetic(**SMALL, random_state=6, return_truth=True)
    if b == 0:
        assert shares[2] == pytest.approx(top_share(r, truth), abs=0.02)


def test_true_top_ten_is_rated_more_often_and_is_the_expected_order():
    hit = {}
    for b in (0, 1):
        r, truth = synthetic(**SMALL, exposure=(1, b), random_state=1, return_truth=True)
        pref, rated = all_preferences(truth), rated_mask(r)
        users = np.arange(r.n_users)[:, None]
        expected = truth.expected(users, np.arange(r.n_items)[None, :])
        # SyntheticTruth.expected gives the true preference order of every user's items
        np.testing.assert_allclose(expected, truth.global_mean + truth.unit * pref)
        top = np.argsort(-expected, axis=1, kind="stable")[:, :10]
        hit[b] = np.take_along_axis(rated, top, axis=1).mean()
        # a user's true top ten among the items they did not rate
        unrated_top = np.argsort(-np.where(rated, -np.inf, expected), axis=1)[:, :10]
        assert not np.take_along_axis(rated, unrated_top, axis=1).any()
    assert hit[1] > 2 * hit[0]


def test_the_sampler_is_successive_sampling_by_the_exposure_weights():
    """Biases only (rank 0), so every user has the same weights w_i = pop_i^a exp(b pref_i):
    P(i among 2 picks) = p_i + sum_j p_j p_i / (1 - p_j), with p = w / sum(w)."""
    rng = np.random.default_rng(0)
    truth, _ = synthetic_module._draw_truth(rng, 10, 6, 0, 0.5, 1.5, (1, 5), False)
    a, b = 0.7, 1.3
    w = truth.item_popularity ** a * np.exp(b * truth.item_bias / truth.unit)
    p = w / w.sum()
    sampler = synthetic_module._ExposureSampler(rng, truth, a, b)
    n = 100_000
    picks = sampler.sample_chunk(np.full(n, 2)).reshape(n, 2)
    assert np.all(picks[:, 0] != picks[:, 1])
    want = np.array([p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(6) if j != i)
                     for i in range(6)])
    got = np.bincount(picks.ravel(), minlength=6) / n
    assert np.all(np.abs(got - want) < 5 * np.sqrt(want * (1 - want) / n))
    first = np.bincount(picks[:, 0], minlength=6) / n
    assert np.all(np.abs(first - p) < 5 * np.sqrt(p * (1 - p) / n))


# -- arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("exposure, match", [
    (1.0, r"exposure must be None or \(a, b\), two numbers, got 1.0"),
    ((1,), r"exposure must be None or \(a, b\), two numbers, got \(1,\)"),
    ((1, 1, 1), r"exposure must be None or \(a, b\), two numbers, got \(1, 1, 1\)"),
    (("1", 1), r"exposure must be None or \(a, b\), two numbers, got \('1', 1\)"),
    ((True, 1), r"exposure must be None or \(a, b\), two numbers, got \(True, 1\)"),
    ((-0.5, 1), r"exposure's popularity exponent a must be a finite number >= 0, got -0.5 "
                r"in exposure=\(-0.5, 1\)"),
    ((float("nan"), 1), r"exposure's popularity exponent a must be a finite number >= 0, "
                        r"got nan in exposure=\(nan, 1\)"),
    ((1, float("inf")), r"exposure's preference coefficient b must be a finite number, "
                        r"got inf in exposure=\(1, inf\)"),
])
def test_bad_exposure_is_named(exposure, match):
    with pytest.raises(ValueError, match=match):
        synthetic(exposure=exposure)


def test_exposure_may_be_a_list_and_is_stored_as_floats():
    _, truth = synthetic(**SMALL, exposure=[2, -1], random_state=0, return_truth=True)
    assert truth.exposure == (2.0, -1.0)
    assert "exposure=(2.0, -1.0)" in repr(truth)

"""kernels/mt19937.py draws what numba's np.random.seed / np.random.randint draw."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit

from latentrec.kernels.mt19937 import mt_randint, mt_seeded, mt_shuffle, mt_swap_draws


@njit
def numbas_own(seed, ks):
    np.random.seed(seed)
    out = np.empty(ks.size, np.int64)
    for j in range(ks.size):
        out[j] = np.random.randint(0, ks[j] + 1)
    return out


@njit
def held_in_an_array(seed, ks):
    state = mt_seeded(seed)
    out = np.empty(ks.size, np.int64)
    for j in range(ks.size):
        out[j] = mt_randint(state, ks[j])
    return out


@settings(max_examples=60, deadline=None)
@example(seed=0, ks=[1, 2**32 - 2, 2**32 - 1, 2**32, 2**32 + 1, 2**33 - 1, 2**33], repeat=100)
@given(seed=st.integers(0, 2**32 - 1),
       ks=st.lists(st.one_of(st.integers(1, 40), st.integers(1, 2**31), st.integers(1, 2**45)),
                   min_size=1, max_size=50),
       repeat=st.integers(1, 40))
def test_the_draws_are_numbas_draw_for_draw(seed, ks, repeat):
    # repeated past 624 words, so the twist runs more than once
    ks = np.array(ks * repeat, dtype=np.int64)
    np.testing.assert_array_equal(held_in_an_array(seed, ks), numbas_own(seed, ks))


def test_a_fisher_yates_run_is_numbas():
    ks = np.arange(100_000, 0, -1, dtype=np.int64)  # a shuffle of 100,001 positions
    np.testing.assert_array_equal(held_in_an_array(7, ks), numbas_own(7, ks))


def test_the_draws_stay_in_range_and_cover_it():
    ks = np.full(20_000, 5, dtype=np.int64)
    counts = np.bincount(held_in_an_array(3, ks), minlength=6)
    assert counts.size == 6 and counts.min() > 3000  # 0..5, each about 3,333 times


@njit
def fisher_yates_draws(n, seed):
    """The draws of a shuffle of n places, as the plain loop over mt_randint makes them."""
    state = mt_seeded(seed)
    out = np.zeros(max(n, 1), np.uint32)
    for k in range(n - 1, 0, -1):
        out[k] = mt_randint(state, k)
    return out


@settings(max_examples=80, deadline=None)
@example(n=625, seed=0)
@example(n=2**16 + 1, seed=3)  # the mask shrinks across many powers of two
@given(n=st.integers(0, 5000), seed=st.integers(0, 2**32 - 1))
def test_swap_draws_are_the_loops_draws(n, seed):
    out = np.zeros(max(n, 1), np.uint32)
    mt_swap_draws(n, seed, out)
    np.testing.assert_array_equal(out, fisher_yates_draws(n, seed))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 100, 20_001])
def test_shuffle_is_numbas_fisher_yates(n):
    tagged = np.arange(n, dtype=np.uint64) << np.uint64(32) | np.uint64(7)
    shuffled = tagged.copy()
    mt_shuffle(shuffled, 11)
    expect = np.arange(n)
    for k, r in zip(range(n - 1, 0, -1), fisher_yates_draws(n, 11)[n - 1:0:-1]):
        expect[k], expect[r] = expect[r], expect[k]
    np.testing.assert_array_equal(shuffled, tagged[expect])

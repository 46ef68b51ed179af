"""kernels/moments.py: exact sums against Python's exact rational arithmetic."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import moments
from latentrec.kernels.moments import exact_sums, moment_bins

float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(float32s, max_size=60), st.integers(1, 5), st.randoms(use_true_random=False))
def test_sums_are_exact_and_bins_of_parts_add_up(values, n_parts, rnd):
    v = np.array(values, dtype=np.float32)
    s, q = exact_sums(moment_bins(v))
    exact = [Fraction(float(x)) for x in v]
    assert Fraction(s, 2**149) == sum(exact)
    assert Fraction(q, 2**298) == sum(x * x for x in exact)
    shuffled = v.copy()
    rnd.shuffle(shuffled)
    parts = np.array_split(shuffled, n_parts)
    assert np.array_equal(sum(moment_bins(p) for p in parts), moment_bins(v))


def test_values_are_read_as_float32():
    v = np.array([0.1, 2.5, -3.0])
    np.testing.assert_array_equal(moment_bins(v), moment_bins(v.astype(np.float32)))
    assert moment_bins(np.zeros(0)).shape == (3, 256) and not moment_bins(np.zeros(0)).any()


def test_the_bins_summed_in_halves_at_once_are_the_bins(monkeypatch):
    v = np.random.default_rng(4).normal(3, 1, 10_001).astype(np.float32)
    whole = moment_bins(v)
    monkeypatch.setattr(moments, "_PARALLEL_FROM", 10)  # this size now goes in two halves
    np.testing.assert_array_equal(moment_bins(v), whole)
    one_at_a_time = sum(moment_bins(v[j:j + 1]) for j in range(11))
    np.testing.assert_array_equal(moment_bins(v[:11]), one_at_a_time)

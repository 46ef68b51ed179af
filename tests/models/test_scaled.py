"""The standardisation every rating model trains on: exact, so order never matters."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentrec.models._scaled import standardisation

ratings = arrays(np.float32, st.integers(1, 300),
                 elements=st.floats(-1e6, 1e6, allow_nan=False, width=32))


@settings(max_examples=60, deadline=None)
@given(values=ratings, biased=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_matches_float64_moments_and_ignores_the_order(values, biased, seed):
    mu, sigma = standardisation(values, biased)
    v = values.astype(np.float64)
    want_mu = v.mean() if biased else 0.0
    want_sigma = np.sqrt(np.mean((v - want_mu) ** 2))
    assert mu == np.float64(want_mu) or abs(mu - want_mu) <= 1e-9 * np.abs(v).max()
    if want_sigma > 1e-3 * max(1.0, np.abs(v).max()):
        assert abs(sigma - want_sigma) <= 1e-9 * want_sigma
    shuffled = np.random.default_rng(seed).permutation(values)
    assert standardisation(shuffled, biased) == (mu, sigma)  # bit for bit, any order


def test_known_values_and_a_constant_column():
    assert standardisation(np.array([1, 2, 3, 4], np.float32), True) == (2.5, np.sqrt(1.25))
    assert standardisation(np.array([3, 4], np.float32), False) == (0.0, np.sqrt(12.5))
    assert standardisation(np.full(5, 4.0, np.float32), True) == (4.0, 1.0)  # no spread

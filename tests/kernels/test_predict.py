"""kernels/predict.py: the RMSE every validation error can share (predict_pairs itself is
tested in test_sgd_kernels.py, through the name kernels.sgd re-exports)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import predict as K
from latentrec.kernels import sgd


def test_one_prediction_kernel():
    assert sgd.predict_pairs is K.predict_pairs


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(0, 2**32 - 1), st.floats(-3, 3), st.floats(0.1, 4))
def test_rmse_is_the_validation_arithmetic_bit_for_bit(n, seed, mu, sigma):
    """What models/_scaled.scaled_rmse and BPMF's validation computed by hand."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 6, n).astype(np.float32)
    pred = rng.normal(size=n).astype(np.float32)  # standardised, in the factors' dtype
    got = K.rmse(values, mu + sigma * pred.astype(np.float64))
    err = values - (mu + sigma * pred.astype(np.float64))
    if n == 0:
        assert math.isnan(got)
        return
    assert got == float(np.sqrt(np.mean(err * err)))  # scaled_rmse
    assert got == float(np.sqrt(np.mean(err ** 2)))  # bayes.py
    exact = math.sqrt(math.fsum(float(e) ** 2 for e in err) / n)
    assert math.isclose(got, exact, rel_tol=1e-12)


def test_rmse_passes_nan_through_and_takes_lists():
    assert math.isnan(K.rmse([1.0, 2.0], [1.0, np.nan]))
    assert K.rmse([1, 2, 3], [1, 2, 5]) == math.sqrt(4 / 3)

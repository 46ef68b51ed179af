"""The default SGD model, untouched, never does worse than the bias baseline."""

import numpy as np
import pytest

from latentrec import BiasBaseline, Ratings, SGDMatrixFactorization, datasets
from latentrec.data import DuplicateRatingsWarning, holdout, synthetic


def held_out_rmse(model, train, test):
    model.fit(train)
    pred = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    return float(np.sqrt(np.mean((pred - test.values) ** 2)))


def test_default_beats_bias_baseline_on_ml100k():
    train, test = holdout(datasets.load("ml-100k").ratings, 0.2, random_state=0)
    sgd = held_out_rmse(SGDMatrixFactorization(random_state=0), train, test)
    bias = held_out_rmse(BiasBaseline(), train, test)
    assert sgd < bias - 0.02, (sgd, bias)


@pytest.mark.parametrize("scale, discrete", [((1, 5), True), ((0.5, 4), False),
                                             ((-10, 10), True), ((1, 100), True)])
def test_default_beats_bias_baseline_on_known_rank_data_at_any_scale(scale, discrete):
    r = synthetic(800, 400, 40_000, rank=5, noise=0.1 * (scale[1] - scale[0]),
                  rating_scale=scale, discrete=discrete, random_state=3)
    train, test = holdout(r, 0.2, random_state=0)
    sgd = held_out_rmse(SGDMatrixFactorization(random_state=0), train, test)
    bias = held_out_rmse(BiasBaseline(), train, test)
    assert sgd < bias, (scale, sgd, bias)


def test_default_is_no_worse_than_bias_baseline_on_pure_noise():
    """Ratings with no user-item structure: nothing to learn beyond the biases."""
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 300, 20_000), rng.integers(0, 200, 20_000)
    with pytest.warns(DuplicateRatingsWarning, match="resolved by duplicates='last'"):
        r = Ratings.from_arrays(u, i, rng.integers(1, 6, 20_000), duplicates="last")
    train, test = holdout(r, 0.2, random_state=0)
    sgd = held_out_rmse(SGDMatrixFactorization(random_state=0), train, test)
    bias = held_out_rmse(BiasBaseline(), train, test)
    assert sgd <= bias * 1.01, (sgd, bias)

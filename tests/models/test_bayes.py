import numpy as np
import pytest

from latentrec import BiasBaseline
from latentrec.data import holdout, synthetic
from latentrec.models.bayes import BayesianMatrixFactorization


@pytest.fixture(scope="module")
def data():
    r = synthetic(300, 200, 12000, rank=4, noise=0.3, rating_scale=None, random_state=1)
    return holdout(r, 0.2, random_state=0)


def rmse(model, test):
    pred = model.predict(test.user_map.to_ids(test.users), test.item_map.to_ids(test.items))
    return float(np.sqrt(np.mean((pred - test.values) ** 2)))


def test_bpmf_beats_the_bias_baseline_and_reports_history(data):
    train, test = data
    m = BayesianMatrixFactorization(n_factors=4, n_samples=40, burn_in=10, keep=10,
                                    random_state=0).fit(train, validation=test)
    assert rmse(m, test) < 0.8 * rmse(BiasBaseline().fit(train), test)
    assert len(m.history_) == 50
    assert m.user_factors_.shape == (train.n_users, 4 * 10)
    assert [h["stage"] for h in m.history_[:10]] == ["burn-in"] * 10
    vals = [h["val_rmse"] for h in m.history_[10:]]
    assert vals[-1] == pytest.approx(rmse(m, test), rel=0.02)


def test_bpmf_is_reproducible_for_a_seed(data):
    train, _ = data
    kw = dict(n_factors=3, n_samples=5, burn_in=2, keep=3, random_state=5)
    a = BayesianMatrixFactorization(**kw).fit(train)
    b = BayesianMatrixFactorization(**kw, n_threads=1).fit(train)
    np.testing.assert_allclose(a.user_factors_, b.user_factors_, rtol=1e-12)


@pytest.mark.parametrize("param, value, message", [
    ("n_samples", 0, r"n_samples must be an integer in \[1, inf\), got 0"),
    ("alpha", -1.0, r"alpha must be a number in \(0, inf\) or None, got -1.0"),
    ("keep", 0, "keep must be an integer"),
])
def test_bad_parameters(data, param, value, message):
    with pytest.raises(ValueError, match=message):
        BayesianMatrixFactorization(**{param: value}).fit(data[0])

"""Frozen numbers: every model, fitted on one small fixed problem, gives exactly the arrays
and predictions stored in ``frozen_numbers.npz``.

A refactoring must keep these bit for bit. A change that is meant to move a model's
numbers rewrites the file on purpose (``python tests/test_frozen.py --write``) and says
which change moved them and why that is right.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import latentrec as lr
from latentrec.data.synthetic import synthetic

STORE = Path(__file__).with_name("frozen_numbers.npz")

# (case name, model factory). One thread everywhere: results are bit-for-bit repeatable
# for a seed and a thread count. The rating models' lists and similar items are frozen by
# their rating part (ranking_factors=0): the interaction part they rank by otherwise came
# later and has tests of its own (tests/models/test_ranking.py).
NO_INTERACTIONS = {"ranking_factors": 0}
CASES = {
    "sgd_blocks": lambda: lr.SGDMatrixFactorization(n_factors=8, n_epochs=12, n_threads=1,
                                                    random_state=0, **NO_INTERACTIONS),
    "sgd_auto": lambda: lr.SGDMatrixFactorization(n_factors=8, max_epochs=25, patience=3,
                                                  n_threads=1, random_state=1, **NO_INTERACTIONS),
    "sgd_dsgd": lambda: lr.SGDMatrixFactorization(n_factors=8, n_epochs=6, schedule="dsgd",
                                                  n_blocks=4, n_threads=1, random_state=2,
                                                  learning_rate_schedule="constant",
                                                  **NO_INTERACTIONS),
    "sgd_dsgd_adaptive": lambda: lr.SGDMatrixFactorization(
        n_factors=8, n_epochs=6, schedule="dsgd", n_blocks=4, n_threads=1, random_state=2,
        **NO_INTERACTIONS),
    "sgd_serial": lambda: lr.SGDMatrixFactorization(n_factors=6, n_epochs=5, shuffle=False,
                                                    biased=False, random_state=3,
                                                    **NO_INTERACTIONS),
    "als": lambda: lr.ALSMatrixFactorization(n_factors=8, n_epochs=5, n_threads=1,
                                             random_state=0, **NO_INTERACTIONS),
    "bpmf": lambda: lr.BayesianMatrixFactorization(n_factors=5, n_samples=30, burn_in=5,
                                                   keep=10, n_threads=1, random_state=0,
                                                   **NO_INTERACTIONS),
    "implicit_als": lambda: lr.ImplicitALS(n_factors=8, n_epochs=4, n_threads=1,
                                           random_state=0),
    "bpr": lambda: lr.BPR(n_factors=8, n_epochs=5, n_threads=1, random_state=0),
    "global_mean": lambda: lr.GlobalMean(),
    "bias_baseline": lambda: lr.BiasBaseline(),
    "popularity": lambda: lr.Popularity(),
    "random": lambda: lr.RandomRecommender(n_factors=4, random_state=0),
}

FITTED = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def _data():
    return synthetic(60, 40, 900, rank=4, rating_scale=(1, 5), discrete=True, random_state=0)


def numbers(name: str) -> dict:
    """Everything frozen for one case: fitted arrays, predictions, top-n lists."""
    data = _data()
    model = CASES[name]().fit(data)
    out = {f"{name}.{a}": np.asarray(getattr(model, a)) for a in FITTED}
    out[f"{name}.global_mean_"] = np.array([model.global_mean_])
    ids = data.to_dataframe()
    users, items = ids["user"].to_numpy()[:50], ids["item"].to_numpy()[::-1][:50]
    out[f"{name}.predict"] = model.predict(users, items, clip=False)
    recs = model.recommend(list(model.user_map_.ids[:5]), n=7)
    out[f"{name}.recommend_ids"] = np.array([r[0] for r in recs], dtype=np.int64)
    out[f"{name}.recommend_scores"] = np.array([r[1] for r in recs])
    if model.n_factors_ > 0:
        sim_ids, sim_scores = model.similar_items(model.item_map_.ids[0], n=5)
        out[f"{name}.similar_ids"] = np.asarray(sim_ids, dtype=np.int64)
        out[f"{name}.similar_scores"] = np.asarray(sim_scores)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_numbers_are_frozen(name):
    with np.load(STORE, allow_pickle=False) as stored:
        expected = {k: stored[k] for k in stored.files if k.startswith(name + ".")}
    got = numbers(name)
    assert sorted(got) == sorted(expected)
    for key, value in got.items():
        assert value.dtype == expected[key].dtype, key
        ulps = _blas_ulps(key)
        if ulps is None:
            np.testing.assert_array_equal(value, expected[key], err_msg=key)
        else:
            scale = np.max(np.abs(expected[key]), initial=0.0)
            np.testing.assert_allclose(value, expected[key], rtol=0, atol=ulps * scale,
                                       err_msg=key)


def _blas_ulps(key: str):
    """None where the numbers must match bit for bit; else the tolerance, relative to the
    array's largest value. Two kinds of numbers differ in their last bits between
    machines: those that come out of BLAS (matrix products: the scores of top-n lists and
    similar items, every array of the Gibbs sampler), which picks its kernel by CPU; and
    those of the float32 SGD and BPR kernels, which numba compiles for the CPU it runs on:
    their K loops, vectorised with reassociation, sum in an order that depends on the
    vector width (AVX2 or AVX-512). On one machine every case is bit for bit repeatable."""
    if key.startswith("bpmf."):
        return 64 * np.finfo(np.float64).eps
    if key.endswith(("recommend_scores", "similar_scores")) or key.startswith(_VECTORISED):
        return 16 * np.finfo(np.float32).eps
    return None


#: the cases whose kernels sum float32 K loops in a vector width's order
_VECTORISED = ("sgd_", "bpr.")


def test_the_store_covers_every_case():
    with np.load(STORE, allow_pickle=False) as stored:
        names = {k.split(".")[0] for k in stored.files}
    assert names == set(CASES)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    everything = {}
    for case in CASES:
        everything.update(numbers(case))
    np.savez(STORE, **everything)
    print(f"wrote {len(everything)} arrays to {STORE}")

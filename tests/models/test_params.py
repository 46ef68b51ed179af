"""Hyperparameters as in scikit-learn: ``random_state`` checked like the others, one helper
turning it into a Generator, and ``clone`` that copies and refuses an altering __init__."""

import copy
import re

import numpy as np
import pytest

from latentrec._random import check_random_state, seed_from
from latentrec.errors import ParameterError
from latentrec.models import (
    BPR,
    ALSMatrixFactorization,
    BayesianMatrixFactorization,
    ImplicitALS,
    RandomRecommender,
    SGDMatrixFactorization,
)
from latentrec.models._params import Params

# Every model with a random_state, small enough to fit in a blink on ``small_ratings``.
MODELS = {
    "sgd": lambda **kw: SGDMatrixFactorization(n_factors=3, n_epochs=3, n_threads=1, **kw),
    "als": lambda **kw: ALSMatrixFactorization(n_factors=3, n_epochs=2, n_threads=1, **kw),
    "bayes": lambda **kw: BayesianMatrixFactorization(n_factors=2, n_samples=3, burn_in=1,
                                                      keep=2, n_threads=1, **kw),
    "implicit-als": lambda **kw: ImplicitALS(n_factors=3, n_epochs=2, n_threads=1, **kw),
    "bpr": lambda **kw: BPR(n_factors=3, n_epochs=2, n_threads=1, **kw),
    "random": lambda **kw: RandomRecommender(n_factors=3, **kw),
}
FITTED = ("user_factors_", "item_factors_", "user_bias_", "item_bias_", "global_mean_")

BAD = {"float": 1.5, "negative": -1, "bool": True, "str": "0",
       "legacy": np.random.RandomState(0)}
GOOD = {"none": None, "int": 0, "numpy-int": np.int64(3), "big": 2**40,
        "seed-sequence": np.random.SeedSequence(1), "generator": np.random.default_rng(0)}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("name", MODELS)
def test_a_bad_random_state_is_refused_naming_it_and_the_value(name, bad, small_ratings):
    model = MODELS[name](random_state=bad)
    message = ("random_state must be None, a non-negative int or a numpy.random.Generator, "
               f"got {bad!r}")
    with pytest.raises(ParameterError, match=re.escape(message)):
        model.fit(small_ratings)


@pytest.mark.parametrize("good", GOOD.values(), ids=GOOD.keys())
@pytest.mark.parametrize("name", MODELS)
def test_a_good_random_state_passes_the_check(name, good):
    MODELS[name](random_state=good)._check_params()


def test_the_helper_gives_the_streams_default_rng_gives():
    assert np.array_equal(check_random_state(5).random(4), np.random.default_rng(5).random(4))
    g = np.random.default_rng(1)
    assert check_random_state(g) is g is np.random.default_rng(g)
    assert seed_from(7) == int(np.random.default_rng(7).integers(2**63))
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert seed_from(a, 2**31) == int(b.integers(2**31))
    assert a.bit_generator.state == b.bit_generator.state  # one draw from the caller's stream


class _Altering(RandomRecommender):
    def __init__(self, n_factors=16, random_state=None):
        super().__init__(n_factors=2 * n_factors, random_state=random_state)


class _Copying(Params):
    def __init__(self, grid=(1, 2)):
        self.grid = list(grid)


def test_clone_refuses_an_init_that_changes_its_arguments():
    with pytest.raises(ParameterError, match=r"_Altering: its __init__ changed parameter "
                                             r"'n_factors'; __init__ must store its "
                                             r"arguments unchanged"):
        _Altering(n_factors=4).clone()
    with pytest.raises(ParameterError, match=r"_Copying: .* parameter 'grid'"):
        _Copying(grid=[1, 2]).clone()


@pytest.mark.parametrize("name", MODELS)
def test_a_generator_is_copied_into_each_clone_not_shared(name, small_ratings):
    gen = np.random.default_rng(42)
    state = copy.deepcopy(gen.bit_generator.state)
    model = MODELS[name](random_state=gen)
    a, b = model.clone(), model.clone()
    assert a.random_state is not gen and b.random_state is not a.random_state
    a.fit(small_ratings)
    assert b.random_state.bit_generator.state == state  # a's draws did not advance b's
    b.fit(small_ratings)
    ref = MODELS[name](random_state=np.random.default_rng(42)).fit(small_ratings)
    for attr in FITTED:
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
        assert np.array_equal(getattr(a, attr), getattr(ref, attr)), attr
    assert gen.bit_generator.state == state  # the original was never drawn from


@pytest.mark.parametrize("name", MODELS)
def test_get_params_set_params_round_trip(name):
    model = MODELS[name](random_state=7)
    params = model.get_params()
    other = type(model)().set_params(**params)
    assert other.get_params() == params
    twin = model.clone()
    assert all(twin.get_params()[k] is v for k, v in params.items())  # plain values kept
    with pytest.raises(ParameterError, match="has no parameter 'nope'"):
        model.set_params(nope=1)


class _Outer(Params):
    def __init__(self, inner=None, grid=(1, 2)):
        self.inner = inner
        self.grid = grid


def test_clone_clones_an_estimator_parameter_and_copies_containers():
    inner = RandomRecommender(n_factors=5, random_state=np.random.default_rng(0))
    outer = _Outer(inner=inner, grid=[1, 2])
    twin = outer.clone()
    assert twin.inner is not inner and twin.inner.get_params()["n_factors"] == 5
    assert twin.inner.random_state is not inner.random_state
    assert twin.grid == [1, 2] and twin.grid is not outer.grid

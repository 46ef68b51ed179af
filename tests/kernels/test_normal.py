"""kernels/normal.py gives numpy's own float32 standard normal draws, bit for bit, and
leaves the generator where numpy's draws leave it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec.kernels import normal
from latentrec.kernels.normal import standard_normal_f32


def numpys(rng, shape, scale):
    out = rng.standard_normal(shape, dtype=np.float32)
    out *= scale
    return out


def same(a, b) -> bool:
    """Equal states (dicts of numbers and arrays)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


def assert_same_draws_and_state(make, shape, scale, before=0):
    """Both ways from two equal generators (``before`` 32-bit draws first, so that a high
    half may be pending), then the next draws of each."""
    ours, theirs = make(), make()
    for g in (ours, theirs):
        g.integers(0, 2**32, before, dtype=np.uint32)
    got, want = standard_normal_f32(ours, shape, scale), numpys(theirs, shape, scale)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    assert same(ours.bit_generator.state, theirs.bit_generator.state)
    assert ours.integers(0, 2**32, 3, dtype=np.uint32).tolist() == \
        theirs.integers(0, 2**32, 3, dtype=np.uint32).tolist()
    assert ours.random() == theirs.random()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63),
       shape=st.one_of(st.tuples(st.integers(0, 300)),
                       st.tuples(st.integers(0, 40), st.integers(0, 9))),
       scale=st.sampled_from([1.0, 0.1, 0.01, 3.7]), before=st.integers(0, 3))
def test_small_draws_are_numpys(seed, shape, scale, before):
    assert_same_draws_and_state(lambda: np.random.default_rng(seed), shape, scale, before)


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_every_path_of_the_ziggurat_is_numpys(seed):
    # 2M draws: ~14,000 go past their layer's rectangle (the wedge test, and again after a
    # rejection) and ~500 start in the base layer's tail; the tail's values lie beyond r
    shape = (20_000, 100)
    assert_same_draws_and_state(lambda: np.random.default_rng(seed), shape, 0.1, before=1)
    x = standard_normal_f32(np.random.default_rng(seed), shape)
    assert np.count_nonzero(np.abs(x) > np.float32(normal._R)) > 50


def test_the_tables_are_numpys():
    # numpy's ziggurat constants, as numba carries them for its own np.random support
    constants = pytest.importorskip("numba.np.random._constants")
    np.testing.assert_array_equal(normal._KI, constants.ki_float)
    np.testing.assert_array_equal(normal._WI, constants.wi_float)
    np.testing.assert_array_equal(normal._FI, constants.fi_float)


@pytest.mark.parametrize("bits", [np.random.MT19937, np.random.Philox, np.random.SFC64])
def test_other_bit_generators_draw_through_numpy(bits):
    assert_same_draws_and_state(lambda: np.random.Generator(bits(7)), (123, 4), 0.5, 1)


def test_a_generator_seeded_by_seed_sequence_or_state_is_the_same():
    state = np.random.default_rng(99).bit_generator.state
    def make():
        g = np.random.default_rng()
        g.bit_generator.state = state
        return g
    assert_same_draws_and_state(make, (1000,), 1.0, before=1)


#: PCG64's multiplier: a generator can be set so that its next 64-bit word is any word
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def generator_whose_next_word_is(word: int) -> np.random.Generator:
    bits = np.random.PCG64(5)
    state = bits.state
    hi = 0x0123456789ABCDEF  # the output is the rotated xor of the state's halves
    rot = hi >> 58
    lo = (((word << rot) | (word >> (64 - rot))) & (2**64 - 1)) ^ hi
    inc = state["state"]["inc"]
    state["state"]["state"] = (((hi << 64 | lo) - inc) * pow(_PCG_MULT, -1, 2**128)) % 2**128
    bits.state = state
    assert int(np.random.PCG64(5).random_raw()) != word  # (the forging is not a no-op)
    return np.random.Generator(bits)


def test_the_edge_test_is_numpys_in_double():
    # a draw past its layer's rectangle is kept when a uniform point under the layer's
    # edge falls below the density there: numpy computes the density in double. Find
    # uniforms for which float32 would decide the other way, and make them the next draw.
    u = np.arange(2**24, dtype=np.float32) * np.float32(2.0**-24)
    idx = 1
    lhs = (normal._FI[idx - 1] - normal._FI[idx]) * u + normal._FI[idx]
    cases = []
    for rabs in range(int(normal._KI[idx]), 2**23, 99_991):
        x = np.float32(rabs) * normal._WI[idx]
        in_double = lhs.astype(np.float64) < np.exp(-0.5 * np.float64(x) * np.float64(x))
        in_float = lhs < np.exp(np.float32(-0.5) * x * x)
        for u24 in np.flatnonzero(in_double != in_float)[:2]:
            cases.append((rabs, int(u24)))
        if len(cases) >= 6:
            break
    assert len(cases) >= 6
    for rabs, u24 in cases:
        word = (u24 << 8) << 32 | rabs << 9 | idx  # low half: the draw; high half: u
        assert_same_draws_and_state(lambda w=word: generator_whose_next_word_is(w), (3,), 1.0)

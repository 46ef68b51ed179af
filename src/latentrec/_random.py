"""One way to turn a ``random_state`` argument into a NumPy random Generator."""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ParameterError

#: What a ``random_state`` may be, as error messages say it.
ACCEPTED = "None, a non-negative int or a numpy.random.Generator"


def is_random_state(value) -> bool:
    """Whether :func:`check_random_state` accepts ``value`` (also a SeedSequence)."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return True
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= 0)


def check_random_state(random_state=None, *, name: str = "random_state") -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``random_state``.

    - ``None``: a fresh generator seeded from the operating system (not repeatable);
    - an int >= 0 (or a :class:`numpy.random.SeedSequence`): a new generator seeded with
      it, so the same value gives the same stream every time;
    - a ``Generator``: returned as is, so draws made from it advance the caller's stream.

    Anything else (a float, a bool, a legacy ``RandomState``) raises ValueError naming the
    argument and the value.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ParameterError(f"{name} must be a non-negative int, got {random_state!r}")
        return np.random.default_rng(int(random_state))
    raise ParameterError(f"{name} must be {ACCEPTED}, got {random_state!r}")


def seed_from(random_state=None, high: int = 2**63) -> int:
    """An int seed in [0, ``high``) drawn from ``random_state`` (see :func:`check_random_state`).

    For code that hands an integer on (kernels, derived streams): ``seed_from(7)`` is the
    first draw of ``default_rng(7)``; from a Generator it is the next draw of that stream.
    """
    return int(check_random_state(random_state).integers(high))

"""One way to turn a ``random_state`` argument into a NumPy random Generator."""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ParameterError


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
    raise ParameterError(f"{name} must be None, a non-negative int or a numpy.random.Generator, "
                     f"got {random_state!r}")

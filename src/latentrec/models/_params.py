"""Hyperparameter plumbing shared by every model: get/set/clone and one checking pass."""

from __future__ import annotations

import copy
import inspect
import math
import numbers
from dataclasses import dataclass

from .._random import ACCEPTED, is_random_state
from ..errors import ParameterError


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``kind`` is "int" or "real"; ``closed`` is "both", "left",
    "right" or "neither". A bound of None leaves that side open to any finite number;
    infinity itself passes only where a bound is ``math.inf`` (closed on that side)."""

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if value != value:  # NaN
            return False
        if not isinstance(value, numbers.Integral) and math.isinf(value) \
                and value not in (self.low, self.high):
            # an open side (None) means "any finite number": inf is accepted only where a
            # bound is given as inf on purpose (and the interval is closed there)
            return False
        lo_ok = self.low is None or (value >= self.low if self.closed in ("both", "left")
                                     else value > self.low)
        hi_ok = self.high is None or (value <= self.high if self.closed in ("both", "right")
                                      else value < self.high)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        what = "an integer" if self.kind == "int" else "a number"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{what} in {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    values: tuple

    def accepts(self, value) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class IsNone:
    def accepts(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class RandomState:
    """What :func:`latentrec._random.check_random_state` takes: None, an int >= 0 (not a
    bool), a numpy.random.SeedSequence or a numpy.random.Generator."""

    def accepts(self, value) -> bool:
        return is_random_state(value)

    def __str__(self) -> str:
        return ACCEPTED


class Params:
    """Mixin: hyperparameters are the ``__init__`` arguments, stored untouched."""

    #: name -> list of constraints (Interval, Options, IsNone, RandomState); checked by
    #: ``_check_params``.
    _constraints: dict = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        names = self._param_names()
        for key, value in params.items():
            if key not in names:
                raise ParameterError(f"{type(self).__name__} has no parameter {key!r}; "
                                 f"valid parameters: {', '.join(names)}")
            setattr(self, key, value)
        return self

    def clone(self):
        """An unfitted copy with the same hyperparameters, as scikit-learn's ``clone``:
        a parameter that is an estimator is cloned, any other that is not a plain immutable
        value is deep-copied (a Generator as ``random_state`` is copied with its state, so
        drawing from one clone's does not advance another's), and ``__init__`` must store
        every argument as given."""
        params = {k: _copied(v) for k, v in self.get_params().items()}
        new = type(self)(**params)
        for name, value in params.items():
            if getattr(new, name, _MISSING) is not value:
                raise ParameterError(
                    f"cannot clone {type(self).__name__}: its __init__ changed parameter "
                    f"{name!r}; __init__ must store its arguments unchanged")
        return new

    def _check_params(self) -> None:
        for name, allowed in self._constraints.items():
            value = getattr(self, name)
            if not any(c.accepts(value) for c in allowed):
                expected = " or ".join(str(c) for c in allowed)
                raise ParameterError(f"{name} must be {expected}, got {value!r}")

    def __repr__(self) -> str:
        defaults = {p.name: p.default
                    for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if not _same(v, defaults.get(k))]
        return f"{type(self).__name__}({', '.join(shown)})"


_MISSING = object()
_IMMUTABLE = (type(None), bool, numbers.Number, str, bytes)


def _copied(value):
    """A parameter value for a clone: estimators cloned, plain values kept, others copied."""
    if isinstance(value, Params):
        return value.clone()
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - arrays and odd objects: treat as different
        return False

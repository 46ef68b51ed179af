"""Train/test splits of a :class:`~latentrec.Ratings` table.

Every split returns a :class:`Split`: a ``(train, test)`` pair that unpacks like a tuple,
plus counts of the *cold* test rows (whose user or item has no rating in train) and of the
rows the ``cold`` policy dropped. Train and test share the source's IdMaps, so an index
means the same user or item in both. Rows keep their source order within train and test.

``cold="keep"`` (the default) leaves cold rows in test; ``cold="drop"`` removes them from
test (they go to neither side), for evaluations that only score known users and items.

All randomness comes from ``random_state`` (None, an int, or a ``numpy.random.Generator``);
the same int gives the same split.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers

import numpy as np
import pandas as pd

from .._random import check_random_state
from ..errors import DataError, ParameterError
from .ratings import Ratings

__all__ = ["Split", "KFold", "holdout", "k_fold", "user_holdout", "time_split",
           "cold_start_split"]

COLD_POLICIES = ("keep", "drop")


class Split(tuple):
    """``(train, test)`` with counts of the cold test rows; read-only.

    Attributes
    ----------
    train, test : Ratings
        The two sides (also ``split[0]`` and ``split[1]``).
    train_rows, test_rows : ndarray of int64
        Positions in the source table of the rows in ``train`` and ``test``.
    n_cold_users_rows : int
        Held-out rows whose user has no rating in train.
    n_cold_items_rows : int
        Held-out rows whose item has no rating in train.
    n_cold_rows : int
        Held-out rows whose user or item (or both) has no rating in train.
    n_dropped : int
        Rows removed from test by ``cold="drop"`` (0 with ``cold="keep"``).

    The cold counts describe the held-out rows before the ``cold`` policy is applied, so
    with ``cold="drop"``, ``n_dropped == n_cold_rows`` and ``test`` has no cold rows left;
    ``len(train) + len(test) + n_dropped`` is always the size of the source.
    """

    _FIELDS = ("train_rows", "test_rows", "n_cold_users_rows", "n_cold_items_rows",
               "n_cold_rows", "n_dropped")

    def __new__(cls, train: Ratings, test: Ratings, *, train_rows, test_rows,
                n_cold_users_rows: int, n_cold_items_rows: int, n_cold_rows: int,
                n_dropped: int):
        self = super().__new__(cls, (train, test))
        for arr in (train_rows, test_rows):
            arr.flags.writeable = False
        info = dict(train_rows=train_rows, test_rows=test_rows,
                    n_cold_users_rows=int(n_cold_users_rows),
                    n_cold_items_rows=int(n_cold_items_rows),
                    n_cold_rows=int(n_cold_rows), n_dropped=int(n_dropped))
        object.__setattr__(self, "_info", info)
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"Split is read-only; cannot set {name!r}")

    __delattr__ = __setattr__

    def __getattr__(self, name):
        info = self.__dict__.get("_info", {})
        if name in info:
            return info[name]
        raise AttributeError(f"'Split' object has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._FIELDS))

    @property
    def train(self) -> Ratings:
        return self[0]

    @property
    def test(self) -> Ratings:
        return self[1]

    def __reduce__(self):
        return (_rebuild_split, (self[0], self[1], self._info))

    def __repr__(self) -> str:
        return (f"Split(train={len(self[0]):,} rows, test={len(self[1]):,} rows, "
                f"cold rows={self.n_cold_rows:,} (users {self.n_cold_users_rows:,}, "
                f"items {self.n_cold_items_rows:,}), dropped={self.n_dropped:,})")


def _rebuild_split(train, test, info):
    info = dict(info)
    for key in ("train_rows", "test_rows"):
        info[key] = np.array(info[key])
    return Split(train, test, **info)


class KFold:
    """``k`` train/test splits in which every rating is in exactly one test fold.

    Holds one array of fold numbers (``folds``, one small int per rating) and builds each
    :class:`Split` when it is asked for, so only one fold's copy of the data is alive at a
    time while iterating. Iterate it as often as you like: the folds are fixed when the
    object is made. Fold sizes differ by at most one row.
    """

    def __init__(self, ratings: Ratings, folds: np.ndarray, k: int, cold: str):
        folds.flags.writeable = False
        self._ratings = ratings
        self._folds = folds
        self._k = k
        self._cold = cold

    @property
    def k(self) -> int:
        return self._k

    @property
    def cold(self) -> str:
        return self._cold

    @property
    def folds(self) -> np.ndarray:
        """The test fold (0 .. k-1) of each source row; read-only."""
        return self._folds

    @property
    def fold_sizes(self) -> np.ndarray:
        """How many rows each fold holds out (before any cold rows are dropped)."""
        return np.bincount(self._folds, minlength=self._k)

    def __len__(self) -> int:
        return self._k

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(self._k)[index]]
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(f"fold index must be an int or a slice, got {index!r}")
        i = int(index)
        if i < 0:
            i += self._k
        if not 0 <= i < self._k:
            raise IndexError(f"fold index {index} out of range for {self._k} folds")
        return _make_split(self._ratings, self._folds == i, self._cold)

    def __iter__(self):
        for i in range(self._k):
            yield self[i]

    def __repr__(self) -> str:
        return f"KFold(k={self._k}, rows={self._folds.shape[0]:,}, cold={self._cold!r})"


# ------------------------------------------------------------------------------------------
# the split functions

def holdout(ratings: Ratings, test_size: float = 0.2, *, random_state=None,
            cold: str = "keep") -> Split:
    """Hold out a random ``test_size`` fraction of the rows (rounded to the nearest row)."""
    _check_args(ratings=ratings, test_size=test_size, cold=cold)
    rng = check_random_state(random_state)
    n = ratings.n_ratings
    n_test = _round_half_up(test_size * n)
    mask = np.zeros(n, dtype=bool)
    if n_test:
        mask[rng.choice(n, size=n_test, replace=False, shuffle=False)] = True
    return _make_split(ratings, mask, cold)


def k_fold(ratings: Ratings, k: int = 5, *, random_state=None, cold: str = "keep") -> KFold:
    """``k`` folds of the rows, assigned at random; returns a reusable :class:`KFold`."""
    _check_args(ratings=ratings, k=k, cold=cold)
    n = ratings.n_ratings
    if k > n:
        raise ParameterError(f"k must be at most the number of ratings ({n}), got {k}")
    rng = check_random_state(random_state)
    folds = np.empty(n, dtype=np.min_scalar_type(k - 1))
    folds[rng.permutation(n)] = np.arange(n) % k
    return KFold(ratings, folds, int(k), cold)


def user_holdout(ratings: Ratings, test_size: float = 0.2, *, n_test: int | None = None,
                 by_time: bool = False, min_train: int = 1, random_state=None,
                 cold: str = "keep") -> Split:
    """Hold out some ratings of every user.

    Each user with more than ``min_train`` ratings holds out ``test_size`` of them (rounded
    to the nearest whole rating, halves up, but at least 1 and never so many that fewer
    than ``min_train`` stay in train). With ``n_test`` given (it takes precedence over
    ``test_size``) each user with at least ``n_test + min_train`` ratings holds out exactly
    ``n_test``. Users with fewer ratings keep them all in train.

    Which ratings: a random choice, or with ``by_time=True`` each user's latest ones (by
    timestamp; among equal timestamps a later row counts as later). ``by_time`` needs
    timestamps and does not use ``random_state``.
    """
    _check_args(ratings=ratings, test_size=test_size, n_test=n_test, min_train=min_train,
                by_time=by_time, cold=cold)
    if by_time and ratings.timestamps is None:
        raise DataError("user_holdout(by_time=True) needs timestamps, and these ratings "
                        "have none; read them with a timestamp column or use by_time=False")
    n = ratings.n_ratings
    users = ratings.users
    if n == 0:
        return _make_split(ratings, np.zeros(0, dtype=bool), cold)

    # order: grouped by user; within a user ascending by timestamp or by a random key
    if by_time:
        ts = ratings.timestamps
        lo = int(ts.min())
        if int(ts.max()) - lo < (1 << 32):   # (user, time) fits one int64: one sort
            key = (users.astype(np.int64) << 32) | (ts - lo)
            order = np.argsort(key, kind="stable")
            del key
        else:
            order = np.argsort(ts, kind="stable")
            order = order[np.argsort(users[order], kind="stable")]
    else:
        rng = check_random_state(random_state)
        key = (users.astype(np.int64) << 32) | rng.integers(0, 1 << 32, size=n,
                                                            dtype=np.int64)
        order = np.argsort(key)
        del key

    counts = np.bincount(users, minlength=ratings.n_users)
    if n_test is not None:
        per_user = np.where(counts >= n_test + min_train, n_test, 0)
    else:
        per_user = np.floor(counts * test_size + 0.5).astype(np.int64)
        per_user = np.clip(per_user, 1, None)
        per_user = np.minimum(per_user, counts - min_train)
        per_user[counts <= min_train] = 0
    starts = np.cumsum(counts) - counts            # first position of each user in order
    sorted_users = users[order]
    pos = np.arange(n, dtype=np.int64) - starts[sorted_users]
    is_test = pos >= (counts - per_user)[sorted_users]   # the last per_user of each group
    mask = np.zeros(n, dtype=bool)
    mask[order[is_test]] = True
    return _make_split(ratings, mask, cold)


def time_split(ratings: Ratings, *, at=None, test_size: float | None = None,
               cold: str = "keep") -> Split:
    """Split by time, globally: the past trains, the future tests.

    Give exactly one of:

    - ``at``: rows with timestamp ``>= at`` go to test, the rest to train. ``at`` is in the
      units of the timestamps (an int), or a date/time (``datetime``, ``numpy.datetime64``,
      ``pandas.Timestamp`` or an ISO string such as ``"2020-01-01"``), which is compared as
      seconds since 1970-01-01 UTC (the units datetime columns are read in);
    - ``test_size``: the latest ``test_size`` fraction of rows (rounded to the nearest row)
      go to test. Among rows with equal timestamps a later row counts as later, so every
      train timestamp is ``<=`` every test timestamp.
    """
    _check_args(ratings=ratings, cold=cold)
    if (at is None) == (test_size is None):
        raise ParameterError("time_split needs exactly one of at= or test_size=, got "
                         f"at={at!r}, test_size={test_size!r}")
    if test_size is not None:
        _check_args(test_size=test_size)
    if ratings.timestamps is None:
        raise DataError("time_split needs timestamps, and these ratings have none; read "
                        "them with a timestamp column")
    ts = ratings.timestamps
    n = ratings.n_ratings
    if at is not None:
        mask = ts >= _threshold_seconds(at)
    else:
        n_test = _round_half_up(test_size * n)
        if n_test == 0:
            mask = np.zeros(n, dtype=bool)
        else:
            # the smallest test timestamp, found in linear time; rows after it all go to
            # test, and of the rows at it, the last ones in row order fill up to n_test
            boundary = np.partition(ts, n - n_test)[n - n_test]
            mask = ts > boundary
            at_boundary = np.flatnonzero(ts == boundary)
            mask[at_boundary[at_boundary.size - (n_test - int(mask.sum())):]] = True
    return _make_split(ratings, mask, cold)


# ------------------------------------------------------------------------------------------
# shared machinery

def cold_start_split(ratings: Ratings, user_size: float = 0.1, item_size: float = 0.1, *,
                     random_state=None) -> Split:
    """Hold out whole users and whole items: a random ``user_size`` fraction of the users
    and ``item_size`` of the items (each rounded to the nearest one) lose every rating to
    test, so every test row is cold (its user, its item or both have none in train). For
    models that predict from attributes (BayesianFactorizationMachine); the others can
    only fall back on biases there."""
    _check_args(ratings=ratings, user_size=user_size, item_size=item_size)
    rng = check_random_state(random_state)
    users = rng.choice(ratings.n_users, _round_half_up(user_size * ratings.n_users),
                       replace=False)
    items = rng.choice(ratings.n_items, _round_half_up(item_size * ratings.n_items),
                       replace=False)
    mask = np.isin(ratings.users, users) | np.isin(ratings.items, items)
    return _make_split(ratings, mask, "keep")


def _make_split(ratings: Ratings, test_mask: np.ndarray, cold: str) -> Split:
    """The Split that holds out the rows where ``test_mask`` is True."""
    train_rows = np.flatnonzero(~test_mask)
    test_rows = np.flatnonzero(test_mask)
    seen_users = np.zeros(ratings.n_users, dtype=bool)
    seen_users[ratings.users[train_rows]] = True
    seen_items = np.zeros(ratings.n_items, dtype=bool)
    seen_items[ratings.items[train_rows]] = True
    cold_user = ~seen_users[ratings.users[test_rows]]
    cold_item = ~seen_items[ratings.items[test_rows]]
    cold_any = cold_user | cold_item
    n_cold = int(cold_any.sum())
    n_dropped = 0
    if cold == "drop" and n_cold:
        test_rows = test_rows[~cold_any]
        n_dropped = n_cold
    return Split(ratings.subset(train_rows), ratings.subset(test_rows),
                 train_rows=train_rows, test_rows=test_rows,
                 n_cold_users_rows=int(cold_user.sum()),
                 n_cold_items_rows=int(cold_item.sum()),
                 n_cold_rows=n_cold, n_dropped=n_dropped)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _threshold_seconds(at) -> int:
    """``at`` as a whole number in the units of the timestamps (rows with ts >= it)."""
    if isinstance(at, bool):
        raise ParameterError(f"at must be a number or a date/time, got {at!r}")
    if isinstance(at, numbers.Integral):
        return int(at)
    if isinstance(at, numbers.Real):
        if not math.isfinite(at):
            raise ParameterError(f"at must be a finite number or a date/time, got {at!r}")
        return math.ceil(at)
    if isinstance(at, (str, _dt.date, np.datetime64, pd.Timestamp)):
        try:
            stamp = pd.Timestamp(at)
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"at must be a number or a date/time, got {at!r} ({exc})") \
                from None
        if stamp is pd.NaT:
            raise ParameterError(f"at must be a number or a date/time, got {at!r}")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        ns = stamp.value
        return -((-ns) // 1_000_000_000)  # ceil to whole seconds
    raise ParameterError(f"at must be a number or a date/time, got {at!r}")


def _check_args(**args) -> None:
    """Check the split arguments given, each by its own rule; messages name the argument."""
    for name, value in args.items():
        rule = _RULES.get(name)
        if rule is None:  # pragma: no cover - a programming error in this module
            raise AssertionError(f"no rule for argument {name!r}")
        rule(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_ratings(value) -> None:
    if not isinstance(value, Ratings):
        raise TypeError(f"ratings must be a latentrec Ratings, got {type(value).__name__}")


def _check_test_size(value, name="test_size") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ParameterError(f"{name} must be in (0, 1), got {value!r}")


def _check_k(value) -> None:
    if not _is_int(value) or value < 2:
        raise ParameterError(f"k must be an int >= 2, got {value!r}")


def _check_n_test(value) -> None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ParameterError(f"n_test must be None or an int >= 1, got {value!r}")


def _check_min_train(value) -> None:
    if not _is_int(value) or value < 0:
        raise ParameterError(f"min_train must be an int >= 0, got {value!r}")


def _check_by_time(value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"by_time must be True or False, got {value!r}")


def _check_cold(value) -> None:
    if not isinstance(value, str) or value not in COLD_POLICIES:
        raise ParameterError(f"cold must be one of {COLD_POLICIES}, got {value!r}")


_RULES = {"ratings": _check_ratings, "test_size": _check_test_size,
          "user_size": lambda v: _check_test_size(v, "user_size"),
          "item_size": lambda v: _check_test_size(v, "item_size"), "k": _check_k,
          "n_test": _check_n_test, "min_train": _check_min_train, "by_time": _check_by_time,
          "cold": _check_cold}

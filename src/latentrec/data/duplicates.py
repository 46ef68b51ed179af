"""Resolution of (user, item) pairs that appear more than once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError

DUPLICATE_POLICIES = ("last", "mean", "error")


def resolve_duplicates(users, items, values, timestamps, n_items: int, policy: str, *,
                       rows=None):
    """Collapse repeated (user, item) pairs by ``policy``; ``rows``: the rows of repeated
    pairs when the caller knows them already (:func:`repeated_rows`).

    Returns ``(users, items, values, timestamps, n_resolved)``; the survivors keep their
    order in the input. ``"last"`` keeps the latest rating by timestamp when timestamps are
    given (file order breaks ties), else the last in file order; ``"mean"`` averages the
    values (and keeps the latest timestamp) in the position of the pair's first row;
    ``"error"`` raises a DataError naming the repeated row (``err.row``, 0-based).
    """
    if policy not in DUPLICATE_POLICIES:
        raise ParameterError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {policy!r}")
    if rows is None:
        rows = repeated_rows(users, items, int(users.max(initial=0)) + 1, n_items)
    if rows.size == 0:
        return users, items, values, timestamps, 0
    sub = users[rows].astype(np.int64) * max(n_items, 1) + items[rows]
    sub_ts = None if timestamps is None else timestamps[rows]
    repeat = pd.Series(sub, copy=False).duplicated(keep="first").to_numpy()
    n_resolved = int(repeat.sum())
    if policy == "error":
        err = DataError("the same (user, item) pair is rated more than once "
                        "(pass duplicates='last' or 'mean' to resolve it)")
        err.row = int(rows[np.flatnonzero(repeat)[0]])
        raise err
    keep = np.ones(users.shape[0], dtype=bool)
    if policy == "last":
        keep[rows] = False
        keep[rows[_last_rows(sub, sub_ts)]] = True
        keep = np.flatnonzero(keep)
        return (users[keep], items[keep], values[keep],
                None if timestamps is None else timestamps[keep], n_resolved)
    keep[rows[repeat]] = False
    first = np.flatnonzero(~repeat)  # in rows: each pair's first row, in input order
    codes = pd.factorize(sub, sort=False)[0]  # group number = order of first appearance
    sums = np.bincount(codes, weights=values[rows], minlength=first.size)
    counts = np.bincount(codes, minlength=first.size)
    values = values.copy()
    values[rows[first]] = (sums / counts).astype(values.dtype)
    if timestamps is not None:
        latest = np.full(first.size, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(latest, codes, sub_ts)
        timestamps = timestamps.astype(np.int64)  # a copy
        timestamps[rows[first]] = latest
    keep = np.flatnonzero(keep)
    return (users[keep], items[keep], values[keep],
            None if timestamps is None else timestamps[keep], n_resolved)


def repeated_rows(users, items, n_users: int, n_items: int) -> np.ndarray:
    """The rows whose (user, item) pair appears more than once, in input order (int64;
    empty when none)."""
    if users.shape[0] < 2:
        return np.empty(0, np.int64)
    key = _packed(users, items, n_users, n_items)
    return rows_of_repeats(key, np.sort(key))


def rows_of_repeats(key: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """The positions of ``key`` whose value appears more than once, given ``ordered``, the
    same values sorted: the sort finds the repeated values, then every row is tested
    against them (a hash of every row's value took 4x the reading of the file)."""
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.empty(0, np.int64)
    return _rows_in(key, np.unique(ordered[1:][same]))


def _packed(users, items, n_users: int, n_items: int) -> np.ndarray:
    """user * n_items + item, as uint32 where every pair fits (a faster sort), else int64."""
    if n_users * n_items <= 2**32:
        key = users.astype(np.uint32)
        key *= np.uint32(n_items)
        key += items.astype(np.uint32)
        return key
    key = users.astype(np.int64)
    key *= n_items
    key += items
    return key


def _rows_in(key: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The positions of ``key`` whose value is in the sorted, distinct ``values``."""
    if values.size * _FILTER_SPARSITY > key.size:  # many repeated pairs: hash every row
        return np.flatnonzero(pd.Series(key, copy=False).isin(values).to_numpy())
    # a table of the values' low bits rules out almost every row in one gather; the few
    # rows left are looked up exactly
    bits = int(np.clip(np.ceil(np.log2(values.size * _FILTER_SPARSITY)), 10, 26))
    low = key.dtype.type((1 << bits) - 1)
    table = np.zeros(1 << bits, dtype=bool)
    table[values & low] = True
    maybe = np.flatnonzero(table[key & low])
    found = np.minimum(np.searchsorted(values, key[maybe]), values.size - 1)
    return maybe[values[found] == key[maybe]]


#: table slots per repeated pair in ``_rows_in`` (a false match rate of about 1/64)
_FILTER_SPARSITY = 64


def _last_rows(key: np.ndarray, timestamps) -> np.ndarray:
    """Row numbers that survive policy "last", in input order."""
    if timestamps is None:
        return np.flatnonzero(~pd.Series(key, copy=False).duplicated(keep="last").to_numpy())
    order = np.lexsort((timestamps, key))  # stable: file order breaks timestamp ties
    sorted_key = key[order]
    is_last = np.ones(order.size, dtype=bool)
    is_last[:-1] = sorted_key[1:] != sorted_key[:-1]
    return np.sort(order[is_last])

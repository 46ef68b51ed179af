"""Resolution of (user, item) pairs that appear more than once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError

DUPLICATE_POLICIES = ("last", "mean", "error")


def resolve_duplicates(users, items, values, timestamps, n_items: int, policy: str):
    """Collapse repeated (user, item) pairs by ``policy``.

    Returns ``(users, items, values, timestamps, n_resolved)``; the survivors keep their
    order in the input. ``"last"`` keeps the latest rating by timestamp when timestamps are
    given (file order breaks ties), else the last in file order; ``"mean"`` averages the
    values (and keeps the latest timestamp) in the position of the pair's first row;
    ``"error"`` raises a DataError naming the repeated row (``err.row``, 0-based).
    """
    if policy not in DUPLICATE_POLICIES:
        raise ParameterError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {policy!r}")
    if not has_duplicates(users, items, int(users.max(initial=0)) + 1, n_items):
        return users, items, values, timestamps, 0
    key = users.astype(np.int64) * max(n_items, 1) + items
    # the rows of repeated pairs, in input order: usually few, so the policy's sorts and
    # groupings run on them alone (a lexsort of every row took 4x the reading of the file)
    rows = np.flatnonzero(pd.Series(key, copy=False).duplicated(keep=False).to_numpy())
    if rows.size == 0:
        return users, items, values, timestamps, 0
    sub = key[rows]
    sub_ts = None if timestamps is None else timestamps[rows]
    repeat = pd.Series(sub, copy=False).duplicated(keep="first").to_numpy()
    n_resolved = int(repeat.sum())
    if policy == "error":
        err = DataError("the same (user, item) pair is rated more than once "
                        "(pass duplicates='last' or 'mean' to resolve it)")
        err.row = int(rows[np.flatnonzero(repeat)[0]])
        raise err
    keep = np.ones(key.size, dtype=bool)
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


def has_duplicates(users, items, n_users: int, n_items: int) -> bool:
    """Whether some (user, item) pair repeats: one sort of a packed key (cheap, exact)."""
    if users.shape[0] < 2:
        return False
    if n_users * n_items <= 2**32:
        key = users.astype(np.uint32)
        key *= np.uint32(n_items)
        key += items.astype(np.uint32)
    else:
        key = users.astype(np.int64)
        key *= n_items
        key += items
    key.sort()
    return bool((key[1:] == key[:-1]).any())


def _last_rows(key: np.ndarray, timestamps) -> np.ndarray:
    """Row numbers that survive policy "last", in input order."""
    if timestamps is None:
        return np.flatnonzero(~pd.Series(key, copy=False).duplicated(keep="last").to_numpy())
    order = np.lexsort((timestamps, key))  # stable: file order breaks timestamp ties
    sorted_key = key[order]
    is_last = np.ones(order.size, dtype=bool)
    is_last[:-1] = sorted_key[1:] != sorted_key[:-1]
    return np.sort(order[is_last])

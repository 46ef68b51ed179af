"""resolve_duplicates against a plain-Python reference of its three policies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import DataError
from latentrec.data.duplicates import repeated_rows, resolve_duplicates


def reference(users, items, values, timestamps, policy):
    """One dict pass: the survivors' rows in input order, and the values/timestamps."""
    groups = {}
    for row, pair in enumerate(zip(users.tolist(), items.tolist())):
        groups.setdefault(pair, []).append(row)
    n_resolved = sum(len(g) - 1 for g in groups.values())
    if policy == "error" and n_resolved:
        return min(g[1] for g in groups.values() if len(g) > 1)
    out = []
    for rows in groups.values():
        if policy == "last":
            # latest timestamp wins; among equal timestamps the later row
            best = max(rows, key=lambda r: (0 if timestamps is None else timestamps[r], r))
            out.append((best, values[best], None if timestamps is None else timestamps[best]))
        else:
            mean = np.float32(sum(float(values[r]) for r in rows) / len(rows))
            ts = None if timestamps is None else max(timestamps[r] for r in rows)
            out.append((rows[0], mean, ts))
    out.sort()
    return [r for r, _, _ in out], [v for _, v, _ in out], [t for _, _, t in out], n_resolved


@st.composite
def ratings(draw):
    n = draw(st.integers(0, 60))
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    # spread over [0.5, 5.5): a float64 sum of up to 60 of them is exact in any order, so
    # the mean is one rounding, which a float32 sum would miss
    values = rng.uniform(0.5, 5.5, n).astype(np.float32)
    timestamps = rng.integers(0, 4, n).astype(np.int64) if draw(st.booleans()) else None
    return users, items, values, timestamps, n_items


@settings(max_examples=200, deadline=None)
@given(ratings(), st.sampled_from(["last", "mean", "error"]))
def test_it_keeps_what_the_reference_keeps(data, policy):
    users, items, values, timestamps, n_items = data
    given_arrays = [a.copy() for a in (users, items, values) + (() if timestamps is None
                                                                else (timestamps,))]
    want = reference(users, items, values, timestamps, policy)
    try:
        _check(users, items, values, timestamps, n_items, policy, want)
    finally:  # the caller's arrays are left as they were
        for a, b in zip(given_arrays, (users, items, values, timestamps)):
            np.testing.assert_array_equal(a, b)


def _check(users, items, values, timestamps, n_items, policy, want):
    if isinstance(want, int):
        with pytest.raises(DataError, match="rated more than once") as info:
            resolve_duplicates(users, items, values, timestamps, n_items, policy)
        assert info.value.row == want
        return
    if policy == "error":
        got = resolve_duplicates(users, items, values, timestamps, n_items, policy)
        assert got[4] == 0 and got[0] is users
        return
    rows, vals, ts, n_resolved = want
    u, i, v, t, n = resolve_duplicates(users, items, values, timestamps, n_items, policy)
    assert n == n_resolved
    np.testing.assert_array_equal(u, users[rows])
    np.testing.assert_array_equal(i, items[rows])
    np.testing.assert_array_equal(v, np.array(vals, np.float32))
    assert v.dtype == values.dtype
    if timestamps is None:
        assert t is None
    else:
        np.testing.assert_array_equal(t, np.array(ts, np.int64))


@st.composite
def pairs_with_repeats(draw):
    """Up to 4,000 (user, item) rows over a large id space with some rows copied onto
    others: a few (the bit-table path of repeated_rows) or many (its hash path); ids up to
    2**31 make the packed key int64, small ones uint32."""
    n = draw(st.integers(0, 4000))
    n_users = draw(st.sampled_from([50, 70_000, 2**31 - 1]))
    n_items = draw(st.sampled_from([40, 70_000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    copies = draw(st.sampled_from([0, 1, 5, 30, 2000])) if n else 0
    src, dst = rng.integers(0, n, copies), rng.integers(0, n, copies)
    users[dst], items[dst] = users[src], items[src]
    return users, items, n_users, n_items


@settings(max_examples=150, deadline=None)
@given(pairs_with_repeats())
def test_repeated_rows_are_the_rows_of_pairs_seen_twice(data):
    users, items, n_users, n_items = data
    counts = {}
    for pair in zip(users.tolist(), items.tolist()):
        counts[pair] = counts.get(pair, 0) + 1
    want = [r for r, pair in enumerate(zip(users.tolist(), items.tolist())) if counts[pair] > 1]
    got = repeated_rows(users, items, n_users, n_items)
    assert got.tolist() == want


def test_repeated_rows_finds_a_few_repeats_among_many_rows():
    # the bit table's path: 200,000 rows, three repeated pairs, one of them three times
    rng = np.random.default_rng(5)
    users = rng.permutation(200_000).astype(np.int32)
    items = np.zeros(200_000, np.int32)
    users[[10, 99_999, 150_000]] = users[7]
    users[123_456] = users[123_457]
    users[3] = users[199_999]
    got = repeated_rows(users, items, 200_000, 1)
    assert got.tolist() == [3, 7, 10, 99_999, 123_456, 123_457, 150_000, 199_999]

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentrec import DataError, IdMap, Ratings
from latentrec._random import check_random_state
from latentrec.data.split import KFold, Split, holdout, k_fold, time_split, user_holdout


def make(users, items, timestamps=None, values=None, n_users=None, n_items=None):
    users, items = np.asarray(users), np.asarray(items)
    if values is None:
        values = np.arange(1, users.size + 1, dtype=np.float32)
    return Ratings(users, items, values, timestamps,
                   user_map=IdMap.range(n_users or (users.max() + 1 if users.size else 0)),
                   item_map=IdMap.range(n_items or (items.max() + 1 if items.size else 0)))


@pytest.fixture(scope="module")
def medium():
    """3,000 rows over 200 users x 100 items with timestamps; pairs may repeat."""
    rng = np.random.default_rng(11)
    n = 3000
    return make(rng.integers(0, 200, n), rng.integers(0, 100, n),
                rng.integers(0, 1000, n), n_users=200, n_items=100)


def check_partition(ratings, split, cold="keep"):
    """train/test are exactly the source rows they claim, disjoint, covering all (keep)."""
    train, test = split
    assert isinstance(split, Split) and split.train is train and split.test is test
    rows = np.concatenate([split.train_rows, split.test_rows])
    assert np.unique(rows).size == rows.size, "a row is in both train and test"
    if cold == "keep":
        assert split.n_dropped == 0
        np.testing.assert_array_equal(np.sort(rows), np.arange(len(ratings)))
    else:
        assert len(train) + len(test) + split.n_dropped == len(ratings)
    for side, idx in ((train, split.train_rows), (test, split.test_rows)):
        assert side.user_map is ratings.user_map and side.item_map is ratings.item_map
        assert np.all(np.diff(idx) > 0), "rows keep their source order"
        np.testing.assert_array_equal(side.users, ratings.users[idx])
        np.testing.assert_array_equal(side.items, ratings.items[idx])
        np.testing.assert_array_equal(side.values, ratings.values[idx])
        if ratings.timestamps is not None:
            np.testing.assert_array_equal(side.timestamps, ratings.timestamps[idx])


def brute_cold(ratings, train_rows, test_rows):
    """(cold users rows, cold items rows, cold rows) by plain Python sets."""
    tu = {int(ratings.users[r]) for r in train_rows}
    ti = {int(ratings.items[r]) for r in train_rows}
    cu = [int(ratings.users[r]) not in tu for r in test_rows]
    ci = [int(ratings.items[r]) not in ti for r in test_rows]
    return sum(cu), sum(ci), sum(a or b for a, b in zip(cu, ci))


# --------------------------------------------------------------------------------------
# cold rows on a hand-made table

#            row: 0  1  2  3   4   5   6
HAND_USERS = [0, 0, 1, 0, 1, 2, 2]
HAND_ITEMS = [0, 1, 0, 2, 1, 0, 3]
HAND_TIMES = [1, 2, 3, 10, 11, 12, 13]
# at=10 tests rows 3..6. Train users {0, 1}, items {0, 1}: row 3 has a cold item (2),
# row 4 is warm, row 5 a cold user (2), row 6 a cold user and a cold item (3).


def test_cold_rows_are_counted_on_a_known_example():
    r = make(HAND_USERS, HAND_ITEMS, HAND_TIMES)
    s = time_split(r, at=10)
    np.testing.assert_array_equal(s.test_rows, [3, 4, 5, 6])
    assert (s.n_cold_users_rows, s.n_cold_items_rows, s.n_cold_rows) == (2, 2, 3)
    assert s.n_dropped == 0 and len(s.test) == 4


def test_cold_drop_removes_exactly_the_cold_rows():
    r = make(HAND_USERS, HAND_ITEMS, HAND_TIMES)
    s = time_split(r, at=10, cold="drop")
    np.testing.assert_array_equal(s.test_rows, [4])
    np.testing.assert_array_equal(s.train_rows, [0, 1, 2])
    assert s.n_dropped == 3
    assert (s.n_cold_users_rows, s.n_cold_items_rows, s.n_cold_rows) == (2, 2, 3)
    check_partition(r, s, cold="drop")


def test_split_unpacks_is_read_only_and_pickles():
    r = make(HAND_USERS, HAND_ITEMS, HAND_TIMES)
    s = time_split(r, at=10)
    train, test = s
    assert len(s) == 2 and train is s[0] and test is s[1]
    with pytest.raises(AttributeError):
        s.n_dropped = 5
    with pytest.raises(AttributeError):
        s.brand_new = 1
    with pytest.raises(ValueError):
        s.test_rows[0] = 99
    back = pickle.loads(pickle.dumps(s))
    assert isinstance(back, Split) and back.n_cold_rows == 3
    assert back.train.equals(train) and back.test.equals(test)
    np.testing.assert_array_equal(back.test_rows, s.test_rows)
    assert "cold rows=3" in repr(s)


# --------------------------------------------------------------------------------------
# holdout

@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.5, 0.9])
def test_holdout_partitions_and_honours_the_fraction(medium, test_size):
    s = holdout(medium, test_size, random_state=3)
    check_partition(medium, s)
    assert len(s.test) == int(np.floor(test_size * len(medium) + 0.5))


def test_holdout_same_seed_same_split_other_seed_other_split(medium):
    a = holdout(medium, random_state=5)
    b = holdout(medium, random_state=5)
    c = holdout(medium, random_state=6)
    np.testing.assert_array_equal(a.test_rows, b.test_rows)
    assert not np.array_equal(a.test_rows, c.test_rows)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(holdout(medium, random_state=g1).test_rows,
                                  holdout(medium, random_state=g2).test_rows)


def test_holdout_cold_counts_match_brute_force_and_drop(medium):
    keep = holdout(medium, 0.9, random_state=1)
    assert (keep.n_cold_users_rows, keep.n_cold_items_rows, keep.n_cold_rows) == \
        brute_cold(medium, keep.train_rows, keep.test_rows)
    # 200 users with ~15 ratings each: holding out 90%, some users lose them all
    assert keep.n_cold_users_rows > 0
    drop = holdout(medium, 0.9, random_state=1, cold="drop")
    check_partition(medium, drop, cold="drop")
    np.testing.assert_array_equal(drop.train_rows, keep.train_rows)
    assert drop.n_dropped == keep.n_cold_rows
    assert len(drop.test) == len(keep.test) - keep.n_cold_rows
    assert brute_cold(medium, drop.train_rows, drop.test_rows) == (0, 0, 0)


def test_holdout_of_an_empty_table():
    s = holdout(make([], [], n_users=3, n_items=2), random_state=0)
    assert len(s.train) == len(s.test) == 0 and s.n_cold_rows == 0


# --------------------------------------------------------------------------------------
# k_fold

def test_k_fold_covers_every_row_once_with_balanced_folds(medium):
    folds = k_fold(medium, 7, random_state=0)
    assert isinstance(folds, KFold) and len(folds) == 7
    tests = []
    for s in folds:
        check_partition(medium, s)
        tests.append(s.test_rows)
    sizes = [t.size for t in tests]
    assert max(sizes) - min(sizes) <= 1
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(medium)))
    np.testing.assert_array_equal(folds.fold_sizes, sizes)
    for i, t in enumerate(tests):
        np.testing.assert_array_equal(np.flatnonzero(folds.folds == i), t)


def test_k_fold_is_reusable_indexable_and_repeatable(medium):
    folds = k_fold(medium, 4, random_state=np.random.default_rng(2))
    first = [s.test_rows for s in folds]
    second = [s.test_rows for s in folds]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(folds[-1].test_rows, first[3])
    assert [s.test_rows.size for s in folds[1:3]] == [first[1].size, first[2].size]
    with pytest.raises(IndexError):
        folds[4]
    with pytest.raises(TypeError):
        folds["0"]
    again = k_fold(medium, 4, random_state=np.random.default_rng(2))
    np.testing.assert_array_equal(again.folds, folds.folds)
    other = k_fold(medium, 4, random_state=3)
    assert not np.array_equal(other.folds, folds.folds)
    with pytest.raises(ValueError):
        folds.folds[0] = 1


def test_k_fold_drop_policy_applies_to_each_fold(medium):
    for s in k_fold(medium, 3, random_state=0, cold="drop"):
        check_partition(medium, s, cold="drop")
        assert brute_cold(medium, s.train_rows, s.test_rows) == (0, 0, 0)


def test_k_fold_with_more_folds_than_rows_is_an_error():
    with pytest.raises(ValueError, match=r"k must be at most the number of ratings \(3\), got 4"):
        k_fold(make([0, 1, 2], [0, 0, 0]), 4)


# --------------------------------------------------------------------------------------
# user_holdout

def per_user_counts(ratings, rows):
    return np.bincount(ratings.users[rows], minlength=ratings.n_users)


def test_user_holdout_fraction_rounds_with_at_least_one_and_min_train():
    counts = [1, 2, 3, 5, 10]
    users = np.repeat(np.arange(5), counts)
    r = make(users, np.arange(users.size))
    s = user_holdout(r, 0.2, random_state=0)
    check_partition(r, s)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [0, 1, 1, 1, 2])
    s = user_holdout(r, 0.5, random_state=0)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [0, 1, 2, 3, 5])
    s = user_holdout(r, 0.5, min_train=3, random_state=0)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [0, 0, 0, 2, 5])
    s = user_holdout(r, 0.2, min_train=0, random_state=0)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [1, 1, 1, 1, 2])
    assert s.n_cold_users_rows == 1  # user 0's only rating went to test


def test_user_holdout_n_test_is_exact_and_skips_small_users():
    counts = [1, 2, 3, 5, 10]
    users = np.repeat(np.arange(5), counts)
    r = make(users, np.arange(users.size))
    s = user_holdout(r, n_test=2, random_state=0)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [0, 0, 2, 2, 2])
    s = user_holdout(r, n_test=2, min_train=3, random_state=0)
    np.testing.assert_array_equal(per_user_counts(r, s.test_rows), [0, 0, 0, 2, 2])


def test_user_holdout_by_time_takes_each_users_latest(medium):
    s = user_holdout(medium, n_test=3, by_time=True)
    check_partition(medium, s)
    users, ts = medium.users, medium.timestamps
    expected = []
    for u in range(medium.n_users):
        rows = np.flatnonzero(users == u)
        if rows.size >= 4:
            # latest by timestamp; among equal timestamps the later row is later
            latest = sorted(rows, key=lambda k: (ts[k], k))[-3:]
            expected.extend(latest)
    np.testing.assert_array_equal(s.test_rows, np.sort(expected))
    # by_time ignores the seed
    np.testing.assert_array_equal(
        user_holdout(medium, n_test=3, by_time=True, random_state=9).test_rows, s.test_rows)


def test_user_holdout_by_time_with_wide_timestamps():
    # a range beyond 32 bits takes the two-sort path; same answer
    r = make([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [2**40, -5, 2**40, 7, 3])
    s = user_holdout(r, n_test=1, by_time=True)
    np.testing.assert_array_equal(s.test_rows, [2, 3])


def test_user_holdout_random_is_repeatable_and_varies_with_seed(medium):
    a = user_holdout(medium, random_state=1)
    b = user_holdout(medium, random_state=1)
    c = user_holdout(medium, random_state=2)
    np.testing.assert_array_equal(a.test_rows, b.test_rows)
    assert not np.array_equal(a.test_rows, c.test_rows)
    np.testing.assert_array_equal(per_user_counts(medium, a.test_rows),
                                  per_user_counts(medium, c.test_rows))


def test_user_holdout_by_time_needs_timestamps():
    with pytest.raises(DataError, match="by_time=True.*needs timestamps"):
        user_holdout(make([0, 0], [0, 1]), by_time=True)


# --------------------------------------------------------------------------------------
# time_split

def test_time_split_at_is_inclusive_for_test():
    r = make([0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [5, 10, 10, 11, 4])
    s = time_split(r, at=10)
    check_partition(r, s)
    np.testing.assert_array_equal(s.test_rows, [1, 2, 3])
    np.testing.assert_array_equal(time_split(r, at=10.5).test_rows, [3])
    assert len(time_split(r, at=100).test) == 0
    assert len(time_split(r, at=0).train) == 0


def test_time_split_at_accepts_dates_as_epoch_seconds():
    day = 86_400
    r = make([0, 0, 1], [0, 1, 0], [0, day - 1, day])
    for at in ("1970-01-02", np.datetime64("1970-01-02"),
               __import__("datetime").datetime(1970, 1, 2),
               __import__("pandas").Timestamp("1970-01-02T01:00:00+01:00")):
        np.testing.assert_array_equal(time_split(r, at=at).test_rows, [2])


def test_time_split_test_size_takes_the_latest_rows_ties_by_row_order():
    r = make([0, 1, 2, 3, 4], [0, 0, 0, 0, 0], [1, 2, 2, 2, 3])
    s = time_split(r, test_size=0.4)
    np.testing.assert_array_equal(s.test_rows, [3, 4])
    s = time_split(r, test_size=0.8)
    np.testing.assert_array_equal(s.test_rows, [1, 2, 3, 4])
    assert len(time_split(r, test_size=0.05).test) == 0


def test_time_split_test_size_on_a_larger_table(medium):
    s = time_split(medium, test_size=0.3)
    check_partition(medium, s)
    assert len(s.test) == 900
    assert medium.timestamps[s.train_rows].max() <= medium.timestamps[s.test_rows].min()


def test_time_split_argument_rules():
    r = make([0, 1], [0, 0], [1, 2])
    with pytest.raises(ValueError, match="exactly one of at= or test_size="):
        time_split(r)
    with pytest.raises(ValueError, match="exactly one of at= or test_size="):
        time_split(r, at=1, test_size=0.5)
    with pytest.raises(ValueError, match="at must be a number or a date/time, got 'soon'"):
        time_split(r, at="soon")
    with pytest.raises(ValueError, match="at must be a finite number"):
        time_split(r, at=float("nan"))
    with pytest.raises(DataError, match="time_split needs timestamps"):
        time_split(make([0], [0]), at=1)


# --------------------------------------------------------------------------------------
# argument checking: one bad value per case

TINY = make([0, 0, 1, 1], [0, 1, 0, 1], [1, 2, 3, 4])


@pytest.mark.parametrize("call, match", [
    (lambda: holdout(TINY, 1.5), r"test_size must be in \(0, 1\), got 1.5"),
    (lambda: holdout(TINY, 0), r"test_size must be in \(0, 1\), got 0"),
    (lambda: holdout(TINY, 1.0), r"test_size must be in \(0, 1\), got 1.0"),
    (lambda: holdout(TINY, True), r"test_size must be in \(0, 1\), got True"),
    (lambda: holdout(TINY, "0.2"), r"test_size must be in \(0, 1\), got '0.2'"),
    (lambda: holdout(TINY, cold="skip"), r"cold must be one of \('keep', 'drop'\), got 'skip'"),
    (lambda: holdout(TINY, random_state=1.5), r"random_state must be None, a non-negative "
                                              r"int or a numpy.random.Generator, got 1.5"),
    (lambda: holdout(TINY, random_state=-1), "random_state must be a non-negative int, got -1"),
    (lambda: k_fold(TINY, 1), "k must be an int >= 2, got 1"),
    (lambda: k_fold(TINY, 2.0), "k must be an int >= 2, got 2.0"),
    (lambda: user_holdout(TINY, n_test=0), "n_test must be None or an int >= 1, got 0"),
    (lambda: user_holdout(TINY, min_train=-1), "min_train must be an int >= 0, got -1"),
    (lambda: user_holdout(TINY, by_time="yes"), "by_time must be True or False, got 'yes'"),
    (lambda: user_holdout(TINY, -0.1), r"test_size must be in \(0, 1\), got -0.1"),
    (lambda: time_split(TINY, test_size=2), r"test_size must be in \(0, 1\), got 2"),
    (lambda: time_split(TINY, at=3, cold=None), r"cold must be one of .*, got None"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_non_ratings_table_is_a_type_error():
    with pytest.raises(TypeError, match="ratings must be a latentrec Ratings, got list"):
        holdout([(0, 0, 1.0)])


def test_check_random_state():
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    assert isinstance(check_random_state(None), np.random.Generator)
    assert check_random_state(7).random() == check_random_state(np.int64(7)).random()
    assert check_random_state(np.random.SeedSequence(3)).random() == \
        np.random.default_rng(3).random()
    with pytest.raises(ValueError, match="random_state must be None"):
        check_random_state(np.random.RandomState(0))
    with pytest.raises(ValueError, match="seed must be None"):
        check_random_state(True, name="seed")


# --------------------------------------------------------------------------------------
# properties on random small tables

@st.composite
def tables(draw, with_time=True):
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 6))
    n = draw(st.integers(0, 30))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n))
    ts = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)) if with_time else None
    return make(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64),
                None if ts is None else np.array(ts, dtype=np.int64),
                n_users=n_users, n_items=n_items)


def split_calls(r, seed):
    """One call of each split kind that this table allows, as (name, fn(cold))."""
    calls = [("holdout", lambda c: holdout(r, 0.3, random_state=seed, cold=c)),
             ("user_holdout", lambda c: user_holdout(r, 0.4, random_state=seed, cold=c)),
             ("user_holdout n_test", lambda c: user_holdout(r, n_test=1, min_train=0,
                                                            random_state=seed, cold=c)),
             ("user_holdout by_time", lambda c: user_holdout(r, by_time=True, cold=c)),
             ("time_split at", lambda c: time_split(r, at=3, cold=c))]
    if len(r):
        calls.append(("time_split size", lambda c: time_split(r, test_size=0.5, cold=c)))
    if len(r) >= 3:
        calls += [(f"k_fold {i}", lambda c, i=i: k_fold(r, 3, random_state=seed, cold=c)[i])
                  for i in range(3)]
    return calls


@settings(max_examples=60, deadline=None)
@given(r=tables(), seed=st.integers(0, 2**32 - 1))
def test_every_split_partitions_and_counts_cold_rows(r, seed):
    for name, call in split_calls(r, seed):
        keep, drop = call("keep"), call("drop")
        check_partition(r, keep)
        check_partition(r, drop, cold="drop")
        assert (keep.n_cold_users_rows, keep.n_cold_items_rows, keep.n_cold_rows) == \
            brute_cold(r, keep.train_rows, keep.test_rows), name
        # dropping removes exactly the cold rows from the same test set
        np.testing.assert_array_equal(drop.train_rows, keep.train_rows)
        assert drop.n_dropped == keep.n_cold_rows
        assert brute_cold(r, drop.train_rows, drop.test_rows) == (0, 0, 0)
        assert set(drop.test_rows) <= set(keep.test_rows)


@settings(max_examples=60, deadline=None)
@given(r=tables(), test_size=st.floats(0.01, 0.99), min_train=st.integers(0, 3),
       seed=st.integers(0, 2**32 - 1))
def test_user_holdout_per_user_counts_follow_the_rule(r, test_size, min_train, seed):
    s = user_holdout(r, test_size, min_train=min_train, random_state=seed)
    counts = np.bincount(r.users, minlength=r.n_users)
    got = per_user_counts(r, s.test_rows)
    for c, g in zip(counts, got):
        if c <= min_train:
            assert g == 0
        else:
            want = max(1, int(np.floor(c * test_size + 0.5)))
            assert g == min(want, c - min_train)


def test_cold_start_split_holds_out_whole_users_and_items():
    from latentrec.data import cold_start_split, synthetic

    r = synthetic(200, 100, 5000, random_state=0)
    train, test = split = cold_start_split(r, 0.1, 0.2, random_state=3)
    assert train.n_ratings + test.n_ratings == r.n_ratings
    assert split.n_cold_rows == test.n_ratings > 0  # every test row is cold
    users, items = set(train.users), set(train.items)
    held_u = set(test.users) - users
    held_i = set(test.items) - items
    assert all(u in held_u or i in held_i for u, i in zip(test.users, test.items))
    assert len(held_u) <= 20 and len(held_i) <= 20
    again = cold_start_split(r, 0.1, 0.2, random_state=3)
    assert again.train.equals(train)
    from latentrec.errors import ParameterError

    with pytest.raises(ParameterError, match=r"user_size must be in \(0, 1\), got 1.5"):
        cold_start_split(r, 1.5)
    with pytest.raises(ParameterError, match=r"item_size must be in \(0, 1\), got 0"):
        cold_start_split(r, 0.1, 0)

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from latentrec import DataError, IdMap, Ratings, UnknownIdError
from latentrec.data.idmap import is_canonical_int


def test_int_map_both_directions():
    m = IdMap([10, 3, 7], name="user")
    assert m.kind == "int" and len(m) == 3
    assert m.to_index(7) == 2
    assert m.to_id(0) == 10 and isinstance(m.to_id(0), int)
    np.testing.assert_array_equal(m.to_ids([2, 1]), [7, 3])


def test_int_map_accepts_canonical_decimal_strings_only():
    m = IdMap([7, 42, -3])
    assert m.to_index("42") == 1
    assert m.to_index("-3") == 2
    for text in ["042", "+42", "42.0", " 42", "4 2", ""]:
        assert text not in m
    with pytest.raises(UnknownIdError, match="'042'"):
        m.to_index("042")


def test_str_map_keeps_leading_zeros_and_matches_ints_by_their_canonical_text():
    m = IdMap(["007", "7", "a"], name="item")
    assert m.kind == "str"
    assert m.to_index("007") == 0 and m.to_index("7") == 1
    assert m.to_index(7) == 1 and m.to_index(np.int64(7)) == 1  # "7", never "007"
    assert 8 not in m and True not in m and 7.0 not in m


def test_unknown_policy_missing_gives_minus_one_and_error_names_the_id():
    m = IdMap(["a", "b"], name="item")
    np.testing.assert_array_equal(m.to_indices(["b", "zz", "a"], unknown="missing"), [1, -1, 0])
    with pytest.raises(UnknownIdError, match="unknown item id 'zz'"):
        m.to_indices(["b", "zz"])
    with pytest.raises(ValueError, match="unknown must be one of"):
        m.to_indices(["a"], unknown="skip")


def test_duplicate_ids_rejected():
    with pytest.raises(DataError, match="'x' appears more than once"):
        IdMap(["x", "y", "x"])


def test_mixed_ids_rejected():
    with pytest.raises(DataError, match="all integers or all strings"):
        IdMap.from_values(np.array([1, "a"], dtype=object))


def test_from_values_sorted_codes():
    m, codes = IdMap.from_values(np.array(["b", "a", "b", "c"], dtype=object))
    assert list(m.ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(codes, [1, 0, 1, 2])
    assert codes.dtype == np.int32


def test_from_values_integral_floats_become_ints_and_nan_is_an_error():
    m, _ = IdMap.from_values(np.array([3.0, 1.0]))
    assert m.kind == "int" and list(m.ids) == [1, 3]
    with pytest.raises(DataError, match="not an integer"):
        IdMap.from_values(np.array([1.0, np.nan]))


def test_extend_appends_new_ids_in_order():
    m = IdMap([5, 9])
    m2 = m.extend(["9", 11, 2])
    assert list(m2.ids) == [5, 9, 11, 2]
    assert m2.to_index(2) == 3 and m.to_index(9) == 1
    assert m.extend([5]) is m


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_canonical_int_round_trip(n):
    assert is_canonical_int(str(n))
    assert not is_canonical_int("0" + str(abs(n)))
    assert IdMap([n]).to_index(str(n)) == 0


@pytest.mark.parametrize("raw, expected", [
    ("42", 42), (42, 42), (np.int64(42), 42), ("-3", -3),
    ("042", "042"), ("+42", "+42"), ("42.0", "42.0"), ("x", "x"), (True, True),
    (42.0, 42), (np.float32(-3.0), -3), (42.5, 42.5),  # a whole float is its int
])
def test_coerce_on_an_int_map_turns_canonical_text_into_ints(raw, expected):
    coerced = IdMap([7, 42, -3]).coerce(raw)
    assert coerced == expected and type(coerced) is type(expected)


@pytest.mark.parametrize("raw, expected", [("007", "007"), ("7", "7"), (7, "7")])
def test_coerce_on_a_str_map_takes_the_text(raw, expected):
    assert IdMap(["007", "7", "a"]).coerce(raw) == expected


def test_lookup_finds_ids_given_as_text_or_as_themselves():
    ints = IdMap([7, 42, -3], name="item")
    assert [ints.lookup(x) for x in ("42", 42, np.int64(-3), "7")] == [1, 1, 2, 0]
    assert [ints.lookup(x) for x in ("042", "x", True, 2**70, 5)] == [-1] * 5
    strs = IdMap(["007", "7", "a"], name="user")
    assert [strs.lookup(x) for x in ("007", "7", 7, "a", "b")] == [0, 1, 1, 2, -1]


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_lookup_agrees_with_to_indices(n):
    m = IdMap([n, n // 2 - 1]) if n // 2 - 1 != n else IdMap([n])
    for raw in (n, str(n), "0" + str(abs(n))):
        assert m.lookup(raw) == m.to_indices([m.coerce(raw)], unknown="missing")[0]


@pytest.mark.parametrize("ids", [np.array([2**63, 3], np.uint64),
                                 np.array([3, 2**64 - 1], np.uint64),
                                 np.array([1e19, 3.0]), np.array([3.0, -9.3e18])])
def test_ids_beyond_int64_are_refused_not_wrapped(ids):
    with pytest.raises(DataError, match=r"^user id .* is beyond the 64-bit integer range; "
                       "give such ids as text$"):
        Ratings.from_arrays(ids, [1, 2], [3.0, 4.0])


def test_the_int64_extremes_are_ids_like_any_other():
    r = Ratings.from_arrays(np.array([2**63 - 1, 0], np.uint64), [1, 2], [3.0, 4.0])
    assert r.user_map.ids.tolist() == [0, 2**63 - 1]
    r = Ratings.from_arrays(np.array([-(2**63), 0]), [1, 2], [3.0, 4.0])
    assert r.user_map.to_index(-(2**63)) == 0


def test_an_int_map_finds_whole_floats_as_a_table_read_them():
    # a pandas column of ids with a missing value is float: fit read 1.0 as id 1, and then
    # recommend(1.0) was an unknown id and predict fell back in silence
    ints = IdMap([7, 42, -3], name="item")
    np.testing.assert_array_equal(
        ints.to_indices(np.array([42.0, 7.0, 7.5, np.nan, np.inf, 1e30]), unknown="missing"),
        [1, 0, -1, -1, -1, -1])
    assert ints.lookup(42.0) == 1 and ints.lookup("42.0") == -1

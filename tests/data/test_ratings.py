import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from latentrec import DataError, Ratings
from latentrec.data.ratings import DuplicateRatingsWarning

NOTEBOOK_R = [[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4], [2, 1, 3, 0]]


def test_dense_notebook_matrix_gives_its_16_known_ratings():
    r = Ratings.from_dense(NOTEBOOK_R)
    assert (r.n_users, r.n_items, r.n_ratings) == (6, 4, 16)
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.values.dtype == np.float32
    np.testing.assert_array_equal(r.to_dense(), np.array(NOTEBOOK_R, dtype=np.float32))


def test_dense_with_nan_as_missing_keeps_zero_ratings():
    R = np.array([[0.0, np.nan], [np.nan, -2.5]])
    r = Ratings.from_dense(R, missing=np.nan)
    assert r.n_ratings == 2
    assert sorted(r.values.tolist()) == [-2.5, 0.0]


def test_dense_nan_when_zero_is_missing_names_the_cell():
    with pytest.raises(DataError, match="row 1, column 0"):
        Ratings.from_dense([[1, 0], [np.nan, 2]])


def test_dense_keeps_empty_rows_and_columns():
    r = Ratings.from_dense([[0, 0, 0], [0, 4, 0]])
    assert (r.n_users, r.n_items) == (2, 3)


def test_from_dense_keeps_a_dataframes_labels_as_ids():
    table = pd.DataFrame({"user": [7, 7, 9, 4], "item": ["b", "a", "b", "c"],
                          "rating": [5.0, 3.0, 4.0, 2.0]}).pivot(index="user", columns="item",
                                                                 values="rating")
    r = Ratings.from_dense(table, missing=np.nan)
    assert r.user_map.ids.tolist() == [4, 7, 9] and r.item_map.ids.tolist() == ["a", "b", "c"]
    got = {(r.user_map.to_id(u), r.item_map.to_id(i)): v
           for u, i, v in zip(r.users, r.items, r.values)}
    assert got == {(7, "b"): 5.0, (7, "a"): 3.0, (9, "b"): 4.0, (4, "c"): 2.0}
    with pytest.raises(DataError, match="user ids must be unique; 7 appears more than once"):
        Ratings.from_dense(pd.DataFrame([[1.0], [2.0]], index=[7, 7]))


def test_from_dense_reads_labels_as_a_column_of_ids_is_read():
    ratings = pd.DataFrame({"user": [2.0, 2.0, 1.0], "item": [10, 20, 10],
                            "rating": [5.0, 3.0, 4.0]})
    r = Ratings.from_dense(ratings.pivot_table(index="user", columns="item",
                                               values="rating"), missing=np.nan)
    assert r.user_map.ids.tolist() == [1, 2] and r.user_map.kind == "int"  # were floats
    objects = pd.DataFrame([[1.0, 0.0]], index=pd.Index([5], dtype=object),
                           columns=pd.Index([7, 8], dtype=object))
    r = Ratings.from_dense(objects)
    assert (r.user_map.ids.tolist(), r.item_map.ids.tolist()) == ([5], [7, 8])
    with pytest.raises(DataError, match=r"^the table's item labels have 2 levels \(the first "
                       r"is rating / 10\): pivot with values='rating' to give one$"):
        Ratings.from_dense(ratings.pivot_table(index="user", columns="item"))


def test_dataframe_round_trip_string_ids_and_timestamps():
    df = pd.DataFrame({"u": ["x", "007", "x"], "i": ["a", "b", "b"],
                       "r": [1.5, 2.0, 5.0], "t": [3, 1, 2]})
    r = Ratings.from_dataframe(df, user="u", item="i", rating="r", timestamp="t")
    back = r.to_dataframe()
    assert list(back.columns) == ["user", "item", "rating", "timestamp"]
    assert back["user"].tolist() == ["x", "007", "x"]
    assert back["rating"].tolist() == [1.5, 2.0, 5.0]
    assert back["timestamp"].tolist() == [3, 1, 2]
    assert Ratings.from_dataframe(back, timestamp="timestamp").equals(r)


def test_dataframe_without_rating_column_is_implicit():
    r = Ratings.from_dataframe(pd.DataFrame({"user": [1, 2], "item": [3, 3]}))
    assert r.values.tolist() == [1.0, 1.0]


def test_dataframe_missing_column_lists_columns():
    with pytest.raises(DataError, match=r"no item column 'movie'; columns are \['user', 'item'\]"):
        Ratings.from_dataframe(pd.DataFrame({"user": [1], "item": [2]}), item="movie")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rating_rejected(bad):
    with pytest.raises(DataError, match="not a finite number"):
        Ratings.from_arrays([1, 2], [1, 2], [3.0, bad])


def test_non_numeric_rating_rejected_with_value():
    with pytest.raises(DataError, match="'five'"):
        Ratings.from_arrays([1, 2], [1, 2], np.array([3, "five"], dtype=object))


def test_sparse_round_trip():
    X = sp.random(30, 20, density=0.2, random_state=0, format="csr", dtype=np.float32)
    r = Ratings.from_sparse(X)
    assert (r.n_users, r.n_items, r.n_ratings) == (30, 20, X.nnz)
    assert (r.to_csr() != X).nnz == 0
    np.testing.assert_array_equal(r.to_csc().toarray(), X.toarray())


def test_to_dense_cap_is_configurable():
    r = Ratings.from_arrays([0, 1], [0, 2], [1, 2])
    with pytest.raises(DataError, match="2 x 2 matrix has 4 cells, above the cap of 3"):
        r.to_dense(max_cells=3)
    assert r.to_dense(max_cells=4).shape == (2, 2)


def test_summary():
    s = Ratings.from_dense(NOTEBOOK_R).summary()
    assert (s.n_users, s.n_items, s.n_ratings) == (6, 4, 16)
    assert s.density == pytest.approx(16 / 24)
    assert (s.min_rating, s.max_rating) == (1.0, 5.0)
    assert s.distinct_values == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert s.mean_rating == pytest.approx(np.mean([v for row in NOTEBOOK_R for v in row if v]))
    assert "16 ratings from 6 users on 4 items" in str(s)


def test_arrays_are_read_only():
    r = Ratings.from_dense(NOTEBOOK_R)
    with pytest.raises(ValueError):
        r.values[0] = 1


def test_subset_shares_maps():
    r = Ratings.from_arrays(["a", "b", "c"], [1, 2, 3], [1, 2, 3])
    s = r.subset([2, 0])
    assert s.user_map is r.user_map and s.n_users == 3
    assert s.to_dataframe()["user"].tolist() == ["c", "a"]


# duplicates ----------------------------------------------------------------------------
def _dups(policy, with_ts=True):
    ts = [30, 10, 20, 5] if with_ts else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = Ratings.from_arrays(["u", "u", "u", "v"], ["i", "i", "i", "i"], [1, 2, 3, 4],
                                ts, duplicates=policy)
    return r, caught


def test_duplicates_last_by_timestamp():
    r, caught = _dups("last")
    df = r.to_dataframe()
    assert df.loc[df.user == "u", "rating"].tolist() == [1.0]  # timestamp 30 is the latest
    assert r.n_duplicates_resolved == 2
    assert any(issubclass(w.category, DuplicateRatingsWarning) and "2 repeated" in str(w.message)
               for w in caught)


def test_duplicates_last_by_file_order_without_timestamps():
    r, _ = _dups("last", with_ts=False)
    assert r.to_dataframe().rating.tolist() == [3.0, 4.0]


def test_duplicates_last_ties_in_timestamp_broken_by_file_order():
    with pytest.warns(DuplicateRatingsWarning):
        r = Ratings.from_arrays([1, 1], [2, 2], [1, 5], [7, 7])
    assert r.values.tolist() == [5.0]


def test_duplicates_mean():
    r, _ = _dups("mean")
    df = r.to_dataframe()
    assert df.rating.tolist() == [2.0, 4.0] and df.timestamp.tolist() == [30, 5]


def test_duplicates_error_names_the_policy():
    with pytest.raises(DataError, match="rated more than once") as info:
        _dups("error")
    assert info.value.row == 1


def test_bad_duplicates_policy():
    with pytest.raises(ValueError, match="duplicates must be one of"):
        _dups("first")


def test_a_loaded_data_set_given_for_ratings_is_refused_with_the_way_to_its_ratings():
    from latentrec import BiasBaseline, datasets

    with pytest.raises(DataError, match=r"^ratings must be a Ratings or a DataFrame, got "
                       r"Dataset \(a loaded data set: pass its \.ratings\)$"):
        BiasBaseline().fit(datasets.load("ml-100k"))

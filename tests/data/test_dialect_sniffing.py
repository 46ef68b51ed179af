"""Sniffing a text file's layout: the separator a person would see, and a header only where
the first line names the columns. A file is read right or refused with its line named,
never read as something else."""

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentrec import DataError, read_ratings

SNIFF = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def put(folder, name, text) -> Path:
    path = Path(folder) / name
    path.write_bytes(text.encode())
    return path


def rows(r):
    return [tuple(x) for x in r.to_dataframe().itertuples(index=False)]


def outcome(path, **kwargs):
    """The rows read, or the DataError's message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rows(read_ratings(path, **kwargs))
    except DataError as err:
        return str(err)


# ids no column is named by ("u7", "i12"): no alias, no number
USER = st.one_of(st.integers(1, 99).map(str), st.integers(1, 99).map("u{}".format))
ITEM = st.one_of(st.integers(1, 999).map(str), st.integers(1, 999).map("i{}".format))
DECIMAL_COMMA = st.builds("{},{}".format, st.integers(0, 9), st.integers(0, 99))


@st.composite
def decimal_comma_rows(draw):
    """2-6 rows (user, item, rating with a decimal comma[, epoch seconds])."""
    n = draw(st.integers(2, 6))
    with_ts = draw(st.booleans())
    out = []
    for _ in range(n):
        row = [draw(USER), draw(ITEM), draw(DECIMAL_COMMA)]
        out.append(row + [str(draw(st.integers(0, 2**31)))] if with_ts else row)
    return out


# --------------------------------------------------------------------------------------
# the separator
@SNIFF
@given(table=decimal_comma_rows(), sep=st.sampled_from([";", "|", " "]))
def test_decimal_commas_are_not_taken_for_the_separator(table, sep):
    """Each rating's comma is a decimal mark: the file is split at its separator, and the
    reader refuses the first rating as it does with the separator given (it was read as
    two-column implicit data, split at the commas)."""
    text = "".join(sep.join(row) + "\n" for row in table)
    with tempfile.TemporaryDirectory() as d:
        path = put(d, "eu.csv", text)
        want = f"{path}, line 1, column 2: rating is not a number (value: '{table[0][2]}')"
        assert outcome(path) == want
        assert outcome(path, sep="ws" if sep == " " else sep) == want


def test_a_ragged_line_does_not_make_decimal_commas_the_separator(tmp_path):
    """The commas split every line alike, the semicolons all but one: still not the commas."""
    path = put(tmp_path, "eu.csv", "1;10;4,0\n1;20;2,5\n2;10;3,5;9\n")
    want = f"{path}, line 1, column 2: rating is not a number (value: '4,0')"
    assert outcome(path) == outcome(path, sep=";") == want


@SNIFF
@given(titles=st.lists(st.sampled_from(["Heat", "Dune", "Birds", "Matrix"]), min_size=2,
                       max_size=6, unique=True),
       sep=st.sampled_from([";", "|"]), ratings=st.lists(st.integers(1, 5), min_size=6))
def test_commas_inside_titles_are_not_the_separator(titles, sep, ratings):
    """"1|Heat, The|5" has three columns at "|" (with the commas it read as two,
    "1|Heat" and " The|5", as implicit data)."""
    text = "".join(f"{k}{sep}{t}, The{sep}{r}\n" for k, (t, r) in enumerate(zip(titles, ratings)))
    with tempfile.TemporaryDirectory() as d:
        got = outcome(put(d, "r.txt", text))
    assert got == [(k, f"{t}, The", float(r)) for k, (t, r) in enumerate(zip(titles, ratings))]


@pytest.mark.parametrize("text, expected", [
    ("1 10 4,5\n1 20 2,5\n", "line 1, column 2: rating is not a number (value: '4,5')"),
    ("ann;Dune;4,5\nbob;Heat;3,5\n",
     "line 1, column 2: rating is not a number (value: '4,5')"),
    ("1;4,5;3,5\n2;4,5;3,5\n", "line 1, column 2: rating is not a number (value: '3,5')"),
])
def test_decimal_comma_examples(tmp_path, text, expected):
    path = put(tmp_path, "r.txt", text)
    assert outcome(path) == f"{path}, {expected}"


def test_a_comma_is_the_separator_only_where_it_separates_the_columns(tmp_path):
    """Not in a decimal number; and blanks, semicolons and bars inside comma-separated
    fields stay inside them."""
    eu = put(tmp_path, "eu.csv", "1;10;4,0\n1;20;2,5\n")
    assert outcome(eu) == f"{eu}, line 1, column 2: rating is not a number (value: '4,0')"
    for text, want in [
            ("ann lee,the big dune,5\nbob ray,the big heat,4\n",
             [("ann lee", "the big dune", 5.0), ("bob ray", "the big heat", 4.0)]),
            ('"a;b",i1,5\n"c;d",i2,4\n', [("a;b", "i1", 5.0), ("c;d", "i2", 4.0)]),
            ('"a b c d",x,5\n"e f g h",y,4\n', [("a b c d", "x", 5.0), ("e f g h", "y", 4.0)]),
            ("1,A|B|C|D,5\n2,E|F|G|H,4\n", [(1, "A|B|C|D", 5.0), (2, "E|F|G|H", 4.0)])]:
        assert outcome(put(tmp_path, "r.csv", text)) == want


def test_blanks_inside_ids_do_not_make_blanks_the_separator(tmp_path):
    """Blanks separate only with more fields and more numeric columns than the others give,
    and never over tabs; a comma with as many fields either way is no decimal mark."""
    for text, want in [
            ("u1,sku 1001\nu2,sku 1002\nu3,sku 1001\n",
             [("u1", "sku 1001", 1.0), ("u2", "sku 1002", 1.0), ("u3", "sku 1001", 1.0)]),
            ("cust 17,305\ncust 18,306\n", [("cust 17", 305, 1.0), ("cust 18", 306, 1.0)]),
            ("smith,john 10 5\ndoe,jane 20 4\n",
             [("smith,john", 10, 5.0), ("doe,jane", 20, 4.0)]),
            ("0 0\t5\t4\n1 1\t6\t3\n", [("0 0", 5, 4.0), ("1 1", 6, 3.0)])]:
        assert outcome(put(tmp_path, "r.csv", text)) == want


# --------------------------------------------------------------------------------------
# the header
ODD = st.sampled_from(["", "NA", "n/a", "null", "None", "-", "?", "nan", "inf", "4.5 stars",
                       "five"])


@st.composite
def numeric_rows(draw):
    """2-6 rows (user, item, rating[, epoch seconds]) of numbers, (user, item) distinct."""
    pairs = draw(st.lists(st.tuples(st.integers(1, 50), st.integers(1, 500)), min_size=2,
                          max_size=6, unique=True))
    with_ts = draw(st.booleans())
    return [[str(u), str(i), str(draw(st.integers(1, 5)))]
            + ([str(draw(st.integers(0, 2**31)))] if with_ts else []) for u, i in pairs]


@SNIFF
@given(table=numeric_rows(), odd=ODD, data=st.data())
def test_a_first_row_with_one_odd_value_is_data_not_a_header(table, odd, data):
    """"1,10,NA" over numeric rows is a data row with a bad value: the reader names line 1,
    as with header=False (it was dropped as a header). Below a real header, line 2."""
    col = data.draw(st.integers(2, len(table[0]) - 1))
    table[0][col] = odd
    body = "".join(",".join(row) + "\n" for row in table)
    with tempfile.TemporaryDirectory() as d:
        path = put(d, "r.csv", body)
        got = outcome(path)
        assert isinstance(got, str) and got.startswith(f"{path}, line 1, column {col}: ")
        assert got == outcome(path, header=False)
        names = ",".join(["who", "what", "how", "when"][: len(table[0])])
        headed = put(d, "h.csv", names + "\n" + body)
        assert outcome(headed) == got.replace(str(path), str(headed), 1).replace(
            f"line 1, column {col}:", f"line 2, column '{names.split(',')[col]}':", 1)


@pytest.mark.parametrize("text, expected", [
    ("1,10,\n1,20,2\n2,10,5\n", "line 1, column 2: missing rating (value: '')"),
    ("1,10,NA\n1,20,2\n2,10,5\n", "line 1, column 2: rating is not a number (value: 'NA')"),
    ("1,10,4.5 stars\n1,20,2\n",
     "line 1, column 2: rating is not a number (value: '4.5 stars')"),
    ("ann,Dune,NA\nbob,Heat,4\n", "line 1, column 2: rating is not a number (value: 'NA')"),
    ("ann,Dune,\nbob,Heat,4\n", "line 1, column 2: missing rating (value: '')"),
    ("1 10 null\n1 20 2\n", "line 1, column 2: rating is not a number (value: 'null')"),
])
def test_odd_first_rows_are_named(tmp_path, text, expected):
    path = put(tmp_path, "r.csv", text)
    assert outcome(path) == f"{path}, {expected}"


def test_a_date_in_the_first_row_over_epoch_seconds_is_data(tmp_path):
    path = put(tmp_path, "r.csv", "1,10,4,2020-01-01\n1,20,2,1577836801\n2,10,5,1577836802\n")
    assert outcome(path) == [(1, 10, 4.0, 1577836800), (1, 20, 2.0, 1577836801),
                             (2, 10, 5.0, 1577836802)]
    # headers still read as headers, beside it
    for text in ("userId,movieId,rating,timestamp\n1,10,4.5,100\n",
                 "who,what,how,when\n1,10,4.5,100\n", "user item rating ts\n1 10 4.5 100\n"):
        assert outcome(put(tmp_path, "h.csv", text)) == [(1, 10, 4.5, 100)]
    assert outcome(put(tmp_path, "s.csv", "ann,Dune,5\nbob,Heat,4\n")) == [
        ("ann", "Dune", 5.0), ("bob", "Heat", 4.0)]


@pytest.mark.parametrize("text, kwargs", [
    ("user,item,my_rating\n1,10,4\n2,10,2\n1,11,5\n", {}),
    ("u,i,r\n1,10,4\n2,10,2\n1,11,5\n", {"user": "u", "item": "i"}),
    ("user,item,timestamp,plays\n1,10,99,4\n2,10,98,2\n", {}),
])
def test_a_column_of_numbers_not_named_as_ratings_is_not_dropped_in_silence(tmp_path, text,
                                                                             kwargs):
    # it was read as implicit data: every rating 1
    path = put(tmp_path, "r.csv", text)
    with pytest.raises(DataError, match=r"cannot tell which column holds the ratings .*"
                       r"holds numbers; pass rating='\w+', or rating=False"):
        read_ratings(path, **kwargs)
    name = text.split("\n")[0].split(",")[-1]
    assert sorted(set(read_ratings(path, rating=name, **kwargs).values)) != [1.0]
    assert set(read_ratings(path, rating=False, **kwargs).values) == {1.0}


@pytest.mark.parametrize("text, kwargs", [
    ("user,item,title\n1,10,Heat\n2,10,Heat\n1,11,Up\n", {}),
    ("userId,movieId,timestamp\n1,10,99\n2,10,98\n", {"timestamp": False}),
    (",user,item\n0,1,10\n1,2,10\n", {}),  # pandas' to_csv with its index
    ("Unnamed: 0,user_id,item_id\n0,1,10\n1,2,10\n", {}),
    ("user_id,item_id,unix_time\n1,10,99\n2,10,98\n", {}),
    ("user_id,item_id,event_time\n1,10,99\n2,10,98\n", {}),
    ("user_id,item_id,timestamp,session_id\n1,10,99,5\n2,10,98,6\n", {}),
    ("userId,movieId,tmdbId\n1,10,862\n2,10,8844\n", {}),
])
def test_columns_that_are_no_ratings_leave_the_data_implicit(tmp_path, text, kwargs):
    # a text column, a saved index, another id, a time: none is taken for ratings
    path = put(tmp_path, "r.csv", text)
    assert set(read_ratings(path, **kwargs).values) == {1.0}


def test_parquet_with_an_unnamed_column_of_numbers_is_refused_too(tmp_path):
    import pandas as pd

    path = tmp_path / "r.parquet"
    pd.DataFrame({"user": [1, 2], "item": [10, 10], "stars_given": [4.0, 2.0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"'stars_given' holds numbers; pass "
                       r"rating='stars_given'"):
        read_ratings(path)
    assert list(read_ratings(path, rating="stars_given").values) == [4.0, 2.0]

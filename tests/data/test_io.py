import bz2
import gzip
import lzma
import os
import warnings
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from latentrec import DataError, Ratings, read_ratings, write_ratings
from latentrec.data import _fastread, _text
from latentrec.data import io as lio
from latentrec.data.ratings import DuplicateRatingsWarning
from latentrec.kernels import csv_tokens as _fastcsv

PLAIN = "user,item,rating,timestamp\n1,10,4.5,100\n2,10,3,200\n1,30,1,300\n"


def put(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def ids(r, side):
    return list((r.user_map if side == "user" else r.item_map).ids)


def rows(r):
    """(user, item, rating[, timestamp]) tuples with raw ids, in file order."""
    df = r.to_dataframe()
    return [tuple(x) for x in df.itertuples(index=False)]


def only_engine(monkeypatch, name):
    """Make read_ratings use one engine ("fast", "pyarrow", "slow"); "auto" leaves all.

    "errors" leaves pyarrow and the slow scan (bad input always ends in the slow scan).
    """
    def refuse(job):
        raise _text.Fallback

    def forbidden(job):
        raise AssertionError(f"the {name} engine should have read this file")

    if name == "auto":
        return
    if name != "fast":
        monkeypatch.setattr(_fastread, "read_fast", refuse)
    if name in ("fast", "slow"):
        monkeypatch.setattr(_text, "read_pyarrow", refuse)
    if name in ("fast", "pyarrow"):
        monkeypatch.setattr(_text, "read_slow", forbidden)


ENGINES = ["fast", "pyarrow", "slow"]


# --------------------------------------------------------------------------------------
# formats
@pytest.mark.parametrize("engine", ENGINES)
def test_plain_csv_with_header_reads_ids_values_and_timestamps(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    r = read_ratings(put(tmp_path, "r.csv", PLAIN))
    assert rows(r) == [(1, 10, 4.5, 100), (2, 10, 3.0, 200), (1, 30, 1.0, 300)]
    assert r.user_map.kind == "int" and r.item_map.kind == "int"
    assert r.users.dtype == np.int32 and r.values.dtype == np.float32
    assert r.timestamps.dtype == np.int64


@pytest.mark.parametrize("fmt", ["auto", "ml-100k"])
def test_movielens_100k_layout(tmp_path, fmt):
    path = put(tmp_path, "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
                                   "22\t377\t1\t878887116\n")
    r = read_ratings(path, format=fmt)
    assert rows(r) == [(196, 242, 3.0, 881250949), (186, 302, 3.0, 891717742),
                       (22, 377, 1.0, 878887116)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", ["auto", "ml-1m"])
def test_movielens_1m_double_colon_layout(tmp_path, monkeypatch, fmt, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                                        "2::1193::4.5::978298709\n")
    r = read_ratings(path, format=fmt)
    assert rows(r) == [(1, 1193, 5.0, 978300760), (1, 661, 3.0, 978302109),
                       (2, 1193, 4.5, 978298709)]


def test_double_colon_with_a_single_colon_inside_a_field_is_an_error(tmp_path):
    path = put(tmp_path, "ratings.dat", "1::1193::5::978300760\n1:x:661::3::978302109\n")
    with pytest.raises(DataError, match=r"line 2: expected 4 fields, found 3.*'1:x:661"):
        read_ratings(path)


@pytest.mark.parametrize("fmt", ["auto", "ml-latest"])
def test_movielens_latest_layout(tmp_path, fmt):
    path = put(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                                        "1,3,4.0,964981247\n2,6,3.5,964982224\n")
    r = read_ratings(path, format=fmt)
    assert rows(r) == [(1, 1, 4.0, 964982703), (1, 3, 4.0, 964981247), (2, 6, 3.5, 964982224)]


def test_string_ids_stay_strings(tmp_path):
    path = put(tmp_path, "r.csv", "user,item,rating\nalice,matrix,5\nbob,alien,3\n"
                                  "alice,alien,4\n")
    r = read_ratings(path)
    assert ids(r, "user") == ["alice", "bob"] and ids(r, "item") == ["alien", "matrix"]
    assert rows(r) == [("alice", "matrix", 5.0), ("bob", "alien", 3.0), ("alice", "alien", 4.0)]


def test_quoted_fields_are_unquoted(tmp_path):
    path = put(tmp_path, "r.csv", 'user,item,rating\n"smith, j",i1,5\n"o""brien",i2,"3.5"\n')
    r = read_ratings(path)
    assert rows(r) == [("smith, j", "i1", 5.0), ('o"brien', "i2", 3.5)]


# --------------------------------------------------------------------------------------
# compression
def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


COMPRESSORS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
               "zstd": _zstd}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compression_is_told_by_magic_bytes_not_the_name(tmp_path, monkeypatch, kind, engine):
    if kind == "zstd" and not pa.Codec.is_available("zstd"):
        pytest.skip("pyarrow without zstd")
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "ratings.txt", COMPRESSORS[kind](PLAIN.encode()))
    expected = read_ratings(put(tmp_path, "plain.csv", PLAIN))
    assert read_ratings(path).equals(expected)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_damaged_compressed_data_names_the_file_and_compression(tmp_path, kind):
    if kind == "zstd" and not pa.Codec.is_available("zstd"):
        pytest.skip("pyarrow without zstd")
    body = ("user,item,rating\n" + "".join(f"{k},{k % 7},3\n" for k in range(5000))).encode()
    blob = COMPRESSORS[kind](body)
    path = put(tmp_path, "cut.bin", blob[: len(blob) // 2])
    name = {"bz2": "bzip2"}.get(kind, kind)
    with pytest.raises(DataError, match=rf"cut\.bin.*{name}-compressed data"):
        read_ratings(path)


def test_zip_with_one_data_file(tmp_path):
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("inner/ratings.csv", PLAIN)
        z.writestr("__MACOSX/inner/._ratings.csv", "junk")
    assert rows(read_ratings(path))[0] == (1, 10, 4.5, 100)


def test_movielens_zip_needs_member_or_preset(tmp_path):
    path = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-100k/u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995\n")
        z.writestr("ml-100k/README", "readme\n")
    with pytest.raises(DataError, match=r"holds 3 files.*member="):
        read_ratings(path)
    expected = [(196, 242, 3.0, 881250949), (186, 302, 3.0, 891717742)]
    assert rows(read_ratings(path, member="ml-100k/u.data")) == expected
    assert rows(read_ratings(path, member="u.data")) == expected
    assert rows(read_ratings(path, format="ml-100k")) == expected
    with pytest.raises(DataError, match=r"no member named 'u.nope'.*ml-100k/u.data"):
        read_ratings(path, member="u.nope")


def test_member_for_a_file_that_is_not_a_zip(tmp_path):
    with pytest.raises(DataError, match="not a zip archive"):
        read_ratings(put(tmp_path, "r.csv", PLAIN), member="x")


def test_damaged_zip(tmp_path):
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("r.csv", "user,item,rating\n" + "".join(f"{k},1,2\n" for k in range(999)))
    blob = bytearray(path.read_bytes())
    blob[60:200] = bytes(140)
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"r\.zip.*zip-compressed data"):
        read_ratings(path)


# --------------------------------------------------------------------------------------
# separator and header detection
SEPARATORS = [",", ";", "|", "\t", "::", " "]


@pytest.mark.parametrize("engine, sep", [
    (engine, sep) for engine in ENGINES for sep in SEPARATORS
    if not (sep == " " and engine == "pyarrow")])  # blank-separated text is not pyarrow's
def test_separator_is_detected(tmp_path, monkeypatch, sep, engine):
    only_engine(monkeypatch, engine)
    text = "".join(sep.join(map(str, row)) + "\n" for row in [(1, 10, 4.5, 7), (2, 20, 3, 8)])
    expected = [(1, 10, 4.5, 7), (2, 20, 3.0, 8)]
    assert rows(read_ratings(put(tmp_path, "r.txt", text))) == expected
    padded = "".join(f"{u}{sep}{i}{sep} {r} {sep}{t} \n" for u, i, r, t in expected)
    assert rows(read_ratings(put(tmp_path, "s.txt", padded),
                             sep=sep if sep != " " else "ws")) == expected  # blanks around numbers


@pytest.mark.parametrize("engine", ["fast", "slow"])
def test_runs_of_blanks_separate_fields(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "r.txt", "  1    10\t4.5 7\n2  20   3  8  \n")
    assert rows(read_ratings(path)) == [(1, 10, 4.5, 7), (2, 20, 3.0, 8)]
    assert rows(read_ratings(path, sep="ws")) == [(1, 10, 4.5, 7), (2, 20, 3.0, 8)]


def test_sep_override(tmp_path):
    # commas inside semicolon-separated ids, the separator given
    path = put(tmp_path, "r.txt", "a,b;x,y;5\nc,d;x,y;4\n")
    r = read_ratings(path, sep=";")
    assert rows(r) == [("a,b", "x,y", 5.0), ("c,d", "x,y", 4.0)]


def test_header_detected_by_known_names_case_insensitive(tmp_path):
    r = read_ratings(put(tmp_path, "r.csv", "ItemID,UserID,Score\n10,1,4\n20,2,5\n"))
    assert rows(r) == [(1, 10, 4.0), (2, 20, 5.0)]


def test_header_detected_by_text_over_numbers(tmp_path):
    r = read_ratings(put(tmp_path, "r.csv", "who,what,how\n1,10,4\n2,20,5\n"))
    assert rows(r) == [(1, 10, 4.0), (2, 20, 5.0)]


def test_no_header_when_first_row_is_data(tmp_path):
    r = read_ratings(put(tmp_path, "r.csv", "u1,i1,4\nu2,i2,5\n"))
    assert rows(r) == [("u1", "i1", 4.0), ("u2", "i2", 5.0)]


def test_header_overrides(tmp_path):
    path = put(tmp_path, "r.csv", "alpha,beta,4\nu2,i2,5\n")
    assert rows(read_ratings(path, header=False)) == [("alpha", "beta", 4.0), ("u2", "i2", 5.0)]
    r = read_ratings(path, header=True, user="alpha", item="beta", rating=2)
    assert rows(r) == [("u2", "i2", 5.0)]
    path = put(tmp_path, "s.csv", "user,item\nu1,i1\n")
    assert rows(read_ratings(path, header=False)) == [("user", "item", 1.0), ("u1", "i1", 1.0)]


# --------------------------------------------------------------------------------------
# column mapping
def test_columns_by_name_and_by_position(tmp_path):
    path = put(tmp_path, "r.csv", "ts,score,movie_id,customer\n7,4.5,10,1\n8,3,20,2\n")
    by_name = read_ratings(path, user="customer", item="movie_id", rating="score",
                           timestamp="ts")
    by_pos = read_ratings(path, user=3, item=2, rating=1, timestamp=0)
    assert rows(by_name) == [(1, 10, 4.5, 7), (2, 20, 3.0, 8)]
    assert by_name.equals(by_pos)
    assert read_ratings(path).equals(by_name)  # the aliases find the same columns


def test_positions_without_header_and_extra_columns(tmp_path):
    path = put(tmp_path, "r.csv", "1,10,4,100,x\n2,20,5,200,y\n")
    assert rows(read_ratings(path)) == [(1, 10, 4.0, 100), (2, 20, 5.0, 200)]
    assert rows(read_ratings(path, timestamp=False)) == [(1, 10, 4.0), (2, 20, 5.0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_implicit_files(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    two = read_ratings(put(tmp_path, "two.csv", "1,10\n2,10\n2,30\n"))
    assert rows(two) == [(1, 10, 1.0), (2, 10, 1.0), (2, 30, 1.0)]
    named = read_ratings(put(tmp_path, "r.csv", "user,item,rating\n1,10,4\n2,10,5\n"),
                         rating=False)
    assert named.values.tolist() == [1.0, 1.0] and named.values.dtype == np.float32


def test_missing_named_column_lists_the_columns(tmp_path):
    path = put(tmp_path, "r.csv", "user,item,rating\n1,10,4\n")
    with pytest.raises(DataError, match=r"r\.csv.*no rating column named 'stars'.*"
                                        r"\['user', 'item', 'rating'\]"):
        read_ratings(path, rating="stars")
    with pytest.raises(DataError, match=r"position 7 does not exist.*3 columns"):
        read_ratings(path, item=7)
    with pytest.raises(DataError, match="has no header row"):
        read_ratings(put(tmp_path, "n.csv", "1,10,4\n"), user="user")


def test_header_naming_only_some_roles_asks_for_the_rest(tmp_path):
    path = put(tmp_path, "r.csv", "user,film,rating\n1,10,4\n")
    with pytest.raises(DataError, match=r"which column holds the item ids.*item="):
        read_ratings(path)
    assert rows(read_ratings(path, item="film")) == [(1, 10, 4.0)]


def test_one_column_for_two_roles_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot both be column"):
        read_ratings(put(tmp_path, "r.csv", PLAIN), user="user", item=0)


def test_bad_arguments_are_value_errors(tmp_path):
    path = put(tmp_path, "r.csv", PLAIN)
    for kwargs, message in [({"format": "xls"}, "format must be one of"),
                            ({"id_dtype": "float"}, "id_dtype must be one of"),
                            ({"duplicates": "first"}, "duplicates must be one of"),
                            ({"encoding": "klingon"}, "unknown text encoding"),
                            ({"encoding": "base64"}, "unknown text encoding .base64."),
                            ({"sep": "ab"}, "sep must be one character")]:
        with pytest.raises(ValueError, match=message):
            read_ratings(path, **kwargs)


# --------------------------------------------------------------------------------------
# id_dtype
@pytest.mark.parametrize("engine", ["auto", "pyarrow", "slow"])
def test_id_dtype_auto_keeps_non_canonical_ids_as_written(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "r.csv", "user,item,rating\n007,1,4\n7,2,5\n-3,3,1\n")
    r = read_ratings(path)
    assert r.user_map.kind == "str" and ids(r, "user") == ["-3", "007", "7"]
    assert r.item_map.kind == "int" and ids(r, "item") == [1, 2, 3]
    for text in ("+1", "1.0", "0x1", " 01"):
        path = put(tmp_path, "s.csv", f"user,item,rating\n{text},1,4\n2,2,5\n")
        assert read_ratings(path).user_map.kind == "str", text


@pytest.mark.parametrize("engine", ["auto", "pyarrow", "slow"])
def test_blanks_around_integer_ids_are_layout(tmp_path, monkeypatch, engine):
    # "1, 10, 4": the items were text, " 10", and no query by 10 found them
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "r.csv", "user, item, rating\n1, 10, 4\n 2 , 10, 2\n1, 11, 5\n")
    r = read_ratings(path)
    assert ids(r, "user") == [1, 2] and ids(r, "item") == [10, 11]
    path = put(tmp_path, "s.csv", "user,item,rating\n a ,x,4\na,x,1\n")  # text: as written
    assert ids(read_ratings(path), "user") == [" a ", "a"]


@pytest.mark.parametrize("engine", ["auto", "pyarrow", "slow"])
def test_id_dtype_str_and_int(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "r.csv", "user,item,rating\n007,10,4\n7,9,5\n")
    as_str = read_ratings(path, id_dtype="str")
    assert ids(as_str, "user") == ["007", "7"] and ids(as_str, "item") == ["10", "9"]
    as_int = read_ratings(path, id_dtype="int")
    assert ids(as_int, "user") == [7] and ids(as_int, "item") == [9, 10]
    monkeypatch.undo()  # errors always end in the slow scan, which names the line
    bad = put(tmp_path, "bad.csv", "user,item,rating\n1,10,4\n\nx9,11,5\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 4, column 'user'.*not an integer.*'x9'"):
        read_ratings(bad, id_dtype="int")


@pytest.mark.parametrize("engine", ["auto", "pyarrow", "slow"])
def test_wide_integer_ids(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    big = 2**62 + 5
    path = put(tmp_path, "r.csv", f"user,item,rating\n{big},-{big},4\n1,2,5\n")
    r = read_ratings(path)
    assert ids(r, "user") == [1, big] and ids(r, "item") == [-big, 2]
    over = put(tmp_path, "o.csv", f"user,item,rating\n{2**63},1,4\n1,2,5\n")
    assert read_ratings(over).user_map.kind == "str"


# --------------------------------------------------------------------------------------
# timestamps, line endings, encodings
@pytest.mark.parametrize("engine", ["pyarrow", "slow"])
def test_date_and_datetime_timestamps_become_unix_seconds(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "r.csv", "user,item,rating,timestamp\n1,1,4,2020-01-01\n"
                                  "1,2,4,2020-01-02\n")
    assert read_ratings(path).timestamps.tolist() == [1577836800, 1577923200]
    path = put(tmp_path, "s.csv", "user,item,rating,date\n1,1,4,2020-01-01 00:00:10\n"
                                  "1,2,4,1970-01-01T00:01:00\n")
    assert read_ratings(path).timestamps.tolist() == [1577836810, 60]


def test_mixed_date_forms_and_offsets(tmp_path):
    path = put(tmp_path, "r.csv", "user,item,rating,time\n1,1,4,2020-01-01\n"
                                  "1,2,4,2020-01-01T01:00:00+01:00\n1,3,4,978300760\n")
    assert read_ratings(path).timestamps.tolist() == [1577836800, 1577836800, 978300760]


@pytest.mark.parametrize("engine", ENGINES)
def test_windows_line_endings_bom_and_no_final_newline(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    text = b"\xef\xbb\xbfuser,item,rating\r\n1,10,4.5\r\n\r\n2,20,3"
    assert rows(read_ratings(put(tmp_path, "r.csv", text))) == [(1, 10, 4.5), (2, 20, 3.0)]


def test_latin1_encoding(tmp_path):
    path = put(tmp_path, "r.csv", "user,item,rating\nJosé,café,4\n".encode("latin-1"))
    assert rows(read_ratings(path, encoding="latin-1")) == [("José", "café", 4.0)]
    with pytest.raises(DataError, match=r"line 2.*cannot decode"):
        read_ratings(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_is_named_and_read_when_given(tmp_path, encoding):
    text = "user,item,rating\nJosé,café,4\n"
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = put(tmp_path, "r.csv", bom + text.encode(encoding))
    wide = encoding[:6]
    with pytest.raises(DataError, match=rf"r\.csv: the file is {wide.upper()} text \(it starts "
                       rf"with a {wide.upper()} byte-order mark\); pass encoding='{wide}'$"):
        read_ratings(path)
    assert rows(read_ratings(path, encoding=wide)) == [("José", "café", 4.0)]
    if bom:  # given with its byte order, the mark is still no character of the header
        assert rows(read_ratings(path, encoding=encoding)) == [("José", "café", 4.0)]


# --------------------------------------------------------------------------------------
# bad input: one DataError naming file, line, column, value
BAD = [
    ("user,item,rating\n1,10,4\n2,20\n", r"line 3: expected 3 fields, found 2.*'2,20'"),
    ("user,item,rating\n1,10,4\n2,20,5,9\n", r"line 3: expected 3 fields, found 4"),
    ("user,item,rating\n1,10,4\n\n\n2,20,x\n",
     r"line 5, column 'rating': rating is not a number \(value: 'x'\)"),
    ("user,item,rating\r\n1,10,4\r\n\r\n2,20,x\r\n", r"line 4, column 'rating'.*'x'"),
    ("user,item,rating\n1,10,NaN\n", r"line 2, column 'rating': .*not a finite.*'NaN'"),
    ("user,item,rating\n1,10,4\n1,11,-inf\n", r"line 3, column 'rating'.*finite.*'-inf'"),
    ("user,item,rating\n1,10,4\n1,11,\n", r"line 3, column 'rating': missing rating"),
    ("user,item,rating\n1,10,4\n1,11,1e40\n", r"line 3, column 'rating'.*float32.*'1e40'"),
    ("user,item,rating\n1,10,4\n,11,3\n", r"line 3, column 'user': empty user id"),
    ("1,10,4,100\n2,20,5,later\n", r"line 2, column 3: timestamp is not.*'later'"),
    ("1::10::4\n2::20::4::1\n", r"line 2: expected 3 fields, found 4"),
    ("1\t10\t4\n2\t20\tfour\n", r"line 2, column 2: rating is not a number.*'four'"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text, message", BAD)
def test_bad_input_names_line_column_and_value(tmp_path, monkeypatch, engine, text, message):
    # the first engines hand over on errors: start the chain at each engine
    only_engine(monkeypatch, {"fast": "auto", "pyarrow": "errors", "slow": "slow"}[engine])
    path = put(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=message) as info:
        read_ratings(path)
    assert str(info.value).startswith(str(path))
    assert info.value.line is not None


def test_invalid_utf8_names_the_line(tmp_path):
    path = put(tmp_path, "r.csv", b"user,item,rating\nu1,i1,4\nu\xff,i2,3\n")
    with pytest.raises(DataError, match=r"line 3.*cannot decode.*utf-8"):
        read_ratings(path)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("\n\n  \n", "the file is empty"),
    ("user,item,rating\n", "no data rows"),
    ("user,item,rating\n\n\n", "no data rows"),
])
def test_empty_files(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_ratings(put(tmp_path, "e.csv", text))


def test_missing_path_and_directory_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        read_ratings(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_ratings(tmp_path)


def test_one_column_file(tmp_path):
    with pytest.raises(DataError, match=r"r\.csv: found only one column.*user and an item"):
        read_ratings(put(tmp_path, "r.csv", "1\n2\n3\n"))


def test_parquet_given_but_text_found_and_back(tmp_path):
    with pytest.raises(DataError, match="not a Parquet file"):
        read_ratings(put(tmp_path, "r.parquet", PLAIN), format="parquet")
    p = tmp_path / "r.pq"
    pq.write_table(pa.table({"user": [1], "item": [2], "rating": [3.0]}), p)
    with pytest.raises(DataError, match="this is a Parquet file"):
        read_ratings(p, format="csv")


# --------------------------------------------------------------------------------------
# duplicates
DUPS = "user,item,rating,timestamp\n1,10,4,300\n2,10,3,100\n1,10,2,200\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicates_error_names_both_lines(tmp_path, monkeypatch, engine):
    only_engine(monkeypatch, engine)
    path = put(tmp_path, "d.csv", "user,item,rating\n1,10,4\n\n2,10,3\n1,10,2\n")
    with pytest.raises(DataError, match=r"d\.csv, line 5.*more than once \(first on line 2\)"
                                        r".*\(value: \(1, 10\)\)"):
        read_ratings(path, duplicates="error")


def test_duplicates_last_and_mean(tmp_path):
    path = put(tmp_path, "d.csv", DUPS)
    with pytest.warns(DuplicateRatingsWarning, match="1 repeated"):
        last = read_ratings(path)
    assert rows(last) == [(1, 10, 4.0, 300), (2, 10, 3.0, 100)]  # latest timestamp wins
    assert last.n_duplicates_resolved == 1
    with pytest.warns(DuplicateRatingsWarning):
        mean = read_ratings(path, duplicates="mean")
    assert rows(mean) == [(1, 10, 3.0, 300), (2, 10, 3.0, 100)]
    with pytest.warns(DuplicateRatingsWarning):
        no_ts = read_ratings(path, timestamp=False)
    assert rows(no_ts) == [(2, 10, 3.0), (1, 10, 2.0)]  # last in file order


def test_no_warning_without_duplicates(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_ratings(put(tmp_path, "r.csv", PLAIN)).n_duplicates_resolved == 0


# --------------------------------------------------------------------------------------
# Parquet
def test_parquet_reads_by_name_and_keeps_id_types(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"uid": ["007", "7", "a"], "movieId": [3, 1, 3],
                             "stars": [4.5, 2.0, 1.0], "time": [1, 2, 3]}), path)
    r = read_ratings(path)
    assert rows(r) == [("007", 3, 4.5, 1), ("7", 1, 2.0, 2), ("a", 3, 1.0, 3)]
    assert r.user_map.kind == "str" and r.item_map.kind == "int"
    r = read_ratings(path, user="movieId", item=0, rating="stars", timestamp=False,
                     id_dtype="str")
    assert ids(r, "user") == ["1", "3"] and r.timestamps is None


def test_parquet_timestamps_of_datetime_type(tmp_path):
    path = tmp_path / "r.parquet"
    when = pd.to_datetime(["2020-01-01 00:00:00", "2020-01-02 00:00:01"])
    pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3.0, 4.0],
                  "timestamp": when}).to_parquet(path)
    assert read_ratings(path).timestamps.tolist() == [1577836800, 1577923201]


@pytest.mark.parametrize("table, message", [
    ({"user": [1, 2], "item": [1, 1], "rating": [3.0, None]},
     r"row 2: missing rating"),
    ({"user": [1, 2], "item": [1, 1], "rating": [3.0, float("nan")]},
     r"column 'rating': row 2: rating is not a finite number"),
    ({"user": [1, None], "item": [1, 1], "rating": [3.0, 1.0]}, r"row 2: missing user id"),
    ({"user": [1, 2], "item": [1, 1], "rating": ["a", "b"]}, r"ratings must be numbers"),
    ({"user": [1.5, 2.0], "item": [1, 1], "rating": [1.0, 2.0]},
     r"user ids must be integers or strings"),
    ({"user": [1, 1], "item": [1, 1], "rating": [1.0, 2.0]},
     r"row 2: the same \(user, item\) pair.*first on row 1"),
])
def test_bad_parquet_names_row_and_column(tmp_path, table, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(DataError, match=message):
        read_ratings(path, duplicates="error")


def test_damaged_parquet(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user": [1], "item": [2], "rating": [3.0]}), path)
    blob = path.read_bytes()
    path.write_bytes(blob[:8] + blob[-30:])
    with pytest.raises(DataError, match="cannot read the Parquet file"):
        read_ratings(path)


def test_parquet_in_a_gzip(tmp_path):
    src = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user": [1, 2], "item": [2, 2], "rating": [3.0, 4.0]}), src)
    path = put(tmp_path, "r.parquet.gz", gzip.compress(src.read_bytes()))
    assert rows(read_ratings(path)) == [(1, 2, 3.0), (2, 2, 4.0)]


# --------------------------------------------------------------------------------------
# round trips and writing
def _frames():
    rng = np.random.default_rng(3)
    n = 300
    values = rng.integers(1, 11, n) / 2
    values[:5] = [0.1, 1 / 3, 3.4028235e38, 1e-45, -2.5e-7]
    users = rng.integers(0, 40, n)
    items = rng.integers(0, 25, n)
    ts = rng.integers(-10**9, 2 * 10**9, n)
    return users, items, values.astype(np.float32), ts


@pytest.mark.parametrize("with_ts", [True, False])
@pytest.mark.parametrize("id_kind", ["int", "str"])
@pytest.mark.parametrize("name", ["r.csv", "r.tsv", "r.csv.gz", "r.tsv.bz2", "r.csv.xz",
                                  "r.parquet"])
def test_round_trip_dataframe_ratings_file_ratings(tmp_path, name, id_kind, with_ts):
    users, items, values, ts = _frames()
    if id_kind == "str":
        users = np.array([f"user {k}, 'quoted\"" if k % 3 else f"u{k:03d}" for k in users],
                         dtype=object)
        items = np.array([f"i{k}" for k in items], dtype=object)
    df = pd.DataFrame({"u": users, "i": items, "r": values, "t": ts})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRatingsWarning)
        original = Ratings.from_dataframe(df, "u", "i", "r", "t" if with_ts else None)
    write_ratings(original, tmp_path / name)
    back = read_ratings(tmp_path / name)
    assert back.equals(original)
    assert back.user_map.kind == id_kind
    if name.endswith(".gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"


def test_round_trip_keeps_string_ids_that_look_like_ints_in_parquet(tmp_path):
    r = Ratings.from_arrays(np.array(["1", "2"], dtype=object), [5, 6], [1.0, 2.0])
    write_ratings(r, tmp_path / "r.parquet")
    assert read_ratings(tmp_path / "r.parquet").equals(r)
    write_ratings(r, tmp_path / "r.csv")  # text cannot tell: use id_dtype="str"
    back = read_ratings(tmp_path / "r.csv")
    assert back.user_map.kind == "int"
    assert ids(read_ratings(tmp_path / "r.csv", id_dtype="str"), "user") == ["1", "2"]


def test_write_header_and_format_choices(tmp_path):
    r = Ratings.from_arrays([1, 2], [3, 4], [1.5, 2.5], [10, 20])
    write_ratings(r, tmp_path / "out.txt", format="csv", sep=";")
    expected = "user;item;rating;timestamp\n1;3;1.5;10\n2;4;2.5;20\n"
    assert (tmp_path / "out.txt").read_text() == expected
    with pytest.raises(ValueError, match="cannot tell the format"):
        write_ratings(r, tmp_path / "out.xlsx")
    with pytest.raises(ValueError, match="compressed inside"):
        write_ratings(r, tmp_path / "out.parquet.gz")
    with pytest.raises(TypeError, match="needs a Ratings"):
        write_ratings(pd.DataFrame(), tmp_path / "x.csv")


def test_write_is_atomic(tmp_path, monkeypatch):
    r = Ratings.from_arrays([1, 2], [3, 4], [1.5, 2.5])
    target = tmp_path / "r.csv"
    target.write_text("old contents\n")
    os.chmod(target, 0o640)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(lio, "_write_text", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_ratings(r, target)
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]  # no temp file left
    monkeypatch.undo()
    write_ratings(r, target)
    assert read_ratings(target).equals(r)
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o640)  # the mode is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


# --------------------------------------------------------------------------------------
# the engines agree, and the fast path handles big and awkward inputs
def _awkward_numeric_file(rng, n, shuffled):
    users = rng.integers(-50, 3000, n)
    items = rng.integers(0, 40000, n)
    ratings = rng.choice(["4", "4.5", "0.5", "3.25", "+2", "1e0", " 2", "5 ", "0", ".5",
                          "4.", "12.5E-1", "-0.75", "0.33333334"], n)
    ts = rng.integers(0, 2 * 10**9, n)
    if shuffled:  # other columns, another order
        header = "note,item,timestamp,user,rating"
        lines = [f"x{k % 7},{i},{t},{u},{r}"
                 for k, (u, i, r, t) in enumerate(zip(users, items, ratings, ts))]
    else:
        header = "user,item,rating,timestamp"
        lines = [f"{u},{i},{r},{t}" for u, i, r, t in zip(users, items, ratings, ts)]
    for k in rng.choice(n, n // 50, replace=False):
        lines[k] = lines[k] + "\r"  # some CRLF line ends
    for k in sorted(rng.choice(n, n // 100, replace=False), reverse=True):
        lines.insert(k, "")  # blank lines
    return header + "\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("shuffled", [False, True])
def test_engines_agree_and_blocks_split_anywhere(tmp_path, monkeypatch, shuffled):
    rng = np.random.default_rng(11)
    path = put(tmp_path, "r.csv", _awkward_numeric_file(rng, 4000, shuffled))
    calls = []
    real = _fastcsv.parse_block
    monkeypatch.setattr(_fastcsv, "parse_block", lambda *a: calls.append(1) or real(*a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRatingsWarning)
        got = {}
        for engine in ENGINES:
            with monkeypatch.context() as m:
                only_engine(m, engine)
                if engine == "fast":  # tiny blocks, each cut in two halves
                    m.setattr(_fastread, "_BLOCK", 257)
                    m.setattr(_fastread, "_SPLIT_MIN", 0)
                got[engine] = read_ratings(path)
    assert len(calls) > 2  # the fast path read it, in many blocks
    df = pd.read_csv(path, skip_blank_lines=True)
    assert got["fast"].n_ratings + got["fast"].n_duplicates_resolved == len(df)
    assert got["fast"].equals(got["pyarrow"]) and got["fast"].equals(got["slow"])


def test_fast_path_long_lines_grow_the_buffer(tmp_path, monkeypatch):
    only_engine(monkeypatch, "fast")
    monkeypatch.setattr(_fastread, "_BLOCK", 16)
    path = put(tmp_path, "r.csv", "1,2,3.5,1234567890123\n22222,33333,4,1\n")
    assert rows(read_ratings(path)) == [(1, 2, 3.5, 1234567890123), (22222, 33333, 4.0, 1)]


def test_fast_path_reads_a_large_file_like_pandas(tmp_path):
    rng = np.random.default_rng(5)
    n = 300_000
    keys = rng.choice(5000 * 2000, n, replace=False)
    df = pd.DataFrame({"user": keys // 2000 + 10**6, "item": keys % 2000,
                       "rating": rng.integers(1, 11, n) / 2,
                       "timestamp": rng.integers(0, 2 * 10**9, n)})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False)
    r = read_ratings(path)
    back = r.to_dataframe()
    np.testing.assert_array_equal(back["user"].to_numpy(), df["user"].to_numpy())
    np.testing.assert_array_equal(back["item"].to_numpy(), df["item"].to_numpy())
    np.testing.assert_array_equal(back["rating"].to_numpy(), df["rating"].to_numpy())
    np.testing.assert_array_equal(back["timestamp"].to_numpy(), df["timestamp"].to_numpy())
    assert list(r.user_map.ids) == sorted(set(df["user"]))


@pytest.mark.parametrize("text", ["user,item,rating\r1,10,4\r2,20,3\r",
                                  "user,item,rating\r1,10,4\n2,20,3\n",
                                  "1,10,4\r2,20,3\n"])
def test_old_mac_line_ends_are_line_ends(tmp_path, text):
    assert rows(read_ratings(put(tmp_path, "r.csv", text))) == [(1, 10, 4.0), (2, 20, 3.0)]


def test_fast_path_reserves_rows_for_lines_with_empty_unused_fields(tmp_path, monkeypatch):
    # "1,2,3,,,\n" is 9 bytes for 6 fields: fewer than two bytes a field, which the row
    # estimate once assumed (running out of rows then fell back to a slower engine)
    only_engine(monkeypatch, "fast")
    monkeypatch.setattr(_fastread, "_SPARE_ROWS", 0)
    monkeypatch.setattr(_fastread, "_BLOCK", 4096)
    text = "user,item,rating,a,b,c\n" + "".join(f"{k % 10},{k // 10},3,,,\n"
                                                 for k in range(2000))
    r = read_ratings(put(tmp_path, "r.csv", text))
    assert r.n_ratings == 2000 and rows(r)[:2] == [(0, 0, 3.0), (1, 0, 3.0)]


# --------------------------------------------------------------------------------------
# which engine, and what makes one hand over
def test_tokenizer_checks_ids_are_canonical_which_typed_pyarrow_cannot(tmp_path, monkeypatch):
    """Why the fast path is the numba tokenizer rather than pyarrow.csv with typed columns
    (besides speed, docs/benchmarks.md): an int64 column takes "007", " 7" and "00" as
    integers, so id_dtype="auto" could not keep such ids as written. The tokenizer checks
    each id as it parses it, and hands such a file over."""
    path = put(tmp_path, "r.csv", "user,item,rating\n7,1,4\n007,2,5\n")
    typed = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={"user": pa.int64()}))
    assert typed.column("user").to_pylist() == [7, 7]  # two users become one
    handed = []
    real = _text.read_pyarrow
    monkeypatch.setattr(_text, "read_pyarrow", lambda job: handed.append(job) or real(job))
    r = read_ratings(path)
    assert len(handed) == 1
    assert r.user_map.kind == "str" and ids(r, "user") == ["007", "7"]
    monkeypatch.undo()
    with pytest.raises(_text.Fallback, match="does not take"):
        _fastread.read_fast(_job(path))


def _job(path, **kwargs):
    from latentrec.data._dialect import detect, resolve_columns
    from latentrec.data._source import Source

    src = Source(path)
    dialect = detect(src.read_head(1 << 16), sep=None, header=None, fmt="auto",
                     encoding="utf-8")
    cols = resolve_columns(dialect, user=None, item=None, rating=None, timestamp=None)
    return _text.Job(src, dialect, cols, kwargs.get("id_dtype", "auto"), "utf-8")


def _bug(*args, **kwargs):
    raise RuntimeError("a bug, not bad input")


def _refuse(job):
    raise _text.Fallback("refused for this test")


@pytest.mark.parametrize("where", ["read_fast", "parse_block", "read_pyarrow",
                                   "pyarrow.csv.read_csv"])
def test_a_bug_in_a_fast_engine_raises_rather_than_falling_back(tmp_path, monkeypatch, where):
    # only Fallback hands over to the next engine; the slow scan must not run
    monkeypatch.setattr(_text, "read_slow", lambda job: pytest.fail("the slow scan ran"))
    if where in ("read_pyarrow", "pyarrow.csv.read_csv"):
        monkeypatch.setattr(_fastread, "read_fast", _refuse)
    target = {"read_fast": (_fastread, "read_fast"), "parse_block": (_fastcsv, "parse_block"),
              "read_pyarrow": (_text, "read_pyarrow"),
              "pyarrow.csv.read_csv": (pacsv, "read_csv")}[where]
    monkeypatch.setattr(*target, _bug)
    with pytest.raises(RuntimeError, match="a bug, not bad input"):
        read_ratings(put(tmp_path, "r.csv", PLAIN))


def test_pyarrow_hands_over_what_it_cannot_parse_and_raises_damage(tmp_path):
    # a parse failure is a reason to hand over (the slow scan names the line) ...
    bad = put(tmp_path, "bad.csv", "user,item,rating\nu1,i1,4\nu2,i2,x\n")
    with pytest.raises(_text.Fallback, match="pyarrow.csv cannot parse"):
        _text.read_pyarrow(_job(bad))
    # ... damaged compressed data is not: it is a DataError at once
    lines = "".join(f"u{k},i{k * 7919 % 10007},{k % 5 + 1}\n" for k in range(50000))
    blob = gzip.compress(("user,item,rating\n" + lines).encode())
    job = _job(put(tmp_path, "cut.gz", blob[: len(blob) // 2]))
    with pytest.raises(DataError, match=r"cut\.gz: cannot read the gzip-compressed data"):
        _text.read_pyarrow(job)


def test_text_options_given_for_a_parquet_file_are_said_to_be_ignored(tmp_path):
    import pandas as pd

    path = tmp_path / "r.parquet"
    pd.DataFrame({"user": [1, 2], "item": [3, 4], "rating": [4.0, 5.0]}).to_parquet(path)
    with pytest.warns(UserWarning, match=r"r.parquet is a Parquet file: sep and header "
                      r"\(for text files\) ignored"):
        got = read_ratings(path, sep=";", header=True)
    assert list(got.values) == [4.0, 5.0]

"""The ratings reader holds no more of a line than its limit: a huge line (or a file with
no line ends) is a DataError naming the file and line, read in bounded pieces."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentrec import DataError
from latentrec.data import _fastread, _text
from latentrec.data.io import read_ratings

#: A field limit small enough that the tests' long lines are far over it.
FIELD = 64
LIMIT = 3 * (4 * FIELD + 4) + 2  # _text.line_limit(3) with it


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(_text, "FIELD_LIMIT", FIELD)
    assert _text.line_limit(3) == LIMIT


def put(tmp_path, name, content: bytes):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(content)
    else:
        path.write_bytes(content)
    return path


def rows(r):
    df = r.to_dataframe()
    return [tuple(x) for x in df.itertuples(index=False)]


def slow_only(monkeypatch):
    def refuse(job):
        raise _text.Fallback("test: the slow scan only")

    monkeypatch.setattr(_fastread, "read_fast", refuse)
    monkeypatch.setattr(_text, "read_pyarrow", refuse)


LONG = rb"line [0-9]+: the line is longer than [0-9,]+ (bytes|characters), the most 3 fields"


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz"])
@pytest.mark.parametrize("body", [b"1,2," + b"7" * 5000 + b"\n",  # numeric: the fast path
                                  b"a,b," + b"x" * 5000 + b"\n"])  # text: pyarrow
def test_a_line_over_the_limit_names_its_file_and_line(tmp_path, small_limit, name, body):
    path = put(tmp_path, name, b"user,item,rating\n1,2,3\n" + body + b"4,5,1\n")
    with pytest.raises(DataError, match=rf"{name}, line 3: the line is longer than "
                                        rf"{LIMIT:,} bytes"):
        read_ratings(path)


def test_a_file_without_line_ends_is_read_no_further_than_the_limit(tmp_path, small_limit):
    path = put(tmp_path, "one.gz", b"1,2,3\n" + b"1," * 200_000)
    with pytest.raises(DataError, match=r"one\.gz, line 2: the line is longer"):
        read_ratings(path, sep=",", header=False)


@pytest.mark.parametrize(("sep", "body"), [("ws", b"1 2 3\n"), ("::", b"1::2::3\n")])
def test_the_separators_read_line_by_line_stop_too(tmp_path, small_limit, sep, body):
    long = body.replace(b"3", b"3" * 5000)
    path = put(tmp_path, "r.dat", body + long + body)
    with pytest.raises(DataError, match=r"r\.dat, line 2: the line is longer"):
        read_ratings(path, sep=sep, header=False)


def test_an_encoding_that_is_not_ascii_counts_characters(tmp_path, small_limit):
    text = "user,item,rating\n1,2,3\n1,2," + "3" * 5000 + "\n"
    path = put(tmp_path, "r16.csv", text.encode("utf-16"))
    with pytest.raises(DataError, match=rf"r16\.csv, line 3: the line is longer than "
                                        rf"{LIMIT:,} characters"):
        read_ratings(path, encoding="utf-16")


@pytest.mark.parametrize(("sep", "line"), [(",", "{id},7,3\n"), ("::", "{id}::7::3\n")])
def test_an_id_over_the_field_limit_names_its_line_and_column(tmp_path, small_limit, sep,
                                                              line):
    # 300 characters: over the field limit, not the line limit; pyarrow would take it
    text = "user,item,rating\n".replace(",", sep) + line.format(id="u1")
    text += line.format(id="u" * 300)
    path = put(tmp_path, "r.csv", text.encode())
    with pytest.raises(DataError, match=rf"r\.csv, line 3, column 'user': a field longer "
                                        rf"than {FIELD} characters"):
        read_ratings(path, sep=sep)


#: Run in a child that never stops tracemalloc: pyarrow reads a compressed file through a
#: Python stream from its own I/O threads, and one still calling in when tracing stops can
#: crash CPython 3.11 (gh-128679, fixed in 3.12.9 and 3.13.2 only).
_PEAK_OF_A_READ = """
import json, os, sys, tracemalloc
from latentrec import DataError
from latentrec.data import _fastread, _text
from latentrec.data.io import read_ratings

_text.FIELD_LIMIT = {field}
_fastread._BLOCK = _text._BLOCK = 4096
_fastread._SPARE_ROWS = 1024  # reserved output rows
read_ratings(sys.argv[1])  # the tokenizer's code loaded
tracemalloc.start()
try:
    read_ratings(sys.argv[2])
    error = None
except DataError as exc:
    error = str(exc)
print(json.dumps([error, tracemalloc.get_traced_memory()[1]]), flush=True)
os._exit(0)
"""


def test_a_huge_line_costs_a_bounded_amount_of_memory(tmp_path):
    # 20 MB on one line; the old reader held all of it (and more) before its error
    warm = put(tmp_path, "warm.csv", b"1,2,3\n")
    path = put(tmp_path, "big.csv.gz", b"user,item,rating\n1,2,3\n4,5," + b"6" * 20_000_000)
    child = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_A_READ.format(field=FIELD), str(warm), str(path)],
        capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == 0, child.stderr
    error, peak = json.loads(child.stdout)
    assert re.search(r"big\.csv\.gz, line 3: the line is longer", error or "")
    assert peak < 1 << 20


def test_the_fast_path_grows_its_buffers_no_further_than_the_limit(
        tmp_path, small_limit, monkeypatch):
    monkeypatch.setattr(_fastread, "_BLOCK", 16)
    sizes = []
    fill = _fastread._fill

    def spy(src, f, buf, have):
        sizes.append(len(buf))
        return fill(src, f, buf, have)

    monkeypatch.setattr(_fastread, "_fill", spy)
    path = put(tmp_path, "r.csv.gz", b"1,2,3\n1,2," + b"3" * 100_000 + b"\n")
    with pytest.raises(DataError, match=r"line 2: the line is longer"):
        read_ratings(path, header=False)
    assert max(sizes) <= 4 * LIMIT


def test_old_mac_line_ends_beyond_the_limit_are_still_lines(tmp_path, small_limit,
                                                             monkeypatch):
    slow_only(monkeypatch)
    lines = [f"{u},{u % 7},{u % 5 + 1}" for u in range(1, 400)]  # ~4 KB, lone CR ends
    path = put(tmp_path, "mac.csv", ("\r".join(lines) + "\r").encode())
    got = rows(read_ratings(path, header=False))
    assert got == [(u, u % 7, float(u % 5 + 1)) for u in range(1, 400)]


ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 10**8 - 1), st.integers(1, 10**6), st.integers(1, 5),
                          ENDS, st.integers(0, 7)), min_size=1, max_size=80))
def test_lines_under_the_limit_read_the_same_whatever_the_ends(tmp_path_factory, monkeypatch,
                                                                 spec):
    # fields of at most 8 characters, lines of at most 110 bytes: pieces of 111 cut runs
    # of CR-ended lines (and CR LF pairs) anywhere, and every line must come back whole
    monkeypatch.setattr(_text, "FIELD_LIMIT", 8)
    slow_only(monkeypatch)
    seen, text = set(), ""
    expected = []
    for user, item, rating, end, pad in spec:
        if (user, item) in seen:
            continue
        seen.add((user, item))
        text += f"{user},{item},{' ' * pad}{rating}{end}"
        expected.append((user, item, float(rating)))
    path = put(tmp_path_factory.mktemp("ends"), "r.csv", text.encode())
    assert rows(read_ratings(path, header=False, sep=",")) == expected

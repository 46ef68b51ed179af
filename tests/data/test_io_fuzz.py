import gzip
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from latentrec import DataError, Ratings, read_ratings, write_ratings
from latentrec.data import _fastread, _text
from latentrec.data.idmap import is_canonical_int

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _read(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_ratings(path, **kwargs)


def _read_slow_only(path, **kwargs):
    def refuse(job):
        raise _text.Fallback

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_fastread, "read_fast", refuse)
        m.setattr(_text, "read_pyarrow", refuse)
        return _read(path, **kwargs)


OPTIONS = st.fixed_dictionaries({}, optional={
    "sep": st.sampled_from([",", "\t", "::", "ws", ";"]),
    "header": st.booleans(),
    "id_dtype": st.sampled_from(["auto", "int", "str"]),
    "duplicates": st.sampled_from(["last", "mean", "error"]),
})


@FUZZ
@given(blob=st.binary(max_size=400), compress=st.booleans(), options=OPTIONS)
def test_random_bytes_raise_nothing_but_data_error(blob, compress, options):
    if compress:
        blob = gzip.compress(blob)[: max(10, len(blob))]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f"
        path.write_bytes(blob)
        try:
            r = _read(path, **options)
        except DataError:
            return
        assert isinstance(r, Ratings) and r.n_ratings > 0


TEXTY = st.text(alphabet="0123456789012345,,,;::\t  \n\n\r\".-+eEnaixu", max_size=300)


@FUZZ
@given(text=TEXTY, options=OPTIONS)
def test_texty_input_reads_the_same_through_every_engine(text, options):
    """The fast engines agree with the slow reference scan, or all raise DataError."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.csv"
        path.write_bytes(text.encode())
        try:
            got = _read(path, **options)
        except DataError as err:
            with pytest.raises(DataError) as slow:
                _read_slow_only(path, **options)
            assert str(slow.value) == str(err)
            return
        want = _read_slow_only(path, **options)
        assert got.equals(want)


ID_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
INT_ID = st.integers(-(2**63) + 1, 2**63 - 1)
F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 25))
    sides = []
    for _ in range(2):
        if draw(st.booleans()):
            pool = draw(st.lists(ID_TEXT, min_size=1, max_size=8, unique=True))
            ids = [draw(st.sampled_from(pool)) for _ in range(n)]
            # text ids that are all canonical integers are read back as integers
            assume(not all(is_canonical_int(x) for x in ids))
            sides.append(np.array(ids, dtype=object))
        else:
            pool = draw(st.lists(INT_ID, min_size=1, max_size=8, unique=True))
            sides.append(np.array([draw(st.sampled_from(pool)) for _ in range(n)],
                                  dtype=np.int64))
    values = np.array(draw(st.lists(F32, min_size=n, max_size=n)), dtype=np.float32)
    ts = None
    if draw(st.booleans()):
        ts = np.array(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n,
                                    max_size=n)), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Ratings.from_arrays(sides[0], sides[1], values, ts)


@settings(FUZZ, max_examples=100)
@given(r=tables(), name=st.sampled_from(["r.csv", "r.tsv", "r.csv.gz"]))
def test_random_tables_round_trip_through_text_and_parquet(r, name):
    with tempfile.TemporaryDirectory() as d:
        for file in (Path(d) / name, Path(d) / "r.parquet"):
            write_ratings(r, file)
            back = _read(file)
            assert back.equals(r), file.name

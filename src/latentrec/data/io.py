"""Reading and writing ratings files: delimited text (CSV, TSV, MovieLens layouts) and Parquet.

    read_ratings(path, *, format="auto", sep=None, header=None, user=None, item=None,
                 rating=None, timestamp=None, id_dtype="auto", duplicates="last",
                 member=None, encoding="utf-8") -> Ratings
    write_ratings(ratings, path, *, format=None, sep=None) -> None

Every problem with the input is one :class:`~latentrec.DataError` that names the file, the
physical line (1-based, the header and blank lines count), the column and the value.
Nothing half-read is returned, and nothing half-written is left behind.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import logging
import lzma
import os
import warnings
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ..errors import DataError, ParameterError
from . import _fastread, _parquet, _text
from ._dialect import detect, resolve_columns
from ._source import PARQUET_MAGIC, Source
from .duplicates import DUPLICATE_POLICIES, repeated_rows, resolve_duplicates
from .ratings import DuplicateRatingsWarning, Ratings

FORMATS = ("auto", "csv", "parquet", "ml-100k", "ml-1m", "ml-latest")
ID_DTYPES = ("auto", "int", "str")
WRITE_FORMATS = ("csv", "tsv", "parquet")
_HEAD_BYTES = 1 << 16
log = logging.getLogger("latentrec.data")


def read_ratings(path, *, format: str = "auto", sep: str | None = None,
                 header: bool | None = None, user=None, item=None, rating=None,
                 timestamp=None, id_dtype: str = "auto", duplicates: str = "last",
                 member: str | None = None, encoding: str = "utf-8") -> Ratings:
    """Read a ratings file into :class:`~latentrec.Ratings`.

    Parameters
    ----------
    path : str or path-like
        A delimited text file (plain, or gzip/bz2/xz/zstd/zip compressed, told by its first
        bytes, not its name) or a Parquet file.
    format : {"auto", "csv", "parquet", "ml-100k", "ml-1m", "ml-latest"}
        "auto" tells Parquet by its magic bytes and sniffs text. "csv" is any delimited
        text. The MovieLens layouts: "ml-100k" (``u.data``: tab, no header), "ml-1m"
        (``ratings.dat``: ``::``, no header; also ml-10m), "ml-latest" (``ratings.csv``
        with header ``userId,movieId,rating,timestamp``).
    sep : str, optional
        The separator: one character, ``"::"`` or ``"ws"`` (runs of blanks). Default:
        detected from the first lines among ``::``, tab, ``,``, ``;``, ``|``, blanks.
    header : bool, optional
        Whether the first line names the columns. Default: detected.
    user, item, rating, timestamp : str or int, optional
        The column of each, by header name or 0-based position. By default, known names
        (``userId``, ``movie_id``, ``score``, ...) with a header, else positions 0-3.
        ``rating=False`` reads implicit data (every value 1.0), as does a file with only
        two columns, or with a header and no other column of numbers beside the ids and
        time (a column of numbers not named as ratings are is an error that names it:
        pass ``rating=`` or ``rating=False``); ``timestamp=False`` ignores a timestamp
        column.
    id_dtype : {"auto", "int", "str"}
        "auto": a side's ids become int64 when every one is a canonical decimal integer
        ("42", "-7", " 42" after a comma and a blank; not "007", "+1", "1.0"), else they
        all stay strings exactly as written (blanks included). "int": ids must be
        integers ("007" reads as 7). "str": always strings. Parquet keeps the column's
        type under "auto".
    duplicates : {"last", "mean", "error"}
        What to do with a (user, item) pair rated more than once; see
        :meth:`Ratings.from_arrays`.
    member : str, optional
        For a zip archive holding several files: the one to read (a path inside the
        archive, or a unique base name such as ``"u.data"``).
    encoding : str
        Text encoding (default UTF-8; a UTF-8 byte-order mark is skipped).

    Raises
    ------
    DataError
        For any problem with the file, naming the file, line, column and value.
    """
    _check_choice("format", format, FORMATS)
    _check_choice("id_dtype", id_dtype, ID_DTYPES)
    _check_choice("duplicates", duplicates, DUPLICATE_POLICIES)
    check_encoding(encoding)
    src = Source(path, member=member, fmt=format)
    head = src.read_head(_HEAD_BYTES)
    if head.startswith(PARQUET_MAGIC):
        if format not in ("auto", "parquet"):
            raise DataError(f"this is a Parquet file, not format={format!r} text; pass "
                            "format='parquet' or 'auto'", path=src.where)
        text_only = [name for name, value in (("sep", sep), ("header", header))
                     if value is not None]
        if text_only:  # given for a text file, most likely: say it is not one
            warnings.warn(f"{src.where} is a Parquet file: {' and '.join(text_only)} "
                          "(for text files) ignored", UserWarning, stacklevel=2)
        parsed, job = _parquet.read_parquet(src, user=user, item=item, rating=rating,
                                            timestamp=timestamp, id_dtype=id_dtype)
        return _build(parsed, duplicates, job)
    if format == "parquet":
        raise DataError("not a Parquet file (it does not start with the PAR1 magic bytes)",
                        path=src.where)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise DataError("the file is empty (no data rows)", path=src.where)
    encoding = _with_its_mark(head, encoding, src)
    try:
        dialect = detect(head, sep=sep, header=header, fmt=format, encoding=encoding)
        cols = resolve_columns(dialect, user=user, item=item, rating=rating,
                               timestamp=timestamp)
    except DataError as err:
        raise _with_path(err, src) from None
    job = _text.Job(src, dialect, cols, id_dtype, encoding)
    return _build(_read_text(job), duplicates, job)


def _read_text(job):
    """The first engine that takes the file. Only :class:`._text.Fallback` hands over to the
    next; anything else an engine raises (a DataError, or a bug) propagates."""
    for engine in (_fastread.read_fast, _text.read_pyarrow):
        try:
            return engine(job)
        except _text.Fallback as why:
            log.debug("%s hands %s over: %s", engine.__name__, job.src.where, why)
    return _text.read_slow(job)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ParameterError(f"{name} must be one of {choices}, got {value!r}")


#: Byte-order marks of the text encodings with two or four bytes a character (which save
#: dialogs call "Unicode text"), longest first: UTF-32's begins as UTF-16's does.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def check_encoding(encoding: str) -> None:
    """ParameterError unless ``encoding`` names a text encoding (base64 is a codec too)."""
    try:
        "".encode(encoding)
    except LookupError:
        raise ParameterError(f"unknown text encoding {encoding!r}") from None


def _with_its_mark(head: bytes, encoding: str, src: Source) -> str:
    """The encoding to read with: a UTF-16/32 file (by its byte-order mark) read in
    another encoding is refused, naming the one to give (it would fail on its first line
    as undecodable bytes, or read as NUL-padded ids); given with its byte order
    ("utf-16-le"), it is read by the codec that skips the mark, not as a character."""
    wide = wide_text(head)
    if wide is None:
        return encoding
    if not codecs.lookup(encoding).name.startswith(wide):
        raise DataError(f"the file is {wide.upper()} text (it starts with a {wide.upper()} "
                        f"byte-order mark); pass encoding={wide!r}", path=src.where)
    return wide


def wide_text(head: bytes) -> str | None:
    """"utf-16" or "utf-32" where ``head`` starts with that encoding's byte-order mark."""
    return next((wide for bom, wide in _WIDE_BOMS if head.startswith(bom)), None)


def _with_path(err: DataError, src: Source) -> DataError:
    return _text.with_path(err, src)


# --------------------------------------------------------------------------------------
def _build(parsed, duplicates: str, job) -> Ratings:
    users, items = parsed.users, parsed.items
    n = users.shape[0]
    values = parsed.values if parsed.values is not None else np.ones(n, np.float32)
    user_map, item_map = parsed.user_map, parsed.item_map
    repeated = parsed.repeated
    if repeated is None:
        repeated = repeated_rows(users, items, len(user_map), len(item_map))
    if repeated.size:
        try:
            users, items, values, ts, n_dup = resolve_duplicates(
                users, items, values, parsed.timestamps, len(item_map), duplicates,
                rows=repeated)
        except DataError as err:
            row = getattr(err, "row", None)
            if row is None:
                raise
            u, i = users[row], items[row]
            first = int(np.flatnonzero((users == u) & (items == i))[0])
            raise job.error(
                f"the same (user, item) pair is rated more than once (first on "
                f"{job.where_row(parsed.locate(first))}); pass duplicates='last' or "
                "'mean' to resolve it", line=parsed.locate(row),
                column=(job.label(job.cols.user), job.label(job.cols.item)),
                value=(user_map.to_id(int(u)), item_map.to_id(int(i)))) from None
        warnings.warn(f"{n_dup:,} repeated (user, item) rows were resolved by "
                      f"duplicates={duplicates!r}", DuplicateRatingsWarning, stacklevel=3)
        return Ratings(users, items, values, ts, user_map=user_map, item_map=item_map,
                       n_duplicates_resolved=n_dup)
    return Ratings(users, items, values, parsed.timestamps, user_map=user_map,
                   item_map=item_map)


# --------------------------------------------------------------------------------------
# writing
def write_ratings(ratings: Ratings, path, *, format: str | None = None,
                  sep: str | None = None) -> None:
    """Write ratings to CSV/TSV (optionally .gz/.bz2/.xz compressed) or Parquet.

    The format comes from ``format`` ("csv", "tsv", "parquet") or the extension (``.csv``,
    ``.tsv``, ``.parquet``, each text one optionally followed by ``.gz``, ``.bz2`` or
    ``.xz``). Text files get the header ``user,item,rating[,timestamp]``; Parquet keeps the
    ids' type (integer or string). float32 ratings round-trip exactly. The file is written
    under a temporary name in the same folder, flushed to disk and renamed, so a crash never
    leaves a half-written file.
    """
    if not isinstance(ratings, Ratings):
        raise TypeError(f"write_ratings needs a Ratings, got {type(ratings).__name__}")
    path = Path(os.fspath(path))
    name = path.name.lower()
    compression = next((c for c in (".gz", ".bz2", ".xz") if name.endswith(c)), None)
    stem = name[: -len(compression)] if compression else name
    if format is None:
        ext = os.path.splitext(stem)[1]
        format = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
                  ".pq": "parquet"}.get(ext)
        if format is None:
            raise ParameterError(f"cannot tell the format from the name {path.name!r}; pass "
                             f"format= one of {WRITE_FORMATS}")
    _check_choice("format", format, WRITE_FORMATS)
    if format == "parquet":
        if compression:
            raise ParameterError("Parquet files are compressed inside; drop the "
                             f"{compression} extension")
        if sep is not None:
            raise ParameterError("sep= applies to text formats only")
    if sep is None:
        sep = "\t" if format == "tsv" else ","
    if len(sep) != 1 or sep in "\"\r\n":
        raise ParameterError(f"sep must be one character (not a quote or newline), got {sep!r}")
    table = _arrow_table(ratings)

    def write(f):
        if format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, f)
            return
        if compression == ".gz":
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as z:
                _write_text(table, z, sep)
        elif compression == ".bz2":
            with bz2.BZ2File(f, mode="wb") as z:
                _write_text(table, z, sep)
        elif compression == ".xz":
            with lzma.LZMAFile(f, mode="wb") as z:
                _write_text(table, z, sep)
        else:
            _write_text(table, f, sep)

    atomic_write(path, write)


def _arrow_table(ratings: Ratings):
    import pyarrow as pa

    cols = {}
    for name, idmap, codes in (("user", ratings.user_map, ratings.users),
                               ("item", ratings.item_map, ratings.items)):
        if idmap.kind == "int":
            cols[name] = pa.array(idmap.ids[codes], pa.int64())
        else:
            cols[name] = pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32()), pa.array(list(idmap.ids), pa.string()))
    cols["rating"] = pa.array(ratings.values, pa.float32())
    if ratings.timestamps is not None:
        cols["timestamp"] = pa.array(ratings.timestamps, pa.int64())
    return pa.table(cols)


def _write_text(table, f, sep):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    special = (sep, '"', "\n", "\r")
    quoting = "none"
    for name in ("user", "item"):
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            words = col.chunk(0).dictionary.to_pylist() if col.num_chunks else []
            if any(ch in w for w in words for ch in special) or any(
                    w != w.strip() for w in words):
                quoting = "needed"
    f.write(sep.join(table.column_names).encode() + b"\n")
    if table.num_rows:
        pacsv.write_csv(table, f, pacsv.WriteOptions(
            include_header=False, delimiter=sep, quoting_style=quoting))

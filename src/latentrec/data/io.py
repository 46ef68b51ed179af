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
import lzma
import os
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import _text
from ._dialect import Dialect, detect, resolve_columns
from ._source import PARQUET_MAGIC, Source
from .duplicates import DUPLICATE_POLICIES, resolve_duplicates
from .ratings import DuplicateRatingsWarning, Ratings

FORMATS = ("auto", "csv", "parquet", "ml-100k", "ml-1m", "ml-latest")
ID_DTYPES = ("auto", "int", "str")
WRITE_FORMATS = ("csv", "tsv", "parquet")
_HEAD_BYTES = 1 << 16


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
        two columns; ``timestamp=False`` ignores a timestamp column.
    id_dtype : {"auto", "int", "str"}
        "auto": a side's ids become int64 when every one is a canonical decimal integer
        ("42", "-7"; not "007", "+1", "1.0"), else they all stay strings exactly as
        written. "int": ids must be integers ("007" reads as 7). "str": always strings.
        Parquet keeps the column's type under "auto".
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
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    src = Source(path, member=member, fmt=format)
    head = src.read_head(_HEAD_BYTES)
    if head.startswith(PARQUET_MAGIC):
        if format not in ("auto", "parquet"):
            raise DataError(f"this is a Parquet file, not format={format!r} text; pass "
                            "format='parquet' or 'auto'", path=src.where)
        return _read_parquet(src, user=user, item=item, rating=rating, timestamp=timestamp,
                             id_dtype=id_dtype, duplicates=duplicates)
    if format == "parquet":
        raise DataError("not a Parquet file (it does not start with the PAR1 magic bytes)",
                        path=src.where)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise DataError("the file is empty (no data rows)", path=src.where)
    try:
        dialect = detect(head, sep=sep, header=header, fmt=format, encoding=encoding)
        cols = resolve_columns(dialect, user=user, item=item, rating=rating,
                               timestamp=timestamp)
    except DataError as err:
        raise _with_path(err, src) from None
    job = _text.Job(src, dialect, cols, id_dtype, encoding)
    parsed = None
    for engine in (_text.read_fast, _text.read_pyarrow):
        try:
            parsed = engine(job)
            break
        except DataError:
            raise
        except Exception:  # noqa: BLE001 - Fallback, or any surprise: next engine
            continue
    if parsed is None:
        parsed = _text.read_slow(job)
    return _build(parsed, duplicates, job)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _with_path(err: DataError, src: Source) -> DataError:
    return DataError(err.reason, path=src.where, line=err.line, column=err.column,
                     value=err.value)


# --------------------------------------------------------------------------------------
def _build(parsed, duplicates: str, job) -> Ratings:
    users, items = parsed.users, parsed.items
    n = users.shape[0]
    values = parsed.values if parsed.values is not None else np.ones(n, np.float32)
    user_map, item_map = parsed.user_map, parsed.item_map
    if _has_duplicates(users, items, len(user_map), len(item_map)):
        try:
            users, items, values, ts, n_dup = resolve_duplicates(
                users, items, values, parsed.timestamps, len(item_map), duplicates)
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
                column=(job.label(job.cols.user), job.label(job.cols.item)), value=(user_map.to_id(int(u)), item_map.to_id(int(i)))) from None
        warnings.warn(f"{n_dup:,} repeated (user, item) rows were resolved by "
                      f"duplicates={duplicates!r}", DuplicateRatingsWarning, stacklevel=3)
        return Ratings(users, items, values, ts, user_map=user_map, item_map=item_map,
                       n_duplicates_resolved=n_dup)
    return Ratings(users, items, values, parsed.timestamps, user_map=user_map,
                   item_map=item_map)


def _has_duplicates(users, items, n_users: int, n_items: int) -> bool:
    """Whether some (user, item) pair repeats: one sort of a packed key (cheap, exact)."""
    if users.shape[0] < 2:
        return False
    if n_users * n_items <= 2**32:
        key = users.astype(np.uint32)
        key *= np.uint32(n_items)
        key += items.view(np.uint32)
    else:
        key = users.astype(np.int64)
        key *= n_items
        key += items
    key.sort()
    return bool((key[1:] == key[:-1]).any())


# --------------------------------------------------------------------------------------
# Parquet
class _ParquetJob(_text.Job):
    """Errors in a Parquet file name the row (1-based) rather than a line."""

    def locate(self, row):
        return None if row is None else row + 1

    def error(self, reason, *, line=None, column=None, value=None) -> DataError:
        if line is not None:
            reason = f"row {line}: {reason}"
        return super().error(reason, column=column, value=value)

    def bad_id(self, reason, row, pos, value):
        raise self.error(reason, line=self.locate(row), column=pos, value=value)

    @staticmethod
    def where_row(row):
        return f"row {row}"


def _read_parquet(src, *, user, item, rating, timestamp, id_dtype, duplicates) -> Ratings:
    import pyarrow as pa
    import pyarrow.parquet as pq

    blob = None if src.compression is None else src.read_all()

    def data():
        return str(src.path) if blob is None else pa.BufferReader(blob)

    try:
        schema = pq.read_schema(data())
        names = list(schema.names)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
        raise DataError(f"cannot read the Parquet file: {exc}", path=src.where) from None
    dialect = Dialect(sep=",", header=True, n_fields=len(names), names=names, skip_lines=0,
                      quoting=False, bom=False)
    try:
        cols = resolve_columns(dialect, user=user, item=item, rating=rating,
                               timestamp=timestamp)
    except DataError as err:
        raise _with_path(err, src) from None
    id_names = [names[cols.user], names[cols.item]]
    as_dict = [nm for nm in id_names
               if pa.types.is_string(schema.field(nm).type)
               or pa.types.is_large_string(schema.field(nm).type)]
    wanted = [names[k] for k in (cols.user, cols.item, cols.rating, cols.timestamp)
              if k is not None]
    try:
        table = pq.read_table(data(), columns=wanted, read_dictionary=as_dict)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read the Parquet file: {exc}", path=src.where) from None
    if table.num_rows == 0:
        raise DataError("the file has no data rows", path=src.where)
    job = _ParquetJob(src, dialect, cols, id_dtype, "utf-8")
    user_map, users = _parquet_ids(job, table.column(names[cols.user]), cols.user, "user")
    item_map, items = _parquet_ids(job, table.column(names[cols.item]), cols.item, "item")
    values = None
    if cols.rating is not None:
        values = _parquet_values(job, table.column(names[cols.rating]), cols.rating)
    times = None
    if cols.timestamp is not None:
        times = _parquet_times(job, table.column(names[cols.timestamp]), cols.timestamp)
    parsed = _text.Parsed(user_map, users, item_map, items, values, times, job.locate)
    return _build(parsed, duplicates, job)


def _first_null(column) -> int:
    import pyarrow.compute as pc

    return int(np.argmax(pc.is_null(column).to_numpy(zero_copy_only=False)))


def _parquet_ids(job, column, pos, side):
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        row = _first_null(column)
        raise job.error(f"missing {side} id", line=job.locate(row), column=pos)
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        if job.id_dtype != "str":
            ids = _text._numpy(column, np.int64)
            sorted_ids, inverse = np.unique(ids, return_inverse=True)
            from .idmap import IdMap

            return IdMap(sorted_ids, name=side), inverse.astype(np.int32)
        column = pc.cast(column, pa.string())
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise job.error(f"{side} ids must be integers or strings, but the column has type "
                        f"{column.type}", column=pos)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = pa.table({"c": column}).unify_dictionaries().column("c")
    codes = np.empty(len(column), np.int32)
    at = 0
    for chunk in column.chunks:
        codes[at: at + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
        at += len(chunk)
    dictionary = pc.cast(column.chunk(0).dictionary, pa.string())
    mode = "str" if job.id_dtype == "auto" else job.id_dtype
    sub = _ParquetJob(job.src, job.dialect, job.cols, mode, job.encoding)
    return _text.map_ids(sub, dictionary, codes, pos, side)


def _parquet_values(job, column, pos):
    import pyarrow as pa

    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise job.error(f"ratings must be numbers, but the column has type {t}", column=pos)
    if column.null_count:
        raise job.error("missing rating", line=job.locate(_first_null(column)), column=pos)
    v = _text._numpy(column if not pa.types.is_decimal(t) else column.cast(pa.float64()),
                     np.float64)
    out = v.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        k = int(bad[0])
        raise job.error("rating is not a finite number", line=job.locate(k), column=pos,
                        value=v[k].item())
    return out


def _parquet_times(job, column, pos):
    import pyarrow as pa

    if column.null_count:
        raise job.error("missing timestamp", line=job.locate(_first_null(column)),
                        column=pos)
    try:
        return _text._arrow_times(column)
    except _text.Fallback:
        pass
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        texts = column.to_pylist()
        return np.array([_text._timestamp(job, job.locate(k), pos, s)
                         for k, s in enumerate(texts)], dtype=np.int64)
    raise job.error(f"timestamps must be integers, dates or datetimes, but the column has "
                    f"type {column.type}", column=pos)


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
            raise ValueError(f"cannot tell the format from the name {path.name!r}; pass "
                             f"format= one of {WRITE_FORMATS}")
    _check_choice("format", format, WRITE_FORMATS)
    if format == "parquet":
        if compression:
            raise ValueError("Parquet files are compressed inside; drop the "
                             f"{compression} extension")
        if sep is not None:
            raise ValueError("sep= applies to text formats only")
    if sep is None:
        sep = "\t" if format == "tsv" else ","
    if len(sep) != 1 or sep in "\"\r\n":
        raise ValueError(f"sep must be one character (not a quote or newline), got {sep!r}")
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

    _atomic_write(path, write)


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


def _atomic_write(path: Path, write) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022

"""Reading Parquet files: columns by name, ids keep their stored type."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from . import _text
from ._dialect import Dialect, resolve_columns
from .idmap import IdMap

#: What pyarrow raises for a damaged or unreadable Parquet file: its own errors, OSError
#: (pyarrow's IO errors), and UnicodeDecodeError for column names that are not UTF-8.
_UNREADABLE = (OSError, UnicodeDecodeError)


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


def read_parquet(src, *, user, item, rating, timestamp, id_dtype):
    """Parse a Parquet file: (Parsed, the job that names its rows in errors)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    blob = None if src.compression is None else src.read_all()

    def data():
        return str(src.path) if blob is None else pa.BufferReader(blob)

    try:
        schema = pq.read_schema(data())
        names = list(schema.names)
    except (pa.ArrowException, *_UNREADABLE) as exc:
        raise DataError(f"cannot read the Parquet file: {exc}", path=src.where) from None
    numeric = tuple(k for k, f in enumerate(schema)
                    if pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    dialect = Dialect(sep=",", header=True, n_fields=len(names), names=names, skip_lines=0,
                      quoting=False, bom=False, numeric=numeric)
    try:
        cols = resolve_columns(dialect, user=user, item=item, rating=rating,
                               timestamp=timestamp)
    except DataError as err:
        raise _text.with_path(err, src) from None
    id_names = [names[cols.user], names[cols.item]]
    as_dict = [nm for nm in id_names
               if pa.types.is_string(schema.field(nm).type)
               or pa.types.is_large_string(schema.field(nm).type)]
    job = _ParquetJob(src, dialect, cols, id_dtype, "utf-8")

    def column(k):
        """One column at a time, converted and dropped before the next is read: at 100M
        rows a whole Arrow table beside the numpy arrays would double the memory."""
        try:
            col = pq.read_table(data(), columns=[names[k]],
                                read_dictionary=[names[k]] if names[k] in as_dict else None)
        except (pa.ArrowException, *_UNREADABLE) as exc:
            raise DataError(f"cannot read the Parquet file: {exc}", path=src.where) from None
        if col.num_rows == 0:
            raise DataError("the file has no data rows", path=src.where)
        return col.column(0)

    pool = pa.default_memory_pool()
    user_map, users = _parquet_ids(job, column(cols.user), cols.user, "user")
    pool.release_unused()  # hand freed Arrow buffers back to the system now
    item_map, items = _parquet_ids(job, column(cols.item), cols.item, "item")
    pool.release_unused()
    values = None
    if cols.rating is not None:
        values = _parquet_values(job, column(cols.rating), cols.rating)
    times = None
    if cols.timestamp is not None:
        times = _parquet_times(job, column(cols.timestamp), cols.timestamp)
    pool.release_unused()
    return _text.Parsed(user_map, users, item_map, items, values, times, job.locate), job


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
            return _int_ids(_text.column_numpy(column, np.int64), side)
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
    def error(reason, row=None, value=None):
        return job.error(reason, line=job.locate(row), column=pos, value=value)

    return rating_values(column, error)


def rating_values(column, error) -> np.ndarray:
    """float32 ratings of a pyarrow (chunked) array, checked as ``read_ratings`` checks them:
    numbers (integers, floats or decimals), none missing, each finite *as float32* (1e39
    is not). ``error(reason, row=None, value=None)`` makes the DataError to raise, ``row``
    being the 0-based position. A cluster fit checks its partitions with this too."""
    import pyarrow as pa

    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise error(f"ratings must be numbers, but the column has type {t}")
    if column.null_count:
        raise error("missing rating", _first_null(column))
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    v = _text.column_numpy(column if not pa.types.is_decimal(t) else column.cast(pa.float64()),
                           np.float64)
    with np.errstate(over="ignore"):  # too large for float32: inf, refused just below
        out = v.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        k = int(bad[0])
        raise error("rating is not a finite number", k, v[k].item())
    return out


def _parquet_times(job, column, pos):
    import pyarrow as pa

    if column.null_count:
        raise job.error("missing timestamp", line=job.locate(_first_null(column)),
                        column=pos)
    try:
        return _text.arrow_times(column)
    except _text.Fallback:
        pass
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        texts = column.to_pylist()
        return np.array([_text.parse_timestamp(job, job.locate(k), pos, s)
                         for k, s in enumerate(texts)], dtype=np.int64)
    raise job.error(f"timestamps must be integers, dates or datetimes, but the column has "
                    f"type {column.type}", column=pos)


def _int_ids(ids: np.ndarray, side: str):
    """Sorted IdMap and int32 codes; a rank table when the ids span a small range (no
    sort, no int64 copies: at 100M rows memory counts), else a sort."""
    if ids.size == 0:
        return IdMap(ids, name=side), ids.astype(np.int32)
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo + 1 <= 2 * ids.shape[0] + (1 << 20):
        from ..kernels import csv_tokens as fc

        codes = np.empty(ids.shape[0], dtype=np.int32)
        return IdMap(fc.dense_codes(ids, lo, hi, codes), name=side), codes
    sorted_ids, inverse = np.unique(ids, return_inverse=True)
    return IdMap(sorted_ids, name=side), inverse.astype(np.int32)

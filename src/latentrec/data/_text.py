"""Reading delimited text: what the engines share, and the two general engines.

The engines, fastest first (``io.read_ratings`` tries them in this order):

1. ``_fastread.read_fast``: the compiled tokenizer (``kernels.csv_tokens``) for plain
   numeric files
   (canonical integer ids), two threads, straight into the final arrays.
2. :func:`read_pyarrow`: ``pyarrow.csv`` for everything else it can parse (string ids,
   quoted fields, dates); id columns come out dictionary-encoded.
3. :func:`read_slow`: a line-by-line Python scan, the reference. It runs only when the
   others give up or find something wrong, and it names the first bad line, column and value.

Each engine returns :class:`Parsed`, raises DataError for a problem it can name, or raises
:class:`Fallback` (and only that) to hand over to the next; any other exception is a bug and
propagates.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..errors import DataError
from ._dialect import Columns, Dialect
from ._source import DECOMPRESS_ERRORS, Source
from .idmap import IdMap

_BLOCK = 16 << 20
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+\Z")
_WHOLE_FLOAT = re.compile(r"[+-]?\d+\.0*\Z")
_RAW_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
#: The longest field (in characters) a text file may have: the csv module's own default
#: limit, which the slow scan's csv.reader has always applied to every field.
FIELD_LIMIT = 128 * 1024


def line_limit(n_fields: int) -> int:
    """The longest physical line (bytes, or characters where the encoding is not ASCII-
    compatible) a file of ``n_fields`` fields may have: each field at its limit, in up to
    4 bytes a character and quoted, with its separator, and the line end. The slow scan
    reads no more of a line than this, so a file without line ends (or one huge line)
    costs a bounded amount of memory."""
    return n_fields * (4 * FIELD_LIMIT + 4) + 2


def with_path(err: DataError, src: Source) -> DataError:
    """The same error, naming the file."""
    return DataError(err.reason, path=src.where, line=err.line, column=err.column,
                     value=err.value)


class Fallback(Exception):
    """The engine cannot read this file; try the next one. The message says why.

    The conditions, all named where they are raised: a layout or option the engine does not
    take (quotes, id_dtype, the separator, the encoding; ids beyond int32 for the
    tokenizer), and input the engine cannot parse or check itself, whose bad line only the
    slow scan names (pyarrow.csv's ArrowInvalid, a UnicodeDecodeError while it transcodes,
    missing or non-finite values, ids that fail their check).
    """


@dataclass
class Parsed:
    user_map: IdMap
    users: np.ndarray          # int32 codes
    item_map: IdMap
    items: np.ndarray
    values: np.ndarray | None  # float32, None for implicit data
    timestamps: np.ndarray | None
    locate: Callable[[int], int]  # data row (0-based) -> physical line (1-based)
    repeated: np.ndarray | None = None  # rows of repeated (user, item) pairs; None: not known


@dataclass
class Job:
    """Everything an engine needs to know about one read."""

    src: Source
    dialect: Dialect
    cols: Columns
    id_dtype: str
    encoding: str

    def label(self, pos):
        return self.cols.label(self.dialect, pos)

    def error(self, reason, *, line=None, column=None, value=None) -> DataError:
        col = column if column is None or isinstance(column, tuple) else self.label(column)
        return DataError(reason, path=self.src.where, line=line, column=col, value=value)

    @property
    def ascii_compatible(self) -> bool:
        try:
            probe = "0123456789,;:|\t\n\r -+.eE\"\ufeff"[:-1]
            return probe.encode(self.encoding) == probe.encode("ascii")
        except (LookupError, UnicodeError):
            return False

    def bad_id(self, reason, row, pos, value):
        """An id problem found after parsing: the slow scan will name its line."""
        raise Fallback(f"{reason}: the slow scan names its line")

    @staticmethod
    def where_row(line) -> str:
        return f"line {line}"

    def locate(self, row: int) -> int:
        """Physical line of data row ``row`` (a slow scan; only on error paths)."""
        for k, (line, _) in enumerate(iter_records(self)):
            if k == row:
                return line
        return None


# --------------------------------------------------------------------------------------
# pyarrow
def read_pyarrow(job: Job) -> Parsed:
    d, cols = job.dialect, job.cols
    if d.sep == "ws":
        raise Fallback("runs of blanks as the separator: pyarrow.csv splits on one byte")
    colon = d.sep == "::"
    field = (lambda k: f"f{2 * k}") if colon else (lambda k: f"f{k}")
    table = _arrow_csv(job, colon, field)
    if table.num_rows == 0:
        raise job.error("the file has no data rows")
    table = table.unify_dictionaries()
    user_map, users = _dict_codes(job, table.column(field(cols.user)), cols.user, "user")
    item_map, items = _dict_codes(job, table.column(field(cols.item)), cols.item, "item")
    values = None
    if cols.rating is not None:
        col = table.column(field(cols.rating))
        values = column_numpy(col, np.float32)
        if col.null_count or not np.isfinite(values).all():
            raise Fallback("a missing or non-finite rating: the slow scan names its line")
    times = None
    if cols.timestamp is not None:
        times = arrow_times(table.column(field(cols.timestamp)))
    return Parsed(user_map, users, item_map, items, values, times, job.locate)


def _arrow_csv(job: Job, colon: bool, field):
    """The columns read by ``pyarrow.csv``: ids dictionary-encoded, ratings float32.

    ``::`` is read as ``:`` with the empty field between each pair typed null, so that a
    lone ``:`` inside a field fails the parse rather than shifting the columns.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    d, cols = job.dialect, job.cols
    width = 2 * d.n_fields - 1 if colon else d.n_fields
    ids = pa.dictionary(pa.int32(), pa.string())
    types = {field(cols.user): ids, field(cols.item): ids}
    if cols.rating is not None:
        types[field(cols.rating)] = pa.float32()
    include = [field(k) for k in (cols.user, cols.item, cols.rating, cols.timestamp)
               if k is not None]
    if colon:
        for k in range(1, width, 2):
            types[f"f{k}"] = pa.null()
            include.append(f"f{k}")
    enc = "utf8" if codecs.lookup(job.encoding).name == "utf-8" else job.encoding
    read = pacsv.ReadOptions(column_names=[f"f{k}" for k in range(width)],
                             skip_rows=d.skip_lines, block_size=_BLOCK, encoding=enc)
    parse = pacsv.ParseOptions(delimiter=":" if colon else d.sep,
                               quote_char='"' if not colon else False,
                               newlines_in_values=d.quoting)
    convert = pacsv.ConvertOptions(include_columns=include, column_types=types,
                                   null_values=[""], strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    # checked here, outside the try below: a wrong option is a bug, not a reason to fall back
    read.validate()
    parse.validate()
    convert.validate()
    stream = None if job.src.compression is None else job.src.open_checked()
    try:
        return pacsv.read_csv(str(job.src.path) if stream is None else stream,
                              read_options=read, parse_options=parse,
                              convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Fallback(f"pyarrow.csv cannot parse it ({exc}): the slow scan names the "
                       "line") from None
    except OSError as exc:  # reading the file itself; decompression errors are DataErrors
        raise job.error(f"cannot read the file: {exc}") from None
    finally:
        if stream is not None:
            stream.close()


def column_numpy(chunked, dtype):
    """A chunked pyarrow column as one numpy array of ``dtype``."""
    if chunked.num_chunks == 1:
        return chunked.chunk(0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    out = np.empty(len(chunked), dtype)
    pos = 0
    for chunk in chunked.chunks:
        out[pos: pos + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        pos += len(chunk)
    return out


def _dict_codes(job, column, pos, side):
    if column.null_count:
        raise Fallback(f"a missing {side} id: the slow scan names its line")
    codes = np.empty(len(column), np.int32)
    at = 0
    for chunk in column.chunks:
        codes[at: at + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
        at += len(chunk)
    dictionary = column.chunk(0).dictionary if column.num_chunks else []
    if len(dictionary) and _longest(dictionary) > FIELD_LIMIT:
        raise Fallback(f"a {side} id longer than {FIELD_LIMIT:,} characters: the slow scan "
                       "names its line")
    return map_ids(job, dictionary, codes, pos, side)


def _longest(strings) -> int:
    import pyarrow.compute as pc

    return pc.max(pc.utf8_length(strings)).as_py()


def arrow_times(column):
    """int64 Unix seconds from an integer, whole-float, date or timestamp column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if column.null_count:
        raise Fallback("a missing timestamp")
    if pa.types.is_integer(t):
        return column_numpy(column, np.int64)
    if pa.types.is_floating(t):
        v = column_numpy(column, np.float64)
        if not ((np.abs(v) < 2.0**63) & (v == np.round(v))).all():
            raise Fallback("a timestamp that is not a whole number of seconds")
        return v.astype(np.int64)
    if pa.types.is_date(t):
        try:
            column = pc.cast(column, pa.timestamp("s"))
        except pa.ArrowInvalid:  # a date64 that is not whole seconds (a safe cast refuses)
            raise Fallback("a date that is not a whole number of seconds") from None
        t = column.type
    if pa.types.is_timestamp(t):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[t.unit]
        return column_numpy(pc.cast(column, pa.int64()), np.int64) // per_second
    raise Fallback(f"timestamps of type {t}, not integers, dates or datetimes")


# --------------------------------------------------------------------------------------
# ids: strings -> IdMap and codes
_CANONICAL = r"^-?(0|[1-9][0-9]*)$"


def map_ids(job: Job, uniques, codes: np.ndarray, pos, side):
    """IdMap (sorted) and int32 codes for a column given as distinct strings + codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = uniques if isinstance(uniques, pa.Array) else pa.array(uniques, pa.string())
    empty = np.flatnonzero(pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False))
    if empty.size:
        job.bad_id(f"empty {side} id", int(np.argmax(codes == empty[0])), pos, "")
    values = None
    if job.id_dtype != "str" and len(arr):
        # blanks around a number ("1, 10, 4": " 10") are layout, not part of the id, as
        # id_dtype="int" reads them: else that side's ids were all text, " 10", and no
        # query by 10 found them (text ids keep their blanks: " d " is an id)
        values = _canonical_ints(pc.utf8_trim_whitespace(arr))
        if values is None and job.id_dtype == "int":
            values = _lenient_ints(job, arr.to_pylist(), codes, pos, side)
    if values is None:
        values = np.array(arr.to_pylist(), dtype=object)
    if values.size == 0:
        return IdMap(np.empty(0, np.int64), name=side), codes
    sorted_ids, inverse = np.unique(values, return_inverse=True)
    np.take(inverse.astype(np.int32), codes, out=codes)
    return IdMap(sorted_ids, name=side), codes


def _canonical_ints(arr):
    """int64 values of an Arrow string array whose every string is a canonical decimal
    integer in the int64 range, else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pc.all(pc.match_substring_regex(arr, _CANONICAL)).as_py():
        return None
    try:
        values = pc.cast(arr, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None
    return None if (values == _INT64_MIN).any() else values


def _lenient_ints(job, texts, codes, pos, side):
    """id_dtype="int": every id must be a decimal integer ("007" is 7)."""
    out = np.empty(len(texts), np.int64)
    for j, s in enumerate(texts):
        t = s.strip()
        v = int(t) if _INTEGER.match(t) else None
        if v is None or not _INT64_MIN < v <= _INT64_MAX:
            job.bad_id(f"{side} id is not an integer (id_dtype='int')",
                       int(np.argmax(codes == j)), pos, s)
        out[j] = v
    return out


# --------------------------------------------------------------------------------------
# the slow scan
def iter_records(job: Job):
    """Yield ``(line, fields)`` for each data row; DataError on a wrong field count."""
    d = job.dialect
    n = d.n_fields
    with job.src.open() as f:
        try:
            lines = _text_lines(job, f)
            if d.sep in ("::", "ws"):
                for line, text in lines:
                    blank = not (text.strip() if d.sep == "ws" else text.strip("\r\n"))
                    if line <= d.skip_lines or blank:
                        continue
                    body = text.rstrip("\r\n")
                    fields = body.split() if d.sep == "ws" else body.split("::")
                    if len(fields) != n:
                        raise _count_error(job, line, n, len(fields), body)
                    yield line, fields
                return
            state = {"line": 0}

            def feed():
                for line, text in lines:
                    state["line"] = line
                    yield text

            reader = csv.reader(feed(), delimiter=d.sep, strict=False)
            first = 1
            for fields in reader:
                start, first = first, state["line"] + 1
                if start <= d.skip_lines or not fields:
                    continue
                if len(fields) != n:
                    body = d.sep.join(fields)
                    raise _count_error(job, start, n, len(fields), body)
                yield start, fields
        except DataError:
            raise
        except csv.Error as exc:
            raise job.error(f"cannot parse the line: {exc}", line=state["line"]) from None
        except DECOMPRESS_ERRORS as exc:
            if job.src.compression is None:
                raise job.error(f"cannot read the file: {exc}") from None
            raise job.src.corrupt(exc) from None


def _count_error(job, line, want, got, body):
    return job.error(f"expected {want} fields, found {got}", line=line,
                     value=body if len(body) <= 200 else body[:200] + "...")


def _text_lines(job: Job, f):
    """(line number, decoded text with its newline) for each physical line; DataError for
    a line longer than :func:`line_limit`, read no further than that."""
    limit = line_limit(job.dialect.n_fields)
    if not job.ascii_compatible:
        import io

        text = io.TextIOWrapper(f, encoding=job.encoding, newline="")
        try:
            k = 0
            while s := text.readline(limit + 1):
                k += 1
                if len(s) > limit:
                    raise _long_line(job, k, limit, "characters")
                yield k, s
        except UnicodeDecodeError as exc:
            raise job.error(f"cannot decode the text as {job.encoding}: {exc}") from None
        return
    first = True
    for k, part in _raw_lines(job, f, limit):
        if first:
            first = False
            if part.startswith(b"\xef\xbb\xbf"):
                part = part[3:]
        try:
            yield k, part.decode(job.encoding)
        except UnicodeDecodeError as exc:
            raise job.error(f"cannot decode the line as {job.encoding} ({exc.reason} "
                            f"at byte {exc.start})", line=k,
                            value=part[:80].decode(job.encoding, "replace")) from None


def _raw_lines(job: Job, f, limit: int):
    """(line number, bytes with the line end) for each physical line, where a line ends at
    CR LF, LF or a lone CR; read ``limit`` + 1 bytes at a time, so that no more than about
    twice the limit is ever held, however long the line."""
    k, carry = 0, b""
    while True:
        piece = f.readline(limit + 1)
        raw = carry + piece
        if not raw:
            return
        cut = len(piece) == limit + 1 and not piece.endswith(b"\n")
        # readline stops at LF only: lone CR line ends inside are split here (a CR LF end
        # is not split, unless the piece was cut there)
        split = b"\r" in (raw if cut else raw[:-2])
        parts = [m.group() for m in _RAW_LINE.finditer(raw)] if split else [raw]
        carry = parts.pop() if cut else b""  # the line goes on in the next piece
        for part in parts:
            k += 1
            if len(part) > limit:
                raise _long_line(job, k, limit, "bytes")
            yield k, part
        if len(carry) > limit:
            raise _long_line(job, k + 1, limit, "bytes")


def _long_line(job: Job, line: int, limit: int, unit: str) -> DataError:
    return job.error(f"the line is longer than {limit:,} {unit}, the most "
                     f"{job.dialect.n_fields} fields of at most {FIELD_LIMIT:,} characters "
                     "can take: it is not a line of a ratings table (a binary file, or no "
                     "line ends?)", line=line)


def read_slow(job: Job) -> Parsed:
    import pyarrow as pa

    cols = job.cols
    int_ids = job.id_dtype == "int"
    dicts = ({}, {})
    codes = (array("i"), array("i"))
    lines = array("q")
    rating_chunks, pending = [], []
    times = array("q") if cols.timestamp is not None else None

    def flush():
        values = pa.array(pending, pa.string()).cast(pa.float32()).to_numpy(
            zero_copy_only=False)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            k = int(bad[0])
            raise job.error("rating is not a finite number (beyond the float32 range)",
                            line=lines[len(lines) - len(pending) + k], column=cols.rating,
                            value=pending[k])
        rating_chunks.append(values)
        pending.clear()

    for line, fields in iter_records(job):
        _check_lengths(job, line, fields)
        for side, (pos, table, out) in enumerate(zip((cols.user, cols.item), dicts, codes)):
            raw = fields[pos]
            if raw == "":
                raise job.error(f"empty {('user', 'item')[side]} id", line=line, column=pos,
                                value=raw)
            code = table.get(raw)
            if code is None:
                if int_ids and not _is_int_id(raw):
                    raise job.error(f"{('user', 'item')[side]} id is not an integer "
                                    "(id_dtype='int')", line=line, column=pos, value=raw)
                code = table[raw] = len(table)
            out.append(code)
        if times is not None:
            times.append(parse_timestamp(job, line, cols.timestamp, fields[cols.timestamp]))
        lines.append(line)
        if cols.rating is not None:
            pending.append(_rating_text(job, line, cols.rating, fields[cols.rating]))
            if len(pending) >= 65536:
                flush()
    if not lines:
        raise job.error("the file has no data rows")
    locate = lines.__getitem__
    values = None
    if cols.rating is not None:
        flush()
        values = np.concatenate(rating_chunks)
    maps = []
    for side, pos, table, out in zip(("user", "item"), (cols.user, cols.item), dicts, codes):
        arr = np.frombuffer(out, dtype=np.int32).copy()
        maps.append(map_ids(_Located(job, locate), list(table), arr, pos, side))
    ts = None if times is None else np.frombuffer(times, dtype=np.int64).copy()
    return Parsed(maps[0][0], maps[0][1], maps[1][0], maps[1][1], values, ts, locate)


def _check_lengths(job, line, fields) -> None:
    """DataError for a field over FIELD_LIMIT (csv.reader stops at its own limit, the
    same by default; "::" and blank-separated lines are split by str.split)."""
    if len(max(fields, key=len)) > FIELD_LIMIT:
        pos = max(range(len(fields)), key=lambda k: len(fields[k]))
        raise job.error(f"a field longer than {FIELD_LIMIT:,} characters", line=line,
                        column=pos, value=fields[pos][:80] + "...")


class _Located(Job):
    """A Job whose row -> line lookup is an array (the slow scan knows every line)."""

    def __init__(self, job, locate):
        super().__init__(job.src, job.dialect, job.cols, job.id_dtype, job.encoding)
        self._locate = locate

    def locate(self, row):
        return self._locate(row)

    def bad_id(self, reason, row, pos, value):
        raise self.error(reason, line=self.locate(row), column=pos, value=value)


def _is_int_id(text) -> bool:
    t = text.strip()
    return bool(_INTEGER.match(t)) and _INT64_MIN < int(t) <= _INT64_MAX


def _rating_text(job, line, pos, text):
    t = text.strip()
    if _NUMBER.match(t):
        return t
    if t == "":
        raise job.error("missing rating", line=line, column=pos, value=text)
    if _NOT_FINITE.match(t):
        raise job.error("rating is not a finite number", line=line, column=pos, value=text)
    raise job.error("rating is not a number", line=line, column=pos, value=text)


def parse_timestamp(job, line, pos, text) -> int:
    t = text.strip()
    if _INTEGER.match(t):
        v = int(t)
        if _INT64_MIN <= v <= _INT64_MAX:
            return v
    elif _WHOLE_FLOAT.match(t):
        v = int(float(t)) if abs(float(t)) < 2**53 else None
        if v is not None:
            return v
    elif t:
        try:
            when = datetime.fromisoformat(t)
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return math.floor(when.timestamp())
    raise job.error("timestamp is not an integer or a date (pass timestamp=False to "
                    "ignore this column)", line=line, column=pos, value=text)

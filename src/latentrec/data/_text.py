"""The three engines that read delimited text, fastest first.

1. :func:`read_fast`: the compiled tokenizer of ``_fastcsv`` for plain numeric files
   (canonical integer ids), two threads, straight into the final arrays.
2. :func:`read_pyarrow`: ``pyarrow.csv`` for everything else it can parse (string ids,
   quoted fields, dates); id columns come out dictionary-encoded.
3. :func:`read_slow`: a line-by-line Python scan, the reference. It runs only when the
   others give up or find something wrong, and it names the first bad line, column and value.

Each engine returns :class:`Parsed`, or raises :class:`Fallback` to hand over to the next.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from ..errors import DataError
from ._dialect import Columns, Dialect
from ._source import DECOMPRESS_ERRORS, Source
from .idmap import IdMap

_BLOCK = 16 << 20
_SPLIT_MIN = 1 << 20  # blocks at least this long are parsed in two halves at once
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+\Z")
_WHOLE_FLOAT = re.compile(r"[+-]?\d+\.0*\Z")
_RAW_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class Fallback(Exception):
    """The engine cannot read this file; try the next one."""


@dataclass
class Parsed:
    user_map: IdMap
    users: np.ndarray          # int32 codes
    item_map: IdMap
    items: np.ndarray
    values: np.ndarray | None  # float32, None for implicit data
    timestamps: np.ndarray | None
    locate: Callable[[int], int]  # data row (0-based) -> physical line (1-based)


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
        raise Fallback

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
# 1. compiled fast path
def read_fast(job: Job) -> Parsed:
    from . import _fastcsv as fc

    d, cols = job.dialect, job.cols
    if job.id_dtype == "str" or d.quoting or not job.ascii_compatible:
        raise Fallback
    kinds = np.zeros(d.n_fields, dtype=np.int8)
    kinds[cols.user], kinds[cols.item] = fc.USER, fc.ITEM
    if cols.rating is not None:
        kinds[cols.rating] = fc.RATING
    if cols.timestamp is not None:
        kinds[cols.timestamp] = fc.TIME
    sep = {"::": fc.COLONS, "ws": fc.WHITESPACE}.get(d.sep)
    sep = ord(d.sep) if sep is None else sep
    if sep > 127:
        raise Fallback
    out = _Outputs(job.src.size, cols, d.n_fields)
    with job.src.open() as f, ThreadPoolExecutor(1) as pool:
        buf = bytearray(_BLOCK)
        have = _fill(job.src, f, buf, 0)
        start = 3 if buf[:3] == b"\xef\xbb\xbf" else 0
        for _ in range(d.skip_lines):  # the header (and blank lines before it)
            nl = buf.find(b"\n", start, have)
            if nl < 0:
                raise Fallback  # a header longer than a block: leave it to pyarrow
            start = nl + 1
        while True:
            eof = have < len(buf)
            end = have if eof else buf.rfind(b"\n", start, have) + 1
            if eof and end > start and buf[end - 1] != 10:
                buf[end: end + 1] = b"\n"
                end += 1
            if end <= start and not eof:  # one line longer than the buffer
                buf.extend(bytes(len(buf)))
                have += _fill(job.src, f, buf, have)
                continue
            if end > start:
                _parse_halves(fc, pool, buf, start, end, sep, kinds, out)
            if eof:
                break
            rest = have - end
            buf[:rest] = buf[end:have]
            have = rest + _fill(job.src, f, buf, rest)
            start = 0
    n = out.row
    if n == 0:
        raise job.error("the file has no data rows")
    stats = out.stats
    users, items = out.users[:n], out.items[:n]
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(_int_codes, fc, items, stats[2], stats[3], "item")
        user_map, users = _int_codes(fc, users, stats[0], stats[1], "user")
        item_map, items = later.result()
    return Parsed(user_map, users, item_map, items,
                  None if out.ratings is None else out.ratings[:n],
                  None if out.times is None else out.times[:n], job.locate)


class _Outputs:
    """Growable output arrays of the fast path (capacity beyond what is written costs no RAM)."""

    def __init__(self, size_hint, cols, n_fields):
        cap = (size_hint or 0) // (2 * n_fields) + (1 << 20)
        self.users = np.empty(cap, np.int32)
        self.items = np.empty(cap, np.int32)
        self.ratings = None if cols.rating is None else np.empty(cap, np.float32)
        self.times = None if cols.timestamp is None else np.empty(cap, np.int64)
        self.row = 0
        # min user, max user, min item, max item (int32 range), lines
        self.stats = np.array([2**31 - 1, -(2**31), 2**31 - 1, -(2**31), 0, 0, 0, 0],
                              dtype=np.int64)

    @property
    def cap(self):
        return self.users.shape[0]

    def reserve(self, n):
        if n <= self.cap:
            return
        new = max(n, self.cap * 3 // 2)
        for name in ("users", "items", "ratings", "times"):
            old = getattr(self, name)
            if old is not None:
                grown = np.empty(new, old.dtype)
                grown[: self.row] = old[: self.row]
                setattr(self, name, grown)

    def arrays(self):
        dummy32, dummy64 = np.empty(0, np.float32), np.empty(0, np.int64)
        return (self.users, self.items,
                dummy32 if self.ratings is None else self.ratings,
                dummy64 if self.times is None else self.times)


def _fill(src, f, buf, have) -> int:
    """Read into ``buf[have:]`` until it is full or the stream ends; returns bytes added."""
    view = memoryview(buf)
    got = 0
    while have + got < len(buf):
        n = src.readinto(f, view[have + got:])
        if not n:
            break
        got += n
    return got


def _parse_halves(fc, pool, buf, start, end, sep, kinds, out):
    """Parse ``buf[start:end]`` in two halves at once (the kernel releases the GIL).

    The second half writes from a row past any the first half can fill (a line takes at
    least two bytes a field), and moves its rows down afterwards.
    """
    min_line = 2 * kinds.shape[0]
    mid = (start + end) // 2
    cut = buf.find(b"\n", mid, end) + 1 if end - start > _SPLIT_MIN else 0
    halves = [(start, cut), (cut, end)] if 0 < cut < end else [(start, end)]
    jobs, row = [], out.row
    for a, b in halves:
        stats = out.stats.copy()
        stats[4] = 0  # lines of this half
        jobs.append((a, b, row, stats))
        row += (b - a) // min_line + 1
    out.reserve(row)
    arrays = out.arrays()
    arr = np.frombuffer(buf, np.uint8)
    futures = [pool.submit(fc.parse_block, arr, a, b, sep, kinds, *arrays, r, s)
               for a, b, r, s in jobs[1:]]
    a, b, r, s = jobs[0]
    results = [fc.parse_block(arr, a, b, sep, kinds, *arrays, r, s)]
    results += [fu.result() for fu in futures]
    del arr
    for (a, b, r0, stats), (status, pos, r1) in zip(jobs, results):
        if status != fc.DONE:
            raise Fallback  # WIDE ids, or anything else: the general engines take over
        if r0 != out.row:
            for x in arrays:
                if x.size:
                    x[out.row: out.row + r1 - r0] = x[r0:r1]
        out.row += r1 - r0
        s = out.stats
        s[0], s[1] = min(s[0], stats[0]), max(s[1], stats[1])
        s[2], s[3] = min(s[2], stats[2]), max(s[3], stats[3])
        s[4] += stats[4]


def _int_codes(fc, ids, lo, hi, side):
    """Sorted IdMap and int32 codes (in place) for integer ids."""
    span = int(hi) - int(lo) + 1
    if span <= 4 * ids.shape[0] + (1 << 20):
        uniques = fc.dense_codes(ids, int(lo), int(hi), ids)
    else:
        import pandas as pd

        codes, uniques = pd.factorize(ids, sort=True)
        ids[:] = codes
        uniques = np.asarray(uniques, dtype=np.int64)
    return IdMap(uniques, name=side), ids


# --------------------------------------------------------------------------------------
# 2. pyarrow
def read_pyarrow(job: Job) -> Parsed:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    d, cols = job.dialect, job.cols
    if d.sep == "ws":
        raise Fallback
    colon = d.sep == "::"
    width = 2 * d.n_fields - 1 if colon else d.n_fields
    names = [f"f{k}" for k in range(width)]
    field = (lambda k: f"f{2 * k}") if colon else (lambda k: f"f{k}")
    roles = {"user": cols.user, "item": cols.item, "rating": cols.rating,
             "timestamp": cols.timestamp}
    ids = pa.dictionary(pa.int32(), pa.string())
    types = {field(cols.user): ids, field(cols.item): ids}
    if cols.rating is not None:
        types[field(cols.rating)] = pa.float32()
    include = [field(k) for k in roles.values() if k is not None]
    if colon:
        for k in range(1, width, 2):
            types[f"f{k}"] = pa.null()
            include.append(f"f{k}")
    enc = "utf8" if codecs.lookup(job.encoding).name == "utf-8" else job.encoding
    stream = None if job.src.compression is None else job.src.open()
    try:
        table = pacsv.read_csv(
            str(job.src.path) if stream is None else stream,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=d.skip_lines,
                                           block_size=_BLOCK, encoding=enc),
            parse_options=pacsv.ParseOptions(delimiter=":" if colon else d.sep,
                                             quote_char='"' if not colon else False,
                                             newlines_in_values=d.quoting),
            convert_options=pacsv.ConvertOptions(
                include_columns=include, column_types=types, null_values=[""],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except Exception:  # noqa: BLE001 - any failure: the slow scan names the bad line
        raise Fallback from None
    finally:
        if stream is not None:
            stream.close()
    if table.num_rows == 0:
        raise job.error("the file has no data rows")
    table = table.unify_dictionaries()
    user_map, users = _dict_codes(job, table.column(field(cols.user)), cols.user, "user")
    item_map, items = _dict_codes(job, table.column(field(cols.item)), cols.item, "item")
    values = None
    if cols.rating is not None:
        col = table.column(field(cols.rating))
        values = _numpy(col, np.float32)
        if col.null_count or not np.isfinite(values).all():
            raise Fallback
    times = None
    if cols.timestamp is not None:
        times = _arrow_times(table.column(field(cols.timestamp)))
    return Parsed(user_map, users, item_map, items, values, times, job.locate)


def _numpy(chunked, dtype):
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
        raise Fallback
    codes = np.empty(len(column), np.int32)
    at = 0
    for chunk in column.chunks:
        codes[at: at + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
        at += len(chunk)
    dictionary = column.chunk(0).dictionary if column.num_chunks else []
    return map_ids(job, dictionary, codes, pos, side)


def _arrow_times(column):
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    try:
        if pa.types.is_integer(t):
            return _numpy(column, np.int64) if not column.null_count else _fail()
        if pa.types.is_floating(t):
            v = _numpy(column, np.float64)
            if column.null_count or not (np.isfinite(v) & (v == np.round(v))).all():
                raise Fallback
            return v.astype(np.int64)
        if pa.types.is_date(t):
            column = pc.cast(column, pa.timestamp("s"))
            t = column.type
        if pa.types.is_timestamp(t) and not column.null_count:
            per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[t.unit]
            raw = _numpy(pc.cast(column, pa.int64()), np.int64)
            return raw // per_second
    except pa.ArrowException:
        pass
    raise Fallback


def _fail():
    raise Fallback


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
        if pc.all(pc.match_substring_regex(arr, _CANONICAL)).as_py():
            try:
                values = pc.cast(arr, pa.int64()).to_numpy()
                if (values == _INT64_MIN).any():
                    values = None
            except pa.ArrowInvalid:
                values = None
        if values is None and job.id_dtype == "int":
            values = _lenient_ints(job, arr.to_pylist(), codes, pos, side)
    if values is None:
        values = np.array(arr.to_pylist(), dtype=object)
    if values.size == 0:
        return IdMap(np.empty(0, np.int64), name=side), codes
    sorted_ids, inverse = np.unique(values, return_inverse=True)
    np.take(inverse.astype(np.int32), codes, out=codes)
    return IdMap(sorted_ids, name=side), codes


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
# 3. the slow scan
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
    """(line number, decoded text with its newline) for each physical line."""
    if not job.ascii_compatible:
        import io

        text = io.TextIOWrapper(f, encoding=job.encoding, newline="")
        try:
            for k, s in enumerate(text, 1):
                yield k, s
        except UnicodeDecodeError as exc:
            raise job.error(f"cannot decode the text as {job.encoding}: {exc}") from None
        return
    k = 0
    first = True
    for raw in f:
        parts = [raw]
        if b"\r" in raw[:-2]:  # lone CR line ends inside: split there, keeping them
            parts = [m.group() for m in _RAW_LINE.finditer(raw)]
        for part in parts:
            k += 1
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
            times.append(_timestamp(job, line, cols.timestamp, fields[cols.timestamp]))
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


def _timestamp(job, line, pos, text) -> int:
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

"""The fast path for plain numeric text: the compiled tokenizer, block by block.

Blocks of raw bytes (the next one read while this one is parsed) are cut at their last
newline, and each is parsed in two halves at once by :func:`._fastcsv.parse_block`, which
writes straight into the final arrays. Integer ids then become codes through a rank table,
and a sorted key per (user, item) pair tells whether any pair repeats. Input the tokenizer
does not take raises :class:`._text.Fallback` saying why, and the general engines take over.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._text import Fallback, Job, Parsed, line_limit
from .duplicates import rows_of_repeats
from .idmap import IdMap

_BLOCK = 16 << 20
_SPLIT_MIN = 1 << 20  # blocks longer than this are parsed in two halves at once
_SPARE_ROWS = 1 << 20  # rows reserved beyond the first guess, so that few files grow


def read_fast(job: Job) -> Parsed:
    from ..kernels import csv_tokens as fc

    kinds, sep = _layout(job, fc)
    out = _Outputs(job.src.size, job.cols, job.dialect.n_fields)
    _tokenize(job, kinds, sep, out)
    n = out.row
    if n == 0:
        raise job.error("the file has no data rows")
    stats = out.stats
    users, items = out.users[:n], out.items[:n]
    # one number per (user, item) pair, from the raw ids before they become codes; the
    # repeated ones found (numpy's sort releases the GIL) while two threads make the codes
    ispan = int(stats[3]) - int(stats[2]) + 1
    span = (int(stats[1]) - int(stats[0]) + 1) * ispan
    keys = np.empty(n, np.uint32 if span <= 2**32 else np.uint64)  # exact either way
    fc.pack_pairs(users, items, int(stats[0]), int(stats[2]), ispan, keys)
    with ThreadPoolExecutor(2) as pool:
        later_u = pool.submit(_int_codes, fc, users, stats[0], stats[1], "user")
        later_i = pool.submit(_int_codes, fc, items, stats[2], stats[3], "item")
        repeated = rows_of_repeats(keys, np.sort(keys))
        del keys
        user_map, users = later_u.result()
        item_map, items = later_i.result()
    return Parsed(user_map, users, item_map, items,
                  None if out.ratings is None else out.ratings[:n],
                  None if out.times is None else out.times[:n], job.locate,
                  repeated=repeated)


def _layout(job: Job, fc):
    """The tokenizer's field kinds and separator code, or Fallback saying why it cannot."""
    d, cols = job.dialect, job.cols
    if job.id_dtype == "str":
        raise Fallback("id_dtype='str': the tokenizer reads integer ids only")
    if d.quoting:
        raise Fallback("the sample has quotes: the tokenizer reads unquoted fields only")
    if not job.ascii_compatible:
        raise Fallback(f"the encoding {job.encoding!r} is not ASCII-compatible")
    sep = {"::": fc.COLONS, "ws": fc.WHITESPACE}.get(d.sep)
    sep = ord(d.sep) if sep is None else sep
    if sep > 127:
        raise Fallback(f"the separator {d.sep!r} is not one ASCII byte")
    kinds = np.zeros(d.n_fields, dtype=np.int8)
    kinds[cols.user], kinds[cols.item] = fc.USER, fc.ITEM
    if cols.rating is not None:
        kinds[cols.rating] = fc.RATING
    if cols.timestamp is not None:
        kinds[cols.timestamp] = fc.TIME
    return kinds, sep


def _tokenize(job: Job, kinds, sep, out) -> None:
    """Every data line into ``out``, block by block, the next block read meanwhile."""
    size = job.src.size
    block = _BLOCK if size is None else max(16, min(_BLOCK, size + 1))
    bufs = [bytearray(block), bytearray(block)]
    with job.src.open() as f, ThreadPoolExecutor(1) as pool, \
            ThreadPoolExecutor(1) as reader:
        buf = bufs[0]
        have = _fill(job.src, f, buf, 0)
        start = 3 if buf[:3] == b"\xef\xbb\xbf" else 0
        for _ in range(job.dialect.skip_lines):  # the header (and blank lines before it)
            nl = buf.find(b"\n", start, have)
            if nl < 0 or b"\r" in buf[start: nl - 1]:
                raise Fallback("a header longer than a block, or old Mac (CR) line ends")
            start = nl + 1
        while True:
            eof = have < len(buf)
            end = have if eof else buf.rfind(b"\n", start, have) + 1
            if eof and end > start and buf[end - 1] != 10:
                buf[end: end + 1] = b"\n"
                end += 1
            if end <= start and not eof:  # one line longer than the buffer: grow both,
                # up to the longest a line may be; the slow scan names a longer one's line
                if len(buf) - start > line_limit(job.dialect.n_fields):
                    raise Fallback("a line longer than the line limit")
                for b in bufs:
                    b.extend(bytes(len(b)))
                have += _fill(job.src, f, buf, have)
                continue
            if not eof:  # read the next block while this one is parsed
                nxt = bufs[1] if buf is bufs[0] else bufs[0]
                rest = have - end
                nxt[:rest] = buf[end:have]
                later = reader.submit(_fill, job.src, f, nxt, rest)
            if end > start:
                _parse_halves(kinds, pool, buf, start, end, sep, out)
            if eof:
                return
            have = rest + later.result()
            buf, start = nxt, 0


class _Outputs:
    """Growable output arrays of the fast path (capacity beyond what is written costs no RAM)."""

    def __init__(self, size_hint, cols, n_fields):
        cap = (size_hint or 0) // (2 * n_fields) + _SPARE_ROWS
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


def _parse_halves(kinds, pool, buf, start, end, sep, out):
    """Parse ``buf[start:end]`` in two halves at once (the kernel releases the GIL).

    The second half writes from a row past any the first half can fill, and moves its rows
    down afterwards. A line takes at least a byte a field (its separator or newline) and a
    digit for each field read; a field skipped may be empty.
    """
    from ..kernels import csv_tokens as fc

    min_line = kinds.shape[0] + int(np.count_nonzero(kinds != fc.SKIP))
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
    for (_, _, r0, stats), (status, pos, r1) in zip(jobs, results):
        if status == fc.WIDE:
            raise Fallback("an id beyond the int32 range")
        if status == fc.STOP:
            raise Fallback(f"a field the tokenizer does not take, at byte {pos} of a block")
        if status != fc.DONE:  # FULL: rows were reserved for the fewest bytes a line takes
            raise RuntimeError(f"the tokenizer ran out of reserved rows at byte {pos}")
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
    if span <= 2 * ids.shape[0] + (1 << 20):  # a rank table of at most 2 ints a row
        uniques = fc.dense_codes(ids, int(lo), int(hi), ids)
    else:
        import pandas as pd

        codes, uniques = pd.factorize(ids, sort=True)
        ids[:] = codes
        uniques = np.asarray(uniques, dtype=np.int64)
    return IdMap(uniques, name=side), ids

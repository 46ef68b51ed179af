"""Compiled fast path for plain numeric rating files (integer ids, numeric ratings).

The reader feeds whole lines of raw bytes, block after block, to :func:`parse_block`, which
tokenizes and converts them in one pass straight into the final arrays. It accepts only the
simple, common case: unquoted fields, canonical decimal integer ids, numbers whose float32
value it can compute exactly, integer timestamps. On anything else it stops and reports
STOP, and the caller hands the whole file to the general reader (pyarrow, then a line-by-
line Python scan that names the bad line). It never guesses: a value it accepts is the value
the general reader would give.

Field kinds (``kinds[k]`` for field ``k`` of a line): SKIP, USER, ITEM, RATING, TIME.
Separators: one byte (``sep``), ``::`` (``sep == COLONS``), or runs of spaces and tabs
(``sep == WHITESPACE``).

These are hot loops over flat arrays with no I/O; the reader (latentrec.data._fastread)
is their only caller. :func:`parse_block` is one long loop on purpose: splitting its
field parsers into @njit helpers that take the byte array measured 1.2-2x slower (numba
counts references to an array passed to each call), and it runs once per field of every
line.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SKIP, USER, ITEM, RATING, TIME = 0, 1, 2, 3, 4
COLONS, WHITESPACE = -1, -2
DONE, FULL, STOP, WIDE = 0, 1, 2, 3

_NL, _CR, _SP, _TAB, _QUOTE = 10, 13, 32, 9, 34
# exact powers of ten in float64 (10**22 is the largest)
_POW10 = np.array([10.0 ** k for k in range(23)], dtype=np.float64)


@njit(cache=True, nogil=True)
def _is_sep(buf, p, end, sep):
    """Length of the separator at ``p`` (0 when there is none)."""
    c = buf[p]
    if sep >= 0:
        return 1 if c == sep else 0
    if sep == COLONS:
        if c == 58 and p + 1 < end and buf[p + 1] == 58:
            return 2
        return 0
    if c == _SP or c == _TAB:  # WHITESPACE: a run of blanks, unless it ends the line
        q = p
        while q < end and (buf[q] == _SP or buf[q] == _TAB):
            q += 1
        if q >= end or buf[q] == _NL or buf[q] == _CR:
            return 0
        return q - p
    return 0


_POW10_F32 = np.array([10.0 ** k for k in range(11)], dtype=np.float32)


@njit(cache=True, nogil=True)
def _exact_float32(m, e10, neg):
    """float32 nearest to +-m * 10**e10, or NaN when it cannot be computed exactly here."""
    if m == 0:
        return -0.0 if neg else 0.0
    if m < 16777216 and -10 <= e10 <= 10:
        # both operands exact in float32: one correctly rounded float32 operation
        f = np.float32(m)
        f = f * _POW10_F32[e10] if e10 >= 0 else f / _POW10_F32[-e10]
        y = np.float64(f)
        return -y if neg else y
    if m > 9007199254740992 or e10 > 22 or e10 < -22:
        return np.nan
    x = np.float64(m)
    x = x * _POW10[e10] if e10 >= 0 else x / _POW10[-e10]
    # x is the float64 nearest to the decimal (Clinger). Rounding it to float32 is exact
    # unless x sits exactly halfway between two float32 values.
    f = np.float32(x)
    y = np.float64(f)
    if np.isinf(f):
        return np.nan
    if y != x:
        g = np.nextafter(f, np.float32(np.inf) if x > y else np.float32(-np.inf))
        if (y + np.float64(g)) * 0.5 == x:
            return np.nan
    return -y if neg else y


@njit(cache=True, nogil=True, inline="always")
def _digits(buf, pos, acc):
    """``acc`` with the decimal digits at ``pos`` appended, and the position after them.
    Inlined (as the helpers below): a call would count references to ``buf`` each time."""
    while True:
        d = np.uint8(buf[pos] - 48)
        if d > 9:
            return acc, pos
        acc = acc * 10 + d
        pos += 1


@njit(cache=True, nogil=True, inline="always")
def _sign(buf, pos):
    """(negative, position after an optional '+' or '-')."""
    if buf[pos] == 45 or buf[pos] == 43:
        return buf[pos] == 45, pos + 1
    return False, pos


@njit(cache=True, nogil=True, inline="always")
def _blanks(buf, pos, skip_sp, skip_tab):
    """The position after the blanks at ``pos`` that are not separators."""
    while (buf[pos] == _SP and skip_sp) or (buf[pos] == _TAB and skip_tab):
        pos += 1
    return pos


@njit(cache=True, nogil=True)
# noqa below: one loop over every byte, kept whole for speed (module docstring).
def parse_block(buf, pos, end, sep, kinds, users, items, ratings, times, row, stats):  # noqa: C901
    """Parse the whole lines in ``buf[pos:end]`` (which ends with a newline).

    Writes rows from ``row`` on into ``users``, ``items`` (int32 raw ids), ``ratings``
    (float32) and ``times`` (int64); ``stats`` (int64[8]) keeps the running min and max of
    user and item ids and the count of physical lines consumed. Returns ``(status, pos,
    row)``: DONE with everything consumed, FULL when the arrays are full (``pos`` is the
    start of the first line not written), WIDE on an id outside the int32 range, STOP on
    anything else the fast path does not take.
    """
    nf = kinds.shape[0]
    cap = users.shape[0]
    umin, umax, imin, imax, nlines = stats[0], stats[1], stats[2], stats[3], stats[4]
    # blanks around a number are skipped, unless they separate fields
    skip_sp = sep != _SP and sep != WHITESPACE
    skip_tab = sep != _TAB and sep != WHITESPACE
    status = DONE
    while pos < end:
        c = buf[pos]
        if c == _NL:
            pos += 1
            nlines += 1
            continue
        if c == _CR and buf[pos + 1] == _NL:
            pos += 2
            nlines += 1
            continue
        if row >= cap:
            status = FULL
            break
        if sep == WHITESPACE:
            while buf[pos] == _SP or buf[pos] == _TAB:
                pos += 1
        for k in range(nf):
            kind = kinds[k]
            if k > 0:
                if sep >= 0:
                    if buf[pos] != sep:
                        return STOP, pos, row
                    pos += 1
                else:
                    n = _is_sep(buf, pos, end, sep)
                    if n == 0:
                        return STOP, pos, row
                    pos += n
            if kind == USER or kind == ITEM:
                neg = buf[pos] == 45  # '-'
                if neg:
                    pos += 1
                start = pos
                v, pos = _digits(buf, pos, 0)
                ndig = pos - start
                if ndig == 0 or ndig > 10 or (ndig > 1 and buf[start] == 48):
                    return STOP, pos, row
                x = -v if neg else v
                if x < -2147483648 or x > 2147483647:
                    return WIDE, pos, row
                if kind == USER:
                    users[row] = x
                    umin = min(umin, x)
                    umax = max(umax, x)
                else:
                    items[row] = x
                    imin = min(imin, x)
                    imax = max(imax, x)
            elif kind == RATING:
                neg, pos = _sign(buf, _blanks(buf, pos, skip_sp, skip_tab))
                start = pos
                m, pos = _digits(buf, pos, 0)
                ndig = pos - start
                e10 = 0
                if buf[pos] == 46:  # '.'
                    pos += 1
                    start = pos
                    m, pos = _digits(buf, pos, m)
                    e10 = start - pos
                    ndig += pos - start
                if ndig == 0 or ndig > 18:
                    return STOP, pos, row
                if buf[pos] == 101 or buf[pos] == 69:  # 'e' / 'E'
                    eneg, pos = _sign(buf, pos + 1)
                    start = pos
                    ev, pos = _digits(buf, pos, 0)
                    nd = pos - start
                    if nd == 0 or nd > 4:
                        return STOP, pos, row
                    e10 += -ev if eneg else ev
                pos = _blanks(buf, pos, skip_sp, skip_tab)
                f = _exact_float32(m, e10, neg)
                if np.isnan(f):
                    return STOP, pos, row
                ratings[row] = f
            elif kind == TIME:
                neg, pos = _sign(buf, _blanks(buf, pos, skip_sp, skip_tab))
                start = pos
                v, pos = _digits(buf, pos, 0)
                if pos == start or pos - start > 18:
                    return STOP, pos, row
                pos = _blanks(buf, pos, skip_sp, skip_tab)
                times[row] = -v if neg else v
            else:  # SKIP: any bytes up to the next separator or the end of the line
                while True:
                    c = buf[pos]
                    if c == _NL or c == _CR or c == _QUOTE:
                        break
                    if sep >= 0:
                        if c == sep:
                            break
                    elif _is_sep(buf, pos, end, sep) != 0:
                        break
                    pos += 1
                if c == _QUOTE:
                    return STOP, pos, row
        # end of line
        if sep == WHITESPACE:
            while buf[pos] == _SP or buf[pos] == _TAB:
                pos += 1
        if buf[pos] == _CR and buf[pos + 1] == _NL:
            pos += 1
        if buf[pos] != _NL:
            return STOP, pos, row
        pos += 1
        nlines += 1
        row += 1
    stats[0], stats[1], stats[2], stats[3], stats[4] = umin, umax, imin, imax, nlines
    return status, pos, row


@njit(cache=True, nogil=True)
def dense_codes(ids, lo, hi, out):
    """Codes of ids sorted ascending, for ids within a small range ``lo..hi``.

    Writes int32 codes into ``out`` and returns the sorted distinct ids (int64).
    """
    size = hi - lo + 1
    rank = np.zeros(size, dtype=np.int32)
    for j in range(ids.shape[0]):
        rank[ids[j] - lo] = 1
    count = 0
    for k in range(size):
        if rank[k] != 0:
            rank[k] = count
            count += 1
        else:
            rank[k] = -1
    uniques = np.empty(count, dtype=np.int64)
    for k in range(size):
        if rank[k] >= 0:
            uniques[rank[k]] = lo + k
    for j in range(ids.shape[0]):
        out[j] = rank[ids[j] - lo]
    return uniques


@njit(cache=True, nogil=True)
def pack_pairs(users, items, ulo, ilo, ispan, out):
    """``out[j] = (users[j] - ulo) * ispan + (items[j] - ilo)``: one number per pair."""
    for j in range(users.shape[0]):
        out[j] = (users[j] - ulo) * ispan + (items[j] - ilo)

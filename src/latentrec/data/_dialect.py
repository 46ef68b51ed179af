"""How a delimited text file is laid out: separator, header, and which column is which."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass

from ..errors import DataError, ParameterError

#: Separators tried when none is given, preferred in this order on a tie. "ws" = runs of
#: spaces and tabs.
SEPARATORS = ("::", "\t", ",", ";", "|", "ws")
SAMPLE_LINES = 50
#: A number written with a decimal comma, as in "4,5".
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+\Z")
#: How files mark a missing value; no header names a column so.
_MISSING = frozenset({"", "na", "n/a", "#n/a", "null", "none", "nil", "-", "?"})

ALIASES = {
    "user": ("user", "user_id", "userid", "uid", "users", "user id", "customer_id",
             "customer", "reviewer_id", "reviewerid"),
    "item": ("item", "item_id", "itemid", "iid", "items", "item id", "movieid", "movie_id",
             "movie", "product_id", "productid", "product", "asin", "isbn", "book_id",
             "track_id", "artist_id"),
    "rating": ("rating", "ratings", "score", "value", "stars", "rate", "grade",
               "book_rating", "book-rating", "overall"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unix_timestamp",
                  "unixreviewtime"),
}
ROLES = ("user", "item", "rating", "timestamp")

#: The MovieLens layouts: separator, header, field count, column names.
PRESETS = {
    "ml-100k": ("\t", False, 4, None),
    "ml-1m": ("::", False, 4, None),
    "ml-latest": (",", True, 4, ["userId", "movieId", "rating", "timestamp"]),
}


@dataclass
class Dialect:
    sep: str                 # one character, "::" or "ws"
    header: bool
    n_fields: int
    names: list | None       # header names (None without a header)
    skip_lines: int          # physical lines before the first data line (header included)
    quoting: bool            # whether a quote character may occur (seen in the sample)
    bom: bool
    numeric: tuple = ()      # the columns holding a number in every sampled data row


@dataclass
class Columns:
    user: int
    item: int
    rating: int | None
    timestamp: int | None

    def label(self, dialect: Dialect, pos: int):
        """A column as error messages name it: its header name, else its position."""
        if dialect.names is not None and pos < len(dialect.names):
            return dialect.names[pos]
        return pos


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_line(line: str, sep: str) -> list:
    if sep == "::":
        return line.split("::")
    if sep == "ws":
        return line.split()
    return next(csv.reader([line], delimiter=sep, strict=False), [""])


def sample_text(head: bytes, encoding: str):
    """The decoded start of the file, cut after its last complete line; and the BOM flag."""
    bom = head.startswith(b"\xef\xbb\xbf")
    if bom:
        head = head[3:]
    if len(head) >= (1 << 16) - 3:
        cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
        head = head[: cut + 1] if cut > 0 else head
    return bom, head.decode(encoding, errors="replace")


def records(text: str, sep: str, limit: int = SAMPLE_LINES) -> list:
    """Up to ``limit`` non-blank records of ``text``: (first physical line, fields)."""
    lines = [m.group() for m in _LINE.finditer(text)]
    out = []
    if sep in ("::", "ws"):
        for k, line in enumerate(lines, 1):
            body = line.rstrip("\r\n")
            if body.strip() if sep == "ws" else body:
                out.append((k, split_line(body, sep)))
                if len(out) >= limit:
                    break
        return out
    state = {"line": 0}

    def feed():
        for k, line in enumerate(lines, 1):
            state["line"] = k
            yield line

    first = 1
    try:
        for fields in csv.reader(feed(), delimiter=sep, strict=False):
            start, first = first, state["line"] + 1
            if fields:
                out.append((start, fields))
                if len(out) >= limit:
                    break
    except csv.Error:
        pass
    return out


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def detect(head: bytes, *, sep, header, fmt, encoding) -> Dialect:
    """Separator, header and field count from the first lines of the file."""
    bom, text = sample_text(head, encoding)
    sep, header = _preset_defaults(fmt, sep, header)
    if not text.strip():
        raise DataError("the file is empty (no data rows)")
    sep, sample = _sample_records(text, _checked_sep(text, sep))
    if not sample:
        raise DataError("the file is empty (no data rows)")
    rows = [f for _, f in sample]
    if header is None:
        first = [f.strip().strip('"').strip() for f in rows[0]]
        header = _looks_like_header(first, rows[1:])
    n_fields = _field_count(sample, header)
    names = _header_names(rows[0], header, fmt)
    skip = sample[0][0] if header else 0
    quoting = sep not in ("::", "ws") and '"' in text
    body = rows[1:] if header else rows
    numeric = tuple(j for j in range(n_fields) if body and all(
        j < len(r) and is_number(r[j]) for r in body))
    return Dialect(sep=sep, header=bool(header), n_fields=n_fields, names=names,
                   skip_lines=skip, quoting=quoting, bom=bom, numeric=numeric)


def _preset_defaults(fmt, sep, header):
    """The separator and header flag, filled in from a MovieLens preset where not given."""
    if fmt not in PRESETS:
        return sep, header
    p_sep, p_header, _, _ = PRESETS[fmt]
    return (p_sep if sep is None else sep), (p_header if header is None else header)


def _checked_sep(text, sep) -> str:
    """The separator given, if it is one that can be read; else the one detected."""
    if sep is None:
        return _detect_sep(text)
    if sep not in SEPARATORS and (len(sep) != 1 or sep in "\r\n\""):
        raise ParameterError(f"sep must be one character, '::' or 'ws'; got {sep!r}")
    return sep


def _sample_records(text, sep) -> tuple[str, list]:
    """The separator and the sampled records; a space separator becomes "ws" when the lines
    are aligned with runs of spaces or padded at the ends."""
    sample = records(text, sep)
    if sep == " " and any("  " in s or s != s.strip(" ")
                          for s in text.splitlines()[:SAMPLE_LINES] if s.strip()):
        sep = "ws"
        sample = records(text, sep)
    return sep, sample


def _field_count(sample, header) -> int:
    """The header's field count, else the most common count (ties go to the first line's);
    a single field means the separator was wrong."""
    rows = [f for _, f in sample]
    counts = [len(r) for r in rows]
    n_fields = len(rows[0]) if header else max(
        counts, key=lambda c: (counts.count(c), c == counts[0]))
    if n_fields < 2:
        raise _one_column(sample[0][1][0], line=sample[0][0])
    return n_fields


def _header_names(first_row, header, fmt) -> list | None:
    """The column names: the header's, else (for a preset that names them) the preset's."""
    names = [f.strip() for f in first_row] if header else None
    if fmt in PRESETS and PRESETS[fmt][3] is not None and header and names is None:
        names = PRESETS[fmt][3]
    return names


def _detect_sep(text) -> str:
    """The separator a person would see, among the candidates that split lines into two
    fields or more: of those that split every sampled line alike (else the one that splits
    the most lines alike), the one with the most columns holding a number in every row,
    the earlier in ``SEPARATORS`` on a tie ("1|Heat, The|5" is split at "|"). Blanks come
    last, as ids and titles hold spaces ("u1,sku 1001"): they win only with more fields
    and more numeric columns than the best other ("smith,john 10 5"), never over tabs.
    A comma that another candidate, with as many fields (blanks: more), leaves only inside
    numbers ("1;10;4,5") is a decimal mark, never the separator, so the reader names the
    rating it cannot read ("cust 17,305" keeps its comma)."""
    splits = _candidate_splits(text)
    if "," in splits and any(_decimal_commas(rows) and _mode(rows) + (c != "ws")
                             > _mode(splits[","]) for c, rows in splits.items() if c != ","):
        del splits[","]  # blanks, the weakest, need more fields than the comma; others as many
    if not splits:
        raise _one_column(next((line for line in text.splitlines() if line.strip()), ""))
    even = [c for c, rows in splits.items() if len({len(r) for r in rows}) == 1]
    if not even:
        return max(splits, key=lambda c: _agreeing(splits[c]))
    best = max(even, key=lambda c: (c != "ws", _numeric_columns(splits[c])))
    if best == "ws" or "ws" not in even or best == "\t":  # "0 0\t5\t4": tabs, text
        return best
    ws, other = splits["ws"], splits[best]
    wins = _mode(ws) > _mode(other) and _numeric_columns(ws) > _numeric_columns(other)
    return "ws" if wins else best


def _one_column(first_line: str, line: int | None = None) -> DataError:
    return DataError(f"found only one column in the first lines (first line: "
                     f"{first_line[:80]!r}); a ratings file needs at least a user and an "
                     "item column: pass sep= if the separator is unusual", line=line)


def _candidate_splits(text) -> dict:
    """The sampled rows as each candidate separator splits them, in the order of
    ``SEPARATORS``, for the candidates whose most common field count is two or more."""
    out = {}
    for cand in SEPARATORS:
        if cand != "ws" and cand not in text:
            continue
        rows = [f for _, f in records(text, cand)]
        if rows and _mode(rows) >= 2:
            out[cand] = rows
    return out


def _mode(rows) -> int:
    counts = [len(r) for r in rows]
    return max(set(counts), key=counts.count)


def _agreeing(rows) -> int:
    """How many rows have the most common field count."""
    mode = _mode(rows)
    return sum(len(r) == mode for r in rows)


def _decimal_commas(rows) -> bool:
    """Whether every comma in the rows is inside a number written with a decimal comma."""
    fields = [f.strip() for r in rows for f in r if "," in f]
    return bool(fields) and all(_DECIMAL_COMMA.match(f) for f in fields)


def _numeric_columns(rows) -> int:
    """How many columns hold a number in every row; the first row aside where there are
    others, as it may be a header."""
    body = rows[1:] or rows
    return sum(all(is_number(r[j]) for r in body) for j in range(len(body[0])))


def _looks_like_header(first, rest) -> bool:
    """Whether the first row names the columns: it holds a known column name, or names
    (none empty, a number or a missing-value mark) over a column of numbers. A data row
    with one odd value ("1,10,NA", "1,10,") is thus data, whose line the reader names,
    not a header to drop."""
    lowered = [f.lower() for f in first]
    if any(f in names for f in lowered for names in ALIASES.values()):
        return True
    if not rest or any(_is_value(f) for f in lowered):
        return False
    for j in range(len(first)):
        below = [r[j].strip() for r in rest if j < len(r)]
        if below and all(is_number(b) for b in below):
            return True
    return False


def _is_value(text: str) -> bool:
    """Whether a field reads as a value, or a missing one, rather than a column name."""
    if text in _MISSING or _DECIMAL_COMMA.match(text):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_columns(dialect: Dialect, *, user, item, rating, timestamp) -> Columns:
    """Positions of the user, item, rating and timestamp columns (rating/timestamp may be None)."""
    specs = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    for role in ("user", "item"):
        if specs[role] is False:
            raise ParameterError(f"{role}=False: a ratings file needs a {role} column")
    pos = {role: _position(dialect, spec, role) for role, spec in specs.items()
           if spec is not None and spec is not False}
    defaults = [r for r in ROLES if specs[r] is None]
    if defaults:
        _fill_defaults(dialect, defaults, pos)
    _check_distinct(dialect, pos)
    if "user" not in pos or "item" not in pos:
        raise DataError("cannot find the user and item columns; pass user= and item=")
    return Columns(pos["user"], pos["item"], pos.get("rating"), pos.get("timestamp"))


def _fill_defaults(dialect: Dialect, defaults: list, pos: dict) -> None:
    """Add to ``pos`` a column for the roles in ``defaults`` (those not given): by their
    header names when the header names one of them or the user or item column was given,
    else by position (user 0, item 1, rating 2, timestamp 3) where the column is free."""
    found = _named_columns(dialect, defaults)
    if dialect.names is not None and (found or any(r in pos for r in ("user", "item"))):
        _require_ids(dialect, pos, found)
        pos.update(found)
        if "rating" in defaults and "rating" not in pos:
            _refuse_unnamed_ratings(dialect, pos)
    else:
        for role, k in (("user", 0), ("item", 1), ("rating", 2), ("timestamp", 3)):
            if role in defaults and k < dialect.n_fields and k not in pos.values():
                pos[role] = k


def _refuse_unnamed_ratings(dialect: Dialect, pos: dict) -> None:
    """No column is named as ratings are: a column of numbers besides the others may
    well hold them ("my_rating"), and reading the file as implicit data (every value 1)
    would drop them in silence; the caller says which."""
    left = [k for k in dialect.numeric
            if k not in pos.values() and _may_hold_ratings(dialect.names[k])]
    if left:
        name = dialect.names[left[0]]
        raise DataError(f"cannot tell which column holds the ratings (columns are "
                        f"{dialect.names}): {name!r} holds numbers; pass rating={name!r}, "
                        "or rating=False for data without ratings")


def _may_hold_ratings(name: str) -> bool:
    """Whether a column of numbers may be ratings by its name: not a saved index ("",
    "Unnamed: 0", "index"), another id ("session_id", "tmdbId") or a time ("unix_time",
    a timestamp switched off with timestamp=False)."""
    key = re.sub(r"[\s_\-.]", "", name.lower())
    return not (key in ("", "index") or key.startswith("unnamed") or key.endswith("id")
                or "time" in key or "date" in key or name.lower() in ALIASES["timestamp"])


def _require_ids(dialect: Dialect, pos: dict, found: dict) -> None:
    for role in ("user", "item"):
        if role not in pos and role not in found:
            raise DataError(
                f"cannot tell which column holds the {role} ids "
                f"(columns are {dialect.names}); pass {role}= with a column name "
                "or position")


def _named_columns(dialect: Dialect, roles: list) -> dict:
    """The first header column named like each role (by ``ALIASES``), for roles found."""
    if dialect.names is None:
        return {}
    lowered = [n.lower() for n in dialect.names]
    found = {}
    for role in roles:
        hits = [k for k, n in enumerate(lowered) if n in ALIASES[role]]
        if hits:
            found[role] = hits[0]
    return found


def _check_distinct(dialect: Dialect, pos: dict) -> None:
    used = {}
    for role, k in pos.items():
        if k in used:
            raise ParameterError(f"{used[k]} and {role} cannot both be column "
                                 f"{Columns.label(None, dialect, k)!r}")
        used[k] = role


def _position(dialect: Dialect, spec, role) -> int:
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
        raise TypeError(f"{role}= must be a column name or a 0-based position, got {spec!r}")
    if isinstance(spec, int):
        if not 0 <= spec < dialect.n_fields:
            raise DataError(f"{role} column position {spec} does not exist; the file has "
                            f"{dialect.n_fields} columns (positions 0..{dialect.n_fields - 1})")
        return spec
    if dialect.names is None:
        raise DataError(f"no {role} column named {spec!r}: the file has no header row, so "
                        f"name columns by position (0..{dialect.n_fields - 1})")
    if spec in dialect.names:
        return dialect.names.index(spec)
    hits = [k for k, n in enumerate(dialect.names) if n.lower() == spec.lower()]
    if len(hits) == 1:
        return hits[0]
    raise DataError(f"no {role} column named {spec!r}; the columns are {dialect.names}")

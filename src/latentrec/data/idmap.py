"""IdMap: the two-way map between raw ids (as in the source) and dense indices."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError, UnknownIdError

_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)\Z")
_INT64_MAX = np.iinfo(np.int64).max
UNKNOWN_POLICIES = ("error", "missing")


def is_canonical_int(text: str) -> bool:
    """True for the one decimal spelling of an int64 ("42", "-7"), False for "007", "+1", "1.0"."""
    return bool(_CANONICAL_INT.match(text)) and abs(int(text)) <= _INT64_MAX


class IdMap:
    """Raw ids <-> dense indices ``0 .. len-1``, for one side (users or items).

    Raw ids are either all integers (kept as int64) or all strings, exactly as they were in
    the source. A lookup accepts an id in the other type when it is the same number: an
    integer map takes the canonical decimal string of an id ("42" for 42, but not "042"),
    because the command line and HTTP hand ids over as text, and a whole float (42.0, as a
    pandas column with a missing value holds ids, which a table reads as int ids), and a
    string map takes an integer for its canonical decimal string (42 for "42", never for
    "042"), because ids read as text look like numbers.

    Unknown ids follow an explicit policy: ``unknown="error"`` raises
    :class:`~latentrec.UnknownIdError`, ``unknown="missing"`` gives index -1. No
    placeholder id is ever invented.
    """

    def __init__(self, ids, *, name: str = "raw"):
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise DataError(f"{name} ids must be one-dimensional, got shape {arr.shape}")
        if arr.dtype.kind in "iu":
            _check_int64(arr, name)
            arr = arr.astype(np.int64, copy=True)
        elif arr.dtype.kind in "OUT" or isinstance(arr.dtype, pd.StringDtype):
            arr = np.array([_as_text(x, name) for x in arr], dtype=object)
        elif arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise DataError(f"{name} ids must be integers or strings, got dtype {arr.dtype}")
        arr.flags.writeable = False
        self._ids = arr
        self.name = name
        self._index = pd.Index(arr, dtype=arr.dtype if arr.dtype != object else object)
        if not self._index.is_unique:
            dup = arr[np.flatnonzero(self._index.duplicated())[0]]
            dup = dup.item() if isinstance(dup, np.generic) else dup
            raise DataError(f"{name} ids must be unique; {dup!r} appears more than once")

    # construction -------------------------------------------------------------------
    @classmethod
    def from_values(cls, values, *, name: str = "raw") -> tuple[IdMap, np.ndarray]:
        """Map a column of raw ids: returns the map (ids sorted) and int32 codes."""
        values = _normalize_id_column(np.asarray(values), name)
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError:  # unorderable mix of ints and strings
            bad = next(v for v in values if not isinstance(v, str))
            raise DataError(f"{name} ids must be all integers or all strings; "
                            f"found {bad!r}") from None
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            err = DataError(f"missing {name} id")
            err.row = row
            raise err
        return cls(np.asarray(uniques), name=name), codes.astype(np.int32)

    @classmethod
    def range(cls, n: int, *, name: str = "raw") -> IdMap:
        """The map of ids ``0 .. n-1`` onto themselves (rows or columns of a matrix)."""
        return cls(np.arange(n, dtype=np.int64), name=name)

    def extend(self, values) -> IdMap:
        """A new map with the ids in ``values`` that this one lacks appended, in order."""
        new = pd.unique(np.asarray(values))
        known = self.to_indices(new, unknown="missing")
        added = new[known < 0]
        if added.size == 0:
            return self
        if self.kind == "int":
            keys = [_int_key(v) for v in added]
            if None in keys:
                bad = added[keys.index(None)]
                raise DataError(f"{self.name} id {bad!r} is not an integer, but the "
                                f"{self.name} ids are integers: give it as one (or read "
                                "every id as text)")
            added = np.array(keys, dtype=np.int64)
        return IdMap(np.concatenate([self._ids, np.asarray(added, dtype=self._ids.dtype)]),
                     name=self.name)

    # lookups ------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        """Raw ids in index order (read-only)."""
        return self._ids

    @property
    def kind(self) -> str:
        """"int" or "str"."""
        return "str" if self._ids.dtype == object else "int"

    def __len__(self) -> int:
        return self._ids.shape[0]

    def __contains__(self, raw) -> bool:
        return self.to_indices([raw], unknown="missing")[0] >= 0

    def __eq__(self, other) -> bool:
        return (isinstance(other, IdMap) and self.kind == other.kind
                and np.array_equal(self._ids, other._ids))

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in self._ids[:3])
        more = ", ..." if len(self) > 3 else ""
        return f"IdMap({self.name}: {len(self)} {self.kind} ids [{head}{more}])"

    def to_index(self, raw) -> int:
        """Index of one raw id; raises UnknownIdError when it is not in the map."""
        return int(self.to_indices([raw], unknown="error")[0])

    def to_indices(self, raws, *, unknown: str = "error") -> np.ndarray:
        """Indices (int32) of many raw ids; unknown ids raise or give -1 (``"missing"``).

        An id in the other type matches when it is the same number (see the class)."""
        if unknown not in UNKNOWN_POLICIES:
            raise ParameterError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
        given = np.asarray(raws)
        if given.ndim == 0:
            given = given.reshape(1)
        idx = self._int_indices(given) if self.kind == "int" else self._str_indices(given)
        if unknown == "error" and (idx < 0).any():
            # named as the caller spelled it, not as it was looked up
            raise UnknownIdError(self.name, given[int(np.flatnonzero(idx < 0)[0])])
        return idx

    def _int_indices(self, given: np.ndarray) -> np.ndarray:
        if given.dtype.kind in "iu":
            return self._index.get_indexer(given).astype(np.int32)
        if given.dtype.kind == "f":  # whole floats are their ints (vectorized: columns)
            whole = np.isfinite(given) & (given == np.floor(given)) & (np.abs(given) < 2.0**63)
            idx = np.full(given.shape, -1, dtype=np.int32)
            idx[whole] = self._index.get_indexer(given[whole].astype(np.int64))
            return idx
        # every value through _int_key (pandas would match True and 1.0 to id 1), then the
        # int keys looked up as int64: an object array would make pandas convert the whole
        # index to objects on every call (5 ms a call at a million ids)
        keys = [_int_key(v) for v in given]
        idx = np.full(len(keys), -1, dtype=np.int32)
        found = [j for j, k in enumerate(keys) if k is not None and _INT64[0] <= k <= _INT64[1]]
        if found:
            idx[found] = self._index.get_indexer(np.array([keys[j] for j in found], np.int64))
        return idx

    def _str_indices(self, given: np.ndarray) -> np.ndarray:
        if given.dtype.kind in "iu":
            return self._index.get_indexer(given.astype(str).astype(object)).astype(np.int32)
        if given.dtype.kind not in "UTO":
            return np.full(given.shape, -1, dtype=np.int32)  # floats, bools: no text id
        idx = self._index.get_indexer(given.astype(object)).astype(np.int32)
        missed = np.flatnonzero(idx < 0)
        if missed.size:  # only the misses can be ints spelled as text ids: a short loop
            keys = np.array([_str_key(v) for v in given[missed]], dtype=object)
            idx[missed] = self._index.get_indexer(keys)
        return idx

    def coerce(self, raw):
        """``raw`` as this map spells its ids, for ids that arrive as text (a command-line
        argument, a URL path) or as JSON: a str map takes the text of ``raw``; an int map
        turns ints and canonical decimal strings ("50", not "050") into ints. Anything else
        comes back unchanged, so it looks up as unknown and an error can name it as given."""
        if self.kind == "str":
            return raw if isinstance(raw, str) else str(raw)
        return self._coerce_int(raw)

    def lookup(self, raw) -> int:
        """Index of one id given as text or as the id itself (see :meth:`coerce`); -1 when
        the map lacks it. One hash lookup, without building arrays: the HTTP service calls
        it on every request."""
        key = self.coerce(raw)
        if self.kind == "int" and type(key) is not int:  # a bool is no id, nor True 1
            return -1
        try:
            return int(self._index.get_loc(key))
        except (KeyError, TypeError):
            return -1

    def to_id(self, index: int):
        """The raw id at ``index`` (a Python int or str)."""
        return self._ids[index].item() if self.kind == "int" else self._ids[index]

    def to_ids(self, indices) -> np.ndarray:
        """Raw ids of many indices."""
        return self._ids[np.asarray(indices, dtype=np.intp)]

    @staticmethod
    def _coerce_int(value):
        """An int map's view of ``value``: ints stay, canonical decimal strings convert."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and is_canonical_int(value):
            return int(value)
        if isinstance(value, (float, np.floating)) and np.isfinite(value) and \
                value == int(value) and abs(value) < 2.0**63:  # 42.0, not "42.0"
            return int(value)
        return value  # cannot match an int id: looks up as unknown


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


_INT64 = (int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max))


def _int_key(value):
    """An int map's key for ``value`` in a lookup: the int, or None, which no id equals."""
    key = IdMap._coerce_int(value)
    return key if _is_int(key) else None


def _str_key(value):
    """A str map's key for ``value`` in a lookup: an int's canonical decimal text (7 finds
    "7", never "07"), a string itself, anything else None, which no id equals."""
    if _is_int(value):
        return str(int(value))
    return value if isinstance(value, str) else None


def _as_text(value, name: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError(f"missing {name} id")
    raise DataError(f"{name} ids must be all integers or all strings; found {value!r}")


def _normalize_id_column(values: np.ndarray, name: str) -> np.ndarray:
    """Integral floats (ids read through a NaN-capable column) become int64; NaN is an error."""
    if values.dtype.kind != "f":
        return values
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        err = DataError(f"{name} id is not an integer or string", value=values[row].item())
        err.row = row
        raise err
    _check_int64(values, name)
    return values.astype(np.int64)


def _check_int64(values: np.ndarray, name: str) -> None:
    """Refuse integer ids that int64 cannot hold (a cast would wrap them to other ids)."""
    if values.size == 0 or values.dtype.kind == "i":
        return
    if values.dtype.kind == "u":
        out = values > np.iinfo(np.int64).max  # exact: no float in the comparison
    else:
        out = (values >= 2.0**63) | (values < -(2.0**63))
    if out.any():
        raise DataError(f"{name} id {values[np.flatnonzero(out)[0]].item()!r} is beyond the "
                        "64-bit integer range; give such ids as text")

"""Ratings: the one in-memory form of a rating table."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from . import csr as _csr
from ._dialect import ALIASES
from .duplicates import resolve_duplicates
from .idmap import IdMap, _normalize_id_column

#: Largest matrix (users x items cells) that ``to_dense`` builds unless told otherwise.
DENSE_CELL_CAP = 25_000_000


class _DefaultName(str):
    """A column name left at its default, told apart from the same name given on purpose
    (a default rating column that is missing means implicit data; a named one is an
    error)."""


_RATING = _DefaultName("rating")


class DuplicateRatingsWarning(UserWarning):
    """Some (user, item) pairs appeared more than once and were resolved by a policy."""


@dataclass(frozen=True)
class RatingsSummary:
    n_users: int
    n_items: int
    n_ratings: int
    density: float
    min_rating: float
    max_rating: float
    mean_rating: float
    distinct_values: tuple  # the rating scale when it has at most 20 values, else ()
    has_timestamps: bool

    def __str__(self) -> str:
        scale = (", ".join(f"{v:g}" for v in self.distinct_values)
                 if self.distinct_values else f"{self.min_rating:g} .. {self.max_rating:g}")
        return (f"{self.n_ratings:,} ratings from {self.n_users:,} users on "
                f"{self.n_items:,} items (density {self.density:.4%}); "
                f"values {scale}, mean {self.mean_rating:.4f}"
                + ("; with timestamps" if self.has_timestamps else ""))


class Ratings:
    """A table of (user, item, rating[, timestamp]) rows.

    Users and items are held as int32 indices into two :class:`IdMap` s (raw ids at the
    edges only), ratings as float32, timestamps (optional) as int64. The arrays are
    read-only, so views such as :meth:`to_csr` are computed once and shared.

    Build one with :meth:`from_dataframe`, :meth:`from_dense`, :meth:`from_sparse`,
    :meth:`from_arrays`, or :func:`latentrec.read_ratings`.
    """

    def __init__(self, users, items, values, timestamps=None, *, user_map: IdMap,
                 item_map: IdMap, n_duplicates_resolved: int = 0):
        users = np.ascontiguousarray(users, dtype=np.int32)
        items = np.ascontiguousarray(items, dtype=np.int32)
        values = np.ascontiguousarray(values, dtype=np.float32)
        n = users.shape[0]
        if users.ndim != 1 or items.shape != (n,) or values.shape != (n,):
            raise DataError(f"users, items and values must be 1-D arrays of one length; "
                            f"got shapes {users.shape}, {items.shape}, {values.shape}")
        if timestamps is not None:
            timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
            if timestamps.shape != (n,):
                raise DataError(f"timestamps must have shape ({n},), got {timestamps.shape}")
        _check_range(users, len(user_map), "user")
        _check_range(items, len(item_map), "item")
        for arr in (users, items, values, timestamps):
            if arr is not None:
                arr.flags.writeable = False
        self.users, self.items, self.values, self.timestamps = users, items, values, timestamps
        self.user_map, self.item_map = user_map, item_map
        #: How many repeated (user, item) rows the duplicates policy collapsed.
        self.n_duplicates_resolved = n_duplicates_resolved
        self._csr = None

    # constructors -----------------------------------------------------------------
    @classmethod
    def from_arrays(cls, users, items, ratings=None, timestamps=None, *,
                    duplicates: str = "last", user_map: IdMap | None = None,
                    item_map: IdMap | None = None) -> Ratings:
        """Build from raw-id arrays; ``ratings=None`` means implicit data (every value 1).

        With ``user_map``/``item_map`` given, ids are looked up in them (an id they lack is
        a DataError); otherwise maps are built from the ids present, sorted.
        """
        users, items = np.asarray(users), np.asarray(items)
        n = users.shape[0]
        if ratings is None:
            values = np.ones(n, dtype=np.float32)
        else:
            values = _checked_values(ratings)
        if timestamps is not None:
            timestamps = _checked_timestamps(timestamps)
        for name, arr in (("items", items), ("ratings", values), ("timestamps", timestamps)):
            if arr is not None and arr.shape != (n,):
                raise DataError(f"users and {name} must have one length; "
                                f"got {n} and {arr.shape[0] if arr.ndim else arr.shape}")
        u_map, u_idx = _map_ids(users, user_map, "user")
        i_map, i_idx = _map_ids(items, item_map, "item")
        return cls._resolved(u_idx, i_idx, values, timestamps, u_map, i_map, duplicates)

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, user: str = "user", item: str = "item",
                       rating: str | None = _RATING, timestamp: str | None = None, *,
                       duplicates: str = "last") -> Ratings:
        """Build from a DataFrame; ``rating=None``, or no ``rating`` column when ``rating=``
        is not given, reads implicit data (every value 1). A ``rating=`` column named
        and missing is a DataError."""
        for role, col in (("user", user), ("item", item)):
            if col not in df.columns:
                raise DataError(f"no {role} column {col!r}; columns are {list(df.columns)}")
        if rating is not None and rating not in df.columns:
            if not isinstance(rating, _DefaultName):
                raise DataError(f"no rating column {rating!r}; columns are {list(df.columns)}")
            rating = None
        if timestamp is not None and timestamp not in df.columns:
            raise DataError(f"no timestamp column {timestamp!r}; columns are {list(df.columns)}")
        return cls.from_arrays(
            df[user].to_numpy(), df[item].to_numpy(),
            None if rating is None else df[rating].to_numpy(),
            None if timestamp is None else df[timestamp].to_numpy(),
            duplicates=duplicates)

    @classmethod
    def from_dense(cls, R, missing=0) -> Ratings:
        """Build from a dense users x items matrix in which ``missing`` (0, or NaN) means unknown.

        Every row and column is kept in the maps, known ratings or not, so a model's
        filled-in matrix has the shape of ``R``: their ids are 0..n-1, or a DataFrame's
        row and column labels (a pivot table keeps its user and item ids), in that order.
        """
        labelled = isinstance(R, pd.DataFrame)
        if labelled:
            user_map, item_map = _labels(R.index, "user"), _labels(R.columns, "item")
        R = np.asarray(R, dtype=np.float64)
        if R.ndim != 2:
            raise DataError(f"a dense rating matrix must be 2-D, got shape {R.shape}")
        missing_is_nan = missing is None or (isinstance(missing, float) and np.isnan(missing))
        if missing_is_nan:
            known = ~np.isnan(R)
        else:
            nan_at = np.argwhere(np.isnan(R))
            if nan_at.size:
                r, c = nan_at[0]
                raise DataError(f"NaN rating at row {r}, column {c}; pass missing=np.nan "
                                "if NaN marks unknown entries")
            known = R != missing
        rows, cols = np.nonzero(known)
        vals = R[rows, cols]
        _check_finite(vals, lambda k: f"at row {rows[k]}, column {cols[k]}")
        if not labelled:
            user_map = IdMap.range(R.shape[0], name="user")
            item_map = IdMap.range(R.shape[1], name="item")
        return cls(rows, cols, vals, user_map=user_map, item_map=item_map)

    @classmethod
    def from_sparse(cls, X, *, duplicates: str = "last") -> Ratings:
        """Build from a scipy sparse users x items matrix; its stored entries are the ratings."""
        if not sp.issparse(X):
            raise DataError(f"from_sparse needs a scipy sparse matrix, got {type(X).__name__}")
        coo = sp.coo_matrix(X)
        _check_finite(coo.data, lambda k: f"at row {coo.row[k]}, column {coo.col[k]}")
        return cls._resolved(coo.row, coo.col, coo.data.astype(np.float32), None,
                             IdMap.range(X.shape[0], name="user"),
                             IdMap.range(X.shape[1], name="item"), duplicates)

    @classmethod
    def _resolved(cls, users, items, values, timestamps, user_map, item_map, duplicates):
        users, items, values, timestamps, n_dup = resolve_duplicates(
            users, items, values, timestamps, len(item_map), duplicates)
        if n_dup:
            warnings.warn(f"{n_dup:,} repeated (user, item) rows were resolved by "
                          f"duplicates={duplicates!r}", DuplicateRatingsWarning, stacklevel=3)
        return cls(users, items, values, timestamps, user_map=user_map, item_map=item_map,
                   n_duplicates_resolved=n_dup)

    # sizes and summaries ------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def n_ratings(self) -> int:
        return self.users.shape[0]

    def __len__(self) -> int:
        return self.n_ratings

    def summary(self) -> RatingsSummary:
        v = self.values
        distinct = np.unique(v[: 1_000_000]) if v.size else np.array([])
        if distinct.size <= 20 and v.size > 1_000_000:
            distinct = np.unique(v)
        cells = self.n_users * self.n_items
        return RatingsSummary(
            n_users=self.n_users, n_items=self.n_items, n_ratings=self.n_ratings,
            density=self.n_ratings / cells if cells else 0.0,
            min_rating=float(v.min()) if v.size else float("nan"),
            max_rating=float(v.max()) if v.size else float("nan"),
            mean_rating=float(v.mean(dtype=np.float64)) if v.size else float("nan"),
            distinct_values=tuple(float(x) for x in distinct) if distinct.size <= 20 else (),
            has_timestamps=self.timestamps is not None)

    def __repr__(self) -> str:
        return f"<Ratings: {self.summary()}>"

    # views --------------------------------------------------------------------------
    def to_csr(self) -> sp.csr_matrix:
        """users x items CSR matrix of the ratings (float32), computed once."""
        if self._csr is None:
            self._csr = sp.csr_matrix((self.values, (self.users, self.items)),
                                      shape=(self.n_users, self.n_items), dtype=np.float32)
        return self._csr

    def grouped(self, by: str = "user", values=None):
        """(indptr int64, indices int32, values) of the ratings grouped by ``by`` ("user":
        rows are users, indices items; "item": the reverse), each row's entries in the
        order of this table. ``values`` (one per rating) replaces the ratings, e.g.
        standardised ones."""
        values = self.values if values is None else values
        if by == "user":
            return _csr.grouped(self.users, self.items, values, self.n_users)
        if by == "item":
            return _csr.grouped(self.items, self.users, values, self.n_items)
        raise ValueError(f"by must be 'user' or 'item', got {by!r}")

    def seen(self) -> sp.csr_matrix:
        """users x items CSR of int8 ones where a user rated an item, columns sorted."""
        return _csr.pattern(self.users, self.items, self.n_users, self.n_items)

    def to_csc(self) -> sp.csc_matrix:
        """users x items CSC matrix (columns = items)."""
        return self.to_csr().tocsc()

    def to_dense(self, fill: float = 0.0, *, max_cells: int = DENSE_CELL_CAP) -> np.ndarray:
        """users x items dense float32 matrix with ``fill`` where no rating is known."""
        cells = self.n_users * self.n_items
        if cells > max_cells:
            raise DataError(
                f"a dense {self.n_users:,} x {self.n_items:,} matrix has {cells:,} cells, "
                f"above the cap of {max_cells:,}; use to_csr() for a sparse matrix, or "
                "pass a larger max_cells if you have the memory")
        out = np.full((self.n_users, self.n_items), fill, dtype=np.float32)
        out[self.users, self.items] = self.values
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """Rows with raw ids: columns user, item, rating and (when present) timestamp."""
        cols = {"user": self.user_map.to_ids(self.users),
                "item": self.item_map.to_ids(self.items),
                "rating": np.array(self.values)}
        if self.timestamps is not None:
            cols["timestamp"] = np.array(self.timestamps)
        return pd.DataFrame(cols)

    def subset(self, rows) -> Ratings:
        """The ratings at ``rows`` (indices or a boolean mask), sharing this table's IdMaps."""
        rows = np.asarray(rows)
        ts = None if self.timestamps is None else self.timestamps[rows]
        return Ratings(self.users[rows], self.items[rows], self.values[rows], ts,
                       user_map=self.user_map, item_map=self.item_map)

    def compacted(self) -> Ratings:
        """These ratings with IdMaps of only the users and items that have a rating here
        (this table when all have): what a model fitted on them knows. A split's parts
        keep the whole table's maps, so that a model fitted on a training part would
        take in the users and items only its test part has (random factors, a place in
        its rankings)."""
        parts = []
        for idx, id_map in ((self.users, self.user_map), (self.items, self.item_map)):
            present = np.unique(idx)
            parts.append((idx, id_map) if present.size == len(id_map) else
                         (np.searchsorted(present, idx),
                          IdMap(id_map.ids[present], name=id_map.name)))
        (users, user_map), (items, item_map) = parts
        if user_map is self.user_map and item_map is self.item_map:
            return self
        return Ratings(users, items, self.values, self.timestamps, user_map=user_map,
                       item_map=item_map)

    def equals(self, other: Ratings) -> bool:
        """Same maps, same rows in the same order, same values and timestamps."""
        if not isinstance(other, Ratings):
            return False
        if (self.timestamps is None) != (other.timestamps is None):
            return False
        return (self.user_map == other.user_map and self.item_map == other.item_map
                and np.array_equal(self.users, other.users)
                and np.array_equal(self.items, other.items)
                and np.array_equal(self.values, other.values)
                and (self.timestamps is None
                     or np.array_equal(self.timestamps, other.timestamps)))


def _labels(axis: pd.Index, side: str) -> IdMap:
    """A table's row or column labels as ``side``'s ids, in their order (integral floats
    as ints, as a column of ids is read)."""
    if isinstance(axis, pd.MultiIndex):
        first = " / ".join(map(str, axis[0])) if len(axis) else ""
        raise DataError(f"the table's {side} labels have {axis.nlevels} levels (the first "
                        f"is {first}): pivot with values='rating' to give one")
    values = (axis.infer_objects() if axis.dtype == object else axis).to_numpy()
    return IdMap(_normalize_id_column(values, side), name=side)


def as_ratings(x, name: str = "ratings", *, need_ratings: bool = False) -> Ratings:
    """``x`` as Ratings: a Ratings as it is, a DataFrame read by
    :meth:`Ratings.from_dataframe`; anything else is a DataError naming ``name``.

    ``need_ratings`` (a model that predicts ratings): a DataFrame must have a ``rating``
    column, since without one every value would be read as 1 and the model would learn
    a constant.
    """
    if isinstance(x, Ratings):
        return x
    if isinstance(x, pd.DataFrame):
        if need_ratings and "rating" not in x.columns:
            raise DataError(_no_rating_column(x.columns, name))
        return Ratings.from_dataframe(x)
    hint = (" (a loaded data set: pass its .ratings)"
            if isinstance(getattr(x, "ratings", None), Ratings) else "")
    raise DataError(f"{name} must be a Ratings or a DataFrame, got {type(x).__name__}{hint}")


def _no_rating_column(columns, name: str) -> str:
    """Why a DataFrame without a ``rating`` column cannot train a rating model, and what to
    do, pointing at a column that looks like the ratings when there is one."""
    found = [str(c) for c in columns]
    alike = next((c for c in found if c.lower() in ALIASES["rating"]), None)
    hint = (f"rename {alike!r} to 'rating'" if alike is not None
            else "add a 'rating' column")
    return (f"{name} has no 'rating' column, which a rating model needs (columns are "
            f"{found}); {hint}, or use an implicit model (ImplicitALS, BPR)")


def _map_ids(raw, given: IdMap | None, side: str):
    if given is None:
        return IdMap.from_values(raw, name=side)
    idx = given.to_indices(raw, unknown="missing")
    if (idx < 0).any():
        row = int(np.flatnonzero(idx < 0)[0])
        err = DataError(f"{side} id is not in the given {side} map", value=raw[row])
        err.row = row
        raise err
    return given, idx


def _checked_values(ratings) -> np.ndarray:
    arr = np.asarray(ratings)
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            bad = next(i for i, v in enumerate(arr) if not _is_number(v))
            err = DataError("rating is not a number", value=arr[bad])
            err.row = bad
            raise err from None
    _check_finite(arr, None)
    return arr.astype(np.float32)


def _checked_timestamps(timestamps) -> np.ndarray:
    arr = np.asarray(timestamps)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            err = DataError("timestamp is not a whole number", value=arr[row].item())
            err.row = row
            raise err
    elif arr.dtype.kind not in "iu":
        raise DataError(f"timestamps must be integers or datetimes, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_finite(values: np.ndarray, where) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        err = DataError("rating is not a finite number" + (f" {where(k)}" if where else ""),
                        value=values[k].item())
        err.row = k
        raise err


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _check_range(idx: np.ndarray, n: int, side: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DataError(f"{side} indices must lie in 0..{n - 1}")

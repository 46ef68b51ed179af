"""The factorization machine's design, in relational blocks (kernels/fm.py's layout).

Each rating belongs to one entity of each block, and each entity carries its features:

- user block, one entity per user: the user's id (group ``user``); with ``implicit``,
  the items the user rated, each 1/sqrt(count) (``implicit``, SVD++'s N(u)); with user
  attributes, their encoding (``user_attributes``);
- item block: the item's id (``item``); with ``flipped``, the users who rated it, each
  1/sqrt(count) (``flipped``); item attributes (``item_attributes``);
- time block (when the ratings carry timestamps and ``time_bins`` asks for it), one
  entity per time bin: the bin's id (``time``), with a bias and no factors. Bins hold
  equal numbers of training ratings; narrow ones (about 30 ratings each) stand for the
  rating sessions within which a user's ratings move together (timeSVD++'s user-day
  bias). With factors too (each bin's meeting the user's and the item's) it fitted
  MovieLens-100K no better and synthetic ratings without a time effect worse
  (docs/benchmarks.md);

The design matrix itself (one row per rating with every feature of its entities) is
never built: at 10M ratings with the implicit groups it would hold billions of entries.
Attributes are encoded by :func:`encode_attributes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.ratings import Ratings
from ..errors import DataError


@dataclass
class Block:
    name: str
    entity_of_row: np.ndarray  # (N,) int, local entity index of each rating
    features: sp.csr_matrix  # entities x block features
    groups: list = field(default_factory=list)  # (group name, number of features)
    factored: bool = True  # False: its features have biases only


@dataclass
class Design:
    """The kernels' arrays (see kernels/fm.py) and the names of the feature groups.

    ``eo[b]`` is ``ent`` with the rows in block b's order (``erow_idx``), so that a pass
    over one block's entities reads every block's entity of a row in sequence; rows
    sorted by user make the user block's order the rows' own. ``perm[b]`` gives, for
    each row in the next block's order, its place in block b's."""

    ent: np.ndarray
    eo: np.ndarray
    erow_ptr: np.ndarray
    erow_idx: np.ndarray
    perm: np.ndarray
    ef_ptr: np.ndarray
    ef_idx: np.ndarray
    ef_val: np.ndarray
    fe_ptr: np.ndarray
    fe_ent: np.ndarray
    fe_val: np.ndarray
    bent: np.ndarray
    bfeat: np.ndarray
    grp: np.ndarray
    group_names: list
    block_names: list
    factored: list

    @property
    def n_features(self) -> int:
        return int(self.bfeat[-1])

    def entity_features(self) -> sp.csr_matrix:
        """Every entity's features (entities x features), over the kernels' arrays."""
        return sp.csr_matrix((self.ef_val, self.ef_idx, self.ef_ptr),
                             shape=(self.n_entities, self.n_features))

    @property
    def n_entities(self) -> int:
        return int(self.bent[-1])

    def group_slice(self, name: str) -> slice:
        """The feature numbers of one group (groups are contiguous)."""
        where = np.flatnonzero(self.grp == self.group_names.index(name))
        return slice(int(where[0]), int(where[-1]) + 1)

    def block_entities(self, name: str) -> slice:
        b = self.block_names.index(name)
        return slice(int(self.bent[b]), int(self.bent[b + 1]))


def normalised_sets(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """Each row's set (a CSR pattern) with every entry 1/sqrt(row size)."""
    sizes = np.diff(indptr)
    vals = np.repeat(1.0 / np.sqrt(np.maximum(sizes, 1)), sizes)
    return sp.csr_matrix((vals, indices, indptr), shape=(len(sizes), n_cols))


#: side -> (the other side, the name of the group of its set)
_SETS = {"user": ("item", "implicit"), "item": ("user", "flipped")}


def side_block(ratings: Ratings, side: str, with_set: bool,
               attributes: sp.csr_matrix | None) -> Block:
    """The user or item block: the id, optionally the set of the other side it rated
    (the user's items: ``implicit``; the item's users: ``flipped``), and attributes."""
    other, set_name = _SETS[side]
    n, n_other = len(getattr(ratings, f"{side}_map")), len(getattr(ratings, f"{other}_map"))
    parts, groups = [sp.identity(n, format="csr")], [(side, n)]
    if with_set:
        indptr, indices, _ = ratings.grouped(side)
        parts.append(normalised_sets(indptr, indices, n_other))
        groups.append((set_name, n_other))
    if attributes is not None:
        parts.append(attributes)
        groups.append((f"{side}_attributes", attributes.shape[1]))
    return Block(side, getattr(ratings, f"{side}s"), sp.hstack(parts, format="csr"), groups)


def time_edges(timestamps: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner edges of ``n_bins`` bins holding equal numbers of ``timestamps`` (fewer
    where timestamps repeat): timestamps themselves, each the first of its bin."""
    ts = np.asarray(timestamps, dtype=np.float64)
    qs = np.quantile(ts, np.linspace(0, 1, n_bins + 1)[1:-1], method="inverted_cdf")
    edges = np.unique(qs)
    return edges[edges > ts.min()]


def time_bins(timestamps, edges: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """The bin of each timestamp; ``len(edges) + 1`` (no bin: a new one) outside the
    training ``span`` (first, last timestamp)."""
    ts = np.asarray(timestamps, dtype=np.float64)
    out = np.searchsorted(edges, ts, side="right")
    out[(ts < span[0]) | (ts > span[1])] = len(edges) + 1
    return out


def time_block(ratings: Ratings, edges: np.ndarray, span) -> Block:
    n = len(edges) + 1
    return Block("time", time_bins(ratings.timestamps, edges, span),
                 sp.identity(n, format="csr"), [("time", n)], factored=False)


def assemble(blocks: list[Block]) -> Design:
    """Number entities and features block after block and lay out the kernels' arrays."""
    n = len(blocks[0].entity_of_row)
    bent = np.cumsum([0] + [b.features.shape[0] for b in blocks]).astype(np.int64)
    bfeat = np.cumsum([0] + [b.features.shape[1] for b in blocks]).astype(np.int64)
    ent = np.empty((len(blocks), n), np.int32)
    group_names, grp = [], []
    ptrs, idxs = [np.zeros(1, np.int64)], []
    for k, b in enumerate(blocks):
        ent[k] = b.entity_of_row + bent[k]
        for name, size in b.groups:
            grp.append(np.full(size, len(group_names), np.int32))
            group_names.append(name)
        order = np.argsort(b.entity_of_row, kind="stable")
        counts = np.bincount(b.entity_of_row, minlength=b.features.shape[0])
        ptrs.append(np.cumsum(counts)[:] + k * n)
        idxs.append(order)
    X = sp.block_diag([b.features for b in blocks], format="csr")
    X.sort_indices()
    Xc = X.tocsc()
    Xc.sort_indices()
    idx = np.concatenate(idxs)
    eo = np.ascontiguousarray(np.stack([ent[:, idx[k * n:(k + 1) * n]]
                                        for k in range(len(blocks))]))
    place = np.empty((len(blocks), n), np.int32)
    for k in range(len(blocks)):
        place[k, idxs[k]] = np.arange(n, dtype=np.int32)
    perm = np.stack([place[k, idxs[(k + 1) % len(blocks)]] for k in range(len(blocks))])
    return Design(
        ent=ent, eo=eo, erow_ptr=np.concatenate(ptrs).astype(np.int64),
        erow_idx=idx.astype(np.int32), perm=perm,
        ef_ptr=X.indptr.astype(np.int64), ef_idx=X.indices.astype(np.int32),
        ef_val=X.data.astype(np.float64),
        fe_ptr=Xc.indptr.astype(np.int64), fe_ent=Xc.indices.astype(np.int32),
        fe_val=Xc.data.astype(np.float64), bent=bent, bfeat=bfeat,
        grp=np.concatenate(grp), group_names=group_names,
        block_names=[b.name for b in blocks], factored=[b.factored for b in blocks])


# -- attributes ---------------------------------------------------------------------------
def encode_attributes(table: pd.DataFrame, id_map, side: str) -> tuple[sp.csr_matrix, dict]:
    """Encode a DataFrame of attributes, indexed by raw id, for the entities of
    ``id_map``: numeric columns standardised (a missing value 0, the mean), text and
    categorical columns one-hot, text with ``|`` in it multi-hot (each of a row's k
    values 1/sqrt(k)). Returns the (entities x features) matrix and the encoding, plain
    values, to encode new entities the same way (:func:`encode_rows`)."""
    check_table(table, side)
    encoding = {}
    for col in table.columns:
        s = table[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            values = s.dropna().astype(str)
            multi = values.str.contains("|", regex=False).any()
            tokens = values.str.split("|").explode() if multi else values
            encoding[str(col)] = {"kind": "multi" if multi else "onehot",
                                  "values": sorted(tokens.unique().tolist())}
        else:
            x = s.astype("float64")
            mean, std = float(np.nanmean(x)), float(np.nanstd(x))
            if not np.isfinite(mean):
                raise DataError(f"{side}_attributes: column {col!r} has no values")
            encoding[str(col)] = {"kind": "numeric", "mean": mean, "std": std or 1.0}
    rows = _rows_for(table, id_map)
    return encode_rows(rows, encoding), encoding


def check_table(table, side: str) -> None:
    """DataError unless ``table`` is a DataFrame with one row per id."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{side}_attributes must be a pandas DataFrame indexed by "
                        f"{side} id, got {type(table).__name__}")
    if not table.index.is_unique:
        dup = table.index[table.index.duplicated()].tolist()[0]
        raise DataError(f"{side}_attributes: {side} id {dup!r} appears more than once")


def _rows_for(table: pd.DataFrame, id_map) -> pd.DataFrame:
    """The table's rows in the order of the model's entities (all-missing where an entity
    has none), matching ids across int and text as the models do."""
    idx = id_map.to_indices(np.asarray(table.index, dtype=object), unknown="missing")
    known = idx >= 0
    out = pd.DataFrame(index=pd.RangeIndex(len(id_map)), columns=table.columns, dtype=object)
    out.iloc[idx[known]] = table[known].to_numpy(dtype=object)
    return out


def encode_rows(rows: pd.DataFrame, encoding: dict) -> sp.csr_matrix:
    """Encode attribute rows by a saved encoding (unseen categories and missing values
    encode to nothing, i.e. the mean)."""
    cols = []
    for col, enc in encoding.items():
        s = rows[col] if col in rows.columns else pd.Series([None] * len(rows), dtype=object)
        cols.append(_encode_column(s, enc, col))
    if not cols:
        return sp.csr_matrix((len(rows), 0))
    return sp.hstack(cols, format="csr")


def _encode_column(s: pd.Series, enc: dict, name: str) -> sp.csr_matrix:
    n = len(s)
    if enc["kind"] == "numeric":
        x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(x) & ~pd.isna(s).to_numpy())
        if bad.size:  # a value given but no number: not to be taken for a missing one
            value = s.iloc[bad[0]]
            value = value.item() if isinstance(value, np.generic) else value
            raise DataError(f"attribute {name!r}: {value!r} is not a finite number "
                            "(the model learnt it as a number; leave it out for the mean)")
        x = np.where(np.isfinite(x), (x - enc["mean"]) / enc["std"], 0.0)
        return sp.csr_matrix(x.reshape(-1, 1))
    lookup = {v: k for k, v in enumerate(enc["values"])}
    rows, cols, vals = [], [], []
    for r, value in enumerate(s.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        tokens = str(value).split("|") if enc["kind"] == "multi" else [str(value)]
        hits = [lookup[t] for t in tokens if t in lookup]
        for c in hits:
            rows.append(r)
            cols.append(c)
            vals.append(1.0 / np.sqrt(len(hits)))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, len(lookup)))

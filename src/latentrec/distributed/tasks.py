"""The tasks a DSGD fit runs on the workers: plain functions of arrays and a plan.

Every task is pure and deterministic (it copies what it updates), so a task run again after
a worker was lost gives the same bits, and the scheduler may rebuild lost results from
their inputs. Nothing here imports dask.

Reading (a dask DataFrame's partitions, raw ids):
    summarize(part, columns) -> Summary       ids seen, with counts; moment bins; range
    merge(*summaries) -> Summary              sorted union of the ids, counts added
    encode_split(part, summary, plan, columns) -> [(rows, cols, values)] * n_blocks
Blocks and the model's pattern:
    build_row(plan, s, *pieces) -> BlockRow   row stripe s's blocks, local indices
    seen_rows(row, plan, s) -> (indptr, indices)   the stripe's rated columns, CSR
Training (a group is the set of row stripes one worker keeps):
    start(plan, row_stripes, col_stripes, adaptive)
    resume(path, epoch, plan, row_stripes, col_stripes, adaptive) -> Held
    sgd_round(blocks, held, incoming, work, step, n_threads) -> Held   one sub-epoch
    pick(held, col_stripes) -> {t: Stripe}    column stripes bound for another group
    sse_of(held) -> {s: sse}
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data._parquet import rating_values
from ..data.csr import pattern
from ..data.idmap import _normalize_id_column
from ..errors import DataError
from ..kernels import moments, sgd
from ..models._scaled import standardised
from ..models.plan import Plan, Stripe
from . import checkpoint


class BlockRow(NamedTuple):
    """Row stripe s's ratings, block after block: block t is ptr[t]:ptr[t + 1]. Rows are
    local to the stripe, columns to the block's column stripe; values standardised."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    ptr: np.ndarray


class Held(NamedTuple):
    """What a group holds between sub-epochs: its row stripes, their blocks' sums of
    squared errors this epoch (s -> float64 (n_blocks,)), and the column stripes it
    updated last."""

    rows: dict
    sse: dict
    cols: dict


class Summary(NamedTuple):
    user_ids: np.ndarray     # sorted, unique; int64 or str objects
    user_counts: np.ndarray  # int64
    item_ids: np.ndarray
    item_counts: np.ndarray
    bins: np.ndarray         # kernels.moments.moment_bins
    low: float
    high: float


# -- reading -----------------------------------------------------------------------------
def summarize(part: pd.DataFrame, columns) -> Summary:
    users, items, values = _raw(part, columns)
    u, uc = np.unique(users, return_counts=True)
    i, ic = np.unique(items, return_counts=True)
    low, high = (float(values.min()), float(values.max())) if values.size else (np.inf, -np.inf)
    return Summary(u, uc.astype(np.int64), i, ic.astype(np.int64), moments.moment_bins(values),
                   low, high)


def merge(*parts: Summary) -> Summary:
    users = _union([p.user_ids for p in parts], [p.user_counts for p in parts], "user")
    items = _union([p.item_ids for p in parts], [p.item_counts for p in parts], "item")
    return Summary(*users, *items, sum(p.bins for p in parts), min(p.low for p in parts),
                   max(p.high for p in parts))


def _union(ids, counts, side):
    try:
        uniq, inverse = np.unique(np.concatenate(ids), return_inverse=True)
    except TypeError:  # ints beside strings
        raise DataError(f"{side} ids must be all integers or all strings") from None
    total = np.bincount(inverse, weights=np.concatenate(counts), minlength=uniq.size)
    return uniq, total.astype(np.int64)


def encode_split(part: pd.DataFrame, summary: Summary, plan: Plan, columns) -> list:
    """The partition's ratings with ids mapped to indices, cut by row stripe."""
    users, items, values = _raw(part, columns)
    return plan.split(_positions(summary.user_ids, users), _positions(summary.item_ids, items),
                      values)


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """int32 positions of ``ids`` in ``sorted_ids`` (all there): a binary search for
    integers, a hash lookup for strings (a binary search over str objects is slow)."""
    if sorted_ids.dtype == object:
        return pd.Index(sorted_ids).get_indexer(ids).astype(np.int32)
    return np.searchsorted(sorted_ids, ids).astype(np.int32)


def check_columns(columns, present) -> None:
    """DataError unless the (user, item, rating) ``columns`` are all ``present``."""
    for role, name in zip(("user", "item", "rating"), columns):
        if name not in present:
            raise DataError(f"no {role} column {name!r}; columns are {list(present)}")


def _raw(part: pd.DataFrame, columns):
    """(user ids, item ids, float32 ratings) of a partition, checked as read_ratings does."""
    check_columns(columns, part.columns)
    user, item, rating = columns
    return _ids(part[user], "user"), _ids(part[item], "item"), _ratings(part[rating])


def _ids(col: pd.Series, side: str) -> np.ndarray:
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(col.cat.categories.dtype)
    if col.isna().any():
        raise DataError(f"missing {side} id")
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(np.int64)
    if pd.api.types.is_float_dtype(col.dtype):
        return _normalize_id_column(col.to_numpy(np.float64), side)
    ids = col.to_numpy(dtype=object)
    bad = next((x for x in ids if not isinstance(x, str)), None)
    if bad is not None:
        raise DataError(f"{side} ids must be all integers or all strings; found {bad!r}")
    return ids


def _ratings(col: pd.Series) -> np.ndarray:
    """float32 ratings, checked by the function read_ratings uses on Parquet files."""
    import pyarrow as pa

    def error(reason, row=None, value=None):
        return DataError(reason, column=col.name, value=value)

    try:
        arrow = pa.array(col, from_pandas=True)  # NaN reads as missing, as in read_ratings
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"ratings must be numbers, but the column has type {col.dtype} "
                        f"({exc})", column=col.name) from None
    return rating_values(arrow, error)


# -- blocks ------------------------------------------------------------------------------
def build_row(plan: Plan, s: int, *pieces) -> BlockRow:
    """Row stripe s's blocks from its pieces (any order: the layout is canonical)."""
    rows, cols, values = (np.concatenate([p[k] for p in pieces]) for k in range(3))
    values = standardised(values, plan.mu, plan.sigma, plan.dtype, copy=False)  # our own
    rows, cols, values, ptr = plan.layout(rows, cols, values, s, s + 1)
    rows -= np.int32(plan.row_bounds[s])
    cols -= _col_starts(plan, ptr)
    return BlockRow(rows, cols, values, ptr)


def seen_rows(row: BlockRow, plan: Plan, s: int):
    """Row stripe s's rated columns as CSR: (indptr int64, local rows; indices int32,
    global columns, sorted in each row). Only these 4 bytes a rating go to the client."""
    n_rows = int(plan.row_bounds[s + 1] - plan.row_bounds[s])
    cols = row.cols + _col_starts(plan, row.ptr)
    n_cols = plan.n_users if plan.items_stay else plan.n_items
    m = pattern(row.rows, cols, n_rows, n_cols)
    return m.indptr.astype(np.int64), m.indices.astype(np.int32, copy=False)


def _col_starts(plan: Plan, ptr) -> np.ndarray:
    """int32, per rating of a row stripe's blocks: the first column of its block's column
    stripe (int32 throughout: an int64 temporary would be 8 bytes a rating)."""
    return np.repeat(plan.col_bounds[:-1].astype(np.int32), np.diff(ptr))


# -- training ----------------------------------------------------------------------------
def start(plan: Plan, row_stripes, col_stripes, adaptive: bool = False) -> Held:
    """The stripes' initial factors (and, ``adaptive``, accumulators)."""
    return Held({s: plan.initial("rows", s, adaptive) for s in row_stripes},
                _no_sse(plan, row_stripes),
                {t: plan.initial("cols", t, adaptive) for t in col_stripes})


def resume(path, epoch: int, plan: Plan, row_stripes, col_stripes,
           adaptive: bool = False) -> Held:
    """The stripes as the checkpoint of ``epoch`` holds them (and their accumulators)."""
    return Held({s: checkpoint.read_stripe(path, epoch, "rows", s, adaptive)
                 for s in row_stripes}, _no_sse(plan, row_stripes),
                {t: checkpoint.read_stripe(path, epoch, "cols", t, adaptive)
                 for t in col_stripes})


def _no_sse(plan, row_stripes):
    return {s: np.zeros(plan.n_blocks) for s in row_stripes}


def sgd_round(blocks: dict, held: Held, incoming: list, work: list, step: tuple,
              n_threads: int = 1) -> Held:
    """One sub-epoch of a group: blocks (s, t) for each pair in ``work``; the column
    stripes come from ``held`` or ``incoming``; the adaptive step where the stripes hold
    accumulators. Inputs are copied, never changed."""
    rows = {s: f.copy() for s, f in held.rows.items()}
    sse = {s: e.copy() for s, e in held.sse.items()}
    found = {**held.cols}
    for d in incoming:
        found.update(d)
    cols = {t: found[t].copy() for _, t in work}
    items = [(blocks[s].rows, blocks[s].cols, blocks[s].values, blocks[s].ptr[t],
              blocks[s].ptr[t + 1], rows[s].factors, cols[t].factors, rows[s].bias,
              cols[t].bias, *_steps(rows[s], cols[t])) for s, t in work]
    for (s, t), e in zip(work, sgd.run_blocks(items, step, n_threads)):
        sse[s][t] = e
    return Held(rows, sse, cols)


def _steps(row: Stripe, col: Stripe) -> tuple:
    """(row accumulators, column accumulators), as run_blocks takes them, or ()."""
    if (row.steps is None) != (col.steps is None):
        raise ValueError("a row stripe and a column stripe disagree on the adaptive step")
    return () if row.steps is None else (row.steps, col.steps)


def pick(held: Held, col_stripes) -> dict:
    return {t: held.cols[t] for t in col_stripes}


def sse_of(held: Held) -> dict:
    return held.sse


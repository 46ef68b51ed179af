"""The block layout and static schedule behind parallel SGD (FPSGD-style, race free).

The rating matrix is cut into a ``g x g`` grid: user stripes are contiguous ranges of user
indices, item stripes contiguous ranges of item indices, each cut so that every stripe holds
about the same number of ratings. Ratings are stored once, block after block (block ``b``
is row stripe ``b // g`` and column stripe ``b % g``); inside a block they are shuffled and
then stably sorted by the larger side's index (users when ``n_users >= n_items``), as LibMF
does, so each P row is read once per block and the block's Q rows stay in cache.

An epoch runs ``g`` rounds; round ``r`` holds ``g`` blocks no two of which share a row or a
column stripe (a diagonal of the grid under a per-epoch random permutation of its rows and
columns). Threads take the blocks as kernels/dataflow.py allows: a block once the blocks
of earlier rounds in its row and column stripes are done, so no two threads ever touch the
same P row, Q row or bias, and the result depends on the layout and the epoch seed only,
never on the thread count or on which thread ran a block.

    make_block_layout(users, items, values, n_users, n_items, n_threads=1, seed=0,
                      *, n_blocks=None, n_factors=100) -> BlockLayout
        = order_blocks(group_blocks(users, items, values, n_users, n_items, n_threads,
                                    n_blocks=..., n_factors=...), seed)
    block_schedule(n_blocks, epoch_seed) -> int64 (n_blocks, n_blocks): schedule[r, a] is
        the a-th block of round r
    default_n_blocks(n_users, n_items, n_factors, itemsize=4, n_threads=1) -> int

The grid side comes from the data, not the thread count: the minor side's factors for one
stripe (Q rows when users are the major side) must stay in a core's L2 while the block's
ratings stream past, and beyond that fewer, bigger blocks are better, because each user's
P row is loaded once per block it has ratings in. At most g blocks can run at once (one
per row stripe), so the grid has at least 4 stripes and 2 per thread, which leaves each
thread a choice of free blocks for most of an epoch; any thread count up to half the grid
side gives the same model.

Memory: the layout holds one reordered copy of users, items and values (12 bytes a rating
in float32); building it needs no other array of the ratings' length.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .mt19937 import mt_shuffle

#: Bytes of one minor-side stripe's factors that a block may use: half a 2 MiB L2, the rest
#: left to the streamed major-side rows (measure with benchmarks/_hogwild.py --n-blocks G).
STRIPE_BYTES = 1 << 20
#: The smallest grid side: 2 threads still find free blocks to choose from.
MIN_BLOCKS = 4
#: The fixed grid side of the DSGD schedule, which one process and a cluster share.
GRID_TARGET = 20
#: The most ratings a block of :func:`order_blocks` may hold (places in 32 bits)
MAX_BLOCK = 2**32
_HALF, _LOW = np.uint64(32), np.uint64(0xFFFFFFFF)


class BlockLayout(NamedTuple):
    """Ratings grouped by block; built once per fit by :func:`make_block_layout`."""

    users: np.ndarray        # int32 (n,), block after block
    items: np.ndarray        # int32 (n,)
    values: np.ndarray       # (n,), the dtype given
    block_ptr: np.ndarray    # int64 (g*g + 1,): block b is [block_ptr[b], block_ptr[b + 1])
    user_bounds: np.ndarray  # int64 (g + 1,): user stripe s is [user_bounds[s], ..[s + 1])
    item_bounds: np.ndarray  # int64 (g + 1,)

    @property
    def n_blocks(self) -> int:
        """The grid side g (the grid has g * g blocks)."""
        return self.user_bounds.shape[0] - 1


def default_n_blocks(n_users: int, n_items: int, n_factors: int, itemsize: int = 4,
                     n_threads: int = 1) -> int:
    """The fewest stripes whose minor-side factors fit :data:`STRIPE_BYTES` (see module doc)."""
    minor = min(int(n_users), int(n_items)) * (int(n_factors) + 1) * int(itemsize)
    return max(-(-minor // STRIPE_BYTES), MIN_BLOCKS, 2 * max(1, int(n_threads)))


def make_block_layout(users, items, values, n_users, n_items, n_threads=1, seed=0, *,
                      n_blocks=None, n_factors=100) -> BlockLayout:
    """Group the ratings into a ``n_blocks x n_blocks`` grid (default: default_n_blocks)."""
    return order_blocks(group_blocks(users, items, values, n_users, n_items, n_threads,
                                     n_blocks=n_blocks, n_factors=n_factors), seed)


def group_blocks(users, items, values, n_users, n_items, n_threads=1, *, n_blocks=None,
                 n_factors=100, standardise=None) -> BlockLayout:
    """The part of :func:`make_block_layout` that needs no seed: the ratings grouped by
    block, each block's in their given order (a fit groups them while it draws the
    initial factors, whose generator then gives the seed of :func:`order_blocks`).
    ``standardise=(shift, scale, dtype)`` stores each value as (value - shift) / scale in
    ``dtype`` (see :func:`grouped`) while grouping, with no standardised copy of the values.
    Runs numba's parallel loops on the threads the caller set (kernels/threads.py)."""
    shift, scale, dtype = standardise or (0.0, 1.0, np.asarray(values).dtype)
    g = (default_n_blocks(n_users, n_items, n_factors, np.dtype(dtype).itemsize,
                          n_threads) if n_blocks is None else int(n_blocks))
    if g < 1:
        raise ValueError(f"n_blocks must be at least 1, got {n_blocks!r}")
    users = np.ascontiguousarray(users, dtype=np.int32)
    items = np.ascontiguousarray(items, dtype=np.int32)
    values = np.ascontiguousarray(values)
    n = users.shape[0]
    if items.shape != (n,) or values.shape != (n,) or users.ndim != 1:
        raise ValueError(f"users, items and values must be 1-D of one length; got shapes "
                         f"{users.shape}, {items.shape}, {values.shape}")
    user_counts, item_counts = _counts(users, items, n_users, n_items)
    ub, ib = _balanced_bounds(user_counts, g), _balanced_bounds(item_counts, g)
    out_u, out_i, out_v, block_ptr = grouped(users, items, values, ub, ib, dtype=dtype,
                                             shift=shift, scale=scale)
    return BlockLayout(out_u, out_i, out_v, block_ptr, ub, ib)


def order_blocks(layout: BlockLayout, seed) -> BlockLayout:
    """Shuffle each block of a :func:`group_blocks` layout (seeded per block, from
    ``seed``), then sort it stably by the larger side's index; in place, returned."""
    users, items, values, block_ptr, ub, ib = layout
    g = layout.n_blocks
    largest = int(np.diff(block_ptr).max(initial=0))
    if largest > MAX_BLOCK:
        raise ValueError(f"a block holds {largest} ratings, more than {MAX_BLOCK} (a "
                         f"rating's place in its block is 32 bits); use a larger grid "
                         f"(n_blocks)")
    seeds = np.random.default_rng(seed).integers(0, 2**32, g * g, dtype=np.int64)
    _order_blocks(users, items, values.view(f"u{values.dtype.itemsize}"), block_ptr, ub, ib,
                  bool(ub[-1] >= ib[-1]), seeds)
    return layout


def block_schedule(n_blocks: int, epoch_seed) -> np.ndarray:
    """Rounds of independent blocks covering the grid once: (n_blocks, n_blocks) int64."""
    g = int(n_blocks)
    rng = np.random.default_rng(epoch_seed)
    rows, cols = rng.permutation(g), rng.permutation(g)
    a = np.arange(g)
    return np.stack([rows * g + cols[(a + r) % g] for r in range(g)]).astype(np.int64)


def _counts(users, items, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Ratings a user and an item (``np.bincount(idx, minlength=n)`` of each), the indices
    checked to lie in [0, n); one pass over each side, both at once."""
    counts = (np.zeros(max(int(n_users), 0), np.int64), np.zeros(max(int(n_items), 0), np.int64))
    ranges = _count_into(users, items, *counts)
    for idx, n, (lo, hi), name in ((users, n_users, ranges[0], "users"),
                                   (items, n_items, ranges[1], "items")):
        if n < 0 or lo < 0 or hi >= n:
            lo, hi = (lo, hi) if idx.size else (0, 0)
            raise ValueError(f"{name} must lie in [0, n_{name}={n}); got values in "
                             f"[{lo}, {hi}]")
    return counts


@njit(cache=True, nogil=True, parallel=True)
def _count_into(users, items, user_counts, item_counts):
    """counts[i] += 1 for each index i in range, users and items at once; returns the
    (min, max) of each side's indices."""
    ranges = np.empty((2, 2), np.int64)
    for side in prange(2):
        idx, counts = (users, user_counts) if side == 0 else (items, item_counts)
        lo, hi, n = np.iinfo(np.int64).max, np.iinfo(np.int64).min, counts.shape[0]
        for i in idx:
            lo, hi = min(lo, i), max(hi, i)
            if 0 <= i < n:
                counts[i] += 1
        ranges[side, 0], ranges[side, 1] = lo, hi
    return (ranges[0, 0], ranges[0, 1]), (ranges[1, 0], ranges[1, 1])


def _balanced_bounds(counts: np.ndarray, g: int) -> np.ndarray:
    """Cut indices 0..len(counts) into g contiguous stripes of about equal rating counts."""
    cum = np.cumsum(counts)
    total = int(cum[-1]) if cum.size else 0
    targets = (np.arange(1, g, dtype=np.float64) * total) / g
    inner = np.searchsorted(cum, targets, side="left") + 1
    bounds = np.concatenate([[0], np.minimum(inner, counts.shape[0]), [counts.shape[0]]])
    return np.maximum.accumulate(bounds).astype(np.int64)


def grouped(users, items, values, row_bounds, col_bounds, *, dtype=None, shift=0.0,
            scale=1.0, parts=2):
    """(users, items, values, block_ptr): the ratings grouped into the blocks of the grid
    whose row stripe s holds users [row_bounds[s], row_bounds[s + 1]) and column stripe t
    items [col_bounds[t], col_bounds[t + 1]) (col_bounds[0] = 0; the rows may start past
    0, when the grid holds only some row stripes, as kernels/dsgd.py lays out), each
    block's ratings in their given order. A rating's value is stored as (value - shift) /
    scale in ``dtype`` (default: the values'), each step in that dtype (as numpy's
    ``v = values.astype(t); v -= shift; v /= scale`` computes it; the defaults keep it).
    The ratings are cut into ``parts`` runs that are
    counted and placed in parallel, each starting where the runs before it end in every
    block, so the result is the same for any ``parts``."""
    g_rows, g_cols = len(row_bounds) - 1, len(col_bounds) - 1
    u_stripe, i_stripe = _stripes(row_bounds), _stripes(col_bounds)
    row0 = row_bounds[0]
    counts = _count_parts(users, items, u_stripe, i_stripe, g_cols, g_rows * g_cols,
                          max(int(parts), 1), row0)
    block_ptr = np.zeros(g_rows * g_cols + 1, np.int64)
    np.cumsum(counts.sum(0), out=block_ptr[1:])
    starts = block_ptr[:-1] + np.cumsum(counts, 0) - counts  # run c's first place a block
    out = (np.empty_like(users), np.empty_like(items),
           np.empty(users.shape[0], values.dtype if dtype is None else dtype))
    _scatter_parts(users, items, values, u_stripe, i_stripe, g_cols, starts, *out, row0,
                   shift, scale)
    return out + (block_ptr,)


def _stripes(bounds) -> np.ndarray:
    """Each index's stripe, from the first: int32 (bounds[-1] - bounds[0],)."""
    return np.repeat(np.arange(len(bounds) - 1, dtype=np.int32), np.diff(bounds))


@njit(cache=True, nogil=True, parallel=True)
def _count_parts(users, items, u_stripe, i_stripe, g_cols, n_blocks, parts, row0):
    """Ratings a block in each of ``parts`` equal runs of the ratings: (parts, n_blocks)."""
    n = users.shape[0]
    counts = np.zeros((parts, n_blocks), np.int64)
    for c in prange(parts):
        for j in range(n * c // parts, n * (c + 1) // parts):
            counts[c, u_stripe[users[j] - row0] * g_cols + i_stripe[items[j]]] += 1
    return counts


@njit(cache=True, nogil=True, parallel=True)
def _scatter_parts(users, items, values, u_stripe, i_stripe, g_cols, starts, out_u, out_i,
                   out_v, row0, shift, scale):
    """Each run's ratings into their blocks' next free places, from ``starts`` (see
    :func:`grouped`)."""
    t = out_v.dtype.type
    shift, scale = t(shift), t(scale)
    n, parts = users.shape[0], starts.shape[0]
    for c in prange(parts):
        pos = starts[c].copy()
        for j in range(n * c // parts, n * (c + 1) // parts):
            b = u_stripe[users[j] - row0] * g_cols + i_stripe[items[j]]
            p = pos[b]
            pos[b] = p + 1
            out_u[p] = users[j]
            out_i[p] = items[j]
            out_v[p] = (t(values[j]) - shift) / scale


@njit(cache=True, parallel=True)
def _order_blocks(users, items, value_bits, ptr, ub, ib, by_user, seeds):
    """Per block (of at most 2**32 ratings): shuffle (seeded per block), then stable
    counting sort by the major index. ``value_bits``: the values viewed as unsigned
    integers of their width. What the shuffle moves is each rating's major index and
    place, in one word (half the memory of the rating itself, and one word a swap); the
    sort places the words, and each rating is copied to its sorted place once."""
    g = ub.shape[0] - 1
    major, minor = (users, items) if by_user else (items, users)
    bounds = ub if by_user else ib
    for b in prange(g * g):
        lo, n = ptr[b], ptr[b + 1] - ptr[b]
        stripe = b // g if by_user else b % g
        base, width = bounds[stripe], bounds[stripe + 1] - bounds[stripe]
        _sort_block(_shuffled_pairs(major, lo, n, base, seeds[b]), width, major, minor,
                    value_bits, lo, base)


@njit(cache=True, nogil=True)
def _shuffled_pairs(major, lo, n, base, seed):
    """(major[lo + j] - base) << 32 | j for j < n, shuffled by Fisher-Yates with numba's
    np.random.seed(seed) stream (kernels/mt19937.py)."""
    pairs = np.empty(n, np.uint64)
    for j in range(n):
        pairs[j] = (np.uint64(major[lo + j] - base) << _HALF) | np.uint64(j)
    mt_shuffle(pairs, seed)
    return pairs


@njit(cache=True, nogil=True)
def _sort_block(pairs, width, major, minor, value_bits, lo, base):
    """The block's ratings at lo + (pairs[j] & 0xFFFFFFFF), sorted stably by their major
    index - base, pairs[j] >> 32 (in [0, width)), into places lo, lo + 1, ..."""
    n = pairs.shape[0]
    start = np.zeros(width + 1, np.int64)
    for j in range(n):
        start[(pairs[j] >> _HALF) + np.uint64(1)] += 1
    for k in range(width):
        start[k + 1] += start[k]
    ordered = np.empty(n, np.uint64)
    for j in range(n):
        key = pairs[j] >> _HALF
        ordered[start[key]] = pairs[j]
        start[key] += 1
    old_minor, old_bits = minor[lo:lo + n].copy(), value_bits[lo:lo + n].copy()
    for d in range(n):
        w = ordered[d]
        major[lo + d] = base + np.int64(w >> _HALF)
        minor[lo + d] = old_minor[w & _LOW]
        value_bits[lo + d] = old_bits[w & _LOW]

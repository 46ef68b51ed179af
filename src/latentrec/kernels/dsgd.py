"""The DSGD block layout: what one process and every worker of a cluster lay out identically.

Distributed SGD by stratification (Gemulla et al. 2011) cuts the rating matrix into a grid
of blocks; the blocks of one stratum share no row or column and may be updated anywhere,
in any order. For the cluster and one process to give the same bits, everything here is a
function of the *set* of ratings and of seeds, never of the order the rows arrive in:

    layout_blocks(rows, cols, values, row_bounds, col_bounds, seeds, *, parallel=False)
        -> (rows, cols, values, block_ptr, n_repeats)
        group ratings into the blocks of the row stripes [row_bounds[0], row_bounds[-1]) x
        all column stripes; inside a block, sort by (row, col), then shuffle each row's
        ratings with the block's seed. ``n_repeats`` counts (row, col) pairs seen twice
        (then the order is not canonical; callers refuse such input).

Rows are the side whose stripes stay in place (users, unless there are more items), columns
the side that moves; row/column indices may be global or local to a stripe.

The rest of a DSGD fit lives where every model finds it: the exact moments behind the
standardisation in :mod:`.moments`, and the SGD over blocks (one process's rounds and a
worker's sub-epoch alike) in :func:`.sgd.run_blocks`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blocks import grouped

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


# -- block layout ------------------------------------------------------------------------
def layout_blocks(rows, cols, values, row_bounds, col_bounds, seeds, *, parallel=False):
    """See the module docstring. ``seeds`` (uint64) holds one seed per block, row-major."""
    row_bounds = np.asarray(row_bounds, np.int64)
    col_bounds = np.asarray(col_bounds, np.int64)
    g_rows, g_cols = row_bounds.shape[0] - 1, col_bounds.shape[0] - 1
    seeds = np.ascontiguousarray(seeds, np.uint64)
    if seeds.shape != (g_rows * g_cols,):
        raise ValueError(f"need {g_rows * g_cols} block seeds, got {seeds.shape}")
    rows = np.ascontiguousarray(rows, np.int32)
    cols = np.ascontiguousarray(cols, np.int32)
    values = np.ascontiguousarray(values)
    for idx, b, name in ((rows, row_bounds, "rows"), (cols, col_bounds, "cols")):
        if idx.size and (int(idx.min()) < b[0] or int(idx.max()) >= b[-1]):
            raise ValueError(f"{name} must lie in [{b[0]}, {b[-1]}); got values in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
    rows, cols, values, ptr = grouped(rows, cols, values, row_bounds, col_bounds,
                                      parts=2 if parallel else 1)
    out = (rows, cols, values)
    canonical = _canonical_parallel if parallel else _canonical_serial
    repeats = canonical(*out, ptr, seeds, col_bounds[-1])
    return out + (ptr, int(repeats))


# One block's work is integer-only, so the serial and the parallel driver give the same bits.
@njit(cache=True)
def _canonical_serial(rows, cols, values, ptr, seeds, n_cols):
    repeats = 0
    for b in range(ptr.shape[0] - 1):
        repeats += _canonical_block(rows, cols, values, ptr[b], ptr[b + 1], seeds[b], n_cols)
    return repeats


@njit(cache=True, parallel=True)
def _canonical_parallel(rows, cols, values, ptr, seeds, n_cols):
    repeats = np.zeros(ptr.shape[0] - 1, np.int64)
    for b in prange(ptr.shape[0] - 1):
        repeats[b] = _canonical_block(rows, cols, values, ptr[b], ptr[b + 1], seeds[b],
                                      n_cols)
    return repeats.sum()


@njit(cache=True)
def _canonical_block(rows, cols, values, lo, hi, seed, n_cols):
    """Sort ratings lo..hi by (row, col), shuffle each row's run; returns repeated pairs."""
    if hi - lo < 2:
        return 0
    key = rows[lo:hi].astype(np.int64) * n_cols + cols[lo:hi]
    order = np.argsort(key)
    r, c, v = rows[lo:hi][order], cols[lo:hi][order], values[lo:hi][order]
    repeats = 0
    for j in range(1, hi - lo):
        if key[order[j]] == key[order[j - 1]]:
            repeats += 1
    _shuffle_runs(r, c, v, np.uint64(seed))
    rows[lo:hi], cols[lo:hi], values[lo:hi] = r, c, v
    return repeats


@njit(cache=True)
def _shuffle_runs(r, c, v, state):
    """Fisher-Yates over each run of equal r, drawing from a splitmix64 stream."""
    n, j = r.shape[0], 0
    while j < n:
        k = j + 1
        while k < n and r[k] == r[j]:
            k += 1
        for m in range(k - 1, j, -1):
            state += _GOLDEN
            z = (state ^ (state >> np.uint64(30))) * _MIX1
            z = (z ^ (z >> np.uint64(27))) * _MIX2
            z ^= z >> np.uint64(31)
            p = j + np.int64(z % np.uint64(m - j + 1))
            c[m], c[p] = c[p], c[m]
            v[m], v[p] = v[p], v[m]
        j = k


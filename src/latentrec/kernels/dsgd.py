"""DSGD kernels: what one process and every worker of a cluster compute identically.

Distributed SGD by stratification (Gemulla et al. 2011) cuts the rating matrix into a grid
of blocks; the blocks of one stratum share no row or column and may be updated anywhere,
in any order. For the cluster and one process to give the same bits, everything here is a
function of the *set* of ratings and of seeds, never of the order the rows arrive in:

    moment_bins(values) -> int64 (3, 256)
        exact integer sums behind the mean and the mean square of float32 ratings; the bins
        of parts add up (as integers) to the bins of the whole, in any order.
    exact_sums(bins) -> (S, Q): Python ints with sum = S * 2**-149, sum of squares =
        Q * 2**-298, exactly.
    layout_blocks(rows, cols, values, row_bounds, col_bounds, seeds, *, parallel=False)
        -> (rows, cols, values, block_ptr, n_repeats)
        group ratings into the blocks of the row stripes [row_bounds[0], row_bounds[-1]) x
        all column stripes; inside a block, sort by (row, col), then shuffle each row's
        ratings with the block's seed. ``n_repeats`` counts (row, col) pairs seen twice
        (then the order is not canonical; callers refuse such input).
    sgd_block(rows, cols, values, lo, hi, R, C, br, bc, mu, lr, reg, reg_b, biased) -> float
        the per-rating SGD of kernels/sgd.py over ratings lo..hi (releases the GIL).
    run_blocks(items, step, n_threads=1) -> list of float
        sgd_block over blocks that share no row or column, on n_threads threads.

Rows are the side whose stripes stay in place (users, unless there are more items), columns
the side that moves; row/column indices may be global or local to a stripe.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blocks import _count_blocks, _scatter
from .dataflow import run_dataflow
from .sgd import _sgd_ratings

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


# -- exact moments -----------------------------------------------------------------------
def moment_bins(values: np.ndarray) -> np.ndarray:
    """Per float32 exponent: the summed signed mantissas, and the summed squared mantissas
    split into high and low 24 bits. int64 bins overflow only past 2**39 ratings."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    out = np.zeros((3, 256), np.int64)
    _moment_bins(bits, out)
    return out


@njit(cache=True)
def _moment_bins(bits, out):
    for j in range(bits.shape[0]):
        b = np.int64(bits[j])
        e = (b >> 23) & 0xFF
        m = b & 0x7FFFFF
        if e != 0:
            m += 0x800000
        sq = m * m
        out[0, e] += -m if b >> 31 else m
        out[1, e] += sq >> 24
        out[2, e] += sq & 0xFFFFFF


def exact_sums(bins: np.ndarray) -> tuple[int, int]:
    """(S, Q) with sum(values) = S * 2**-149 and sum(values**2) = Q * 2**-298 exactly."""
    s = q = 0
    for e in range(256):
        shift = max(e, 1) - 1  # a value is m * 2**(max(e, 1) - 150)
        s += int(bins[0, e]) << shift
        q += ((int(bins[1, e]) << 24) + int(bins[2, e])) << (2 * shift)
    return s, q


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
    row_stripe = np.repeat(np.arange(g_rows, dtype=np.int32), np.diff(row_bounds))
    col_stripe = np.repeat(np.arange(g_cols, dtype=np.int32), np.diff(col_bounds))
    ptr = _count_blocks(rows, cols, row_stripe, col_stripe, g_rows, g_cols, row_bounds[0])
    out = (np.empty_like(rows), np.empty_like(cols), np.empty_like(values))
    _scatter(rows, cols, values, row_stripe, col_stripe, g_cols, ptr, *out, row_bounds[0])
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


# -- SGD over blocks ---------------------------------------------------------------------
@njit(nogil=True, cache=True)
def sgd_block(rows, cols, values, lo, hi, R, C, br, bc, mu, lr, reg, reg_b, biased):
    """kernels/sgd.py's per-rating update over ratings lo..hi in storage order."""
    return _sgd_ratings(rows, cols, values, np.empty(0, np.int64), lo, hi, R, C, br, bc, mu,
                        lr, reg, reg, reg_b, reg_b, biased)


def run_blocks(items, step, n_threads: int = 1) -> list:
    """``sgd_block(*item, *step)`` for each item, on ``n_threads`` threads. The blocks must
    share no row or column, so the threads change nothing but the time. Returns each
    block's sum e**2."""
    sse = [0.0] * len(items)

    def one(k):
        sse[k] = sgd_block(*items[k], *step)

    every = range(len(items))
    run_dataflow(every, every, every, one, n_threads)
    return sse

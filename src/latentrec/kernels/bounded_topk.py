"""Exact top-k by inner product over a large catalogue, scoring few items in full.

    BoundIndex(B, n_tail)                      the item side, laid out for the search
    bounded_top_k(index, A, k, *, seen=None, rows=None, candidates=None, n_threads=None)
        -> (indices int64 (n_rows, k), scores float64 (n_rows, k))

Row r's score of item i is ``A[r] . B[i]``. The columns split into a *tail* (the first
``n_tail``: the factors) and a *head* (the rest: bias and interaction columns), and by
Cauchy-Schwarz

    A[r] . B[i]  <=  A[r, head] . B[i, head]  +  |A[r, tail]| |B[i, tail]|.

The bound costs ``n_head + 1`` multiplies where the score costs ``n_tail + n_head``; each
row keeps a heap of its k best exact scores so far and scores an item in full only when
its bound reaches the heap's worst (with a small slack for rounding, so that no item is
missed). Where the head decides the ranking, as the interaction part of a relevance score
does, a small share of a million items is scored in full (docs/benchmarks.md).

The result is ``kernels.topk.top_k`` of the full score block (the same validity rules:
seen items, ``candidates``, -inf and NaN left out; ties by lower index), except that a
score here is summed in the items' dtype by this kernel's own vectorized loop (the same
order on every call, on a given CPU), so it may differ from a BLAS product's in its last
bits, and near-ties can order differently. Only k <= ``topk.HEAP_K`` is served.

Items are laid out at build time in k-d order of their head columns and tail norm, in
tiles of ``TILE`` that each keep the box of those values, so that one bound covers a
tile; the index keeps its own copy of ``B`` in that order, so the items a tile scores in
full are read from one stretch of memory (read through the order instead, a search that
scored many items, as a folded-in user's with large factors does, took ~3.5x longer). A
row scans its ``FIRST_TILES`` best-bound tiles first (its heap fills with strong items
and its threshold rises), then every other tile whose bound reaches the heap's worst.
Rows run in blocks of ``ROWS_PER_BLOCK``, the blocks in parallel (``prange``); each row's
result depends on its own data only, so it is the same for every thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import num_threads, thread_count
from .topk import HEAP_K, _heap_out, _index_array, _sift_down, _sift_up, _worse

__all__ = ["BoundIndex", "bounded_top_k"]

#: Items per tile (a tile's box bounds all of its items at once).
TILE = 256
#: Tiles scanned best-bound first, before the rest in order, to raise the threshold early.
FIRST_TILES = 4
#: Relative slack on each bound, far above float32 rounding of the sums involved.
SLACK = 1e-4
#: Rows per parallel block.
ROWS_PER_BLOCK = 64

_NONE_INT = np.zeros(0, np.int64)
_NONE_BOOL = np.zeros(0, np.bool_)


@njit(cache=True)
def _kd_order(points, leaf):
    """Item order in which each run of ``leaf`` items is a cell of a k-d split (each cell
    cut at the median of its widest column, whole tiles on the left), so that a tile's
    box is small. The cells are cut in place in one index array, each by a selection on
    a copy of its widest column (a Python loop of NumPy calls took 1.3 s at 1M items)."""
    if leaf < 1:
        raise ValueError("leaf must be at least 1")
    n, n_cols = points.shape
    order = np.arange(n)
    keys = np.empty(n, points.dtype)
    stack = np.empty((128, 2), np.int64)  # pending cells: about 2 per level at most
    stack[0, 0], stack[0, 1] = 0, n
    top = 1
    while top > 0:
        top -= 1
        lo, hi = stack[top, 0], stack[top, 1]
        if hi - lo <= leaf:
            continue
        widest, width = 0, -np.inf
        for c in range(n_cols):
            least, most = np.inf, -np.inf
            for j in range(lo, hi):
                v = points[order[j], c]
                least, most = min(least, v), max(most, v)
            if most - least > width:
                widest, width = c, most - least
        for j in range(lo, hi):
            keys[j] = points[order[j], widest]
        half = ((hi - lo) // 2 + leaf - 1) // leaf * leaf
        _select(keys, order, lo, hi, lo + half, 2 * _bit_length(hi - lo) + 4)
        stack[top, 0], stack[top, 1] = lo + half, hi
        stack[top + 1, 0], stack[top + 1, 1] = lo, lo + half
        top += 2
    return order


@njit(cache=True)
def _select(keys, idx, lo, hi, k, budget):
    """Reorder keys[lo:hi] (idx along) so that none of keys[lo:k] is above keys[k] and
    none of keys[k:hi] below it: Hoare's selection, pivot the median of three. After
    ``budget`` rounds (about 2 log2(n): random keys need log2(n)) the range still open
    is sorted instead (a merge sort), so that keys crafted against the pivot rule cannot
    make it quadratic."""
    left, right = lo, hi - 1
    rounds = 0
    while right > left:
        rounds += 1
        if rounds > budget:
            by = np.argsort(keys[left:right + 1], kind="mergesort") + left
            keys[left:right + 1] = keys[by]
            idx[left:right + 1] = idx[by]
            return
        a, b, c = keys[left], keys[(left + right) // 2], keys[right]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = left, right
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                keys[i], keys[j] = keys[j], keys[i]
                idx[i], idx[j] = idx[j], idx[i]
                i += 1
                j -= 1
        if k <= j:
            right = j
        elif k >= i:
            left = i
        else:
            return


def _blocks(B, dtype) -> list:
    """The column blocks of ``B`` (an array or a list of them) as 2-D arrays of one float
    dtype and one length."""
    listed = isinstance(B, (list, tuple))
    parts = [np.asarray(b) for b in (B if listed else [B])]
    dtype = np.dtype(dtype if dtype is not None else parts[0].dtype if parts else None)
    if listed:  # a 1-D block is one column
        parts = [p.reshape(-1, 1) if p.ndim == 1 else p for p in parts]
    if (not parts or dtype not in (np.float32, np.float64)
            or any(p.ndim != 2 or p.shape[0] != parts[0].shape[0] for p in parts)):
        shapes = ", ".join(f"{p.dtype} {p.shape}" for p in parts)
        raise ValueError(f"B must be a 2-D float32 or float64 array, or column blocks of "
                         f"one length, got {shapes or 'nothing'}")
    return [p.astype(dtype, copy=False) for p in parts]


def _columns(parts, lo, hi) -> np.ndarray:
    """Columns lo:hi of the blocks side by side (a view where one block holds them)."""
    out, at = [], 0
    for p in parts:
        a, b = max(lo, at), min(hi, at + p.shape[1])
        if a < b:
            out.append(p[:, a - at:b - at])
        at += p.shape[1]
    if len(out) == 1:
        return out[0]
    return np.hstack(out) if out else np.empty((parts[0].shape[0], 0), parts[0].dtype)


@njit(cache=True, parallel=True)
def _gather_rows(B, order, out):
    """out[p] = B[order[p]], on every thread (NumPy's ``B[order]`` took 0.2-1.0 s for 1M
    rows of 105 floats, one thread reading rows in random order)."""
    for p in prange(order.shape[0]):
        out[p] = B[order[p]]


@njit(cache=True)
def _bit_length(n):
    bits = 0
    while n > 0:
        bits += 1
        n >>= 1
    return bits


class BoundIndex:
    """The item side (n_items x d) of the score and what the bound reads, all with items in
    k-d order (``order``: position -> item): ``B``, the rows in that order (a copy: the
    caller's arrays are not kept), the head columns column by column, each item's tail
    norm, and each tile's box (the per-column least and largest head value and largest
    tail norm of its ``TILE`` items).

    ``B`` is one array or a list of column blocks (2-D, or 1-D for one column) whose side
    by side is the item side, cast to ``dtype`` (default: the first block's): a caller
    whose side is factors and bias columns need not stack them in item order first, only
    for the index to copy them again (0.5 s and 0.5 GB at a million items)."""

    def __init__(self, B, n_tail: int, dtype=None):
        parts = _blocks(B, dtype)
        dtype = parts[0].dtype
        n, d = parts[0].shape[0], sum(p.shape[1] for p in parts)
        if not 0 <= n_tail <= d:
            raise ValueError(f"n_tail must be in [0, {d}], got {n_tail}")
        self.n_tail = int(n_tail)
        tail, head = _columns(parts, 0, n_tail), _columns(parts, n_tail, d)
        # summed in float64: float32 squares would overflow past 1.8e19 and underflow
        # below 1e-23, and a running float32 sum spends a little of the bound's slack
        tail_norm = np.sqrt(np.einsum("ij,ij->i", tail, tail, dtype=np.float64)).astype(dtype)
        del tail
        self.order = _kd_order(np.column_stack([head, tail_norm]), TILE)
        self.B = np.empty((n, d), dtype)
        at = 0
        for part in parts:
            _gather_rows(part, self.order, self.B[:, at:at + part.shape[1]])
            at += part.shape[1]
        self.head_t = np.ascontiguousarray(self.B[:, n_tail:].T)
        self.tail_norm = tail_norm[self.order]
        n_tiles = -(-n // TILE)
        pad = n_tiles * TILE - n
        tiles = np.pad(self.head_t, ((0, 0), (0, pad)), mode="edge").reshape(
            head.shape[1], n_tiles, TILE) if n else np.zeros((head.shape[1], 0, 1))
        self.tile_max = np.ascontiguousarray(tiles.max(axis=2), dtype=dtype)
        self.tile_min = np.ascontiguousarray(tiles.min(axis=2), dtype=dtype)
        self.tile_tail = (np.pad(self.tail_norm, (0, pad), mode="edge").reshape(
            n_tiles, TILE).max(axis=1) if n else np.zeros(0)).astype(dtype)
        # the largest |value| of each head column and of the tail norm: the slack's scale
        self.head_max = (np.abs(head).max(axis=0) if head.size else
                         np.zeros(head.shape[1])).astype(np.float64)
        self.tail_max = float(tail_norm.max()) if tail_norm.size else 0.0

    @property
    def nbytes(self) -> int:
        """Memory the index holds beside its copy of the rows, ``B``."""
        return sum(a.nbytes for a in (self.order, self.head_t, self.tail_norm,
                                      self.tile_max, self.tile_min, self.tile_tail))


@njit(cache=True)
def _is_seen(indices, a, b, j):
    """Whether j is in the sorted indices[a:b] (binary search)."""
    while a < b:
        mid = (a + b) // 2
        v = indices[mid]
        if v == j:
            return True
        if v < j:
            a = mid + 1
        else:
            b = mid
    return False


@njit(cache=True, fastmath=True)
def _tile_bounds(a_head, a_norm, tile_max, tile_min, tile_tail, tb):
    """tb[t]: the bound of every item of tile t (its box's best corner for this row)."""
    for t in range(tb.shape[0]):
        tb[t] = a_norm * tile_tail[t]
    for c in range(tile_max.shape[0]):
        w = a_head[c]
        hi = tile_max[c]
        lo = tile_min[c]
        for t in range(tb.shape[0]):
            tb[t] += max(w * hi[t], w * lo[t])


@njit(cache=True, fastmath=True)
def _bounds(a_head, a_norm, head_t, tail_norm, p0, p1, buf):
    """buf[:p1 - p0]: the bound of the items at positions p0..p1. (The tile's slices are
    taken first: indexing them from 0 is what lets the loops vectorize.)"""
    n = p1 - p0
    tail = tail_norm[p0:p1]
    for j in range(n):
        buf[j] = a_norm * tail[j]
    for c in range(head_t.shape[0]):
        w = a_head[c]
        col = head_t[c, p0:p1]
        for j in range(n):
            buf[j] += w * col[j]


# reassociated so that LLVM vectorizes it: one term at a time, an item scored in full cost
# ~4x more (by="rating" over 1M items: 1.03 -> 0.56 ms a user, where most items of a
# scanned tile are scored); no nnan/ninf, so -inf and NaN scores stay what they are
@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _dot(a, b):
    s = a.dtype.type(0)
    for f in range(a.shape[0]):
        s += a[f] * b[f]
    return s


@njit(cache=True)
def _push(hs, hi, m, k, s, j):
    """Offer (s, j) to the heap of the k best (worst on top) holding m; returns the new m."""
    if m < k:
        hs[m] = s
        hi[m] = j
        _sift_up(hs, hi, m)
        return m + 1
    if _worse(hs[0], hi[0], s, j):
        hs[0] = s
        hi[0] = j
        _sift_down(hs, hi, m, 0)
    return m


@njit(cache=True)
def _scan_tile(a, a_norm, slack, B, n_tail, head_t, tail_norm, order, t, k, indices, lo,
               hi, use_seen, candidates, buf, hs, hix, m):
    """Offer tile t's items whose bound reaches the heap's worst; returns the new m."""
    p0 = t * TILE
    p1 = min(order.shape[0], p0 + TILE)
    _bounds(a[n_tail:], a_norm, head_t, tail_norm, p0, p1, buf)
    use_cand = candidates.shape[0] > 0
    for q in range(p1 - p0):
        if m == k and buf[q] + slack < hs[0]:
            continue
        j = order[p0 + q]
        if use_cand and not candidates[j]:
            continue
        if use_seen and _is_seen(indices, lo, hi, j):
            continue
        s = np.float64(_dot(a, B[p0 + q]))
        if s > -np.inf:
            m = _push(hs, hix, m, k, s, j)
    return m


@njit(cache=True)
def _best_unvisited(tb, visited):
    best = -1
    for t in range(tb.shape[0]):
        if not visited[t] and (best < 0 or tb[t] > tb[best]):
            best = t
    return best


@njit(cache=True, nogil=True)  # a request's search lets the server's other threads run
def _rows(A, a_norm, slack, B, n_tail, head_t, tail_norm, order, tile_max, tile_min,
          tile_tail, k, indptr, indices, rows, candidates, r0, r1, out_i, out_s, scanned):
    """Rows r0..r1: the tiles with the best bounds first, then every other tile whose
    bound reaches the heap's worst (``scanned[r]``: how many tiles row r scanned)."""
    n_tiles = tile_tail.shape[0]
    tb = np.empty(n_tiles, A.dtype)
    visited = np.zeros(n_tiles, np.bool_)
    first = np.zeros(FIRST_TILES, np.int64)
    buf = np.empty(TILE, A.dtype)
    hs = np.empty(k, np.float64)
    hix = np.empty(k, np.int64)
    use_seen = indptr.shape[0] > 0
    for r in range(r0, r1):
        a = A[r]
        lo = hi = 0
        if use_seen:
            lo, hi = indptr[rows[r]], indptr[rows[r] + 1]
        _tile_bounds(a[n_tail:], a_norm[r], tile_max, tile_min, tile_tail, tb)
        m = n_first = count = 0
        while n_first < min(FIRST_TILES, n_tiles):
            t = _best_unvisited(tb, visited)
            if m == k and tb[t] + slack[r] < hs[0]:
                break
            visited[t] = True
            first[n_first] = t
            n_first += 1
            m = _scan_tile(a, a_norm[r], slack[r], B, n_tail, head_t, tail_norm, order,
                           t, k, indices, lo, hi, use_seen, candidates, buf, hs, hix, m)
        count = n_first
        for t in range(n_tiles):
            if visited[t] or (m == k and tb[t] + slack[r] < hs[0]):
                continue
            count += 1
            m = _scan_tile(a, a_norm[r], slack[r], B, n_tail, head_t, tail_norm, order,
                           t, k, indices, lo, hi, use_seen, candidates, buf, hs, hix, m)
        for f in range(n_first):
            visited[first[f]] = False
        scanned[r] = count
        _heap_out(hs, hix, m, out_i[r], out_s[r])


@njit(cache=True, parallel=True, nogil=True)
def _row_blocks(A, a_norm, slack, B, n_tail, head_t, tail_norm, order, tile_max, tile_min,
                tile_tail, k, indptr, indices, rows, candidates, out_i, out_s, scanned):
    n_rows = A.shape[0]
    n_blocks = (n_rows + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK
    for b in prange(n_blocks):
        _rows(A, a_norm, slack, B, n_tail, head_t, tail_norm, order, tile_max, tile_min,
              tile_tail, k, indptr, indices, rows, candidates, b * ROWS_PER_BLOCK,
              min(n_rows, (b + 1) * ROWS_PER_BLOCK), out_i, out_s, scanned)


def bounded_top_k(index: BoundIndex, A, k, *, seen=None, rows=None, candidates=None,
                  n_threads=None, scanned=None):
    """The k best valid items of each row of ``A @ index.B.T``; see the module doc.
    ``seen`` is CSR (indptr, indices) with each row's indices sorted. ``scanned``: an
    int64 array (n_rows) to receive how many of the index's tiles each row scanned."""
    A, (indptr, indices, rows, candidates), (out_i, out_s, scanned) = search_arguments(
        index.B, A, k, seen, rows, candidates, scanned)
    n_rows, n_tail = A.shape[0], index.n_tail
    if n_rows == 0 or k == 0 or index.B.shape[0] == 0:
        return out_i, out_s
    a_norm = np.linalg.norm(A[:, :n_tail], axis=1).astype(A.dtype)
    scale = np.abs(A[:, n_tail:].astype(np.float64)) @ index.head_max + a_norm * index.tail_max
    slack = SLACK * scale + np.finfo(A.dtype).tiny
    arrays = (A, a_norm, slack, index.B, n_tail, index.head_t, index.tail_norm,
              index.order, index.tile_max, index.tile_min, index.tile_tail, int(k), indptr,
              indices, rows, candidates)
    if n_rows <= ROWS_PER_BLOCK:  # one request: no threads to wake
        _rows(*arrays, 0, n_rows, out_i, out_s, scanned)
        return out_i, out_s
    with num_threads(thread_count(n_threads)):
        _row_blocks(*arrays, out_i, out_s, scanned)
    return out_i, out_s


def search_arguments(B, A, k, seen, rows, candidates, counts):
    """A search's arguments, checked and in the kernels' types, for ``A @ B.T``: ``A`` in
    B's dtype; the filters (indptr, indices, rows, candidates: empty arrays where not
    given, ``rows`` 0..n_rows-1 by default); the results (indices, scores, and per-row
    ``counts``, made where not given), filled as for no rows, items or k (index -1,
    score -inf, count 0) so that a search with nothing to do can return them."""
    A = np.ascontiguousarray(A, dtype=B.dtype)
    if A.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"A must be 2-D with {B.shape[1]} columns, got {A.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= HEAP_K:
        raise ValueError(f"k must be an integer in [0, {HEAP_K}], got {k!r}")
    n_rows = A.shape[0]
    if seen is None:
        indptr = indices = rows = _NONE_INT
    else:
        indptr, indices = (_index_array(x, name) for x, name in zip(seen, ("indptr",
                                                                           "indices")))
        rows = (np.arange(n_rows, dtype=np.int64) if rows is None
                else _index_array(rows, "rows"))
    candidates = (_NONE_BOOL if candidates is None
                  else np.ascontiguousarray(candidates, dtype=np.bool_))
    out_i = np.full((n_rows, int(k)), -1, np.int64)
    out_s = np.full((n_rows, int(k)), -np.inf)
    counts = np.zeros(n_rows, np.int64) if counts is None else counts
    counts[:] = 0
    return A, (indptr, indices, rows, candidates), (out_i, out_s, counts)

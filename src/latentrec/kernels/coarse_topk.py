"""Exact top-k by inner product from a cheap upper bound: most items never scored in full.

    CoarseBound(B, n_tail, n_lead)           the item side and its coarse columns
    coarse_top_k(bound, A, k, *, seen=None, rows=None, candidates=None, n_threads=None,
                 scored=None) -> (indices int64 (n_rows, k), scores float64 (n_rows, k))

Row r's score of item i is ``A[r] . B[i]``; the columns split into a *tail* (the first
``n_tail``: the factors) and a *head* (bias and interaction columns). Turn the tail by an
orthogonal V, the eigenvectors of ``B_tail' B_tail`` by falling eigenvalue, so that the
first ``n_lead`` turned columns carry most of the items' spread; a product does not change
under the turn, and by Cauchy-Schwarz on the rest

    A[r] . B[i]  <=  A[r, head] . B[i, head]  +  a_lead . b_lead  +  |a_rest| |b_rest|

(``a_lead = (A[r, tail] V)[:n_lead]``, ``|a_rest|`` what is left of the tail's norm). The
bound costs ``n_head + n_lead + 1`` multiply-adds an item where the score costs every
column. A row's bounds are made a tile of items at a time (for ``ROWS_AT_ONCE`` rows,
so a tile of the coarse columns is read once for them), with the largest bound of each
``BLOCK`` items. The row then scores in full, first, its k valid items with the best
bounds (found in the blocks with the best largest bounds), so that its heap of the k
best exact scores starts high; then every other valid item whose bound, plus a slack for
rounding, reaches the heap's worst, in the blocks whose largest reaches it. Where the
head or a few turned columns decide the ranking, few items are scored in full: a
rating model's relevance scores over 20,000 items at K = 100, about 30 a row with no
turned column (docs/benchmarks.md, "A coarse bound first").

The lists are exactly those of ``kernels.topk.top_k`` over ``A @ B.T`` (the same validity
rules; ties by lower index), the scores summed by ``bounded_topk``'s own loop (so a score
may differ from a BLAS product's in its last bits, and near-ties can order differently).
Bounds are float32; a row whose values are not finite, or large enough for its bounds to
overflow, is scored in full. Only k <= ``topk.HEAP_K``. Rows run in blocks on numba's
threads, each row's result its own: the same for every thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .bounded_topk import SLACK, _dot, _push, search_arguments
from .threads import num_threads, thread_count
from .topk import (
    BLOCKS_PER_THREAD,
    SERIAL_CELLS,
    _ban,
    _heap_out,
    _row_top_k,
    top_k,
)

__all__ = ["CoarseBound", "coarse_top_k", "leading_turn"]

#: Rows whose bounds are made together, a tile of items at a time.
ROWS_AT_ONCE = 4
#: Items per tile of bounds.
TILE = 1024
#: Items per block: a row's rescoring visits only the blocks whose largest bound reaches
#: its heap's worst.
BLOCK = 64
#: A row looks for the items it scores first in its SEED_BLOCKS blocks with the best
#: largest bounds (at most HEAP_K), best first, until the next cannot improve them.
SEED_BLOCKS = 64

#: A row whose bounds could pass this (float32's largest is 3.4e38) is scored in full.
_F32_SAFE = 1e37


def _turned(tail, V):
    """(the first columns of ``tail @ V``, the norm of the rest), in float64: the rest's
    norm as what the leading columns leave of the whole norm."""
    tail = np.asarray(tail, np.float64)
    lead = tail @ V
    rest = np.einsum("ij,ij->i", tail, tail) - np.einsum("ij,ij->i", lead, lead)
    return lead, np.sqrt(np.maximum(rest, 0.0))


def leading_turn(B, n_tail: int) -> np.ndarray:
    """The turn of B's first ``n_tail`` columns (float64, n_tail x n_tail): the
    eigenvectors of their covariance ``B_tail' B_tail``, by falling eigenvalue."""
    tail = np.asarray(B)[:, :n_tail].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        gram = tail.T @ tail
    if not np.isfinite(gram).all():
        raise ValueError("B is too large for float32 bounds")
    return np.ascontiguousarray(np.linalg.eigh(gram)[1][:, ::-1])


class CoarseBound:
    """The item side ``B`` (n_items x d, item order, finite; kept, not copied, as
    ``self.B``) and its coarse columns ``[B_head, b_lead, |b_rest|]``, column by column
    in float32 as ``self.Ct``, with the turn ``self.V`` (n_tail x n_lead, float64) and the
    scale of the slack."""

    def __init__(self, B, n_tail: int, n_lead: int, turn=None):
        """``turn``: ``leading_turn(B, n_tail)`` where the caller has it (it is the same
        for every ``n_lead``)."""
        B = np.ascontiguousarray(B)
        if B.ndim != 2 or B.dtype not in (np.float32, np.float64):
            raise ValueError(f"B must be a 2-D float32 or float64 array, got {B.dtype} "
                             f"{B.shape}")
        if not 0 <= n_tail <= B.shape[1]:
            raise ValueError(f"n_tail must be in [0, {B.shape[1]}], got {n_tail}")
        if not 0 <= n_lead <= n_tail:
            raise ValueError(f"n_lead must be in [0, {n_tail}], got {n_lead}")
        if not np.isfinite(B).all():
            raise ValueError("B must be finite")
        self.B, self.n_tail = B, int(n_tail)
        turn = leading_turn(B, n_tail) if turn is None else turn
        self.V = np.ascontiguousarray(turn[:, :n_lead])
        tail = B[:, :n_tail].astype(np.float64)
        lead, rest = _turned(tail, self.V)
        head = B[:, n_tail:]
        self.Ct = np.ascontiguousarray(np.hstack([head, lead, rest[:, None]]).T,
                                       dtype=np.float32)
        if not np.isfinite(self.Ct).all():
            raise ValueError("B is too large for float32 bounds")
        self.head_max = np.abs(head).max(axis=0).astype(np.float64) if B.shape[0] else \
            np.zeros(head.shape[1])
        self.tail_max = float(np.sqrt(np.einsum("ij,ij->i", tail, tail)).max()) \
            if B.shape[0] else 0.0
        self._largest = float(np.abs(self.Ct).max()) if self.Ct.size else 0.0

    def user_side(self, A):
        """(A's coarse columns ``[A_head, a_lead, |a_rest|]`` in float32, each row's slack,
        which rows can be bounded: those whose values are finite and whose bounds cannot
        overflow float32)."""
        with np.errstate(over="ignore", invalid="ignore"):  # such rows are not bounded
            tail = A[:, :self.n_tail].astype(np.float64)
            lead, rest = _turned(tail, self.V)
            head = A[:, self.n_tail:].astype(np.float64)
            coarse = np.hstack([head, lead, rest[:, None]])
            scale = np.abs(head) @ self.head_max \
                + np.sqrt(np.einsum("ij,ij->i", tail, tail)) * self.tail_max
            slack = SLACK * scale + np.finfo(np.float32).tiny
            ok = (np.isfinite(A).all(axis=1) & np.isfinite(slack)
                  & (np.abs(coarse).sum(axis=1) * self._largest < _F32_SAFE))
        coarse[~ok] = 0.0
        return coarse.astype(np.float32), slack, ok


@njit(cache=True, fastmath={"contract", "nsz", "arcp"})
def _bound_tile(a, Ct, j0, j1, out):
    """out[j0:j1] = a . Ct[:, j0:j1]: a column at a time over a tile that stays in L1.
    (The slices are taken first: indexing them from 0 is what lets the loops
    vectorize.)"""
    n = j1 - j0
    dst = out[j0:j1]
    w = a[0]
    col = Ct[0, j0:j1]
    for j in range(n):
        dst[j] = w * col[j]
    for c in range(1, Ct.shape[0]):
        w = a[c]
        col = Ct[c, j0:j1]
        for j in range(n):
            dst[j] += w * col[j]


@njit(cache=True)
def _block_max(u, j0, j1, bm):
    """bm[b] = the largest of u's block b (BLOCK items) for the blocks in [j0, j1), found
    on the float32 bits as integers whose order is the floats' (LLVM vectorizes an
    integer max, not a float one); u holds no NaN."""
    keys, out = u.view(np.int32), bm.view(np.int32)
    for b0 in range(j0, j1, BLOCK):
        blk = keys[b0:min(j1, b0 + BLOCK)]
        mx = np.int32(-2147483648)
        for t in range(blk.shape[0]):
            x = blk[t]
            mx = max(mx, x ^ ((x >> 31) & 0x7FFFFFFF))
        out[b0 // BLOCK] = mx ^ ((mx >> 31) & 0x7FFFFFFF)


@njit(cache=True)
def _offer(ar, B, j, hs, hix, m, k, bar, slack):
    """Score item j in full and offer it to the heap; returns (m, the new bar: the least
    bound that can still reach the heap)."""
    s = np.float64(_dot(ar, B[j]))
    if s > -np.inf:
        m = _push(hs, hix, m, k, s, j)
        if m == k:  # rounded down: a bound exactly at the bar still gets scored
            bar = np.nextafter(hs[0] - slack, -np.inf)
    return m, bar


@njit(cache=True)
def _valid(j, banned, candidates):
    return not ((banned.shape[0] > 0 and banned[j])
                or (candidates.shape[0] > 0 and not candidates[j]))


@njit(cache=True)
def _seed(u, bm, k, banned, candidates, hs, hix, first, blocks, scratch):
    """first[:k]: the k valid items with the best bounds (-1 where there are fewer), found
    in the SEED_BLOCKS blocks with the best largest bounds, best block first, until the
    next block's largest cannot improve them; scored first, so that the heap's worst
    starts high. ``blocks`` and ``scratch``: room for SEED_BLOCKS block numbers and
    scores."""
    none = banned[:0]
    n_blocks = blocks.shape[0]
    _row_top_k(bm, n_blocks, none, none, scratch[0], scratch[1].view(np.int64),
               scratch[2:2], blocks, scratch[3])
    m = 0
    for f in range(n_blocks):
        b = blocks[f]
        if b < 0 or (m == k and bm[b] <= hs[0]):
            break
        for j in range(b * BLOCK, min(u.shape[0], (b + 1) * BLOCK)):
            if (m < k or u[j] > hs[0]) and _valid(j, banned, candidates):
                m = _push(hs, hix, m, k, np.float64(u[j]), j)
    for f in range(k):
        first[f] = hix[f] if f < m else -1


@njit(cache=True)
def _rescore(u, bm, ar, B, k, slack, banned, candidates, first, hs, hix, blocks, scratch):
    """Row u of bounds (bm: its blocks' largest) to the heap of the k best exact scores:
    the seeds (_seed) first, then every other valid item whose bound reaches the heap's
    worst less the slack, in the blocks whose largest reaches it; returns (m, how many
    items were scored in full)."""
    _seed(u, bm, k, banned, candidates, hs, hix, first, blocks, scratch)
    m = count = 0
    bar = -np.inf
    for f in range(k):
        if first[f] >= 0:
            m, bar = _offer(ar, B, first[f], hs, hix, m, k, bar, slack)
            count += 1
    for b in range(bm.shape[0]):
        if bm[b] < bar:
            continue
        for j in range(b * BLOCK, min(u.shape[0], (b + 1) * BLOCK)):
            if u[j] < bar or not _valid(j, banned, candidates):
                continue
            again = False
            for f in range(k):
                again |= first[f] == j
            if not again:
                m, bar = _offer(ar, B, j, hs, hix, m, k, bar, slack)
                count += 1
    return m, count


@njit(cache=True, nogil=True)
def _rows(Ac, Ct, A, B, k, slack, indptr, indices, rows, candidates, lo, hi, out_i, out_s,
          scored):
    """Rows lo..hi, ROWS_AT_ONCE at a time: their bounds tile by tile (a tile of the
    coarse columns read once for them all), then each row's rescoring."""
    n_items = Ct.shape[1]
    use_seen = indptr.shape[0] > 0
    banned = np.zeros(n_items if use_seen else 0, np.bool_)
    U = np.empty((ROWS_AT_ONCE, n_items), np.float32)
    bm = np.empty((ROWS_AT_ONCE, -(-n_items // BLOCK)), np.float32)
    hs = np.empty(k, np.float64)
    hix = np.empty(k, np.int64)
    first = np.empty(k, np.int64)
    blocks = np.empty(min(SEED_BLOCKS, bm.shape[1]), np.int64)
    scratch = np.empty((4, blocks.shape[0]), np.float64)
    bad = 0
    for r0 in range(lo, hi, ROWS_AT_ONCE):
        r1 = min(hi, r0 + ROWS_AT_ONCE)
        for j0 in range(0, n_items, TILE):
            j1 = min(n_items, j0 + TILE)
            for r in range(r0, r1):
                _bound_tile(Ac[r], Ct, j0, j1, U[r - r0])
                _block_max(U[r - r0], j0, j1, bm[r - r0])
        for r in range(r0, r1):
            a = b = 0
            if use_seen:
                a, b = indptr[rows[r]], indptr[rows[r] + 1]
                bad += _ban(banned, indices, a, b, True)
            m, scored[r] = _rescore(U[r - r0], bm[r - r0], A[r], B, k, slack[r], banned,
                                    candidates, first, hs, hix, blocks, scratch)
            if use_seen:
                _ban(banned, indices, a, b, False)
            _heap_out(hs, hix, m, out_i[r], out_s[r])
    return bad


@njit(cache=True, parallel=True, nogil=True)
def _row_blocks(Ac, Ct, A, B, k, slack, indptr, indices, rows, candidates, bounds, out_i,
                out_s, scored):
    n_blocks = bounds.shape[0] - 1
    bad = np.zeros(n_blocks, np.int64)
    for b in prange(n_blocks):
        bad[b] = _rows(Ac, Ct, A, B, k, slack, indptr, indices, rows, candidates,
                       bounds[b], bounds[b + 1], out_i, out_s, scored)
    return bad.sum()


def coarse_top_k(bound: CoarseBound, A, k, *, seen=None, rows=None, candidates=None,
                 n_threads=None, scored=None):
    """The k best valid items of each row of ``A @ bound.B.T``; see the module doc.
    ``seen`` is CSR (indptr, indices) read at rows ``rows``, as in ``topk.top_k``;
    ``scored``: an int64 array (n_rows) to receive how many items each row scored in
    full."""
    A, (indptr, indices, rows, candidates), (out_i, out_s, scored) = search_arguments(
        bound.B, A, k, seen, rows, candidates, scored)
    n_rows, n_items = A.shape[0], bound.B.shape[0]
    if n_rows == 0 or k == 0 or n_items == 0:
        return out_i, out_s
    Ac, slack, ok = bound.user_side(A)
    args = (Ac, bound.Ct, A, bound.B, int(k), slack, indptr, indices, rows, candidates)
    threads = 1 if n_rows * n_items < SERIAL_CELLS else thread_count(n_threads)
    if threads == 1 or n_rows <= ROWS_AT_ONCE:
        bad = _rows(*args, 0, n_rows, out_i, out_s, scored)
    else:
        n_blocks = min(-(-n_rows // ROWS_AT_ONCE), threads * BLOCKS_PER_THREAD)
        bounds = np.linspace(0, n_rows, n_blocks + 1).astype(np.int64)
        with num_threads(threads):
            bad = _row_blocks(*args, bounds, out_i, out_s, scored)
    if bad:
        raise ValueError(f"{bad} seen item indices lie outside [0, {n_items})")
    if not ok.all():  # rows with huge or non-finite values: every item scored
        r = np.flatnonzero(~ok)
        out_i[r], out_s[r] = top_k(A[r] @ bound.B.T, k, seen=None if seen is None else
                                   (indptr, indices), rows=None if seen is None else rows[r],
                                   candidates=None if candidates.size == 0 else candidates)
        scored[r] = n_items
    return out_i, out_s

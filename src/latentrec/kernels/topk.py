"""The best k entries of each row of a score block: every ``recommend`` and ``similar_*``.

    top_k(scores, k, *, seen=None, rows=None, candidates=None, exclude=None,
          n_threads=None) -> (indices int64 (n_rows, k), scores float64 (n_rows, k))

``scores`` is a block of rows (float32 or float64, n_rows x n_items: a chunk of users'
scores of every item, or one query's similarities). An item is *valid* for row r when

- its score is above -inf (so -inf and NaN scores never rank),
- ``candidates`` (bool, n_items) is None or True for it,
- it is not in row ``rows[r]`` of the CSR matrix ``seen = (indptr, indices)`` (the items a
  user rated; ``rows`` maps the block's rows to the matrix's, default 0..n_rows-1, so a
  chunk of users reads the model's whole matrix without copying it), and
- it is not ``exclude[r]`` (one item per row, e.g. the query itself; -1: none).

Seen or excluded indices outside [0, n_items) raise ValueError.

Row r of the result lists its valid items best first: score descending, ties by lower
index first, i.e. the first k of ``sorted(valid, key=lambda j: (-score[j], j))``; when
fewer than k are valid the rest of the row holds index -1 and score -inf. The scores come
back as float64 (exactly the input's values). Seen indices need not be sorted or unique.

Rows run in parallel (``prange`` over blocks of rows, each block with one mask of the
items it leaves out and its own scratch), each row reading only its own scores, so the
result is the same for every thread count; a small call runs in the calling thread. Up to
``HEAP_K`` a row keeps a heap of its k best so far: O(n_items) plus O(log k) per item
that enters the heap. For larger k it gathers its valid items and finds the k-th best
score by a radix select on order-preserving integer keys, then radix-sorts the k it keeps
(stable, so ties stay in index order): O(n_items + k), at most 8 byte passes each.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import num_threads, thread_count

__all__ = ["top_k"]

#: Below this many scores a call runs on one thread: waking the others costs more.
SERIAL_CELLS = 1 << 16
#: Row blocks per thread (rows can differ in cost: their seen lists).
BLOCKS_PER_THREAD = 4
#: Up to this k a row keeps a heap of its k best so far; above, it selects from all.
HEAP_K = 64

_NONE_INT = np.zeros(0, np.int64)
_NONE_BOOL = np.zeros(0, np.bool_)
_LOW63 = np.uint64(0x7FFFFFFFFFFFFFFF)
_BYTE = np.uint64(0xFF)


@njit(cache=True)
def _worse(s, i, t, j):
    """Whether (score s, index i) ranks below (t, j): lower score, or equal and later."""
    return s < t or (s == t and i > j)


@njit(cache=True)
def _sift_down(hs, hi, m, p):
    """Restore the heap (worst on top) below position p of the first m entries."""
    while True:
        c = 2 * p + 1
        if c >= m:
            return
        if c + 1 < m and _worse(hs[c + 1], hi[c + 1], hs[c], hi[c]):
            c += 1
        if not _worse(hs[c], hi[c], hs[p], hi[p]):
            return
        hs[p], hs[c] = hs[c], hs[p]
        hi[p], hi[c] = hi[c], hi[p]
        p = c


@njit(cache=True)
def _row_top_k(row, k, banned, candidates, hs, hi, scratch, out_i, out_s):
    """The k best valid entries of one row into out_i/out_s (see module doc): through a
    heap of the k best so far when k is small, else by selecting from all valid ones."""
    if k > HEAP_K:
        _row_select(row, k, banned, candidates, scratch, out_i, out_s)
        return
    n_items = row.shape[0]
    use_banned = banned.shape[0] > 0
    use_cand = candidates.shape[0] > 0
    m = filled = 0
    while m < k and filled < n_items:  # fill the heap: add each valid item and sift it up
        j = filled
        s = np.float64(row[j])
        if (s > -np.inf and not (use_banned and banned[j])  # not -inf, NaN, left out
                and not (use_cand and not candidates[j])):
            hs[m] = s
            hi[m] = j
            _sift_up(hs, hi, m)
            m += 1
        filled += 1
    # the worst kept score, in the row's type (exact: it is one of the row's values)
    bar = row.dtype.type(hs[0] if m > 0 else np.inf)
    for j in range(filled, n_items):  # full: most items fail the first test, so it comes first
        if not row[j] > bar:  # items come by index, so a tie with the worst kept one loses
            continue
        s = np.float64(row[j])
        if (use_banned and banned[j]) or (use_cand and not candidates[j]):
            continue
        hs[0] = s
        hi[0] = j
        _sift_down(hs, hi, m, 0)
        bar = row.dtype.type(hs[0])
    _heap_out(hs, hi, m, out_i, out_s)


@njit(cache=True)
def _sift_up(hs, hi, c):
    """Restore the heap (worst on top) above position c, where an entry was just put."""
    while c > 0:
        p = (c - 1) // 2
        if not _worse(hs[c], hi[c], hs[p], hi[p]):
            return
        hs[p], hs[c] = hs[c], hs[p]
        hi[p], hi[c] = hi[c], hi[p]
        c = p


@njit(cache=True)
def _heap_out(hs, hi, m, out_i, out_s):
    """The heap's m entries best first into out_i/out_s, index -1 and score -inf past
    them (the heap is used up)."""
    for c in range(m, out_i.shape[0]):
        out_i[c] = -1
        out_s[c] = -np.inf
    while m > 0:  # take the worst off the heap into the last free place
        m -= 1
        out_i[m] = hi[0]
        out_s[m] = hs[0]
        hs[0] = hs[m]
        hi[0] = hi[m]
        _sift_down(hs, hi, m, 0)


@njit(cache=True)
def _desc_keys(vs, m, keys):
    """keys[:m]: uint64 whose ascending order is vs[:m]'s descending order, -0.0 and 0.0
    alike (so they tie, as the scores compare)."""
    f = keys.view(np.float64)
    for e in range(m):
        f[e] = vs[e] + 0.0  # -0.0 + 0.0 is 0.0
    for e in range(m):
        b = keys[e]
        keys[e] = b if b >> np.uint64(63) else ~b & _LOW63


@njit(cache=True)
def _kth_key(keys, m, k, work, hist):
    """The k-th smallest (k >= 1) of keys[:m]: radix select, a byte at a time from the top
    (work: scratch of m entries; hist: 256 counters)."""
    for e in range(m):
        work[e] = keys[e]
    n, want = m, k
    for shift in range(56, -8, -8):
        first, same = work[0], True
        for e in range(1, n):
            if work[e] != first:
                same = False
                break
        if same:  # all tied (common in small integer scores): nothing left to tell apart
            return first
        sh = np.uint64(shift)
        hist[:] = 0
        for e in range(n):
            hist[(work[e] >> sh) & _BYTE] += 1
        d = 0
        while hist[d] < want:
            want -= hist[d]
            d += 1
        if hist[d] < n:  # keep only the keys with byte d here (branch free)
            byte = np.uint64(d)
            c = 0
            for e in range(n):
                x = work[e]
                work[c] = x
                c += (x >> sh) & _BYTE == byte
            n = c
        if n == 1:
            break
    return work[0]


@njit(cache=True)
def _sort_by_key(keys, vs, vi, m, k2, s2, i2, hist):
    """Stable LSD radix sort of the first m (keys, vs, vi) by keys (k2, s2, i2: scratch;
    bytes that all keys share are skipped)."""
    src_k, src_s, src_i, dst_k, dst_s, dst_i = keys, vs, vi, k2, s2, i2
    for shift in range(0, 64, 8):
        sh = np.uint64(shift)
        hist[:] = 0
        for e in range(m):
            hist[(src_k[e] >> sh) & _BYTE] += 1
        if hist[(src_k[0] >> sh) & _BYTE] == m:
            continue
        total = 0
        for d in range(256):
            c = hist[d]
            hist[d] = total
            total += c
        for e in range(m):
            b = (src_k[e] >> sh) & _BYTE
            p = hist[b]
            hist[b] = p + 1
            dst_k[p], dst_s[p], dst_i[p] = src_k[e], src_s[e], src_i[e]
        src_k, src_s, src_i, dst_k, dst_s, dst_i = dst_k, dst_s, dst_i, src_k, src_s, src_i
    return src_s, src_i


@njit(cache=True)
def _row_select(row, k, banned, candidates, scratch, out_i, out_s):
    """_row_top_k for large k: gather the valid entries in index order, keep those above
    the k-th best score and the lowest-index ones tied with it, then a stable sort by
    descending score (radix select and sort on order-preserving integer keys)."""
    vs, s2 = scratch[0], scratch[1]
    keys, work, k2 = scratch[2].view(np.uint64), scratch[3].view(np.uint64), \
        scratch[4].view(np.uint64)
    vi, i2 = scratch[5].view(np.int64), scratch[6].view(np.int64)
    hist = scratch[7].view(np.int64)[:256]
    use_banned = banned.shape[0] > 0
    use_cand = candidates.shape[0] > 0
    m = 0
    for j in range(row.shape[0]):
        if (use_banned and banned[j]) or (use_cand and not candidates[j]):
            continue
        s = np.float64(row[j])
        if s > -np.inf:  # not -inf, not NaN
            vs[m] = s
            vi[m] = j
            m += 1
    if m == 0:
        for c in range(out_i.shape[0]):
            out_i[c] = -1
            out_s[c] = -np.inf
        return
    _desc_keys(vs, m, keys)
    if m > k:
        t = _kth_key(keys, m, k, work, hist)
        ties = k
        for e in range(m):
            ties -= keys[e] < t
        c = 0
        for e in range(m):  # in index order: all better than t, the first ``ties`` at t
            x = keys[e]
            at_t = (x == t) & (ties > 0)
            ties -= at_t
            keys[c], vs[c], vi[c] = x, vs[e], vi[e]  # branch free: kept if c moves on
            c += (x < t) | at_t
        m = c
    ss, ii = _sort_by_key(keys, vs, vi, m, k2, s2, i2, hist)
    for c in range(m):
        out_i[c] = ii[c]
        out_s[c] = ss[c]
    for c in range(m, out_i.shape[0]):
        out_i[c] = -1
        out_s[c] = -np.inf


@njit(cache=True)
def _ban(banned, indices, a, b, value):
    """banned[j] = value for the j in indices[a:b] inside the mask; returns how many lie
    outside it when setting (0 when clearing: they were counted then)."""
    bad = 0
    for jj in range(a, b):
        j = indices[jj]
        if 0 <= j < banned.shape[0]:
            banned[j] = value
        elif value:
            bad += 1
    return bad


@njit(cache=True, nogil=True)  # a request's selection lets the server's other threads run
def _top_k_rows(scores, k, indptr, indices, rows, candidates, exclude, lo, hi, out_i,
                out_s):
    """top_k for rows lo..hi, with one mask and one heap (or selection scratch) for all;
    returns the number of seen or excluded indices outside [0, n_items) (left out)."""
    n_items = scores.shape[1]
    use_seen = indptr.shape[0] > 0
    use_excl = exclude.shape[0] > 0
    bad = 0
    banned = np.zeros(n_items if use_seen or use_excl else 0, np.bool_)
    hs = np.empty(k if k <= HEAP_K else 0, np.float64)  # the heap
    hi_ = np.empty(k if k <= HEAP_K else 0, np.int64)
    # or room for all of a row's items, 8 arrays of them (see _row_select)
    scratch = np.empty((8, 0 if k <= HEAP_K else max(n_items, 256)), np.float64)
    for r in range(lo, hi):
        a = b = 0
        if use_seen:
            a, b = indptr[rows[r]], indptr[rows[r] + 1]
        bad += _ban(banned, indices, a, b, True)
        e = exclude[r] if use_excl else -1
        if e >= n_items:
            bad += 1
        elif e >= 0:
            banned[e] = True
        _row_top_k(scores[r], k, banned, candidates, hs, hi_, scratch, out_i[r], out_s[r])
        _ban(banned, indices, a, b, False)  # clear only what was set
        if 0 <= e < n_items:
            banned[e] = False
    return bad


@njit(cache=True, parallel=True, nogil=True)
def _top_k_blocks(scores, k, indptr, indices, rows, candidates, exclude, bounds, out_i,
                  out_s):
    """_top_k_rows over the row blocks [bounds[b], bounds[b + 1]) in parallel."""
    n_blocks = bounds.shape[0] - 1
    bad = np.zeros(n_blocks, np.int64)
    for b in prange(n_blocks):
        bad[b] = _top_k_rows(scores, k, indptr, indices, rows, candidates, exclude,
                             bounds[b], bounds[b + 1], out_i, out_s)
    return bad.sum()


def top_k(scores, k, *, seen=None, rows=None, candidates=None, exclude=None,
          n_threads=None):
    """The k best valid items of each row, best first; see the module doc."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.dtype not in (np.float32, np.float64):
        raise ValueError(f"scores must be a 2-D float32 or float64 array, got "
                         f"{scores.dtype} {scores.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    scores = np.ascontiguousarray(scores)
    n_rows, n_items = scores.shape
    k = int(k)
    indptr = indices = _NONE_INT
    if seen is None:
        rows = _NONE_INT
    else:
        indptr, indices = (_index_array(a, name) for a, name in zip(seen, ("indptr",
                                                                           "indices")))
        if indptr.shape[0] < 1 or indptr[0] < 0 or indptr[-1] > indices.shape[0]:
            raise ValueError("seen must be CSR arrays (indptr, indices) of one matrix")
        rows = (np.arange(n_rows, dtype=np.int64) if rows is None
                else _index_array(rows, "rows"))
        if rows.shape != (n_rows,):
            raise ValueError(f"rows must have one entry per row of scores ({n_rows}), got "
                             f"shape {rows.shape}")
        if n_rows and (int(rows.min()) < 0 or int(rows.max()) >= indptr.shape[0] - 1):
            raise ValueError(f"rows must index the {indptr.shape[0] - 1} rows of seen")
    if candidates is None:
        candidates = _NONE_BOOL
    else:
        candidates = np.ascontiguousarray(candidates, dtype=np.bool_)
        if candidates.shape != (n_items,):
            raise ValueError(f"candidates must be a boolean mask over the {n_items} items, "
                             f"got shape {candidates.shape}")
    if exclude is None:
        exclude = _NONE_INT
    else:
        exclude = _index_array(exclude, "exclude")
        if exclude.shape != (n_rows,):
            raise ValueError(f"exclude must hold one item per row of scores ({n_rows}), got "
                             f"shape {exclude.shape}")
    out_i = np.empty((n_rows, k), np.int64)
    out_s = np.empty((n_rows, k), np.float64)
    if n_rows == 0 or k == 0:
        return out_i, out_s
    args = (scores, k, indptr, indices, rows, candidates, exclude)
    threads = 1 if n_rows * n_items < SERIAL_CELLS else thread_count(n_threads)
    if threads == 1 or n_rows == 1:
        bad = _top_k_rows(*args, 0, n_rows, out_i, out_s)  # no thread pool to wake
    else:
        bounds = np.linspace(0, n_rows, min(n_rows, threads * BLOCKS_PER_THREAD) + 1)
        with num_threads(threads):
            bad = _top_k_blocks(*args, bounds.astype(np.int64), out_i, out_s)
    if bad:
        raise ValueError(f"{bad} seen or excluded item indices lie outside [0, {n_items})")
    return out_i, out_s


def _index_array(a, name):
    """A 1-D integer array as it is when int32 or int64 (no copy of a model's big seen
    matrix on every call), else as int64."""
    a = np.asarray(a)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D integer array, got {a.dtype} {a.shape}")
    if a.dtype not in (np.int32, np.int64):
        a = a.astype(np.int64)
    return np.ascontiguousarray(a)

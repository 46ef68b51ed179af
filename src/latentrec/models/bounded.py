"""When ``recommend`` scores few items in full: the bound index over a large catalogue,
and the coarse bound for a batch of users over a smaller one.

A score is ``A[u] . B[i]`` over the factor columns (the *tail*) and the bias and
interaction columns (the *head*). ``kernels.bounded_topk`` bounds it by the head's exact
product plus the product of the factor norms, and scores in full only the items whose
bound reaches a user's k-th best so far: exact top-k lists (docs/benchmarks.md, "Top-N
over a million items": about 110x faster than scoring every item of a 1M-item catalogue,
the same lists).

Below ``MIN_ITEMS`` items scoring every item is fast enough (a 20,000-item catalogue:
about as fast either way), and where the factors, not the head, decide the ranking the
bound rules out little. So a model builds the index only for a catalogue of at least
``MIN_ITEMS`` and keeps it only if, on a fixed sample of its users, the search scanned at
most ``MAX_SCANNED`` of the index's tiles: a deterministic choice (the lists are the same
either way, but for the last bit of a score and so the order of near-ties).

Below that, a batch of users (``recommend_all``, ``recommend --all``, a batch
``recommend``) over at least ``COARSE_MIN_ITEMS`` items can use ``kernels.coarse_topk``:
every item's bound from a few turned columns, and a full score only where the bound
reaches the k-th best so far. Whether it pays, and with how many turned columns, is
measured on the same fixed sample of users: for each width in ``LEAD_WIDTHS`` the share of
items scored in full (on a quarter of the sample; the cheapest width then on all of it),
priced by ``_coarse_cost`` against ``_full_cost`` (per item, in units of one bound column:
constants measured with benchmarks/recommend_all.py). The cheapest width is kept where
it costs at most ``COARSE_GAIN`` of scoring every item; the choice moves the speed only,
never the lists.
"""

from __future__ import annotations

import numpy as np

from ..kernels.bounded_topk import BoundIndex, bounded_top_k
from ..kernels.coarse_topk import CoarseBound, coarse_top_k, leading_turn

__all__ = ["MIN_ITEMS", "MAX_SCANNED", "SAMPLE_USERS", "worth_an_index",
           "COARSE_MIN_ITEMS", "worth_a_coarse_bound"]

MIN_ITEMS = 100_000
MAX_SCANNED = 0.1
SAMPLE_USERS = 64
_SAMPLE_K = 10
COARSE_MIN_ITEMS = 2_000
LEAD_WIDTHS = (0, 4, 8, 16)
COARSE_GAIN = 0.75
#: Per item, in bound columns (about 0.09 ns on one core): a column of an item scored in
#: full (a gathered row), the scan's own work past the bound, a column of the BLAS
#: product of every score, the selection pass over them (2 threads, 20,000 items).
_FULL_SCORE, _SCAN, _BLAS_COLUMN, _SELECT = 8.5, 10.0, 0.25, 14.0


def _sample(seen):
    n_users = seen[0].shape[0] - 1
    return np.unique(np.linspace(0, n_users - 1, SAMPLE_USERS).astype(np.int64))


def worth_an_index(item_side, n_tail: int, user_rows, seen, dtype=None) -> BoundIndex | None:
    """The index over ``item_side`` (an array, or its column blocks: see BoundIndex) if it
    pays for these items and users, else None.

    ``user_rows(u_idx)`` gives users' rows A of the score; ``seen`` is the model's
    (indptr, indices) of rated items, each row sorted."""
    n_items = (item_side[0] if isinstance(item_side, (list, tuple)) else item_side).shape[0]
    if n_items < MIN_ITEMS:
        return None
    index = BoundIndex(item_side, n_tail, dtype)
    n_users = seen[0].shape[0] - 1
    if n_users == 0:
        return index
    sample = _sample(seen)
    scanned = np.empty(sample.size, np.int64)
    bounded_top_k(index, user_rows(sample), _SAMPLE_K, seen=seen, rows=sample,
                  scanned=scanned)
    return index if scanned.mean() <= MAX_SCANNED * index.tile_tail.shape[0] else None


def _coarse_cost(n_cols: int, width: int, scored_share: float) -> float:
    """Per item, in bound columns: a coarse search's, with ``n_cols`` bound columns and
    this share of items scored in full over ``width`` columns."""
    return n_cols + _SCAN + _FULL_SCORE * width * scored_share


def worth_a_coarse_bound(item_side, n_tail: int, user_rows, seen) -> CoarseBound | None:
    """The coarse bound over ``item_side`` (n_items x d, item order) with the cheapest of
    ``LEAD_WIDTHS`` turned columns if it pays for these items and users (see the module
    doc), else None; ``user_rows`` and ``seen`` as for worth_an_index. Each width is
    tried on a quarter of the sample, the cheapest then on all of it (where no width
    pays, a search that scores most items in full is not run 4 x 64 times)."""
    n_items, width = item_side.shape
    if n_items < COARSE_MIN_ITEMS or seen[0].shape[0] < 2 or not np.isfinite(item_side).all():
        return None
    sample = _sample(seen)
    rows = user_rows(sample)

    def cost(bound, at):
        scored = np.empty(at.size, np.int64)
        coarse_top_k(bound, rows[at], _SAMPLE_K, seen=seen, rows=sample[at], scored=scored)
        return _coarse_cost(bound.Ct.shape[0], width, scored.mean() / n_items)

    quarter = np.arange(0, sample.size, 4)
    best, best_cost = None, np.inf
    turn = leading_turn(item_side, n_tail)  # the same for every width
    try:
        for lead in (w for w in LEAD_WIDTHS if w <= n_tail):
            bound = CoarseBound(item_side, n_tail, lead, turn)
            at = cost(bound, quarter)
            if at < best_cost:
                best, best_cost = bound, at
    except ValueError:  # too large for float32 bounds
        return None
    limit = COARSE_GAIN * _full_cost(width)
    if best_cost >= limit or cost(best, np.arange(sample.size)) >= limit:
        return None
    return best


def _full_cost(width: int) -> float:
    """Per item, in bound columns: scoring every item (a BLAS product of ``width``
    columns) and selecting from all."""
    return _BLAS_COLUMN * width + _SELECT

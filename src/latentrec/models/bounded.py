"""When ``recommend`` scores few items in full: the bound index over a large catalogue.

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
"""

from __future__ import annotations

import numpy as np

from ..kernels.bounded_topk import BoundIndex, bounded_top_k

__all__ = ["MIN_ITEMS", "MAX_SCANNED", "SAMPLE_USERS", "worth_an_index"]

MIN_ITEMS = 100_000
MAX_SCANNED = 0.1
SAMPLE_USERS = 64
_SAMPLE_K = 10


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
    sample = np.unique(np.linspace(0, n_users - 1, SAMPLE_USERS).astype(np.int64))
    scanned = np.empty(sample.size, np.int64)
    bounded_top_k(index, user_rows(sample), _SAMPLE_K, seen=seen, rows=sample,
                  scanned=scanned)
    return index if scanned.mean() <= MAX_SCANNED * index.tile_tail.shape[0] else None

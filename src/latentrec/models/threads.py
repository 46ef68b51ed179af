"""How many threads a model trains with."""

from __future__ import annotations

import numba


def resolve_threads(n_threads: int | None) -> int:
    """``None`` means every thread numba may use; larger requests are capped to that."""
    available = numba.config.NUMBA_NUM_THREADS
    return available if n_threads is None else max(1, min(int(n_threads), available))

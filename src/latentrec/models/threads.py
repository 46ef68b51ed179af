"""How many threads a model trains with."""

from __future__ import annotations

import numba  # noqa: F401 - tests reach numba's config through this module

from ..kernels.threads import thread_count

#: Below this much work (ratings per pass) waking a thread pool costs more than it saves.
SMALL_WORK = 20_000


def resolve_threads(n_threads: int | None, work: int | None = None) -> int:
    """Threads to use: ``None`` means every thread numba may use (larger requests are
    capped to that); problems smaller than ``SMALL_WORK`` run on one."""
    n = thread_count(n_threads)
    return 1 if work is not None and work < SMALL_WORK else n

"""How many threads numba's parallel loops use, set for one call and restored after."""

from __future__ import annotations

from contextlib import contextmanager

import numba


def thread_count(n_threads) -> int:
    """``None`` means every thread numba may use; larger requests are capped to that."""
    limit = numba.config.NUMBA_NUM_THREADS
    return limit if n_threads is None else max(1, min(int(n_threads), limit))


def threads_now() -> int:
    """The threads numba's parallel loops use now, in this thread (``num_threads`` below,
    or the caller's ``numba.set_num_threads``)."""
    return numba.get_num_threads()


@contextmanager
def num_threads(n_threads, *, chunksize=None):
    """Run numba's parallel loops on ``n_threads`` threads (None: all) and, if given, with
    ``chunksize`` iterations per scheduling step; restore both afterwards."""
    before = numba.get_num_threads()
    n = thread_count(n_threads)
    numba.set_num_threads(n)
    old_chunk = None if chunksize is None else numba.set_parallel_chunksize(chunksize)
    try:
        yield n
    finally:
        if old_chunk is not None:
            numba.set_parallel_chunksize(old_chunk)
        numba.set_num_threads(before)

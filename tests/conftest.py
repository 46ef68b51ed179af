import contextlib
import tracemalloc

import numpy as np
import pytest

from latentrec import Ratings


@pytest.fixture(scope="session")
def small_ratings() -> Ratings:
    """A 60 x 40 rank-3 problem with string user ids and int item ids, ~35% observed."""
    rng = np.random.default_rng(7)
    P, Q = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    full = 3 + P @ Q.T * 0.7 + rng.normal(scale=0.1, size=(60, 40))
    mask = rng.random((60, 40)) < 0.35
    u, i = np.nonzero(mask)
    users = np.array([f"u{k:02d}" for k in u], dtype=object)
    return Ratings.from_arrays(users, i * 10, np.clip(full[u, i], 1, 5).astype(np.float32))


@contextlib.contextmanager
def _traced():
    """Trace allocations in the block; the dict yielded gets its "peak" (bytes) on leaving.

    Only for code whose threads are all Python's: a thread of a C library that calls into
    Python (pyarrow's I/O threads reading a Python stream) can crash CPython 3.11 when
    tracing stops under it (gh-128679, fixed in 3.12.9 and 3.13.2 only)."""
    out = {}
    tracemalloc.start()
    try:
        yield out
    finally:
        out["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture(scope="session")
def traced():
    """``with traced() as t: ...`` then ``t["peak"]``: the most bytes traced at once."""
    return _traced

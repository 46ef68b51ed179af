"""Where a cluster fit's ratings come from, and what this process learns about them.

    open_source(client, data, columns) -> LocalSource | ClusterSource

Both give ``stats`` (plan.Stats), ``user_map`` and ``item_map``; ``pieces(plan, home)``:
for each row stripe, futures of its pieces of ratings, on or bound for worker ``home(s)``;
``trained_on(blocks, plan)``: what Recommender._set_fitted reads; and ``loss_hint``, what
to tell a user whose fit lost data for good.

A :class:`~latentrec.Ratings` (or a pandas DataFrame) is already here: it is cut by row
stripe here and each piece is sent to its worker. A path or glob of Parquet files, or a
dask DataFrame, never passes through this process: the workers read the partitions and
summarise them (ids with their counts, exact moment bins, rating range); the summaries
merge in a tree into the sorted id lists, which alone come back here (the fitted model
needs them); then each partition's ids are mapped to indices and cut by row stripe where
the partition was read.
"""

from __future__ import annotations

import operator
import os
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.idmap import IdMap
from ..data.ratings import Ratings, as_ratings
from ..errors import DataError
from ..models.plan import Stats
from . import tasks

_FAN_IN = 8


def open_source(client, data, columns):
    if isinstance(data, (Ratings, pd.DataFrame)):
        # DSGD trains a rating model: a frame without ratings would train on ones
        return LocalSource(client, as_ratings(data, "ratings", need_ratings=True))
    if isinstance(data, (str, os.PathLike)):
        data = _read_parquet(os.fspath(data))
    if type(data).__module__.startswith("dask"):
        import dask.dataframe as dd

        if isinstance(data, dd.DataFrame):
            tasks.check_columns(columns, data.columns)
            return ClusterSource(client, data[list(columns)], columns)
    raise DataError("ratings for a cluster fit must be a Ratings, a pandas or dask DataFrame, "
                    f"or a path or glob of Parquet files; got {type(data).__name__}")


def _read_parquet(path: str):
    """A dask DataFrame of the Parquet files at ``path`` (a file, a folder or a glob); reads
    their schema here, the ratings on the workers."""
    import dask.dataframe as dd
    from fsspec.core import get_fs_token_paths

    try:
        # dask reads a glob that matches nothing as a frame with no columns, which would
        # fail later as a missing user column
        if not get_fs_token_paths(path, mode="rb")[2]:
            raise DataError("no files match this pattern", path=path)
        return dd.read_parquet(path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("no such file or folder", path=path) from None
    except Exception as exc:  # noqa: BLE001 - fsspec and pyarrow raise many kinds
        raise DataError(f"cannot read the Parquet files: {_one_line(exc)}", path=path) from None


def _one_line(exc: Exception) -> str:
    """The gist of an error from dask's readers, which wrap the cause in a paragraph."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last.removeprefix("Original Message: ")


class TrainedOn(NamedTuple):
    """What Recommender._set_fitted reads of the ratings, without the ratings: the id maps,
    the lowest and highest rating (as ``values``), and who rated what (``seen``)."""

    user_map: IdMap
    item_map: IdMap
    values: np.ndarray
    seen: sp.csr_matrix


class LocalSource:
    loss_hint = ("Ratings given as a Ratings or pandas DataFrame were sent from this process "
                 "and are lost with the worker that held them; give fit a path of Parquet "
                 "files or a dask DataFrame, which the workers can read again, to survive "
                 "the loss of a worker.")

    def __init__(self, client, ratings: Ratings):
        if ratings.n_ratings == 0:
            raise DataError("cannot fit on an empty rating table")
        self.client, self.ratings = client, ratings
        self.user_map, self.item_map = ratings.user_map, ratings.item_map
        self.stats = Stats.of(ratings.users, ratings.items, ratings.values, ratings.n_users,
                              ratings.n_items)

    def pieces(self, plan, home) -> list:
        r = self.ratings
        return [self.client.scatter([piece], workers=[home(s)], hash=False)
                for s, piece in enumerate(plan.split(r.users, r.items, r.values))]

    def trained_on(self, blocks, plan):
        r = self.ratings
        return TrainedOn(r.user_map, r.item_map, r.values, r.seen())


class ClusterSource:
    loss_hint = ""

    def __init__(self, client, frame, columns):
        self.client, self.columns = client, tuple(columns)
        self.parts = client.compute(frame.to_delayed())
        summaries = client.map(tasks.summarize, self.parts, columns=self.columns)
        while len(summaries) > 1:
            summaries = [client.submit(tasks.merge, *summaries[i:i + _FAN_IN])
                         for i in range(0, len(summaries), _FAN_IN)]
        self.summary = summaries[0]
        s = self.summary.result()
        self.user_map = IdMap(s.user_ids, name="user")
        self.item_map = IdMap(s.item_ids, name="item")
        self.stats = Stats(s.user_counts, s.item_counts, s.bins, s.low, s.high)

    def pieces(self, plan, home) -> list:
        splits = self.client.map(tasks.encode_split, self.parts, summary=self.summary,
                                 plan=plan, columns=self.columns)
        self.parts = self.summary = None  # the blocks' lineage keeps what a rebuild needs
        return [self.client.map(operator.getitem, splits, [s] * len(splits))
                for s in range(plan.n_blocks)]

    def trained_on(self, blocks, plan):
        seen = _seen(self.client, blocks, plan)
        return TrainedOn(self.user_map, self.item_map,
                         np.array([self.stats.low, self.stats.high], np.float32), seen)


def _seen(client, blocks, plan) -> sp.csr_matrix:
    """users x items CSR of who rated what, from each row stripe's CSR built on its worker:
    stripes come one at a time into preallocated arrays, so this process holds 4 bytes a
    rating (plus 1 for the int8 ones), never the (user, item) pairs."""
    futures = [client.submit(tasks.seen_rows, blocks[s], plan, s) for s in range(plan.n_blocks)]
    indptr = np.zeros(int(plan.row_bounds[-1]) + 1, np.int64)
    indices = np.empty(plan.n_ratings, np.int32)
    for s, future in enumerate(futures):
        ptr, idx = future.result()
        lo = int(plan.row_bounds[s])
        indptr[lo + 1:lo + ptr.shape[0]] = ptr[1:] + indptr[lo]
        indices[indptr[lo]:indptr[lo] + idx.shape[0]] = idx
        futures[s] = None  # the worker may free it now
    n_rows, n_cols = int(plan.row_bounds[-1]), int(plan.col_bounds[-1])
    seen = sp.csr_matrix((np.ones(plan.n_ratings, np.int8), indices, indptr),
                         shape=(n_rows, n_cols))
    seen = seen.T.tocsr() if plan.items_stay else seen  # rows are items: transpose
    seen.sort_indices()
    return seen

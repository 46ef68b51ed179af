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

from ..data.idmap import IdMap
from ..data.ratings import Ratings
from ..errors import DataError
from ..models.base import _as_ratings
from . import tasks
from .plan import Stats

_FAN_IN = 8


def open_source(client, data, columns):
    if isinstance(data, (Ratings, pd.DataFrame)):
        return LocalSource(client, _as_ratings(data, "ratings"))
    if isinstance(data, (str, os.PathLike)):
        import dask.dataframe as dd

        try:  # reads the files' schema here, the ratings on the workers
            data = dd.read_parquet(os.fspath(data))
        except Exception as exc:  # noqa: BLE001 - fsspec and pyarrow raise many kinds
            raise DataError(f"cannot read the Parquet files: {exc}",
                            path=os.fspath(data)) from None
    if type(data).__module__.startswith("dask"):
        import dask.dataframe as dd

        if isinstance(data, dd.DataFrame):
            for role, name in zip(("user", "item", "rating"), columns):
                if name not in data.columns:
                    raise DataError(f"no {role} column {name!r}; columns are "
                                    f"{list(data.columns)}")
            return ClusterSource(client, data[list(columns)], columns)
    raise DataError("ratings for a cluster fit must be a Ratings, a pandas or dask DataFrame, "
                    f"or a path or glob of Parquet files; got {type(data).__name__}")


class TrainedOn(NamedTuple):
    """What Recommender._set_fitted reads from a Ratings, gathered without the ratings: the
    id maps, who rated what, and (as ``values``) the lowest and highest rating."""

    user_map: IdMap
    item_map: IdMap
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def n_ratings(self) -> int:
        return self.users.shape[0]


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
        return self.ratings


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
        found = self.client.gather([self.client.submit(tasks.pattern, blocks[s], plan, s)
                                    for s in range(plan.n_blocks)])
        users, items = (np.concatenate([f[k] for f in found]) for k in range(2))
        return TrainedOn(self.user_map, self.item_map, users, items,
                         np.array([self.stats.low, self.stats.high], np.float32))

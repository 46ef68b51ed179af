"""What the service knows about the ids of one model: item titles, rating counts, search.

Built once per loaded model (and again on every reload), so requests only index arrays.
Titles come from ``--items``: a CSV/TSV with an id column and a title column, a MovieLens
``u.item`` or ``movies.dat`` file, a bundled data set's name, or (from Python) a DataFrame
with a ``title`` column or a plain ``{item id: title}`` mapping.
"""

from __future__ import annotations

import numpy as np

from ..data.datasets import item_titles
from ..errors import UnknownIdError


def load_titles(source, id_map) -> dict | None:
    """{item id as the model spells it: title}, or None when no titles were given. Files
    and data set names are read as every ``--items`` option reads them."""
    return None if source is None else item_titles(source, id_map)


class Directory:
    """One side's ids (users or items) with labels and rating counts, for lookups and search.

    ``labels`` are the display titles (None where unknown); ``counts`` the number of
    training ratings of each id, which orders search results (most-rated first).
    """

    def __init__(self, id_map, counts: np.ndarray, labels: dict | None = None):
        self.id_map = id_map
        self.counts = np.asarray(counts, dtype=np.int64)
        ids = id_map.ids.tolist()
        self._labels = labels or {}
        self.has_labels = labels is not None
        # search runs over these two vectorised columns; ids match by prefix, labels anywhere
        self._id_text = np.array([str(x) for x in ids], dtype=str)
        self._label_text = np.array([(self._labels.get(x) or "").lower() for x in ids],
                                    dtype=str)
        self._popular = np.lexsort((np.arange(len(ids)), -self.counts))  # most-rated first

    def find(self, raw) -> tuple[int, object]:
        """(index, the model's id) of a path or JSON id; UnknownIdError when unknown."""
        index = self.id_map.lookup(raw)
        if index < 0:
            raise UnknownIdError(self.id_map.name, self.id_map.coerce(raw))
        return index, self.id_map.to_id(index)

    def label(self, raw):
        """The title of an id (as the model spells it), or None."""
        return self._labels.get(raw)

    def search(self, query: str, n: int) -> tuple[int, np.ndarray]:
        """(number of matches, indices of the first ``n``): an exact id first, then the
        most-rated ids whose text starts with ``query`` or whose label contains it."""
        order = self._popular
        if query:
            hit = (np.char.startswith(self._id_text[order], query)
                   | (np.char.find(self._label_text[order], query.lower()) >= 0))
            order = order[hit]
            exact = self._id_text[order] == query
            order = np.concatenate([order[exact], order[~exact]])
        return int(order.size), order[:n]

    def most_rated(self, indices: np.ndarray, n: int) -> tuple[int, np.ndarray]:
        """(how many, the first ``n``) of ``indices`` ordered most-rated first."""
        indices = np.asarray(indices)
        order = indices[np.lexsort((indices, -self.counts[indices]))]
        return int(order.size), order[:n]


def directories(model, titles: dict | None) -> tuple[Directory, Directory]:
    """(users, items) of a fitted model; counts come from the ratings it was trained on."""
    seen = model.seen_
    users = Directory(model.user_map_, np.diff(seen.indptr))
    items = Directory(model.item_map_, np.bincount(seen.indices, minlength=seen.shape[1]),
                      titles)
    return users, items

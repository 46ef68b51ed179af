"""The model file: what a fitted model writes (``Recommender.save``).

One checked archive (latentrec._archive): the fitted arrays, the seen-items matrix, the id
maps, and JSON metadata (format name and version, library version, model class and
hyperparameters, scalars, history). ``latentrec.persistence.load_model`` reads it back.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .._archive import write_archive
from .._version import __version__
from ..data.idmap import IdMap
from ..errors import DataError

FORMAT_NAME = "latentrec-model"
FORMAT_VERSION = 1
EXTRA = "extra."
CORE_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "user_ids",
               "item_ids", "seen_indptr", "seen_indices")


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, fsync, rename)."""
    arrays = {
        "user_factors": model.user_factors_, "item_factors": model.item_factors_,
        "user_bias": model.user_bias_, "item_bias": model.item_bias_,
        "user_ids": _ids_array(model.user_map_), "item_ids": _ids_array(model.item_map_),
        "seen_indptr": model.seen_.indptr.astype(np.int64),
        "seen_indices": model.seen_.indices.astype(np.int32),
    }
    arrays.update({EXTRA + k: v for k, v in model._extra_arrays().items()})
    write_archive(path, arrays, {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "library_version": __version__, "class": type(model).__name__,
        "params": _jsonable_params(model.get_params()),
        "global_mean": model.global_mean_, "rating_range": list(model.rating_range_),
        "history": _history_for_file(model.history_),
    })


def _history_for_file(history: list) -> list:
    """The history with a number that is not finite (a NaN score of nothing, a diverged
    epoch) as null, "not measured": JSON has no NaN, and a loader refuses it."""
    def plain(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return [{k: plain(v) for k, v in row.items()} if isinstance(row, dict) else row
            for row in history]


def _ids_array(id_map: IdMap) -> np.ndarray:
    if id_map.kind == "int":
        return id_map.ids
    out = id_map.ids.astype(str)
    # NumPy's fixed-width text drops trailing NULs: such an id would come back as another
    changed = np.flatnonzero(np.char.str_len(out) != np.fromiter(
        map(len, id_map.ids), np.int64, len(id_map.ids)))
    if changed.size:
        raise DataError(f"{id_map.name} id {id_map.ids[changed[0]]!r} ends in a NUL "
                        "character, which a model file cannot hold; rename such ids")
    return out


def _jsonable_params(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        try:
            json.dumps(v)
        except TypeError:
            v = None  # e.g. a Generator as random_state: not reproducible from a file anyway
        out[k] = v
    return out

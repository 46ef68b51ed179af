"""Loading model files: one file of arrays plus JSON metadata, never pickle.

A model file (written by ``Recommender.save``; format in latentrec.models.modelfile) is
read with ``allow_pickle=False``; every declared property is checked, and only model
classes latentrec defines (each registers itself, latentrec.models.base) can be built,
so a file can fail to load but can never run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._archive import ARCHIVE_ERRORS, check_members, read_archive_meta, read_array
from .data.idmap import IdMap
from .errors import ModelFileError
from .models.base import model_class
from .models.modelfile import CORE_ARRAYS, EXTRA, FORMAT_NAME, FORMAT_VERSION, save_model

__all__ = ["load_model", "save_model"]


# loading --------------------------------------------------------------------------------
def load_model(path):
    """Read a model written by ``save``; any doubt about the file raises ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(path, "not a latentrec model file (not an .npz archive)")

    def fail(reason):
        return ModelFileError(path, reason)

    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = _read_meta(npz, fail)
            arrays = {name: read_array(npz, name, spec, fail)
                      for name, spec in meta["arrays"].items()}
    except ModelFileError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise ModelFileError(path, f"not a readable latentrec model file ({exc})") from None
    return _build(path, meta, arrays)


def _read_meta(npz, fail) -> dict:
    meta = read_archive_meta(npz, FORMAT_NAME, "latentrec model file", fail)
    version = meta["format_version"]
    if version > FORMAT_VERSION:
        raise fail(f"written by a newer latentrec (file format {version}, this version "
                   f"reads up to {FORMAT_VERSION}); upgrade latentrec to load it")
    for key in ("class", "params", "arrays", "global_mean", "rating_range", "history"):
        if key not in meta:
            raise fail(f"metadata lacks {key!r}")
    check_members(meta, npz, fail)
    missing = [k for k in CORE_ARRAYS if k not in meta["arrays"]]
    if missing:
        raise fail(f"array {missing[0]!r} is missing")
    return meta


def _build(path, meta, arrays):
    cls = model_class(meta["class"])
    if cls is None:
        raise ModelFileError(path, f"unknown model class {meta['class']!r}")
    names = cls._param_names()
    params = meta["params"]
    if not isinstance(params, dict) or set(params) - set(names):
        raise ModelFileError(path, f"hyperparameters do not fit {meta['class']}")
    model = cls(**params)
    uf, itf = arrays["user_factors"], arrays["item_factors"]
    n_u, n_i = arrays["user_ids"].shape[0], arrays["item_ids"].shape[0]
    shapes_ok = (uf.ndim == 2 and itf.ndim == 2 and uf.shape[0] == n_u
                 and itf.shape[0] == n_i and uf.shape[1] == itf.shape[1]
                 and arrays["user_bias"].shape == (n_u,) and arrays["item_bias"].shape == (n_i,)
                 and arrays["seen_indptr"].shape == (n_u + 1,))
    if not shapes_ok:
        raise ModelFileError(path, "array shapes do not agree with each other")
    try:
        user_map = IdMap(_ids_from(arrays["user_ids"]), name="user")
        item_map = IdMap(_ids_from(arrays["item_ids"]), name="item")
        seen = sp.csr_matrix((np.ones(arrays["seen_indices"].size, np.int8),
                              arrays["seen_indices"], arrays["seen_indptr"]), shape=(n_u, n_i))
        seen.check_format(full_check=True)
    except ValueError as exc:
        raise ModelFileError(path, f"inconsistent contents ({exc})") from None
    model.user_factors_, model.item_factors_ = uf, itf
    model.user_bias_, model.item_bias_ = arrays["user_bias"], arrays["item_bias"]
    model.global_mean_ = float(meta["global_mean"])
    model.rating_range_ = tuple(float(x) for x in meta["rating_range"])
    model.user_map_, model.item_map_, model.seen_ = user_map, item_map, seen
    model.history_ = meta["history"]
    #: Where the file came from: the library and file-format versions that wrote it.
    model.file_metadata_ = {"library_version": meta.get("library_version"),
                            "format_version": meta["format_version"]}
    model._normed = {}
    try:
        model._load_extra_arrays({k[len(EXTRA):]: v for k, v in arrays.items()
                                  if k.startswith(EXTRA)})
    except ValueError as exc:
        raise ModelFileError(path, str(exc)) from None
    return model


def _ids_from(a: np.ndarray) -> np.ndarray:
    return a.astype(object) if a.dtype.kind == "U" else a

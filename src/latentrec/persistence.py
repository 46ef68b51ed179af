"""Saving and loading fitted models: one file of arrays plus JSON metadata, never pickle.

The file is a NumPy ``.npz`` archive. Member ``__meta__`` holds UTF-8 JSON: format name and
version, library version, model class and hyperparameters, scalars, history, and for every
array its dtype, shape and SHA-256. Loading reads arrays with ``allow_pickle=False``,
checks every declared property, and accepts only model classes latentrec defines, so a
file can fail to load but can never run code.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._files import atomic_write
from .data.idmap import IdMap
from .errors import ModelFileError

FORMAT_NAME = "latentrec-model"
FORMAT_VERSION = 1
_META = "__meta__"
_EXTRA = "extra."
_CORE_ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "user_ids",
                "item_ids", "seen_indptr", "seen_indices")

#: model class name -> class; filled by ``register`` (only these can be loaded).
_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: allow ``load`` to rebuild models of this class."""
    _REGISTRY[cls.__name__] = cls
    return cls


# archives: what a model file and a DSGD checkpoint (distributed/checkpoint.py) share ------
#: What reading a damaged or foreign archive can raise (CRC errors come as BadZipFile).
ARCHIVE_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError)


def write_archive(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` and the JSON ``meta`` as an ``.npz`` archive, atomically (temporary
    file, fsync, rename); ``meta`` gains "arrays": each array's dtype, shape and SHA-256."""
    meta = {**meta, "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape),
                                   "sha256": digest(v)} for k, v in arrays.items()}}
    members = {**arrays, _META: np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)}
    atomic_write(path, lambda f: np.savez(f, **members))


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def read_archive_meta(npz, format_name: str, what: str, fail) -> dict:
    """The JSON metadata of the archive open as ``npz``, if it is a ``format_name`` file
    whose declared arrays are exactly its members. ``fail(reason)`` makes the error to
    raise; ``what`` names the kind of file in it."""
    names = set(npz.files)
    if _META not in names:
        raise fail(f"no metadata: not a {what}")
    try:
        meta = json.loads(npz[_META].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise fail(f"not a {what}")
    if not isinstance(meta.get("format_version"), int):
        raise fail("metadata has no format version")
    return meta


def check_members(meta: dict, npz, fail) -> None:
    """``fail`` unless the arrays ``meta`` declares are exactly the archive's members."""
    if not isinstance(meta.get("arrays"), dict):
        raise fail("metadata lacks 'arrays'")
    declared, names = set(meta["arrays"]), set(npz.files) - {_META}
    if declared != names:
        odd = min(names ^ declared)
        raise fail(f"array {odd!r} is in the file but not in its metadata, or the other way "
                   "round")


def read_array(npz, name: str, spec: dict, fail) -> np.ndarray:
    """Member ``name``, checked against ``spec`` (dtype, shape, SHA-256); never unpickles."""
    try:
        a = npz[name]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise fail(f"array {name!r} holds pickled objects, which latentrec never "
                       "writes; refusing to load it") from None
        raise
    if not isinstance(spec, dict):
        raise fail(f"metadata of array {name!r} is not an object")
    if a.dtype.str != spec.get("dtype") or list(a.shape) != spec.get("shape"):
        raise fail(f"array {name!r} has dtype {a.dtype.str} and shape {list(a.shape)}, but "
                   f"the metadata says {spec.get('dtype')} and {spec.get('shape')}")
    if digest(a) != spec.get("sha256"):
        raise fail(f"array {name!r} does not match its checksum: the file is corrupted or "
                   "was altered")
    return a


# saving ---------------------------------------------------------------------------------
def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, fsync, rename)."""
    from . import __version__

    arrays = {
        "user_factors": model.user_factors_, "item_factors": model.item_factors_,
        "user_bias": model.user_bias_, "item_bias": model.item_bias_,
        "user_ids": _ids_array(model.user_map_), "item_ids": _ids_array(model.item_map_),
        "seen_indptr": model.seen_.indptr.astype(np.int64),
        "seen_indices": model.seen_.indices.astype(np.int32),
    }
    arrays.update({_EXTRA + k: v for k, v in model._extra_arrays().items()})
    write_archive(path, arrays, {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "library_version": __version__, "class": type(model).__name__,
        "params": _jsonable_params(model.get_params()),
        "global_mean": model.global_mean_, "rating_range": list(model.rating_range_),
        "history": model.history_,
    })


def _ids_array(id_map: IdMap) -> np.ndarray:
    return id_map.ids if id_map.kind == "int" else id_map.ids.astype(str)


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
    missing = [k for k in _CORE_ARRAYS if k not in meta["arrays"]]
    if missing:
        raise fail(f"array {missing[0]!r} is missing")
    return meta


def _build(path, meta, arrays):
    from . import models  # noqa: F401 - importing the models registers their classes

    cls = _REGISTRY.get(meta["class"])
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
    model._load_extra_arrays({k[len(_EXTRA):]: v for k, v in arrays.items()
                              if k.startswith(_EXTRA)})
    return model


def _ids_from(a: np.ndarray) -> np.ndarray:
    return a.astype(object) if a.dtype.kind == "U" else a

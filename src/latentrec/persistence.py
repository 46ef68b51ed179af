"""Loading model files: one file of arrays plus JSON metadata, never pickle.

A model file (written by ``Recommender.save``; format in latentrec.models.modelfile) is
read with ``allow_pickle=False``; every declared property is checked, and only model
classes latentrec defines (each registers itself, latentrec.models.base) can be built,
so a file can fail to load but can never run code.

The metadata are checked against a schema before any array is read (types, finite
numbers, hyperparameters the model class accepts, array shapes that agree with each
other), and each array's own header against its declaration before memory is taken for
it, so a damaged or hostile file is a ModelFileError, never a MemoryError or a model
that answers nonsense.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._archive import ARCHIVE_ERRORS, check_members, check_spec, read_archive_meta, read_array
from .data.idmap import IdMap
from .errors import ModelFileError, ParameterError
from .models.base import model_class
from .models.modelfile import CORE_ARRAYS, EXTRA, FORMAT_NAME, FORMAT_VERSION, save_model

__all__ = ["load_model", "save_model"]

#: Metadata keys every model file has.
_REQUIRED = ("class", "params", "arrays", "global_mean", "rating_range", "history")
#: The dtype kinds each core array may have: ids are integers or strings.
_KINDS = {"user_factors": "f", "item_factors": "f", "user_bias": "f", "item_bias": "f",
          "user_ids": "iU", "item_ids": "iU", "seen_indptr": "i", "seen_indices": "i"}
_KIND_NAMES = {"f": "floating point", "i": "integer", "iU": "integer or string"}
#: History keys the library reads back (summary, plots, schedule_), and what each must be.
_HISTORY_NUMBERS = ("train_rmse", "val_rmse", "seconds", "train_auc")
_HISTORY_STRINGS = ("stage", "schedule")
#: How far (relative to the range's magnitude) a mean may lie outside the rating range:
#: a mean of ratings lies inside their range; this only absorbs rounding.
_MEAN_SLACK = 1e-9


# loading --------------------------------------------------------------------------------
def load_model(path):
    """Read a model written by ``save``; any doubt about the file raises ModelFileError."""
    path = Path(path)

    def fail(reason):
        return ModelFileError(path, reason)

    with _open(path, fail) as f:
        try:
            with np.load(f, allow_pickle=False) as npz:
                meta = _read_meta(npz, fail)
                model = _new_model(meta, fail)
                arrays = {name: read_array(npz, name, spec, fail)
                          for name, spec in meta["arrays"].items()}
        except ModelFileError:
            raise
        except ARCHIVE_ERRORS as exc:
            raise fail(f"not a readable latentrec model file ({exc})") from None
    _install(model, meta, arrays, fail)
    return model


def _open(path: Path, fail):
    """``path`` open for reading, if it is a zip archive; why not, as a ModelFileError."""
    if path.is_dir():
        raise fail("is a directory, not a model file")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as exc:  # e.g. permission denied: the reason, as the ratings reader says
        raise fail(f"cannot open the file: {exc.strerror or exc}") from None
    try:
        is_zip = zipfile.is_zipfile(f)
        f.seek(0)
    except OSError as exc:
        f.close()
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    if not is_zip:
        f.close()
        raise fail("not a latentrec model file (not an .npz archive)")
    return f


def _read_meta(npz, fail) -> dict:
    meta = read_archive_meta(npz, FORMAT_NAME, "latentrec model file", fail)
    version = meta["format_version"]
    if version > FORMAT_VERSION:
        raise fail(f"written by a newer latentrec (file format {version}, this version "
                   f"reads up to {FORMAT_VERSION}); upgrade latentrec to load it")
    if version < 1:
        raise fail(f"unknown file format version {version}")
    for key in _REQUIRED:
        if key not in meta:
            raise fail(f"metadata lacks {key!r}")
    check_members(meta, npz, fail)
    missing = [k for k in CORE_ARRAYS if k not in meta["arrays"]]
    if missing:
        raise fail(f"array {missing[0]!r} is missing")
    _check_scalars(meta, fail)
    _check_history(meta["history"], fail)
    _check_layout(meta["arrays"], fail)
    return meta


# the metadata schema --------------------------------------------------------------------
def _finite(value) -> bool:
    """Whether ``value`` is a JSON number (not a bool) that is a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer of 400 digits
        return False


def _check_scalars(meta: dict, fail) -> None:
    """The class name, library version, rating range and global mean."""
    if not isinstance(meta["class"], str):
        raise fail(f"metadata: class {_short(meta['class'])} is not a class name")
    if not isinstance(meta.get("library_version"), (str, type(None))):
        raise fail(f"metadata: library_version {_short(meta['library_version'])} is not a "
                   "version string")
    rng = meta["rating_range"]
    if not (isinstance(rng, list) and len(rng) == 2 and all(map(_finite, rng))
            and rng[0] <= rng[1]):
        raise fail(f"metadata: rating_range {_short(rng)} is not [low, high], two finite "
                   "numbers with low <= high")
    mean = meta["global_mean"]
    if not _finite(mean):
        raise fail(f"metadata: global_mean {_short(mean)} is not a finite number")
    # 0 is the mean of a model without one (unbiased, implicit-feedback); any other mean
    # is the mean of the training ratings, so inside their range
    lo, hi = float(rng[0]), float(rng[1])
    slack = _MEAN_SLACK * max(1.0, abs(lo), abs(hi))
    if mean != 0 and not lo - slack <= mean <= hi + slack:
        raise fail(f"metadata: global_mean {mean!r} lies outside the rating range "
                   f"[{rng[0]!r}, {rng[1]!r}]")


def _check_history(history, fail) -> None:
    """A list of JSON objects of plain values (what the fit's epochs reported)."""
    if not isinstance(history, list):
        raise fail(f"metadata: history {_short(history)} is not a list")
    for n, row in enumerate(history):
        if not isinstance(row, dict):
            raise fail(f"metadata: history row {n} is not an object")
        for key, value in row.items():
            if not _history_value_ok(key, value):
                raise fail(f"metadata: history row {n} has an unusable {key!r}: "
                           f"{_short(value)}")


def _history_value_ok(key: str, value) -> bool:
    if key == "epoch":
        return type(value) is int and value >= 0  # noqa: E721 - not a bool
    if key in _HISTORY_NUMBERS:
        return value is None or _finite(value)
    if key in _HISTORY_STRINGS:
        return isinstance(value, str)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(value)
    return isinstance(value, (str, bool, type(None)))


def _check_layout(specs: dict, fail) -> None:
    """The declared dtypes and shapes of the core arrays agree with each other: one
    count of users, one of items, one width of factors; checked before any is read."""
    declared = {name: check_spec(name, spec, fail) for name, spec in specs.items()}
    for name, kinds in _KINDS.items():
        dtype, shape = declared[name]
        if dtype.kind not in kinds:
            raise fail(f"array {name!r} has dtype {dtype.str}, not a {_KIND_NAMES[kinds]} "
                       "dtype")
    ndims = {name: len(declared[name][1]) for name in
             ("user_ids", "item_ids", "seen_indices", "user_factors")}
    if ndims != {"user_ids": 1, "item_ids": 1, "seen_indices": 1, "user_factors": 2}:
        raise fail(f"array shapes do not agree with each other: dimensions {ndims}")
    (n_u,), (n_i,) = declared["user_ids"][1], declared["item_ids"][1]
    k = declared["user_factors"][1][1]
    expected = {"user_factors": (n_u, k), "item_factors": (n_i, k), "user_bias": (n_u,),
                "item_bias": (n_i,), "seen_indptr": (n_u + 1,)}
    for name, shape in expected.items():
        if declared[name][1] != shape:
            raise fail(f"array shapes do not agree with each other: {name!r} is "
                       f"{list(declared[name][1])}, but {n_u} users, {n_i} items and {k} "
                       f"factors make it {list(shape)}")
    if declared["seen_indices"][1][0] > n_u * n_i:
        raise fail(f"array shapes do not agree with each other: 'seen_indices' lists more "
                   f"pairs than {n_u} users x {n_i} items")


def _new_model(meta: dict, fail):
    """The unfitted model the metadata's class and hyperparameters describe, if the class
    is latentrec's and its own parameter checks accept them."""
    cls = model_class(meta["class"])
    if cls is None:
        raise fail(f"unknown model class {meta['class']!r}")
    params = meta["params"]
    if not isinstance(params, dict) or set(params) - set(cls._param_names()):
        raise fail(f"hyperparameters do not fit {meta['class']}")
    for name, value in params.items():  # numbers, strings...: the class's checks judge them
        if not isinstance(value, (str, int, float, type(None))):
            raise fail(f"hyperparameter {name} is {_short(value)}, not a plain value")
    model = cls(**params)
    try:
        model._check_params()
    except ParameterError as exc:
        raise fail(f"hyperparameters do not fit {meta['class']}: {_cut(str(exc))}") from None
    return model


def _short(value) -> str:
    """``value`` for a one-line message: its repr, cut short."""
    try:
        return _cut(repr(value), 80)
    except RecursionError:  # a list nested a thousand deep
        return f"a deeply nested {type(value).__name__}"


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# building -------------------------------------------------------------------------------
def _install(model, meta: dict, arrays: dict, fail) -> None:
    """Give ``model`` the fitted state the checked ``meta`` and ``arrays`` hold."""
    n_u, n_i = arrays["user_ids"].shape[0], arrays["item_ids"].shape[0]
    try:
        user_map = IdMap(_ids_from(arrays["user_ids"]), name="user")
        item_map = IdMap(_ids_from(arrays["item_ids"]), name="item")
        seen = sp.csr_matrix((np.ones(arrays["seen_indices"].size, np.int8),
                              arrays["seen_indices"], arrays["seen_indptr"]), shape=(n_u, n_i))
        seen.check_format(full_check=True)
    except ValueError as exc:
        raise fail(f"inconsistent contents ({exc})") from None
    model.user_factors_, model.item_factors_ = arrays["user_factors"], arrays["item_factors"]
    model.user_bias_, model.item_bias_ = arrays["user_bias"], arrays["item_bias"]
    model.global_mean_ = float(meta["global_mean"])
    model.rating_range_ = tuple(float(x) for x in meta["rating_range"])
    model.user_map_, model.item_map_, model.seen_ = user_map, item_map, seen
    model.history_ = meta["history"]
    #: Where the file came from: the library and file-format versions that wrote it.
    model.file_metadata_ = {"library_version": meta.get("library_version"),
                            "format_version": meta["format_version"]}
    model._new_factors()
    try:
        model._load_extra_arrays({k[len(EXTRA):]: v for k, v in arrays.items()
                                  if k.startswith(EXTRA)})
    except ValueError as exc:  # the model's own check of its extra arrays
        raise fail(str(exc)) from None
    except (KeyError, IndexError, TypeError) as exc:  # one missing, or of another shape
        raise fail(f"the model's extra arrays do not fit it ({type(exc).__name__}: "
                   f"{_cut(str(exc))})") from None


def _ids_from(a: np.ndarray) -> np.ndarray:
    return a.astype(object) if a.dtype.kind == "U" else a

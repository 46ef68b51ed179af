"""Checked archives: what a model file (persistence) and a DSGD checkpoint
(distributed/checkpoint.py) share.

An archive is a NumPy ``.npz`` file whose member ``__meta__`` holds UTF-8 JSON: the
format's name and version, and for every array its dtype, shape and SHA-256. Reading
checks each of these and never unpickles.
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np

from ._files import atomic_write

META = "__meta__"

#: What reading a damaged or foreign archive can raise (CRC errors come as BadZipFile).
ARCHIVE_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError)


def write_archive(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` and the JSON ``meta`` as an ``.npz`` archive, atomically (temporary
    file, fsync, rename); ``meta`` gains "arrays": each array's dtype, shape and SHA-256."""
    meta = {**meta, "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape),
                                   "sha256": digest(v)} for k, v in arrays.items()}}
    members = {**arrays, META: np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)}
    atomic_write(path, lambda f: np.savez(f, **members))


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def read_archive_meta(npz, format_name: str, what: str, fail) -> dict:
    """The JSON metadata of the archive open as ``npz``, if it is a ``format_name`` file
    whose declared arrays are exactly its members. ``fail(reason)`` makes the error to
    raise; ``what`` names the kind of file in it."""
    names = set(npz.files)
    if META not in names:
        raise fail(f"no metadata: not a {what}")
    try:
        meta = json.loads(npz[META].tobytes().decode("utf-8"))
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
    declared, names = set(meta["arrays"]), set(npz.files) - {META}
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

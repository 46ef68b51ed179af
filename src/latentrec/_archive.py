"""Checked archives: what a model file (persistence) and a DSGD checkpoint
(distributed/checkpoint.py) share.

An archive is a NumPy ``.npz`` file whose member ``__meta__`` holds UTF-8 JSON: the
format's name and version, and for every array its dtype, shape and SHA-256. Reading
checks each of these and never unpickles.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile

import numpy as np
from numpy.lib import format as npformat

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
    # the array's own bytes, not a copy of them (a 1M-item model's factors are 400 MB)
    return hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).hexdigest()


def read_archive_meta(npz, format_name: str, what: str, fail) -> dict:
    """The JSON metadata of the archive open as ``npz``, if it is a ``format_name`` file
    whose declared arrays are exactly its members. ``fail(reason)`` makes the error to
    raise; ``what`` names the kind of file in it."""
    names = set(npz.files)
    if META not in names:
        raise fail(f"no metadata: not a {what}")

    def header_ok(dtype, shape):
        if dtype.str != "|u1" or len(shape) != 1 or shape[0] > META_LIMIT:
            raise fail(f"metadata member is {dtype.str} {list(shape)}, not at most "
                       f"{META_LIMIT} bytes")

    raw = _read_member(npz, META, fail, header_ok)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5000-digit number
        raise fail(f"metadata is not valid JSON ({_short(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise fail(f"not a {what}")
    if type(meta.get("format_version")) is not int:  # noqa: E721 - True is no version
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


def check_spec(name: str, spec, fail) -> tuple[np.dtype, tuple]:
    """(dtype, shape) that the metadata ``spec`` of array ``name`` declares, if it is a
    well-formed declaration: a plain dtype (no objects, items of at least one byte), a
    shape of integers >= 0, and a SHA-256 in hex."""
    if not isinstance(spec, dict):
        raise fail(f"metadata of array {name!r} is not an object")
    dtype, shape, sha = spec.get("dtype"), spec.get("shape"), spec.get("sha256")
    if not (isinstance(shape, list) and len(shape) <= _MAX_NDIM
            and all(type(n) is int and n >= 0 for n in shape)):  # noqa: E721 - no bools
        raise fail(f"metadata of array {name!r}: shape {_short(shape)} is not a list of "
                   "integers >= 0")
    if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise fail(f"metadata of array {name!r}: sha256 {_short(sha)} is not a SHA-256 "
                   "digest")
    return _declared_dtype(name, dtype, fail), tuple(shape)


def read_array(npz, name: str, spec: dict, fail) -> np.ndarray:
    """Member ``name``, checked against ``spec`` (dtype, shape, SHA-256); never unpickles.

    The member's own .npy header must declare the dtype and shape ``spec`` does, and is
    checked before any memory is taken for the data; the data are then read in pieces up
    to the declared size, so a header or a zip directory that lies about the size costs
    no more memory than the bytes really there (and never more than declared)."""
    dtype, shape = check_spec(name, spec, fail)

    def header_ok(got_dtype, got_shape):
        if got_dtype.hasobject:
            raise fail(f"array {name!r} holds pickled objects, which latentrec never "
                       "writes; refusing to load it")
        if got_dtype != dtype or got_shape != shape:
            raise fail(f"array {name!r} has dtype {got_dtype.str} and shape "
                       f"{list(got_shape)}, but the metadata says {spec.get('dtype')} and "
                       f"{spec.get('shape')}")

    a = _read_member(npz, name, fail, header_ok)
    if digest(a) != spec["sha256"]:
        raise fail(f"array {name!r} does not match its checksum: the file is corrupted or "
                   "was altered")
    return a


# reading members ------------------------------------------------------------------------
#: Piece size when reading a member (small enough to stay in the CPU's cache).
_CHUNK = 1 << 18
#: The metadata member's largest size (JSON of a model is a few kB, a checkpoint's more).
META_LIMIT = 64 << 20
_MAX_NDIM = 32  # numpy's own limit is 64; latentrec writes 1 and 2
_SHA256 = re.compile("[0-9a-f]{64}")
_HEADER_ERRORS = (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, EOFError)


def _declared_dtype(name: str, text, fail) -> np.dtype:
    try:
        dtype = np.dtype(text) if isinstance(text, str) else None
    except (TypeError, ValueError, SyntaxError):
        dtype = None
    if dtype is None or dtype.hasobject or dtype.itemsize == 0 or dtype.str != text:
        raise fail(f"metadata of array {name!r}: dtype {_short(text)} is not a plain "
                   "NumPy dtype")
    return dtype


def _read_member(npz, name: str, fail, header_ok) -> np.ndarray:
    """The array in member ``name`` of ``npz`` (an np.load archive): its header is parsed
    and passed to ``header_ok(dtype, shape)``, which raises if it is not what is expected,
    before the data are read."""
    names = npz.zip.namelist()
    member = name + ".npy" if name + ".npy" in names else name
    with npz.zip.open(member) as stream:
        try:
            dtype, shape, fortran = _read_header(stream)
        except _HEADER_ERRORS as exc:
            raise fail(f"array {name!r} has no valid .npy header ({_short(exc)})") from None
        header_ok(dtype, shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes and _fits_in_file(npz, member, nbytes):
            data = _read_into(stream, np.empty(nbytes, np.uint8), name, fail)
        else:
            data = _read_growing(stream, nbytes, name, fail)
        if stream.read(1):
            raise fail(f"array {name!r} has more data than its header declares")
    if not nbytes:
        return np.empty(shape, dtype, order="F" if fortran else "C")
    a = np.frombuffer(data, dtype)  # no copy; writable, as data are
    return a.reshape(shape[::-1]).T if fortran else a.reshape(shape)


def _fits_in_file(npz, member: str, nbytes: int) -> bool:
    """Whether ``nbytes`` of an uncompressed member fit in the archive's real size: then
    memory for them can be taken at once (the fast way) without trusting the header."""
    try:
        stored = npz.zip.getinfo(member).compress_type == zipfile.ZIP_STORED
        return stored and nbytes <= os.fstat(npz.zip.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False  # an archive in memory, say


def _read_into(stream, out: np.ndarray, name: str, fail) -> np.ndarray:
    """Fill ``out`` (bytes) from ``stream``, a piece at a time."""
    view, pos = memoryview(out), 0
    while pos < out.size:
        got = stream.readinto(view[pos:pos + _CHUNK])
        if not got:
            raise fail(f"array {name!r} is cut short: {pos} of its {out.size} bytes are "
                       "there")
        pos += got
    return out


def _read_growing(stream, nbytes: int, name: str, fail) -> bytearray:
    """``nbytes`` from ``stream``, taking memory only as they arrive: for a compressed
    member, whose size only reading tells."""
    data = bytearray()
    while len(data) < nbytes:
        piece = stream.read(min(_CHUNK, nbytes - len(data)))
        if not piece:
            raise fail(f"array {name!r} is cut short: {len(data)} of its {nbytes} bytes "
                       "are there")
        data += piece
    return data


def _read_header(stream) -> tuple[np.dtype, tuple, bool]:
    version = npformat.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(stream)
    else:  # 3.0 only stores non-Latin-1 field names, which latentrec never writes
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    return dtype, tuple(shape), fortran


def _short(value, limit: int = 80) -> str:
    """``value`` for a one-line message: its repr (an error's text), cut at ``limit``."""
    try:
        text = str(value) if isinstance(value, BaseException) else repr(value)
    except RecursionError:  # a list nested a thousand deep
        text = f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."

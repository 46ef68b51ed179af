"""Checkpoints of a DSGD fit: the factors after an epoch, as one file.

Like a saved model (persistence.py), a checkpoint is a NumPy ``.npz`` archive written
atomically (temporary file, fsync, rename): one member per stripe and side, in standardised
units, plus member ``__meta__``, UTF-8 JSON holding the epoch, the history so far, what the
fit must match to continue from it (plan, hyperparameters, id maps), and every array's dtype,
shape and SHA-256. Reading never unpickles. Each worker reads only its own stripes.

    save(path, *, epoch, fingerprint, history, rows, cols)    rows/cols: {stripe: Stripe}
    read_meta(path) -> dict
    check(meta, fingerprint, path)     CheckpointError naming the first difference
    read_stripe(path, epoch, side, s) -> Stripe
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ..persistence import _digest
from .errors import CheckpointError
from .plan import Stripe

FORMAT_NAME = "latentrec-dsgd-checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"


def save(path, *, epoch: int, fingerprint: dict, history: list, rows: dict, cols: dict):
    from .. import __version__

    arrays = {}
    for side, stripes in (("rows", rows), ("cols", cols)):
        for s, stripe in stripes.items():
            arrays[f"{side}.{s}.factors"] = stripe.factors
            arrays[f"{side}.{s}.bias"] = stripe.bias
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "library_version": __version__,
            "epoch": int(epoch), "fingerprint": fingerprint, "history": history,
            "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape), "sha256": _digest(v)}
                       for k, v in arrays.items()}}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_meta(path) -> dict:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz[_META].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable DSGD checkpoint ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a latentrec DSGD checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format_version')!r}; "
                              f"this latentrec reads format {FORMAT_VERSION}")
    return meta


def check(meta: dict, fingerprint: dict, path) -> None:
    """CheckpointError unless ``meta`` was written by a fit with this fingerprint."""
    theirs = meta["fingerprint"]
    for key, ours in fingerprint.items():
        if theirs.get(key) != ours:
            raise CheckpointError(
                f"{path} was written for another fit: {key} is {theirs.get(key)!r} there and "
                f"{ours!r} here; fit with the same data and settings, or without resume")


def read_stripe(path, epoch: int, side: str, s: int) -> Stripe:
    meta = read_meta(path)
    if meta["epoch"] != epoch:
        raise CheckpointError(f"{path} now holds epoch {meta['epoch']}, not epoch {epoch}: "
                              "it was overwritten while this fit still needed it")
    with np.load(path, allow_pickle=False) as npz:
        parts = []
        for what in ("factors", "bias"):
            name = f"{side}.{s}.{what}"
            a = npz[name]
            if _digest(a) != meta["arrays"][name]["sha256"]:
                raise CheckpointError(f"{path}: array {name!r} does not match its checksum")
            parts.append(a)
    return Stripe(*parts)

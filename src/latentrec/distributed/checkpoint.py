"""Checkpoints of a DSGD fit: the factors after an epoch, as one file.

A checkpoint is an archive like a saved model (persistence.py writes and checks both): a
NumPy ``.npz`` file written atomically (temporary file, fsync, rename), one member per
stripe and side (its factors, biases and, with the adaptive step, accumulated squared
gradients), in standardised units, plus member ``__meta__``, UTF-8 JSON holding the
epoch, the history so far, what the fit must match to continue from it (plan,
hyperparameters, id maps), and every array's dtype, shape and SHA-256. Reading never
unpickles, and whatever is wrong with the file is a CheckpointError naming it.

    save(path, *, epoch, fingerprint, history, rows, cols)    rows/cols: {stripe: Stripe}
    read_meta(path) -> dict
    check(meta, fingerprint, path)     CheckpointError naming the first difference
    verify(path, meta, plan, adaptive) CheckpointError unless the arrays are the plan's
                                       (with the adaptive step's or without) and match
                                       their checksums
    read_stripe(path, epoch, side, s, adaptive) -> Stripe   (on a worker: its own stripes)

Format 2 added the adaptive step's accumulators and the schedule of steps to the
fingerprint; a format-1 file (written when a cluster ran constant steps only) reads as a
fit with ``learning_rate_schedule="constant"`` and its "auto" learning rate as 0.01.
"""

from __future__ import annotations

import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._archive import (
    ARCHIVE_ERRORS,
    check_members,
    read_archive_meta,
    read_array,
    write_archive,
)
from .._version import __version__
from ..models.plan import Plan, Stripe
from .errors import CheckpointError

FORMAT_NAME = "latentrec-dsgd-checkpoint"
FORMAT_VERSION = 2
#: What a format-1 file's fit used, which its fingerprint did not say.
_FORMAT_1_STEPS = {"learning_rate_schedule": "constant", "auto_learning_rate": 0.01}
#: Metadata keys and the JSON type each must have.
_KEYS = {"epoch": int, "fingerprint": dict, "history": list, "arrays": dict}
#: How check() names a fingerprint key whose origin is not obvious.
_LABELS = {"seed": "seed (drawn from random_state)"}


def save(path, *, epoch: int, fingerprint: dict, history: list, rows: dict, cols: dict):
    arrays = {}
    for side, stripes in (("rows", rows), ("cols", cols)):
        for s, stripe in stripes.items():
            arrays[_name(side, s, "factors")] = stripe.factors
            arrays[_name(side, s, "bias")] = stripe.bias
            if stripe.steps is not None:
                arrays[_name(side, s, "steps")] = stripe.steps
    write_archive(path, arrays, {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "library_version": __version__, "epoch": int(epoch), "fingerprint": fingerprint,
        "history": history})


def read_meta(path) -> dict:
    with _open(path) as (npz, fail):
        return _meta(npz, fail)


def check(meta: dict, fingerprint: dict, path) -> None:
    """CheckpointError unless ``meta`` was written by a fit with this fingerprint."""
    theirs = meta["fingerprint"]
    for key, ours in fingerprint.items():
        if theirs.get(key) != ours:
            raise CheckpointError(
                f"{path} was written for another fit: {_LABELS.get(key, key)} is "
                f"{theirs.get(key)!r} there and {ours!r} here; fit with the same data and "
                "settings, or without resume")


def verify(path, meta: dict, plan: Plan, adaptive: bool = False) -> None:
    """CheckpointError unless ``path`` holds every stripe of ``plan`` (with accumulators
    if ``adaptive``, without otherwise) and nothing else, in its dtype and shapes, each
    matching its checksum: a damaged file fails here, before training, rather than in a
    worker epochs later. Reads one array at a time."""
    expected = _expected(plan, adaptive)
    with _open(path) as (npz, fail):
        extra = sorted(set(meta["arrays"]) - set(expected))
        if extra:
            raise fail(f"array {extra[0]!r} is not one of this fit's: the checkpoint is of "
                       "another fit")
        for name, (dtype, shape) in expected.items():
            spec = meta["arrays"].get(name)
            if spec is None:
                raise fail(f"array {name!r} is missing")
            got = [spec.get("dtype"), spec.get("shape")] if isinstance(spec, dict) else None
            if got != [dtype, shape]:
                raise fail(f"array {name!r} has dtype and shape {got}, but this fit needs "
                           f"{[dtype, shape]}: the checkpoint is of another fit")
            read_array(npz, name, spec, fail)


def read_stripe(path, epoch: int, side: str, s: int, adaptive: bool = False) -> Stripe:
    with _open(path) as (npz, fail):
        meta = _meta(npz, fail)
        if meta["epoch"] != epoch:
            raise CheckpointError(f"{path} now holds epoch {meta['epoch']}, not epoch "
                                  f"{epoch}: it was overwritten while this fit still needed it")
        parts = ("factors", "bias", "steps") if adaptive else ("factors", "bias")
        names = [_name(side, s, what) for what in parts]
        missing = [n for n in names if n not in meta["arrays"]]
        if missing:
            raise fail(f"array {missing[0]!r} is missing")
        return Stripe(*(read_array(npz, n, meta["arrays"][n], fail) for n in names))


def _name(side: str, s: int, what: str) -> str:
    return f"{side}.{s}.{what}"


def _expected(plan: Plan, adaptive: bool) -> dict:
    """name -> (dtype str, shape) of every array a checkpoint of ``plan`` holds."""
    dtype, out = np.dtype(plan.dtype).str, {}
    for side, bounds in (("rows", plan.row_bounds), ("cols", plan.col_bounds)):
        for s in range(plan.n_blocks):
            n = int(bounds[s + 1] - bounds[s])
            out[_name(side, s, "factors")] = (dtype, [n, plan.n_factors])
            out[_name(side, s, "bias")] = (dtype, [n])
            if adaptive:
                out[_name(side, s, "steps")] = (dtype, [n, 2])
    return out


@contextmanager
def _open(path):
    """(npz, fail) of the checkpoint at ``path``; any read error is a CheckpointError."""
    path = Path(path)

    def fail(reason):
        return CheckpointError(f"{path}: {reason}")

    if not zipfile.is_zipfile(path):  # np.load would take a .npy file, or unpickle
        raise fail("not a readable DSGD checkpoint (no such file, or not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            yield npz, fail
    except CheckpointError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise fail(f"not a readable DSGD checkpoint ({exc})") from None


def _meta(npz, fail) -> dict:
    meta = read_archive_meta(npz, FORMAT_NAME, "latentrec DSGD checkpoint", fail)
    if meta["format_version"] not in (1, FORMAT_VERSION):
        raise fail(f"checkpoint format {meta['format_version']!r}; this latentrec reads "
                   f"formats 1 and {FORMAT_VERSION}")
    for key, kind in _KEYS.items():
        if not isinstance(meta.get(key), kind):
            raise fail(f"metadata lacks {key!r} (or it is not a {kind.__name__})")
    check_members(meta, npz, fail)
    if meta["format_version"] == 1:
        meta["fingerprint"] = _format_1_steps(meta["fingerprint"])
    return meta


def _format_1_steps(fingerprint: dict) -> dict:
    """A format-1 fingerprint with the steps its fit used (constant, "auto" as 0.01)
    where it does not say (development versions between the formats did)."""
    if "learning_rate_schedule" in fingerprint:
        return fingerprint
    out = {**fingerprint, "learning_rate_schedule": _FORMAT_1_STEPS["learning_rate_schedule"]}
    if out.get("learning_rate") == "auto":
        out["learning_rate"] = _FORMAT_1_STEPS["auto_learning_rate"]
    return out

"""The served model and its reload.

A request reads ``holder.current`` once and uses that :class:`Snapshot` to the end; a
reload builds a complete new snapshot first and then replaces the reference in one
assignment. So a request in flight finishes on the model it started with, new requests
get the new one, and a file that fails to load never replaces a working model.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LatentrecError
from ..persistence import load_model
from .catalog import Directory, directories, load_titles

log = logging.getLogger("latentrec.serve")


class ReloadError(LatentrecError):
    """A reload that failed; the model served before it is still served."""


@dataclass(frozen=True)
class Snapshot:
    """One loaded model with everything requests need from it, never changed once built."""

    model: object  # a fitted latentrec Recommender
    users: Directory
    items: Directory
    info: dict  # the body of GET /model
    generation: int  # 1 for the model loaded at start, +1 for each successful reload


class ModelHolder:
    """Loads the model file (and the item titles) and swaps in a new snapshot on reload."""

    def __init__(self, path, items=None):
        self.path = Path(path)
        self._items_source = items
        self._lock = threading.Lock()  # one reload at a time (SIGHUP and the admin endpoint)
        self.last_reload: dict | None = None
        self._current = self._load(generation=1)

    @property
    def current(self) -> Snapshot:
        """The snapshot to use for a whole request: read it once and keep the reference."""
        return self._current

    def reload(self) -> Snapshot:
        """Load the file again; on failure keep serving the old model and raise ReloadError."""
        with self._lock:
            old = self._current
            try:
                new = self._load(generation=old.generation + 1)
            except Exception as exc:  # whatever failed (MemoryError too), the old model serves on
                reason = self._reason(exc)
                # logged first: whoever sees last_reload change may expect the log line
                log.warning("reload failed, still serving generation %d: %s",
                            old.generation, reason)
                self.last_reload = {"ok": False, "at": _now(), "error": reason}
                raise ReloadError(f"reload failed, still serving the model loaded at "
                                  f"{old.info['loaded_at']} (generation {old.generation}): "
                                  f"{reason}") from None
            log.info("reloaded %s: %s, generation %d", self.path, new.info["algorithm"],
                     new.generation)
            self._current = new
            self.last_reload = {"ok": True, "at": new.info["loaded_at"], "error": None}
            return new

    def _reason(self, exc: Exception) -> str:
        """Why a reload failed, on one line. The loader's own errors say what and where; any
        other (a MemoryError, a bug's ValueError) is named by its type, since its message
        alone may be empty or say nothing of the file."""
        text = " ".join(str(exc).split())
        if isinstance(exc, (LatentrecError, OSError)):
            return text
        return f"{self.path}: cannot load model: {type(exc).__name__}" + (
            f": {text}" if text else "")

    def _load(self, generation: int) -> Snapshot:
        model = load_model(self.path)
        titles = load_titles(self._items_source, model.item_map_)
        users, items = directories(model, titles)
        _warm_up(model)
        info = describe(model, self.path, generation, titles is not None)
        return Snapshot(model, users, items, info, generation)


def _warm_up(model) -> None:
    """Compute the lazily cached unit-length factors and score sides (and, over a large
    catalogue, the bound index of recommend) now, in the loading thread, so the first
    request after a (re)load does not pay for them."""
    if len(model.user_map_) and len(model.item_map_):
        # the default order, and the one the API also offers where there are ratings
        for by in (None, "rating") if model.predicts_ratings else (None,):
            model.recommend(model.user_map_.to_id(0), n=1, by=by)
    if model.n_factors_ == 0:
        return
    if len(model.item_map_):
        model.similar_items(model.item_map_.to_id(0), n=1)
    if len(model.user_map_):
        model.similar_users(model.user_map_.to_id(0), n=1)


def describe(model, path: Path, generation: int, titles: bool) -> dict:
    """The metadata GET /model returns: what ``latentrec info`` shows, plus the serving state."""
    summary = model.summary()
    algorithm, training = summary.pop("class"), summary.pop("history")
    info = {"algorithm": algorithm, **summary, "training": training, "history": model.history_,
            "format_version": model.file_metadata_["format_version"],
            "library_version": model.file_metadata_["library_version"],
            "file": path.name, "generation": generation, "loaded_at": _now(), "titles": titles}
    return _json_safe(info)


def _json_safe(value):
    """Non-finite floats (a NaN in a history row) become null: strict JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")

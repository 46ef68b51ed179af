"""numba's on-disk cache of this folder's kernels, keyed on every kernel file.

numba keys a cached kernel on the contents of the file that defines it, not on those of
the files it calls into: a kernel calling ``prefetch_row`` (prefetch.py) or ``top_k``
(topk.py) would be loaded from the cache compiled against their old code after only those
changed (an upgrade replaces files, and pip leaves the cache files behind). Here every
cached kernel of this folder is keyed on the contents of all of the folder's modules:
numba's own locator (whichever it picks: ``__pycache__``, ``NUMBA_CACHE_DIR``, the user's
cache) is wrapped so that its source stamp also holds their hash.

``install()`` registers the wrapper (before any kernel module is imported: the package's
``__init__`` calls it); on a numba whose caching internals differ it does nothing, and the
cache is then numba's own. Not covered, where numba's own keying remains: the package
loaded from a zip archive, and ``NUMBA_CACHE_LOCATOR_CLASSES`` set (numba then takes
only the locators it names).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def folder_stamp(folder: Path = FOLDER) -> str:
    """SHA-256 over the names and contents of ``folder``'s modules, in name order (not
    hidden files: an editor's lock ``.#sgd.py`` may be a link to nowhere). A folder that
    cannot be read gives a stamp of its own each time: nothing is then loaded stale."""
    h = hashlib.sha256()
    try:
        for path in sorted(folder.glob("[!.]*.py")):
            if path.is_file():
                h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return f"unreadable-{uuid.uuid4().hex}"
    return h.hexdigest()


def install() -> bool:
    """Put the wrapping locator first in numba's list; True when it is (or already was),
    False (and numba's caching untouched) when numba's internals are not as expected."""
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
        base = getattr(caching, "_CacheLocator", None)
        classes = getattr(impl, "_locator_classes", None)
        if not isinstance(base, type) or not isinstance(classes, list):
            return False
        if any(getattr(c, "wraps_for_latentrec", False) for c in classes):
            return True
        locator = _locator_class(base, list(classes))
        if getattr(locator, "__abstractmethods__", None):  # numba asks more of a locator
            return False
        classes.insert(0, locator)
        return True
    except Exception:  # a numba unlike the ones known: its own caching, as it is
        return False


def _locator_class(base, others):
    stamp = {}

    class KernelFolderLocator(base):
        """numba's locator for a kernel of this folder, its stamp with the folder's hash."""

        wraps_for_latentrec = True

        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):  # numba reads private fields (_py_file) too
            if name == "_inner":  # not set yet (a copy being made): no recursion
                raise AttributeError(name)
            return getattr(self._inner, name)

        def ensure_cache_path(self):
            return self._inner.ensure_cache_path()

        def get_cache_path(self):
            return self._inner.get_cache_path()

        def get_source_stamp(self):
            if "folder" not in stamp:  # once a process: the files do not change under it
                stamp["folder"] = folder_stamp()
            return (self._inner.get_source_stamp(), stamp["folder"])

        def get_disambiguator(self):
            return self._inner.get_disambiguator()

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                ours = Path(py_file).resolve().parent == FOLDER
            except (OSError, ValueError):
                ours = False
            if not ours:
                return None
            for other in others:
                inner = other.from_function(py_func, py_file)
                if inner is not None:
                    try:
                        return cls(inner)
                    except Exception:  # pragma: no cover - numba's own locator, then
                        return inner
            return None

    return KernelFolderLocator

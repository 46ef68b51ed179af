"""Writing files so that a crash never leaves half of one behind, nor a temporary file.

``atomic_write`` writes the new contents beside the target and renames them over it, so
the target is always either the old file or the whole new one. What is written on the way
must not outlive the write either (a model file can be 84 MB, and killed saves add up):

- on Linux the data go to an unnamed file (``O_TMPFILE``), which has a name only for the
  instant between linking it in and renaming it over the target; a SIGKILL while writing
  leaves nothing;
- elsewhere, and on file systems without unnamed files, to a named temporary
  ``.<target>.<host>-<pid>-<random>.tmp``; the next save in that folder removes those
  whose process is gone (or which nothing has touched for an hour);
- a SIGTERM during the write (where SIGTERM would otherwise kill the process outright)
  removes the temporary file, then ends the process as the SIGTERM would have.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import socket
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path

#: Seconds after which a temporary file nobody writes to any more is surely abandoned.
STALE_AFTER = 3600
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
#: /proc/self/fd/N names an open file; linking it gives an unnamed file a name.
_PROC_FD = Path("/proc/self/fd")


def atomic_write(path, write) -> Path:
    """Call ``write(f)`` with a binary file open on a temporary file beside ``path``;
    flush, fsync, give it the mode a new file (or the file it replaces) would have, and
    rename it over ``path``. On any failure (SIGTERM included) the temporary file is
    removed and ``path`` is untouched. A symbolic link is written through: its target is
    replaced, the link stays (renaming over the link made it a file of its own).
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    if not folder.is_dir():  # else the error would name the temporary file, not the target
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(2, f"cannot write {path.name}: folder {folder} {what}",
                                str(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    remove_stale_temporaries(path)
    with _cleanup_on_sigterm():
        fd = _unnamed_file(folder)
        # where an unnamed file cannot be linked in after all, write again, named
        if fd is None or not _write_unnamed(fd, path, folder, mode, write):
            _write_named(path, folder, mode, write)
    _fsync_folder(folder)
    return path


def _write_named(path: Path, folder: Path, mode: int, write) -> None:
    tmp = None
    try:
        fd, tmp = _named_temporary(path, folder)
        _write_through(fd, write)
        os.chmod(tmp, mode)  # a new file is private; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _write_unnamed(fd: int, path: Path, folder: Path, mode: int, write) -> bool:
    """Write to the unnamed file ``fd`` (closed here), then link it in under a temporary
    name (a link cannot replace a file) and rename that over ``path``. False if it cannot
    be linked in (nothing was placed then, and nothing is left)."""
    tmp = None
    try:
        os.fchmod(fd, mode)
        _write_through(os.dup(fd), write)
        tmp = _link_in(fd, path, folder)
        if tmp is None:
            return False
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return True


def _link_in(fd: int, path: Path, folder: Path) -> Path | None:
    """A new temporary name beside ``path`` for the unnamed file ``fd``, or None where
    the system refuses (linkat through /proc is Linux's documented way to do this)."""
    try:
        procfd = os.open(_PROC_FD, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        while True:
            tmp = folder / _temporary_name(path)
            try:
                os.link(str(fd), tmp, src_dir_fd=procfd, follow_symlinks=True)
                return tmp
            except FileExistsError:
                continue
            except OSError:
                return None
    finally:
        os.close(procfd)


def _write_through(fd: int, write) -> None:
    """``write`` to the file open as ``fd`` (closed here), and on to the disk."""
    with os.fdopen(fd, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _unnamed_file(folder: Path) -> int | None:
    """A new unnamed file in ``folder`` open for writing, where the system has them."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not _PROC_FD.is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError:  # a file system without them; the named way says what else is wrong
        return None


def _named_temporary(path: Path, folder: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    while True:
        tmp = folder / _temporary_name(path)
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue


def _temporary_name(path: Path) -> str:
    return f".{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


# temporaries of saves that were killed -------------------------------------------------
def remove_stale_temporaries(path) -> list[Path]:
    """Remove the temporary files that killed saves of ``path`` left beside it: those of a
    process of this host that is gone, and any untouched for STALE_AFTER seconds (also
    those of latentrec versions before this naming: ``.<name>.<8 characters>.tmp``).
    Returns what was removed; files that cannot be removed are left alone."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    ours = re.compile(re.escape(f".{path.name}.") + r"([0-9a-f]{8})-(\d+)-[0-9a-f]{8}\.tmp")
    older = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = ours.fullmatch(entry.name)
        if match is None and older.fullmatch(entry.name) is None:
            continue
        if _abandoned(entry, match) and _remove(entry.path):
            removed.append(Path(entry.path))
    return removed


def _abandoned(entry, match) -> bool:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if time.time() - info.st_mtime > STALE_AFTER:
        return True
    return match is not None and match[1] == _HOST and not _alive(int(match[2]))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # someone else's process, or no such call
        return True
    return True


def _remove(name: str) -> bool:
    try:
        os.unlink(name)
    except OSError:
        return False
    return True


# SIGTERM --------------------------------------------------------------------------------
class _Terminated(BaseException):
    """Raised by the SIGTERM handler so that the write's cleanup runs."""


@contextmanager
def _cleanup_on_sigterm():
    """For the block's duration, make a SIGTERM raise (so ``finally`` and ``except`` blocks
    remove the temporary file) and then end the process as SIGTERM does. Only in the main
    thread (the only one that can set handlers), and only where SIGTERM would kill the
    process outright: a program's own handler is left to do what it does."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one: let cleanup finish
        raise _Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        raise  # where the signal did not end the process
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

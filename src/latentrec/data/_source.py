"""Opening a ratings file: compression by magic bytes, zip members, a decompressed byte stream."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
import zlib
from pathlib import Path

from ..errors import DataError

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
    (b"(\xb5/\xfd", "zstd"),
)
PARQUET_MAGIC = b"PAR1"
#: Errors that mean "the compressed data is damaged" from the decompressors we use.
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
                     ValueError, RuntimeError)
#: File names the MovieLens presets look for inside a zip archive.
PRESET_MEMBERS = {"ml-100k": ("u.data",), "ml-1m": ("ratings.dat",),
                  "ml-latest": ("ratings.csv",)}


def sniff_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


class Source:
    """One input file (or one member of a zip archive), readable as decompressed bytes."""

    def __init__(self, path, *, member: str | None = None, fmt: str = "auto"):
        self.path = Path(os.fspath(path))
        if not self.path.exists():
            raise DataError("no such file", path=self.path)
        if self.path.is_dir():
            raise DataError("is a directory, not a ratings file", path=self.path)
        try:
            with open(self.path, "rb") as f:
                head = f.read(8)
        except OSError as exc:
            raise DataError(f"cannot open the file: {exc.strerror or exc}",
                            path=self.path) from None
        self.compression = sniff_compression(head)
        self.member = None
        self.size = self.path.stat().st_size
        if self.compression == "zip":
            self.member, self.size = self._pick_member(member, fmt)
        elif member is not None:
            raise DataError(f"member={member!r} was given but the file is not a zip archive",
                            path=self.path)
        if self.compression not in (None, "zip"):
            self.size = None  # unknown until decompressed

    @property
    def where(self) -> str:
        """The file as named in error messages (``archive.zip:member`` for a member)."""
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    def _pick_member(self, member, fmt):
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
        except DECOMPRESS_ERRORS as exc:
            raise self.corrupt(exc) from None
        data = [i for i in infos if not _is_clutter(i.filename)]
        names = [i.filename for i in data]
        if member is not None:
            hits = [i for i in infos if i.filename == member]
            if not hits:
                hits = [i for i in data if i.filename.rsplit("/", 1)[-1] == member]
            if len(hits) != 1:
                what = "no member" if not hits else "more than one member"
                raise DataError(f"the zip archive has {what} named {member!r}; "
                                f"its files are {names}", path=self.path)
            return hits[0].filename, hits[0].file_size
        if len(data) == 1:
            return data[0].filename, data[0].file_size
        wanted = PRESET_MEMBERS.get(fmt, ())
        hits = [i for i in data if i.filename.rsplit("/", 1)[-1] in wanted]
        if len(hits) == 1:
            return hits[0].filename, hits[0].file_size
        if not data:
            raise DataError("the zip archive holds no files", path=self.path)
        raise DataError(f"the zip archive holds {len(data)} files {names}; "
                        "pass member= to say which one to read", path=self.path)

    def corrupt(self, exc) -> DataError:
        kind = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz", "zip": "zip",
                "zstd": "zstd"}.get(self.compression, "compressed")
        return DataError(f"cannot read the {kind}-compressed data: it is damaged or "
                         f"truncated ({exc})", path=self.where)

    def open(self):
        """A binary file object giving the decompressed bytes."""
        c = self.compression
        try:
            if c is None:
                return open(self.path, "rb")
            if c == "gzip":
                return gzip.open(self.path, "rb")
            if c == "bz2":
                return bz2.open(self.path, "rb")
            if c == "xz":
                return lzma.open(self.path, "rb")
            if c == "zstd":
                return _open_zstd(self.path)
            zf = zipfile.ZipFile(self.path)
            return _ZipMember(zf, zf.open(self.member))
        except DataError:
            raise
        except DECOMPRESS_ERRORS as exc:
            raise self.corrupt(exc) from None

    def open_checked(self):
        """:meth:`open`, as a stream whose read errors are DataErrors: for a reader such as
        pyarrow.csv, which passes a decompressor's own exception through unchanged."""
        return _Checked(self, self.open())

    def read_head(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes from the start."""
        with self.open() as f:
            return self.read(f, n)

    def read(self, f, n: int = -1) -> bytes:
        """``f.read(n)``, with decompression errors turned into DataError."""
        try:
            return f.read(n)
        except DECOMPRESS_ERRORS as exc:
            if self.compression is None:
                raise DataError(f"cannot read the file: {exc}", path=self.where) from None
            raise self.corrupt(exc) from None

    def readinto(self, f, view) -> int:
        try:
            return f.readinto(view)
        except DECOMPRESS_ERRORS as exc:
            if self.compression is None:
                raise DataError(f"cannot read the file: {exc}", path=self.where) from None
            raise self.corrupt(exc) from None

    def read_all(self) -> bytes:
        with self.open() as f:
            return self.read(f)


def _is_clutter(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith(".") or base == ""


class _Checked(io.RawIOBase):
    """A decompressed stream whose reads go through :meth:`Source.readinto`."""

    def __init__(self, src, f):
        self._src, self._f = src, f

    def readable(self):
        return True

    def readinto(self, b):
        return self._src.readinto(self._f, b)

    def close(self):
        if not self.closed:
            self._f.close()
        super().close()


class _ZipMember(io.RawIOBase):
    """A zip member's stream that closes its archive too."""

    def __init__(self, zf, f):
        self._zf, self._f = zf, f

    def readable(self):
        return True

    def readinto(self, b):
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, n=-1):
        return self._f.read(n)

    def close(self):
        if not self.closed:
            self._f.close()
            self._zf.close()
        super().close()


def _open_zstd(path):
    import pyarrow as pa

    if not pa.Codec.is_available("zstd"):
        raise DataError("the file is zstd-compressed, and this pyarrow build cannot read "
                        "zstd; decompress it first", path=path)
    return _NativeReader(pa.input_stream(str(path), compression="zstd"))


class _NativeReader(io.RawIOBase):
    """A pyarrow input stream seen as a Python binary file."""

    def __init__(self, stream):
        self._s = stream

    def readable(self):
        return True

    def readinto(self, b):
        data = self._s.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, n=-1):
        if n is None or n < 0:
            return self._s.read()
        return self._s.read(n)

    def close(self):
        if not self.closed:
            self._s.close()
        super().close()

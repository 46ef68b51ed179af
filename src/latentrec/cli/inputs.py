"""Turning command-line arguments into the API's inputs: ratings, models, ids, id lists.

Every check that concerns a path or a value the user typed happens here, so the error
names the file or the option.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import typer

from ..errors import DataError, LatentrecError, ParameterError

SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
                   "space": "ws", "whitespace": "ws", "blank": "ws"}
NO_COLUMN = ("none", "false", "-")


class CliError(LatentrecError):
    """A mistake on the command line itself (a path, a combination of options)."""


def bad_value(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


# ratings -------------------------------------------------------------------------------
@dataclass
class ReaderOptions:
    """The reader options as typed; checked when made, so a bad value fails before any
    work."""

    format: str = "auto"
    sep: str | None = None
    header: bool | None = None
    user: str | None = None
    item: str | None = None
    rating: str | None = None
    timestamp: str | None = None
    id_dtype: str = "auto"
    duplicates: str | None = None
    member: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self):
        from ..data.duplicates import DUPLICATE_POLICIES
        from ..data.io import FORMATS, ID_DTYPES, check_encoding

        for option, value, allowed in (("--format", self.format, FORMATS),
                                       ("--id-dtype", self.id_dtype, ID_DTYPES),
                                       ("--duplicates", self.duplicates, DUPLICATE_POLICIES)):
            if value is not None and value not in allowed:
                raise bad_value(option, f"{value!r} is not one of {', '.join(allowed)}")
        try:
            check_encoding(self.encoding)
        except ParameterError:
            raise bad_value("--encoding", f"{self.encoding!r} is not a known text "
                            "encoding") from None
        for role in ("user", "item"):
            spec = getattr(self, role)
            if spec is not None and spec.lower() in NO_COLUMN:
                raise bad_value(f"--{role}", f"a ratings file needs a {role} column")

    def kwargs(self) -> dict:
        out = {"format": self.format, "id_dtype": self.id_dtype, "encoding": self.encoding}
        if self.sep is not None:
            out["sep"] = SEPARATOR_NAMES.get(self.sep.lower(), self.sep)
        for name in ("header", "duplicates", "member"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for role in ("user", "item", "rating", "timestamp"):
            spec = getattr(self, role)
            if spec is not None:
                out[role] = False if _no_column(spec) else int(spec) if spec.isdigit() else spec
        return out

    def layout_options(self) -> list[str]:
        """The options given that describe a file's layout (meaningless for a data set
        whose layout is known)."""
        given = {"--format": self.format != "auto", "--sep": self.sep is not None,
                 "--header/--no-header": self.header is not None,
                 "--user": self.user is not None, "--item": self.item is not None,
                 "--rating": self.rating is not None and not _no_column(self.rating),
                 "--timestamp": self.timestamp is not None and not _no_column(self.timestamp),
                 "--id-dtype": self.id_dtype != "auto", "--member": self.member is not None,
                 "--encoding": codecs.lookup(self.encoding).name != "utf-8"}
        return [option for option, yes in given.items() if yes]

    def given(self) -> bool:
        return self != ReaderOptions()


def _no_column(spec: str) -> bool:
    return spec.lower() in NO_COLUMN


def bundled_datasets() -> list[str]:
    from ..data import datasets

    return [name for name in datasets.list() if datasets.describe(name)["bundled"]]


def read_ratings(source: str, options: ReaderOptions):
    """The ratings in file ``source``, or in the bundled data set of that name."""
    from ..data import datasets
    from ..data.io import read_ratings as read

    path = Path(source)
    if not path.exists():
        if source in bundled_datasets():
            return _bundled_ratings(source, options)
        if source in datasets.list():  # a download: the library says where to get it
            return datasets.load(source).ratings
        raise CliError(f"{source}: no such file")
    if path.is_dir():
        raise CliError(f"{source}: is a folder, not a ratings file")
    return read(path, **options.kwargs())


def _bundled_ratings(name: str, options: ReaderOptions):
    """A bundled data set, with the reader options that still mean something applied:
    ``--rating none`` (implicit: every value 1) and ``--timestamp none``; ``--duplicates``
    has nothing to resolve (a bundled set has no repeated pairs). The options that describe
    a file's layout are refused rather than silently ignored."""
    import numpy as np

    from ..data import datasets
    from ..data.ratings import Ratings

    layout = options.layout_options()
    if layout:
        raise CliError(f"{' and '.join(layout)} cannot be used with the bundled data set "
                       f"{name} (its layout is known); of the reader options only "
                       "--rating none, --timestamp none and --duplicates apply to it")
    ratings = datasets.load(name).ratings
    implicit = options.rating is not None
    no_time = options.timestamp is not None
    if not (implicit or no_time):
        return ratings
    values = np.ones(len(ratings), dtype=np.float32) if implicit else ratings.values
    return Ratings(ratings.users, ratings.items, values,
                   None if no_time else ratings.timestamps,
                   user_map=ratings.user_map, item_map=ratings.item_map)


#: Largest ``--validation`` fraction: a validation part larger than the part trained on
#: measures a model that saw too little to mean anything (0.9999 once trained on 10 ratings).
MAX_VALIDATION = 0.5


def validation_fraction(value: float, option: str = "--validation") -> float:
    """A fraction to hold out for validation: in (0, MAX_VALIDATION]."""
    split_fraction(value, option)
    if value > MAX_VALIDATION:
        raise bad_value(option, f"{value:g} would leave only {1 - value:.2%} of the ratings "
                                f"to train on; hold out at most {MAX_VALIDATION:g}")
    return value


def split_fraction(value: float, option: str) -> float:
    if not 0 < value < 1:
        raise bad_value(option, f"{value:g} is not a fraction between 0 and 1 (exclusive)")
    return value


# models --------------------------------------------------------------------------------
def load_model(path: str):
    from ..persistence import load_model as load

    p = Path(path)
    if not p.exists():
        raise CliError(f"{path}: no such file")
    if p.is_dir():
        raise CliError(f"{path}: is a folder, not a model file")
    return load(p)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def check_folder(path: str, option: str) -> Path:
    """Fail before any work unless ``path`` is an existing folder that can be written."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CliError(f"{path}: is a file, not a folder ({option})")
    if not p.is_dir():
        raise CliError(f"{path}: no such folder ({option})")
    if not _writable(p):
        raise CliError(f"{path}: folder is not writable ({option})")
    return p


def check_output(path: str | None, option: str, suffixes: tuple | None = None) -> Path | None:
    """Fail before any work if ``path`` cannot be written: missing folder, wrong kind."""
    if path is None:
        return None
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise bad_value(option, f"{path}: the file name must end in {' or '.join(suffixes)}")
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise CliError(f"{path}: is a folder; give a file name")
    if not folder.is_dir():
        raise CliError(f"{path}: folder {str(folder)!r} does not exist")
    if not _writable(folder):
        raise CliError(f"{path}: folder {str(folder)!r} is not writable")
    return p


def check_distinct(outputs: dict, inputs: dict) -> None:
    """Fail before any work if an output (``{option: path or None}``; "-" is stdout) is
    an existing input file or another output: the input would be lost, or the output
    written last would replace the other under the name both were reported saved to."""
    given = [(option, path) for option, path in outputs.items() if path not in (None, "-")]
    for k, (option, path) in enumerate(given):
        for name, source in inputs.items():
            if source is not None and Path(source).exists() and _same_file(path, source):
                raise CliError(f"{option} {path} is the same file as {name} {source}: "
                               "writing it would destroy that input; give another file name")
        for other, other_path in given[:k]:
            if _same_file(path, other_path):
                raise CliError(f"{option} {path} is the same file as {other} {other_path}: "
                               "one would overwrite the other; give another file name")


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file: by inode where both exist (hard links,
    a case-insensitive file system), else by where they lead."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one is not there yet
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


# ids -----------------------------------------------------------------------------------
def known_id(id_map, raw: str, where: str | None = None):
    """The model's own id for ``raw`` (typed text): its int or str form; unknown raises."""
    raw = as_written(id_map, raw)
    index = id_map.lookup(raw)
    if index < 0:
        from ..errors import UnknownIdError

        err = UnknownIdError(id_map.name, id_map.coerce(raw))
        if where:
            raise CliError(f"{where}: {err}")
        raise err
    return id_map.to_id(index)


def as_written(id_map, text: str) -> str:
    """An id as a list file or an argument writes it, for ``id_map``: blanks around a
    number dropped (layout, as the ratings reader reads "1, 10, 4"); a text id as it is
    when the model knows it so (" d " is an id the ratings reader keeps: stripped,
    another user was answered), else without the blanks ("alice " finds "alice")."""
    if id_map.kind == "int":
        return text.strip()
    return text if id_map.lookup(text) >= 0 else text.strip()  # one hash lookup an id


_USER_HEADERS = {"user", "user_id", "userid", "users", "id", "uid"}


def read_id_list(path: str, id_map) -> list:
    """One id per line (blank lines skipped, an optional header line); all must be known."""
    ids = []
    for line_no, line in enumerate(io.StringIO(read_text(path), newline=None), start=1):
        text = line.rstrip("\n")
        if not text.strip():
            continue
        if not ids and line_no == 1 and text.strip().lower() in _USER_HEADERS \
                and id_map.lookup(as_written(id_map, text)) < 0:
            continue
        ids.append(known_id(id_map, text, f"{path}, line {line_no}"))
    if not ids:
        raise CliError(f"{path}: no user ids in the file")
    return ids


_PAIR_HEADERS = {"user": ("user", "user_id", "userid"),
                 "item": ("item", "item_id", "itemid", "movieid", "movie_id"),
                 "timestamp": ("timestamp", "time", "unix_time")}


def read_pairs(path: str) -> tuple[list, list, list | None, list]:
    """(users, items, timestamps or None, line numbers) as text from a CSV/TSV of pairs; a
    header naming user and item is used, and a timestamp column when it names one
    (seconds, as the training ratings')."""
    rows, sep = _pair_rows(path)
    u_col, i_col, t_col, start = _pair_columns(rows[0])
    users, items, times, lines = [], [], [], []
    for line_no, row in enumerate(rows, start=1):
        if line_no <= start or not any(c.strip() for c in row):
            continue
        if len(row) <= max(u_col, i_col, -1 if t_col is None else t_col):
            what = "a user and an item" + ("" if t_col is None else " and a timestamp")
            raise DataError(f"expected {what}", path=path, line=line_no,
                            value=sep.join(row))
        users.append(row[u_col])  # as written: the model's map decides (as_written)
        items.append(row[i_col])
        lines.append(line_no)
        if t_col is not None:
            times.append(_timestamp(row[t_col], path, line_no))
    if not users:
        raise CliError(f"{path}: no pairs in the file, only its header")
    return users, items, (times if t_col is not None else None), lines


def _timestamp(text: str, path: str, line_no: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise DataError("the timestamp is not a number of seconds", path=path,
                        line=line_no, value=text.strip())
    return value


def _pair_rows(path: str) -> tuple[list, str]:
    """The file's CSV rows and their separator: a tab if the first line has one, else a comma."""
    text = read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise CliError(f"{path}: no pairs in the file")
    sep = "\t" if "\t" in lines[0] else ","
    return list(csv.reader(io.StringIO(text), delimiter=sep)), sep


def read_text(path: str) -> str:
    """The text of a small input file: UTF-8, a byte-order mark dropped (else the first
    line's header reads as data); a byte that is not UTF-8 is reported as the ratings
    reader reports it, with the line and the byte."""
    from ..data.io import wide_text

    p = Path(path)
    if p.is_dir():
        raise CliError(f"{path}: is a folder, not a file")
    if not p.exists():
        raise CliError(f"{path}: no such file")
    data = p.read_bytes()
    wide = wide_text(data[:4])
    if wide is not None:
        raise CliError(f"{path}: the file is {wide.upper()} text (it starts with a "
                       f"{wide.upper()} byte-order mark); save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc) from None


def _decode_error(path: str, exc: UnicodeDecodeError) -> DataError:
    """The line (counted as the readers count: CR LF, LF or CR ends one) and the byte of
    the line that is not UTF-8."""
    data = exc.object  # the bytes after the byte-order mark: what exc.start counts in
    start = max(data.rfind(b"\n", 0, exc.start), data.rfind(b"\r", 0, exc.start)) + 1
    text = re.split(rb"\r|\n", data[start:start + 80], maxsplit=1)[0]
    return DataError(f"cannot decode the line as utf-8 ({exc.reason} at byte "
                     f"{exc.start - start})", path=path,
                     line=len(re.split(rb"\r\n|\r|\n", data[:start])),
                     value=text.decode("utf-8", "replace"))


def _pair_columns(first_row: list) -> tuple[int, int, int | None, int]:
    """(user column, item column, timestamp column or None, header lines): from the
    header when it names user and item, else the first two columns and no header."""
    header = [c.strip().lower() for c in first_row]
    found = {k: [c for c, h in enumerate(header) if h in names]
             for k, names in _PAIR_HEADERS.items()}
    if found["user"] and found["item"]:
        return (found["user"][0], found["item"][0],
                found["timestamp"][0] if found["timestamp"] else None, 1)
    return 0, 1, None, 0


# messages ------------------------------------------------------------------------------
#: The library's hints name Python arguments ("pass sep="); on the command line the same
#: advice names the option. Exact phrases of latentrec.data's messages, in order.
_OPTION_HINTS = (
    (r"pass sep= ", "give --sep "),
    (r"is a Parquet file: sep and header ", "is a Parquet file: --sep and --header "),
    (r"is a Parquet file: (sep|header) ", r"is a Parquet file: --\1 "),
    (r"pass user= and item=", "give --user and --item"),
    (r"pass timestamp=False ", "give --timestamp none "),
    (r"pass rating=('[^']*'), or rating=False ", r"give --rating \1, or --rating none "),
    (r"pass (user|item|rating|timestamp)= ", r"give --\1 "),
    (r"pass member= ", "give --member NAME "),
    (r"\bmember=('[^']*') was given", r"--member \1 was given"),
    (r"pass duplicates='last' or 'mean'", "give --duplicates last or mean"),
    (r"\bby duplicates='(\w+)'", r"by --duplicates \1"),
    (r"not format='([^']*)' text; pass format='parquet' or 'auto'",
     r"not --format \1 text; give --format parquet or auto"),
    (r"pass encoding='([^']*)'", r"give --encoding \1"),
    (r"fit an implicit model \(ImplicitALS, BPR\) on it",
     "train an implicit model on it (--algo implicit-als or bpr)"),
    (r"pass load\('[^']*', path=\.\.\.\) the folder or \.zip file",
     "give its ratings file, or the .zip file, in place of the name"),
)


def in_option_words(message: str) -> str:
    """``message`` with the library's Python-argument hints put as command-line options."""
    for pattern, replacement in _OPTION_HINTS:
        message = re.sub(pattern, replacement, message)
    return message

"""Named rating data sets: MovieLens-100K ships inside the package; other MovieLens sizes
load from a copy the user downloaded.

>>> from latentrec import datasets
>>> ml = datasets.load("ml-100k")
>>> ml.ratings.n_ratings, ml.items.loc[50, "title"]
(100000, 'Star Wars')
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ._dialect import ALIASES, SAMPLE_LINES, _detect_sep, _looks_like_header
from .io import read_ratings
from .ratings import Ratings
from .synthetic import synthetic

__all__ = ["Dataset", "load", "list", "describe", "synthetic", "read_items", "item_titles"]

_builtin_list = list
DOWNLOAD_PAGE = "https://grouplens.org/datasets/movielens/"


@dataclass
class Dataset:
    """A rating table with its item (and, where known, user) metadata, keyed by raw id."""

    name: str
    ratings: Ratings
    items: pd.DataFrame  # index: item id; columns title, year, genres ("|"-joined)
    users: pd.DataFrame | None  # index: user id
    terms: str  # the data's terms of use

    def __repr__(self) -> str:
        return f"<Dataset {self.name}: {self.ratings.summary()}>"

    def split(self, name: str = "u1") -> tuple[Ratings, Ratings]:
        """(train, test) of a split the data set ships with: ``"u1"`` of the bundled
        ML-100K, GroupLens's first (u1.base, u1.test), on which papers report. Both keep
        this data set's IdMaps, as latentrec's own split functions do."""
        if self.name != "ml-100k" or name != "u1":
            raise DataError(f"{self.name} ships no split {name!r}; the bundled ml-100k "
                            "ships 'u1'")
        folder = resources.files("latentrec.data").joinpath("bundled", self.name)
        with resources.as_file(folder) as base:
            test = pd.read_csv(base / "u1.test.gz", sep="\t", header=None,
                               names=["user", "item", "rating", "timestamp"])
        r = self.ratings
        key = r.users.astype(np.int64) * r.n_items + r.items
        held = np.isin(key, r.user_map.to_indices(test["user"].to_numpy()).astype(np.int64)
                       * r.n_items + r.item_map.to_indices(test["item"].to_numpy()))
        if held.sum() != len(test):
            raise DataError(f"the {name} split does not match the ratings of {self.name}")
        return r.subset(np.flatnonzero(~held)), r.subset(np.flatnonzero(held))


@dataclass(frozen=True)
class _Spec:
    description: str
    ratings_file: str
    loader: str
    bundled: bool = False


_SPECS = {
    "ml-100k": _Spec("MovieLens 100K: 100,000 ratings (1-5) from 943 users on 1,682 movies",
                     "u.data", "ml100k", bundled=True),
    "ml-1m": _Spec("MovieLens 1M: 1,000,209 ratings (1-5) from 6,040 users on 3,706 movies",
                   "ratings.dat", "dat"),
    "ml-10m": _Spec("MovieLens 10M: 10,000,054 ratings (0.5-5) from 69,878 users",
                    "ratings.dat", "dat"),
    "ml-20m": _Spec("MovieLens 20M: 20,000,263 ratings (0.5-5) from 138,493 users",
                    "ratings.csv", "csv"),
    "ml-25m": _Spec("MovieLens 25M: 25,000,095 ratings (0.5-5) from 162,541 users",
                    "ratings.csv", "csv"),
    "ml-latest-small": _Spec("MovieLens latest, small: about 100,000 ratings (0.5-5)",
                             "ratings.csv", "csv"),
    "ml-latest": _Spec("MovieLens latest, full: about 33 million ratings (0.5-5)",
                       "ratings.csv", "csv"),
}


def list() -> _builtin_list[str]:  # noqa: A001 - the public name the API promises
    """Names of the data sets :func:`load` knows (``ml-100k`` is bundled; the others need
    ``path``)."""
    return _builtin_list(_SPECS)


def describe(name: str) -> dict:
    """What a data set is and whether it ships inside the package."""
    spec = _spec(name)
    return {"name": name, "description": spec.description, "bundled": spec.bundled}


def load(name: str, path=None) -> Dataset:
    """Load a named data set.

    ``ml-100k`` is read from the package unless ``path`` points at a downloaded copy; the
    other MovieLens sizes need ``path``: the folder or the ``.zip`` file as downloaded from
    the GroupLens site.
    """
    spec = _spec(name)
    if path is None:
        if not spec.bundled:
            raise DataError(f"{name} is not bundled with latentrec; download it from "
                            f"{DOWNLOAD_PAGE} and pass load({name!r}, path=...) the folder "
                            "or .zip file")
        return _load_bundled(name)
    return _load_local(name, spec, Path(path))


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(_SPECS)}")
    return _SPECS[name]


# bundled ------------------------------------------------------------------------------
def _load_bundled(name: str) -> Dataset:
    folder = resources.files("latentrec.data").joinpath("bundled", name)
    with resources.as_file(folder) as base:
        ratings = read_ratings(base / "ratings.tsv.gz")
        items = pd.read_csv(base / "items.tsv.gz", sep="\t", index_col="item_id",
                            dtype={"title": str, "genres": str}, keep_default_na=False,
                            na_values={"year": [""]})
        users = pd.read_csv(base / "users.tsv.gz", sep="\t", index_col="user_id",
                            dtype={"gender": str, "occupation": str, "zip_code": str})
        terms = (base / "README.md").read_text(encoding="utf-8")
    items["year"] = items["year"].astype("Int64")
    return Dataset(name, ratings, items, users, terms)


# downloaded copies --------------------------------------------------------------------
class _Source:
    """A downloaded data set: a folder or a zip file, files found by their base name."""

    def __init__(self, name: str, path: Path):
        if not path.exists():
            raise DataError(f"{path}: no such file or folder (expected the {name} download)")
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None

    def find(self, filename: str, required: bool = True) -> str | None:
        if self.zip is not None:
            names = [n for n in self.zip.namelist() if n.rsplit("/", 1)[-1] == filename]
        else:
            names = [str(p.relative_to(self.path)) for p in self.path.rglob(filename)]
        if not names:
            if required:
                raise DataError(f"{self.path}: no {filename} inside")
            return None
        return min(names, key=len)

    def ratings(self, filename: str, fmt: str) -> Ratings:
        member = self.find(filename)
        if self.zip is not None:
            return read_ratings(self.path, format=fmt, member=member)
        return read_ratings(self.path / member, format=fmt)

    def text(self, filename: str, encoding: str) -> str | None:
        member = self.find(filename, required=False)
        if member is None:
            return None
        raw = self.zip.read(member) if self.zip is not None else (self.path / member).read_bytes()
        return raw.decode(encoding)


def _load_local(name: str, spec: _Spec, path: Path) -> Dataset:
    src = _Source(name, path)
    if spec.loader == "ml100k":
        ratings = src.ratings("u.data", "ml-100k")
        items, users = _ml100k_items(src), _ml100k_users(src)
    elif spec.loader == "dat":
        ratings = src.ratings("ratings.dat", "ml-1m")
        items, users = _dat_items(src), _dat_users(src)
    else:
        ratings = src.ratings("ratings.csv", "ml-latest")
        movies = src.text("movies.csv", "utf-8")
        items = _split_titles(pd.read_csv(io.StringIO(movies), index_col="movieId")) \
            if movies is not None else _no_items()
        users = None
    terms = src.text("README.txt", "utf-8") or src.text("README.html", "utf-8") or ""
    return Dataset(name, ratings, items, users, terms)


_GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
                "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def _ml100k_items(src: _Source) -> pd.DataFrame:
    text = src.text("u.item", "latin-1")
    if text is None:
        return _no_items()
    cols = ["item_id", "title", "release", "video", "url"] + _GENRES_100K
    df = pd.read_csv(io.StringIO(text), sep="|", header=None, names=cols, index_col=0,
                     dtype={"title": str}, keep_default_na=False)
    flags = df[_GENRES_100K].to_numpy(dtype=bool)
    df["genres"] = ["|".join(g for g, f in zip(_GENRES_100K, row) if f) or "unknown"
                    for row in flags]
    return _split_titles(df[["title", "genres"]])


def _ml100k_users(src: _Source) -> pd.DataFrame | None:
    text = src.text("u.user", "latin-1")
    if text is None:
        return None
    return pd.read_csv(io.StringIO(text), sep="|", header=None, index_col=0,
                       names=["user_id", "age", "gender", "occupation", "zip_code"],
                       dtype={"zip_code": str})


def _dat_items(src: _Source) -> pd.DataFrame:
    text = src.text("movies.dat", "latin-1")
    if text is None:
        return _no_items()
    rows = [line.split("::") for line in text.splitlines() if line]
    df = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    df["item_id"] = df["item_id"].astype(np.int64)
    return _split_titles(df.set_index("item_id"))


def _dat_users(src: _Source) -> pd.DataFrame | None:
    text = src.text("users.dat", "latin-1")
    if text is None:
        return None
    rows = [line.split("::") for line in text.splitlines() if line]
    df = pd.DataFrame(rows, columns=["user_id", "gender", "age", "occupation", "zip_code"])
    df[["user_id", "age", "occupation"]] = df[["user_id", "age", "occupation"]].astype(np.int64)
    return df.set_index("user_id")


_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def _split_titles(df: pd.DataFrame) -> pd.DataFrame:
    """"Toy Story (1995)" -> title "Toy Story", year 1995 (missing year: <NA>)."""
    parts = df["title"].astype(str).str.extract(_TITLE_YEAR)
    has_year = parts[0].notna()
    out = pd.DataFrame(index=df.index)
    out.index.name = "item_id"
    out["title"] = parts[0].where(has_year, df["title"].astype(str).str.strip())
    out["year"] = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    out["genres"] = df["genres"].astype(str).str.replace("(no genres listed)", "unknown",
                                                         regex=False)
    return out


class _File:
    """One downloaded file, read the way the item readers read a _Source."""

    def __init__(self, path: Path):
        self.path = path

    def text(self, filename: str, encoding: str) -> str:
        return self.path.read_bytes().decode(encoding)


#: MovieLens' headerless item files, by name, and their readers.
_ITEM_FILES = {"u.item": _ml100k_items, "movies.dat": _dat_items}
#: Header names of the item id column: the ratings reader's item names, and "id".
_ID_COLUMNS = (*ALIASES["item"], "id")
_TITLE_COLUMNS = ("title", "name", "movie_title")


def read_items(source) -> pd.DataFrame:
    """The item table in ``source``: a file, or the name of a bundled data set (``ml-100k``).

    A file is MovieLens' ``u.item`` or ``movies.dat`` (told by its name, parsed as
    :func:`load` parses them), or else a CSV/TSV, with a header or without, read by the
    column rules of :func:`latentrec.read_ratings`: with a header, the id column is the
    first named like an item column (item, item_id, movieId, ... or id; else the first
    column) and the title column the first named title, name or movie_title (else the
    second column, unless that is the id column); without a header, the id is the first
    column and the title the second. The table is indexed by item id as the file writes
    it and has a ``title`` column, and ``year`` (Int64) and ``genres`` where known. A
    missing or unreadable file, or one whose columns cannot be told apart, raises
    DataError naming the file, the reason and the columns found.
    """
    path = Path(source)
    if not path.exists():
        spec = _SPECS.get(str(source))
        if spec is not None and spec.bundled:
            return load(str(source)).items
        raise DataError("no such file", path=source)
    if path.is_dir():
        raise DataError("is a folder, not an item table", path=source)
    if path.stat().st_size == 0:
        raise DataError("the item table is empty", path=source)
    reader = _ITEM_FILES.get(path.name.lower())
    try:
        return reader(_File(path)) if reader is not None else _items_csv(path)
    except DataError:
        raise
    except (ValueError, OSError, csv.Error) as exc:  # UnicodeDecodeError, pandas' errors
        reason = " ".join(str(exc).split())  # pandas' messages end in a newline
        raise DataError(f"cannot read the item table ({reason})", path=source) from None


def _items_csv(path: Path) -> pd.DataFrame:
    """A CSV/TSV item table: the id and title columns found by name, else by position."""
    name = path.name.lower().removesuffix(".gz")
    sep = ("\t" if name.endswith((".tsv", ".tab")) else "," if name.endswith(".csv")
           else _item_separator(path))
    if sep == "ws":  # "1 Toy Story": the id, then the rest of the line is the title
        with _open_text(path) as f:
            rows = [ln.strip().split(None, 1) for ln in f if ln.strip()]
        df = pd.DataFrame([r + [""] * (2 - len(r)) for r in rows], dtype=str)
    else:
        df = pd.read_csv(path, sep=sep, dtype=str, header=None, keep_default_na=False,
                         encoding="utf-8-sig").fillna("")
    rows = df.head(SAMPLE_LINES).to_numpy().tolist()
    names = [f.strip() for f in rows[0]] if _has_header(rows) else None
    id_pos, title_pos = _item_columns(names, df.shape[1], path)
    if names is not None:
        df = df.iloc[1:]
    out = pd.DataFrame({"title": df.iloc[:, title_pos].to_numpy()},
                       index=pd.Index(df.iloc[:, id_pos].to_numpy(),
                                      name="item_id" if names is None else names[id_pos]))
    for k, col in enumerate(names or []):
        if k not in (id_pos, title_pos) and col not in out.columns:
            out[col] = df.iloc[:, k].to_numpy()
    if "year" in out.columns:
        out["year"] = pd.to_numeric(out["year"], errors="coerce").astype("Int64")
    return out


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig")


def _item_separator(path: Path) -> str:
    """The separator of an item table named neither .csv nor .tsv, found as the ratings
    reader finds one ("|" in "1|Toy Story", which a generic sniffer split at blanks)."""
    with _open_text(path) as f:
        head = f.read(1 << 16)
    try:
        return _detect_sep(head)
    except DataError:
        raise DataError("needs an item id column and a title column; found only one "
                        "column", path=path) from None


def _has_header(rows: _builtin_list) -> bool:
    """Whether the first row names the columns: as the ratings reader tells (a known column
    name, or a word above numbers), an item table's own names counted."""
    first = [f.strip() for f in rows[0]]
    known = {*_ID_COLUMNS, *_TITLE_COLUMNS, "year", "genres"}
    return any(f.lower() in known for f in first) or _looks_like_header(first, rows[1:])


def _item_columns(names, n_fields: int, path: Path) -> tuple[int, int]:
    """Positions of the id and title columns: by header name, else by position (0 and 1)."""
    if names is None:
        id_pos, title_pos = 0, 1
    else:
        lowered = [n.lower() for n in names]
        id_pos = _first_named(lowered, _ID_COLUMNS, 0)
        title_pos = _first_named(lowered, _TITLE_COLUMNS, 1)
        if id_pos == title_pos:
            what, usual = (("id", "item") if lowered[id_pos] in _TITLE_COLUMNS
                           else ("title", "title"))
            raise DataError(f"needs an item id column and a title column: cannot tell which "
                            f"column holds the {what}s (columns are {names}); name that "
                            f"column {usual!r}", path=path)
    if title_pos >= n_fields:
        found = f"the columns {names}" if names is not None else "1 column and no header"
        raise DataError(f"needs an item id column and a title column; found only {found}",
                        path=path)
    return id_pos, title_pos


def _first_named(lowered: _builtin_list, aliases: tuple, default: int) -> int:
    return next((k for k, n in enumerate(lowered) if n in aliases), default)


def item_titles(source, id_map=None) -> dict:
    """{item id: display title}: "Star Wars (1977)" where a year is known, else the title.

    ``source`` is a file or bundled data set name (read by :func:`read_items`), a DataFrame
    with a ``title`` column (and maybe ``year``) indexed by item id, or a ``{id: title}``
    mapping. Given an :class:`~latentrec.IdMap`, the keys are spelled as it spells its ids:
    the text "50" of a CSV finds item 50 of a map with integer ids.
    """
    if isinstance(source, Mapping):
        titles = {k: str(v) for k, v in source.items()}
    else:
        titles = _display_titles(source if isinstance(source, pd.DataFrame)
                                 else read_items(source))
    if id_map is None:
        return titles
    titles = {id_map.coerce(str(k).strip()): v for k, v in titles.items()}
    if titles and not (id_map.to_indices(np.array([*titles], dtype=object),
                                         unknown="missing") >= 0).any():
        # another file (the ratings, a user table) or another catalogue: every title blank
        raise DataError(f"none of the {len(titles):,} item ids of the item table is an item "
                        f"of the model (the table's first: {next(iter(titles))!r}); is it "
                        "the right file?", path=None if isinstance(
                            source, (Mapping, pd.DataFrame)) else source)
    return titles


def _display_titles(items: pd.DataFrame) -> dict:
    if "title" not in items.columns:
        raise DataError("the item table needs a 'title' column; it has "
                        f"{_builtin_list(items.columns)}")
    titles = items["title"].astype(str)
    if "year" in items.columns:
        titles = [t if pd.isna(y) else f"{t} ({y})" for t, y in zip(titles, items["year"])]
    return dict(zip(items.index.tolist(), titles))


def _no_items() -> pd.DataFrame:
    return pd.DataFrame({"title": pd.Series(dtype=str), "year": pd.Series(dtype="Int64"),
                         "genres": pd.Series(dtype=str)}, index=pd.Index([], name="item_id"))

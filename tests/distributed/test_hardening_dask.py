"""Hardening of the Dask engine's input: a glob that matches nothing, a path that does not
exist, and a pandas DataFrame without ratings. Every case fails while the input is read,
before any task runs, so one in-process worker is enough."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from latentrec import DataError, SGDMatrixFactorization

distributed = pytest.importorskip("distributed")
from latentrec.distributed import DaskEngine  # noqa: E402 - needs the dask extra


@pytest.fixture(scope="module")
def client():
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=None) as c:
        yield c


def fit(data, client):
    return SGDMatrixFactorization(n_epochs=1).fit(data, engine=DaskEngine(client))


@pytest.mark.parametrize("pattern", ["*.parquet", "part-*.parquet", "missing/*.parquet",
                                     "**/*.pq"])
def test_a_glob_that_matches_nothing_says_so_naming_the_pattern(client, tmp_path, pattern):
    """It once read as a table with no columns: "no user column 'user'; columns are []"."""
    (tmp_path / "notes.txt").write_text("not parquet")
    glob = str(tmp_path / pattern)
    with pytest.raises(DataError, match=f"^{re.escape(glob)}: no files match this pattern$"):
        fit(glob, client)


def test_a_missing_path_is_one_line_naming_it(client, tmp_path):
    path = str(tmp_path / "absent.parquet")
    with pytest.raises(DataError, match=f"^{re.escape(path)}: no such file or folder$"):
        fit(path, client)


def test_a_folder_without_parquet_files_is_one_line_naming_it(client, tmp_path):
    (tmp_path / "notes.txt").write_text("not parquet")
    with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path))}: cannot read the "
                                        r"Parquet files: No files satisfy [^\n]*$"):
        fit(str(tmp_path), client)


def test_a_pandas_frame_without_ratings_is_refused(client):
    """DSGD trains a rating model; it once trained on every value set to 1."""
    df = pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, 1], "score": [4.0, 2.0, 5.0]})
    with pytest.raises(DataError, match=re.escape(
            "ratings has no 'rating' column, which a rating model needs (columns are "
            "['user', 'item', 'score']); rename 'score' to 'rating'")):
        fit(df, client)

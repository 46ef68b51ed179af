"""write_tables: chunks written one after another as one CSV, TSV or Parquet table."""

import pandas as pd
import pytest

from latentrec.cli.output import write_tables


def _chunk(user, title):
    return pd.DataFrame({"user": [user], "rank": [1], "item": ["i"], "score": [1.5],
                         "title": pd.Series([title], dtype="string")})


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet"])
def test_chunks_make_one_table_whatever_the_first_holds(tmp_path, name):
    first, second = _chunk("u1", None), _chunk("u2", "Film")  # a title missing, then not
    write_tables(lambda: [first.iloc[:0], first, second], tmp_path / name)
    got = (pd.read_parquet(tmp_path / name) if name.endswith(".parquet") else
           pd.read_csv(tmp_path / name, sep="\t" if name.endswith(".tsv") else ","))
    assert got["user"].tolist() == ["u1", "u2"]
    assert pd.isna(got["title"][0]) and got["title"][1] == "Film"


def test_no_rows_is_an_empty_table_with_the_columns(tmp_path):
    write_tables(lambda: [_chunk("u1", "x").iloc[:0]], tmp_path / "e.parquet")
    got = pd.read_parquet(tmp_path / "e.parquet")
    assert got.empty and list(got.columns) == ["user", "rank", "item", "score", "title"]


def test_a_failing_chunk_leaves_no_file(tmp_path):
    def chunks():
        yield _chunk("u1", "x")
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        write_tables(chunks, tmp_path / "f.parquet")
    assert not (tmp_path / "f.parquet").exists()

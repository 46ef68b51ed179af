"""Item titles (``--items``) are read by one reader, ``latentrec.datasets.item_titles``, for
``latentrec serve`` and the query commands alike: a CSV/TSV, MovieLens' ``u.item`` and
``movies.dat``, or a data set name."""

from __future__ import annotations

import inspect
import json

import pytest
from typer.testing import CliRunner

from latentrec import DataError
from latentrec.cli import app as cli_app
from latentrec.datasets import item_titles

U_ITEM = ("50|A Space Film (1977)|01-Jan-1977||http://x|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0|0\n"
          "172|Its Sequel, Caf\xe9 (1980)|01-Jan-1980||http://y|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1"
          "|0|0|0\n")
MOVIES_DAT = "50::A Space Film (1977)::Sci-Fi\n172::Its Sequel, Caf\xe9 (1980)::Sci-Fi|War\n"
EXPECTED = {50: "A Space Film (1977)", 172: "Its Sequel, Caf\xe9 (1980)"}


@pytest.fixture(params=["u.item", "movies.dat", "titles.tsv"])
def titles_file(request, tmp_path):
    path = tmp_path / request.param
    if request.param == "u.item":
        path.write_bytes(U_ITEM.encode("latin-1"))
    elif request.param == "movies.dat":
        path.write_bytes(MOVIES_DAT.encode("latin-1"))
    else:
        path.write_text("movie_id\ttitle\tyear\n50\tA Space Film\t1977\n"
                        "172\tIts Sequel, Caf\xe9\t1980\n", encoding="utf-8")
    return path


def test_every_format_gives_the_same_titles(titles_file, model):
    titles = item_titles(str(titles_file), model.item_map_)
    assert titles == EXPECTED


def test_the_service_and_the_query_commands_agree(titles_file, model_file, make_client):
    """`latentrec similar --items u.item` once read u.item as a CSV, unlike the service."""
    kwargs = ({"mix_stderr": False} if "mix_stderr" in
              inspect.signature(CliRunner.__init__).parameters else {})
    result = CliRunner(**kwargs).invoke(cli_app, [
        "similar", str(model_file), "--item", "50", "-n", "3", "--items", str(titles_file),
        "--json"])
    assert result.exit_code == 0, result.stderr
    from_cli = {row["item"]: row["title"] for row in json.loads(result.stdout)}
    served = make_client(model_file, items=str(titles_file)).get("/items/50/similar?n=3")
    assert {e["item"]: e["title"] for e in served.json()["items"]} == from_cli
    assert from_cli[172] == EXPECTED[172]


def test_a_bundled_data_set_keys_titles_as_the_model_does(model):
    titles = item_titles("ml-100k", model.item_map_)
    assert titles[50] == "Star Wars (1977)" and len(titles) == 1682


def test_a_broken_movies_dat_is_a_clear_error(tmp_path, model):
    bad = tmp_path / "movies.dat"
    bad.write_text("fifty::A Space Film (1977)::Sci-Fi\n")
    with pytest.raises(DataError, match="movies.dat: cannot read the item table"):
        item_titles(str(bad), model.item_map_)

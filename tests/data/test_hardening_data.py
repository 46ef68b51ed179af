"""Hardening of the data layer: a DataFrame without ratings given to a rating model, and
item tables whose id column is not first."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import latentrec
from latentrec import DataError, IdMap, Ratings, datasets
from latentrec.data.ratings import as_ratings

RATING_MODELS = ["SGDMatrixFactorization", "ALSMatrixFactorization",
                 "BayesianMatrixFactorization", "GlobalMean", "BiasBaseline"]
IMPLICIT_MODELS = ["ImplicitALS", "BPR", "Popularity", "RandomRecommender"]


def frame(**extra) -> pd.DataFrame:
    """Six (user, item) rows and the ``extra`` columns."""
    base = {"user": [1, 1, 2, 2, 3, 3], "item": [10, 20, 10, 30, 20, 30]}
    return pd.DataFrame({**base, **{k: [3.0, 4.0, 5.0, 2.0, 1.0, 4.5] for k in extra}})


# 1. a rating column with another name --------------------------------------------------
def test_as_ratings_refuses_a_frame_without_ratings_when_ratings_are_needed():
    with pytest.raises(DataError, match=re.escape(
            "ratings has no 'rating' column, which a rating model needs (columns are "
            "['user', 'item', 'score']); rename 'score' to 'rating'")):
        as_ratings(frame(score=1), "ratings", need_ratings=True)


def test_as_ratings_names_the_argument_and_asks_for_a_column_when_none_looks_like_one():
    with pytest.raises(DataError, match=re.escape(
            "validation has no 'rating' column, which a rating model needs (columns are "
            "['user', 'item']); add a 'rating' column")):
        as_ratings(frame(), "validation", need_ratings=True)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda c: c not in
                                                       ("user", "item", "rating")),
                max_size=3, unique=True))
def test_any_frame_without_a_rating_column_names_its_columns(extra):
    df = frame(**dict.fromkeys(extra, 1))
    with pytest.raises(DataError, match=re.escape(f"(columns are {list(df.columns)})")):
        as_ratings(df, need_ratings=True)


def test_as_ratings_keeps_the_implicit_default_unless_ratings_are_needed():
    implicit = as_ratings(frame(score=1))
    assert implicit.summary().distinct_values == (1.0,)
    explicit = as_ratings(frame(rating=1), need_ratings=True)
    assert explicit.summary().distinct_values == (1.0, 2.0, 3.0, 4.0, 4.5, 5.0)
    r = Ratings.from_arrays([1], [2], [3.0])
    assert as_ratings(r, need_ratings=True) is r


def test_from_dataframe_refuses_a_rating_column_named_and_missing():
    assert Ratings.from_dataframe(frame(score=1)).summary().distinct_values == (1.0,)
    assert Ratings.from_dataframe(frame(score=1), rating=None).n_ratings == 6
    with pytest.raises(DataError, match=re.escape(
            "no rating column 'rating'; columns are ['user', 'item', 'score']")):
        Ratings.from_dataframe(frame(score=1), rating="rating")


@pytest.mark.parametrize("name", RATING_MODELS)
def test_a_rating_model_refuses_a_frame_without_ratings(name):
    """SGD once trained on every value set to 1 (rating range (1, 1))."""
    model = getattr(latentrec, name)()
    with pytest.raises(DataError, match=re.escape(
            "has no 'rating' column, which a rating model needs (columns are ['user', "
            "'item', 'score']); rename 'score' to 'rating'")):
        model.fit(frame(score=1))


@pytest.mark.parametrize("name", IMPLICIT_MODELS)
def test_an_implicit_model_still_reads_a_frame_without_ratings_as_implicit(name):
    model = getattr(latentrec, name)()
    model.fit(frame(score=1))
    assert model.user_map_ == IdMap([1, 2, 3])


# 11. item tables: the id column anywhere, by name or by position -------------------------
TITLES = {"1": "Toy Story", "2": "Heat (1995)"}


@pytest.mark.parametrize("name, body", [
    ("first.csv", "item,title\n1,Toy Story\n2,Heat (1995)\n"),
    ("second.csv", "genre,item,title\nAnimation,1,Toy Story\nAction,2,Heat (1995)\n"),
    ("users.csv", "user,item,title\n7,1,Toy Story\n7,2,Heat (1995)\n"),
    ("movieid.csv", "genre,movieId,title\nAnimation,1,Toy Story\nAction,2,Heat (1995)\n"),
    ("item_id.tsv", "title\titem_id\nToy Story\t1\nHeat (1995)\t2\n"),
    ("bom.csv", "\ufeffmovieId,name\n1,Toy Story\n2,Heat (1995)\n"),
    ("headerless.csv", "1,Toy Story\n2,Heat (1995)\n"),
    ("headerless.txt", "1\tToy Story\n2\tHeat (1995)\n"),
])
def test_an_item_table_finds_its_columns_as_the_ratings_reader_does(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    assert datasets.item_titles(path) == TITLES
    assert datasets.item_titles(path, IdMap([2, 1])) == {int(k): v for k, v in TITLES.items()}


def test_an_item_table_keeps_its_other_columns_and_reads_a_year(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("genres,movie_id,title,year\nA|B,1,Toy Story,1995\nC,2,Heat,\n")
    items = datasets.read_items(path)
    assert items.index.tolist() == ["1", "2"] and items.index.name == "movie_id"
    assert items["genres"].tolist() == ["A|B", "C"]
    assert items["year"].tolist()[0] == 1995 and items["year"].isna().tolist()[1]
    assert datasets.item_titles(path) == {"1": "Toy Story (1995)", "2": "Heat"}


@pytest.mark.parametrize("name, body, message", [
    ("film.csv", "genre,movieId,film\nAction,1,Heat\n",
     "film.csv: needs an item id column and a title column: cannot tell which column holds "
     "the titles (columns are ['genre', 'movieId', 'film']); name that column 'title'"),
    ("code.csv", "title,code\nHeat,1\n",
     "code.csv: needs an item id column and a title column: cannot tell which column holds "
     "the ids (columns are ['title', 'code']); name that column 'item'"),
    ("ids.csv", "item_id\n1\n",
     "ids.csv: needs an item id column and a title column; found only the columns "
     "['item_id']"),
    ("bare.csv", "1\n2\n",
     "bare.csv: needs an item id column and a title column; found only 1 column and no "
     "header"),
])
def test_an_item_table_without_a_title_column_names_the_columns_found(tmp_path, name, body,
                                                                      message):
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(DataError, match=re.escape(message)):
        datasets.item_titles(path)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 3), st.lists(st.integers(1, 10**6), min_size=1, max_size=5,
                                   unique=True))
def test_the_id_column_may_be_anywhere_in_a_named_table(position, ids):
    """Any position of the item column among other columns gives the same titles."""
    import tempfile
    from pathlib import Path

    others = ["genre", "user", "extra"]
    names = others[:position] + ["item"] + others[position:] + ["title"]
    rows = [[str(i) if n == "item" else f"t{i}" if n == "title" else "x" for n in names]
            for i in ids]
    body = "\n".join(",".join(r) for r in [names, *rows]) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.csv"
        path.write_text(body)
        titles = datasets.item_titles(path, IdMap(np.array(ids)))
    assert titles == {i: f"t{i}" for i in ids}


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.npz"
    latentrec.BiasBaseline().fit(frame(rating=1)).save(path)
    return path


def recommend_with_titles(model_file, body):
    from typer.testing import CliRunner

    from latentrec.cli import app as cli_app

    items = model_file.with_name("titles.csv")
    items.write_text(body)
    return CliRunner().invoke(cli_app, ["recommend", str(model_file), "--user", "1",
                                        "--include-seen", "--items", str(items), "--json"])


@pytest.mark.parametrize("body", [
    "genre,movieId,title\nA,10,Ten\nB,20,Twenty\nC,30,Thirty\n",
    "10,Ten\n20,Twenty\n30,Thirty\n",
])
def test_the_command_line_reads_titles_by_the_ratings_reader_rules(model_file, body):
    """`latentrec recommend --items` with the id column second, or with no header."""
    import json

    result = recommend_with_titles(model_file, body)
    assert result.exit_code == 0, result.output
    assert {row["item"]: row["title"] for row in json.loads(result.stdout)} == {
        10: "Ten", 20: "Twenty", 30: "Thirty"}


def test_the_command_line_names_the_columns_of_a_titles_file_without_titles(model_file):
    """It once took the id column for the titles and then said the table "has ['genre',
    'film']", naming neither the file nor the id column."""
    result = recommend_with_titles(model_file, "genre,movieId,film\nA,10,Ten\n")
    assert result.exit_code == 2, result.output
    assert "titles.csv: needs an item id column and a title column" in result.output
    assert "(columns are ['genre', 'movieId', 'film'])" in result.output

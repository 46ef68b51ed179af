import zipfile

import numpy as np
import pytest

from latentrec import DataError, IdMap, Ratings, datasets


@pytest.fixture(scope="module")
def ml100k():
    return datasets.load("ml-100k")


def test_bundled_ml100k_matches_the_published_figures(ml100k):
    r = ml100k.ratings
    assert isinstance(r, Ratings)
    assert (r.n_ratings, r.n_users, r.n_items) == (100_000, 943, 1_682)
    assert round(float(r.values.astype(np.float64).mean()), 5) == 3.52986
    assert r.timestamps is not None
    assert ml100k.items.loc[50, "title"] == "Star Wars"
    assert ml100k.items.loc[50, "year"] == 1977
    assert "Sci-Fi" in ml100k.items.loc[50, "genres"]
    assert ml100k.users.loc[1, "occupation"] == "technician"
    assert ml100k.users["zip_code"].map(type).eq(str).all()
    assert "GroupLens" in ml100k.terms


def test_list_and_describe():
    names = datasets.list()
    assert "ml-100k" in names and "ml-1m" in names
    assert datasets.describe("ml-100k")["bundled"] is True
    assert datasets.describe("ml-1m")["bundled"] is False


def test_unknown_and_not_bundled_names_give_clear_errors():
    with pytest.raises(DataError, match="unknown data set 'ml-5k'"):
        datasets.load("ml-5k")
    with pytest.raises(DataError, match="ml-1m is not bundled.*path="):
        datasets.load("ml-1m")
    with pytest.raises(DataError, match="no such file or folder"):
        datasets.load("ml-1m", path="/nonexistent/ml-1m.zip")


def test_ml1m_from_a_downloaded_zip(tmp_path):
    path = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                                        "2::1193::4::978298413\n")
        z.writestr("ml-1m/movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                                       "661::James and the Giant Peach (1996)::Animation|"
                                       "Children's|Musical\n".encode("latin-1"))
        z.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    ds = datasets.load("ml-1m", path=path)
    assert ds.ratings.n_ratings == 3 and ds.ratings.n_users == 2
    assert ds.items.loc[1193, "title"] == "One Flew Over the Cuckoo's Nest"
    assert ds.items.loc[1193, "year"] == 1975
    assert ds.users.loc[2, "zip_code"] == "70072"


def test_ml_latest_small_from_a_folder(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                                        "1,3,4.5,964981247\n2,1,0.5,964982224\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure\n'
                                       '3,"Grumpier Old Men, The (1995)",Comedy|Romance\n')
    ds = datasets.load("ml-latest-small", path=folder)
    assert ds.ratings.n_ratings == 3
    assert sorted(ds.ratings.values.tolist()) == [0.5, 4.0, 4.5]
    assert ds.items.loc[3, "title"] == "Grumpier Old Men, The"
    assert ds.users is None


def test_ml100k_from_a_downloaded_folder(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_bytes(
        f"242|Kolya (1996)|24-Jan-1997||http://x|{flags[:-1]}1\n".encode("latin-1"))
    ds = datasets.load("ml-100k", path=folder)
    assert ds.ratings.n_ratings == 2
    assert ds.items.loc[242, "title"] == "Kolya" and ds.items.loc[242, "genres"] == "Western"


def test_synthetic_is_exported():
    r = datasets.synthetic(50, 40, 300, random_state=0)
    assert r.n_ratings == 300


def test_the_package_root_carries_the_datasets_module():
    """`import latentrec; latentrec.datasets.load(...)`, in a fresh interpreter: no other
    import may have loaded the module first."""
    import subprocess
    import sys

    code = "import latentrec; print(latentrec.datasets.load('ml-100k').ratings.n_ratings)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.stdout.strip() == "100000", result.stderr


# item tables and titles ------------------------------------------------------------------
U_ITEM = "50|A Space Film (1977)|01-Jan-1977||http://x|" + "|".join("0" * 19) + "\n"


@pytest.mark.parametrize("name, body, encoding", [
    ("u.item", U_ITEM, "latin-1"),
    ("movies.dat", "50::A Space Film (1977)::Sci-Fi\n", "latin-1"),
    ("titles.tsv", "movie_id\ttitle\tyear\n50\tA Space Film\t1977\n", "utf-8"),
    ("titles.csv", "id,name\n50,A Space Film (1977)\n", "utf-8"),
])
def test_item_titles_of_every_kind_of_file(tmp_path, name, body, encoding):
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    assert datasets.item_titles(path, IdMap([7, 50])) == {50: "A Space Film (1977)"}
    assert datasets.read_items(path).loc[:, "title"].size == 1


def test_item_titles_are_keyed_as_the_id_map_spells_ids(ml100k):
    assert datasets.item_titles("ml-100k")[50] == "Star Wars (1977)"
    as_text = datasets.item_titles(ml100k.items, IdMap(["50", "x"]))
    assert as_text["50"] == "Star Wars (1977)" and 50 not in as_text
    assert datasets.item_titles({"50": "Fifty", 7: 7}, IdMap([50, 7])) == {50: "Fifty", 7: "7"}


@pytest.mark.parametrize("name, body, reason", [
    ("movies.dat", b"fifty::A Space Film (1977)::Sci-Fi\n", "cannot read the item table"),
    ("titles.tsv", b"item_id\ttitle\n50\t\xff\xfe\n", "cannot read the item table"),
    ("titles.csv", b"item_id\n50\n", "needs an item id column and a title column"),
    ("empty.csv", b"", "the item table is empty"),
    ("empty.txt", b"", "the item table is empty"),  # was pandas' csv.Error: exit 1
    ("ids.txt", b"1\n2\n", "needs an item id column and a title column; found only one"),
])
def test_a_bad_item_file_is_a_data_error_naming_it(tmp_path, name, body, reason):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(DataError, match=f"{name}: {reason}"):
        datasets.item_titles(path)


@pytest.mark.parametrize("body, want", [
    ("1|Toy Story\n50|Star Wars\n", {1: "Toy Story", 50: "Star Wars"}),  # was "1|Toy", "Story"
    ("1 Toy Story\n50 Star Wars, The\n", {1: "Toy Story", 50: "Star Wars, The"}),
])
def test_an_item_table_of_another_name_is_split_as_the_ratings_reader_splits(tmp_path,
                                                                           body, want):
    path = tmp_path / "items.txt"
    path.write_text(body)
    assert datasets.item_titles(path, IdMap([1, 50])) == want


def test_an_item_table_with_no_id_of_the_model_is_refused(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("item_id,title\n901,x\n902,y\n")  # every title would be blank
    with pytest.raises(DataError, match=r"users.csv: none of the 2 item ids of the item "
                       r"table is an item of the model \(the table's first: 901\)"):
        datasets.item_titles(path, IdMap([1, 50]))


@pytest.mark.parametrize("source, message", [
    ("no-such-titles.tsv", "no-such-titles.tsv: no such file"),
    ("{tmp}", ": is a folder, not an item table"),
])
def test_a_missing_item_file_is_a_data_error_naming_it(tmp_path, source, message):
    with pytest.raises(DataError, match=message):
        datasets.read_items(source.format(tmp=tmp_path))


def test_an_item_table_without_titles_is_a_data_error(ml100k):
    with pytest.raises(DataError, match="needs a 'title' column; it has \\['year'\\]"):
        datasets.item_titles(ml100k.items[["year"]])


def test_u1_split_is_grouplens_u1_and_keeps_the_maps():
    import gzip
    import hashlib
    from importlib import resources

    ml = datasets.load("ml-100k")
    train, test = ml.split("u1")
    assert (train.n_ratings, test.n_ratings) == (80_000, 20_000)
    assert len(np.unique(test.users)) == 459
    assert train.user_map == ml.ratings.user_map and test.item_map == ml.ratings.item_map
    folder = resources.files("latentrec.data").joinpath("bundled", "ml-100k")
    readme = folder.joinpath("README.md").read_text()
    for name, part in (("u1.base", train), ("u1.test", test)):
        raw = gzip.decompress(folder.joinpath(f"{name}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() in readme  # the canonical files, unchanged
        rows = np.loadtxt(raw.decode().splitlines(), dtype=np.int64)
        got = np.column_stack([part.user_map.to_ids(part.users),
                               part.item_map.to_ids(part.items), part.values])
        key = lambda a: np.lexsort((a[:, 1], a[:, 0]))  # noqa: E731
        np.testing.assert_array_equal(got[key(got)], rows[key(rows), :3])
    with pytest.raises(DataError, match="ships no split 'u2'"):
        ml.split("u2")

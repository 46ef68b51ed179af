"""Files the command line must not lose or misread: an output named like an input or like
another output, a byte-order mark or a stray byte in an id file, a data set name whose
data is not here, and a ratings file in UTF-16."""

from __future__ import annotations

import os
import shutil

import pytest

DESTROY = "writing it would destroy that input; give another file name"
CLASH = "one would overwrite the other; give another file name"


def _only_error(result, line: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.splitlines() == [line]


@pytest.fixture
def work(files, model, tmp_path):
    """Copies of the inputs (a failed check must not spoil the session's files), and the
    model under a table's name as well (what fill --output takes)."""
    shutil.copy(files / "ratings.csv", tmp_path / "ratings.csv")
    shutil.copy(files / "ratings.csv", tmp_path / "ratings.png")
    shutil.copy(model, tmp_path / "model.npz")
    shutil.copy(model, tmp_path / "model.csv")
    (tmp_path / "users.csv").write_text("alice\nbob\n")
    (tmp_path / "pairs.csv").write_text("user,item\nalice,kiwi\n")
    (tmp_path / "titles.csv").write_text("item,title\napple,Apple\n")
    return tmp_path


# an output that is an input, or another output ---------------------------------------
OVERWRITES = {
    "train: the model over the ratings": (
        ["train", "{w}/ratings.csv", "-o", "{w}/ratings.csv", "--algo", "mean"],
        "--output {w}/ratings.csv is the same file as RATINGS {w}/ratings.csv: " + DESTROY),
    "train: the curve over the model": (
        ["train", "{w}/ratings.csv", "-o", "{w}/m.png", "--plot", "{w}/m.png", "--algo",
         "sgd", "--epochs", "2"],
        "--plot {w}/m.png is the same file as --output {w}/m.png: " + CLASH),
    "train: the same file by another path": (
        ["train", "{w}/ratings.csv", "-o", "{w}/sub/../ratings.csv", "--algo", "mean"],
        "--output {w}/sub/../ratings.csv is the same file as RATINGS {w}/ratings.csv: "
        + DESTROY),
    "tune: the model over the ratings": (
        ["tune", "{w}/ratings.csv", "-o", "{w}/ratings.csv", "--trials", "4"],
        "--output {w}/ratings.csv is the same file as RATINGS {w}/ratings.csv: " + DESTROY),
    "evaluate: the chart over the ratings": (
        ["evaluate", "{w}/ratings.png", "--plot", "{w}/ratings.png", "--cv", "2",
         "--metrics", "rmse"],
        "--plot {w}/ratings.png is the same file as RATINGS {w}/ratings.png: " + DESTROY),
    "recommend: the lists over the users file": (
        ["recommend", "{w}/model.npz", "--users-file", "{w}/users.csv", "-o",
         "{w}/users.csv"],
        "--output {w}/users.csv is the same file as --users-file {w}/users.csv: " + DESTROY),
    "recommend --all: the lists over the titles": (
        ["recommend", "{w}/model.npz", "--all", "--items", "{w}/titles.csv", "-o",
         "{w}/titles.csv"],
        "--output {w}/titles.csv is the same file as --items {w}/titles.csv: " + DESTROY),
    "predict: the predictions over the pairs": (
        ["predict", "{w}/model.npz", "--pairs", "{w}/pairs.csv", "-o", "{w}/pairs.csv"],
        "--output {w}/pairs.csv is the same file as --pairs {w}/pairs.csv: " + DESTROY),
    "fill: the matrix over the model": (
        ["fill", "{w}/model.csv", "-o", "{w}/model.csv"],
        "--output {w}/model.csv is the same file as MODEL {w}/model.csv: " + DESTROY),
}


@pytest.mark.parametrize("case", list(OVERWRITES))
def test_an_output_that_is_an_input_or_another_output_is_refused_first(cli, work, case):
    args, line = OVERWRITES[case]
    (work / "sub").mkdir()
    before = {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}
    result = cli(*[a.format(w=work) for a in args], expect=None)
    _only_error(result, "error: " + line.format(w=work))
    assert {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_a_link_to_the_input_is_the_input(cli, work, link):
    link(work / "ratings.csv", work / "alias.csv")
    before = (work / "ratings.csv").read_bytes()
    result = cli("train", work / "alias.csv", "-o", work / "ratings.csv", "--algo", "mean",
                 expect=None)
    _only_error(result, f"error: --output {work}/ratings.csv is the same file as RATINGS "
                        f"{work}/alias.csv: {DESTROY}")
    assert (work / "ratings.csv").read_bytes() == before


# id files: a byte-order mark, a byte that is not UTF-8 ---------------------------------
BOM = b"\xef\xbb\xbf"


def test_a_pairs_file_with_a_byte_order_mark_has_its_header(cli, model, tmp_path):
    (tmp_path / "pairs.csv").write_bytes(BOM + b"user,item\nalice,kiwi\n")
    for unknown in ("error", "bias"):
        rows = cli.json("predict", model, "--pairs", tmp_path / "pairs.csv", "--unknown",
                        unknown)
        assert [(r["user"], r["item"]) for r in rows] == [("alice", "kiwi")]


def test_a_users_file_with_a_byte_order_mark_has_its_header(cli, model, tmp_path):
    (tmp_path / "users.txt").write_bytes(BOM + b"user\nalice\nbob\n")
    lists = cli.json("recommend", model, "--users-file", tmp_path / "users.txt", "-n", 2)
    assert list(lists) == ["alice", "bob"]


@pytest.mark.parametrize("command, option, content, line", [
    ("predict", "--pairs", b"user,item\nalice,kiwi\n\xff,apple\n",
     "line 3: cannot decode the line as utf-8 (invalid start byte at byte 0) "
     "(value: '\ufffd,apple')"),
    ("recommend", "--users-file", BOM + b"alice\r\nbob\xe9\r\n",
     "line 2: cannot decode the line as utf-8 (invalid continuation byte at byte 3) "
     "(value: 'bob\ufffd')"),
])
def test_a_byte_that_is_not_utf8_is_named_by_file_and_line(cli, model, tmp_path, command,
                                                            option, content, line):
    path = tmp_path / "ids.csv"
    path.write_bytes(content)
    result = cli(command, model, option, path, expect=None)
    _only_error(result, f"error: {path}, {line}")


# a data set to download -----------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "tune", "evaluate"])
def test_a_data_set_to_download_says_where_to_get_it(cli, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    output = ["-o", "m.npz"] if command == "train" else []
    result = cli(command, "ml-1m", *output, expect=None)
    _only_error(result, "error: ml-1m is not bundled with latentrec; download it from "
                        "https://grouplens.org/datasets/movielens/ and give its ratings "
                        "file, or the .zip file, in place of the name")


# a ratings file in UTF-16 ("Unicode text" in save dialogs) -----------------------------
def test_a_utf16_ratings_file_names_the_encoding_to_give_and_reads_with_it(cli, files,
                                                                          tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_bytes((files / "ratings.csv").read_text().encode("utf-16"))
    result = cli("train", wide, "-o", tmp_path / "m.npz", "--algo", "mean", expect=2)
    _only_error(result, f"error: {wide}: the file is UTF-16 text (it starts with a UTF-16 "
                        "byte-order mark); give --encoding utf-16")
    assert not (tmp_path / "m.npz").exists()
    cli("train", wide, "-o", tmp_path / "m.npz", "--algo", "mean", "--encoding", "utf-16")
    assert (tmp_path / "m.npz").exists()
    for name in ("klingon", "base64"):  # base64 is a codec, not a text encoding
        result = cli("evaluate", wide, "--algo", "mean", "--encoding", name, expect=2)
        _only_error(result, f"error: Invalid value for '--encoding': '{name}' is not a known "
                            "text encoding")


def test_a_rating_model_on_a_file_without_ratings_is_warned_once_a_run(cli, tmp_path):
    pairs = tmp_path / "picks.csv"
    pairs.write_text("user,item\n" + "".join(f"{u},{i}\n" for u in range(6)
                                             for i in range(5) if (u + i) % 2))
    result = cli("evaluate", pairs, "--algo", "bias,als", "--cv", 2, "--metrics", "rmse")
    said = [line for line in result.stderr.splitlines() if "every rating is 1" in line]
    assert said == ["warning: every rating is 1: a rating model can only learn that "
                    "constant. Data without a rating column reads as implicit feedback "
                    "(every value 1): train an implicit model on it (--algo implicit-als "
                    "or bpr)"]


def test_a_utf16_pairs_or_users_file_says_so(cli, model, tmp_path):
    for option, name, text in (("--pairs", "pairs.csv", "user,item\nalice,kiwi\n"),
                               ("--users-file", "users.txt", "alice\n")):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-16"))
        command = "predict" if option == "--pairs" else "recommend"
        result = cli(command, model, option, path, expect=2)
        _only_error(result, f"error: {path}: the file is UTF-16 text (it starts with a "
                            "UTF-16 byte-order mark); save it as UTF-8")


def test_a_pairs_file_with_only_its_header_says_so(cli, model, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\n")
    _only_error(cli("predict", model, "--pairs", pairs, expect=2),
                f"error: {pairs}: no pairs in the file, only its header")

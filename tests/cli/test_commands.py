"""Every query command on a model trained from a small CSV with string ids."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import latentrec
from latentrec.cli.algorithms import ALGORITHMS


def test_train_prints_a_summary_and_writes_the_model(cli, files, tmp_path):
    out = tmp_path / "m.npz"
    result = cli("train", "--algo", "sgd", files / "ratings.csv", "-o", out, "--factors", 2,
                 "--epochs", 5,
                 "--threads", 1)
    assert out.is_file()
    assert "ratings from 16 users on 10 items" in result.stdout
    assert "final train RMSE" in result.stdout
    assert str(out) in result.stdout
    assert latentrec.load(out).n_factors_ == 2


def test_train_validation_early_stopping_and_plot(cli, files, tmp_path):
    out, png = tmp_path / "m.npz", tmp_path / "curve.png"
    data = cli.json("train", "--algo", "sgd", files / "ratings.csv", "-o", out, "--factors", 2,
                    "--validation", 0.2, "--plot", png, "--threads", 1)
    assert data["output"] == str(out) and data["plot"] == str(png)
    assert png.stat().st_size > 1000
    assert data["training"]["n_validation"] > 0
    assert data["training"]["best_val_rmse"] > 0
    assert data["data"]["n_users"] == 16
    history = latentrec.load(out).history_
    assert all(h["val_rmse"] is not None for h in history)


def test_recommend_for_one_user(cli, model, files):
    result = cli("recommend", model, "--user", "alice", "-n", 3, "--items",
                 files / "fruit.tsv")
    assert "Top 3 for user alice" in result.stdout
    assert "[fresh]" in result.stdout  # titles are printed as text, not rich markup
    rows = cli.json("recommend", model, "--user", "alice", "-n", 3, "--items",
                    files / "fruit.tsv")
    assert isinstance(rows, list) and 1 <= len(rows) <= 3
    assert set(rows[0]) == {"item", "score", "title"}
    assert isinstance(rows[0]["item"], str) and rows[0]["title"].endswith("[fresh]")
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    seen = set(pd.read_csv(files / "ratings.csv").query("user == 'alice'")["item"])
    assert not seen & {r["item"] for r in rows}


def test_recommend_many_users_to_csv_and_parquet(cli, model, files, tmp_path):
    for name in ("recs.csv", "recs.parquet"):
        target = tmp_path / name
        cli("recommend", model, "--users-file", files / "users.txt", "-n", 2, "-o", target,
            "--items", files / "fruit.tsv")
        df = pd.read_csv(target) if name.endswith(".csv") else pd.read_parquet(target)
        assert list(df.columns) == ["user", "rank", "item", "score", "title"]
        assert set(df["user"]) == {"alice", "bob", "carol"}
        assert df.groupby("user")["rank"].max().max() == 2
    many = cli.json("recommend", model, "--users-file", files / "users.txt", "-n", 2)
    assert set(many) == {"alice", "bob", "carol"}
    assert set(many["bob"][0]) == {"item", "score"}


def test_recommend_all_writes_every_users_list(cli, model, files, tmp_path, monkeypatch):
    import latentrec.models.base as base

    monkeypatch.setattr(base, "_CHUNK_USERS", 2)  # written chunk by chunk
    users = latentrec.load(model).user_map_.ids.tolist()
    for name in ("all.csv", "all.tsv", "all.parquet"):
        target = tmp_path / name
        result = cli("recommend", model, "--all", "-n", 2, "-o", target,
                     "--items", files / "fruit.tsv")
        assert f"for {len(users):,} user(s)" in result.stderr + result.stdout
        df = (pd.read_parquet(target) if name.endswith(".parquet")
              else pd.read_csv(target, sep="\t" if name.endswith(".tsv") else ","))
        assert list(df.columns) == ["user", "rank", "item", "score", "title"]
        assert df["user"].drop_duplicates().astype(str).tolist() == [str(u) for u in users]
        one = tmp_path / "one.csv"
        _write(tmp_path / "u.txt", "\n".join(str(u) for u in users) + "\n")
        cli("recommend", model, "--users-file", tmp_path / "u.txt", "-n", 2, "-o", one,
            "--items", files / "fruit.tsv")
        pd.testing.assert_frame_equal(df.astype({"user": str}),
                                      pd.read_csv(one).astype({"user": str}),
                                      check_dtype=False)


@pytest.mark.parametrize("args, message", [
    (["--all"], "give --output FILE"),
    (["--all", "-o", "x.csv", "--json"], "and not --json"),
    (["--all", "--user", "alice"], "give one of --user ID, --users-file FILE or --all"),
])
def test_recommend_all_needs_a_file_and_no_other_users(cli, model, tmp_path, args, message):
    result = cli("recommend", model, *args, expect=2)
    assert message in result.stderr


def test_similar_items_and_users(cli, model, files):
    rows = cli.json("similar", model, "--item", "apple", "-n", 4, "--items",
                    files / "fruit.tsv")
    assert len(rows) == 4 and set(rows[0]) == {"item", "score", "title"}
    assert "apple" not in {r["item"] for r in rows}
    users = cli.json("similar", model, "--user", "bob", "-n", 2)
    assert [set(r) for r in users] == [{"user", "score"}] * 2
    result = cli("similar", model, "--item", "apple", "--items", files / "fruit.tsv")
    assert "Items most like Apple [fresh]" in result.stdout


def test_predict_pairs_from_options_and_file(cli, model, files, tmp_path):
    rows = cli.json("predict", model, "--pair", "alice", "kiwi", "--pair", "bob", "apple")
    assert [(r["user"], r["item"]) for r in rows] == [("alice", "kiwi"), ("bob", "apple")]
    assert all(isinstance(r["prediction"], float) for r in rows)
    m = latentrec.load(model)
    assert rows[0]["prediction"] == pytest.approx(float(m.predict(["alice"], ["kiwi"])[0]),
                                                  rel=1e-6)
    target = tmp_path / "pred.csv"
    cli("predict", model, "--pairs", files / "pairs.csv", "-o", target)
    df = pd.read_csv(target)
    assert list(df.columns) == ["user", "item", "prediction"] and len(df) == 2
    printed = cli("predict", model, "--pairs", files / "pairs.csv", "-o", "-").stdout
    assert printed.splitlines()[0] == "user,item,prediction"
    table = cli("predict", model, "--pair", "alice", "kiwi").stdout
    assert "alice" in table and "kiwi" in table
    unknown = cli.json("predict", model, "--pair", "zed", "kiwi", "--unknown", "bias")
    assert unknown[0]["prediction"] is not None


def test_info_reports_class_size_and_history(cli, model):
    result = cli("info", model)
    assert "SGDMatrixFactorization" in result.stdout and "Hyperparameters" in result.stdout
    info = cli.json("info", model)
    assert info["class"] == "SGDMatrixFactorization"
    assert (info["n_users"], info["n_items"], info["n_factors"]) == (16, 10, 3)
    assert info["params"]["n_factors"] == 3
    assert info["history"]["epochs"] == 30
    assert info["library_version"] == latentrec.__version__
    summary = json.loads(json.dumps(latentrec.load(model).summary()))
    assert {k: info[k] for k in summary} == summary


def test_fill_prints_the_matrix_with_ids(cli, model):
    result = cli("fill", model)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["apple", "banana", "cherry", "date", "elder", "fig", "grape",
                                "honeydew", "kiwi", "lemon"]
    assert lines[1].startswith("alice") and "[[" in lines[1]
    assert lines[-1].rstrip().endswith("]]") and len(lines) == 17
    data = cli.json("fill", model)
    assert len(data["users"]) == 16 and len(data["ratings"][0]) == 10
    m = latentrec.load(model)
    assert data["ratings"][0][0] == pytest.approx(
        float(m.predict(["alice"], ["apple"])[0]), abs=1e-5)


def test_int_ids_stay_numbers_in_json(cli, tmp_path):
    path = tmp_path / "ints.tsv"
    path.write_text("".join(f"{u}\t{i}\t{(u * i) % 5 + 1}\n"
                            for u in range(1, 9) for i in range(1, 7) if (u + i) % 3))
    model = tmp_path / "ints.npz"
    cli("train", "--algo", "sgd", path, "-o", model, "--factors", 2, "--epochs", 3, "--threads", 1)
    rows = cli.json("recommend", model, "--user", "1", "-n", 2)
    assert all(isinstance(r["item"], int) for r in rows)
    many = cli.json("recommend", model, "--users-file", _write(tmp_path / "u.txt", "1\n2\n"))
    assert set(many) == {"1", "2"}  # JSON object keys are text
    pred = cli.json("predict", model, "--pair", "1", "2")
    assert pred[0]["user"] == 1 and pred[0]["item"] == 2
    titles = _write(tmp_path / "titles.csv", "item,title,year\n1,One,2001\n2,Two,\n")
    rows = cli.json("similar", model, "--item", "3", "-n", 5, "--items", titles)
    named = {r["item"]: r["title"] for r in rows}
    assert named.get(1, "One (2001)") == "One (2001)" and named.get(2, "Two") == "Two"
    assert all(r["title"] is None for r in rows if r["item"] not in (1, 2))


def test_datasets_lists_the_bundled_one(cli):
    rows = cli.json("datasets")
    assert {"name": "ml-100k", "bundled": True} in [
        {k: r[k] for k in ("name", "bundled")} for r in rows]
    assert "ml-100k" in cli("datasets").stdout


def test_evaluate_compares_algorithms_on_the_same_folds(cli, files, tmp_path):
    png = tmp_path / "cv.png"
    rows = cli.json("evaluate", files / "ratings.csv", "--algo", "sgd", "--algo", "bias",
                    "--baselines", "--cv", 3, "--factors", 2, "--epochs", 10, "--plot", png,
                    "--metrics", "rmse,mae,ndcg", "--k", 5, "--threads", 1)
    assert [r["model"] for r in rows] == ["sgd", "bias", "mean", "popularity", "random"]
    for key in ("rmse", "rmse_std", "mae", "ndcg@5", "ndcg@5_std", "fit_seconds"):
        assert key in rows[0]
    assert png.stat().st_size > 1000
    text = cli("evaluate", files / "ratings.csv", "--algo", "sgd,mean", "--test-size", 0.25,
               "--factors", 2, "--epochs", 5, "--threads", 1).stdout
    assert "holdout" in text and "sgd" in text and "mean" in text


def test_evaluate_a_model_none_of_the_metrics_applies_to_shows_dashes(cli, files):
    # rating error of Popularity would mislead: left out, and the table still made
    rows = cli.json("evaluate", files / "ratings.csv", "--algo", "popularity", "--cv", 2,
                    "--metrics", "rmse")
    assert rows == [{"model": "popularity", "class": "Popularity", "rmse": None,
                     "rmse_std": None, "fit_seconds": None, "predict_seconds": None}]
    text = cli("evaluate", files / "ratings.csv", "--algo", "popularity", "--cv", 2,
               "--metrics", "rmse").stdout
    assert ["popularity", "-", "-"] in [line.split() for line in text.splitlines()]


def test_tune_four_trials_saves_the_best(cli, files, tmp_path):
    out = tmp_path / "best.npz"
    data = cli.json("tune", files / "ratings.csv", "--trials", 4, "-o", out)
    assert len(data["trials"]) == 4
    assert {t["model"] for t in data["trials"]} == {"BayesianFactorizationMachine",
                                                   "BayesianMatrixFactorization",
                                                   "SGDMatrixFactorization"}
    assert "n_factors" in data["best_params"]
    scores = [t["rmse"] for t in data["trials"]]
    assert scores == sorted(scores)
    best = latentrec.load(out)
    assert type(best).__name__ == data["best_model"]
    assert best.get_params()["n_factors"] == data["best_params"]["n_factors"]
    text = cli("tune", files / "ratings.csv", "--trials", 4).stdout
    assert "best:" in text
    assert "at least 4" in cli("tune", files / "ratings.csv", "--trials", 3, expect=2).stderr


def test_train_chooses_the_model_by_default_says_which_and_saves_it(cli, files, tmp_path):
    out = tmp_path / "auto.npz"
    result = cli("train", files / "ratings.csv", "-o", out)
    line = next(x for x in result.stderr.splitlines() + result.stdout.splitlines()
                if x.startswith("auto: chose "))
    chosen = line.split()[2]
    assert type(latentrec.load(out)).__name__ == chosen
    assert "validation RMSE" in line and "4 trials" in line
    assert "wall seconds" in result.stdout
    held = cli.json("train", files / "ratings.csv", "-o", out, "--validation", 0.2)
    assert held["training"]["final_val_rmse"] > 0  # the chosen model scored on that part
    noted = cli("train", "--algo", "sgd", files / "ratings.csv", "-o", out, "--time-budget", 5)
    assert "--time-budget applies to --algo auto only" in noted.stderr + noted.stdout


def test_bare_command_shows_help(cli):
    result = cli(expect=0)
    assert "train" in result.stdout and "recommend" in result.stdout
    assert latentrec.__version__ in cli("--version").stdout


def test_every_algorithm_name_is_a_latentrec_class():
    for name, cls in ALGORITHMS.items():
        assert isinstance(getattr(latentrec, cls), type), name


def test_global_quiet_and_progress_off_outside_a_terminal(cli, files, tmp_path):
    result = cli("--quiet", "train", "--algo", "sgd", files / "ratings.csv", "-o",
                 tmp_path / "q.npz",
                 "--factors", 2, "--epochs", 2, "--threads", 1)
    assert result.stdout == "" and result.stderr == ""


def _write(path, text):
    path.write_text(text)
    return path


def test_json_output_is_one_document(cli, model):
    result = cli("info", model, "--json")
    json.loads(result.stdout)  # nothing but the JSON on stdout


def test_recommend_by_rating_orders_by_predicted_rating(cli, model, files):
    by_rating = cli.json("recommend", model, "--user", "alice", "-n", 4, "--by", "rating")
    pairs = [f"alice,{r['item']}" for r in by_rating]
    (files / "pairs.csv").write_text("user,item\n" + "\n".join(pairs) + "\n")
    predicted = cli.json("predict", model, "--pairs", files / "pairs.csv")
    assert [r["score"] for r in by_rating] == pytest.approx(
        [r["prediction"] for r in predicted], rel=1e-5)
    bad = cli("recommend", model, "--user", "alice", "--by", "stars", expect=2)
    assert "must be 'relevance' or 'rating'" in bad.stderr


def test_evaluate_relevance_by_name_and_by_number(cli, files):
    def recall(relevance):
        rows = cli.json("evaluate", files / "ratings.csv", "--algo", "popularity",
                        "--test-size", 0.3, "--metrics", "recall,novelty,diversity",
                        "--relevance-threshold", relevance)
        return rows[0]

    liked, anything, four = recall("liked"), recall("any"), recall("4")
    assert {"recall@10", "novelty@10", "diversity@10"} <= set(liked)
    assert liked["recall@10"] == pytest.approx(four["recall@10"])  # 1..5: liked is >= 3.8
    assert anything["novelty@10"] > 0 and 0 <= anything["diversity@10"] <= 1
    bad = cli("evaluate", files / "ratings.csv", "--relevance-threshold", "loved", expect=2)
    assert "must be 'liked', 'any' or a number" in bad.stderr


def test_evaluate_on_a_test_file_is_the_split_of_that_file(cli):
    # GroupLens's u1.base and u1.test, each read on its own: the same figures as the
    # library's shared split (ids matched by value, not by position)
    from latentrec import datasets
    from latentrec.evaluation import evaluate as evaluate_split

    bundled = Path(datasets.__file__).parent / "data" / "bundled" / "ml-100k"
    rows = cli.json("evaluate", bundled / "u1.base.gz", "--test", bundled / "u1.test.gz",
                    "--algo", "bias,popularity", "--metrics", "rmse,precision,ndcg")
    train, test = datasets.load("ml-100k").split("u1")
    want = evaluate_split(latentrec.BiasBaseline(), train, test, ["rmse", "precision", "ndcg"])
    assert [r["model"] for r in rows] == ["bias", "popularity"]
    for name in ("rmse", "precision@10", "ndcg@10"):
        assert rows[0][name] == pytest.approx(want[name], rel=1e-9)
    assert rows[1]["rmse"] is None and rows[1]["precision@10"] == pytest.approx(0.2135964912)
    result = cli("evaluate", bundled / "u1.base.gz", "--test", bundled / "u1.test.gz",
                 "--cv", 3, expect=2)
    assert "give one of --cv, --test-size and --test, not --cv and --test" in result.stderr


def test_evaluate_shows_no_spread_for_a_metric_measured_on_one_fold(cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("user,item,rating\n1,1,5\n1,2,4\n1,3,1\n2,1,2\n2,4,5\n3,2,3\n3,5,4\n"
                    "4,6,5\n")
    result = cli("evaluate", path, "--cv", "2", "--algo", "bias", "--metrics", "rmse,ndcg")
    assert "nan" not in result.stdout and "± " in result.stdout  # rmse keeps its spread
    assert "ndcg@10 on 1 of 2 folds" in result.stderr


def test_train_shows_no_validation_rmse_for_a_model_without_ratings(cli, files, tmp_path):
    result = cli.json("train", files / "ratings.csv", "-o", tmp_path / "m.npz", "--algo",
                      "popularity", "--validation", "0.2")
    assert result["training"]["final_val_rmse"] is None  # the RMSE of popularity counts


def test_list_files_find_ids_as_the_ratings_reader_read_them(cli, tmp_path):
    # " a " and "a" are two users of a text-id model: the list readers stripped the
    # blanks and answered for "a"; a number with blanks around it is that number
    ratings = tmp_path / "r.csv"
    ratings.write_text("user,item,rating\n a ,x,5\na,x,1\nb,y,3\na,y,2\n")
    model = tmp_path / "m.npz"
    cli("train", ratings, "-o", model, "--algo", "bias", "--id-dtype", "str", "-q")
    pairs = tmp_path / "p.csv"
    pairs.write_text("user,item\n a ,x\nb ,x\n")
    got = cli.json("predict", model, "--pairs", pairs)
    want = cli.json("predict", model, "--pair", " a ", "x", "--pair", "b", "x")
    assert [r["user"] for r in got] == [" a ", "b"]
    assert [r["prediction"] for r in got] == [r["prediction"] for r in want]
    users = tmp_path / "u.txt"
    users.write_text(" a \n")
    assert list(cli.json("recommend", model, "--users-file", users, "--include-seen")) == [" a "]

"""A user mistake gives exit code 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import pytest


def _check(result, *fragments):
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad(files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "malformed.csv").write_text("user,item,rating\na,x,3\nb,y,4\nc,z,five\n")
    (folder / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a model")
    # a blank line before the unknown item: lines count as the file has them
    (folder / "pairs.csv").write_text("user,item\nalice,apple\n\nbob,durian\nnobody,apple\n")
    return folder


CASES = {
    "missing ratings file": (["train", "{bad}/nope.csv", "-o", "{tmp}/m.npz"],
                             ["nope.csv", "no such file"]),
    "bad column name": (["train", "{files}/ratings.csv", "-o", "{tmp}/m.npz", "--rating",
                         "stars"], ["ratings.csv", "'stars'"]),
    "malformed line": (["train", "{bad}/malformed.csv", "-o", "{tmp}/m.npz"],
                       ["malformed.csv", "line 4", "'rating'", "five"]),
    "unknown user": (["recommend", "{model}", "--user", "nobody"], ["unknown user", "nobody"]),
    "unknown item": (["similar", "{model}", "--item", "durian"], ["unknown item", "durian"]),
    "unknown id in a users file": (["recommend", "{model}", "--users-file",
                                    "{bad}/malformed.csv"], ["malformed.csv", "line 1"]),
    "unknown id in a pairs file": (["predict", "{model}", "--pairs", "{bad}/pairs.csv"],
                                   ["pairs.csv", "line 4", "item 'durian'", "--unknown"]),
    "unknown id in a pair": (["predict", "{model}", "--pair", "alice", "apple", "--pair",
                              "nobody", "fig"],
                             ["--pair nobody fig", "user 'nobody'", "--unknown"]),
    "more folds than ratings": (["evaluate", "{files}/ratings.csv", "--algo", "bias", "--cv",
                                 "100000"], ["'--cv'", "100,000 folds of"]),
    "missing test file": (["evaluate", "{bad}/malformed.csv", "--test", "{bad}/none.csv"],
                          ["none.csv", "no such file"]),  # before RATINGS, bad as it is
    "a folder as a users file": (["recommend", "{model}", "--users-file", "{bad}"],
                                 ["is a folder, not a file"]),
    "corrupt model": (["info", "{bad}/corrupt.npz"], ["corrupt.npz", "cannot load model"]),
    "missing model": (["recommend", "{bad}/none.npz", "--user", "alice"],
                      ["none.npz", "no such file"]),
    "zero factors": (["train", "--algo", "sgd", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                      "--factors", "0"], ["--factors"]),
    "model option with auto": (["train", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                                "--factors", "3"], ["--factors", "--algo auto", "give --algo"]),
    "time budget not positive": (["train", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                                  "--time-budget", "0"], ["--time-budget", "positive"]),
    "bad epochs": (["train", "--algo", "sgd", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                    "--epochs", "many"],
                   ["--epochs"]),
    "zero learning rate": (["train", "--algo", "sgd", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                            "--lr", "0"],
                           ["learning_rate"]),
    "unknown algorithm": (["train", "{files}/ratings.csv", "-o", "{tmp}/m.npz", "--algo",
                           "svd++"], ["--algo", "svd++"]),
    "validation out of range": (["train", "{files}/ratings.csv", "-o", "{tmp}/m.npz",
                                 "--validation", "1.5"], ["--validation"]),
    "unwritable output": (["train", "{files}/ratings.csv", "-o", "{bad}/no/such/m.npz"],
                          ["does not exist"]),
    "unknown metric": (["evaluate", "{files}/ratings.csv", "--metrics", "rmse,accuracy"],
                       ["accuracy"]),
    "cv and test size": (["evaluate", "{files}/ratings.csv", "--cv", "3", "--test-size",
                          "0.2"], ["give one of --cv, --test-size and --test, not --cv and "
                                   "--test-size"]),
    "unknown option": (["train", "{files}/ratings.csv", "--bogus"], ["--bogus"]),
    "pair needs two values": (["predict", "{model}", "--pair", "alice"], ["--pair"]),
    "fill above the cap": (["fill", "{model}", "--max-cells", "10"],
                           ["160 cells", "latentrec recommend"]),
    "similar on a baseline": (["similar", "{bias}", "--item", "apple"], ["no latent factors"]),
    "user and users file": (["recommend", "{model}"], ["--user"]),
    "wrong output type": (["recommend", "{model}", "--user", "alice", "-o", "{tmp}/r.xlsx"],
                          [".csv"]),
}


@pytest.fixture(scope="module")
def bias_model(cli, files, tmp_path_factory):
    path = tmp_path_factory.mktemp("bias") / "bias.npz"
    cli("train", files / "ratings.csv", "-o", path, "--algo", "bias")
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistakes_exit_2_with_one_line(case, cli, files, model, bad, bias_model,
                                            tmp_path):
    args, fragments = CASES[case]
    names = {"files": files, "model": model, "bad": bad, "tmp": tmp_path, "bias": bias_model}
    result = cli(*[a.format(**names) for a in args], expect=None)
    _check(result, *fragments)
    assert not (tmp_path / "m.npz").exists()


def test_debug_shows_the_traceback(cli, model):
    result = cli("recommend", model, "--user", "nobody", "--debug", expect=2)
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")

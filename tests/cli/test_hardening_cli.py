"""Options the command line once accepted and ignored, checked late or blamed on the wrong
thing; warnings that printed as Python warnings; help that drifted from the defaults."""

from __future__ import annotations

import inspect
import math
import re
import sys
import warnings
import zipfile

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import latentrec
from latentrec.cli import app
from latentrec.cli import inputs as cli_inputs
from latentrec.cli.algorithms import ALGORITHMS, OPTION_PARAMS, algorithm_class
from latentrec.errors import ParameterError
from latentrec.evaluation import tune as library_tune
from latentrec.models._params import Interval


def _one_error_line(result, *fragments):
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def dup_csv(tmp_path_factory):
    """Pair (a, x) rated twice: 3 then 4."""
    path = tmp_path_factory.mktemp("dups") / "dup.csv"
    path.write_text("user,item,rating\na,x,3\na,x,4\nb,y,2\nb,x,5\n")
    return path


# 5. reader options on a bundled data set ------------------------------------------------
def test_rating_none_makes_a_bundled_set_implicit(cli, tmp_path):
    data = cli.json("train", "ml-100k", "-o", tmp_path / "m.npz", "--algo", "mean",
                    "--rating", "none")["data"]
    assert data["distinct_values"] == [1.0] and data["n_ratings"] == 100_000
    assert data["has_timestamps"] is True


def test_timestamp_none_drops_the_timestamps_of_a_bundled_set(cli, tmp_path):
    data = cli.json("train", "ml-100k", "-o", tmp_path / "m.npz", "--algo", "mean",
                    "--timestamp", "none")["data"]
    assert data["has_timestamps"] is False and data["distinct_values"] == [1, 2, 3, 4, 5]


LAYOUT_OPTIONS = {"--sep": ["--sep", "tab"], "--user": ["--user", "0"],
                  "--item": ["--item", "1"], "--rating": ["--rating", "2"],
                  "--timestamp": ["--timestamp", "3"], "--header/--no-header": ["--header"],
                  "--format": ["--format", "csv"], "--id-dtype": ["--id-dtype", "str"],
                  "--member": ["--member", "u.data"]}


@pytest.mark.parametrize("option", LAYOUT_OPTIONS)
def test_layout_options_are_refused_for_a_bundled_set(cli, tmp_path, option):
    result = cli("train", "ml-100k", "-o", tmp_path / "m.npz", "--algo", "mean",
                 *LAYOUT_OPTIONS[option], expect=None)
    _one_error_line(result, option, "bundled data set ml-100k", "--rating none")
    assert not (tmp_path / "m.npz").exists()


# 12. model options checked first, by the model, finite -------------------------------
_LR = "learning_rate must be a number in (0, inf) or one of 'auto', got "
BAD_MODEL_VALUES = [("--lr", "0", _LR + "0.0"),
                    ("--lr", "inf", _LR + "inf"),
                    ("--lr", "-inf", "learning_rate must be"),
                    ("--lr", "nan", _LR + "nan"),
                    ("--lr", "-1", "learning_rate must be"),
                    ("--reg", "inf", "regularization must be a number in [0, inf), got inf"),
                    ("--reg", "nan", "regularization must be"),
                    ("--reg", "-0.5", "regularization must be"),
                    ("--factors", "0", "n_factors must be an integer in [1, inf), got 0"),
                    ("--threads", "0", "n_threads must be")]


@pytest.mark.parametrize(("option", "value", "message"), BAD_MODEL_VALUES,
                         ids=[f"{o}={v}" for o, v, _ in BAD_MODEL_VALUES])
def test_a_bad_model_option_fails_before_the_data_is_read(cli, tmp_path, option, value,
                                                          message):
    # the ratings file does not exist: reading first would say "no such file"
    result = cli("train", "--algo", "sgd", tmp_path / "missing.csv", "-o", tmp_path / "m.npz",
                 option, value,
                 expect=None)
    _one_error_line(result, f"'{option}'", message)


def test_evaluate_checks_every_algorithm_before_reading(cli, tmp_path):
    result = cli("evaluate", tmp_path / "missing.csv", "--algo", "als,bpr", "--reg", "inf",
                 expect=None)
    _one_error_line(result, "'--reg'", "regularization must be", "got inf")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_learning_rate_is_either_the_models_or_refused_in_its_words(cli, tmp_path, lr):
    result = cli("train", "--algo", "sgd", tmp_path / "missing.csv", "-o", tmp_path / "m.npz",
                 "--lr",
                 repr(lr), expect=None)
    if 0 < lr < math.inf:
        _one_error_line(result, "missing.csv: no such file")
    else:
        _one_error_line(result, "'--lr'", "learning_rate must be a number in (0, inf)")


def test_an_open_interval_refuses_infinity_on_either_side():
    assert not Interval("real", 0, None).accepts(math.inf)
    assert not Interval("real", None, 0).accepts(-math.inf)
    assert not Interval("real", None, None).accepts(math.inf)
    assert Interval("real", 0, None).accepts(1e308)
    assert Interval("int", 1, None).accepts(10**400)  # too big for a float, still finite


def test_an_infinite_bound_given_on_purpose_accepts_infinity():
    assert Interval("real", 0, math.inf).accepts(math.inf)
    assert not Interval("real", 0, math.inf, "left").accepts(math.inf)
    assert Interval("real", -math.inf, 0).accepts(-math.inf)


def _real_params(cls):
    return [name for name, allowed in cls._constraints.items()
            if any(isinstance(c, Interval) and c.kind == "real" for c in allowed)]


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_no_model_takes_an_infinite_hyperparameter(algo):
    cls = algorithm_class(algo)
    for name in _real_params(cls):
        for value in (math.inf, -math.inf):
            with pytest.raises(ParameterError, match=f"{name} must be .*got {value}"):
                cls(**{name: value})._check_params()


def test_validation_that_leaves_too_little_to_train_on_is_refused(cli, files, tmp_path):
    result = cli("train", "--algo", "sgd", files / "ratings.csv", "-o", tmp_path / "m.npz",
                 "--validation",
                 "0.9999", expect=None)
    _one_error_line(result, "'--validation'", "0.9999", "at most 0.5")
    assert not (tmp_path / "m.npz").exists()


def test_validation_of_half_is_the_most_accepted(cli, files, tmp_path):
    data = cli.json("train", "--algo", "sgd", files / "ratings.csv", "-o", tmp_path / "m.npz",
                    "--validation",
                    "0.5", "--factors", 2, "--epochs", 2, "--threads", 1)
    assert data["training"]["n_train"] > 0 and data["training"]["n_validation"] > 0


def test_tune_refuses_a_validation_above_half(cli, files):
    _one_error_line(cli("tune", files / "ratings.csv", "--validation", "0.9", expect=None),
                    "'--validation'", "at most 0.5")


@pytest.mark.parametrize("budget", ["inf", "nan", "0", "-1"])
def test_tune_refuses_a_time_budget_that_is_not_positive_and_finite(cli, files, budget):
    result = cli("tune", files / "ratings.csv", "--time-budget", budget, expect=None)
    _one_error_line(result, "'--time-budget'", "positive, finite number of seconds")


# 15. demo's output folder checked before training ------------------------------------
def test_demo_refuses_an_unwritable_folder_before_training(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_inputs, "_writable", lambda folder: False)  # root writes all
    result = cli("demo", "--out", tmp_path, expect=None)
    _one_error_line(result, str(tmp_path), "not writable (--out)")
    assert result.stdout == ""  # nothing read, nothing trained


def test_demo_refuses_a_file_as_its_folder(cli, files):
    _one_error_line(cli("demo", "--out", files / "ratings.csv", expect=None),
                    "is a file, not a folder (--out)")


def test_demo_refuses_a_folder_under_a_file(cli, files):
    _one_error_line(cli("demo", "--out", files / "ratings.csv" / "sub", expect=None),
                    "no such folder (--out)")


# 16. help from the defaults, option words in hints, BPMF factors, the tune table -------
def _help(command: str, name: str) -> str:
    click_command = typer.main.get_command(app).commands[command]
    return next(p for p in click_command.params if p.name == name).help


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize("option", ["--factors", "--epochs", "--lr", "--reg"])
def test_model_option_help_gives_each_models_default(command, option):
    text = _help(command, option.lstrip("-"))
    for algo in ALGORITHMS:
        params = inspect.signature(algorithm_class(algo)).parameters
        param = next((p for p in OPTION_PARAMS[option] if p in params), None)
        if param is not None:
            assert f"{algo} {params[param].default}" in text, text


def test_tune_trials_help_gives_the_number_tune_runs():
    runs = inspect.signature(library_tune).parameters["n_trials"].default
    assert f"default: {runs}," in _help("tune", "trials")


def test_duplicates_help_gives_the_readers_default():
    default = inspect.signature(latentrec.read_ratings).parameters["duplicates"].default
    assert f"(default: {default})" in _help("train", "duplicates")


HINTS = [("pass sep= if the separator is unusual", "give --sep if the separator is unusual"),
         ("cannot find the user and item columns; pass user= and item=",
          "cannot find the user and item columns; give --user and --item"),
         ("(columns are ['a', 'b']); pass item= with a column name or position",
          "(columns are ['a', 'b']); give --item with a column name or position"),
         ("pass timestamp=False to ignore this column", "give --timestamp none to ignore "
                                                        "this column"),
         ("holds 2 files ['a', 'b']; pass member= to say which one to read",
          "holds 2 files ['a', 'b']; give --member NAME to say which one to read"),
         ("member='u.data' was given but the file is not a zip archive",
          "--member 'u.data' was given but the file is not a zip archive"),
         ("(first on line 2); pass duplicates='last' or 'mean' to resolve it",
          "(first on line 2); give --duplicates last or mean to resolve it"),
         ("3 repeated (user, item) rows were resolved by duplicates='mean'",
          "3 repeated (user, item) rows were resolved by --duplicates mean"),
         ("this is a Parquet file, not format='csv' text; pass format='parquet' or 'auto'",
          "this is a Parquet file, not --format csv text; give --format parquet or auto")]


@pytest.mark.parametrize(("library", "command_line"), HINTS)
def test_hints_name_options_not_python_arguments(library, command_line):
    assert cli_inputs.in_option_words(library) == command_line


def test_a_zip_of_several_files_asks_for_member(cli, files, dup_csv, tmp_path):
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(files / "ratings.csv", "ratings.csv")
        zf.write(dup_csv, "dup.csv")
    line = _one_error_line(cli("train", "--algo", "sgd", archive, "-o", tmp_path / "m.npz",
                               expect=None),
                           "give --member NAME")
    assert "member=" not in line
    data = cli.json("train", archive, "--member", "ratings.csv", "-o", tmp_path / "m.npz",
                    "--algo", "mean")["data"]
    assert data["n_users"] == 16


def test_a_one_column_file_asks_for_sep(cli, tmp_path):
    (tmp_path / "one.txt").write_text("a b c\nd e f\n")
    line = _one_error_line(cli("train", "--algo", "sgd", tmp_path / "one.txt", "-o",
                               tmp_path / "m.npz",
                               "--sep", ",", expect=None), "give --sep")
    assert "sep=" not in line


def test_a_parquet_file_read_as_csv_names_the_format_option(cli, files, tmp_path):
    latentrec.write_ratings(latentrec.read_ratings(files / "ratings.csv"),
                            tmp_path / "r.parquet")
    line = _one_error_line(cli("train", "--algo", "sgd", tmp_path / "r.parquet", "-o",
                               tmp_path / "m.npz",
                               "--format", "csv", expect=None), "give --format parquet")
    assert "format=" not in line


def test_info_gives_bpmf_its_factor_count(cli, files, tmp_path):
    path = tmp_path / "bpmf.npz"
    cli("train", files / "ratings.csv", "-o", path, "--algo", "bpmf", "--factors", 3,
        "--threads", 1)
    text = cli("info", path).stdout
    assert re.search(r"^factors +3 \(x 50 kept samples: 150 stored columns\)$", text,
                     re.MULTILINE), text


def test_info_gives_the_factorization_machine_its_factor_count(cli, files, tmp_path):
    # it printed its stored width alone ("factors 83" for K = 10)
    path = tmp_path / "bfm.npz"
    cli("train", files / "ratings.csv", "-o", path, "--algo", "bfm", "--factors", 3)
    text = cli("info", path).stdout
    assert re.search(r"^factors +3 \([0-9,]+ stored columns: the factors with the other "
                     r"feature groups\)$", text, re.MULTILINE), text


@pytest.fixture(scope="module")
def fourteen_trials(cli, files):
    return cli("tune", files / "ratings.csv", "--trials", 14).stdout, cli.json(
        "tune", files / "ratings.csv", "--trials", 14)


def test_tune_shows_the_best_ten_trials_and_counts_the_rest(fourteen_trials):
    text, _ = fourteen_trials
    ranks = [int(line.split()[0]) for line in text.splitlines()
             if re.match(r"^ +\d+ +\w+(MatrixFactorization|FactorizationMachine)", line)]
    assert ranks == list(range(1, 11))
    assert "14 trials, best first, the best 10 shown" in text
    assert "... and 4 more trials (--json lists them all)" in text


def test_tune_prints_whole_numbers_as_integers(fourteen_trials):
    text, data = fourteen_trials
    header = next(line for line in text.splitlines() if line.startswith("rank"))
    assert header.split() == ["rank", "model", "factors", "lr", "reg", "bias", "reg",
                              "epochs", "rmse", "seconds"]
    sgd = [line.split() for line in text.splitlines() if "SGDMatrixFactorization" in line
           and not line.startswith("best")]
    assert sgd and all(re.fullmatch(r"\d+", cells[6]) for cells in sgd), sgd
    epochs = [t["n_epochs"] for t in data["trials"]]
    assert all(e is None or type(e) is int for e in epochs), epochs
    assert len(data["trials"]) == 14


# 17. warnings: one line, hidden by --quiet; the duplicate policy on the command line ----
WARNING = "warning: 1 repeated (user, item) rows were resolved by --duplicates last\n"


@pytest.fixture
def printed_warnings(monkeypatch):
    """Warnings printed as Python prints them outside pytest (pytest records them
    instead), so that what a command does with them shows."""
    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", show)


def test_a_warning_is_one_line_in_option_words(cli, dup_csv, tmp_path, printed_warnings):
    result = cli("train", dup_csv, "-o", tmp_path / "m.npz", "--algo", "mean")
    assert result.stderr == WARNING


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_hides_warnings(cli, dup_csv, tmp_path, printed_warnings, where):
    args = ["train", dup_csv, "-o", tmp_path / "m.npz", "--algo", "mean"]
    assert cli(*args).stderr != ""
    result = cli(*(["-q", *args] if where == "before" else [*args, "--quiet"]))
    assert result.stderr == ""


def test_the_warning_hook_lasts_one_run(cli, dup_csv, tmp_path):
    before = warnings.showwarning
    cli("train", dup_csv, "-o", tmp_path / "m.npz", "--algo", "mean")
    assert warnings.showwarning is before


@pytest.mark.parametrize(("policy", "values"), [("last", [2.0, 4.0, 5.0]),
                                                ("mean", [2.0, 3.5, 5.0])])
def test_duplicates_chooses_the_policy(cli, dup_csv, tmp_path, policy, values):
    data = cli.json("train", dup_csv, "-o", tmp_path / "m.npz", "--algo", "mean",
                    "--duplicates", policy)["data"]
    assert data["distinct_values"] == values and data["n_ratings"] == 3


def test_duplicates_error_stops_and_names_the_pair(cli, dup_csv, tmp_path):
    _one_error_line(cli("train", "--algo", "sgd", dup_csv, "-o", tmp_path / "m.npz",
                        "--duplicates", "error",
                        expect=None),
                    "dup.csv, line 3", "give --duplicates last or mean")


def test_an_unknown_duplicates_policy_is_refused_with_the_choices(cli, dup_csv, tmp_path):
    _one_error_line(cli("evaluate", dup_csv, "--duplicates", "first", expect=None),
                    "'--duplicates'", "'first' is not one of last, mean, error")

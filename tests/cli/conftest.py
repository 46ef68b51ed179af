"""Shared fixtures of the command-line tests: a small rating file with string ids, item
titles, one trained model, and a runner that keeps stdout and stderr apart."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentrec.cli import app

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "oscar", "peggy", "trent", "victor", "walter"]
ITEMS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew", "kiwi",
         "lemon"]


class Cli:
    """Runs ``latentrec ARGS`` in-process; ``.json(...)`` also parses stdout."""

    def __init__(self):
        kwargs = {"mix_stderr": False} if "mix_stderr" in inspect.signature(
            CliRunner.__init__).parameters else {}
        self.runner = CliRunner(**kwargs)

    def __call__(self, *args, expect: int | None = 0):
        result = self.runner.invoke(app, [str(a) for a in args])
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code}, expected {expect}\nstdout:\n{result.stdout}\n"
                f"stderr:\n{result.stderr}\nexception: {result.exception!r}")
        return result

    def json(self, *args):
        result = self(*args, "--json")
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """ratings.csv (string ids, header), fruit.tsv (titles), users.txt, pairs.csv."""
    folder = tmp_path_factory.mktemp("cli-data")
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(len(USERS), 2)), rng.normal(size=(len(ITEMS), 2))
    lines = ["user,item,rating"]
    for u, name in enumerate(USERS):
        for i, item in enumerate(ITEMS):
            if rng.random() < 0.6:
                lines.append(f"{name},{item},{int(np.clip(np.round(3 + P[u] @ Q[i]), 1, 5))}")
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    (folder / "fruit.tsv").write_text(
        "item_id\ttitle\n" + "".join(f"{x}\t{x.title()} [fresh]\n" for x in ITEMS))
    (folder / "users.txt").write_text("alice\nbob\n\ncarol\n")
    (folder / "pairs.csv").write_text("user,item\nalice,kiwi\nbob,apple\n")
    return folder


@pytest.fixture(scope="session")
def model(cli, files):
    """A small SGD model trained once through the command line."""
    path = files / "model.npz"
    cli("train", "--algo", "sgd", files / "ratings.csv", "-o", path, "--factors", 3, "--epochs",
        30,
        "--threads", 1)
    return path

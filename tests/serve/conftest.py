"""Fixtures of the HTTP service tests: ML-100K models trained once per session, apps and
clients over them, and a way to run the real ``latentrec serve`` process."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # recent Starlette would rather its test client used httpx2
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

import latentrec
from latentrec import BiasBaseline, SGDMatrixFactorization, datasets
from latentrec.serve import create_app

ADMIN_TOKEN = "test-admin-token-6b1f"


@pytest.fixture(scope="session")
def ml():
    return datasets.load("ml-100k")


@pytest.fixture(scope="session")
def model_file(ml, tmp_path_factory) -> Path:
    """The served model: SGD on all of ML-100K (a few seconds)."""
    path = tmp_path_factory.mktemp("serve-models") / "ml100k.npz"
    SGDMatrixFactorization(n_epochs=10, random_state=0).fit(ml.ratings).save(path)
    return path


@pytest.fixture(scope="session")
def baseline_file(ml, model_file) -> Path:
    """A second, different model (no latent factors) to reload into."""
    path = model_file.with_name("baseline.npz")
    BiasBaseline().fit(ml.ratings).save(path)
    return path


@pytest.fixture(scope="session")
def model(model_file):
    """The served model as the library loads it: what the API must agree with."""
    return latentrec.load(model_file)


@pytest.fixture(scope="session")
def make_client():
    """``make_client(model_path, **create_app_kwargs)``: a test client of a new app."""
    return lambda path, **kwargs: TestClient(create_app(path, **kwargs))


@pytest.fixture(scope="session")
def client(make_client, model_file, ml) -> TestClient:
    """A client of one app shared by the tests that only read (titles from ml-100k)."""
    return make_client(model_file, items=ml.items, admin_token=ADMIN_TOKEN)


@pytest.fixture
def served_copy(model_file, tmp_path) -> Path:
    """A copy of the model file that a test may overwrite and reload."""
    return Path(shutil.copy(model_file, tmp_path / "served.npz"))


@pytest.fixture
def admin() -> dict:
    """The headers that authorize an admin request."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class ServerProcess:
    """``latentrec serve MODEL --port 0 ...`` in a child process; ``url`` once it listens."""

    def __init__(self, *args, env=None, timeout: float = 60):
        command = [sys.executable, "-c", "from latentrec.cli import main; main()"]
        script = Path(sys.executable).with_name("latentrec")
        if script.exists():  # the installed console script, as a person would run it
            command = [str(script)]
        self.proc = subprocess.Popen(
            [*command, "serve", *map(str, args), "--port", "0"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        # a full pipe would block the server; the thread ends when the output does
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        self.url = self._wait_for_url(timeout)

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for_url(self, timeout: float) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise AssertionError(f"no URL announced in {timeout} s:\n{self.text}") from None
            if line is None:
                raise AssertionError(f"the server exited ({self.proc.wait()}):\n{self.text}")
            found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                return found.group(1)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 15) -> int:
        """Stop the server; its whole output is in ``text`` afterwards (the exit code)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        # the process has exited, but its last lines may still be in the pipe
        self._drainer.join(timeout=timeout)
        assert not self._drainer.is_alive(), "the server's output did not end"
        self.proc.stdout.close()
        return code


@pytest.fixture
def server_process():
    """Start servers with ``server_process(*args, env=...)``; all are stopped afterwards."""
    started = []

    def start(*args, env=None):
        started.append(ServerProcess(*args, env=env))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        server._drainer.join(timeout=15)
        if not server._drainer.is_alive():
            server.proc.stdout.close()


@pytest.fixture
def wait_for():
    """``wait_for(condition, timeout=15)``: poll until ``condition()`` holds, else fail."""
    def wait(condition, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            time.sleep(0.05)
    return wait

"""``latentrec serve`` as a person runs it: the real process on a loopback port, reload on
SIGHUP, and one-line errors (exit 2) for what can go wrong before it starts."""

from __future__ import annotations

import inspect
import shutil
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from latentrec.cli import app as cli_app
from latentrec.serve import bind


def test_the_real_server(server_process, served_copy, baseline_file, tmp_path, wait_for):
    server = server_process(served_copy, "--items", "ml-100k",
                            env={"LATENTREC_ADMIN_TOKEN": "from-the-environment"})
    assert server.url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
    # at once, no sleep and no retry: the socket listens before the URL is printed
    with httpx.Client(base_url=server.url, timeout=10) as http:
        recs = http.get("/users/196/recommendations", params={"n": 10}).json()
        assert len(recs["items"]) == 10 and all(e["title"] for e in recs["items"])
        assert http.post("/predict", json={"pairs": [{"user": 196, "item": 50}]}
                         ).status_code == 200
        assert http.post("/predict", content=b"x" * 70_000).status_code == 413
        assert "<title>latentrec</title>" in http.get("/").text
        assert http.get("/health", headers={"Host": "rebound.example"}).status_code == 400
        assert http.get("/health", headers={"Host": "localhost"}).status_code == 200
        assert http.post("/admin/reload", headers={
            "Authorization": "Bearer from-the-environment"}).json()["model"]["generation"] == 2

        shutil.copy(baseline_file, served_copy)
        server.signal(signal.SIGHUP)
        wait_for(lambda: http.get("/model").json()["algorithm"] == "BiasBaseline")
        served_copy.write_bytes(b"not a model")
        server.signal(signal.SIGHUP)
        wait_for(lambda: http.get("/health").json()["last_reload"]["ok"] is False)
        assert http.get("/health").json()["generation"] == 3
        assert http.get("/users/196/recommendations").status_code == 200
    assert server.stop() == 0
    assert "reload failed, still serving generation 3" in server.text
    assert "Traceback" not in server.text


def test_the_url_is_printed_after_the_socket_listens(server_process, model_file):
    """A client that connects the moment it reads the URL waits in the backlog while
    uvicorn starts; it is not refused (it was, for ~30 ms, before bind() listened)."""
    server = server_process(model_file, "--no-access-log")
    host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert conn.makefile("rb").readline().startswith(b"HTTP/1.1 200")
    assert server.stop() == 0


def test_bind_listens_before_anything_accepts():
    sock = bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass  # queued by the kernel: nothing has called accept()
    finally:
        sock.close()


def test_a_corrupt_model_refuses_to_start(tmp_path):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a model")
    result = subprocess.run([sys.executable, "-c", "from latentrec.cli import main; main()",
                             "serve", str(bad), "--port", "0"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}: cannot load model: not a latentrec model file (not an .npz archive)"]
    assert result.stdout == ""


def test_importing_latentrec_does_not_import_fastapi():
    code = ("import sys, latentrec, latentrec.cli, latentrec.serve; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_service_does_not_import_the_command_line():
    """The two faces share only the public API: serve imports nothing from cli."""
    code = ("import sys, latentrec.serve.app, latentrec.serve.server; "
            "print(sorted(m for m in sys.modules if m.startswith('latentrec.cli')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.stdout.strip() == "[]", result.stderr


def test_run_refuses_an_empty_extra_host_name_before_loading(tmp_path):
    from latentrec import ParameterError
    from latentrec.serve import run

    with pytest.raises(ParameterError, match="extra_hosts must be non-empty host names"):
        run(tmp_path / "never-read.npz", extra_hosts=["recs.lan", " "])


# command-line errors, in-process ----------------------------------------------------------
@pytest.fixture(scope="module")
def run_cli():
    kwargs = ({"mix_stderr": False} if "mix_stderr" in
              inspect.signature(CliRunner.__init__).parameters else {})
    runner = CliRunner(**kwargs)

    def run(*args):
        result = runner.invoke(cli_app, ["serve", *map(str, args)])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]

    return run


def test_a_busy_port_is_a_one_line_error(run_cli, model_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = run_cli(model_file, "--port", port)
    assert message == f"error: cannot listen on 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize("args, fragment", [
    (["--port", "70000"], "--port"),
    (["--max-n", "0"], "--max-n"),
    (["--max-body", "-1"], "--max-body"),
    (["--items", "no-such-titles.tsv"], "no-such-titles.tsv: no such file"),
    (["--admin-token", ""], "admin token is empty"),
    (["--allowed-host", " "], "--allowed-host"),
])
def test_bad_options_are_one_line_errors(run_cli, model_file, args, fragment):
    assert fragment in run_cli(model_file, *args)


def test_a_missing_model_file(run_cli, tmp_path):
    assert "no such file" in run_cli(tmp_path / "none.npz")


def test_without_the_serve_extra(run_cli, model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if it were not installed
    assert run_cli(model_file) == ('error: the HTTP service needs the serve extra (fastapi is '
                                   'not installed): pip install "latentrec[serve]"')

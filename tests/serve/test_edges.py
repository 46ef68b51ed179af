"""The service's edges, below the application: a deadline for each request head, a cap on
open connections, JSON for what the HTTP parser refuses, and HEAD answered like GET.

The protocol tests run the service's own uvicorn protocol class in a thread with short
limits (both of uvicorn's parsers: httptools, which ``latentrec serve`` uses, and h11);
the last tests run ``latentrec serve`` itself."""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from latentrec.serve import bind, create_app
from latentrec.serve.server import HEAD_TIMEOUT, guarded_protocol

GET_HEALTH = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.fixture(scope="module")
def app(model_file):
    return create_app(model_file)


@pytest.fixture(params=[HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def serve(request, app):
    """``serve(head_timeout=..., max_connections=...)``: (host, port) of a server running
    the guarded protocol over ``app`` in a thread; stopped after the test."""
    running = []

    def start(head_timeout: float = 0.5, max_connections: int = 100):
        protocol = guarded_protocol(head_timeout, max_connections, base=request.param)
        # log_config=None: leave the test process's logging as it is
        config = uvicorn.Config(app, http=protocol, ws="none", log_config=None,
                                access_log=False, timeout_keep_alive=5)
        server, sock = uvicorn.Server(config), bind("127.0.0.1", 0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return sock.getsockname()[:2]

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def connect(address) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def answer(conn: socket.socket) -> tuple[int, dict, bytes]:
    """(status, headers, body) of the one response the server sends before it closes."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return parse(data)


def parse(data: bytes) -> tuple[int, dict, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def one_response(conn: socket.socket) -> tuple[int, dict, bytes]:
    """Read one response with a Content-Length from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    status, headers, body = parse(data)
    while len(body) < int(headers["content-length"]):
        body += conn.recv(65536)
    return status, headers, body


# the head deadline --------------------------------------------------------------------------
def test_the_default_deadline_is_ten_seconds():
    assert HEAD_TIMEOUT == 10
    assert guarded_protocol().head_timeout == 10


def test_a_connection_that_sends_nothing_is_closed(serve):
    address = serve(head_timeout=0.5)
    with connect(address) as conn:
        start = time.monotonic()
        status, headers, body = answer(conn)
        waited = time.monotonic() - start
    assert 0.4 < waited < 5
    assert status == 408 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "no complete request head within 0.5 s"}


def test_a_head_sent_a_byte_at_a_time_is_cut_off(serve):
    """Slowloris: every byte resets no timer; the head must be whole within the deadline."""
    address = serve(head_timeout=0.5)
    with connect(address) as conn:
        start = time.monotonic()
        for byte in GET_HEALTH[:-2] + b"X-Slow: " + b"a" * 200:
            if select.select([conn], [], [], 0)[0]:  # the server answered: stop writing
                break
            conn.sendall(bytes([byte]))
            time.sleep(0.02)
        else:
            pytest.fail("the server let the head trickle in for 4 s")
        assert time.monotonic() - start < 3
        status, _, _ = answer(conn)
    assert status == 408


def test_the_deadline_counts_for_each_request_not_the_connection(serve):
    """Requests on one keep-alive connection, together longer than the deadline, are all
    answered; a next head that stops half-way is cut off like the first would be."""
    address = serve(head_timeout=0.5)
    with connect(address) as conn:
        for _ in range(4):
            conn.sendall(GET_HEALTH)
            assert one_response(conn)[0] == 200
            time.sleep(0.3)
        conn.sendall(GET_HEALTH[:20])
        status, _, body = answer(conn)
    assert status == 408 and "request head" in json.loads(body)["detail"]


# the connection cap ------------------------------------------------------------------------
def test_connections_over_the_cap_are_refused_with_503(serve):
    address = serve(head_timeout=10, max_connections=3)
    held = [connect(address) for _ in range(3)]
    try:
        time.sleep(0.2)  # the server has accepted them
        with connect(address) as extra:
            status, headers, body = answer(extra)
        assert status == 503 and headers["content-type"] == "application/json"
        assert "3 connections open" in json.loads(body)["detail"]
        held.pop().close()
        time.sleep(0.2)
        with connect(address) as conn:
            conn.sendall(GET_HEALTH)
            assert one_response(conn)[0] == 200
    finally:
        for conn in held:
            conn.close()


# what the parser refuses -------------------------------------------------------------------
@pytest.mark.parametrize("head, reason", [
    (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
     "content-length"),
    (b"NOT HTTP AT ALL\r\n\r\n", ""),
])
def test_what_the_parser_refuses_is_a_json_400(serve, head, reason):
    address = serve()
    with connect(address) as conn:
        conn.sendall(head)
        status, headers, body = answer(conn)
    assert status == 400 and headers["content-type"] == "application/json"
    detail = json.loads(body)["detail"]
    assert detail.startswith("invalid HTTP request: ") and reason in detail.lower()


# HEAD ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/health", "/static/app.js", "/items?q=star",
                                  "/users/196/recommendations?n=3"])
def test_head_answers_like_get_without_the_body(client, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)


def test_head_of_a_post_only_path_is_405_like_get(client):
    response = client.head("/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.content == b""


# the real server ---------------------------------------------------------------------------
def test_the_real_server_guards_its_edges(server_process, model_file):
    server = server_process(model_file, "--no-access-log")
    address = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    address = (address[0], int(address[1]))
    with connect(address) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n")
        status, headers, body = answer(conn)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "Content-Length" in json.loads(body)["detail"]
    with connect(address) as conn:
        conn.sendall(b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status, headers, body = answer(conn)
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
    assert server.stop() == 0
    assert "Traceback" not in server.text


@pytest.mark.slow
def test_the_real_server_closes_a_silent_connection_within_ten_seconds(server_process,
                                                                       model_file):
    server = server_process(model_file, "--no-access-log")
    host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with connect((host, int(port))) as conn:
        conn.settimeout(20)
        start = time.monotonic()
        status, _, _ = answer(conn)
        waited = time.monotonic() - start
    assert status == 408 and 9 < waited < 12
    assert server.stop() == 0

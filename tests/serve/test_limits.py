"""Request bodies over the cap are refused with 413, whether the client declares their
length, sends them in chunks, or declares less than it sends."""

from __future__ import annotations

import asyncio
import json

import pytest

from latentrec import SGDMatrixFactorization
from latentrec.serve import create_app

CAP = 1000


@pytest.fixture(scope="module")
def small_cap_app(model_file):
    return create_app(model_file, max_body=CAP)


@pytest.fixture
def model_untouched(monkeypatch):
    """Fail the test if a refused body still reaches the model."""
    def fail(*args, **kwargs):
        raise AssertionError("the model was called")

    monkeypatch.setattr(SGDMatrixFactorization, "fold_in", fail)
    monkeypatch.setattr(SGDMatrixFactorization, "predict", fail)


def fold_in_body(n_ratings: int) -> bytes:
    return json.dumps({"ratings": [{"item": 50 + k, "rating": 4} for k in range(n_ratings)]}
                      ).encode()


def test_declared_length_over_the_cap_is_413(make_client, model_file, model_untouched):
    client = make_client(model_file, max_body=CAP)
    body = fold_in_body(100)
    assert len(body) > CAP
    response = client.post("/recommendations", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is larger than the limit of "
                                         "1,000 bytes"}


def test_chunked_body_over_the_cap_is_413(make_client, model_file, model_untouched):
    client = make_client(model_file, max_body=CAP)
    chunks = iter([fold_in_body(100)[:600], fold_in_body(100)[600:]])
    response = client.post("/recommendations", content=chunks,
                           headers={"Content-Type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_body_at_the_cap_is_served(make_client, model_file):
    client = make_client(model_file, max_body=CAP)
    body = fold_in_body(3)
    body += b" " * (CAP - len(body))
    response = client.post("/recommendations", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and len(response.json()["items"]) == 10


def call(app, headers: list, chunks: list) -> tuple[int, dict]:
    """One raw ASGI request: the headers as given and the body in ``chunks``."""
    messages = [{"type": "http.request", "body": c, "more_body": k < len(chunks) - 1}
                for k, c in enumerate(chunks)]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/recommendations",
             "raw_path": b"/recommendations", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_body_longer_than_declared_is_413(small_cap_app, model_untouched):
    body = fold_in_body(100)
    status, answer = call(small_cap_app, [(b"content-length", b"20")],
                          [body[:500], body[500:1200], body[1200:]])
    assert status == 413 and "1,000 bytes" in answer["detail"]


def test_an_invalid_content_length_is_400(small_cap_app, model_untouched):
    status, answer = call(small_cap_app, [(b"content-length", b"12abc")], [b"{}"])
    assert status == 400 and "Content-Length" in answer["detail"]


def test_the_raw_call_serves_a_body_within_the_cap(small_cap_app):
    body = fold_in_body(2)
    status, answer = call(small_cap_app, [], [body[:10], body[10:]])
    assert status == 200 and len(answer["items"]) == 10

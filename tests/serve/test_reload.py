"""Reloading the model file: guarded by the admin token, atomic for requests in flight,
and harmless when the new file is bad."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
import zipfile

import httpx
import numpy as np
import pytest

from latentrec import SGDMatrixFactorization
from latentrec.serve import server as serve_server
from latentrec.serve import state


@pytest.fixture
def client(make_client, served_copy, ml, admin):
    """A client of an app over a copy of the model, which the test may replace."""
    token = admin["Authorization"].split()[1]
    return make_client(served_copy, items=ml.items, admin_token=token)


def top_items(client, user=196, n=5):
    return [e["item"] for e in client.get(f"/users/{user}/recommendations?n={n}").json()["items"]]


# the admin token --------------------------------------------------------------------------
@pytest.mark.parametrize("with_token", [True, False])
def test_without_a_token_the_endpoint_is_disabled(make_client, model_file, admin, with_token):
    """403 either way: no token would help."""
    response = make_client(model_file).post("/admin/reload",
                                            headers=admin if with_token else {})
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert "--admin-token" in response.json()["detail"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer "}, {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbi02YjFm"},
    {"Authorization": "test-admin-token-6b1f"},
])
def test_no_bearer_token_is_401_with_the_scheme_to_use(client, headers):
    """RFC 9110: a request without credentials gets 401 and a WWW-Authenticate header."""
    response = client.post("/admin/reload", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "an admin token is required (header "
                                         "'Authorization: Bearer TOKEN')"}
    assert client.get("/health").json()["generation"] == 1


@pytest.mark.parametrize("token", ["wrong-token", "test-admin-token-6b1", "x" * 1000])
def test_a_wrong_token_is_403(client, token):
    response = client.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "the admin token is not valid"}
    assert client.get("/health").json()["generation"] == 1


# reloading -------------------------------------------------------------------------------
def test_reload_serves_the_new_file(client, served_copy, baseline_file, admin, model):
    before = top_items(client)
    assert before == model.recommend(196, n=5)[0].tolist()
    shutil.copy(baseline_file, served_copy)
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["reloaded"] is True and body["model"]["algorithm"] == "BiasBaseline"
    assert body["model"]["generation"] == 2
    assert client.get("/model").json()["algorithm"] == "BiasBaseline"
    health = client.get("/health").json()
    assert health["generation"] == 2 and health["last_reload"]["ok"] is True
    assert top_items(client) != before


def write_titles(path, ml, prefix: str) -> None:
    path.write_text("item_id\ttitle\n" + "".join(
        f"{i}\t{prefix} {t}\n" for i, t in ml.items["title"].items()))


def test_a_request_in_flight_finishes_on_the_old_snapshot(make_client, served_copy, tmp_path,
                                                          baseline_file, admin, model, ml,
                                                          monkeypatch):
    """The reload lands while a request is computing (its model's recommend is hooked to
    run the reload, through the admin endpoint, and a fresh request in the middle). The
    titles file changes with the model: the request in flight must answer with the old
    model's items *and* the old titles, all from the snapshot it started with."""
    titles = tmp_path / "titles.tsv"
    write_titles(titles, ml, "old:")
    client = make_client(served_copy, items=str(titles), admin_token=admin["Authorization"][7:])
    old_model = client.app.state.holder.current.model
    seen_in_the_middle = {}

    def recommend_while_reloading(self, *args, **kwargs):
        if self is old_model and not seen_in_the_middle:
            shutil.copy(baseline_file, served_copy)
            write_titles(titles, ml, "new:")
            seen_in_the_middle["reload"] = client.post("/admin/reload", headers=admin)
            seen_in_the_middle["model"] = client.get("/model").json()["algorithm"]
            seen_in_the_middle["recs"] = recommendations(client)
        return original(self, *args, **kwargs)

    original = SGDMatrixFactorization.recommend
    monkeypatch.setattr(SGDMatrixFactorization, "recommend", recommend_while_reloading)
    in_flight = recommendations(client)
    middle = seen_in_the_middle["recs"]

    assert seen_in_the_middle["reload"].status_code == 200
    assert seen_in_the_middle["model"] == "BiasBaseline"  # new requests: the new model
    assert [e["item"] for e in in_flight] == model.recommend(196, n=5)[0].tolist()
    assert all(e["title"].startswith("old: ") for e in in_flight)  # this one: the old snapshot
    assert all(e["title"].startswith("new: ") for e in middle)
    assert [e["item"] for e in middle] != [e["item"] for e in in_flight]
    assert recommendations(client) == middle


def recommendations(client, user=196, n=5) -> list:
    return client.get(f"/users/{user}/recommendations?n={n}").json()["items"]


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not an .npz archive"),
    (lambda p: p.write_bytes(b"PK\x03\x04 not a model"), "not an .npz archive"),
    (lambda p: p.unlink(), "no such file"),
])
def test_a_bad_file_keeps_the_old_model(client, served_copy, baseline_file, admin, model,
                                        damage, reason):
    before = top_items(client)
    damage(served_copy)
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "reload failed, still serving the model loaded at" in detail
    assert "(generation 1)" in detail and "cannot load model" in detail and reason in detail
    assert top_items(client) == before
    health = client.get("/health").json()
    assert health["generation"] == 1
    assert health["last_reload"]["ok"] is False and reason in health["last_reload"]["error"]
    # a good file afterwards is taken up as usual
    shutil.copy(baseline_file, served_copy)
    assert client.post("/admin/reload", headers=admin).json()["model"]["generation"] == 2


def test_a_tampered_array_is_refused(client, served_copy, admin):
    """A valid archive whose array no longer matches its checksum (the loader's check)."""
    with zipfile.ZipFile(served_copy) as src:
        members = {name: src.read(name) for name in src.namelist()}
    data = members["item_bias.npy"]
    members["item_bias.npy"] = data[:-1] + bytes([data[-1] ^ 0xFF])  # one bit pattern off
    with zipfile.ZipFile(served_copy, "w") as dst:
        for name, payload in members.items():
            dst.writestr(name, payload)
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 409
    assert "does not match its checksum" in response.json()["detail"]


def test_a_titles_file_that_breaks_keeps_the_old_model(make_client, served_copy, tmp_path,
                                                       admin):
    """The titles file is read again on reload, and fails the same way as the model."""
    titles = tmp_path / "titles.tsv"
    titles.write_text("item_id\ttitle\n50\tA Space Film\n")
    client = make_client(served_copy, items=str(titles), admin_token=admin["Authorization"][7:])
    titles.write_text("item_id\ttitle\n50\tA Space Film, restored\n")
    assert client.post("/admin/reload", headers=admin).status_code == 200
    assert client.get("/items/50/similar").json()["title"] == "A Space Film, restored"
    titles.unlink()
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 409 and "titles.tsv: no such file" in response.json()["detail"]
    assert client.get("/items/50/similar").json()["title"] == "A Space Film, restored"


# damaged files, through the endpoint and SIGHUP (issue: a plain-text 500, a thread's
# traceback, and /health still saying the previous reload went well) ----------------------
def rewrite(path, edit=None, text=None) -> None:
    """Write the model file again with its metadata (and arrays) changed by ``edit(meta,
    arrays)``, or its metadata's JSON text by ``text(json)``; checksums stay right."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    if edit is not None:
        edit(meta, arrays)
    raw = json.dumps(meta)
    arrays["__meta__"] = np.frombuffer((raw if text is None else text(raw)).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def set_meta(key, value):
    return lambda path: rewrite(path, lambda meta, arrays: meta.__setitem__(key, value))


def one_short(name):
    """The array ``name`` one element short, declared so (its own checksum is right)."""
    def edit(meta, arrays):
        a = arrays[name] = arrays[name][:-1]
        meta["arrays"][name] = {"dtype": a.dtype.str, "shape": list(a.shape),
                                "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    return lambda path: rewrite(path, edit)


DAMAGED = {  # name: (damage, a word of the reason)
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "npz"),
    "metadata-json": (lambda p: rewrite(p, text=lambda raw: raw[:-1]), "JSON"),
    "mean-nan-string": (set_meta("global_mean", "NaN"), "global_mean"),
    "mean-nan": (set_meta("global_mean", float("nan")), "global_mean"),
    "array-shape": (one_short("item_bias"), "item_bias"),
    "history-string": (set_meta("history", "not a list"), "history"),
    "empty": (lambda p: p.write_bytes(b""), "npz"),
}


@pytest.fixture(scope="module")
def damaged_files(model_file, tmp_path_factory) -> dict:
    """{name: a damaged copy of the served model file}, one per kind of damage."""
    folder = tmp_path_factory.mktemp("damaged")
    files = {}
    for name, (damage, _) in DAMAGED.items():
        files[name] = folder / f"{name}.npz"
        shutil.copy(model_file, files[name])
        damage(files[name])
    return files


def assert_still_serving(client, before: list, generation: int, reason: str) -> dict:
    """The old model answers, and /health says the last reload failed, and why."""
    assert top_items(client) == before
    health = client.get("/health").json()
    assert health["generation"] == generation
    last = health["last_reload"]
    assert last["ok"] is False and "cannot load model" in last["error"]
    assert reason in last["error"]
    return last


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_file_is_409_and_the_old_model_serves_on(client, served_copy, damaged_files,
                                                            admin, name):
    before = top_items(client)
    assert client.post("/admin/reload", headers=admin).status_code == 200  # last: ok
    shutil.copy(damaged_files[name], served_copy)
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert "reload failed, still serving the model loaded at" in detail
    assert "(generation 2)" in detail and DAMAGED[name][1] in detail
    assert_still_serving(client, before, 2, DAMAGED[name][1])


@pytest.mark.parametrize("error, named", [
    (MemoryError(), "MemoryError"),
    (ValueError("could not broadcast input array from shape (3,) into shape (2,)"),
     "ValueError: could not broadcast"),
    (KeyError("item_bias"), "KeyError: 'item_bias'"),
    (IndexError("index 1682 is out of bounds"), "IndexError: index 1682"),
])
def test_any_error_while_loading_is_a_failed_reload(client, served_copy, admin, monkeypatch,
                                                    error, named):
    """Not only the loader's own errors: whatever loading raises leaves the old model."""
    before = top_items(client)
    assert client.post("/admin/reload", headers=admin).json()["model"]["generation"] == 2
    first = client.get("/health").json()["last_reload"]
    assert first["ok"] is True

    def fail(path):
        raise error

    monkeypatch.setattr(state, "load_model", fail)
    response = client.post("/admin/reload", headers=admin)
    assert response.status_code == 409
    assert f"{served_copy}: cannot load model: {named}" in response.json()["detail"]
    last = assert_still_serving(client, before, 2, named)
    assert last["at"] >= first["at"]


def test_a_failed_sighup_reload_is_one_log_line(client, served_copy, monkeypatch, caplog):
    """What the SIGHUP handler's thread runs: nothing escapes it (in the thread, threading
    would print it as a traceback), one line in the log, and the old model served."""
    def fail(path):
        raise MemoryError

    monkeypatch.setattr(state, "load_model", fail)
    holder = client.app.state.holder
    with caplog.at_level(logging.INFO, logger="latentrec"):
        serve_server._reload(holder)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == ("reload failed, still serving generation 1: "
                                   f"{served_copy}: cannot load model: MemoryError")
    assert holder.current.generation == 1 and holder.last_reload["ok"] is False


def test_an_error_outside_loading_is_one_log_line_too(caplog):
    class Broken:
        def reload(self):
            raise RuntimeError("the lock is broken")

    with caplog.at_level(logging.INFO, logger="latentrec"):
        serve_server._reload(Broken())
    [record] = caplog.records
    assert record.exc_info is None and "RuntimeError: the lock is broken" in record.getMessage()


def test_sighup_with_damaged_files(server_process, served_copy, damaged_files, wait_for):
    """The real process, one damaged file after another, each reloaded by SIGHUP."""
    server = server_process(served_copy, "--no-access-log")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        before = http.get("/users/196/recommendations").json()
        last = None
        for name, path in damaged_files.items():
            shutil.copy(path, served_copy)
            server.signal(signal.SIGHUP)
            wait_for(lambda seen=last: http.get("/health").json()["last_reload"] != seen)
            health = http.get("/health").json()
            last = health["last_reload"]
            assert health["generation"] == 1 and last["ok"] is False, name
            assert DAMAGED[name][1] in last["error"], name
            assert http.get("/users/196/recommendations").json() == before
    assert server.stop() == 0
    failures = [line for line in server.output if "reload failed" in line]
    assert len(failures) == len(damaged_files), server.text
    assert all("still serving generation 1: " in line for line in failures)
    assert "Traceback" not in server.text


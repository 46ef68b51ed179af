"""Reloading the model file: guarded by the admin token, atomic for requests in flight,
and harmless when the new file is bad."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from latentrec import SGDMatrixFactorization


@pytest.fixture
def client(make_client, served_copy, ml, admin):
    """A client of an app over a copy of the model, which the test may replace."""
    token = admin["Authorization"].split()[1]
    return make_client(served_copy, items=ml.items, admin_token=token)


def top_items(client, user=196, n=5):
    return [e["item"] for e in client.get(f"/users/{user}/recommendations?n={n}").json()["items"]]


# the admin token --------------------------------------------------------------------------
def test_without_a_token_the_endpoint_is_disabled(make_client, model_file, admin):
    response = make_client(model_file).post("/admin/reload", headers=admin)
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert "--admin-token" in response.json()["detail"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Bearer "},
    {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbi02YjFm"},
    {"Authorization": "test-admin-token-6b1f"},
])
def test_a_missing_or_bad_token_is_403(client, headers):
    response = client.post("/admin/reload", headers=headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "a valid admin token is required (header "
                                         "'Authorization: Bearer TOKEN')"}
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

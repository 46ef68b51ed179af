"""The Host check against DNS rebinding: a page on another site that points its own name
at 127.0.0.1 sends that name in ``Host``, and the service refuses it."""

from __future__ import annotations

import pytest

from latentrec.serve.hosts import allowed_hosts, host_of


@pytest.fixture(scope="module")
def local_client(make_client, model_file):
    """An app as ``latentrec serve`` builds it for --host 127.0.0.1 --allowed-host recs.lan."""
    return make_client(model_file, allowed_hosts=allowed_hosts("127.0.0.1", ["recs.lan"]))


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000",
                                  "[::1]:8000", "[::1]", "LOCALHOST", "localhost.:8000",
                                  "recs.lan", "Recs.LAN:80"])
def test_names_of_this_machine_and_given_names_are_served(local_client, host):
    response = local_client.get("/health", headers={"Host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example", "[::2]:8000", "", "recs.lan.evil"])
def test_other_names_are_400(local_client, host):
    response = local_client.get("/users/196/recommendations", headers={"Host": host})
    assert response.status_code == 400
    assert "--allowed-host" in response.json()["detail"]
    assert local_client.post("/predict", headers={"Host": host}, json={
        "pairs": [{"user": 196, "item": 50}]}).status_code == 400


@pytest.mark.parametrize("host, extra, expected", [
    ("127.0.0.1", [], ["127.0.0.1", "::1", "localhost"]),
    ("localhost", ["Recs.LAN", "[fe80::1]"], ["127.0.0.1", "::1", "fe80::1", "localhost",
                                              "recs.lan"]),
    ("192.168.1.5", [], ["127.0.0.1", "192.168.1.5", "::1", "localhost"]),
    ("0.0.0.0", [], None),  # every address, no name given: any name
    ("::", [], None),
    ("0.0.0.0", ["recs.lan"], ["127.0.0.1", "::1", "localhost", "recs.lan"]),
])
def test_allowed_hosts(host, extra, expected):
    assert allowed_hosts(host, extra) == expected


@pytest.mark.parametrize("header, host", [
    ("example.com:8000", "example.com"), ("[::1]:8000", "::1"), ("[::1]", "::1"),
    ("EXAMPLE.com.", "example.com"), (" 10.0.0.1 ", "10.0.0.1"), ("::1", "::1"),
])
def test_host_of(header, host):
    assert host_of(header) == host


def test_without_allowed_hosts_any_name_is_served(client):
    assert client.get("/health", headers={"Host": "anything.example"}).status_code == 200

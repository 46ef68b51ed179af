"""The OpenAPI description at /openapi.json is true: schemathesis, with every one of its
checks, against the real ``latentrec serve`` (status codes, content types, headers and
bodies as documented; what the schema allows is accepted, and what it forbids refused).

Bounded in time: a few dozen cases per operation and a fixed seed (about 15 s on 2 cores).
LATENTREC_CONTRACT_EXAMPLES and LATENTREC_CONTRACT_SEED run it longer or differently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentrec import Ratings, SGDMatrixFactorization

HOOKS = Path(__file__).with_name("contract_hooks.py")
TOKEN = "contract-admin-token"

# What the schema cannot say, told to schemathesis:
# - a body over --max-body is refused with 413 (documented on every operation) whatever it
#   says: no JSON Schema keyword bounds a body's size in bytes, so a long valid body is
#   refused, and an invalid one may be refused for its size first;
# - known ids, so requests also reach the model (half or more of the time), not only 404.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[dictionaries.users]
values = ["196", "186", "22", "1"]
[dictionaries.items]
values = ["50", "172", "181", "1"]

[parameters]
"path.user_id" = { dictionary = "users", probability = 0.5 }
"path.item_id" = { dictionary = "items", probability = 0.5 }
"body.pairs[*].user" = { dictionary = "users", probability = 0.7 }
"body.pairs[*].item" = { dictionary = "items", probability = 0.7 }
"body.ratings[*].item" = { dictionary = "items", probability = 0.7 }
"""


def test_the_openapi_description_is_true(server_process, model_file, tmp_path):
    server = server_process(model_file, "--no-access-log",
                            env={"LATENTREC_ADMIN_TOKEN": TOKEN})
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config),
        "run", f"{server.url}openapi.json", "--checks", "all",
        "--phases", "examples,coverage,fuzzing", "--workers", "1",
        "--max-examples", os.environ.get("LATENTREC_CONTRACT_EXAMPLES", "30"),
        "--seed", os.environ.get("LATENTREC_CONTRACT_SEED", "1"),
        "--request-timeout", "10", "--header", f"Authorization: Bearer {TOKEN}",
        "--output-truncate", "true",
    ]
    # run in tmp_path: schemathesis and hypothesis keep their caches in the working folder
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
                            check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    assert " passed" in result.stdout and "generated" in result.stdout
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/health").status_code == 200  # still up after all that
    assert server.stop() == 0
    assert "Traceback" not in server.text, server.text[-5000:]


def test_the_schema_declares_the_models_rating_range_and_limits(make_client, model_file):
    client = make_client(model_file, max_n=300)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    rating = schemas["ItemRating"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"]) == (1.0, 5.0)
    assert schemas["FoldInIn"]["properties"]["n"]["maximum"] == 300
    body = {"ratings": [{"item": 50, "rating": rating["minimum"]},
                        {"item": 172, "rating": rating["maximum"]}], "n": 300}
    assert client.post("/recommendations", json=body).status_code == 200
    for rating_value, n in ((0.0, 10), (5.0001, 10), (3.0, 301)):
        body = {"ratings": [{"item": 50, "rating": rating_value}], "n": n}
        assert client.post("/recommendations", json=body).status_code == 422


def test_the_schema_follows_a_reload(make_client, served_copy, admin, tmp_path):
    """The rating range in the schema is the served model's: after a reload, the new one's
    (a model of ratings 0.1 to 0.7, stored as float32, declares 0.1 and 0.7)."""
    client = make_client(served_copy, admin_token=admin["Authorization"][7:])
    values = np.array([0.1, 0.3, 0.7, 0.5, 0.2, 0.6], dtype=np.float32)
    ratings = Ratings.from_arrays([1, 1, 2, 2, 3, 3], [1, 2, 2, 3, 1, 3], values)
    SGDMatrixFactorization(n_factors=2, n_epochs=3, random_state=0).fit(ratings).save(
        served_copy)
    assert rating_schema(client) == (1.0, 5.0)
    assert client.post("/admin/reload", headers=admin).status_code == 200
    assert rating_schema(client) == (0.1, 0.7)


def rating_schema(client) -> tuple[float, float]:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    rating = schemas["ItemRating"]["properties"]["rating"]
    return rating["minimum"], rating["maximum"]


def test_every_operation_documents_the_answers_of_the_edge(client):
    """400 (Host, Content-Length) and 413 (body cap) come before any route, to any request."""
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status in ("400", "413"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (
                    method, path, status)


def test_the_admin_answers_are_documented(client):
    responses = client.get("/openapi.json").json()["paths"]["/admin/reload"]["post"][
        "responses"]
    assert {"200", "401", "403", "409"} <= set(responses)
    assert "WWW-Authenticate" in responses["401"]["headers"]


def search_pattern(client) -> re.Pattern:
    [q] = [p for p in client.get("/openapi.json").json()["paths"]["/items"]["get"][
        "parameters"] if p["name"] == "q"]
    return re.compile(q["schema"]["pattern"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8"), max_size=12))
def test_the_search_pattern_is_what_the_server_checks(client, text):
    """A search text the schema's pattern allows is searched; one it forbids is a 422."""
    allowed = search_pattern(client).fullmatch(text) is not None
    for path in ("/items", "/users"):
        response = client.get(path, params={"q": text})
        assert response.status_code == (200 if allowed else 422), (path, text)


@pytest.mark.parametrize("body", [
    {"pairs": [{"user": 196.0, "item": 242.0}]},
    {"pairs": [{"user": 196, "item": 242}], "clip": None},
])
def test_json_integers_with_a_zero_fraction_are_integers(client, body):
    """JSON Schema's integer (what the schema says of ids and n) takes 196.0."""
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["user"] == 196
    folded = client.post("/recommendations", json={"ratings": [{"item": 50.0, "rating": 5}],
                                                   "n": 3.0})
    assert folded.status_code == 200 and len(folded.json()["items"]) == 3


def test_a_body_that_is_not_utf8_is_422_like_other_bad_json(client):
    response = client.post("/predict", content=b'{"pairs": "\xff"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body"], "type": "json_invalid",
                                          "msg": "JSON decode error: not UTF-8 text"}]

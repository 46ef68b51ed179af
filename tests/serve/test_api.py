"""Every endpoint of the HTTP service through an HTTP client: answers agree with the
library, ids keep their types, and every bad request gets its status code and a reason."""

from __future__ import annotations

import pytest

import latentrec
from latentrec import Ratings, SGDMatrixFactorization
from latentrec.errors import ParameterError
from latentrec.serve import create_app


def items_of(body, key="items"):
    return [e["item"] for e in body[key]]


# answers ------------------------------------------------------------------------------
def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["generation"] == 1
    assert body["last_reload"] is None
    assert (body["max_n"], body["max_body"]) == (1000, 65536)


def test_model_metadata(client, model):
    body = client.get("/model").json()
    assert body["algorithm"] == "SGDMatrixFactorization"
    assert (body["n_users"], body["n_items"], body["n_ratings"]) == (943, 1682, 100_000)
    assert body["n_factors"] == 100 and body["params"]["n_epochs"] == 10
    assert body["format_version"] == 1 and body["titles"] is True
    assert body["training"]["epochs"] == 10 == len(body["history"])
    assert body["history"][-1]["train_rmse"] == pytest.approx(model.history_[-1]["train_rmse"])
    assert body["rating_range"] == [1.0, 5.0] and body["file"] == "ml100k.npz"


def test_recommendations_match_the_library_and_carry_titles(client, model, ml):
    body = client.get("/users/196/recommendations", params={"n": 10}).json()
    ids, scores = model.recommend(196, n=10)
    assert body["user"] == 196
    assert items_of(body) == ids.tolist()
    assert [e["score"] for e in body["items"]] == pytest.approx(scores.tolist())
    star_wars = client.get("/users/196/recommendations", params={"n": 1000}).json()
    titles = {e["item"]: e["title"] for e in star_wars["items"]}
    assert titles[50] == "Star Wars (1977)"
    assert all(isinstance(e["item"], int) for e in body["items"])


def test_exclude_seen_false_can_return_rated_items(client, model):
    seen = set(items_of(client.get("/users/196/items?n=1000").json()))
    kept = items_of(client.get("/users/196/recommendations?n=50").json())
    all_ = items_of(client.get("/users/196/recommendations?n=50&exclude_seen=false").json())
    assert not seen & set(kept)
    assert seen & set(all_)
    assert all_ == model.recommend(196, n=50, exclude_seen=False)[0].tolist()


def test_similar_items(client, model):
    body = client.get("/items/50/similar?n=5").json()
    assert body["item"] == 50 and body["title"] == "Star Wars (1977)"
    assert items_of(body) == model.similar_items(50, n=5)[0].tolist()
    assert body["items"][0]["title"] == "Empire Strikes Back, The (1980)"


def test_similar_users(client, model):
    body = client.get("/users/196/similar?n=4").json()
    assert body["user"] == 196
    assert [e["user"] for e in body["users"]] == model.similar_users(196, n=4)[0].tolist()


def test_rated_items_of_a_user_most_rated_first(client, model):
    body = client.get("/users/196/items?n=5").json()
    assert body["total"] == 39 == model.seen_[model.user_map_.to_index(196)].nnz
    counts = [e["n_ratings"] for e in body["items"]]
    assert len(counts) == 5 and counts == sorted(counts, reverse=True)
    assert body["items"][0]["title"] == "English Patient, The (1996)"


def test_item_search_by_title_and_id(client):
    star = client.get("/items", params={"q": "STAR", "n": 3}).json()
    assert star["total"] == 20 and star["items"][0] == {
        "item": 50, "title": "Star Wars (1977)", "n_ratings": 583}
    by_id = client.get("/items", params={"q": "172"}).json()
    assert by_id["items"][0]["item"] == 172  # an exact id first
    assert client.get("/items", params={"q": "no such film zzz"}).json() == {
        "total": 0, "items": []}
    popular = client.get("/items").json()
    assert popular["total"] == 1682 and len(popular["items"]) == 20
    assert popular["items"][0]["n_ratings"] == 583


def test_user_search(client):
    body = client.get("/users", params={"q": "19", "n": 3}).json()
    assert body["total"] == 11 and body["users"][0] == {"user": 19, "n_ratings": 20}
    assert all(str(u["user"]).startswith("19") for u in body["users"])


def test_predict_pairs(client, model):
    pairs = [{"user": 196, "item": 242}, {"user": "186", "item": "302"}]
    body = client.post("/predict", json={"pairs": pairs}).json()
    expected = model.predict([196, 186], [242, 302])
    assert [(p["user"], p["item"]) for p in body["predictions"]] == [(196, 242), (186, 302)]
    assert [p["prediction"] for p in body["predictions"]] == pytest.approx(expected.tolist())
    clipped = client.post("/predict", json={"pairs": pairs * 50, "clip": True}).json()
    assert all(1 <= p["prediction"] <= 5 for p in clipped["predictions"])


def test_fold_in_recommendations_for_a_new_user(client, model):
    ratings = [{"item": 50, "rating": 5}, {"item": 172, "rating": 5}, {"item": "181", "rating": 4}]
    body = client.post("/recommendations", json={"ratings": ratings, "n": 5}).json()
    folded = model.fold_in({50: 5, 172: 5, 181: 4})
    assert body["user"] is None
    assert items_of(body) == model.recommend(folded, n=5)[0].tolist()
    assert not {50, 172, 181} & set(items_of(body)) and body["items"][0]["title"]
    with_seen = client.post("/recommendations", json={"ratings": ratings, "n": 1000,
                                                      "exclude_seen": False}).json()
    assert {50, 172, 181} <= set(items_of(with_seen))


def test_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_openapi_documents_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/health", "/model", "/users", "/users/{user_id}/items",
        "/users/{user_id}/recommendations", "/users/{user_id}/similar", "/items",
        "/items/{item_id}/similar", "/predict", "/recommendations", "/admin/reload"}
    n = next(p for p in paths["/users/{user_id}/recommendations"]["get"]["parameters"]
             if p["name"] == "n")
    assert n["schema"]["maximum"] == 1000


# errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("url, message", [
    ("/users/9999/recommendations", "unknown user id 9999"),
    ("/users/0196/recommendations", "unknown user id '0196'"),  # not the canonical spelling
    ("/users/alice/similar", "unknown user id 'alice'"),
    ("/users/9999/items", "unknown user id 9999"),
    ("/items/99999/similar", "unknown item id 99999"),
])
def test_unknown_ids_are_404_with_a_message(client, url, message):
    response = client.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": message}


@pytest.mark.parametrize("body, message", [
    ({"pairs": [{"user": 196, "item": 99999}]}, "unknown item id 99999"),
    ({"pairs": [{"user": "bob", "item": 50}]}, "unknown user id 'bob'"),
])
def test_unknown_ids_in_predict_are_404(client, body, message):
    response = client.post("/predict", json=body)
    assert (response.status_code, response.json()["detail"]) == (404, message)


def test_unknown_item_in_fold_in_is_404(client):
    response = client.post("/recommendations", json={"ratings": [{"item": 0, "rating": 4}]})
    assert (response.status_code, response.json()["detail"]) == (404, "unknown item id 0")


@pytest.mark.parametrize("url", [
    "/users/196/recommendations?n=0", "/users/196/recommendations?n=1001",
    "/users/196/recommendations?n=-3", "/users/196/recommendations?n=ten",
    "/users/196/recommendations?exclude_seen=perhaps", "/items/50/similar?n=0",
    "/users/196/similar?n=100000", "/users/196/items?n=0", "/items?n=1001",
    "/users?n=0", "/items?q=" + "x" * 101, "/users/" + "9" * 201 + "/similar",
])
def test_bad_query_parameters_are_422(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("body, fragment", [
    ({"pairs": []}, "at least 1"),
    ({"pairs": [{"user": 196}]}, "Field required"),
    ({"pairs": [{"user": 1.5, "item": 50}]}, "valid integer"),
    ({"pairs": [{"user": True, "item": 50}]}, "valid integer"),
    ({"pairs": [{"user": 196, "item": 50, "rating": 3}]}, "Extra inputs"),
    ({"pairs": [{"user": 196, "item": 50}] * 1001}, "at most 1000"),
    ({"pairs": [{"user": "", "item": 50}]}, "at least 1 character"),
    ({"pairs": [{"user": 196, "item": 50}], "clip": "sometimes"}, "valid boolean"),
])
def test_invalid_predict_bodies_are_422(client, body, fragment):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert fragment in str(response.json()["detail"])


@pytest.mark.parametrize("body, fragment", [
    ({"ratings": []}, "at least 1"),
    ({"ratings": [{"item": 50, "rating": "five"}]}, "valid number"),
    ({"ratings": [{"item": 50, "rating": None}]}, "valid number"),
    ({"ratings": [{"item": 50, "rating": 5}], "n": 0}, "greater than or equal to 1"),
    ({"ratings": [{"item": 50, "rating": 5}], "n": 1001}, "less than or equal to 1000"),
    ({"ratings": [{"item": 50, "rating": 5}, {"item": "50", "rating": 1}]},
     "item 50 is rated more than once"),
])
def test_invalid_fold_in_bodies_are_422(client, body, fragment):
    response = client.post("/recommendations", json=body)
    assert response.status_code == 422
    assert fragment in str(response.json()["detail"])


@pytest.mark.parametrize("content", [
    b'{"ratings": [{"item": 50, "rating": 5}',  # cut short
    b"{'ratings': []}",  # not JSON
    b'{"ratings": [{"item": 50, "rating": NaN}]}',  # JSON has no NaN
    b'{"ratings": [{"item": 50, "rating": 1e999}]}',  # infinite
    b"\xff\xfe not utf-8",
])
def test_malformed_json_never_reaches_the_model(client, model, content, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model was called")

    monkeypatch.setattr(type(model), "fold_in", fail)
    response = client.post("/recommendations", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_a_model_without_factors_cannot_find_similar_items(make_client, baseline_file):
    client = make_client(baseline_file)
    response = client.get("/items/50/similar")
    assert response.status_code == 422
    assert "no latent factors" in response.json()["detail"]
    assert client.get("/users/196/recommendations").status_code == 200


@pytest.mark.parametrize("kwargs, message", [
    ({"max_n": 0}, "max_n must be a positive integer"),
    ({"max_body": True}, "max_body must be a positive integer"),
    ({"admin_token": " "}, "admin token is empty"),
])
def test_create_app_checks_its_limits(model_file, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        create_app(model_file, **kwargs)


def test_a_smaller_cap_on_n(make_client, model_file):
    client = make_client(model_file, max_n=5)
    assert len(client.get("/users/196/recommendations").json()["items"]) == 5
    assert client.get("/users/196/recommendations?n=6").status_code == 422
    body = {"ratings": [{"item": 50, "rating": 5}], "n": 6}
    assert client.post("/recommendations", json=body).status_code == 422


# titles and ids -----------------------------------------------------------------------
def test_without_items_titles_are_null(make_client, model_file):
    client = make_client(model_file)
    assert client.get("/model").json()["titles"] is False
    body = client.get("/items/50/similar?n=2").json()
    assert body["title"] is None and all(e["title"] is None for e in body["items"])
    assert client.get("/items?q=star").json()["total"] == 0  # only ids can match then


@pytest.mark.parametrize("write", ["tsv", "u.item", "dict"])
def test_item_titles_from_a_file_or_a_mapping(make_client, model_file, tmp_path, write):
    if write == "tsv":
        items = tmp_path / "films.tsv"
        items.write_text("movie_id\tname\n50\tA Space Film\n172\tIts Sequel\n")
    elif write == "u.item":
        items = tmp_path / "u.item"
        items.write_bytes("50|A Space Film (1977)|01-Jan-1977||http://x|0|1\n"
                          "172|Its Sequel, Caf\xe9 (1980)|01-Jan-1980||http://y|0|1\n"
                          .encode("latin-1"))
    else:
        items = {"50": "A Space Film", 172: "Its Sequel"}
    client = make_client(model_file, items=items)
    body = client.get("/items/50/similar?n=1").json()
    assert body["title"].startswith("A Space Film")
    assert body["items"][0]["item"] == 172 and body["items"][0]["title"].startswith("Its Sequel")
    assert client.get("/items?q=sequel").json()["items"][0]["item"] == 172


def test_string_ids_stay_strings(make_client, small_ratings: Ratings, tmp_path):
    path = tmp_path / "strings.npz"
    SGDMatrixFactorization(n_factors=3, n_epochs=5, random_state=0).fit(small_ratings).save(path)
    client = make_client(path)
    body = client.get("/users/u01/recommendations?n=3").json()
    assert body["user"] == "u01" and all(isinstance(i, int) for i in items_of(body))
    assert client.get("/users/1/recommendations").status_code == 404
    assert client.get("/items/10/similar").json()["item"] == 10
    pred = client.post("/predict", json={"pairs": [{"user": "u01", "item": "10"}]}).json()
    assert pred["predictions"][0]["user"] == "u01" and pred["predictions"][0]["item"] == 10
    similar = client.get("/users/u01/similar?n=2").json()["users"]
    assert [u["user"] for u in similar] == latentrec.load(path).similar_users("u01", n=2)[0].tolist()

"""Every endpoint of the HTTP service through an HTTP client: answers agree with the
library, ids keep their types, and every bad request gets its status code and a reason."""

from __future__ import annotations

import json
import re

import numpy as np
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


def test_model_metadata_is_the_models_own_summary(client, model):
    body, summary = client.get("/model").json(), json.loads(json.dumps(model.summary()))
    assert body["algorithm"] == summary.pop("class")
    assert body["training"] == summary.pop("history")
    assert {k: body[k] for k in summary} == summary


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


def test_similarity_searches_run_on_one_thread_of_their_own(client, monkeypatch):
    import threading

    model = client.app.state.holder.current.model
    threads = []
    for name in ("similar_items", "similar_users"):
        search = getattr(model, name)
        monkeypatch.setattr(model, name, lambda *a, _s=search, **kw: (
            threads.append(threading.current_thread().name), _s(*a, **kw))[1])
    assert client.get("/items/50/similar?n=3").status_code == 200
    assert client.get("/users/196/similar?n=3").status_code == 200
    assert client.get("/items/1/similar?n=3").status_code == 200
    assert len(threads) == 3 and len(set(threads)) == 1
    assert threads[0].startswith("latentrec-similarity")


def test_similarity_searches_past_the_queue_cap_are_answered_503(client):
    from latentrec.serve.app import MAX_SIMILARITY_QUEUE

    state = client.app.state
    state.similarity_queue = MAX_SIMILARITY_QUEUE
    try:
        for path in ("/items/50/similar", "/users/196/similar"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert "similarity searches are already waiting" in response.json()["detail"]
        assert client.get("/users/196/recommendations").status_code == 200
    finally:
        state.similarity_queue = 0
    assert client.get("/items/50/similar").status_code == 200
    assert state.similarity_queue == 0


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
    every = client.get("/users/196/items?n=100").json()["items"]
    assert sorted(e["item"] for e in every) == sorted(model.seen_items(196).tolist())


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


def test_predict_clips_as_the_model_does_by_default(client, model):
    """clip left out or null: the model's default (a rating model clips to its range);
    false: the raw values, which go past the range for some pairs."""
    users, items = np.repeat(model.user_map_.ids[:40], 25), np.tile(model.item_map_.ids[:25], 40)
    raw = model.predict(users, items, clip=False)
    outside = np.flatnonzero((raw < 1) | (raw > 5))[:20]
    assert outside.size, "no raw prediction outside 1 to 5 to test with"
    pairs = [{"user": int(users[k]), "item": int(items[k])} for k in outside]

    def served(**clip):
        body = client.post("/predict", json={"pairs": pairs, **clip}).json()
        return [p["prediction"] for p in body["predictions"]]

    clipped = model.predict(users[outside], items[outside])  # the library's default
    assert clipped.min() >= 1 and clipped.max() <= 5
    assert served() == pytest.approx(clipped.tolist())
    assert served(clip=None) == pytest.approx(clipped.tolist())
    assert served(clip=True) == pytest.approx(clipped.tolist())
    assert served(clip=False) == pytest.approx(raw[outside].tolist())


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


def test_the_docs_load_nothing_from_elsewhere(client):
    """Swagger UI's script and style come from this server, so /docs works offline."""
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    assert "'/openapi.json'" in page.text
    for ending, kind in ((".js", "javascript"), (".css", "css")):
        [url] = [u for u in urls if u.endswith(ending)]
        response = client.get(url)
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert len(response.content) > 100_000  # the real Swagger UI, not a stub
    assert client.get("/redoc").status_code == 404  # not offered: it would need a CDN too


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
    "/items?q=%00", "/items?q=star%0Awars", "/users?q=1%7F",
])
def test_bad_query_parameters_are_422(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_control_characters_in_a_search_are_422(client):
    """A NUL once matched every item (numpy's strings drop trailing NULs)."""
    [error] = client.get("/items?q=%00").json()["detail"]
    assert error["loc"] == ["query", "q"] and "control characters" in error["msg"]
    assert client.get("/items?q=star%20wars").json()["total"] == 1  # a space is text


@pytest.mark.parametrize("body, fragment", [
    ({"pairs": []}, "at least 1"),
    ({"pairs": [{"user": 196}]}, "Field required"),
    ({"pairs": [{"user": 1.5, "item": 50}]}, "valid integer"),
    ({"pairs": [{"user": True, "item": 50}]}, "valid integer"),
    ({"pairs": [{"user": 196, "item": 50, "rating": 3}]}, "Extra inputs"),
    ({"pairs": [{"user": 196, "item": 50}] * 1001}, "at most 1000"),
    ({"pairs": [{"user": "", "item": 50}]}, "at least 1 character"),
    ({"pairs": [{"user": 196, "item": 50}], "clip": "sometimes"}, "valid boolean"),
    ({"pairs": [{"user": 196, "item": 50}], "clip": "yes"}, "valid boolean"),
    ({"pairs": [{"user": 196, "item": 50}], "clip": 1}, "valid boolean"),
])
def test_invalid_predict_bodies_are_422(client, body, fragment):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert fragment in str(response.json()["detail"])


@pytest.mark.parametrize("body, fragment", [
    ({"ratings": [{"item": 50, "rating": 5}], "n": True}, "valid integer"),
    ({"ratings": [{"item": 50, "rating": 5}], "n": "5"}, "valid integer"),
    ({"ratings": [{"item": 50, "rating": 5}], "n": 5.5}, "valid integer"),
    ({"ratings": [{"item": 50, "rating": 5}], "exclude_seen": "off"}, "valid boolean"),
    ({"ratings": [{"item": 50, "rating": 5}], "exclude_seen": 0}, "valid boolean"),
    ({"ratings": [{"item": 50, "rating": True}]}, "valid number"),
    ({"ratings": [{"item": 50, "rating": "5"}]}, "valid number"),
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


def test_integer_ratings_are_numbers(client, model):
    """Strict bodies still take a JSON integer where a rating (a float) is expected."""
    as_int = client.post("/recommendations", json={"ratings": [{"item": 50, "rating": 5}]})
    as_float = client.post("/recommendations", json={"ratings": [{"item": 50, "rating": 5.0}]})
    assert as_int.status_code == 200 and as_int.json() == as_float.json()


@pytest.mark.parametrize("rating", [100, 5.5, 0.999, -1, 1e39, -1e300])
def test_ratings_outside_the_models_range_are_422(client, model, rating, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model was called")

    monkeypatch.setattr(type(model), "fold_in", fail)
    body = {"ratings": [{"item": 172, "rating": 4}, {"item": 50, "rating": rating}]}
    response = client.post("/recommendations", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == [{
        "loc": ["body", "ratings", 1, "rating"], "type": "value_error",
        "msg": f"rating {rating:g} is outside the model's rating range, 1 to 5"}]


def test_the_ends_of_the_range_are_ratings(client):
    body = {"ratings": [{"item": 50, "rating": 1}, {"item": 172, "rating": 5.0}]}
    assert client.post("/recommendations", json=body).status_code == 200


def test_the_range_allows_float32_rounding(make_client, tmp_path):
    """Ratings are stored as float32: the range of a model trained on 0.1 to 0.7 is
    0.10000000149 to 0.69999998808, and the 0.1 and 0.7 a client sends are in it."""
    values = np.array([0.1, 0.3, 0.7, 0.5, 0.2, 0.6], dtype=np.float32)
    ratings = Ratings.from_arrays([1, 1, 2, 2, 3, 3], [1, 2, 2, 3, 1, 3], values)
    path = tmp_path / "tenths.npz"
    SGDMatrixFactorization(n_factors=2, n_epochs=3, random_state=0).fit(ratings).save(path)
    client = make_client(path)
    ends = {"ratings": [{"item": 1, "rating": 0.1}, {"item": 2, "rating": 0.7}]}
    assert client.post("/recommendations", json=ends).status_code == 200
    below = {"ratings": [{"item": 1, "rating": 0.0999}]}
    assert client.post("/recommendations", json=below).status_code == 422


def test_non_finite_scores_are_left_out(client, model, monkeypatch):
    """Never a null score (a page calls score.toFixed), even if a model produced one."""
    def broken(self, user, n=10, exclude_seen=True, by=None):
        return np.array([50, 172, 181]), np.array([4.5, np.nan, np.inf], dtype=np.float32)

    monkeypatch.setattr(type(model), "recommend", broken)
    for response in (client.get("/users/196/recommendations"),
                     client.post("/recommendations", json={"ratings": [{"item": 1,
                                                                         "rating": 4}]})):
        assert response.status_code == 200
        assert [(e["item"], e["score"]) for e in response.json()["items"]] == [(50, 4.5)]


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
    """The model's own refusal is a 422 shaped like every other 422: a list."""
    client = make_client(baseline_file)
    response = client.get("/items/50/similar")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == [] and error["type"] == "model_error"
    assert "no latent factors" in error["msg"]
    assert client.get("/users/196/recommendations").status_code == 200


def test_every_422_detail_is_a_list_of_loc_msg_type(client, make_client, baseline_file):
    answers = [client.get("/users/196/recommendations?n=0"),
               client.post("/recommendations", json={"ratings": [{"item": 50, "rating": 9}]}),
               client.post("/recommendations", content=b"[" * 20_000,
                           headers={"Content-Type": "application/json"}),
               make_client(baseline_file).get("/users/196/similar")]
    for response in answers:
        assert response.status_code == 422, response.text
        for error in response.json()["detail"]:
            assert set(error) == {"loc", "msg", "type"} and isinstance(error["loc"], list)


def test_json_nested_too_deeply_is_422_like_other_bad_json(client):
    """json.loads fails with RecursionError, which FastAPI alone answers with a bare 400."""
    response = client.post("/recommendations", content=b"[" * 20_000,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body"], "msg": "JSON decode error: "
                                          "nested too deeply", "type": "json_invalid"}]
    assert client.get("/no/such/page").json() == {"detail": "Not Found"}  # others unchanged


def test_a_number_of_5000_digits_is_422_like_other_bad_json(client):
    """json.loads refuses ints past 4,300 digits with a ValueError: a bare 400 before."""
    body = b'{"pairs": [{"user": ' + b"9" * 5000 + b', "item": 1}]}'
    response = client.post("/predict", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body"], "msg": "JSON decode error: "
                                          "a number too long", "type": "json_invalid"}]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_n": 0}, "max_n must be a positive integer"),
    ({"max_body": True}, "max_body must be a positive integer"),
    ({"admin_token": " "}, "admin token is empty"),
    ({"admin_token": "tök"}, r"admin token must be ASCII text"),
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


@pytest.fixture
def slashed_client(make_client, tmp_path):
    """A model whose string ids hold "/" (and a space), as ids may in any data."""
    users = ["a/b", "a/b", "c", "c", " d ", " d "]
    items = ["x/1", "y", "y", "z/2/3", "x/1", "z/2/3"]
    ratings = Ratings.from_arrays(np.array(users, dtype=object), np.array(items, dtype=object),
                                  np.array([5, 3, 4, 2, 1, 4], np.float32))
    path = tmp_path / "slashed.npz"
    SGDMatrixFactorization(n_factors=2, n_epochs=3, random_state=0).fit(ratings).save(path)
    return make_client(path)


@pytest.mark.parametrize("url, key, expected", [
    ("/users/a%2Fb/recommendations", "user", "a/b"),
    ("/users/a%2Fb/items", "user", "a/b"),
    ("/users/a%2Fb/similar", "user", "a/b"),
    ("/users/%20d%20/recommendations", "user", " d "),
    ("/items/x%2F1/similar", "item", "x/1"),
    ("/items/z%2F2%2F3/similar", "item", "z/2/3"),
])
def test_ids_with_a_slash_reach_their_route(slashed_client, url, key, expected):
    response = slashed_client.get(url)
    assert response.status_code == 200, response.text
    assert response.json()[key] == expected


@pytest.mark.parametrize("url, message", [
    ("/users/a%2Fc/recommendations", "unknown user id 'a/c'"),
    ("/items/x%2F2/similar", "unknown item id 'x/2'"),
    ("/users/d/items", "unknown user id 'd'"),  # " d " is not "d"
])
def test_unknown_ids_with_a_slash_get_the_projects_404(slashed_client, url, message):
    response = slashed_client.get(url)
    assert (response.status_code, response.json()) == (404, {"detail": message})


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
    expected = latentrec.load(path).similar_users("u01", n=2)[0].tolist()
    assert [u["user"] for u in similar] == expected


def test_recommendations_by_rating_are_the_predicted_ratings(client):
    by_rating = client.get("/users/196/recommendations?n=3&by=rating").json()["items"]
    pairs = [{"user": 196, "item": e["item"]} for e in by_rating]
    predicted = client.post("/predict", json={"pairs": pairs, "clip": False}).json()
    assert [e["score"] for e in by_rating] == pytest.approx(
        [p["prediction"] for p in predicted["predictions"]], rel=1e-5)
    assert client.get("/users/196/recommendations?by=stars").status_code == 422


@pytest.mark.parametrize("headers, got", [({}, "no content type"),
                                          ({"Content-Type": "text/plain"}, "text/plain")])
def test_a_json_body_sent_as_another_type_is_told_so(client, headers, got):
    response = client.post("/predict", content=b'{"pairs": [{"user": 196, "item": 242}]}',
                           headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == [{
        "loc": ["body"], "type": "content_type",
        "msg": f"send the body as JSON, with the header Content-Type: application/json "
               f"(got {got})"}]


def test_by_rating_on_a_model_without_ratings_is_refused(make_client, ml, tmp_path):
    """It answered with the model's own scores, as if they were predicted ratings."""
    path = tmp_path / "pop.npz"
    latentrec.Popularity().fit(ml.ratings).save(path)
    client = make_client(path)
    response = client.get("/users/196/recommendations?by=rating")
    assert response.status_code == 422
    assert "scores are not ratings" in response.json()["detail"][0]["msg"]
    assert client.get("/users/196/recommendations").status_code == 200


@pytest.mark.parametrize("user", ["1e300", "1" + "0" * 250])
def test_an_unknown_integer_id_of_hundreds_of_digits_is_not_echoed_whole(client, user):
    response = client.post("/predict", content=f'{{"pairs": [{{"user": {user}, "item": 242}}]}}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert "characters)" in response.json()["detail"] and len(response.text) < 300

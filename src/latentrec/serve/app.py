"""The FastAPI application: ``create_app(model_path, ...)`` serves one model file.

Endpoints are ``async def`` and call the model directly on the event loop: on an ML-100K
model a recommendation is about 0.1 ms of numpy work, and a hop to a worker thread would
only add a thread switch (the GIL serializes the Python around it anyway). What runs in a
worker thread: the admin reload, which reads a file, and the similarity searches, which
score every item or user exactly (a million items: about 40 ms of BLAS, which releases the
GIL). Those go to one thread of their own, so that however many arrive they take at most
one core and the event loop keeps the other for everything else (a bulkhead: under a load
they cannot keep up with, they queue, and only they).

(No ``from __future__ import annotations`` here: FastAPI reads the parameter annotations,
some of which are built inside the functions below, at run time.)
"""

import asyncio
import copy
import math
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import LatentrecError, ParameterError, UnknownIdError
from . import schemas as S
from .catalog import Directory
from .hosts import HostCheckMiddleware
from .limits import DEFAULT_MAX_BODY, DEFAULT_MAX_N, BodyLimitMiddleware, HeadAsGetMiddleware
from .state import ModelHolder, ReloadError, Snapshot

STATIC = Path(__file__).with_name("static")
# The page loads nothing from elsewhere and runs no inline script (it also sets no styles
# inline): a title in the data can never become code.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
ERRORS = {404: {"model": S.ErrorOut, "description": "Unknown user or item id"}}
#: Similarity searches waiting or running at once; one more is answered 503: the one thread
#: that runs them (see the module doc) would only fall further behind.
MAX_SIMILARITY_QUEUE = 64
SIMILARITY_ERRORS = {**ERRORS, 503: {
    "model": S.ErrorOut, "description": f"{MAX_SIMILARITY_QUEUE} similarity searches are "
    "already waiting; the Retry-After header says when to try again"}}
# Answered before any route runs, so to any request: by the Host check, the body cap, and
# the body cap's check of Content-Length
EDGE_ERRORS = {
    400: {"model": S.ErrorOut, "description": "A Host header naming a host this server does "
          "not answer to, or a Content-Length that is not a whole number"},
    413: {"model": S.ErrorOut, "description": "A request body over the server's limit "
          "(max_body in /health)"},
}

# Path ids use the {...:path} converter, so a string id with a "/" in it (sent as %2F)
# still reaches the route and its lookup; the routes' fixed last segments keep them apart.
UserId = Annotated[str, PathParam(max_length=S.MAX_ID_LENGTH, description="A user id.")]
ItemId = Annotated[str, PathParam(max_length=S.MAX_ID_LENGTH, description="An item id.")]
# C0 and C1 control characters and DEL; the pattern is what the OpenAPI schema declares
_CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")


def _printable(text: str) -> str:
    # numpy's string columns drop trailing NULs: q="\0" would search for "" and match all
    if _CONTROL.search(text):
        raise ValueError("the search text must not contain control characters")
    return text


# The pattern is declared for the schema only: _printable checks it, with a clearer message
SearchText = Annotated[str, Query(max_length=100, description="Text to look for: the start "
                                  "of an id, or any part of a title (case ignored); no "
                                  "control characters.",
                                  json_schema_extra={"pattern": f"^[^{_CONTROL_CHARS}]*$"}),
                       AfterValidator(_printable)]


def create_app(model_path, items=None, admin_token: str | None = None, *,
               max_body: int = DEFAULT_MAX_BODY, max_n: int = DEFAULT_MAX_N,
               allowed_hosts: Iterable[str] | None = None) -> FastAPI:
    """An app serving the model in ``model_path`` (loaded once, here; raises on a bad file).

    ``items``: item titles (a file, a bundled data set name, a DataFrame or a dict).
    ``admin_token``: enables ``POST /admin/reload`` for callers that present it.
    ``max_body``: the largest request body in bytes; ``max_n``: the largest ``n``.
    ``allowed_hosts``: the only ``Host`` names answered (400 for others); None: any
    (``latentrec.serve.hosts.allowed_hosts`` gives what ``latentrec serve`` uses).
    """
    for name, value in (("max_body", max_body), ("max_n", max_n)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if admin_token is not None and not admin_token.strip():
        raise ParameterError("the admin token is empty; give a secret, or none to disable "
                             "the admin endpoint")
    if admin_token is not None and not admin_token.isascii():
        # an HTTP header carries Latin-1 bytes: another token could never be presented
        raise ParameterError("the admin token must be ASCII text (a header cannot carry "
                             "other characters reliably)")
    # /docs with Swagger UI's files from the fastapi-offline package, not from a CDN, so
    # the docs work without the internet; it mounts them before the page's own /static.
    app = FastAPIOffline(title="latentrec", version=__version__, description=_DESCRIPTION,
                         redoc_url=None, static_url="/static/swagger", responses=EDGE_ERRORS)
    app.state.holder = ModelHolder(model_path, items)
    app.state.limits = {"max_n": max_n, "max_body": max_body}
    app.state.similarity = ThreadPoolExecutor(1, thread_name_prefix="latentrec-similarity")
    app.state.similarity_queue = 0  # read and written on the event loop only
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body=max_body)
    if allowed_hosts is not None:  # added last, so it runs first
        app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts)
    _add_error_handlers(app)
    for router in (_service_routes(), _user_routes(max_n), _item_routes(max_n),
                   _new_user_routes(max_n), _admin_routes(admin_token)):
        app.include_router(router)
    _add_page(app)
    _describe_the_model(app, max_n)
    return app


_DESCRIPTION = ("Recommendations, similar items and users, and predicted ratings from a "
                "trained latentrec model. Ids are JSON numbers or strings, as in the "
                "training data; in a path, a string id is percent-encoded (`a/b` as "
                "`a%2Fb`). The web page is at `/`.")


# errors ---------------------------------------------------------------------------------
# A 422's detail is always a list of {"loc", "msg", "type"}, whatever found the problem (the
# schema, a route's own check, or the model); every other error's detail is a sentence.
def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UnknownIdError, _sentence(404))
    app.add_exception_handler(ReloadError, _sentence(409))
    app.add_exception_handler(LatentrecError, _model_refused)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _sentence(status: int):
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=status)
    return handle


def _unprocessable(errors: list) -> JSONResponse:
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming where and what, without echoing the input back: FastAPI's own answer
    does, and fails on a NaN from the body (not JSON) or repeats a huge value. A body
    sent as anything but JSON is not read as JSON at all: that is what is wrong then."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()[:60]
    about_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
    if about_body and not (kind == "application/json" or kind.endswith("+json")):
        got = kind or "no content type"
        return _unprocessable([{"loc": ["body"], "type": "content_type",
                                "msg": "send the body as JSON, with the header Content-Type: "
                                       f"application/json (got {got})"}])
    return _unprocessable(exc.errors())


async def _model_refused(request: Request, exc: LatentrecError) -> JSONResponse:
    """What the model cannot do with valid input (e.g. similar items of a baseline)."""
    return _unprocessable([{"loc": [], "msg": _one_line(exc), "type": "model_error"}])


# Bodies that json.loads fails on with something else than a JSONDecodeError, which FastAPI
# answers with a bare 400 ("There was an error parsing the body"): they are invalid JSON like
# any other (422)
_UNREADABLE_BODIES = ((RecursionError, "nested too deeply"),
                      (UnicodeDecodeError, "not UTF-8 text"),
                      # Python's cap on the digits of an int (4,300) makes json a ValueError
                      (ValueError, "a number too long"))


async def _http_error(request: Request, exc: StarletteHTTPException):
    if exc.status_code == 400:
        for kind, why in _UNREADABLE_BODIES:
            if isinstance(exc.__cause__, kind):
                return _unprocessable([{"loc": ["body"], "msg": f"JSON decode error: {why}",
                                        "type": "json_invalid"}])
    return await http_exception_handler(request, exc)


async def _similarity(request: Request, search, *args, **kwargs):
    """``search(*args, **kwargs)`` on the app's similarity thread (see the module doc), or
    503 when ``MAX_SIMILARITY_QUEUE`` searches are waiting or running already."""
    state = request.app.state
    if state.similarity_queue >= MAX_SIMILARITY_QUEUE:
        raise HTTPException(503, f"{MAX_SIMILARITY_QUEUE} similarity searches are already "
                            "waiting; try again shortly", headers={"Retry-After": "1"})
    state.similarity_queue += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(
            state.similarity, partial(search, *args, **kwargs))
    finally:
        state.similarity_queue -= 1


async def current(request: Request) -> Snapshot:
    """The snapshot this request uses throughout (read once: a reload cannot change it)."""
    return request.app.state.holder.current


Snap = Annotated[Snapshot, Depends(current)]


def _count(max_n: int, default: int):
    """The ``n`` query parameter, 1 to ``max_n``, and its default (never above the cap)."""
    n = Annotated[int, Query(ge=1, le=max_n, description=f"How many to list, 1 to {max_n}.")]
    return n, min(default, max_n)


# helpers shared by the routes -----------------------------------------------------------
def invalid(loc: tuple, message: str) -> RequestValidationError:
    """A 422 for a check the schema cannot make, shaped like pydantic's own."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def finite(ids: np.ndarray, scores: np.ndarray) -> tuple[list, list]:
    """(ids, scores) as lists, without non-finite scores: JSON has no NaN or infinity,
    and a page would fail on a null score. Validated inputs should never produce one."""
    keep = np.isfinite(scores)
    return ids[keep].tolist(), scores[keep].tolist()


def scored_items(items: Directory, ids: np.ndarray, scores: np.ndarray) -> list:
    label = items.label
    return [{"item": i, "title": label(i), "score": s} for i, s in zip(*finite(ids, scores))]


def rating_range(model) -> tuple[float, float] | None:
    """The ratings a fold-in takes, ends included (the OpenAPI schema declares the same):
    the model's training range, or None when it has none (or not a finite one).

    The ratings were stored as float32, so the range of ratings 0.1 to 0.7 is 0.10000000149
    to 0.69999998808; each end is widened to its shortest float32 spelling (0.1, 0.7), so
    the numbers a client would write are in it."""
    bounds = getattr(model, "rating_range_", None)
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        return None
    low, high = (float(b) for b in bounds)
    return min(low, _shortest32(low)), max(high, _shortest32(high))


def _shortest32(value: float) -> float:
    with np.errstate(over="ignore"):
        short = float(str(np.float32(value)))
    return short if math.isfinite(short) else value  # a float64 end past float32's range


def check_rating(bounds: tuple[float, float] | None, k: int, rating: float) -> None:
    """A 422 for a rating outside the training range: the model was fitted to that range
    only, and a rating of 100 on a 1-5 model (or 1e39, which overflows float32 factors)
    makes nonsense."""
    if bounds is None:
        return
    low, high = bounds
    if not low <= rating <= high:
        raise invalid(("body", "ratings", k, "rating"), f"rating {rating:g} is outside the "
                      f"model's rating range, {low:g} to {high:g}")


def fold_in_ratings(snap: Snapshot, ratings: list) -> dict:
    """{the model's item id: rating} of a fold-in body: 422 for a rating outside the model's
    range (what the schema says, checked first), then 404 for an unknown item, then 422 for
    an item rated twice (which no JSON schema can say)."""
    bounds, out = rating_range(snap.model), {}
    for k, r in enumerate(ratings):
        check_rating(bounds, k, r.rating)
    for k, r in enumerate(ratings):
        _, item = snap.items.find(r.item)
        if item in out:
            raise invalid(("body", "ratings", k, "item"), f"item {item!r} is rated more than once")
        out[item] = r.rating
    return out


def counted(directory: Directory, indices: np.ndarray, side: str) -> list:
    ids = directory.id_map.to_ids(indices).tolist()
    counts = directory.counts[indices].tolist()
    if side == "user":
        return [{"user": u, "n_ratings": c} for u, c in zip(ids, counts)]
    return [{"item": i, "title": directory.label(i), "n_ratings": c}
            for i, c in zip(ids, counts)]


# routes ---------------------------------------------------------------------------------
def _service_routes() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/health", response_model=S.HealthOut)
    async def health(request: Request, snap: Snap):
        """Liveness, which model generation is served, how the last reload went, and the
        service's limits."""
        return {"status": "ok", "generation": snap.generation,
                "loaded_at": snap.info["loaded_at"],
                "last_reload": request.app.state.holder.last_reload,
                **request.app.state.limits}

    @router.get("/model", response_model=S.ModelOut)
    async def model_info(snap: Snap):
        """The served model: algorithm, hyperparameters, sizes, training history, file."""
        return snap.info

    return router


def _user_routes(max_n: int) -> APIRouter:
    router = APIRouter(tags=["users"], responses=ERRORS)
    N10, ten = _count(max_n, 10)
    N100, hundred = _count(max_n, 100)

    @router.get("/users", response_model=S.UserSearchOut)
    async def search_users(snap: Snap, q: SearchText = "", n: N10 = ten):
        """Users whose id starts with ``q`` (all users without it), most ratings first."""
        total, idx = snap.users.search(q, n)
        return {"total": total, "users": counted(snap.users, idx, "user")}

    @router.get("/users/{user_id:path}/items", response_model=S.UserItemsOut)
    async def user_items(user_id: UserId, snap: Snap, n: N100 = hundred):
        """The items this user rated in training (the model's seen items), most-rated first."""
        _, user = snap.users.find(user_id)
        seen = snap.items.id_map.to_indices(snap.model.seen_items(user))
        total, idx = snap.items.most_rated(seen, n)
        return {"user": user, "total": total, "items": counted(snap.items, idx, "item")}

    @router.get("/users/{user_id:path}/recommendations", response_model=S.RecommendationsOut)
    async def recommend(user_id: UserId, snap: Snap, n: N10 = ten,
                        exclude_seen: Annotated[bool, Query(
                            description="Leave out items the user rated in training.")] = True,
                        by: Annotated[Literal["relevance", "rating"] | None, Query(
                            description="Order: 'relevance' (the rating models' default) "
                            "weighs what users pick with the predicted rating; 'rating' the "
                            "predicted rating alone.")] = None):
        """The best ``n`` items for a user, best first (by the model's default order, as
        ``Recommender.recommend``; the scores are in that order's unit)."""
        _, user = snap.users.find(user_id)
        ids, scores = snap.model.recommend(user, n=n, exclude_seen=exclude_seen, by=by)
        return {"user": user, "items": scored_items(snap.items, ids, scores)}

    @router.get("/users/{user_id:path}/similar", response_model=S.SimilarUsersOut,
                responses=SIMILARITY_ERRORS)
    async def similar_users(user_id: UserId, snap: Snap, request: Request, n: N10 = ten):
        """Users most like this one, by the cosine of their latent factors."""
        _, user = snap.users.find(user_id)
        ids, scores = await _similarity(request, snap.model.similar_users, user, n=n)
        return {"user": user, "users": [{"user": u, "score": s}
                                        for u, s in zip(*finite(ids, scores))]}

    return router


def _item_routes(max_n: int) -> APIRouter:
    router = APIRouter(tags=["items"], responses=ERRORS)
    N10, ten = _count(max_n, 10)
    N20, twenty = _count(max_n, 20)

    @router.get("/items", response_model=S.ItemSearchOut)
    async def search_items(snap: Snap, q: SearchText = "", n: N20 = twenty):
        """Items whose title contains ``q`` or whose id starts with it (an exact id first),
        most-rated first; without ``q``, the most-rated items."""
        total, idx = snap.items.search(q, n)
        return {"total": total, "items": counted(snap.items, idx, "item")}

    @router.get("/items/{item_id:path}/similar", response_model=S.SimilarItemsOut,
                responses=SIMILARITY_ERRORS)
    async def similar_items(item_id: ItemId, snap: Snap, request: Request, n: N10 = ten):
        """Items most like this one, by the cosine of their latent factors."""
        _, item = snap.items.find(item_id)
        ids, scores = await _similarity(request, snap.model.similar_items, item, n=n)
        return {"item": item, "title": snap.items.label(item),
                "items": scored_items(snap.items, ids, scores)}

    return router


def _new_user_routes(max_n: int) -> APIRouter:
    router = APIRouter(tags=["ratings"], responses=ERRORS)

    @router.post("/predict", response_model=S.PredictOut)
    async def predict(body: S.PredictIn, snap: Snap):
        """Predicted ratings for (user, item) pairs; every id must be known to the model."""
        model = snap.model
        users = [model.user_map_.coerce(p.user) for p in body.pairs]
        items = [model.item_map_.coerce(p.item) for p in body.pairs]
        users, items = np.array(users, dtype=object), np.array(items, dtype=object)
        # clip None (or left out): the model's default, clipped when it predicts ratings
        values = model.predict(users, items, unknown="error", clip=body.clip)
        timed = np.array([p.timestamp is not None for p in body.pairs])
        if timed.any():  # those pairs at their times; the others at a new time bin
            values[timed] = model.predict(
                users[timed], items[timed], unknown="error", clip=body.clip,
                timestamps=np.array([p.timestamp for p in body.pairs if p.timestamp
                                     is not None], np.float64))
        return {"predictions": [{"user": u, "item": i, "prediction": v}
                                for u, i, v in zip(users.tolist(), items.tolist(),
                                                   values.tolist())]}

    @router.post("/recommendations", response_model=S.RecommendationsOut)
    async def recommend_new_user(body: S.FoldInIn, snap: Snap):
        """Recommendations for someone who is not in the model, from a few ratings: the
        user is folded in against the fixed item factors (no retraining, nothing stored)."""
        if body.n > max_n:
            raise invalid(("body", "n"), f"Input should be less than or equal to {max_n}")
        folded = snap.model.fold_in(fold_in_ratings(snap, body.ratings))
        ids, scores = snap.model.recommend(folded, n=body.n, exclude_seen=body.exclude_seen)
        return {"user": None, "items": scored_items(snap.items, ids, scores)}

    return router


_ADMIN_ERRORS = {
    401: {"model": S.ErrorOut, "description": "No bearer token in the request",
          "headers": {"WWW-Authenticate": {"description": "The scheme to use: Bearer",
                                           "schema": {"type": "string"}}}},
    403: {"model": S.ErrorOut, "description": "A wrong token, or the admin endpoints are "
          "disabled (the server was started without a token)"},
    409: {"model": S.ErrorOut, "description": "The file did not load: the old model is "
          "still served"},
}


def _admin_routes(admin_token: str | None) -> APIRouter:
    router = APIRouter(tags=["admin"])
    bearer = HTTPBearer(auto_error=False, description="The token given at start-up.")

    def authorize(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(bearer)]) -> None:
        # 403 where a token cannot help (none configured) or the one given is wrong; 401
        # (RFC 9110, with the scheme to use) where no bearer token was given at all
        if admin_token is None:
            raise HTTPException(403, "the admin endpoints are disabled: start the server "
                                     "with --admin-token or LATENTREC_ADMIN_TOKEN to use them")
        if credentials is None:
            raise HTTPException(401, "an admin token is required (header 'Authorization: "
                                     "Bearer TOKEN')", headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(credentials.credentials.encode(), admin_token.encode()):
            raise HTTPException(403, "the admin token is not valid")

    @router.post("/admin/reload", response_model=S.ReloadOut, dependencies=[Depends(authorize)],
                 responses=_ADMIN_ERRORS)
    def reload(request: Request):
        """Load the model file again (e.g. after replacing it). Requests in flight finish on
        the old model; a file that fails to load leaves the old model served (409)."""
        snap = request.app.state.holder.reload()
        return {"reloaded": True, "model": snap.info}

    return router


# the OpenAPI schema ---------------------------------------------------------------------
def _describe_the_model(app: FastAPI, max_n: int) -> None:
    """Make /openapi.json state what depends on the served model and the app's limits: the
    rating range of POST /recommendations (from the model served now, so after a reload,
    the new one's) and the largest ``n`` of its body."""
    build = app.openapi  # FastAPI's own, which builds the schema once
    served = {}

    def openapi() -> dict:
        snap = app.state.holder.current
        if served.get("generation") != snap.generation:
            schema = copy.deepcopy(build())
            _declare_fold_in(schema["components"]["schemas"], rating_range(snap.model), max_n)
            served.update(generation=snap.generation, schema=schema)
        return served["schema"]

    app.openapi = openapi


def _declare_fold_in(schemas: dict, bounds: tuple[float, float] | None, max_n: int) -> None:
    schemas["FoldInIn"]["properties"]["n"]["maximum"] = max_n
    rating = schemas["ItemRating"]["properties"]["rating"]
    if bounds is not None:
        rating["minimum"], rating["maximum"] = bounds
        rating["description"] = (f"Within the served model's rating range, {bounds[0]:g} to "
                                 f"{bounds[1]:g}, ends included.")


def _add_page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

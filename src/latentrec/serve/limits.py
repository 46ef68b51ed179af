"""A cap on request bodies, and HEAD answered like GET, as plain ASGI middlewares (no
framework needed).

A body is refused with 413 when its declared ``Content-Length`` is over the cap, before
anything is read; and, because a client may send no length (chunked) or a false one, also
when the bytes actually received go over it. In that case the reading stops at the first
chunk past the cap and whatever the application was about to answer is replaced by the 413.
"""

from __future__ import annotations

import json

#: Defaults of ``create_app`` and ``latentrec serve`` (here, where no FastAPI is imported).
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_N = 1000


class BodyTooLarge(Exception):
    """Raised into the application when the streamed body passes the cap."""


class BodyLimitMiddleware:
    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = int(max_body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == "invalid":
            await json_reply(send, 400, "the Content-Length header is not a whole number")
            return
        if declared is not None and declared > self.max_body:
            await self._refuse(send)
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope, receive, send):
        received, over, started = 0, False, False

        async def counting_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message):
            nonlocal started
            if over:  # the app's answer to the aborted read (e.g. a 400) gives way to ours
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send)

    async def _refuse(self, send):
        await json_reply(send, 413, f"the request body is larger than the limit of "
                                f"{self.max_body:,} bytes")


def _content_length(scope):
    """The declared body length: an int, None when absent, or "invalid"."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else "invalid"
    return None


async def json_reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class HeadAsGetMiddleware:
    """Answers ``HEAD`` as the same ``GET`` would be answered, without the body (HTTP asks
    this of every GET resource; FastAPI's routes take GET alone, so ``HEAD /`` was 405).
    The headers, ``Content-Length`` included, are those of the GET."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            elif message["type"] == "http.response.pathsend":  # a file, by the extension
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        # a copy: the server's own scope still says HEAD, so it sends no body either
        await self.app({**scope, "method": "GET"}, receive, headers_only)

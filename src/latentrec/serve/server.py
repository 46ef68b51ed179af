"""Running the service under uvicorn: ``run`` (what ``latentrec serve`` calls), the
listening socket, logging, reload on SIGHUP, and the connections' edges (a deadline for
each request head, a cap on open connections, JSON for what the HTTP parser refuses)."""

from __future__ import annotations

import copy
import gc
import http
import ipaddress
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import uvicorn
import uvicorn.config
from threadpoolctl import threadpool_limits
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..errors import LatentrecError, ParameterError
from .app import create_app
from .hosts import allowed_hosts
from .limits import DEFAULT_MAX_BODY, DEFAULT_MAX_N
from .state import ReloadError

log = logging.getLogger("latentrec.serve")

#: Seconds a connection has to send a whole request head (line and headers), from when it
#: opens or from the first byte of its next request: a client that trickles a head, or
#: sends nothing, cannot hold a connection open for longer.
HEAD_TIMEOUT = 10.0
#: Connections open at once; one more is answered 503 and closed at once. Requests are
#: served one at a time on one event loop, so more would only queue, and this stays under
#: the usual limit of 1,024 open files.
MAX_CONNECTIONS = 512
#: Seconds an idle keep-alive connection stays open after its last response.
KEEP_ALIVE = 5


@dataclass(frozen=True)
class Listening:
    """What ``run`` hands ``on_ready`` once the socket listens, before requests are served."""

    url: str  # e.g. http://127.0.0.1:8000/
    model: dict  # the body of GET /model
    local_only: bool  # False when other machines can reach the server


def run(model_path, *, host: str = "127.0.0.1", port: int = 8000, items=None,
        extra_hosts: Iterable[str] = (), admin_token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY, max_n: int = DEFAULT_MAX_N,
        access_log: bool = True, quiet: bool = False,
        on_ready: Callable[[Listening], None] | None = None) -> None:
    """Serve the model in ``model_path`` on ``host:port`` until SIGINT or SIGTERM.

    The model (and the titles in ``items``) is loaded and the port bound before anything
    is served, so a bad file or a busy port raises here. The server answers to the loopback
    names, ``host`` and ``extra_hosts`` (any name when bound to 0.0.0.0 or :: and given
    none); ``admin_token``, ``max_body`` and ``max_n`` are as in ``create_app``.
    ``on_ready(Listening)`` is called once the socket listens (port 0: any free port, told
    by its URL). ``kill -HUP`` reloads the model file.
    """
    extra_hosts = list(extra_hosts)
    if any(not isinstance(name, str) or not name.strip() for name in extra_hosts):
        raise ParameterError(f"extra_hosts must be non-empty host names, got {extra_hosts!r}")
    app = create_app(model_path, items=items, admin_token=admin_token, max_body=max_body,
                     max_n=max_n, allowed_hosts=allowed_hosts(host, extra_hosts))
    sock = bind(host, port)
    try:
        if on_ready is not None:
            local = ipaddress.ip_address(sock.getsockname()[0]).is_loopback
            on_ready(Listening(url_of(sock), app.state.holder.current.info, local))
    except BaseException:
        sock.close()
        raise
    run_app(app, sock, access_log=access_log, quiet=quiet)


def run_app(app, sock: socket.socket, *, access_log: bool = True, quiet: bool = False) -> None:
    """Serve ``app`` (from ``create_app``) on an already bound socket until SIGINT/SIGTERM.

    BLAS runs on one thread here: a request's linear algebra is tiny, and on a busy machine
    a second BLAS thread waiting for a core made a 101 x 101 solve (a fold-in) take 50 ms
    instead of 0.14 ms. Requests are served one after another on the event loop anyway.
    """
    server = uvicorn.Server(server_config(app, access_log=access_log, quiet=quiet))
    reload_on_sighup(app.state.holder)
    # The ~200,000 objects that exist by now (modules, the model, titles) live as long as
    # the process; frozen, they are left out of garbage collections, each of which
    # otherwise paused every request for about 100 ms.
    gc.freeze()
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly on Ctrl+C, then raised it again for us
    finally:
        sock.close()


def server_config(app, *, access_log: bool = True, quiet: bool = False) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: its HTTP protocol guarded as
    :func:`guarded_protocol` says, no WebSocket (the service has no such endpoint)."""
    return uvicorn.Config(app, http=guarded_protocol(), ws="none",
                          log_config=log_config(quiet), access_log=access_log,
                          server_header=False, timeout_keep_alive=KEEP_ALIVE,
                          timeout_graceful_shutdown=10)


#: uvicorn's own default backlog: connections that may wait before the server accepts them.
BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free port); bound here, before
    uvicorn starts, so a busy port is a one-line error and port 0 can be announced.

    It listens at once: the URL is printed before uvicorn starts accepting, and a client
    that connects in between must wait in the backlog, not be refused."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise LatentrecError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise LatentrecError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def reload_on_sighup(holder) -> None:
    """``kill -HUP PID`` reloads the model file, like the admin endpoint does."""
    if not hasattr(signal, "SIGHUP"):  # Windows
        return

    def handle(signum, frame):
        # a signal handler interrupts the event loop's thread: hand the file reading to
        # another thread and return at once
        threading.Thread(target=_reload, args=(holder,), name="latentrec-reload",
                         daemon=True).start()

    signal.signal(signal.SIGHUP, handle)


def _reload(holder) -> None:
    try:
        holder.reload()
    except ReloadError:
        pass  # the holder logged why; the old model is still served
    except Exception as exc:  # not from loading (the holder turns those into ReloadError)
        # one line, not the thread's traceback: the old model is still served
        log.error("reload failed, still serving the model loaded before: %s: %s",
                  type(exc).__name__, " ".join(str(exc).split()))


# the connection's edges -----------------------------------------------------------------
class _EdgeGuard:
    """Mixed into uvicorn's HTTP protocol (one object per connection): a deadline for each
    request head, a cap on open connections, and JSON for the errors the HTTP parser
    answers itself (uvicorn's are plain text; every error of the service is JSON).

    uvicorn has a keep-alive timeout, but nothing bounds the wait for a request head, and
    ``limit_concurrency`` answers 503 to requests while leaving their connections open."""

    head_timeout: float = HEAD_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    _head_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._reply_and_close(503, f"the server has {self.max_connections} connections "
                                       "open, its limit; try again shortly")
        else:
            self._await_head()

    def connection_lost(self, exc) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # the parser built a request: its head is complete
            self._stop_head_timer()
        elif self._head_timer is None and self._idle():  # the first bytes of a new request
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        # called while the parser's error is being handled: its message says what is wrong
        error = sys.exc_info()[1]
        reason = " ".join(str(error).split())[:120] if error is not None else msg
        self._reply_and_close(400, f"invalid HTTP request: {reason}")

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _await_head(self) -> None:
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        self._head_timer = None
        if self._idle() and not self.transport.is_closing():
            self._reply_and_close(408, "no complete request head within "
                                       f"{self.head_timeout:g} s")

    def _reply_and_close(self, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
        self.transport.write(head.encode() + body)
        self.transport.close()


def guarded_protocol(head_timeout: float = HEAD_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
                     base: type = AutoHTTPProtocol) -> type:
    """uvicorn's HTTP protocol class ``base`` (httptools', or h11's without httptools),
    closing a connection that has not sent a whole request head within ``head_timeout``
    seconds (408) and refusing connections beyond ``max_connections`` open (503)."""
    return type("GuardedHTTPProtocol", (_EdgeGuard, base),
                {"head_timeout": float(head_timeout), "max_connections": int(max_connections)})


def log_config(quiet: bool) -> dict:
    """uvicorn's logging, with latentrec's reload messages going to the same stderr."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    level = "WARNING" if quiet else "INFO"
    config["loggers"]["latentrec"] = {"handlers": ["default"], "level": level,
                                      "propagate": False}
    config["loggers"]["uvicorn"]["level"] = level
    return config


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()

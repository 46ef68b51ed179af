"""Which ``Host`` names the service answers to: a guard against DNS rebinding.

A web page on another site can point its own domain name at 127.0.0.1 (DNS rebinding);
the browser then sends that page's requests to the local service and lets the page read
the answers, because to the browser they come from the page's own origin. Such requests
still carry the other site's name in their ``Host`` header, so a service that answers only
to the names it is known by (localhost, its own address, names it was given) refuses them.

A plain ASGI middleware, like the body cap: Starlette's TrustedHostMiddleware answers in
plain text, not JSON, and older Starlette releases cut an IPv6 ``[::1]:8000`` at its first
colon.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .limits import json_reply

#: The loopback names a local service always answers to.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def normal_host(name: str) -> str:
    """A host name as compared: lower case, without IPv6 brackets or a final dot."""
    return name.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")


def host_of(header: str) -> str:
    """The host in a ``Host`` header (``name``, ``name:port``, ``[v6]`` or ``[v6]:port``)."""
    header = header.strip()
    if header.startswith("["):
        return normal_host(header.split("]", 1)[0] + "]")
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return normal_host(header)


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> list[str] | None:
    """The names a server bound to ``host`` answers to: the loopback names, ``host`` and
    ``extra``. None (any name) for a server bound to every address (0.0.0.0, ::) and given
    no names: it is reached under names it cannot know."""
    extra = [normal_host(name) for name in extra]
    if _unspecified(host) and not extra:
        return None
    own = [] if _unspecified(host) else [normal_host(host)]
    return sorted({*LOCAL_HOSTS, *own, *extra})


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(normal_host(host)).is_unspecified
    except ValueError:
        return False


class HostCheckMiddleware:
    """Answers 400 to an HTTP request whose ``Host`` is not one of ``allowed``."""

    def __init__(self, app, allowed: Iterable[str]):
        self.app = app
        self.allowed = frozenset(normal_host(name) for name in allowed)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self._host(scope) not in self.allowed:
            await json_reply(send, 400, "this server does not answer to the host name in "
                                        "the Host header (start it with --allowed-host NAME "
                                        "to add one)")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _host(scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == b"host":
                return host_of(value.decode("latin-1"))
        return ""  # HTTP/1.0 without a Host: refused, since it names no host

"""``latentrec serve``: the HTTP service and web page over a saved model."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..serve import DEFAULT_MAX_BODY, DEFAULT_MAX_N
from . import options as O
from .inputs import bad_value

_NET = "Network and limits"


def serve(
    model_path: O.ModelPath,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on. The default serves this machine only; "
        "0.0.0.0 serves every network.", rich_help_panel=_NET)] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535, help="Port to listen on (0: any free port, printed at "
        "start).", rich_help_panel=_NET)] = 8000,
    items: O.Items = None,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", metavar="NAME", help="Also answer requests whose Host header "
        "names NAME (repeatable). Requests naming a host other than localhost, 127.0.0.1, ::1 "
        "or --host get 400 (against DNS rebinding); with --host 0.0.0.0 and no "
        "--allowed-host, any name is answered.",
        show_default=False, rich_help_panel=_NET)] = None,
    admin_token: Annotated[str | None, typer.Option(
        "--admin-token", envvar="LATENTREC_ADMIN_TOKEN", metavar="TOKEN",
        help="Enable POST /admin/reload for requests with 'Authorization: Bearer TOKEN'. "
        "Prefer the environment variable LATENTREC_ADMIN_TOKEN: other users of the machine "
        "can read command lines.", show_default=False, rich_help_panel=_NET)] = None,
    max_body: Annotated[int, typer.Option(
        "--max-body", min=1, metavar="BYTES", help="Largest request body accepted (413 "
        "above it).", rich_help_panel=_NET)] = DEFAULT_MAX_BODY,
    max_n: Annotated[int, typer.Option(
        "--max-n", min=1, help="Largest n a request may ask for (422 above it).",
        rich_help_panel=_NET)] = DEFAULT_MAX_N,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log", help="Log every request.",
        rich_help_panel="Output")] = True,
    quiet: O.Quiet = False, debug: O.Debug = False,
):
    """Serve a model over HTTP: a JSON API (docs at /docs) and a web page at /.

    The model is loaded once. `kill -HUP PID` (or POST /admin/reload with the admin token)
    loads the file again without dropping requests; a file that fails to load leaves the
    old model in service. Needs latentrec's optional "serve" extra (FastAPI, uvicorn).
    """
    from ..serve import run  # the extra's one-line error, if missing

    out = O.output(False, quiet)
    if any(not name.strip() for name in allowed_host or ()):
        raise bad_value("--allowed-host", "a host name cannot be empty")

    def announce(ready) -> None:
        url, info = ready.url, ready.model
        out.line(f"Serving {model_path} ({info['algorithm']}, {info['n_users']:,} users, "
                 f"{info['n_items']:,} items) on {url}")
        out.info(f"Web page {url}, API docs {url}docs. Reload: kill -HUP {os.getpid()}"
                 + (", or POST /admin/reload with the admin token" if admin_token else "")
                 + ". Stop: Ctrl+C.")
        if not ready.local_only:
            out.note(f"note: {host} is reachable from other machines, and the query "
                     "endpoints ask no one for a password")

    run(model_path, host=host, port=port, items=items, extra_hosts=allowed_host or (),
        admin_token=admin_token, max_body=max_body, max_n=max_n,
        access_log=access_log and not out.quiet, quiet=out.quiet, on_ready=announce)

"""latentrec's HTTP service (``latentrec serve``): a JSON API over one trained model, with
OpenAPI docs at ``/docs``, a web page at ``/``, and reloading without dropping requests.

It needs the optional ``serve`` extra (FastAPI, uvicorn, and fastapi-offline for Swagger
UI's files). ``import latentrec`` never imports this package, and this package
imports them only when ``create_app`` or the server functions are first used, so a missing
extra is one clear error.

``run(model_path, host=..., port=..., ...)`` is the whole service as ``latentrec serve``
runs it; ``create_app`` builds the ASGI application alone, for another server.
"""

from .limits import DEFAULT_MAX_BODY, DEFAULT_MAX_N

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_N", "Listening", "bind", "create_app", "run",
           "run_app", "url_of"]
_LAZY = frozenset(__all__[2:])  # what needs the extra, imported on first use


def require_extra() -> None:
    """Raise an ImportError that says which pip command installs what is missing."""
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"the HTTP service needs the serve extra ({exc.name or 'a package'} "
                          "is not installed): pip install \"latentrec[serve]\"") from None


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_extra()
    from . import app, server

    return getattr(app if name == "create_app" else server, name)

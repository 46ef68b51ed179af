"""The ``latentrec`` command line: a thin face over the Python API (typer + rich).

``main`` is the console-script entry point; ``app`` is the typer application (for
``typer.testing.CliRunner`` and for embedding).
"""

from .app import app, main

__all__ = ["app", "main"]

"""The ``latentrec`` command: the typer app, its global options, and the one place where
errors become a one-line message and an exit code.

Exit codes: 0 success; 2 a user mistake (bad file, unknown id, bad option value, corrupt
model, unwritable output); 1 anything unexpected (a bug: run again with --debug);
130 interrupted.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
import warnings
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from . import (
    commands_data,
    commands_demo,
    commands_evaluate,
    commands_query,
    commands_serve,
    commands_train,
)
from . import options as O
from .inputs import in_option_words
from .output import Output, one_line

EXIT_USER_ERROR = 2

# click's exception classes as typer raises them (recent typer carries its own click)
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class LatentrecGroup(TyperGroup):
    """Runs a command and maps what it raises onto messages and exit codes."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or os.environ.get("LATENTREC_DEBUG", "") not in ("", "0")
        O.GLOBAL.update(quiet=False, debug=debug, output=None, warned=set())
        with warnings.catch_warnings():  # the hook lasts this run only (tests run many)
            warnings.showwarning = _show_warning
            code = self._run(argv, prog_name, complete_var, debug, extra)
        if not standalone_mode:
            return code
        sys.exit(code)

    def _run(self, argv, prog_name, complete_var, debug, extra) -> int:
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except ClickException as exc:  # usage errors: unknown option, bad value
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `latentrec`: help shown
                code = 0
            else:
                if debug:
                    traceback.print_exc()
                _fail(_usage_message(exc))
                code = exc.exit_code
        except typer.Abort:
            _fail("aborted")
            code = 1
        except KeyboardInterrupt:
            _fail("interrupted")
            code = 130
        except Exception as exc:  # noqa: BLE001 - the single place errors are reported
            code = _report(exc, debug)
        return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for a command run: one line, "warning: ...", in the words of
    the command line, through the run's Output (so --quiet hides it); no source line; each
    text once."""
    text = in_option_words(str(message))
    if text in O.GLOBAL["warned"]:
        return  # once a run: the folds and trials of one command fit many models
    O.GLOBAL["warned"].add(text)
    out = O.GLOBAL["output"] or Output(quiet=O.GLOBAL["quiet"])
    out.warning(text)


def _report(exc: BaseException, debug: bool) -> int:
    from ..errors import LatentrecError

    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return 1  # the reader of our output went away (e.g. `| head`)
    if debug:
        traceback.print_exc()
    if isinstance(exc, LatentrecError):
        _fail(in_option_words(str(exc)))
        return EXIT_USER_ERROR
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        what = (exc.strerror or str(exc)).lower()
        _fail(f"{where}: {what}" if where else what)
        return EXIT_USER_ERROR
    if isinstance(exc, ImportError) and "latentrec[" in str(exc):
        _fail(str(exc))  # a missing optional extra
        return EXIT_USER_ERROR
    if not debug:
        _fail(f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the "
              "traceback)")
    return 1


def _usage_message(exc) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, UsageError) and ctx is not None and \
            not isinstance(exc, typer.BadParameter):
        message += f" (see '{ctx.command_path} --help')"
    return message


def _fail(message: str) -> None:
    typer.echo(f"error: {one_line(message)}", err=True)  # one line, whatever it held


def _version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"latentrec {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=LatentrecGroup, name="latentrec", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
    help="Matrix-factorization recommenders: train, evaluate and query models from the "
         "command line.")


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, notes or "
                                        "warnings (every command).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    O.GLOBAL.update(quiet=quiet, debug=debug)


class PairsCommand(TyperCommand):
    """A command whose ``--pair USER ITEM`` option takes two values and repeats.

    The pairs are taken out of the arguments before the usual parsing (typer's options
    hold one value each) and handed to the command in ``ctx.meta["latentrec.pairs"]``.
    """

    def parse_args(self, ctx, args):
        rest, pairs, k = [], [], 0
        while k < len(args):
            arg = args[k]
            if arg == "--":
                rest.extend(args[k:])
                break
            if arg == "--pair":
                values = args[k + 1:k + 3]
                if len(values) < 2 or any(v.startswith("--") for v in values):
                    raise typer.BadParameter("needs two values: USER ITEM",
                                             param_hint="'--pair'")
                pairs.append(tuple(values))
                k += 3
                continue
            rest.append(arg)
            k += 1
        ctx.meta["latentrec.pairs"] = pairs
        return super().parse_args(ctx, rest)


app.command("demo")(commands_demo.demo)
app.command("train")(commands_train.train)
app.command("evaluate")(commands_evaluate.evaluate)
app.command("tune")(commands_train.tune)
app.command("recommend")(commands_query.recommend)
app.command("similar")(commands_query.similar)
app.command("predict", cls=PairsCommand)(commands_query.predict)
app.command("fill")(commands_query.fill)
app.command("info")(commands_data.info)
app.command("datasets")(commands_data.datasets)
app.command("serve")(commands_serve.serve)


def main() -> None:
    """Console-script entry point."""
    app()

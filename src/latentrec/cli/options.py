"""Options that several commands share, declared once."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from ..data.duplicates import DUPLICATE_POLICIES
from ..data.io import read_ratings
from .algorithms import option_defaults
from .inputs import ReaderOptions
from .output import Output

#: Options given before the command name (``latentrec --quiet train ...``), set per run,
#: and the run's Output once the command has made it (warnings are printed through it).
GLOBAL = {"quiet": False, "debug": False, "output": None, "warned": set()}

_READ = "Reading the ratings file"
MODEL_PANEL = "Model"
_OUT = "Output"

# output -------------------------------------------------------------------------------
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).",
                                    rich_help_panel=_OUT)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, notes or warnings.",
                                     rich_help_panel=_OUT)]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.",
                                     rich_help_panel=_OUT)]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice (splits, "
                                   "initial factors, shuffling).", min=0)]

def _read_default(name: str):
    return inspect.signature(read_ratings).parameters[name].default


# reading ratings ----------------------------------------------------------------------
Ratings = Annotated[str, typer.Argument(
    metavar="RATINGS", help="Ratings file (CSV/TSV/Parquet, optionally compressed), or the "
    "name of a bundled data set (ml-100k).", show_default=False)]
Format = Annotated[str, typer.Option(
    "--format", help="auto, csv, parquet, ml-100k, ml-1m or ml-latest.",
    rich_help_panel=_READ)]
Sep = Annotated[str | None, typer.Option(
    "--sep", help="Field separator: one character, '::', 'tab' or 'space' (default: "
    "detected).", rich_help_panel=_READ, show_default=False)]
Header = Annotated[bool | None, typer.Option(
    "--header/--no-header", help="Whether the first line names the columns (default: "
    "detected).", rich_help_panel=_READ, show_default=False)]
UserCol = Annotated[str | None, typer.Option(
    "--user", help="User column: header name or 0-based position.",
    rich_help_panel=_READ, show_default=False)]
ItemCol = Annotated[str | None, typer.Option(
    "--item", help="Item column: header name or 0-based position.",
    rich_help_panel=_READ, show_default=False)]
RatingCol = Annotated[str | None, typer.Option(
    "--rating", help="Rating column: name or position; 'none' reads "
    "implicit data (every value 1).", rich_help_panel=_READ, show_default=False)]
TimeCol = Annotated[str | None, typer.Option(
    "--timestamp", help="Timestamp column: name or position; 'none' "
    "ignores one.", rich_help_panel=_READ, show_default=False)]
IdDtype = Annotated[str, typer.Option(
    "--id-dtype", help="auto, int or str: how ids are read.", rich_help_panel=_READ)]
Duplicates = Annotated[str | None, typer.Option(
    "--duplicates", metavar="|".join(DUPLICATE_POLICIES), help="A (user, item) pair rated "
    "more than once: 'last' keeps the latest rating (by timestamp, else file order), "
    "'mean' their average, 'error' stops (default: "
    f"{_read_default('duplicates')}); resolved pairs are counted in a warning.",
    rich_help_panel=_READ, show_default=False)]
Member = Annotated[str | None, typer.Option(
    "--member", metavar="NAME", help="The file to read inside a zip archive that holds "
    "several.", rich_help_panel=_READ, show_default=False)]

Encoding = Annotated[str, typer.Option(
    "--encoding", help="Text encoding of the file (a UTF-8 byte-order mark is skipped).",
    rich_help_panel=_READ)]

# the model ----------------------------------------------------------------------------
# Defaults in the help are read from the model classes, so they cannot drift from them;
# the values themselves are checked by the model (its own messages), before any reading.
Factors = Annotated[int | None, typer.Option(
    "--factors", help="Latent features per user and item (default: the model's: "
    f"{option_defaults('--factors')}).", rich_help_panel=MODEL_PANEL, show_default=False)]
Epochs = Annotated[str | None, typer.Option(
    "--epochs", metavar="N|auto", help="Training epochs, or 'auto' (early stopping) "
    f"(default: the model's: {option_defaults('--epochs')}).", rich_help_panel=MODEL_PANEL,
    show_default=False)]
Lr = Annotated[float | None, typer.Option(
    "--lr", help=f"Learning rate (default: the model's: {option_defaults('--lr')}).",
    rich_help_panel=MODEL_PANEL, show_default=False)]
Reg = Annotated[float | None, typer.Option(
    "--reg", help="L2 regularization (default: the model's: "
    f"{option_defaults('--reg')}).", rich_help_panel=MODEL_PANEL, show_default=False)]
Threads = Annotated[int | None, typer.Option(
    "--threads", help="Training threads (default: all cores).",
    rich_help_panel=MODEL_PANEL, show_default=False)]

# querying a model ---------------------------------------------------------------------
ModelPath = Annotated[str, typer.Argument(metavar="MODEL", help="A model file written by "
                                          "'latentrec train'.", show_default=False)]
Count = Annotated[int, typer.Option("-n", "--count", min=1, help="How many to list.")]
Items = Annotated[str | None, typer.Option(
    "--items", metavar="FILE", help="Item titles: a TSV/CSV with an id column and a title "
    "column, a MovieLens u.item or movies.dat file, or a bundled data set name (ml-100k).",
    show_default=False)]


def reader(format, sep, header, user, item, rating, timestamp, id_dtype, duplicates,
           member, encoding="utf-8") -> ReaderOptions:
    """The reader options, checked (a bad --format or --duplicates fails here)."""
    return ReaderOptions(format=format, sep=sep, header=header, user=user, item=item,
                         rating=rating, timestamp=timestamp, id_dtype=id_dtype,
                         duplicates=duplicates, member=member, encoding=encoding)


def epochs_value(text: str | None):
    """``--epochs``: a positive integer or 'auto'."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise typer.BadParameter(f"{text!r} is not a positive integer or 'auto'",
                                 param_hint="'--epochs'")
    return value


def model_options(factors, epochs, lr, reg, threads, seed) -> dict:
    return {"--factors": factors, "--epochs": epochs_value(epochs), "--lr": lr,
            "--reg": reg, "--threads": threads, "--seed": seed}


def output(json_mode: bool, quiet: bool) -> Output:
    """The Output of this run, honouring a --quiet given before the command name too; it
    also prints the run's warnings."""
    out = Output(json_mode=json_mode, quiet=quiet or GLOBAL["quiet"])
    GLOBAL["output"] = out
    return out

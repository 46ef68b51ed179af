"""What the commands print: rich tables for people, JSON for scripts, progress bars.

Results go to stdout; notes and warnings to stderr. With ``--json`` stdout holds one JSON
document and nothing else. Progress bars (on stderr) appear only when stdout is a
terminal and neither ``--quiet`` nor ``--json`` is given.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path

import typer
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .._files import atomic_write


class Output:
    """The printing side of one command run."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False):
        self.json = json_mode
        self.quiet = quiet
        self._out: Console | None = None
        self._err: Console | None = None

    # consoles are made on first use, so they see the streams of this run (tests swap them)
    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(sys.stdout)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _console(sys.stderr)
        return self._err

    @property
    def interactive(self) -> bool:
        """Whether progress bars should be drawn."""
        return not (self.quiet or self.json) and _isatty(sys.stdout) and _isatty(sys.stderr)

    # human output ----------------------------------------------------------------------
    def line(self, text="", *, style: str | None = None) -> None:
        """A line of the human-readable result (not printed under --json)."""
        if not self.json:
            self.out.print(text if isinstance(text, Text) else Text(str(text), style=style),
                           soft_wrap=True)

    def info(self, text) -> None:
        """A line that explains rather than answers (left out under --quiet and --json)."""
        if not (self.quiet or self.json):
            self.line(text)

    def table(self, table) -> None:
        if self.json:
            return
        if self.out.is_terminal:
            self.out.print(table)
            return
        with self.out.capture() as captured:  # files and pipes: no trailing blanks
            self.out.print(table)
        typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))

    def note(self, text: str) -> None:
        """A remark for the person at the terminal, on stderr (left out under --quiet)."""
        if not self.quiet:
            self.err.print(Text(str(text)), style="yellow", soft_wrap=True)

    def warning(self, text: str) -> None:
        """A warning: one line on stderr, like an error (left out under --quiet)."""
        if not self.quiet:
            typer.echo(f"warning: {one_line(text)}", err=True)

    def raw(self, text: str) -> None:
        """Text printed exactly as given (no markup, no wrapping)."""
        if not self.json:
            typer.echo(text)

    # machine output --------------------------------------------------------------------
    def emit_json(self, obj) -> None:
        if self.json:
            typer.echo(dumps(obj))

    # progress --------------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None):
        """Yield ``advance(done=None, text=None)``; a no-op when bars are off."""
        if not self.interactive:
            yield _no_progress
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if total is not None:
            columns.append(MofNCompleteColumn())
        columns += [TimeElapsedColumn(), TextColumn("{task.fields[status]}")]
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total, status="")

            def advance(done=None, text=None):
                bar.update(task, completed=done if done is not None else None,
                           advance=None if done is not None else 1,
                           status=text if text is not None else "")

            yield advance


def one_line(text) -> str:
    """``text`` with its line breaks and runs of blanks made single spaces."""
    return " ".join(str(text).split())


def _no_progress(done=None, text=None) -> None:
    pass


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _console(stream) -> Console:
    width = None
    if not _isatty(stream):  # files and pipes: wide enough not to squeeze tables
        width = int(os.environ.get("COLUMNS", "120") or 120)
    return Console(file=stream, highlight=False, soft_wrap=False, width=width,
                   emoji=False, markup=False)


# tables ------------------------------------------------------------------------------
def make_table(columns, rows, *, title: str | None = None, numeric: set | None = None) -> Table:
    """A plain table: ``columns`` names, ``rows`` sequences of already formatted cells."""
    numeric = numeric or set()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in columns:
        table.add_column(name, justify="right" if name in numeric else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(c if isinstance(c, Text) else Text(fmt(c)) for c in row))
    return _titled(table, title)


def _titled(table: Table, title: str | None):
    """The title as its own line above the table (a table's own title wraps to its width)."""
    if title is None:
        return table
    return Group(Text(title, style="bold"), table)


def key_value_table(pairs, *, title: str | None = None) -> Table:
    """Two columns, no header: a label and its value."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(Text(str(key)), value if isinstance(value, Text) else Text(fmt(value)))
    return _titled(table, title)


def fmt(value, digits: int = 4) -> str:
    """A cell: floats to ``digits`` decimals, NaN/None as "-", everything else str()."""
    if value is None:
        return "-"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


# JSON --------------------------------------------------------------------------------
def jsonable(obj):
    """Plain JSON values: numpy scalars unwrapped, NaN/inf as null, tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    try:  # pandas NA and friends
        import pandas as pd

        if pd.isna(obj):
            return None
    except (TypeError, ValueError, ImportError):
        pass
    return str(obj)


def dumps(obj) -> str:
    """Indented JSON, with lists of plain values (a matrix row, a range) kept on one line."""
    return _dump(jsonable(obj), 0)


def _dump(value, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        return "[\n" + ",\n".join(inner + _dump(v, level + 1) for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# the filled-in matrix, printed the way NumPy prints an array ---------------------------
def format_matrix(matrix, row_labels, col_labels, decimals: int = 2) -> str:
    """A numpy-style ``[[...]]`` block with the item ids above and user ids to the left::

                  i1    i2    i3
        u1   [[ 4.97  2.98  2.18]
        u2    [ 3.97  2.40  1.97]]
    """
    cells = [[f"{v:.{decimals}f}" for v in row] for row in matrix]
    cols = [str(c) for c in col_labels]
    rows = [str(r) for r in row_labels]
    width = max([len(c) for c in cols] + [len(v) for row in cells for v in row] + [1])
    label_w = max([len(r) for r in rows] + [0])
    lines = [" " * (label_w + 3) + " ".join(c.rjust(width) for c in cols)]
    last = len(cells) - 1
    for k, (label, row) in enumerate(zip(rows, cells)):
        opening = "[[" if k == 0 else " ["
        closing = "]]" if k == last else "]"
        body = " ".join(v.rjust(width) for v in row)
        lines.append(f"{label.ljust(label_w)} {opening}{body}{closing}")
    return "\n".join(lines)


# files ---------------------------------------------------------------------------------
def write_table(df, path: Path) -> None:
    """Write a DataFrame as CSV, TSV or Parquet (told by the file name), atomically."""
    write_tables(lambda: [df], path)


def write_tables(chunks, path: Path) -> None:
    """Write the DataFrames ``chunks()`` yields (same columns), one after another, as one
    CSV, TSV or Parquet table (told by the file name), atomically: each is written as it
    comes, so the whole table is never in memory. ``chunks`` is called for each try at
    the write (atomic_write may write twice)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        atomic_write(path, lambda f: _parquet_chunks(chunks(), f))
    else:
        sep = "\t" if suffix in (".tsv", ".tab") else ","
        atomic_write(path, lambda f: _text_chunks(chunks(), f, sep))


def _text_chunks(chunks, f, sep: str) -> None:
    for k, df in enumerate(chunks):
        df.to_csv(f, sep=sep, index=False, header=k == 0)


def _parquet_chunks(chunks, f) -> None:
    """One Parquet file from the chunks: its schema is the first non-empty chunk's (an
    empty one says nothing of its columns' types), and with no rows at all, the last
    chunk's columns, empty."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, last = None, None
    try:
        for df in chunks:
            last = df
            if df.empty:
                continue
            table = pa.Table.from_pandas(df, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(f, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None and last is not None:
            last.to_parquet(f, index=False)
    finally:
        if writer is not None:
            writer.close()

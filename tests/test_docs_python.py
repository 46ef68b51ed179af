"""The session docs/python.md shows is what Python prints.

Every ``>>>`` example of the page is run again, in order, in one namespace, in an empty
folder (the page writes files). Outputs are compared token by token: words and
punctuation exactly, numbers within a relative 1e-4 (BLAS sums in another order on
another CPU), and times not at all: a number after ``seconds': `` or ``seconds=``, or in
a table column whose header ends in ``seconds``. A warning is shown as the interactive interpreter
shows it, ``<stdin>:1: Category: message``.
"""

from __future__ import annotations

import doctest
import math
import re
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "python.md"

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TIME_AFTER = re.compile(r"seconds(?:': |=)$")


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(token, is it a time) for every number and every run of other text, spaces
    dropped."""
    out = []
    for line in _mark_time_columns(text.splitlines()):
        pos = 0
        for m in NUMBER.finditer(line):
            out.extend((w, False) for w in line[pos : m.start()].split())
            is_time = "\x00" in line[m.end() : m.end() + 1] or bool(
                TIME_AFTER.search(line[: m.start()])
            )
            out.append((m.group(), is_time))
            pos = m.end()
        out.extend((w, False) for w in line[pos:].replace("\x00", "").split())
    return out


def _mark_time_columns(lines: list[str]) -> list[str]:
    """Mark (with a NUL after it) each number in a column headed ``*seconds`` of a
    whitespace table: the row's last tokens line up with the header's."""
    out, header = [], None
    for line in lines:
        words = line.split()
        if any(w.endswith("seconds") for w in words) and not NUMBER.search(line):
            header = words
            out.append(line)
            continue
        if header and len(words) >= len(header):
            tail = words[len(words) - len(header) :]
            marked = [w + "\x00" if h.endswith("seconds") else w for w, h in zip(tail, header)]
            line = " ".join(words[: len(words) - len(header)] + marked)
        out.append(line)
    return out


def same_output(want: str, got: str) -> bool:
    a, b = _tokens(want), _tokens(got)
    if len(a) != len(b):
        return False
    for (wa, time_a), (wb, _) in zip(a, b):
        if time_a:
            continue
        if NUMBER.fullmatch(wa) and NUMBER.fullmatch(wb):
            x, y = float(wa), float(wb)
            if not math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-6):
                return False
        elif wa != wb:
            return False
    return True


class _Checker(doctest.OutputChecker):
    def check_output(self, want, got, optionflags):
        return same_output(want, got)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"<stdin>:1: {category.__name__}: {message}")


def _examples() -> doctest.DocTest:
    # Fences end a block; the parser would take them as part of an example's output.
    text = "\n".join("" if s.startswith("```") else s for s in DOCS.read_text().splitlines())
    return doctest.DocTestParser().get_doctest(text, {}, "python.md", str(DOCS), 0)


def test_checker_compares_words_numbers_and_skips_times():
    assert same_output("{'rmse': 0.91044, 'fit_seconds': 4.4}",
                       "{'rmse': 0.910441, 'fit_seconds': 9}")
    assert not same_output("{'rmse': 0.9104}", "{'rmse': 0.9204}")
    assert not same_output("['Brazil']", "['Casablanca']")
    table = "   rmse fit_seconds\nfold 1 0.9075 3.1\nmean 0.9105 3.6"
    assert same_output(table, table.replace("3.1", "7.7"))
    assert not same_output(table, table.replace("0.9075", "0.9175"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_python_md_session_prints_what_the_page_shows(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    test = _examples()
    assert len(test.examples) > 40
    runner = doctest.DocTestRunner(checker=_Checker(), optionflags=doctest.ELLIPSIS)
    failures = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        monkeypatch.setattr(warnings, "showwarning", _show_warning)
        runner.run(test, out=failures.append, clear_globs=True)
    assert runner.failures == 0, "\n".join(failures)

"""What the import-linter contracts in pyproject.toml cannot say: no import circle
anywhere in the package, nothing below the faces imports the package root, and importing
the package (and its command line) loads no heavy module it may not need."""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

FACES = ("latentrec.cli", "latentrec.serve")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("latentrec", cache_dir=None)


def _cycles(graph) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(
                        graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.add(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_a_circle():
    g = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.c")
    g.add_import(importer="p.c", imported="p.a")
    assert _cycles(g) == [{"p.a", "p.b", "p.c"}]


def test_no_import_circle(graph):
    assert _cycles(graph) == []


def test_nothing_below_the_faces_imports_the_package_root(graph):
    below = [m for m in graph.modules
             if m != "latentrec" and not m.startswith(FACES)]
    offenders = sorted(m for m in below
                       if "latentrec" in graph.find_modules_directly_imported_by(m))
    assert offenders == []


def test_the_package_and_the_cli_import_nothing_heavy_they_may_not_use():
    # every command and the service's start pay for what `import latentrec` imports:
    # scipy.stats alone took half a second, matplotlib, fastapi or dask more
    heavy = ("scipy.stats", "matplotlib", "fastapi", "uvicorn", "dask", "distributed")
    code = ("import sys, latentrec, latentrec.cli.app; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"

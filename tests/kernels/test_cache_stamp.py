"""numba's cache of the kernels is keyed on every kernel module, not only the defining one."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba

import latentrec
from latentrec.kernels import cache_stamp, sgd


def test_the_folder_stamp_follows_every_module(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 1\n")
    first = cache_stamp.folder_stamp(tmp_path)
    assert cache_stamp.folder_stamp(tmp_path) == first
    (tmp_path / "b.py").write_text("y = 2\n")
    assert cache_stamp.folder_stamp(tmp_path) != first
    (tmp_path / "b.py").write_text("y = 1\n")
    (tmp_path / "c.py").write_text("")
    assert cache_stamp.folder_stamp(tmp_path) != first


def test_the_folder_stamp_skips_hidden_files_and_links_to_nowhere(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    first = cache_stamp.folder_stamp(tmp_path)
    (tmp_path / ".#a.py").symlink_to(tmp_path / "nowhere")  # an editor's lock
    (tmp_path / "b.py").symlink_to(tmp_path / "nowhere")
    assert cache_stamp.folder_stamp(tmp_path) == first


def test_install_leaves_an_unknown_numba_alone(monkeypatch):
    from abc import abstractmethod

    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    monkeypatch.setattr(impl, "_locator_classes", tuple(impl._locator_classes))
    assert cache_stamp.install() is False
    monkeypatch.undo()

    class Stricter(caching._CacheLocator):
        @abstractmethod
        def something_new(self): ...

    monkeypatch.setattr(impl, "_locator_classes", [c for c in impl._locator_classes
                                                    if not getattr(c, "wraps_for_latentrec",
                                                                   False)])
    monkeypatch.setattr(caching, "_CacheLocator", Stricter)
    before = list(impl._locator_classes)
    assert cache_stamp.install() is False
    assert impl._locator_classes == before
    monkeypatch.setattr(caching, "_CacheLocator", 42)
    assert cache_stamp.install() is False


def test_the_kernels_cache_is_stamped_with_the_folder():
    assert cache_stamp.install()  # installed at import; a second call adds nothing
    locator = sgd._sgd_ratings._cache._impl._locator
    assert getattr(locator, "wraps_for_latentrec", False)
    assert locator.get_source_stamp()[1] == cache_stamp.folder_stamp()
    assert Path(locator._py_file).name == "sgd.py"
    # a function elsewhere keeps numba's own locator
    outside = numba.njit(cache=True)(_outside)
    assert not getattr(outside._cache._impl._locator, "wraps_for_latentrec", False)


def _outside(x):
    return x + 1


CALLER = """
import numpy as np
from numba import njit
from .probe_callee import value

@njit(cache=True)
def probe(x):
    return value(x)
"""


def test_a_kernel_calling_a_changed_module_is_compiled_anew(tmp_path):
    """A cached kernel whose callee's module changed (its own file did not) gives the new
    callee's result, where numba alone would load the stale compiled code."""
    package = tmp_path / "latentrec"
    shutil.copytree(Path(latentrec.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    kernels = package / "kernels"
    (kernels / "probe_caller.py").write_text(CALLER)

    def run(result: int) -> str:
        (kernels / "probe_callee.py").write_text(textwrap.dedent(f"""
            from numba import njit

            @njit(cache=True)
            def value(x):
                return x + {result}
            """))
        code = ("from latentrec.kernels.probe_caller import probe; "
                "print(probe(1), sum(probe.stats.cache_hits.values()))")
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                             capture_output=True, text=True,
                             # no .pyc: a callee rewritten within the second it was
                             # first written, at the same size, would be read stale
                             env={"PYTHONPATH": str(tmp_path), "PATH": "",
                                  "PYTHONDONTWRITEBYTECODE": "1"})
        return out.stdout.split()

    assert run(10) == ["11", "0"]
    assert run(10) == ["11", "1"]  # loaded from the cache
    assert run(20) == ["21", "0"]  # the callee changed: compiled again, not loaded stale

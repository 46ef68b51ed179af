import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import latentrec
from latentrec import DataError, ModelFileError, Ratings, _files
from latentrec.models import SGDMatrixFactorization


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_ratings):
    model = SGDMatrixFactorization(n_factors=3, n_epochs=3, n_threads=1, random_state=1)
    model.fit(small_ratings)
    path = tmp_path_factory.mktemp("models") / "model.lrm"
    model.save(path)
    return model, path


def _members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _rewrite(path, out, members):
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _meta(members):
    return json.loads(np.load(io.BytesIO(members["__meta__.npy"])).tobytes())


def _with_meta(members, meta):
    members = dict(members)
    members["__meta__.npy"] = _npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return members


def test_round_trip_identical(saved, small_ratings):
    model, path = saved
    loaded = latentrec.load(path)
    df = small_ratings.to_dataframe()
    np.testing.assert_array_equal(model.predict(df.user, df.item),
                                  loaded.predict(df.user, df.item))
    assert loaded.history_ == model.history_
    assert loaded.user_map_ == model.user_map_ and loaded.item_map_ == model.item_map_


def test_saving_into_a_missing_folder_names_the_file_asked_for(saved, tmp_path):
    model, _ = saved
    target = tmp_path / "no" / "such" / "m.npz"
    with pytest.raises(FileNotFoundError) as err:
        model.save(target)
    assert err.value.filename == str(target)
    assert f"folder {target.parent} does not exist" in str(err.value)
    assert ".tmp" not in str(err.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileNotFoundError, match=r"folder .*file is not a folder"):
        model.save(tmp_path / "file" / "m.npz")


def test_a_history_number_that_is_not_finite_is_saved_as_not_measured(small_ratings,
                                                                      tmp_path):
    # JSON has no NaN: such a history was written, then refused by every load
    model = SGDMatrixFactorization(n_factors=3, n_epochs=2, random_state=1).fit(small_ratings)
    model.history_[0]["val_rmse"], model.history_[1]["extra"] = float("nan"), float("inf")
    model.save(tmp_path / "m.lrm")
    history = latentrec.load(tmp_path / "m.lrm").history_
    assert history[0]["val_rmse"] is None and history[1]["extra"] is None
    assert history[0]["train_rmse"] == model.history_[0]["train_rmse"]


def test_ids_ending_in_nul_are_refused_before_anything_is_written(tmp_path):
    # fixed-width NumPy text drops trailing NULs: "a\x00" came back as "a", a duplicate
    data = Ratings.from_arrays(np.array(["a", "a\x00", "b"], dtype=object),
                               np.array([1, 2, 1]), np.array([1.0, 2.0, 3.0]))
    model = latentrec.BiasBaseline().fit(data)
    (tmp_path / "m.lrm").write_bytes(b"kept")
    with pytest.raises(DataError, match=r"^user id 'a\\x00' ends in a NUL character"):
        model.save(tmp_path / "m.lrm")
    assert (tmp_path / "m.lrm").read_bytes() == b"kept"


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "cut.lrm"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.lrm: cannot load model"):
        latentrec.load(bad)


def test_flipped_byte_in_an_array(saved, tmp_path):
    _, path = saved
    members = _members(path)
    raw = bytearray(members["user_factors.npy"])
    raw[-3] ^= 0xFF
    members["user_factors.npy"] = bytes(raw)
    bad = _rewrite(path, tmp_path / "flip.lrm", members)  # fresh CRCs: only the checksum can tell
    with pytest.raises(ModelFileError, match="'user_factors' does not match its checksum"):
        latentrec.load(bad)


def test_flipped_byte_in_the_archive(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    bad = tmp_path / "raw.lrm"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        latentrec.load(bad)


def test_wrong_array_shape(saved, tmp_path):
    _, path = saved
    members = _members(path)
    meta = _meta(members)
    uf = np.load(io.BytesIO(members["user_factors.npy"]))[:-1]
    members["user_factors.npy"] = _npy(uf)
    meta["arrays"]["user_factors"].update(
        shape=list(uf.shape),
        sha256=__import__("hashlib").sha256(uf.tobytes()).hexdigest())
    bad = _rewrite(path, tmp_path / "shape.lrm", _with_meta(members, meta))
    with pytest.raises(ModelFileError, match="shapes do not agree"):
        latentrec.load(bad)


def test_missing_key(saved, tmp_path):
    _, path = saved
    members = _members(path)
    del members["item_bias.npy"]
    meta = _meta(members)
    del meta["arrays"]["item_bias"]
    bad = _rewrite(path, tmp_path / "missing.lrm", _with_meta(members, meta))
    with pytest.raises(ModelFileError, match="'item_bias' is missing"):
        latentrec.load(bad)


def test_missing_metadata_key(saved, tmp_path):
    _, path = saved
    members = _members(path)
    meta = _meta(members)
    del meta["params"]
    bad = _rewrite(path, tmp_path / "nometa.lrm", _with_meta(members, meta))
    with pytest.raises(ModelFileError, match="metadata lacks 'params'"):
        latentrec.load(bad)


class Boom:
    def __reduce__(self):
        return (print, ("pickle ran",))


def test_smuggled_pickle_is_never_run(saved, tmp_path, capsys):
    _, path = saved
    members = _members(path)
    members["user_bias.npy"] = _npy(np.array([Boom()], dtype=object))
    bad = _rewrite(path, tmp_path / "pickle.lrm", members)
    with pytest.raises(ModelFileError, match="pickled objects"):
        latentrec.load(bad)
    assert "pickle ran" not in capsys.readouterr().out


def test_newer_format_version(saved, tmp_path):
    _, path = saved
    members = _members(path)
    meta = _meta(members)
    meta["format_version"] = 99
    bad = _rewrite(path, tmp_path / "new.lrm", _with_meta(members, meta))
    with pytest.raises(ModelFileError, match="newer latentrec.*upgrade"):
        latentrec.load(bad)


def test_unknown_class_is_refused(saved, tmp_path):
    _, path = saved
    members = _members(path)
    meta = _meta(members)
    meta["class"] = "os.system"
    bad = _rewrite(path, tmp_path / "cls.lrm", _with_meta(members, meta))
    with pytest.raises(ModelFileError, match="unknown model class 'os.system'"):
        latentrec.load(bad)


def test_not_a_model_file(tmp_path):
    p = tmp_path / "x.lrm"
    p.write_text("user,item\n1,2\n")
    with pytest.raises(ModelFileError, match="x.lrm: .*not an .npz archive"):
        latentrec.load(p)
    with pytest.raises(ModelFileError, match="no such file"):
        latentrec.load(tmp_path / "absent.lrm")


def test_save_is_atomic_and_keeps_old_file_on_failure(saved, tmp_path, monkeypatch):
    model, path = saved
    target = tmp_path / "keep.lrm"
    model.save(target)
    before = target.read_bytes()

    def explode(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        model.save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.lrm"]


def test_loaded_model_knows_which_version_wrote_it(saved):
    _, path = saved
    loaded = latentrec.load(path)
    assert loaded.file_metadata_ == {"library_version": latentrec.__version__,
                                     "format_version": 1}


def test_saved_model_has_an_ordinary_file_mode(saved):
    import os

    _, path = saved
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# saves that are killed: nothing left behind ---------------------------------------------
_SLOW_SAVE = r"""
import sys, time
import numpy as np
from latentrec import _files
from latentrec._archive import write_archive

target, how, ready = sys.argv[1:4]
if how == "named":  # a system without unnamed files: the fallback
    _files._unnamed_file = lambda folder: None
real_savez = np.savez


class Slow:
    def __init__(self, f):
        self.f, self.writes = f, 0

    def write(self, data):
        n = self.f.write(data)
        self.writes += 1
        if self.writes == 2:  # part of the array is on disk: let the parent signal us
            self.f.flush()
            open(ready, "w").close()
            time.sleep(60)
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)


np.savez = lambda f, **members: real_savez(Slow(f), **members)
write_archive(target, {"a": np.ones(4_000_000)}, {"format": "test"})
"""


def _killed_save(folder, how, sig):
    """Start saving a 32 MB archive to ``folder/model.lrm`` in a child, and send it
    ``sig`` in the middle of the write."""
    ready = folder / "ready"
    child = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(folder / "model.lrm"),
                              how, str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never wrote"
        time.sleep(0.02)
    ready.unlink()
    child.send_signal(sig)
    assert child.wait(timeout=30) == -sig  # it still ends as the signal ends it
    if sig == signal.SIGKILL and how == "named":
        assert [p.name for p in folder.iterdir() if p.suffix == ".tmp"]  # the test is real
    return child.pid


@pytest.mark.parametrize("how", ["unnamed", "named"])
@pytest.mark.parametrize("existing", [False, True])
def test_sigterm_during_a_save_leaves_no_temporary_file(tmp_path, how, existing):
    target = tmp_path / "model.lrm"
    if existing:
        target.write_bytes(b"the old model")
    _killed_save(tmp_path, how, signal.SIGTERM)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model.lrm"] if existing else [])
    if existing:
        assert target.read_bytes() == b"the old model"


@pytest.mark.parametrize("how", ["unnamed", "named"])
def test_sigkill_during_a_save_leaves_nothing_past_the_next_save(saved, tmp_path, how):
    model, _ = saved
    target = tmp_path / "model.lrm"
    target.write_bytes(b"the old model")
    _killed_save(tmp_path, how, signal.SIGKILL)
    assert target.read_bytes() == b"the old model"  # whole: the old file
    model.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.lrm"]
    assert latentrec.load(target).n_factors_ == 3


def test_temporary_files_of_live_or_other_saves_are_kept(tmp_path):
    target = tmp_path / "m.lrm"
    host, hour = _files._HOST, time.time() - _files.STALE_AFTER - 60
    elsewhere = "0" * 8 if host != "0" * 8 else "1" * 8  # pids there mean nothing here
    live = tmp_path / f".m.lrm.{host}-{os.getpid()}-0123abcd.tmp"
    other_host = tmp_path / f".m.lrm.{elsewhere}-999999999-0123abcd.tmp"
    old_style_recent = tmp_path / ".m.lrm.abcd_123.tmp"
    old_style_stale = tmp_path / ".m.lrm.zyxw_987.tmp"
    stale_other_host = tmp_path / f".m.lrm.{elsewhere}-999999998-0123abcd.tmp"
    other_target = tmp_path / f".n.lrm.{host}-999999999-0123abcd.tmp"
    for p in (live, other_host, old_style_recent, old_style_stale, stale_other_host,
              other_target):
        p.write_bytes(b"x")
    for p in (old_style_stale, stale_other_host):
        os.utime(p, (hour, hour))
    _files.atomic_write(target, lambda f: f.write(b"new"))
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"m.lrm", live.name, other_host.name, old_style_recent.name,
                    other_target.name}


def test_a_save_restores_the_sigterm_handler_and_respects_a_custom_one(tmp_path):
    from latentrec import _files

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    seen = []

    def check(f):
        seen.append(signal.getsignal(signal.SIGTERM))
        f.write(b"x")

    _files.atomic_write(tmp_path / "a", check)
    assert seen[0] not in (signal.SIG_DFL, None)  # ours, while writing
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        _files.atomic_write(tmp_path / "a", check)
        assert seen[1] is mine and signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


def test_saving_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(saved,
                                                                              tmp_path):
    model, _ = saved
    target, link = tmp_path / "v3.lrm", tmp_path / "current.lrm"
    target.write_bytes(b"old")
    link.symlink_to(target.name)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == target.name
    assert latentrec.load(target).user_map_ == model.user_map_

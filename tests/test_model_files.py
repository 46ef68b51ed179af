"""Damaged and hostile model files: metadata that makes no sense, array headers that lie
about their size, files that cannot be opened. Loading gives a model or a ModelFileError,
never another exception, and never takes memory for more than an array declares."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import latentrec
from latentrec import ModelFileError, persistence
from latentrec._archive import digest, read_archive_meta, read_array, write_archive
from latentrec.cli import app
from latentrec.data.synthetic import synthetic
from latentrec.models import BPR, SGDMatrixFactorization

META = "__meta__.npy"


# helpers --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(model file path, its members' bytes, its metadata) of a small fitted model."""
    ratings = synthetic(30, 20, 200, random_state=0)
    model = SGDMatrixFactorization(n_factors=3, n_epochs=2, random_state=0).fit(ratings)
    path = tmp_path_factory.mktemp("model") / "model.lrm"
    model.save(path)
    members = _members(path)
    return path, members, _meta_of(members)


def _members(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _meta_of(members) -> dict:
    return json.loads(np.load(io.BytesIO(members[META])).tobytes())


def _npy_meta(meta) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return buf.getvalue()


def _write(path, members, meta=None, compress=zipfile.ZIP_STORED):
    """An archive of ``members`` (fresh CRCs), with ``meta`` as its metadata if given."""
    members = dict(members)
    if meta is not None:
        members[META] = _npy_meta(meta)
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _header(dtype, shape, fortran=False) -> bytes:
    """A .npy header (magic included) declaring ``dtype`` and ``shape``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
              "fortran_order": fortran, "shape": tuple(shape)})
    return buf.getvalue()


def _split_npy(raw: bytes) -> tuple[int, bytes]:
    """(header length, data) of a .npy member."""
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    reader(f)
    return f.tell(), raw[f.tell():]


class _Spy:
    """How far into each zip member (opened by ZipFile.open) anything read."""

    def __init__(self, monkeypatch):
        self.read = {}
        real_open = zipfile.ZipFile.open
        spy = self

        def open_(zf, name, mode="r", *args, **kwargs):
            stream = real_open(zf, name, mode, *args, **kwargs)
            key = name.filename if isinstance(name, zipfile.ZipInfo) else name
            spy.read.setdefault(key, 0)
            return _Counting(stream, spy.read, key)

        monkeypatch.setattr(zipfile.ZipFile, "open", open_)


class _Counting:
    def __init__(self, stream, counts, key):
        self.stream, self.counts, self.key = stream, counts, key

    def read(self, n=-1):
        data = self.stream.read(n)
        self.counts[self.key] = max(self.counts[self.key], self.stream.tell())
        return data

    def readinto(self, buffer):
        n = self.stream.readinto(buffer)
        self.counts[self.key] = max(self.counts[self.key], self.stream.tell())
        return n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stream.close()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _declared_nbytes(spec):
    """Bytes the metadata ``spec`` declares, or None where it declares nothing usable."""
    try:
        dtype = np.dtype(spec["dtype"])
        shape = spec["shape"]
        ok = (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)
              and not dtype.hasobject)
    except Exception:  # noqa: BLE001 - anything unusable
        return None
    return math.prod(shape) * dtype.itemsize if ok else None


def _load_checked(path, spy, members, traced):
    """Load ``path``: a model or a ModelFileError, having read no member's data beyond
    what its metadata declares (and nothing of any array whose declaration is bad), and
    having taken little memory, whatever sizes the file declares (it holds a few kB)."""
    with traced() as t, contextlib.suppress(ModelFileError):
        latentrec.load(path)
    assert t["peak"] < 16 * 2**20
    try:
        meta = _meta_of(members)
        specs = meta["arrays"] if isinstance(meta.get("arrays"), dict) else {}
    except Exception:  # noqa: BLE001 - metadata that does not parse: no array may be read
        specs = {}
    for member, n_read in spy.read.items():
        if member == META or n_read == 0:
            continue
        header_len, _ = _split_npy(members[member])
        declared = _declared_nbytes(specs.get(member[:-4], {}))
        assert declared is not None, f"{member} read although its declaration is unusable"
        assert n_read <= header_len + declared + 1, (member, n_read, declared)
    spy.read.clear()


# hypothesis: random metadata edits ------------------------------------------------------
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.integers(-5, 50),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["NaN", "Infinity", "-1", "1e400", "<f4", "|O", "float32", "auto"]))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_shapes = st.lists(st.one_of(st.integers(0, 100), st.integers(10**9, 10**13),
                             st.integers(-5, -1)), max_size=3)


def _paths(value, prefix=()):
    """Every key path into the JSON ``value``."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def _edit(meta, path, action, value):
    """``meta`` with the value at ``path`` replaced by ``value``, or removed."""
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    if action == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


@st.composite
def _metadata_edits(draw, meta):
    meta = copy.deepcopy(meta)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(meta) if p != ("format",)]  # tested on its own
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if path[-1] == "shape":
            value = draw(_shapes)
        elif path[-1] == "dtype":
            value = draw(st.sampled_from(["<f4", "<f8", ">f4", "<i8", "|O", "<U3", "V0",
                                          "float", "nonsense", 3]))
        else:
            value = draw(_json)
        _edit(meta, path, draw(st.sampled_from(["replace", "remove"])), value)
    return meta


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_metadata_loads_or_is_a_model_file_error(saved, tmp_path, monkeypatch, traced,
                                                        data):
    path, members, meta = saved
    edited = data.draw(_metadata_edits(meta))
    members = {**members, META: _npy_meta(edited)}
    bad = _write(tmp_path / "edited.lrm", members)
    _load_checked(bad, _Spy(monkeypatch), members, traced)
    monkeypatch.undo()


# hypothesis: array headers that lie ------------------------------------------------------
@st.composite
def _header_edits(draw, members, meta):
    names = sorted(n for n in members if n != META)
    member = draw(st.sampled_from(names))
    name = member[:-4]
    _, body = _split_npy(members[member])
    dtype = draw(st.sampled_from(["<f4", "<f8", "<i8", "<i4", "<U3", "|O", ">f4", "|u1"]))
    shape = draw(st.one_of(st.just(meta["arrays"][name]["shape"]),
                           st.lists(st.integers(0, 10**12), max_size=3),
                           st.tuples(st.integers(10**9, 10**12), st.integers(0, 5))))
    fortran = draw(st.booleans())
    members = {**members, member: _header(dtype, shape, fortran) + body}
    if draw(st.booleans()):  # the metadata tell the same lie
        meta = copy.deepcopy(meta)
        meta["arrays"][name].update(dtype=np.dtype(dtype).str, shape=list(shape))
        members[META] = _npy_meta(meta)
    compress = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    return members, compress


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_lying_array_headers_are_refused_before_allocating(saved, tmp_path, monkeypatch, traced,
                                                           data):
    path, members, meta = saved
    members, compress = data.draw(_header_edits(members, meta))
    bad = _write(tmp_path / "header.lrm", members, compress=compress)
    _load_checked(bad, _Spy(monkeypatch), members, traced)
    monkeypatch.undo()


# metadata that makes no sense, one by one -----------------------------------------------
@pytest.mark.parametrize("path, value, message", [
    (("global_mean",), 35.0, r"global_mean 35.0 lies outside the rating range \[1"),
    (("global_mean",), -2.0, "global_mean -2.0 lies outside the rating range"),
    (("global_mean",), "NaN", "global_mean 'NaN' is not a finite number"),
    (("global_mean",), float("nan"), "global_mean nan is not a finite number"),
    (("global_mean",), 10**400, "global_mean 1000.* is not a finite number"),
    (("global_mean",), True, "global_mean True is not a finite number"),
    (("rating_range",), [5.0, 1.0], "rating_range .* low <= high"),
    (("rating_range",), [1.0, float("inf")], "rating_range .* two finite numbers"),
    (("rating_range",), [1.0], "rating_range .* is not \\[low, high\\]"),
    (("rating_range",), "1-5", "rating_range '1-5' is not"),
    (("params", "n_factors"), -3, "hyperparameters do not fit SGDMatrixFactorization: "
                                  "n_factors must be an integer in \\[1, inf\\), got -3"),
    (("params", "learning_rate"), "NaN", "learning_rate must be .* got 'NaN'"),
    (("params", "n_factors"), [3], "hyperparameter n_factors is \\[3\\], not a plain value"),
    (("params", "no_such"), 1, "hyperparameters do not fit SGDMatrixFactorization$"),
    (("params",), [], "hyperparameters do not fit"),
    (("history",), "epochs", "history 'epochs' is not a list"),
    (("history",), [1, 2], "history row 0 is not an object"),
    (("history",), [{"epoch": "one"}], "history row 0 has an unusable 'epoch': 'one'"),
    (("history",), [{"train_rmse": "low"}], "history row 0 has an unusable 'train_rmse'"),
    (("history",), [{"seconds": float("inf")}], "unusable 'seconds': inf"),
    (("history",), [{"note": [1, 2]}], "unusable 'note'"),
    (("class",), ["SGDMatrixFactorization"], "class \\['SGD.* is not a class name"),
    (("library_version",), 3, "library_version 3 is not a version string"),
    (("format_version",), True, "no format version"),
    (("format_version",), 0, "unknown file format version 0"),
    (("arrays", "user_factors", "shape"), [10**11, 3], "shapes do not agree with each other: "
                                                       "'user_factors' is \\[100000000000, 3\\]"),
    (("arrays", "user_factors", "shape"), [30, -3], "shape \\[30, -3\\] is not a list of "
                                                    "integers >= 0"),
    (("arrays", "user_factors", "shape"), "30x3", "shape '30x3' is not a list"),
    (("arrays", "user_factors", "dtype"), "|O", "dtype '|O' is not a plain NumPy dtype"),
    (("arrays", "user_factors", "dtype"), "float32", "dtype 'float32' is not a plain"),
    (("arrays", "user_factors", "dtype"), "<i8", "'user_factors' has dtype <i8, not a "
                                                 "floating point dtype"),
    (("arrays", "user_ids", "shape"), [30, 1], "shapes do not agree .*dimensions"),
    (("arrays", "user_factors", "sha256"), 5, "sha256 5 is not a SHA-256"),
    (("arrays", "user_factors"), [], "metadata of array 'user_factors' is not an object"),
])
def test_metadata_that_makes_no_sense_is_refused(saved, tmp_path, path, value, message):
    _, members, meta = saved
    meta = copy.deepcopy(meta)
    _edit(meta, path, "replace", value)
    bad = _write(tmp_path / "bad.lrm", members, meta)
    with pytest.raises(ModelFileError, match=f"bad.lrm: cannot load model: .*{message}"):
        latentrec.load(bad)


def test_a_deeply_nested_metadata_value_is_a_model_file_error(saved, tmp_path):
    _, members, meta = saved
    raw = json.dumps(meta)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    members = {**members, META: _npy_meta_raw(raw.encode())}
    with pytest.raises(ModelFileError, match="metadata is not valid JSON"):
        latentrec.load(_write(tmp_path / "deep.lrm", members))


def _npy_meta_raw(raw: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(raw, dtype=np.uint8))
    return buf.getvalue()


def test_models_without_a_mean_load(tmp_path):
    """Mean 0 lies outside a 1-5 range, and is right for unbiased and implicit models."""
    ratings = synthetic(30, 20, 200, random_state=0)
    for model in (SGDMatrixFactorization(n_factors=2, n_epochs=1, biased=False),
                  BPR(n_factors=2, n_epochs=1)):
        model.fit(ratings).save(tmp_path / "m.lrm")
        assert model.global_mean_ == 0 and model.rating_range_[0] >= 1
        assert latentrec.load(tmp_path / "m.lrm").global_mean_ == 0


def test_a_missing_extra_array_is_a_model_file_error(saved, tmp_path):
    _, members, meta = saved
    meta = copy.deepcopy(meta)
    del meta["arrays"]["extra.rating_std"]
    members = {k: v for k, v in members.items() if k != "extra.rating_std.npy"}
    with pytest.raises(ModelFileError, match="extra arrays do not fit it .*rating_std"):
        latentrec.load(_write(tmp_path / "extra.lrm", members, meta))


# array headers, one by one ---------------------------------------------------------------
def test_a_header_declaring_a_huge_shape_is_refused_before_reading(saved, tmp_path,
                                                                    monkeypatch):
    _, members, meta = saved
    _, body = _split_npy(members["user_factors.npy"])
    members = {**members, "user_factors.npy": _header("<f4", (10**11, 3)) + body}
    bad = _write(tmp_path / "huge.lrm", members)
    spy = _Spy(monkeypatch)
    with pytest.raises(ModelFileError, match=r"'user_factors' has dtype <f4 and shape "
                                             r"\[100000000000, 3\], but the metadata says "
                                             r"<f4 and \[30, 3\]"):
        latentrec.load(bad)
    assert spy.read["user_factors.npy"] == len(_header("<f4", (10**11, 3)))  # no data


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_consistent_lie_takes_no_more_memory_than_the_file_holds(saved, tmp_path,
                                                                   compress, traced):
    """Headers and metadata that agree on 10^11 users: refused when the data run out,
    having taken memory only for the bytes that are there."""
    _, members, meta = saved
    meta = copy.deepcopy(meta)
    n = 10**11
    lie = {"user_ids": (n,), "user_factors": (n, 3), "user_bias": (n,),
           "seen_indptr": (n + 1,)}
    members = dict(members)
    for name, shape in lie.items():
        spec = meta["arrays"][name]
        _, body = _split_npy(members[name + ".npy"])
        members[name + ".npy"] = _header(spec["dtype"], shape) + body
        spec["shape"] = list(shape)
    meta["arrays"]["seen_indices"]["shape"] = [meta["arrays"]["seen_indices"]["shape"][0]]
    bad = _write(tmp_path / "lie.lrm", members, meta, compress=compress)
    with traced() as t, pytest.raises(ModelFileError, match="is cut short: .* of its "
                                                          "1200000000000 bytes are there"):
        latentrec.load(bad)
    assert t["peak"] < 20 * 2**20


def test_object_arrays_are_refused_from_the_header(saved, tmp_path, monkeypatch):
    _, members, _ = saved
    members = {**members, "user_bias.npy": _header("|O", (30,)) + b"\x80\x04junk"}
    spy = _Spy(monkeypatch)
    with pytest.raises(ModelFileError, match="'user_bias' holds pickled objects"):
        latentrec.load(_write(tmp_path / "obj.lrm", members))
    assert spy.read["user_bias.npy"] == len(_header("|O", (30,)))


@pytest.mark.parametrize("raw, message", [
    (b"not an npy file at all", "'user_bias' has no valid .npy header"),
    (b"\x93NUMPY\x03\x00" + b"\x00" * 20, "'user_bias' has no valid .npy header .*3.0"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 'x'}  ", "'user_bias' has no valid .npy header"),
])
def test_a_broken_header_is_a_model_file_error(saved, tmp_path, raw, message):
    _, members, _ = saved
    members = {**members, "user_bias.npy": raw}
    with pytest.raises(ModelFileError, match=message):
        latentrec.load(_write(tmp_path / "hdr.lrm", members))


def test_a_member_longer_than_its_header_is_refused(tmp_path):
    a = np.arange(4.0)
    meta = {"format": "t", "format_version": 1}
    write_archive(tmp_path / "a.npz", {"a": a}, meta)
    members = _members(tmp_path / "a.npz")
    members["a.npy"] += b"\x00" * 8
    _write(tmp_path / "b.npz", members)
    with np.load(tmp_path / "b.npz") as npz:
        meta = read_archive_meta(npz, "t", "test file", ValueError)
        with pytest.raises(ValueError, match="'a' has more data than its header declares"):
            read_array(npz, "a", meta["arrays"]["a"], ValueError)


def test_arrays_in_fortran_order_round_trip(tmp_path):
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    write_archive(tmp_path / "f.npz", {"a": a, "e": np.zeros((0, 2))},
                  {"format": "t", "format_version": 1})
    for source in (tmp_path / "f.npz", io.BytesIO((tmp_path / "f.npz").read_bytes())):
        with np.load(source) as npz:  # a file: read at once; in memory: as data arrive
            meta = read_archive_meta(npz, "t", "test file", ValueError)
            got = read_array(npz, "a", meta["arrays"]["a"], ValueError)
            empty = read_array(npz, "e", meta["arrays"]["e"], ValueError)
        np.testing.assert_array_equal(got, a)
        assert got.flags.writeable and empty.shape == (0, 2)
        assert digest(got) == meta["arrays"]["a"]["sha256"]


# permission denied -----------------------------------------------------------------------
def test_an_unreadable_model_file_says_permission_denied(saved, monkeypatch):
    path, _, _ = saved

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(persistence, "open", denied, raising=False)
    with pytest.raises(ModelFileError, match="model.lrm: cannot load model: cannot open the "
                                             "file: Permission denied$"):
        latentrec.load(path)
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 2
    assert "cannot open the file: Permission denied" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads any file; the monkeypatched test covers this")
def test_an_unreadable_model_file_for_real(saved, tmp_path):
    path, _, _ = saved
    mine = tmp_path / "private.lrm"
    mine.write_bytes(path.read_bytes())
    mine.chmod(0)
    with pytest.raises(ModelFileError, match="cannot open the file: Permission denied"):
        latentrec.load(mine)


def test_a_folder_is_not_a_model_file(tmp_path):
    (tmp_path / "folder.lrm").mkdir()
    with pytest.raises(ModelFileError, match="folder.lrm: cannot load model: is a directory, "
                                             "not a model file"):
        latentrec.load(tmp_path / "folder.lrm")


def test_a_damaged_model_is_exit_2_on_the_command_line(saved, tmp_path):
    _, members, meta = saved
    meta = {**meta, "global_mean": 35.0}
    bad = _write(tmp_path / "bad.lrm", members, meta)
    result = CliRunner().invoke(app, ["info", str(bad)])
    assert result.exit_code == 2
    assert "global_mean 35.0 lies outside the rating range" in result.output

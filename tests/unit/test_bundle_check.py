"""Bundle validation at load: a corrupt bundle is a GraphError, never a crash or a wrong answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pspread
from pspread.engine import bundle_check
from pspread.engine.io import _crc32, check_bundle, load_graph, save_graph
from pspread.errors import GraphError, PspreadError

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

FIX = "pspread graph generate"


@pytest.fixture
def graph() -> pspread.Graph:
    return pspread.generate_graph("ba", nodes=300, degree=3, seed=1, weights="uniform")


@pytest.fixture
def bundle(tmp_path, graph) -> Path:
    return save_graph(graph, tmp_path / "g")


def rewrite(bundle: Path, name: str, arr: np.ndarray) -> None:
    """Replace one array and keep meta.json in step (as a broken converter would)."""
    np.save(bundle / f"{name}.npy", arr, allow_pickle=False)
    meta = json.loads((bundle / "meta.json").read_text())
    meta["arrays"][name].update(dtype=arr.dtype.str, shape=list(arr.shape), checksum=_crc32(arr))
    (bundle / "meta.json").write_text(json.dumps(meta))


def mutate(name: str, fn: Callable[[np.ndarray], np.ndarray | None]) -> Callable[[Path], None]:
    def apply(bundle: Path) -> None:
        arr = np.load(bundle / f"{name}.npy")
        out = fn(arr)
        rewrite(bundle, name, arr if out is None else out)
    return apply


def setitem(pos: int, value: float) -> Callable[[np.ndarray], None]:
    def fn(a: np.ndarray) -> None:
        a[pos] = value
    return fn


def move_in_arc(a: np.ndarray) -> None:
    """Shift one in-arc from row 0 to row 1 (counts change, the arrays stay in range)."""
    a[1] -= 1


def swap_sources(a: np.ndarray) -> None:
    a[[0, -1]] = a[[-1, 0]]


CASES = [
    # (array mutation, expected fragment of the message)
    (mutate("in_indices", setitem(5, 300)), "'in_indices' holds node id 300"),
    (mutate("in_indices", setitem(5, -1)), "'in_indices' holds node id -1"),
    (mutate("in_indices", setitem(5, 2**31 - 1)), "'in_indices' holds node id 2147483647"),
    (mutate("in_indptr", setitem(10, 0)), "'in_indptr' decreases at entry 10"),
    (mutate("in_indptr", setitem(0, 1)), "'in_indptr' starts at 1"),
    (mutate("in_indptr", setitem(-1, 10**9)), "'in_indptr' ends at 1000000000"),
    (mutate("in_indptr", move_in_arc), "not the transpose"),
    (mutate("in_indices", swap_sources), "not the transpose"),
    (mutate("in_p_data", setitem(3, np.nan)), "'in_p_data' holds nan"),
    (mutate("in_p_data", lambda a: a.__setitem__(3, a[3] * np.float32(1.5))), "not the transpose"),
    (mutate("indices", lambda a: a.astype(np.float64)), "'indices' has dtype <f8"),
    (mutate("indices", lambda a: a.astype(">i4")), "'indices' is stored big-endian"),
    (mutate("in_p_data", lambda a: a.astype(">f4")), "'in_p_data' is stored big-endian"),
    (mutate("weights", lambda a: a.astype(np.float16)), "'weights' has dtype <f2"),
    (mutate("indices", setitem(7, 300)), "'indices' holds node id 300 at arc 7"),
    (mutate("indptr", setitem(5, 0)), "'indptr' decreases at entry 5"),
    (mutate("weights", setitem(2, np.inf)), "'weights' holds inf at arc 2"),
    (mutate("weights", setitem(2, -1.0)), "'weights' holds -1.0 at arc 2"),
    (mutate("weights", lambda a: a.__setitem__(2, a[2] * 2)), "'out_weight' says node 0"),
    (mutate("out_weight", setitem(4, 0.0)), "'out_weight' says node 4 has weighted out-degree 0.0"),
    (mutate("out_weight", setitem(4, np.nan)), "'out_weight' holds nan at node 4"),
    (mutate("out_weight", lambda a: a[:-1]), "'out_weight' has shape [299], expected [300]"),
    (mutate("p_data", setitem(3, np.nan)), "'p_data' holds nan at arc 3"),
    (mutate("p_data", setitem(3, 1e30)), "'p_data' holds 1.0000000150474662e+30"),
    (mutate("p_data", lambda a: a.__setitem__(3, a[3] * np.float32(0.5))), "weights/out_weight"),
    (mutate("p_data", lambda a: a.reshape(1, -1)), "'p_data' has shape [1,"),
]


@pytest.mark.parametrize("breaker, needle", CASES)
def test_corrupt_arrays_raise_graph_error_naming_them(bundle, breaker, needle):
    load_graph(bundle)  # intact: passes (and its verdict is cached)
    breaker(bundle)
    with pytest.raises(GraphError) as err:
        load_graph(bundle)
    msg = str(err.value)
    assert str(bundle) in msg and needle in msg and FIX in msg, msg
    with pytest.raises(GraphError, match="pspread graph convert"):
        check_bundle(bundle)


@pytest.fixture
def labelled(tmp_path) -> Path:
    g = pspread.Graph.from_edges([0, 1, 2], [1, 2, 0], labels=["hund", "katze", "eiscrème"])
    return save_graph(g, tmp_path / "words")


@pytest.mark.parametrize("breaker, needle", [
    (mutate("labels_offsets", setitem(2, 3)), "'labels_offsets' decreases at entry 2"),
    (mutate("labels_offsets", setitem(3, 13)), "'labels_offsets' ends at 13"),
    (mutate("labels_offsets", setitem(2, 15)), "'labels_offsets' splits a UTF-8 character"),
    (mutate("labels_blob", setitem(0, 0xFF)), "'labels_blob' is not UTF-8 text (byte 0)"),
    (mutate("labels_blob", lambda a: a.astype(np.int16)), "'labels_blob' has dtype <i2"),
])
def test_corrupt_labels_raise_graph_error(labelled, breaker, needle):
    assert load_graph(labelled).labels.label(2) == "eiscrème"
    breaker(labelled)
    with pytest.raises(GraphError) as err:
        load_graph(labelled)
    assert needle in str(err.value) and str(labelled) in str(err.value)


def test_verdict_is_cached_per_bundle_version(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv(bundle_check.CACHE_ENV, str(tmp_path / "cache"))
    bundle_check.forget_verdicts()
    assert check_bundle(bundle).cached == "no"
    assert check_bundle(bundle).cached == "process"
    assert len(os.listdir(tmp_path / "cache")) == 1
    bundle_check.forget_verdicts()  # a new process: the verdict comes from disk
    assert check_bundle(bundle).cached == "disk"
    # the array files changed after the check: checked again (and found wrong)
    p = np.load(bundle / "p_data.npy")
    p[0] = np.nan
    np.save(bundle / "p_data.npy", p)  # meta.json untouched: only the file's identity moved
    with pytest.raises(GraphError, match="'p_data' holds nan"):
        load_graph(bundle)


def test_failures_are_not_cached(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv(bundle_check.CACHE_ENV, str(tmp_path / "cache"))
    mutate("weights", setitem(0, np.nan))(bundle)
    for _ in range(2):
        with pytest.raises(GraphError, match="'weights' holds nan"):
            load_graph(bundle)
    assert not (tmp_path / "cache").exists() or os.listdir(tmp_path / "cache") == []


def test_cache_folder_that_cannot_be_written_falls_back(bundle, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(bundle_check.CACHE_ENV, str(blocker / "cache"))
    bundle_check.forget_verdicts()
    assert check_bundle(bundle).cached == "no"
    assert check_bundle(bundle).cached == "process"  # still remembered in the process
    monkeypatch.setenv(bundle_check.CACHE_ENV, "off")
    assert bundle_check.cache_dir() is None
    monkeypatch.delenv(bundle_check.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bundle_check.cache_dir() == tmp_path / "xdg" / "pspread" / "verdicts"


def test_unwritable_home_in_a_fresh_process(bundle, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (bundle_check.CACHE_ENV, "XDG_CACHE_HOME")}
    env["HOME"] = "/proc/pspread-no-home"
    code = ("import sys; from pspread.engine.io import check_bundle; "
            "v = check_bundle(sys.argv[1]); print(v.ok, v.cached)")
    out = subprocess.run([sys.executable, "-c", code, str(bundle)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["True", "no"], out.stderr


def test_graph_info_reports_the_load_verdict(app, bundle):
    from typer.testing import CliRunner

    runner = CliRunner()
    res = runner.invoke(app, ["graph", "info", str(bundle), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["validation"]["ok"] is True
    mutate("in_indices", setitem(0, 10**6))(bundle)
    res = runner.invoke(app, ["graph", "info", str(bundle)])
    assert res.exit_code != 0 and "'in_indices' holds node id 1000000" in res.output


def test_corrupt_reverse_arcs_are_an_error_not_a_crash_in_query(bundle):
    mutate("in_indices", setitem(0, 10**8))(bundle)
    mutate("in_indptr", setitem(5, 10**7))(bundle)
    out = subprocess.run([sys.executable, "-m", "pspread", "query", str(bundle), "n1 n2", "--kernel", "dense"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "in_indptr" in out.stderr and "Traceback" not in out.stderr


def as_float(dtype: str, pos: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    """Set one entry (in float64), then store the array as ``dtype`` (float16 turns 2**31-1 into inf)."""
    def fn(a: np.ndarray) -> np.ndarray:
        b = a.astype(np.float64)
        b[pos] = value
        with np.errstate(all="ignore"):
            return b.astype(dtype)
    return fn


# A float offset or id array is refused by its dtype before any value is converted to an integer:
# the fuzz found indptr[0] = 2**31-1 stored as <f2 (inf), whose int() was an OverflowError.
FLOAT_IDS = [(name, dtype, pos, value)
             for name in ("indptr", "in_indptr", "indices", "in_indices")
             for dtype in ("<f2", "<f4", "<f8", ">f4")
             for pos, value in ((0, 2**31 - 1), (-1, 2**31 - 1), (0, np.nan), (-1, np.inf), (0, -np.inf), (0, 1e300))]


@pytest.mark.parametrize("name, dtype, pos, value", FLOAT_IDS)
def test_float_offsets_and_ids_are_refused_by_dtype(tmp_path, name, dtype, pos, value):
    path = save_graph(SMALL, tmp_path / "b")
    mutate(name, as_float(dtype, pos, value))(path)
    want = f"has dtype {dtype}"  # >f4 too: a float is wrong in either byte order
    for validate in (True, False):  # the dtype check is O(1) and never skipped
        with pytest.raises(GraphError) as err:
            load_graph(path, validate=validate)
        assert f"array {name!r} {want}" in str(err.value) and FIX in str(err.value), str(err.value)


@pytest.mark.parametrize("name, shape", [("indices", ()), ("indptr", ()), ("weights", ()), ("in_indptr", ()),
                                         ("indptr", (3, 3)), ("in_indices", (9, 1))])
def test_arrays_of_the_wrong_shape_are_refused_before_their_length_is_read(tmp_path, name, shape):
    path = save_graph(SMALL, tmp_path / "b")
    mutate(name, lambda a: (np.resize(a, shape) if shape else a[:1].reshape(())).copy())(path)
    for validate in (True, False):
        with pytest.raises(GraphError, match=rf"array {name!r} has shape \[{', '.join(map(str, shape))}\]"):
            load_graph(path, validate=validate)


@pytest.mark.parametrize("field, value", [("shape", 9), ("shape", None), ("dtype", 4), ("file", 3), ("file", None)])
def test_malformed_meta_entries_are_graph_errors(bundle, field, value):
    meta = json.loads((bundle / "meta.json").read_text())
    meta["arrays"]["indices"][field] = value
    (bundle / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GraphError, match="meta.json entry for array 'indices' is incomplete or malformed"):
        load_graph(bundle)


def test_float_label_offsets_are_refused_by_dtype(labelled):
    mutate("labels_offsets", as_float("<f2", -1, 2**31 - 1))(labelled)
    with pytest.raises(GraphError, match="'labels_offsets' has dtype <f2"):
        load_graph(labelled)


# ------------------------------------------------------------------- fuzzing
SMALL = pspread.Graph.from_edges([0, 0, 1, 2, 3, 3, 4, 5, 6], [1, 2, 3, 3, 4, 0, 5, 6, 2],
                                 [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25, 1.0, 2.0], num_nodes=8)
NAMES = ("indptr", "indices", "weights", "out_weight", "p_data", "in_indptr", "in_indices", "in_p_data")
SPECIAL = st.sampled_from([-1, 0, 1, 7, 8, 9, 2**31 - 1, -2**31, 0.5, 1e-30, 1e30, np.nan, np.inf, -np.inf])
DTYPES = st.sampled_from(["<i4", "<i8", ">i4", ">i8", "<f4", "<f8", ">f4", "<f2", "<u4", "|u1"])


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[str, str, object]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(NAMES))
        kind = draw(st.sampled_from(["set", "set", "set", "swap", "dtype", "truncate", "extend", "reverse"]))
        arg: object = None
        if kind == "set":
            arg = (draw(st.integers(0, 40)), draw(st.one_of(SPECIAL, st.floats(-2, 2))))
        elif kind == "swap":
            arg = (draw(st.integers(0, 40)), draw(st.integers(0, 40)))
        elif kind == "dtype":
            arg = draw(DTYPES)
        out.append((name, kind, arg))
    return out


def apply_mutation(a: np.ndarray, kind: str, arg: object) -> np.ndarray:
    if kind == "set" and len(a):
        pos, value = arg  # type: ignore[misc]
        with np.errstate(all="ignore"):
            try:
                a[pos % len(a)] = value
            except (OverflowError, ValueError):
                a[pos % len(a)] = 0
    elif kind == "swap" and len(a):
        i, j = arg[0] % len(a), arg[1] % len(a)  # type: ignore[index]
        a[[i, j]] = a[[j, i]]
    elif kind == "dtype":
        with np.errstate(all="ignore"):
            return a.astype(arg)  # type: ignore[call-overload]
    elif kind == "truncate":
        return a[:-1]
    elif kind == "extend":
        return np.concatenate([a, a[-1:]])
    elif kind == "reverse":
        return a[::-1].copy()
    return a


MODELS = [pspread.SpreadModel.preset("threshold", threshold=0.05), pspread.SpreadModel.preset("spreadr", max_steps=4),
          pspread.SpreadModel(retention=0.2, decay=0.1, suppress=0.01, inhibition=0.1, max_steps=4)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(muts=mutations(), model=st.sampled_from(MODELS), seeds=st.lists(st.integers(0, 7), min_size=1, max_size=3))
def test_fuzzed_bundles_load_cleanly_or_answer_on_every_kernel(muts, model, seeds):
    with tempfile.TemporaryDirectory(prefix="pspread-fuzz-") as tmp:
        path = save_graph(SMALL, Path(tmp) / "b")
        for name, kind, arg in muts:
            rewrite(path, name, apply_mutation(np.load(path / f"{name}.npy"), kind, arg))
        try:
            g = load_graph(path)
        except PspreadError:
            return  # refused at load, with a message: the outcome we want for a broken bundle
        want = pspread.Spreader(g, model, kernel="reference").query(seeds).activation()
        for kernel in ("dense", "frontier", "auto"):
            got = pspread.Spreader(g, model, kernel=kernel).query(seeds).activation()
            scale = max(1.0, float(np.abs(want).max()))
            assert np.abs(got - want).max() <= 1e-4 * scale, (kernel, muts)

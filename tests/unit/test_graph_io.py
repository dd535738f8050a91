"""Bundles: exact round trips, mmap without copies, atomic writes, clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import pspread
from pspread.engine.graph import Graph
from pspread.engine.io import graph_info, load_bundle, load_graph, save_graph, verify_bundle
from pspread.engine.labels import ArrayLabels, PrefixLabels
from pspread.errors import GraphError

ARRAYS = ("indptr", "indices", "weights", "out_weight", "p_data", "in_indptr", "in_indices", "in_p_data")


@pytest.fixture
def graph() -> Graph:
    return pspread.generate_graph("ba", nodes=300, degree=3, seed=1, weights="uniform")


@pytest.fixture
def labelled() -> Graph:
    return Graph.from_edges([0, 1, 2, 2], [1, 2, 0, 3], [1.0, 2.0, 0.5, 1.5],
                            labels=["dog", "cat", "ice cream", "bone"], source="test")


@pytest.fixture
def bundle(tmp_path, graph):
    return save_graph(graph, tmp_path / "g")


def _fresh(g: Graph) -> Graph:
    return Graph(np.array(g.indptr), np.array(g.indices), np.array(g.weights), labels=g.labels,
                 directed=g.directed)


def test_round_trip_is_exact_and_mmapped(bundle, graph):
    g = load_graph(bundle)
    assert (g.num_nodes, g.num_arcs, g.directed, g.source) == (graph.num_nodes, graph.num_arcs, False, graph.source)
    for name in ("indptr", "indices", "weights"):
        arr = getattr(g, name)
        assert isinstance(arr, np.memmap) and str(arr.filename).endswith(f"{name}.npy")
        np.testing.assert_array_equal(arr, getattr(graph, name))
        assert arr.dtype == getattr(graph, name).dtype
    assert g.indices.dtype == np.int32 and g.indptr.dtype == np.int64 and g.weights.dtype == np.float32
    assert isinstance(g.labels, PrefixLabels) and g.labels.label(7) == "n7"


def test_derived_arrays_come_from_the_bundle(bundle, graph):
    g = load_graph(bundle)
    # precomputed arrays were installed, not recomputed: they are the mmapped files
    assert isinstance(g.__dict__["p_data"], np.memmap) and isinstance(g.__dict__["out_weight"], np.memmap)
    assert all(isinstance(a, np.memmap) for a in g.__dict__["transpose_csr"])
    ref = _fresh(graph)
    np.testing.assert_allclose(g.p_data, ref.p_data)
    np.testing.assert_allclose(g.out_weight, ref.out_weight)
    for got, want in zip(g.transpose_csr, ref.transpose_csr):
        np.testing.assert_allclose(got, want)


def test_array_labels_round_trip(tmp_path, labelled):
    g = load_graph(save_graph(labelled, tmp_path / "words"))
    assert isinstance(g.labels, ArrayLabels) and isinstance(g.labels.blob, np.memmap)
    assert g.labels.to_list() == ["dog", "cat", "ice cream", "bone"]
    assert g.labels.lookup("Ice_Cream") == 2
    meta = json.loads((tmp_path / "words" / "meta.json").read_text())
    assert meta["labels"] == {"kind": "array"} and "labels_blob" in meta["arrays"]


def test_meta_records_format_counts_and_checksums(bundle, graph):
    meta = json.loads((bundle / "meta.json").read_text())
    assert meta["format"] == "pspread-graph" and meta["format_version"] == 1
    assert meta["num_nodes"] == graph.num_nodes and meta["num_arcs"] == graph.num_arcs
    assert meta["labels"] == {"kind": "prefix", "prefix": "n"} and meta["created"].endswith("Z")
    assert set(ARRAYS) <= set(meta["arrays"])
    assert meta["arrays"]["indices"]["dtype"] == "<i4"
    assert all(spec["checksum"].startswith("crc32:") for spec in meta["arrays"].values())
    assert set(verify_bundle(bundle)) == set(meta["arrays"])


def test_refuses_to_overwrite_unless_asked(tmp_path, graph, labelled):
    path = save_graph(graph, tmp_path / "g")
    with pytest.raises(GraphError, match="already exists"):
        save_graph(labelled, path)
    save_graph(labelled, path, overwrite=True)
    assert load_graph(path).num_nodes == 4
    assert sorted(os.listdir(tmp_path)) == ["g"]  # no temp or old folder left


def test_never_replaces_a_folder_that_is_not_a_bundle(tmp_path, graph):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "keep.txt").write_text("x")
    with pytest.raises(GraphError, match="not a graph bundle"):
        save_graph(graph, tmp_path / "docs", overwrite=True)
    assert (tmp_path / "docs" / "keep.txt").exists()


def test_failed_save_leaves_nothing(tmp_path, graph, monkeypatch):
    calls = []
    real_save = np.save

    def flaky(path, arr, **kw):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_save(path, arr, **kw)

    monkeypatch.setattr(np, "save", flaky)
    with pytest.raises(OSError):
        save_graph(graph, tmp_path / "g")
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_bundle(tmp_path, graph, labelled, monkeypatch):
    path = save_graph(labelled, tmp_path / "g")
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        save_graph(graph, path, overwrite=True)
    monkeypatch.undo()
    assert load_graph(path).labels.to_list()[0] == "dog"
    assert os.listdir(tmp_path) == ["g"]


def _edit_meta(bundle, fn):
    meta = json.loads((bundle / "meta.json").read_text())
    fn(meta)
    (bundle / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("breaker, needle", [
    (lambda b: (b / "weights.npy").unlink(), "'weights' is missing"),
    (lambda b: os.truncate(b / "indices.npy", 500), "'indices'"),
    (lambda b: _edit_meta(b, lambda m: m.update(format_version=99)), "format version 99"),
    (lambda b: _edit_meta(b, lambda m: m.update(format="other")), "not a pspread graph bundle"),
    (lambda b: (b / "meta.json").write_text("{not json"), "meta.json: unreadable"),
    (lambda b: (b / "meta.json").unlink(), "no meta.json"),
    (lambda b: _edit_meta(b, lambda m: m["arrays"]["p_data"].update(shape=[3])), "'p_data' has dtype"),
    (lambda b: _edit_meta(b, lambda m: m["arrays"]["weights"].update(dtype="<f8")), "'weights' has dtype"),
    (lambda b: _edit_meta(b, lambda m: m.update(num_nodes=5)), "'indptr'"),
    (lambda b: _edit_meta(b, lambda m: m.update(labels={"kind": "emoji"})), "labels kind"),
])
def test_broken_bundles_raise_graph_error_naming_the_problem(bundle, breaker, needle):
    breaker(bundle)
    with pytest.raises(GraphError) as err:
        load_graph(bundle)
    msg = str(err.value)
    assert str(bundle) in msg and needle in msg and "pspread graph convert" in msg


def test_inconsistent_indptr_is_caught_cheaply(bundle):
    indptr = np.load(bundle / "indptr.npy")
    indptr[-1] += 1
    np.save(bundle / "indptr.npy", indptr)
    with pytest.raises(GraphError, match="CSR arrays disagree"):
        load_graph(bundle, validate=False)


def test_verify_finds_corrupt_bytes(bundle):
    load_graph(bundle, verify=True)  # intact: passes
    data = bytearray((bundle / "weights.npy").read_bytes())
    data[-1] ^= 0xFF
    (bundle / "weights.npy").write_bytes(bytes(data))
    load_graph(bundle, validate=False)  # cheap load does not read the bytes
    with pytest.raises(GraphError, match="'weights' fails its checksum"):
        load_bundle(bundle, verify=True)


def test_load_graph_reads_edge_lists_and_reports_missing_paths(tmp_path):
    f = tmp_path / "e.tsv"
    f.write_text("0\t1\n1\t2\n")
    g = load_graph(f, directed=False)
    assert g.num_nodes == 3 and g.num_arcs == 4
    with pytest.raises(GraphError, match="no such graph file"):
        load_graph(tmp_path / "nope")


def test_graph_info(bundle, graph):
    info = graph_info(load_graph(bundle), bundle)
    deg = graph.out_degree()
    assert info["num_edges"] * 2 == graph.num_arcs and info["out_degree"]["max"] == deg.max()
    assert info["format_version"] == 1 and info["sinks"] == 0 and info["labels"] == "prefix"
    assert info["disk_bytes"] > graph.nbytes()


def test_graph_without_arcs_round_trips(tmp_path):
    g = load_graph(save_graph(pspread.generate_graph("grid", rows=1, cols=1), tmp_path / "one"))
    assert g.num_nodes == 1 and g.num_arcs == 0 and isinstance(g.indices, np.memmap)
    assert graph_info(g)["sinks"] == 1


def test_spreader_answers_on_a_read_only_bundle(bundle, graph):
    g = load_graph(bundle)
    want = pspread.Spreader(graph, kernel="reference").query("n5 n77")
    got = pspread.Spreader(g, kernel="auto").query("n5 n77")
    np.testing.assert_allclose(got.activation(), want.activation(), atol=1e-6)
    assert got.top[0][0] == want.top[0][0]

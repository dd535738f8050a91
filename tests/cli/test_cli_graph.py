"""`pspread graph generate|convert|info`: exit codes, JSON output, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

runner = CliRunner()


def _ok(app, *args):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def _fails(app, *args, needle=""):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert "Traceback" not in res.output
    return res


@pytest.mark.slow
def test_generate_then_info_json(app, tmp_path):
    out = tmp_path / "ba"
    res = _ok(app, "graph", "generate", "barabasi-albert", "--nodes", "2000", "--degree", "3", "--seed", "7",
              "-o", str(out))
    assert "2,000 nodes" in res.stdout and (out / "meta.json").exists()
    info = json.loads(_ok(app, "graph", "info", str(out), "--json", "--verify").stdout)
    assert info["num_nodes"] == 2000 and info["directed"] is False and info["verified"] is True
    assert info["out_degree"]["max"] > 5 * info["out_degree"]["mean"] and info["format_version"] == 1
    assert info["source"].startswith("barabasi-albert(n=2000, m=3, seed=7")


def test_generate_is_deterministic_and_respects_force(app, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        _ok(app, "graph", "generate", "watts_strogatz", "-n", "500", "--degree", "4", "--rewire", "0.2", "-s", "3",
            "--weights", "uniform", "-o", str(out))
    for name in ("indices.npy", "weights.npy"):
        np.testing.assert_array_equal(np.load(a / name), np.load(b / name))
    _fails(app, "graph", "generate", "grid", "--rows", "3", "--cols", "3", "-o", str(a), needle="already exists")
    _ok(app, "graph", "generate", "grid", "--rows", "3", "--cols", "3", "-o", str(a), "--force")
    assert json.loads(_ok(app, "graph", "info", str(a), "--json").stdout)["num_nodes"] == 9


@pytest.mark.parametrize("args, needle", [
    (["generate", "hypercube", "-n", "10"], "unknown graph kind"),
    (["generate", "ws", "-n", "10", "--degree", "3"], "even"),
    (["generate", "ba", "-n", "10", "--degree", "2.5"], "--degree must be a whole number"),
    (["generate", "ba", "-n", "10"], "needs degree"),
])
def test_generate_errors(app, tmp_path, args, needle):
    _fails(app, "graph", *args, "-o", str(tmp_path / "x"), needle=needle)
    assert not (tmp_path / "x").exists()


def test_convert_labelled_file_and_query_info(app, tmp_path):
    src = tmp_path / "words.tsv"
    src.write_text("cue\tresponse\nice cream\tcone\ndog\tcat\n")
    res = _ok(app, "graph", "convert", str(src), "--undirected")
    out = tmp_path / "words"  # default output: the file name without extensions
    assert "wrote" in res.stdout and (out / "labels_blob.npy").exists()
    info = json.loads(_ok(app, "graph", "info", str(out), "--json").stdout)
    assert info["labels"] == "array" and info["num_nodes"] == 4 and info["num_edges"] == 2
    table = _ok(app, "graph", "info", str(out)).stdout
    assert "labels_blob" in table and "format version" in table


def test_convert_options_and_json(app, tmp_path):
    src = tmp_path / "e.csv"
    src.write_text("source,target\n0,1\n")
    res = _ok(app, "graph", "convert", str(src), "-o", str(tmp_path / "g"), "--no-header", "--json")
    data = json.loads(res.stdout)
    assert data["num_nodes"] == 4 and data["labels"] == "array"  # header read as an edge, so text ids


def test_convert_errors(app, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("0\t1\t1\n1\t2\tlots\n")
    _fails(app, "graph", "convert", str(bad), "-o", str(tmp_path / "g"), needle="bad.tsv, line 2: weight 'lots'")
    assert not (tmp_path / "g").exists()
    _fails(app, "graph", "convert", str(tmp_path / "missing.tsv"), needle="no such file")
    _fails(app, "graph", "convert", str(tmp_path), needle="is a folder")


def test_info_errors(app, tmp_path):
    _fails(app, "graph", "info", str(tmp_path / "nothing"), needle="no such bundle")
    (tmp_path / "empty").mkdir()
    _fails(app, "graph", "info", str(tmp_path / "empty"), needle="not a graph bundle")
    out = tmp_path / "g"
    _ok(app, "graph", "generate", "er", "-n", "100", "--degree", "4", "-o", str(out))
    data = bytearray((out / "indices.npy").read_bytes())
    data[-1] ^= 0x01
    (out / "indices.npy").write_bytes(bytes(data))
    _fails(app, "graph", "info", str(out), "--verify", needle="'indices' fails its checksum")
    meta = json.loads((out / "meta.json").read_text())
    meta["format_version"] = 7
    (out / "meta.json").write_text(json.dumps(meta))
    _fails(app, "graph", "info", str(out), needle="format version 7")


def test_info_on_an_edge_list_file(app, tmp_path):
    src = tmp_path / "e.tsv"
    src.write_text("0\t1\n1\t2\n")
    data = json.loads(_ok(app, "graph", "info", str(src), "--json").stdout)
    assert data["num_arcs"] == 4 and "format_version" not in data  # an edge list reads undirected

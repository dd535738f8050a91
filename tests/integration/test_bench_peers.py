"""``pspread bench peers`` on a tiny graph, against networkx only (figures, not timings)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import pspread
from pspread.bench.peers import bench_peers
from pspread.engine.generators import barabasi_albert


def test_bench_peers_recall_against_networkx():
    g = barabasi_albert(300, 3, seed=2)
    report = bench_peers(g, queries=6, rounds=2, k=10, peers=["networkx"])
    by = {m.method: m for m in report.methods}
    assert set(by) == {"pspread", "networkx"}
    for m in report.methods:
        assert 0.0 <= m.recall <= 1.0
        assert m.ms_min <= m.ms_per_query <= m.ms_max
    assert by["pspread"].recall >= 0.99
    assert by["networkx"].ratio_min <= by["networkx"].ratio_vs_pspread <= by["networkx"].ratio_max


def test_bench_peers_cli_json(app, tmp_path):
    path = tmp_path / "g"
    pspread.save_graph(barabasi_albert(200, 3, seed=1), path)
    result = CliRunner().invoke(app, ["bench", "peers", str(path), "--queries", "4", "--rounds", "2",
                                      "--peers", "networkx", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [m["method"] for m in data["methods"]] == ["pspread", "networkx"]
    bad = CliRunner().invoke(app, ["bench", "peers", str(path), "--peers", "graphtool"])
    assert bad.exit_code != 0 and "graphtool" in bad.output


def test_bench_peers_set_reaches_pspread(app, tmp_path):
    """--set changes pspread's model (a bad value is refused by name); strict mode finds the converged set."""
    path = tmp_path / "g"
    pspread.save_graph(barabasi_albert(200, 3, seed=1), path)
    result = CliRunner().invoke(app, ["bench", "peers", str(path), "--queries", "4", "--rounds", "2", "--peers",
                                      "networkx", "--set", "tie_tolerance=0", "--set", "stable_rounds=0", "--json"])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.output)["methods"][0]
    assert ours["recall_min"] <= ours["recall"]
    assert ours["recall_min"] >= 0.9
    bad = CliRunner().invoke(app, ["bench", "peers", str(path), "--peers", "networkx", "--set", "tie_tolerance=2"])
    assert bad.exit_code != 0 and "tie_tolerance" in bad.output

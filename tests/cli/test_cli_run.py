"""`pspread run | stress | speedup`: exit codes, results files, SKIPPED gates, partial results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pspread.metrics.system import usable_cores
from pspread.scenario.loader import load_scenario
from pspread.session.recording import Session

#: these run wall-clock scenarios through the real command: the slow loop
pytestmark = pytest.mark.slow

runner = CliRunner()

TINY = """\
name: tiny
graph: {generate: {kind: barabasi-albert, nodes: 500, degree: 3, seed: 1}}
model: {preset: threshold, kernel: frontier}
executor: {kind: inline, workers: 1}
workload: {seeds_per_query: 2, top_k: 5, seeds: {sampling: zipf, zipf_s: 1.1}}
phases:
  - {kind: warmup, duration_s: 0.3s, clients: 1}
  - {name: steady, kind: constant, duration_s: 1s, rate_qps: 100}
thresholds:
  latency_ms: ['{latency}']
  error_rate: ['rate<0.01']
"""


def _scenario(tmp_path: Path, latency: str = "p(99)<2000", extra: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("{latency}", latency) + extra)
    return path


def _results(folder: Path) -> dict:
    files = sorted(folder.glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_run_passes_and_writes_results(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    md, js = tmp_path / "out.md", tmp_path / "out.json"
    res = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--results-dir", str(out), "--plain",
                              "--markdown", str(md), "--json", str(js)])
    assert res.exit_code == 0, res.output
    data = _results(out)
    assert data["status"] == "complete" and data["exit_status"] == 0
    assert [p["name"] for p in data["phases"]] == ["warmup", "steady"]
    steady = data["phases"][1]
    assert steady["measured"] and steady["total"] == 100 and steady["errors"] == 0
    assert data["phases"][0]["measured"] is False
    assert {t["status"] for t in data["thresholds"]} == {"pass"}
    assert "✓ latency_ms" in res.output and "PASSED" in res.output
    assert json.loads(js.read_text())["scenario_name"] == "tiny"
    assert "tiny" in md.read_text()


def test_failing_threshold_exits_1(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    # 25 queries: enough for p(90) (10), not for p(99) (100), which would be SKIPPED
    res = runner.invoke(app, ["run", str(_scenario(tmp_path, "p(90)<0.0001")), "--results-dir", str(out),
                              "--duration", "0.5s", "--rate", "50"])
    assert res.exit_code == 1, res.output
    data = _results(out)
    assert data["exit_status"] == 1
    assert [t["status"] for t in data["thresholds"]] == ["fail", "pass"]
    assert "✗ latency_ms: p(90)<0.0001" in res.output and "FAILED" in res.output


def test_bad_scenario_exits_2_without_traceback(app, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphases:\n  - {kind: constant, duration_s: 1s, rate_qps: 10}\nexecutor: {wrokers: 2}\n")
    out = tmp_path / "results"
    res = runner.invoke(app, ["run", str(bad), "--results-dir", str(out)])
    assert res.exit_code == 2
    assert "wrokers" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_missing_scenario_file_exits_2(app, tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(tmp_path / "nope.yaml"), "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and "nope" in res.output


def test_speedup_needing_more_cores_is_skipped_not_passed(app, tmp_path: Path) -> None:
    too_many = usable_cores() + 1
    extra = f"  speedup: ['value>=1.5']\nspeedup: {{workers: [1, {too_many}], queries: 40}}\n"
    out = tmp_path / "results"
    res = runner.invoke(app, ["run", str(_scenario(tmp_path, extra=extra)), "--results-dir", str(out),
                              "--duration", "0.3s"])
    assert res.exit_code == 0, res.output
    data = _results(out)
    verdict = [t for t in data["thresholds"] if t["metric"] == "speedup"][0]
    assert verdict["status"] == "skipped"
    assert f"needs {too_many} cores" in verdict["reason"]
    points = {p["workers"]: p for p in data["scaling"]["points"]}
    assert points[1]["time_s"] > 0 and points[too_many]["skipped"]
    assert "SKIPPED" in res.output


def test_speedup_command(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = runner.invoke(app, ["speedup", str(_scenario(tmp_path)), "--workers", "1", "--queries", "30",
                              "--results-dir", str(out)])
    assert res.exit_code == 0, res.output
    data = _results(out)
    assert data["scaling"]["points"][0]["speedup"] == 1.0
    assert data["phases"] == []


@pytest.mark.slow
def test_run_with_two_worker_processes(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--executor", "process", "--workers", "2",
                              "--results-dir", str(out), "--duration", "1s", "--rate", "200"])
    assert res.exit_code == 0, res.output
    data = _results(out)
    steady = data["phases"][1]
    assert steady["total"] == 200 and steady["errors"] == 0
    assert set(steady["per_worker"]) == {"0", "1"}
    assert sum(w["count"] for w in steady["per_worker_latency_ms"].values()) == 200
    assert 0 < data["summary"]["coordination_overhead"] < 1
    assert len(data["workers"]) == 2


def test_stress_finds_a_knee(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = runner.invoke(app, ["stress", str(_scenario(tmp_path, "p(99)<50")), "--probe", "0.3s", "--rate", "400",
                              "--results-dir", str(out)])
    assert res.exit_code == 0, res.output
    cap = _results(out)["capacity"]
    probes = cap["probes"]
    assert probes[0]["rate_qps"] == 400 and any(not p["passed"] for p in probes)
    assert cap["knee_qps"] == max(p["rate_qps"] for p in probes if p["passed"])
    assert all(p["rate_qps"] > cap["knee_qps"] for p in probes if not p["passed"]) or cap["note"]
    assert "capacity knee" in res.output


def test_interrupt_writes_partial_results(tmp_path: Path) -> None:
    sc = load_scenario(_scenario(tmp_path).read_text().replace("duration_s: 1s", "duration_s: 0.2s"))
    session = Session(sc, results_dir=tmp_path / "results")

    def body(r) -> None:
        r.run_phase(sc.phases[1])
        raise KeyboardInterrupt

    assert session.execute(body).exit_status == 130
    data = _results(tmp_path / "results")
    assert data["status"] == "interrupted" and data["exit_status"] == 130
    assert data["phases"][0]["total"] == 20


@pytest.mark.slow
def test_ctrl_c_writes_partial_results_and_leaves_no_process(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import psutil

    scenario = _scenario(tmp_path).read_text().replace("duration_s: 1s", "duration_s: 30s")
    (tmp_path / "long.yaml").write_text(scenario)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), TMPDIR=str(tmp))
    cmd = [sys.executable, "-c", "from pspread.cli.app import main; main()", "run", "long.yaml",
           "--executor", "process", "--workers", "2", "--plain", "--results-dir", "results"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("phase steady:"):
                break
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2, "".join(lines)
        proc.send_signal(signal.SIGINT)
        out = "".join(lines) + proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "INTERRUPTED" in out
    data = _results(tmp_path / "results")
    assert data["status"] == "interrupted" and data["exit_status"] == 130
    assert [p["name"] for p in data["phases"]] == ["warmup", "steady"]
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    assert not list(tmp.glob("pspread-graph-*"))  # the temporary graph bundle is gone too


@pytest.mark.parametrize("args, message", [
    (["run", "--executor", "bogus"], "'process', 'inline', 'dask'"),  # the parser names the valid choices
    (["speedup", "--workers", "1,x"], "counts separated by commas (1,2,4)"),
    (["stress", "--soak", "1x"], "cannot read '1x'"),
])
def test_usage_errors_exit_2(app, tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, [*args, "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_missing_graph_exits_2(app, tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(f"name: g\ngraph: {{path: {tmp_path / 'none.tsv'}}}\n")
    res = runner.invoke(app, ["run", str(path), "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and "none.tsv" in res.output


def test_soak(app, tmp_path: Path) -> None:
    out = tmp_path / "results"
    extra = "  rss_growth: ['value<0.5']\n"
    res = runner.invoke(app, ["stress", str(_scenario(tmp_path, extra=extra)), "--soak", "1s", "--rate", "100",
                              "--results-dir", str(out)])
    assert res.exit_code == 0, res.output
    data = _results(out)
    soak = data["soak"]
    assert soak["rate_qps"] == 100 and soak["duration_s"] == 1.0 and soak["p99_last_ms"] is not None
    assert data["phases"][-1]["name"] == "soak" and data["phases"][-1]["total"] == 100
    assert "soak 1s at 100 q/s" in res.output


def test_speedup_gate_for_a_count_not_measured_is_skipped(app, tmp_path: Path) -> None:
    extra = "  speedup: ['value>=1.5']\nspeedup: {workers: [1, 2], queries: 20}\n"
    out = tmp_path / "results"
    res = runner.invoke(app, ["speedup", str(_scenario(tmp_path, extra=extra)), "--workers", "1",
                              "--results-dir", str(out)])
    assert res.exit_code == 0, res.output
    verdicts = _results(out)["thresholds"]
    assert [v["metric"] for v in verdicts] == ["speedup"]  # no phases ran: only the scaling gate is judged
    assert verdicts[0]["status"] == "skipped" and "for 2 workers" in verdicts[0]["reason"]

"""CI gates that can fail: capacity thresholds in stress, --strict, JUnit, the GitHub step summary.

Each row is a scenario (a tiny generated graph on the inline executor) with
the command, the expected exit code and what the results file must say.
Thresholds sit far from any machine's figures (a knee of at least 1 q/s, or
of at least a billion), so the verdicts do not depend on this machine's speed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

#: these run wall-clock scenarios through the real command: the slow loop
pytestmark = pytest.mark.slow

runner = CliRunner()

TINY = """\
name: tiny
graph: {generate: {kind: barabasi-albert, nodes: 300, degree: 3, seed: 1}}
model: {preset: threshold, kernel: frontier}
executor: {kind: inline, workers: 1}
workload: {seeds_per_query: 2, top_k: 5}
phases:
  - {kind: warmup, duration_s: 0.2s, clients: 1}
  - {name: steady, kind: constant, duration_s: 1s, rate_qps: 200}
thresholds:
  latency_ms: ['p(99)<5000']
  error_rate: ['rate<0.5']
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY + extra)
    return path


def _results(folder: Path) -> dict:
    (path,) = sorted(folder.glob("*.json"))
    return json.loads(path.read_text())


CASES = [
    # (id, scenario extra, command args, exit code, check on the results file)
    ("capacity passes", "  capacity_qps: ['value>=1']\n", ["stress", "--probe", "0.2s", "--rate", "200"], 0,
     lambda r: r["thresholds"][0]["metric"] == "capacity_qps" and r["thresholds"][0]["status"] == "pass"),
    ("capacity fails", "  capacity_qps: ['value>=1e9']\n", ["stress", "--probe", "0.2s", "--rate", "200"], 1,
     lambda r: r["thresholds"][0]["status"] == "fail" and r["capacity"]["knee_qps"] > 0),
    ("run leaves capacity to stress", "  capacity_qps: ['value>=1e9']\n", ["run"], 0,
     lambda r: all(t["metric"] != "capacity_qps" for t in r["thresholds"])),
    ("skipped gate passes without strict", "  speedup: ['value>=1000']\n", ["run"], 0,
     lambda r: [t["status"] for t in r["thresholds"]].count("skipped") == 1 and not r["strict"]),
    ("strict turns skipped into failure", "  speedup: ['value>=1000']\n", ["run", "--strict"], 1,
     lambda r: r["strict"] and r["exit_status"] == 1),
    ("strict as a scenario key", "  speedup: ['value>=1000']\nstrict: true\n", ["run"], 1,
     lambda r: r["strict"]),
    ("strict with every gate judged passes", "", ["run", "--strict"], 0,
     lambda r: all(t["status"] == "pass" for t in r["thresholds"])),
]


@pytest.mark.slow
@pytest.mark.parametrize("extra, args, code, check", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gate_table(app, tmp_path: Path, extra: str, args: list[str], code: int, check) -> None:
    out = tmp_path / "results"
    res = runner.invoke(app, [args[0], str(_write(tmp_path, extra)), *args[1:], "--results-dir", str(out), "--plain"])
    assert res.exit_code == code, res.output
    data = _results(out)
    assert data["exit_status"] == code
    assert check(data), data["thresholds"]


@pytest.mark.slow
def test_junit_has_one_testcase_per_gate_and_skips_as_skipped(app, tmp_path: Path, monkeypatch) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "gates.xml"
    scenario = _write(tmp_path, "  speedup: ['value>=1000']\n")
    scenario.write_text(scenario.read_text().replace("['p(99)<5000']", "['p(99)<5000', 'p(99)<0.00001']"))
    res = runner.invoke(app, ["run", str(scenario), "--results-dir", str(tmp_path / "r"), "--plain",
                              "--junit", str(junit)])
    assert res.exit_code == 1, res.output
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert names == ["latency_ms: p(99)<5000", "latency_ms: p(99)<0.00001", "error_rate: rate<0.5",
                     "speedup: value>=1000"]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    assert cases[1].find("failure") is not None
    assert cases[3].find("skipped") is not None and cases[3].find("skipped").get("message")
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## pspread: tiny — FAILED" in text


def test_junit_marks_an_interrupted_run_failed_and_strict_skips_as_failures() -> None:
    from pspread.metrics.thresholds import Observed, evaluate_all, parse_threshold
    from pspread.results.junit import to_junit
    from pspread.results.run import Results, utc_now

    verdicts = evaluate_all([parse_threshold("speedup", "value>=4")],
                            Observed(unavailable={"speedup": "needs 4 cores, this machine has 2"}))
    base = Results(scenario_name="x", started_utc=utc_now()).with_verdicts(verdicts)
    strict = ET.fromstring(to_junit(base.model_copy(update={"strict": True}).finished("complete", 1)))
    assert strict.get("failures") == "1" and strict.find("testcase/failure") is not None
    stopped = ET.fromstring(to_junit(base.finished("interrupted", 130)))
    assert [c.get("name") for c in stopped.findall("testcase")][-1] == "run completed"
    assert stopped.get("failures") == "1"


@pytest.mark.slow
def test_outputs_are_checked_before_the_run_and_never_overwritten(app, tmp_path: Path) -> None:
    existing = tmp_path / "out.json"
    existing.write_text("keep me")
    res = runner.invoke(app, ["run", str(_write(tmp_path)), "--results-dir", str(tmp_path / "r"), "--plain",
                              "--json", str(existing)])
    assert res.exit_code == 2 and "already exists" in res.output and "--force" in res.output
    assert existing.read_text() == "keep me" and not (tmp_path / "r").exists()  # nothing ran
    res = runner.invoke(app, ["run", str(_write(tmp_path)), "--results-dir", str(tmp_path / "r"), "--plain",
                              "--json", str(tmp_path / "missing-folder" / "x" / "out.json"), "--markdown",
                              str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "missing-folder" / "x" / "out.json").read_text())["status"] == "complete"
    assert (tmp_path / "r.md").stat().st_mode & 0o777 == 0o666 & ~_umask()
    res = runner.invoke(app, ["run", str(_write(tmp_path)), "--results-dir", str(tmp_path / "r"), "--plain",
                              "--json", str(existing), "--force", "--report", str(tmp_path / "run.html")])
    assert res.exit_code == 0 and json.loads(existing.read_text())["scenario_name"] == "tiny"
    html = (tmp_path / "run.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "tiny" in html and "<script src=" not in html


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


MIXED = """\
name: mixed
graph: {generate: {kind: barabasi-albert, nodes: 300, degree: 3, seed: 1}}
model: {preset: threshold, kernel: frontier}
executor: {kind: inline, workers: 1}
workload:
  seeds_per_query: 2
  top_k: 5
  mix:
    - {name: local, weight: 70}
    - {name: rank, weight: 30, preset: spreadr, top_k: 10}
phases:
  - {kind: warmup, duration_s: 0.2s, clients: 1}
  - {name: steady, kind: constant, duration_s: 1.5s, rate_qps: 200}
thresholds:
  latency_ms: ['p(50)<5000']
  latency_ms{kind:rank}: ['p(50)<0.00001']
  error_rate{kind:local}: ['rate<0.5']
  latency_ms{phase:steady}: ['max<5000']
  latency_ms{phase:nope}: ['max<5000']
"""


@pytest.mark.slow
def test_per_kind_and_per_phase_gates_and_figures(app, tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    res = runner.invoke(app, ["run", str(path), "--results-dir", str(tmp_path / "r"), "--plain"])
    assert res.exit_code == 1, res.output
    data = _results(tmp_path / "r")
    status = {t["metric"]: t["status"] for t in data["thresholds"]}
    assert status == {"latency_ms": "pass", "latency_ms{kind:rank}": "fail", "error_rate{kind:local}": "pass",
                      "latency_ms{phase:steady}": "pass", "latency_ms{phase:nope}": "skipped"}
    kinds = data["summary"]["per_kind"]
    steady = data["phases"][1]
    assert set(kinds) == {"local", "rank"} and set(steady["per_kind"]) == {"local", "rank"}
    assert sum(k["total"] for k in steady["per_kind"].values()) == steady["total"] - steady["driver"]["dropped"]
    assert "type rank" in res.output and "latency_ms{kind:rank}: p(50)<0.00001" in res.output


@pytest.mark.slow
def test_abort_on_fail_ends_the_run_early_with_exit_1_and_writes_results(app, tmp_path: Path) -> None:
    path = tmp_path / "abort.yaml"
    path.write_text(TINY.replace("duration_s: 1s", "duration_s: 30s").replace(
        "latency_ms: ['p(99)<5000']",
        "latency_ms: ['p(99)<5000', {threshold: 'p(90)<0.00001', abortOnFail: true, delayAbortEval: 0.5s}]"))
    res = runner.invoke(app, ["run", str(path), "--results-dir", str(tmp_path / "r"), "--plain"])
    assert res.exit_code == 1, res.output
    data = _results(tmp_path / "r")
    steady = data["phases"][1]
    assert data["status"] == "aborted" and "abortOnFail" in data["error"]
    assert steady["driver"]["stopped"] and steady["driver"]["submitted"] < steady["driver"]["planned"]
    assert data["thresholds"][1]["status"] == "fail"  # p(99) may be SKIPPED: the run ended after few queries


def test_abort_watch_waits_for_delay_abort_eval_and_the_sample_minimum() -> None:
    from pspread.metrics.thresholds import parse_threshold
    from pspread.session.abort import AbortWatch

    class _Runner:
        phases: list = []
        current = None
        stopped = False

        def stop(self) -> None:
            self.stopped = True

    gate = parse_threshold("error_rate", "rate<0.5", abort_on_fail=True, delay_abort_s=5.0)
    r = _Runner()
    watch = AbortWatch(r, [gate, parse_threshold("latency_ms", "p(99)<1")])  # only abortOnFail gates are watched
    assert [t.source for t in watch.thresholds] == ["rate<0.5"]
    assert watch.check(1.0) is None and not r.stopped  # before delayAbortEval: not judged
    assert watch.check(6.0) is None and not r.stopped  # nothing measured yet: SKIPPED, not failed

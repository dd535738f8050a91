"""`pspread scenarios ...` and `pspread compare` through Typer's runner: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from test_compare import synthetic  # noqa: E402 (tests/conftest.py puts the test folders on sys.path)
from typer.testing import CliRunner

from pspread.results import write_json_atomic

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_validate_ok(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "fine.yaml"
    path.write_text("name: fine\nthresholds: {latency_ms: ['p(99)<50']}\n")
    shipped = REPO / "pspread" / "scenarios" / "ci-gate.yaml"
    result = runner.invoke(app, ["scenarios", "validate", str(path), str(shipped)])
    assert result.exit_code == 0, result.output
    assert f"OK    {path}: fine" in result.output and "ci-gate" in result.output


def test_validate_reports_every_problem_and_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nexecutor:\n  workres: 2\nthresholds:\n  latency_ms: ['p99<50']\n")
    result = runner.invoke(app, ["scenarios", "validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"OK    {good}" in result.output
    assert f"FAIL  {bad}: 2 problems" in result.output
    assert f"{bad}:3: executor.workres: unknown key; did you mean 'workers'?" in result.output
    assert f"{bad}:5: thresholds.latency_ms.0:" in result.output


def test_validate_json_and_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenarios", "validate", str(tmp_path / "nope.yaml"), "--json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and "nope.yaml" in data["files"][0]["problems"][0]


def test_validate_env_is_opt_in(app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n")
    monkeypatch.setenv("PSPREAD_WORKERS", "-3")
    assert runner.invoke(app, ["scenarios", "validate", str(path)]).exit_code == 0
    result = runner.invoke(app, ["scenarios", "validate", "--env", str(path)])
    assert result.exit_code == 2 and "PSPREAD_WORKERS: executor.workers" in result.output


def test_list_and_show(app: typer.Typer) -> None:
    listed = runner.invoke(app, ["scenarios", "list", "--json"])
    assert listed.exit_code == 0
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert {"default", "quickstart", "seed-targets", "ci-gate"} <= names
    shown = runner.invoke(app, ["scenarios", "show", "seed-targets"])
    assert shown.exit_code == 0 and "coordination_overhead" in shown.output
    default = runner.invoke(app, ["scenarios", "show", "default", "--json"])
    assert default.exit_code == 0 and json.loads(default.stdout)["name"] == "default"
    unknown = runner.invoke(app, ["scenarios", "show", "quickstrat"])
    assert unknown.exit_code == 2 and "did you mean 'quickstart'" in unknown.output


def test_schema_lists_every_section(app: typer.Typer) -> None:
    result = runner.invoke(app, ["scenarios", "schema"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert set(document["properties"]) >= {"graph", "model", "executor", "workload", "phases", "thresholds"}
    assert document["$defs"]["ExecutorSpec"]["additionalProperties"] is False


@pytest.mark.slow
def test_compare_exit_codes(app: typer.Typer, tmp_path: Path) -> None:
    base = write_json_atomic(synthetic(seed=0), tmp_path / "base.json")
    same = write_json_atomic(synthetic(seed=1), tmp_path / "same.json")
    slow = write_json_atomic(synthetic(scale=1.3, seed=2), tmp_path / "slow.json")
    ok = runner.invoke(app, ["compare", str(base), str(same)])
    assert ok.exit_code == 0, ok.output
    assert "no regression" in ok.output
    bad = runner.invoke(app, ["compare", str(base), str(slow), "--fail-on", "p99:+10%"])
    assert bad.exit_code == 1 and "REGRESSION" in bad.output
    as_json = runner.invoke(app, ["compare", str(base), str(slow), "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["regressed"] is True
    rule = runner.invoke(app, ["compare", str(base), str(same), "--fail-on", "p99:-10%"])
    assert rule.exit_code == 2 and "p99:+10%" in rule.output
    (tmp_path / "junk.json").write_text("[]")
    junk = runner.invoke(app, ["compare", str(base), str(tmp_path / "junk.json")])
    assert junk.exit_code == 2 and "junk.json" in junk.output

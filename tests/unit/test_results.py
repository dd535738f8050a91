"""Results: round trip, schema version, atomic never-overwriting writes, Markdown and CSV."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pspread.metrics.stats import per_second, summarize
from pspread.metrics.system import cpu_model
from pspread.metrics.thresholds import Observed, evaluate_all, parse_threshold
from pspread.results import (
    PhaseResult,
    Results,
    ResultsError,
    ResultsWriter,
    RunSummary,
    export,
    read_results,
    to_csv,
    to_markdown,
    utc_now,
    write_json_atomic,
)
from pspread.results.environment import collect_environment, git_revision
from pspread.results.records import DriverRecord


def make_results(name: str = "demo", seconds: int = 5, seed: int = 0) -> Results:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, seconds, 50 * seconds)
    lat = rng.lognormal(1.0, 0.3, t.size)
    ok = rng.random(t.size) > 0.02
    steady = PhaseResult(name="steady", kind="constant", measured=True, latency_ms=summarize(lat[ok]),
                         series=per_second(t, lat, ok, duration_s=seconds), total=int(t.size),
                         errors=int((~ok).sum()), throughput_qps=float(ok.sum() / seconds), planned_s=seconds,
                         outcomes={"ok": int(ok.sum()), "timed_out": int((~ok).sum())},
                         driver=DriverRecord(model="default", planned=t.size, submitted=t.size, completed=t.size,
                                             late_starts=3, dropped=0, started_at=0.0, submitted_until=seconds,
                                             ended_at=seconds, drained=True, stopped=False, duration_s=seconds))
    warm = PhaseResult(name="warmup", kind="warmup", measured=False, latency_ms=summarize([1.0, 2.0]),
                       series=per_second([0.1, 0.2], [1.0, 2.0]), total=2)
    verdicts = evaluate_all(
        [parse_threshold("latency_ms", "p(99)<1000"), parse_threshold("latency_ms", "p(50)<0.001"),
         parse_threshold("speedup", "value>=4")],
        Observed(latency_ms=lat[ok], values={"speedup": 1.8}, cores=2, speedup_workers=4),
    )
    return Results(scenario_name=name, scenario={"name": name}, started_utc=utc_now(),
                   environment={"cpu_model": "test cpu", "cores_logical": 2}, phases=[warm, steady],
                   summary=RunSummary(throughput_qps=steady.throughput_qps, latency_ms=steady.latency_ms),
                   ).with_verdicts(verdicts).finished("complete", 1)


def test_round_trip_through_json(tmp_path: Path) -> None:
    results = make_results()
    path = write_json_atomic(results, tmp_path)
    assert path.parent == tmp_path and path.name.endswith("-demo.json")
    again = read_results(path)
    assert again == results
    assert again.phases[1].driver is not None and again.phases[1].driver.late_starts == 3
    assert again.measured_phases == [results.phases[1]]
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2 and data["exit_status"] == 1


def test_nan_becomes_null(tmp_path: Path) -> None:
    results = make_results()
    data = json.loads(write_json_atomic(results, tmp_path).read_text())
    # per_second leaves seconds without OK samples as NaN; JSON must hold null there, not NaN
    text = json.dumps(data)
    assert "NaN" not in text


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    data = make_results().to_dict()
    data["schema_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="schema version 99"):
        read_results(path)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ResultsError, match="junk.json"):
        read_results(tmp_path / "junk.json")


def test_never_overwrites(tmp_path: Path) -> None:
    results = make_results()
    first = write_json_atomic(results, tmp_path)
    second = write_json_atomic(results, tmp_path)
    third = write_json_atomic(results, first)  # an explicit existing path is not overwritten either
    assert len({first, second, third}) == 3
    assert second.name.endswith("-demo-1.json") and third.name.endswith("-demo-2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name, third.name])


def test_writer_rewrites_its_own_file_only(tmp_path: Path) -> None:
    other = write_json_atomic(make_results(), tmp_path)
    before = other.read_bytes()
    writer = ResultsWriter(tmp_path)
    partial = make_results().finished("interrupted", 130)
    path = writer.write(partial)
    assert path != other
    final = writer.write(make_results())
    assert final == path and read_results(path).status == "complete"
    assert other.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          error: BaseException) -> None:
    def broken_fsync(fd: int) -> None:
        raise error

    monkeypatch.setattr(export.os, "fsync", broken_fsync)
    with pytest.raises(type(error)):
        write_json_atomic(make_results(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_rewrite_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = ResultsWriter(tmp_path)
    path = writer.write(make_results())
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        writer.write(make_results().finished("interrupted", 130))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == before


def test_markdown_has_marks_and_tables() -> None:
    md = to_markdown(make_results())
    assert "FAILED" in md
    assert "| ✓ | latency_ms | `p(99)<1000`" in md
    assert "| ✗ | latency_ms | `p(50)<0.001`" in md
    assert "| – | speedup | `value>=4` | – | needs 4 cores, this machine has 2 |" in md
    assert "warmup (not counted)" in md and "| steady | constant |" in md


def test_csv_has_one_row_per_phase_second() -> None:
    results = make_results(seconds=4)
    rows = to_csv(results).strip().splitlines()
    assert rows[0] == "phase,second,count,errors,p50_ms,p95_ms,p99_ms,max_ms"
    steady = [r for r in rows[1:] if r.startswith("steady,")]
    assert len(steady) == 4
    total = sum(int(r.split(",")[2]) for r in steady)
    assert total == results.phases[1].total


def test_environment_probes(tmp_path: Path) -> None:
    env = collect_environment()
    assert env["cores_logical"] == os.cpu_count()
    assert env["libraries"]["numpy"] == np.__version__
    assert env["python"].count(".") == 2
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    assert cpu_model(fake) == "Test CPU 9000"
    assert git_revision(tmp_path) is None  # not a git checkout: tolerated, recorded as None


def test_phase_record_round_trips_and_a_misspelt_key_is_refused_with_its_place(tmp_path: Path) -> None:
    series = per_second([0.5, 1.5], [3.0, 4.0], duration_s=2)
    phase = PhaseResult(name="steady", kind="constant", measured=True, planned_s=2.0, latency_ms=summarize([3.0, 4.0]),
                        outcomes={"ok": 2}, total=2, throughput_qps=1.0, per_worker={"0": 2}, series=series)
    assert phase.latency_ms.med == 3.5 and phase.series.series() == series
    assert PhaseResult.model_validate(phase.to_dict()) == phase
    data = make_results().to_dict()
    data["phases"][1]["latncy_ms"] = data["phases"][1].pop("latency_ms")
    with pytest.raises(ResultsError, match=r"phases\.1\.latncy_ms"):
        Results.from_dict(data)
    data = make_results().to_dict()
    del data["phases"][1]["name"]
    with pytest.raises(ResultsError, match=r"phases\.1\.name"):
        Results.from_dict(data)


def test_published_json_schema_matches_the_model_and_accepts_a_real_file(tmp_path: Path) -> None:
    from pspread.results.schema import json_schema, schema_text

    published = Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"
    assert published.read_text(encoding="utf-8") == schema_text(), \
        "docs/results.schema.json is stale: run `python -m pspread.results.schema`"
    schema = json_schema()
    data = make_results().to_dict()
    assert set(data) <= set(schema["properties"])
    assert set(schema["required"]) <= set(data)
    latency = schema["$defs"]["LatencyRecord"]["properties"]
    assert "p(99)" in latency and "p99" not in latency

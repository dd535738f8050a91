"""Live view and summary: figures come from the recorder; targets and SKIPPED reasons are shown."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from pspread.execution.query import Outcome, QueryResult
from pspread.load.driver import Driver
from pspread.load.null import NullExecutor
from pspread.load.recorder import Recorder
from pspread.load.resources import ResourceSampler
from pspread.metrics.thresholds import Threshold, Verdict, VerdictStatus, parse_threshold
from pspread.results.run import Results, utc_now
from pspread.scenario.phases import PhaseSpec
from pspread.ui.live import LiveStats, plain_line, render
from pspread.ui.summary import print_summary, verdict_lines


def _recorder(n_ok: int, n_timeout: int, latency_s: float) -> Recorder:
    rec = Recorder(origin=100.0)
    for i in range(n_ok + n_timeout):
        outcome = Outcome.OK if i < n_ok else Outcome.TIMED_OUT
        rec.submitted += 1
        rec.record(100.0 + i * 0.01, 100.0 + i * 0.01,
                   QueryResult(i, outcome, completed_at=100.0 + i * 0.01 + latency_s, worker=i % 2))
    return rec


def _stats(rec: Recorder, thresholds: list[Threshold]) -> LiveStats:
    phase = PhaseSpec(name="steady", kind="constant", duration_s=10, rate_qps=100)
    return LiveStats(Driver(NullExecutor()), rec, ResourceSampler(lambda: []), phase, thresholds)


def test_live_figures_and_targets() -> None:
    rec = _recorder(100, 10, latency_s=0.004)
    ths = [parse_threshold("latency_ms", "p(99)<5"), parse_threshold("error_rate", "rate<0.01"),
           parse_threshold("speedup", "value>=2"), parse_threshold("latency_ms", "p(99.9)<5")]
    live = _stats(rec, ths)
    f = live.update(now=101.0)
    assert f.done == 110 and f.ok == 100
    assert f.errors == {"timed_out": 10}
    assert abs(f.p99 - 4.0) < 1e-6 and abs(f.max - 4.0) < 1e-6 and abs(f.window_p99 - 4.0) < 1e-6
    assert f.overall_qps == 100.0 and f.current_qps == 110.0
    statuses = [status for _, status, _ in f.targets]
    # speedup is not measured live; p(99.9) on 100 samples is not judged live, as it would not be at the end
    assert statuses == [VerdictStatus.PASS, VerdictStatus.FAIL, None, None]
    # only new rows are read on the next update
    rec.submitted += 1
    rec.record(102.0, 102.0, QueryResult(999, Outcome.OK, completed_at=102.5))
    f = live.update(now=103.0)
    assert f.done == 111 and live.seen == 111 and abs(f.max - 500.0) < 1e-6
    assert f.current_qps == 0.5  # one row over the two seconds since the last look
    # the sliding window forgets: 10 s later only the recent answers count
    for i in range(5):
        rec.record(114.0 + i * 0.1, 114.0 + i * 0.1, QueryResult(2000 + i, Outcome.OK, completed_at=114.001 + i * 0.1))
    f = live.update(now=115.0)
    assert abs(f.window_p99 - 1.0) < 1e-6 and f.max == 500.0 and f.p99 > 4.0


def test_live_gates_cover_the_finished_measured_phases_too() -> None:
    from pspread.results.run import PhaseResult

    slow = PhaseResult(name="ramp", kind="ramp", measured=True, total=200).with_samples(np.full(200, 90.0))
    ths = [parse_threshold("latency_ms", "p(50)<50"), parse_threshold("latency_ms{phase:steady}", "p(50)<50")]
    phase = PhaseSpec(name="steady", kind="constant", duration_s=10, rate_qps=100)
    live = LiveStats(Driver(NullExecutor()), _recorder(100, 0, 0.004), ResourceSampler(lambda: []), phase, ths,
                     done=[slow])
    f = live.update(now=101.0)
    # the untagged gate pools the finished ramp (90 ms) with this phase (4 ms); the tagged one sees this phase only
    assert [status for _, status, _ in f.targets] == [VerdictStatus.FAIL, VerdictStatus.PASS]


def test_plain_line_and_rich_render() -> None:
    live = _stats(_recorder(50, 0, 0.002), [parse_threshold("latency_ms", "p(95)<1")])
    f = live.update(now=100.6)
    line = plain_line(f)
    assert line.startswith("[steady]") and "p99 2.00 ms" in line and "errors 0" in line
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    console.print(render(f, "pspread test"))
    text = console.file.getvalue()
    assert "steady" in text and "✗" in text  # p(95)<1 fails at 2 ms


def test_summary_marks_skipped_with_reason() -> None:
    t = parse_threshold("speedup", "value>=4")
    verdicts = [Verdict(t, VerdictStatus.SKIPPED, reason="needs 4 cores, this machine has 2"),
                Verdict(parse_threshold("latency_ms", "p(99)<50"), VerdictStatus.PASS, observed=12.0)]
    results = Results(scenario_name="demo", started_utc=utc_now()).with_verdicts(verdicts).finished("complete", 0)
    lines = verdict_lines(results.thresholds)
    assert "SKIPPED: needs 4 cores, this machine has 2" in lines[0] and "✓" in lines[1]
    console = Console(file=io.StringIO(), width=200)
    print_summary(console, results)
    out = console.file.getvalue()
    assert "PASSED: 1 passed, 0 failed, 1 skipped" in out

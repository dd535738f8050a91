"""run_scenario with a scripted executor on a simulated clock: exact figures, no graph work, no waiting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from timing import FakeClock

from pspread.execution.scripted import ScriptedExecutor, Step
from pspread.load.clock import Clock
from pspread.scenario.loader import load_scenario
from pspread.session import run_scenario

SCENARIO = """\
name: scripted
graph: {generate: {kind: barabasi-albert, nodes: 200, degree: 2, seed: 1}}
executor: {kind: inline}
phases:
  - {kind: warmup, duration_s: 1s, rate_qps: 50}
  - {name: steady, kind: constant, duration_s: 4s, rate_qps: 100}
thresholds:
  latency_ms: ['p(99)<{limit}']
  error_rate: ['rate<0.05']
"""


FOUR_MS = Step(0.004)


def _run(limit: float, script=FOUR_MS, **kw):
    clock = FakeClock(1000.0)
    executor = ScriptedExecutor(script, clock=clock.now, sleep=clock.sleep)
    sc = load_scenario(SCENARIO.replace("{limit}", str(limit)))
    try:
        return run_scenario(sc, executor=executor, clock=Clock(clock.now, clock.sleep), **kw), executor
    finally:
        executor.close()


def test_figures_come_from_the_executor_the_run_was_handed() -> None:
    results, _ = _run(limit=50)
    assert results.status == "complete" and results.exit_status == 0
    warm, steady = results.phases
    assert not warm.measured and steady.measured and steady.total == 400 and steady.errors == 0
    # every query took exactly 4 ms of simulated time, sent on time: latency 4 ms for all
    assert steady.latency_ms.med == pytest.approx(4.0) and steady.latency_ms.p99 == pytest.approx(4.0)
    assert results.summary.total == 400 and results.summary.latency_ms.p99 == pytest.approx(4.0)
    assert [v.status for v in results.thresholds] == ["pass", "pass"]


def test_a_gate_the_scripted_latency_breaks_fails_the_run() -> None:
    results, _ = _run(limit=3)
    assert results.exit_status == 1 and [v.status for v in results.thresholds] == ["fail", "pass"]
    assert results.thresholds[0].observed == pytest.approx(4.0)


def test_errors_the_script_gives_are_counted_and_gated() -> None:
    script = lambda i: Step(0.001, "invalid" if i % 10 == 0 else "ok")  # noqa: E731
    results, _ = _run(limit=50, script=script)
    steady = results.phases[1]
    assert steady.outcomes.get("invalid") == steady.errors and 35 <= steady.errors <= 45
    assert results.thresholds[1].status == "fail" and results.exit_status == 1


def test_the_caller_keeps_its_executor_and_the_memory_guard_count_is_recorded() -> None:
    class Recycling(ScriptedExecutor):
        def stats(self):  # type: ignore[no-untyped-def]
            return replace(super().stats(), recycles=3)

    clock = FakeClock(1000.0)
    executor = Recycling(Step(0.002), clock=clock.now, sleep=clock.sleep)
    results = run_scenario(load_scenario(SCENARIO.replace("{limit}", "50")), executor=executor,
                           clock=Clock(clock.now, clock.sleep))
    assert results.recycles == 3
    assert executor.map_batch([[1], [2]]).ok.all()  # still open: the caller's to close
    executor.close()

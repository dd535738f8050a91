"""Capacity search against a simulated server of known capacity; soak drift figures."""

from __future__ import annotations

from pspread.execution.base import Executor
from pspread.execution.scripted import ScriptedExecutor, Step
from pspread.load.capacity import find_capacity, gates_for, soak
from pspread.load.driver import Driver
from pspread.load.runner import Runner
from pspread.load.workload import Workload
from pspread.metrics.thresholds import parse_threshold
from pspread.scenario.loader import load_scenario


def queueing_server(service_s: float) -> ScriptedExecutor:
    """One server with a fixed service time: capacity is exactly 1 / service_s queries a second.

    Completion times are computed (a FIFO queue), not slept, so the capacity is
    exact whatever the machine's load; each answer is handed back once its
    completion time has passed, so a backlog really has to drain.
    """
    return ScriptedExecutor(Step(service_s), background=True)


def _runner(executor: Executor, gate: str) -> Runner:
    sc = load_scenario(f"name: sim\nthresholds: {{latency_ms: ['{gate}']}}\n", environ={})
    runner = Runner(sc)
    runner.workload = Workload(100, seed=0, block=1000)
    runner.executor = executor
    runner.driver = Driver(executor)
    from pspread.load.resources import ResourceSampler

    runner.sampler = ResourceSampler(lambda: [], interval_s=0.5).start()
    return runner


def test_capacity_knee_within_ten_percent_of_a_known_capacity() -> None:
    # p(95) < 40 ms over 0.8 s probes: past capacity the backlog (and so latency) grows by
    # (rate/capacity - 1) x 0.8 s, so the gate trips within ~5% above the true capacity,
    # while 40 ms is far above the timer noise of a busy machine.
    capacity = 200.0
    runner = _runner(queueing_server(1.0 / capacity), "p(95)<40")
    try:
        report = find_capacity(runner, start_rate=40, probe_s=0.8, precision=0.05)
    finally:
        runner.close()
    assert report.knee_qps is not None and report.first_failing_qps is not None
    assert 0.9 * capacity <= report.knee_qps <= 1.1 * capacity, report.to_dict()
    assert report.first_failing_qps / report.knee_qps - 1 <= 0.05 + 1e-9
    assert report.probes[0].passed and not all(p.passed for p in report.probes)


def test_gates_default_when_the_scenario_has_none() -> None:
    lat, err = gates_for([])
    assert str(lat) == "latency_ms: p(99)<100" and str(err) == "error_rate: rate<0.01"
    lat, _ = gates_for([parse_threshold("latency_ms", "avg<5"), parse_threshold("latency_ms", "p(95)<30")])
    assert lat.stat == "p(95)"


def test_soak_reports_drift() -> None:
    runner = _runner(queueing_server(0.0005), "p(99)<20")
    try:
        figures, report = soak(runner, rate=200, duration_s=1.0)
    finally:
        runner.close()
    assert figures.total == 200 and figures.errors == 0
    assert report.p99_first_ms is not None and report.p99_first_ms >= 0.5  # at least the service time
    assert report.p99_last_ms is not None and report.latency_drift is not None
    assert report.rss_first_mb and report.rss_last_mb and report.rss_first_mb > 1

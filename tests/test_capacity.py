"""Capacity search against a simulated server of known capacity; soak drift figures."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import time

from pspread.execution.base import Executor, ExecutorStats
from pspread.execution.query import Outcome, Query, QueryResult
from pspread.load.capacity import find_capacity, gates_for, soak
from pspread.load.driver import Driver
from pspread.load.runner import Runner
from pspread.load.workload import Workload
from pspread.metrics.thresholds import parse_threshold
from pspread.scenario.loader import load_scenario


class QueueingServer(Executor):
    """One server with a fixed service time: capacity is exactly 1 / service_s queries a second.

    Completion times are computed (a FIFO queue), not slept, so the capacity is
    exact whatever the machine's load; a thread hands each result back once its
    completion time has passed, so a backlog really has to drain.
    """

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s
        self.free_at = 0.0
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._deliver, daemon=True)
        self.thread.start()

    def submit(self, query: Query, callback=None) -> cf.Future:
        now = time.perf_counter()
        self.free_at = max(now, self.free_at) + self.service_s
        result = QueryResult(query.query_id, Outcome.OK, submitted_at=now, completed_at=self.free_at, kind=query.kind)
        fut: cf.Future = cf.Future()
        self.pending.put((result, callback, fut))
        return fut

    def _deliver(self) -> None:
        while True:
            item = self.pending.get()
            if item is None:
                return
            result, callback, fut = item
            wait = result.completed_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if callback:
                callback(result)
            fut.set_result(result)

    def stats(self) -> ExecutorStats:
        return ExecutorStats()

    def close(self) -> None:
        self.pending.put(None)
        self.thread.join()


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
    runner = _runner(QueueingServer(1.0 / capacity), "p(95)<40")
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
    runner = _runner(QueueingServer(0.0005), "p(99)<20")
    try:
        figures, report = soak(runner, rate=200, duration_s=1.0)
    finally:
        runner.close()
    assert figures.total == 200 and figures.errors == 0
    assert report.p99_first_ms is not None and report.p99_first_ms >= 0.5  # at least the service time
    assert report.p99_last_ms is not None and report.latency_drift is not None
    assert report.rss_first_mb and report.rss_last_mb and report.rss_first_mb > 1

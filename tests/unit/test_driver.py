"""The driver: open-model latency from the intended start, late starts, drops, closed model."""

from __future__ import annotations

import numpy as np
import pytest
from timing import FakeClock

from pspread.execution.scripted import ScriptedExecutor, Step
from pspread.load.driver import Driver
from pspread.load.null import NullExecutor
from pspread.load.recorder import Recorder
from pspread.load.schedule import ArrivalSchedule
from pspread.load.workload import Workload


def stalling(clock: FakeClock, service_s: float = 0.001, stall_at: int = -1, stall_s: float = 1.0,
             fail_every: int = 0) -> ScriptedExecutor:
    """Each query takes ``service_s`` of fake time, query ``stall_at`` takes ``stall_s``; every
    ``fail_every``-th (from the first) ends ``timed_out``.  Answered in the caller's thread, through
    the real ``Admission``."""
    def step(i: int) -> Step:
        latency = stall_s if i == stall_at else service_s
        return Step(latency, "timed_out" if fail_every and i % fail_every == 0 else "ok")

    return ScriptedExecutor(step, clock=clock.now, sleep=clock.sleep)


def _source(n: int = 1000) -> Workload:
    return Workload(100, seed=0, block=n)


def test_open_model_latency_includes_the_wait_behind_a_stall() -> None:
    clock = FakeClock()
    ex = stalling(clock, service_s=0.001, stall_at=100, stall_s=1.0)
    drv = Driver(ex, clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    intended = ArrivalSchedule.constant(100, 3.0).intended_times()  # one arrival every 10 ms
    report = drv.run_open(_source(), intended, rec)
    s = rec.snapshot()
    assert report.submitted == report.completed == len(s) == 300
    lat, service = s.latency_s, s.service_s
    # the stalled query itself took 1 s; the ~99 arrivals queued behind it waited up to ~1 s more
    assert lat.max() == pytest.approx(1.0)
    assert lat[101] == pytest.approx(0.991)  # due at 1.01 s, submitted at 2.0 s when the stall ended
    behind = lat > 0.05
    assert 100 <= behind.sum() <= 112  # the stall plus the catch-up, 1 ms a query
    # latency is the wait before admission plus the service time; measured from admission
    # (coordinated omission) the catch-up batch shows only the executor's own queue, 1 ms a query
    np.testing.assert_allclose(lat - service, s.submitted - s.intended, atol=1e-9)
    assert (service >= 0.001 - 1e-9).all() and service[behind][1:].max() <= 0.1 + 1e-9  # <= 100 queued, 1 ms each
    assert np.median(service[behind]) < 0.06 < np.median(lat[behind])
    assert np.percentile(lat, 90) > 0.2 > np.percentile(service, 90)
    assert report.late_starts == rec.late_starts and 100 <= report.late_starts <= 112
    assert report.dropped == 0


def test_arrivals_later_than_max_lateness_are_dropped() -> None:
    clock = FakeClock()
    ex = stalling(clock, stall_at=100, stall_s=1.0)
    drv = Driver(ex, clock=clock.now, sleep=clock.sleep, max_lateness_s=0.5)
    rec = Recorder()
    report = drv.run_open(_source(), ArrivalSchedule.constant(100, 3.0).intended_times(), rec)
    assert 45 <= report.dropped <= 52
    assert report.submitted + report.dropped == 300
    assert 45 <= report.late_starts <= 60  # submitted late but within 0.5 s; drops are not late starts
    assert len(rec.snapshot()) == report.submitted
    assert rec.snapshot().latency_s.max() <= 1.0 + 1e-9


def test_on_time_arrivals_have_service_latency_and_no_late_starts() -> None:
    clock = FakeClock()
    drv = Driver(stalling(clock, service_s=0.002), clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    report = drv.run_open(_source(), ArrivalSchedule.constant(50, 2.0).intended_times(), rec)
    s = rec.snapshot()
    assert report.late_starts == 0 and len(s) == 100
    np.testing.assert_allclose(s.latency_s, 0.002)
    np.testing.assert_allclose(np.diff(s.intended), 0.02)


def test_outcomes_are_counted_by_kind() -> None:
    clock = FakeClock()
    drv = Driver(stalling(clock, fail_every=4), clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    drv.run_open(_source(), ArrivalSchedule.constant(100, 1.0).intended_times(), rec)
    s = rec.snapshot()
    assert s.outcome_counts() == {"ok": 75, "timed_out": 25}
    assert s.errors_by_kind == {"timed_out": 25}


def test_closed_model_runs_a_fixed_query_set() -> None:
    clock = FakeClock()
    drv = Driver(stalling(clock, service_s=0.01), clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    report = drv.run_closed(_source(), rec, clients=3, max_queries=50)
    s = rec.snapshot()
    assert report.submitted == report.completed == 50
    np.testing.assert_allclose(s.latency_s, s.service_s)  # closed model: latency from admission
    # the three clients are ready together, so each batch of three queues at the one server, 10 ms each
    np.testing.assert_allclose(np.unique(np.round(s.latency_s, 9)), [0.01, 0.02, 0.03])
    assert report.duration_s == pytest.approx(0.5)


def test_closed_model_with_think_time_and_duration() -> None:
    clock = FakeClock()
    drv = Driver(stalling(clock, service_s=0.01), clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    report = drv.run_closed(_source(), rec, clients=1, duration_s=1.0, think_time_s=0.04)
    # one client: 10 ms of work then 40 ms of thought, so 20 queries a second
    assert report.completed == 20
    assert np.diff(rec.snapshot().submitted) == pytest.approx(np.full(19, 0.05))


def test_driver_against_a_null_executor_keeps_every_sample() -> None:
    drv = Driver(NullExecutor())
    rec = Recorder(capacity=1024)  # forces several chunks
    report = drv.run_open(_source(), ArrivalSchedule.constant(5000, 0.5).intended_times(), rec)
    s = rec.snapshot()
    assert report.submitted == report.completed == len(s) == 2500
    assert s.outcome_counts() == {"ok": 2500}
    assert (s.latency_s >= 0).all()
    assert len(rec.snapshot(since=2000)) == 500


def test_stop_ends_a_phase_early() -> None:
    clock = FakeClock()

    def step(i: int) -> Step:
        if i == 10:
            drv.stop()
        return Step(0.001)

    drv = Driver(ScriptedExecutor(step, clock=clock.now, sleep=clock.sleep), clock=clock.now, sleep=clock.sleep)
    report = drv.run_open(_source(), ArrivalSchedule.constant(100, 5.0).intended_times(), Recorder())
    assert report.stopped and report.submitted == 11


@pytest.mark.slow
def test_bench_driver_reports_its_rates() -> None:
    from pspread.bench.driver import bench_driver

    figures = bench_driver(rate=2000, duration_s=0.2, closed_clients=2)
    assert figures["open_recorded"] == 400
    assert figures["open_rate_sustained"] > 0 and figures["closed_rate"] > 0


def test_open_phase_ends_on_time_when_the_rate_is_more_than_can_be_sent() -> None:
    """1000 q/s for 1 s, but each query costs 5 ms to send: the phase stops at its end, the rest dropped."""
    from pspread.load.driver import END_GRACE_S

    clock = FakeClock()
    ex = ScriptedExecutor(lambda i: Step(0.005), clock=clock.now, sleep=clock.sleep)  # answered while sent
    drv = Driver(ex, clock=clock.now, sleep=clock.sleep)
    rec = Recorder()
    intended = ArrivalSchedule.constant(1000, 1.0).intended_times()
    report = drv.run_open(_source(), intended, rec)
    assert report.submitted_until - report.started_at <= 1.0 + END_GRACE_S + 0.5  # not 5 s of sending
    assert report.dropped > 0 and report.submitted + report.dropped == len(intended)
    assert rec.dropped == report.dropped

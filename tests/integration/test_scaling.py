"""The scaling report: which figures the speedup and overhead gates see."""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from pspread.execution.base import ExecutorStats, WorkerStats
from pspread.load.scaling import ScalingPoint, ScalingReport, worker_counts
from pspread.metrics.cpu import CpuMeter


def _report() -> ScalingReport:
    rep = ScalingReport(queries=100, cores=2, requested=[1, 2, 4])
    rep.points = [
        ScalingPoint(1, time_s=2.0, qps=50, speedup=1.0, efficiency=1.0, coordination_overhead=0.010),
        ScalingPoint(2, time_s=1.0, qps=100, speedup=2.0, efficiency=1.0, coordination_overhead=0.015),
        ScalingPoint(4, skipped="needs 4 cores, this machine has 2"),
    ]
    return rep


def test_overhead_gate_sees_the_saturated_figure_at_the_gated_worker_count():
    obs = _report().observed(gate_workers=2)
    assert obs.values["speedup"] == 2.0
    assert obs.values["coordination_overhead"] == 0.015


def test_skipped_worker_count_reports_no_speedup_but_the_largest_saturated_overhead():
    obs = _report().observed(gate_workers=4)
    assert "speedup" not in obs.values
    assert "4 cores" in obs.unavailable["speedup"]
    assert obs.values["coordination_overhead"] == 0.015  # measured at 2 workers


class _Books:
    """An executor's own CPU books, as ``CpuMeter`` reads them: worker pids, kernel and parent CPU."""

    def __init__(self, pids: list[int]) -> None:
        self._pids, self.kernel, self.parent = pids, 0.0, 0.0

    def pids(self) -> list[int]:
        return self._pids

    def stats(self) -> ExecutorStats:
        return ExecutorStats(workers=[WorkerStats(0, None, kernel_cpu_s=self.kernel)], parent_cpu_s=self.parent)


def test_cpu_meter_splits_query_work_coordination_and_load_generation():
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\ntime.sleep(30)"
    child = psutil.Popen([sys.executable, "-c", code])
    try:
        books = _Books([child.pid])
        meter = CpuMeter(books)
        deadline = time.monotonic() + 30
        while child.cpu_times().user + child.cpu_times().system < 0.4 and time.monotonic() < deadline:
            psutil.wait_procs([child], timeout=0.05)
        books.kernel, books.parent = 0.3, 0.0  # the worker says 0.3 s of its CPU was query work
        split = meter.split()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert split.workers_s >= 0.4
    assert split.kernel_s == pytest.approx(0.3)
    # coordination: the worker's CPU outside query work (>= 0.1 s) plus the executor's parent share (0)
    assert split.executor_s == pytest.approx(split.workers_s - 0.3)
    assert split.all_s == pytest.approx(split.parent_s + split.workers_s)
    assert split.load_s == pytest.approx(split.parent_s)  # all the parent did here was load generation
    assert 0 < split.coordination_overhead < 1 and split.load_generation is not None


def test_cpu_meter_without_workers_charges_the_kernel_to_this_process():
    books = _Books([])
    meter = CpuMeter(books)
    t = time.process_time()
    while time.process_time() - t < 0.1:
        pass
    books.parent, books.kernel = 0.08, 0.07  # inside the executor 0.08 s, of which query work 0.07 s
    split = meter.split()
    assert split.workers_s == 0
    assert split.executor_s == pytest.approx(0.01)
    assert split.load_s == pytest.approx(split.parent_s - 0.08)


def test_short_and_unstable_timings_are_warned_with_the_fix() -> None:
    from pspread.load.scaling import ScalingPoint, ScalingReport, measurement_warnings

    report = ScalingReport(queries=300, cores=2, requested=[1, 2], points=[
        ScalingPoint(workers=1, time_s=0.14, qps=2143.0, spread=0.02),
        ScalingPoint(workers=2, time_s=2.0, qps=150.0, spread=0.35),
    ])
    short, unstable = measurement_warnings(report)
    assert "0.14 s" in short and "use at least 2143 queries" in short
    assert "2 workers" in unstable and "35%" in unstable and "--repeats" in unstable
    steady = ScalingReport(queries=300, cores=2, requested=[1], points=[ScalingPoint(workers=1, time_s=2.0, qps=150.0)])
    assert measurement_warnings(steady) == []


def test_the_baseline_worker_count_is_added_in_one_place() -> None:
    from pspread.scenario.spec import SpeedupSpec

    assert worker_counts([4, 2, 2]) == [1, 2, 4] and worker_counts([1]) == [1]
    assert SpeedupSpec(workers=[4, 2, 2]).workers == [2, 4]  # the spec keeps what was asked for

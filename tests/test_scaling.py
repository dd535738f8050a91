"""The scaling report: which figures the speedup and overhead gates see."""

from __future__ import annotations

import psutil

from pspread.load.scaling import CpuMeter, ScalingPoint, ScalingReport


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


def test_cpu_meter_counts_parent_and_workers():
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\ntime.sleep(30)"
    child = psutil.Popen(["python3", "-c", code])
    try:
        meter = CpuMeter([child.pid])
        x = 0
        for i in range(100_000):  # a little parent work
            x += i
        while child.cpu_times().user + child.cpu_times().system < 0.4:
            psutil.wait_procs([child], timeout=0.05)
        share = meter.overhead()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert share is not None and 0.0 < share < 0.5  # the worker did most of the work
    assert CpuMeter([]).overhead() is None  # no workers: no overhead figure

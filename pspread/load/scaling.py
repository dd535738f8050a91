"""Speedup: one fixed query set, run at saturation on 1 worker and on W workers, in one run.

speedup(W) = time(1 worker) ÷ time(W workers); efficiency = speedup ÷ W.  Each
worker count gets a fresh executor, a short untimed warm-up (processes started,
caches warm), then the same queries -- the same seeds, in the same order --
under a closed loop that keeps every worker busy.  A worker count larger than
the machine's cores is not measured at all: it is reported SKIPPED with the
reason, because a number from an oversubscribed machine would be noise dressed
as a result.  The points are fitted with the Universal Scalability Law.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pspread.load.driver import Driver
from pspread.load.recorder import Recorder
from pspread.load.workload import Workload
from pspread.metrics import stats
from pspread.metrics.cpu import CpuMeter, CpuSplit
from pspread.metrics.system import usable_cores
from pspread.metrics.thresholds import Observed, cores_reason
from pspread.scenario.spec import Scenario


@dataclass
class ScalingPoint:
    """One worker count: the time of the query set (median of repeats), or why it was skipped."""

    workers: int
    time_s: float | None = None
    qps: float | None = None
    speedup: float | None = None
    efficiency: float | None = None
    errors: int = 0
    skipped: str | None = None
    #: executor CPU outside query work ÷ all CPU while the set ran at saturation (see ``pspread.metrics.cpu``)
    coordination_overhead: float | None = None
    #: driver, recorder and live view CPU ÷ all CPU over the same span
    load_generation: float | None = None
    #: slowest repeat ÷ fastest − 1 (None with one repeat)
    spread: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ScalingReport:
    """Every point of the scaling run, the USL fit, and what the gates see."""

    queries: int
    cores: int
    requested: list[int]
    points: list[ScalingPoint] = field(default_factory=list)
    usl: stats.UslFit | None = None
    usl_note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def measured(self) -> list[ScalingPoint]:
        return [p for p in self.points if p.time_s is not None]

    def observed(self, gate_workers: int | None = None) -> Observed:
        """Speedup and efficiency at ``gate_workers`` (default: the largest requested W) for the gates.

        SKIPPED when that W exceeds the cores, or when this run did not measure
        it (``pspread speedup --workers 1,2`` against a gate meant for 4).
        """
        target = gate_workers or max(self.requested)
        obs = Observed(cores=self.cores, speedup_workers=target)
        saturated = self._overhead_point(target)
        if saturated is not None:
            # the overhead target is "at saturation"; a paced phase at a low
            # rate mostly measures the cost of waking up for each arrival instead
            obs.values["coordination_overhead"] = saturated
        point = next((p for p in self.points if p.workers == target), None)
        if point is None:
            measured = ", ".join(str(p.workers) for p in self.points)
            reason = (f"the speedup gates are for {target} workers (the scenario's speedup.workers); "
                      f"this run measured {measured}")
        elif point.speedup is None:
            reason = point.skipped or "the scaling run measured nothing"
        else:
            obs.values.update(speedup=point.speedup, efficiency=point.efficiency or 0.0)
            return obs
        obs.unavailable.update(speedup=reason, efficiency=reason)
        return obs

    def _overhead_point(self, target: int) -> float | None:
        """The overhead at the largest measured worker count up to ``target``
        (the gated count itself may be SKIPPED on a machine with fewer cores)."""
        points = [p for p in self.measured if p.workers <= target and p.coordination_overhead is not None]
        return points[-1].coordination_overhead if points else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries, "cores": self.cores, "workers": self.requested,
            "points": [p.to_dict() for p in self.points],
            "time_s": [p.time_s for p in self.points], "speedup": [p.speedup for p in self.points],
            "efficiency": [p.efficiency for p in self.points],
            "usl": self.usl.to_dict() if self.usl else None, "usl_note": self.usl_note,
            "warnings": list(self.warnings),
        }


def worker_counts(requested: Iterable[int]) -> list[int]:
    """The worker counts a scaling run measures: those asked for, and 1, the baseline every speedup divides."""
    return sorted(set(requested) | {1})


def measure_scaling(
    scenario: Scenario,
    make_executor: Callable[[int], Any],
    workload: Workload,
    workers: list[int],
    queries: int,
    repeats: int = 1,
    kind: str = "process",
    cores: int | None = None,
    on_point: Callable[[ScalingPoint], None] | None = None,
    driver_options: dict[str, Any] | None = None,
) -> ScalingReport:
    """Time ``queries`` fixed queries on each worker count (1 always included).

    ``make_executor(W)`` builds an executor with W workers; it is closed after
    its point.  ``on_point`` is told each point as it is done (for progress).
    """
    cores = cores or usable_cores()
    counts = worker_counts(workers)
    report = ScalingReport(queries=queries, cores=cores, requested=counts)
    base: float | None = None
    batch = scenario.executor.batch_size
    for w in counts:
        point = ScalingPoint(workers=w)
        if w > cores:
            point.skipped = cores_reason(w, cores)
        elif kind == "inline" and w > 1:
            point.skipped = "the inline executor runs one query at a time; use --executor process"
        else:
            executor = make_executor(w)
            try:
                times, errors, split = _time_query_set(executor, workload, queries, repeats, w, batch,
                                                       driver_options)
                point.coordination_overhead = split.coordination_overhead
                point.load_generation = split.load_generation
            finally:
                executor.close()
            point.time_s = statistics.median(times)
            point.spread = (max(times) / min(times) - 1.0) if len(times) > 1 and min(times) > 0 else None
            point.qps = queries / point.time_s
            point.errors = errors
            if w == 1:
                base = point.time_s
            if base is not None:
                point.speedup = stats.speedup(base, point.time_s)
                point.efficiency = stats.efficiency(point.speedup, w)
        report.points.append(point)
        if on_point is not None:
            on_point(point)
    measured = report.measured
    report.usl, report.usl_note = stats.fit_usl([p.workers for p in measured], [p.qps or 0.0 for p in measured])
    report.warnings = measurement_warnings(report)
    return report


#: a timed query set shorter than this is mostly start-up and timer noise
MIN_TIMED_S = 1.0
#: repeats whose slowest is this much slower than the fastest are not one measurement
MAX_SPREAD = 0.10


def measurement_warnings(report: ScalingReport) -> list[str]:
    """What makes the figures weak, each with how to fix it."""
    out = []
    for p in report.measured:
        if p.time_s is not None and p.time_s < MIN_TIMED_S:
            need = int(report.queries * MIN_TIMED_S / p.time_s) + 1
            out.append(f"{p.workers} workers: the query set took {p.time_s:.2f} s (< {MIN_TIMED_S:g} s); "
                       f"use at least {need} queries (--queries / speedup.queries)")
        if p.spread is not None and p.spread > MAX_SPREAD:
            out.append(f"{p.workers} workers: repeats differ by {100 * p.spread:.0f}% (slowest vs fastest); "
                       "the machine is busy or the set is short: use more queries or more --repeats")
    return out


def _time_query_set(executor: Any, workload: Workload, queries: int, repeats: int, workers: int,
                    batch: int | None, driver_options: dict[str, Any] | None) -> tuple[list[float], int, CpuSplit]:
    """Seconds to answer the fixed set (each repeat), answers not OK, and the CPU split of the repeats.

    The set goes through ``map_batch``, one call per query type (a mix runs its
    types one after another: the same work on every worker count), which keeps
    every worker busy with the least coordination.  ``driver_options`` given:
    the load driver's closed model instead (many clients, one query each).
    """
    if driver_options is not None:
        return _time_closed(executor, workload, queries, repeats, workers, batch, driver_options)
    warm = min(queries, max(50, queries // 10))
    _map_set(executor, workload, warm)
    meter = CpuMeter(executor)
    times, errors = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        answers = _map_set(executor, workload, queries)
        times.append(time.perf_counter() - t0)
        errors += sum(int((~a.ok).sum()) for a in answers)
    return times, errors, meter.split()


def _map_set(executor: Any, workload: Workload, queries: int) -> list[Any]:
    return [executor.map_batch(g.seeds, model=g.model, top_k=g.top_k, timeout_s=g.timeout_s)
            for g in workload.groups(0, queries)]


def _time_closed(executor: Any, workload: Workload, queries: int, repeats: int, workers: int,
                 batch: int | None, driver_options: dict[str, Any]) -> tuple[list[float], int, CpuSplit]:
    driver = Driver(executor, **driver_options)
    clients = max(4, workers * max(8, 2 * (batch or 32)))
    warm = min(queries, max(50, queries // 10))
    driver.run_closed(workload.query, Recorder(capacity=warm), clients=clients, max_queries=warm)
    meter = CpuMeter(executor)
    times, errors = [], 0
    for _ in range(repeats):
        rec = Recorder(capacity=queries)
        rep = driver.run_closed(workload.query, rec, clients=clients, max_queries=queries)
        snap = rec.snapshot()
        errors += int((~snap.ok).sum())
        times.append(float(snap.completed.max() - rep.started_at) if len(snap) else rep.duration_s)
    return times, errors, meter.split()

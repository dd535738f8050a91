"""CPU and memory of the parent and every worker, sampled with psutil on a thread.

The sampler wakes every ``interval_s`` (0.5 s by default), reads CPU% and RSS
of this process and of each pid the executor reports, and keeps a small time
series.  Per phase it also splits the CPU *times* between the start and the
end into query work, executor (coordination) and load generation, as
``pspread.metrics.cpu`` defines them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import psutil

from pspread.metrics.cpu import CpuMeter, CpuSplit


@dataclass
class ProcessSample:
    """The latest reading of one process."""

    pid: int
    role: str
    cpu_percent: float
    rss_bytes: int


@dataclass
class PhaseResources:
    """Resource figures of one phase.

    ``series`` rows are ``(t_offset_s, total_rss_bytes, parent_cpu_percent,
    workers_cpu_percent)`` at each sample; ``rss_growth`` compares the mean
    total RSS of the last tenth of the phase with the first tenth (soak runs).
    ``cpu``: the phase's CPU split (None without an executor to ask).
    ``process_series``: per process role (``parent``, ``worker 0`` ...) the
    rows ``(t_offset_s, cpu_percent, rss_bytes)`` of each sample, for the
    report's per-process CPU and memory plots.
    """

    parent_cpu_s: float
    workers_cpu_s: float
    coordination_overhead: float | None
    peak_rss_bytes: int
    rss_growth: float | None
    processes: list[ProcessSample] = field(default_factory=list)
    series: list[tuple[float, int, float, float]] = field(default_factory=list)
    cpu: CpuSplit | None = None
    process_series: dict[str, list[tuple[float, float, int]]] = field(default_factory=dict)

    @property
    def load_generation(self) -> float | None:
        return self.cpu.load_generation if self.cpu is not None else None

    def to_dict(self) -> dict[str, object]:
        return {
            "parent_cpu_s": self.parent_cpu_s, "workers_cpu_s": self.workers_cpu_s,
            "coordination_overhead": self.coordination_overhead, "load_generation": self.load_generation,
            "cpu": self.cpu.to_dict() if self.cpu is not None else None, "peak_rss_bytes": self.peak_rss_bytes,
            "rss_growth": self.rss_growth,
            "processes": [p.__dict__ for p in self.processes],
            "series": [list(r) for r in self.series],
            "process_series": {role: [list(r) for r in rows] for role, rows in self.process_series.items()},
        }


def _cpu_time(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


class ResourceSampler:
    """Samples the parent and ``pids()`` every ``interval_s`` on a daemon thread."""

    def __init__(self, pids: Callable[[], Sequence[int]], interval_s: float = 0.5, executor: object = None) -> None:
        self._pids = pids
        self._executor = executor
        self._meter: CpuMeter | None = None
        self.interval_s = interval_s
        self._me = psutil.Process(os.getpid())
        self._procs: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._latest: list[ProcessSample] = []
        self._series: list[tuple[float, int, float, float]] = []
        self._process_series: dict[str, list[tuple[float, float, int]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._phase_t0 = time.perf_counter()
        self._phase_cpu0: dict[int, float] = {}
        self._me.cpu_percent(None)

    # ------------------------------------------------------------- thread
    def start(self) -> "ResourceSampler":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="pspread-resources", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except Exception:  # a vanished worker between pids() and the read: next tick
                continue

    def _workers(self) -> dict[int, psutil.Process]:
        pids = [p for p in self._pids() if p and p != self._me.pid]  # an inline executor reports the parent
        for pid in pids:
            if pid not in self._procs:
                try:
                    proc = psutil.Process(pid)
                    proc.cpu_percent(None)
                    self._procs[pid] = proc
                except psutil.Error:
                    continue
        return {pid: self._procs[pid] for pid in pids if pid in self._procs}

    def sample(self) -> list[ProcessSample]:
        """Read every process now (also called by the thread)."""
        rows = [ProcessSample(self._me.pid, "parent", self._me.cpu_percent(None), self._me.memory_info().rss)]
        for k, (pid, proc) in enumerate(self._workers().items()):
            try:
                rows.append(ProcessSample(pid, f"worker {k}", proc.cpu_percent(None), proc.memory_info().rss))
            except psutil.Error:
                continue
        t = time.perf_counter() - self._phase_t0
        total_rss = sum(r.rss_bytes for r in rows)
        with self._lock:
            self._latest = rows
            self._series.append((t, total_rss, rows[0].cpu_percent, sum(r.cpu_percent for r in rows[1:])))
            for r in rows:
                self._process_series.setdefault(r.role, []).append((t, r.cpu_percent, r.rss_bytes))
        return rows

    def latest(self) -> list[ProcessSample]:
        """The most recent reading (parent first); empty before the first tick."""
        with self._lock:
            return list(self._latest)

    # ------------------------------------------------------------- phases
    def _cpu_times(self) -> dict[int, float]:
        out = {self._me.pid: _cpu_time(self._me)}
        for pid, proc in self._workers().items():
            try:
                out[pid] = _cpu_time(proc)
            except psutil.Error:
                continue
        return out

    def begin_phase(self) -> None:
        """Mark the start of a phase: CPU times and the series restart here."""
        self._phase_cpu0 = self._cpu_times()
        if self._executor is not None:
            self._meter = CpuMeter(self._executor)
        with self._lock:
            self._series = []
            self._process_series = {}
            self._phase_t0 = time.perf_counter()

    def end_phase(self) -> PhaseResources:
        """CPU split, peak and growth of memory since ``begin_phase``."""
        rows = self.sample()
        now = self._cpu_times()
        me = self._me.pid
        parent = now.get(me, 0.0) - self._phase_cpu0.get(me, 0.0)
        workers = sum(v - self._phase_cpu0.get(pid, 0.0) for pid, v in now.items() if pid != me)
        with self._lock:
            series = list(self._series)
            process_series = {role: list(rows) for role, rows in self._process_series.items()}
        rss = [r[1] for r in series]
        growth = None
        if len(rss) >= 4:
            w = max(1, len(rss) // 10)
            first, last = sum(rss[:w]) / w, sum(rss[-w:]) / w
            growth = (last - first) / first if first else None
        split = self._meter.split() if self._meter is not None else None
        return PhaseResources(
            parent_cpu_s=parent, workers_cpu_s=workers,
            coordination_overhead=split.coordination_overhead if split is not None else None,
            peak_rss_bytes=max(rss) if rss else 0, rss_growth=growth, processes=rows, series=series, cpu=split,
            process_series=process_series,
        )

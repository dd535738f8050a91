"""Where a run's CPU time goes: the queries themselves, the executor around them, load generation.

One definition, used by the phase figures, the scaling run, the gates and the
results file:

* **all CPU** -- user + system CPU time of every process of the run: this
  process (driver, recorder, live view, and the executor's own threads) and
  every executor worker process, over the same span (psutil);
* **kernel CPU** -- the CPU the workers measured around the queries' own work
  (parsing seeds, spreading, ranking), summed over workers
  (``WorkerStats.kernel_cpu_s``);
* **executor CPU** (coordination) -- every executor process's CPU spent
  outside that query work: the workers' total minus kernel CPU (receiving,
  unpickling, sending, idle polls), plus what this process spent inside the
  executor (``ExecutorStats.parent_cpu_s``: submitting, dispatching, the
  receiver thread);
* **load generation** -- the rest of this process's CPU: the driver, the
  recorder, the live view, the resource sampler.

``coordination_overhead = executor CPU ÷ all CPU`` and ``load_generation =
load-generation CPU ÷ all CPU``.  With the inline executor the queries run in
this process, so its kernel CPU is subtracted from this process instead.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import psutil


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds of one span, split as the module docstring defines."""

    all_s: float
    kernel_s: float
    executor_s: float
    load_s: float
    parent_s: float
    workers_s: float

    @property
    def coordination_overhead(self) -> float | None:
        return self.executor_s / self.all_s if self.all_s > 0 else None

    @property
    def load_generation(self) -> float | None:
        return self.load_s / self.all_s if self.all_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"coordination_overhead": self.coordination_overhead,
                               "load_generation": self.load_generation}

    def __add__(self, other: "CpuSplit") -> "CpuSplit":
        return CpuSplit(*(a + b for a, b in zip(_values(self), _values(other))))


def _values(s: CpuSplit) -> tuple[float, ...]:
    return (s.all_s, s.kernel_s, s.executor_s, s.load_s, s.parent_s, s.workers_s)


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


class CpuMeter:
    """Reads the CPU counters of this process, the executor's workers and the executor's own books.

    ``split()`` gives the ``CpuSplit`` since the meter was made (or last
    ``restart()``).  A worker that appears later (a replacement) counts from 0;
    one that vanished counts up to its last reading.
    """

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self._me = psutil.Process(os.getpid())
        self._procs: dict[int, psutil.Process] = {}
        self._last: dict[int, float] = {}
        self.restart()

    def _read(self) -> tuple[float, float, float, float]:
        """(this process's CPU, all workers' CPU, executor CPU in this process, kernel CPU)."""
        workers = 0.0
        for pid in list(self.executor.pids()):
            if pid == self._me.pid:
                continue
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                self._last[pid] = _cpu(proc)
            except psutil.Error:
                pass
        workers = sum(self._last.values())
        st = self.executor.stats()
        kernel = sum(w.kernel_cpu_s for w in st.workers)
        return _cpu(self._me), workers, st.parent_cpu_s, kernel

    def restart(self) -> None:
        self._start = self._read()
        self._start_pids = dict(self._last)

    def split(self) -> CpuSplit:
        parent1, workers1, exec1, kernel1 = self._read()
        parent0, _, exec0, kernel0 = self._start
        workers0 = sum(self._start_pids.get(pid, 0.0) for pid in self._last)
        parent, workers = parent1 - parent0, workers1 - workers0
        executor_parent, kernel = exec1 - exec0, kernel1 - kernel0
        all_s = parent + workers
        if workers > 0:  # queries ran on worker processes
            executor = executor_parent + max(0.0, workers - kernel)
            load = max(0.0, parent - executor_parent)
        else:  # inline: the queries ran in this process, inside the executor's calls
            executor = max(0.0, executor_parent - kernel)
            load = max(0.0, parent - executor_parent)
        return CpuSplit(all_s, kernel, executor, load, parent, workers)

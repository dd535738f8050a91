"""The driver loop: submits queries to an executor on an open or closed model.

Open model: arrival k is *meant* to start at ``intended[k]``.  The driver sleeps
until then and submits; if it is behind (a stalled executor, a slow parent) it
submits at once and counts a late start, and past ``max_lateness_s`` it drops
the arrival and counts that.  Latency is completion minus the intended start,
so time spent waiting behind a stall shows up in the figures (no coordinated
omission).

Closed model: N clients, each submits one query, waits for its completion,
thinks, and submits again.  Latency there is completion minus submission.

The hot path is a sleep, one ``Query`` from the workload, ``submit`` with a
``functools.partial`` callback and, on completion, one ``Recorder.record``: no
future per query, nothing computed that could wait until later.  Time comes from
an injectable ``clock``/``sleep`` pair so tests can drive it with a fake clock.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

import numpy as np

from pspread.execution.base import Executor
from pspread.execution.query import Query, QueryResult
from pspread.load.recorder import Recorder

QuerySource = Callable[[int], Optional[Query]]


@dataclass
class DriverReport:
    """What the driver did in one phase (counts, and the wall-clock span)."""

    model: str
    planned: int
    submitted: int
    completed: int
    late_starts: int
    dropped: int
    started_at: float
    submitted_until: float
    ended_at: float
    drained: bool
    stopped: bool
    interrupted: bool = False

    @property
    def duration_s(self) -> float:
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"duration_s": self.duration_s}


class Driver:
    """Drives one executor; one phase at a time (``run_open`` / ``run_closed``).

    ``late_tolerance_s``: how far behind its intended time an arrival may be
    submitted before it counts as a late start (timer resolution, not load).
    ``max_lateness_s``: arrivals later than this are dropped (None: never).
    ``drain_timeout_s``: how long to wait for in-flight queries after the last
    submission before the phase ends anyway.
    """

    def __init__(
        self,
        executor: Executor,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        late_tolerance_s: float = 0.002,
        max_lateness_s: float | None = None,
        drain_timeout_s: float = 30.0,
    ) -> None:
        self.executor = executor
        self.clock = clock
        self.sleep = sleep
        self.late_tolerance_s = late_tolerance_s
        self.max_lateness_s = max_lateness_s
        self.drain_timeout_s = drain_timeout_s
        self.stop_event = threading.Event()
        self.recorder: Recorder | None = None  # the running phase's
        self.planned = 0
        self.interrupted = False

    def stop(self) -> None:
        """Ask the running phase to stop submitting (thread-safe); it still drains."""
        self.stop_event.set()

    # ------------------------------------------------------------ open model
    def run_open(self, source: QuerySource, intended: np.ndarray, recorder: Recorder) -> DriverReport:
        """Submit query ``source(k)`` at ``start + intended[k]`` for every k."""
        clock, sleep, submit, record = self.clock, self.sleep, self.executor.submit, recorder.record
        stop = self.stop_event
        tol = self.late_tolerance_s
        max_late = math.inf if self.max_lateness_s is None else self.max_lateness_s
        start = clock()
        self._begin(recorder, len(intended), start)
        late = dropped = 0
        try:
            for k, t in enumerate((np.asarray(intended, dtype=np.float64) + start).tolist()):
                now = clock()
                if now < t:
                    sleep(t - now)
                    now = clock()
                elif now - t > tol:
                    if now - t > max_late:  # too late to be worth sending: dropped (not a late start)
                        dropped += 1
                        recorder.dropped = dropped
                        continue
                    late += 1
                if stop.is_set():
                    break
                query = source(k)
                if query is None:
                    break
                recorder.submitted += 1
                recorder.late_starts = late
                submit(query, partial(_complete, record, t, now, clock))
        except KeyboardInterrupt:
            self._interrupted()
        recorder.late_starts, recorder.dropped = late, dropped
        return self._finish("open", recorder, start, late, dropped)

    # ---------------------------------------------------------- closed model
    def run_closed(
        self,
        source: QuerySource,
        recorder: Recorder,
        clients: int,
        duration_s: float | None = None,
        think_time_s: float = 0.0,
        max_queries: int | None = None,
    ) -> DriverReport:
        """``clients`` loops of submit → wait → think, until ``duration_s`` or ``max_queries``.

        With ``max_queries`` and no duration it runs a fixed query set at a fixed
        concurrency (the saturation runs speedup is measured with).
        """
        if clients < 1:
            raise ValueError("a closed model needs at least one client")
        clock, sleep, submit, record = self.clock, self.sleep, self.executor.submit, recorder.record
        stop = self.stop_event
        ready: "queue.SimpleQueue[tuple[float, int]]" = queue.SimpleQueue()
        start = clock()
        end = math.inf if duration_s is None else start + duration_s
        limit = math.inf if max_queries is None else max_queries
        self._begin(recorder, max_queries or 0, start)

        def done(client: int, submitted: float, result: QueryResult) -> None:
            completed = _complete(record, submitted, submitted, clock, result)
            ready.put((completed + think_time_s, client))

        for c in range(clients):
            ready.put((start, c))
        k = 0
        try:
            while k < limit and not stop.is_set():
                try:
                    due = [ready.get(timeout=0.05)]
                except queue.Empty:
                    if clock() >= end:
                        break
                    continue
                # take every client that is ready in one wake-up: answers arrive in
                # batches, and one hand-off per batch is what keeps the parent cheap
                while len(due) < clients:
                    try:
                        due.append(ready.get_nowait())
                    except queue.Empty:
                        break
                due.sort()
                for t, client in due:
                    now = clock()
                    if now < t:
                        sleep(t - now)
                        now = clock()
                    if now >= end or k >= limit or stop.is_set():
                        break
                    query = source(k)
                    if query is None:
                        break
                    k += 1
                    recorder.submitted += 1
                    submit(query, partial(done, client, now))
                else:
                    continue
                break
        except KeyboardInterrupt:
            self._interrupted()
        return self._finish("closed", recorder, start, 0, 0)

    # -------------------------------------------------------------- helpers
    def _interrupted(self) -> None:
        """Ctrl-C in the loop: stop submitting; the phase still ends with a report (and a short drain)."""
        self.stop_event.set()
        self.interrupted = True

    def abandon(self, model: str, recorder: Recorder) -> DriverReport:
        """The report of a phase interrupted before or after its loop ran (what it recorded, if anything)."""
        self._interrupted()
        if recorder is not self.recorder:
            self._begin(recorder, 0, self.clock())
            self.interrupted = True
        return self._finish(model, recorder, recorder.origin, recorder.late_starts, recorder.dropped)

    def _begin(self, recorder: Recorder, planned: int, start: float) -> None:
        recorder.origin = start
        self.recorder = recorder
        self.planned = planned
        self.interrupted = False

    def _finish(self, model: str, recorder: Recorder, start: float, late: int, dropped: int) -> DriverReport:
        submitted_until = self.clock()
        try:
            drained = self.drain(recorder, 1.0 if self.interrupted else self.drain_timeout_s)
        except KeyboardInterrupt:  # a second Ctrl-C while draining: give up waiting
            self.interrupted, drained = True, False
            self.stop_event.set()
        return DriverReport(
            model=model, planned=self.planned, submitted=recorder.submitted, completed=recorder.completed,
            late_starts=late, dropped=dropped, started_at=start, submitted_until=submitted_until,
            ended_at=self.clock(), drained=drained, stopped=self.stop_event.is_set(), interrupted=self.interrupted,
        )

    def drain(self, recorder: Recorder, timeout_s: float) -> bool:
        """Wait (real time) until every submitted query has completed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while recorder.completed < recorder.submitted:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True


def _complete(record: Callable[[float, float, QueryResult], None], intended: float, submitted: float,
              clock: Callable[[], float], result: QueryResult) -> float:
    """Completion callback: stamp the result if the executor did not, and record it."""
    if not result.completed_at:
        result.completed_at = clock()
    record(intended, submitted, result)
    return result.completed_at

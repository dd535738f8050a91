"""The driver loop: submits queries to an executor on an open or closed model.

Open model: arrival k is *meant* to start at ``intended[k]`` (an array).  The
driver sleeps until the next arrival is due, then sends *every* arrival due by
then in one ``submit_batch`` per query type; one that is later than
``late_tolerance_s`` counts as a late start, and past ``max_lateness_s`` it is
dropped and counted.  A phase ends on time: arrivals still unsent
``END_GRACE_S`` after the last intended start (a rate beyond what the driver
can send) are dropped and counted too.  Latency is completion minus the intended start, so time
spent waiting behind a stall shows up in the figures (no coordinated omission).

Closed model: N clients, each submits one query, waits for its completion,
thinks, and submits again; every client that is ready at one wake-up goes in
the same batch.  Latency there is completion minus submission.

Nothing on the hot path is per query in Python: seeds come from the workload
as arrays (``Workload.groups``), answers go into the recorder as array slices
(``Recorder.record_rows``).  Time comes from an injectable ``clock``/``sleep``
pair so tests can drive it with a fake clock.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from pspread.execution.base import Executor
from pspread.execution.query import Query
from pspread.load.recorder import Recorder
from pspread.load.workload import Group, Workload

#: the k-th query of a stream, or None when it has ended (the slow path: a ``Workload`` is read as arrays)
QuerySource = Union[Workload, Callable[[int], Optional[Query]]]


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


#: seconds past the last intended start after which an open phase stops sending (the rest is dropped)
END_GRACE_S = 0.5
#: most arrivals one wake-up of the open loop sends before it looks at the clock again
MAX_PER_WAKE = 65_536


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

    def _send(self, groups: list[Group], recorder: Recorder, intended: np.ndarray | None, submitted: float,
              done: Callable[[Any, int, int, np.ndarray], None] | None = None) -> None:
        """One ``submit_batch`` per group; ``intended[i]`` is the intended start of the run's row i.

        ``intended`` None (the closed model): each query was meant to start when
        the executor admitted it.
        """
        for g in groups:
            meant = intended[g.positions] if intended is not None else None
            code = recorder.kind_code(g.kind)

            def rows(batch: Any, start: int, stop: int, meant: np.ndarray | None = meant, code: int = code,
                     pos: np.ndarray = g.positions) -> None:
                a = batch.answers
                when = meant[start:stop] if meant is not None else a.submitted_at[start:stop]
                recorder.record_rows(when, submitted, a, start, stop, code)
                if done is not None:
                    done(batch, start, stop, pos)

            self.executor.submit_batch(g.seeds, model=g.model, top_k=g.top_k, timeout_s=g.timeout_s,
                                       on_rows=rows)

    # ------------------------------------------------------------ open model
    def run_open(self, source: QuerySource, intended: np.ndarray, recorder: Recorder) -> DriverReport:
        """Submit query k of ``source`` at ``start + intended[k]`` for every k (all due ones at once)."""
        clock, sleep = self.clock, self.sleep
        stop = self.stop_event
        tol = self.late_tolerance_s
        max_late = math.inf if self.max_lateness_s is None else self.max_lateness_s
        stream = _stream(source)
        start = clock()
        times = np.asarray(intended, dtype=np.float64) + start
        n = len(times)
        self._begin(recorder, n, start)
        late = dropped = 0
        k = 0
        # the phase ends on time even when the rate is more than this process can send: past the last
        # intended start (plus a little grace), what is still unsent is dropped, not sent late
        deadline = (times[-1] if n else start) + END_GRACE_S
        per_row = 0.0  # seconds one row of the last send cost this loop
        try:
            while k < n and not stop.is_set():
                now = clock()
                if now < times[k]:
                    sleep(times[k] - now)
                    now = clock()
                    if stop.is_set():
                        break
                if now > deadline:
                    dropped += n - k
                    recorder.dropped = dropped
                    break
                # at most MAX_PER_WAKE per wake-up, and no more than the time left can send at the cost per
                # row measured so far, so the clock is read again between large sends
                fit = MAX_PER_WAKE if per_row <= 0 else max(1, min(MAX_PER_WAKE, int((deadline - now) / per_row)))
                j = min(k + fit, max(k + 1, int(np.searchsorted(times, now, side="right"))))
                lateness = now - times[k:j]
                keep = lateness <= max_late
                n_drop = int(np.count_nonzero(~keep))
                if n_drop:  # too late to be worth sending: dropped (not late starts)
                    dropped += n_drop
                    recorder.dropped = dropped
                late += int(np.count_nonzero(keep & (lateness > tol)))
                recorder.late_starts = late
                groups = stream(k, j)
                if groups is None:
                    break
                if n_drop:
                    groups = _only(groups, np.flatnonzero(keep))
                sent = sum(len(g.positions) for g in groups)
                recorder.submitted += sent
                self._send(groups, recorder, times[k:j], now)
                if sent:
                    per_row = (clock() - now) / sent
                if _ended(groups, j - k, n_drop):
                    break
                k = j
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
        clock, sleep = self.clock, self.sleep
        stop = self.stop_event
        stream = _stream(source)
        ready: "queue.SimpleQueue[tuple[float, int]]" = queue.SimpleQueue()
        start = clock()
        end = math.inf if duration_s is None else start + duration_s
        limit = math.inf if max_queries is None else max_queries
        self._begin(recorder, max_queries or 0, start)

        def finished(who: np.ndarray, batch: Any, a: int, b: int, pos: np.ndarray) -> None:
            done_at = batch.answers.completed_at[a:b]
            for t, c in zip((done_at + think_time_s).tolist(), who[pos[a:b]].tolist()):
                ready.put((t, c))

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
                # every client that is ready at this wake-up goes in one batch
                while len(due) < clients:
                    try:
                        due.append(ready.get_nowait())
                    except queue.Empty:
                        break
                due.sort()
                now = clock()
                if now < due[0][0]:
                    sleep(due[0][0] - now)
                    now = clock()
                if now >= end or stop.is_set():
                    break
                go = [c for t, c in due if t <= now]
                for t, c in due[len(go):]:
                    ready.put((t, c))  # not due yet: the next wake-up takes it
                m = int(min(len(go), limit - k))
                groups = stream(k, k + m)
                if groups is None:
                    break
                who = np.asarray(go[:m], dtype=np.int64)
                sent = sum(len(g.positions) for g in groups)
                recorder.submitted += sent
                k += sent
                self._send(groups, recorder, None, now, functools.partial(finished, who))
                if sent < m:
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


def _stream(source: QuerySource) -> Callable[[int, int], list[Group] | None]:
    """Queries ``k0:k1`` of ``source`` as groups (None: the stream has already ended)."""
    owner = getattr(source, "__self__", source)
    if isinstance(owner, Workload):
        return owner.groups

    def groups(k0: int, k1: int) -> list[Group] | None:
        runs: list[tuple[Query, list[int], list[Any]]] = []  # first query of a run, its positions, its seeds
        for k in range(k0, k1):
            q = source(k)  # type: ignore[operator]
            if q is None:
                break
            first = runs[-1][0] if runs else None
            if not (first is not None and first.model is q.model and first.top_k == q.top_k
                    and first.timeout_s == q.timeout_s and first.kind == q.kind):
                runs.append((q, [], []))
            runs[-1][1].append(k - k0)
            runs[-1][2].append(q.seeds)
        if not runs and k1 > k0:
            return None
        return [Group(np.asarray(pos), seeds, q.kind, q.model, q.top_k, q.timeout_s) for q, pos, seeds in runs]

    return groups


def _only(groups: list[Group], keep: np.ndarray) -> list[Group]:
    """The groups restricted to the run's rows ``keep`` (positions stay those of the run)."""
    out = []
    for g in groups:
        mask = np.isin(g.positions, keep)
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        if isinstance(g.seeds, list):
            seeds: Any = [g.seeds[i] for i in idx.tolist()]
        else:
            seeds = _rows(g.seeds, idx)
        out.append(Group(g.positions[idx], seeds, g.kind, g.model, g.top_k, g.timeout_s))
    return out


def _rows(block: Any, idx: np.ndarray) -> Any:
    from pspread.execution.answers import SeedBlock

    return SeedBlock.of([block.row(i)[0] for i in idx.tolist()])


def _ended(groups: list[Group], asked: int, dropped: int) -> bool:
    """A callable source returned fewer queries than asked for: the stream is over."""
    return sum(len(g.positions) for g in groups) < asked - dropped

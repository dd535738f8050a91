"""The bookkeeping both multi-worker executors keep over their ``Entry`` records.

``ProcessExecutor`` and ``DaskExecutor`` move queries differently (pipes and a
receiver thread; Dask comms on an event loop) but account for them the same
way: one table of pending entries, one queue of waiting ones, one deadline
heap and one outcome counter, all under one lock.  The rules that decide a
query's outcome without an answer -- a deadline passes, a worker is lost, the
executor closes, a query cannot travel -- live here once, so a fix to any of
them reaches both executors.

``Ledger`` is a mixin: it owns no state and works on the attributes the
executor's ``__init__`` creates (listed below).  Methods named ``*_locked``
must be called with ``_lock`` held; the others take it themselves and
resolve futures and callbacks outside it.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import time
from collections import deque
from typing import Any

from pspread.execution.base import ExecutorStats, WorkerStats
from pspread.execution.query import Outcome, QueryResult
from pspread.execution.slots import Entry
from pspread.execution.worker import EXPIRED, to_result


class Ledger:
    """Shared accounting of admitted queries (mixin of ``ProcessExecutor`` and ``DaskExecutor``).

    A worker record (``Slot`` or the Dask executor's worker) needs ``pid``,
    ``stats`` and an ``inflight`` dict of ``Entry`` by key.
    """

    _lock: Any
    _pending: dict[int, Entry]
    _queue: deque[Entry]
    _queued: int  # live entries in _queue (done ones are skipped lazily)
    _inflight: int
    _deadlines: list[tuple[float, int]]
    _submitted: int
    _completed: int
    _outcomes: dict[str, int]
    _closed: bool

    # ---------------------------------------------------------- counting
    def _count(self, outcome: Outcome, n: int = 1) -> None:
        """Count ``n`` queries ending with ``outcome`` (under the lock)."""
        self._outcomes[outcome.value] = self._outcomes.get(outcome.value, 0) + n

    # ---------------------------------------------------------- delivery
    def _deliver(self, e: Entry, result: QueryResult | None) -> None:
        """Resolve one future and call its callback (outside the lock).

        ``result`` None: the caller cancelled the future while it was queued.
        An entry admitted without a future (``ProcessExecutor.map``) only gets
        its callback.
        """
        fut = e.future
        if result is None:  # cancelled by the caller while queued
            result = QueryResult(e.query.query_id, Outcome.CANCELLED, submitted_at=e.submitted_at,
                                 completed_at=time.perf_counter(), kind=e.query.kind, error="cancelled")
        elif fut is not None and (e.started or fut.set_running_or_notify_cancel()):
            try:
                fut.set_result(result)
            except cf.InvalidStateError:
                pass  # already resolved (e.g. close() raced an answer)
        if e.callback is not None:
            try:
                e.callback(result)
            except Exception:  # noqa: BLE001 - a caller's callback must not stop the executor
                pass

    @staticmethod
    def _unanswered(e: Entry, outcome: Outcome, why: str) -> QueryResult:
        """The result of a query the executor ended without a worker's answer (lost, closed)."""
        return QueryResult(e.query.query_id, outcome, submitted_at=e.submitted_at, completed_at=time.perf_counter(),
                           attempts=e.attempts, kind=e.query.kind, error=why)

    # ---------------------------------------------------------- deadlines
    def _expire(self) -> None:
        """Answer ``TIMED_OUT`` every pending query whose deadline has passed.

        Only the executor's own thread (receiver thread or event loop) pops the
        heap, so the unlocked peek cannot see it shrink; a deadline pushed
        meanwhile is seen on the next call.  A query still queued leaves the
        queue's live count here; a query on a worker is dropped when its late
        answer arrives (its entry is done).
        """
        if not self._deadlines:
            return
        now = time.perf_counter()
        if self._deadlines[0][0] > now:
            return
        done: list[Entry] = []
        with self._lock:
            heap, pending = self._deadlines, self._pending
            while heap and heap[0][0] <= now:
                _, key = heapq.heappop(heap)
                e = pending.pop(key, None)
                if e is None or e.done:
                    continue
                e.done = True
                if e.worker < 0:
                    self._queued -= 1
                self._count(Outcome.TIMED_OUT)
                done.append(e)
        for e in done:
            self._deliver(e, to_result(e.query, EXPIRED, None, 0.0, e.submitted_at, e.worker, e.attempts))

    # ---------------------------------------------------------- lost workers
    def _requeue_or_lose_locked(self, entries: list[Entry], retry: bool = True) -> list[Entry]:
        """A lost worker's unanswered entries: retried once, else ended; returns the ended ones.

        Each entry not yet done goes back to the *front* of the queue (it has
        waited longest) with ``attempts=2`` if ``retry`` and it has not been
        retried already; otherwise it is done, leaves ``_pending`` and counts
        ``WORKER_LOST`` -- the caller delivers those after releasing the lock.
        The caller has already taken them off the worker and out of ``_inflight``.
        """
        lost: list[Entry] = []
        for e in reversed(entries):  # reversed: appendleft keeps their order
            if e.done:
                continue
            e.worker = -1
            if retry and e.attempts < 2:
                e.attempts = 2
                self._queue.appendleft(e)
                self._queued += 1
            else:
                e.done = True
                del self._pending[e.key]
                self._count(Outcome.WORKER_LOST)
                lost.append(e)
        return lost

    def _lose_queued_locked(self) -> list[Entry]:
        """End every waiting query ``WORKER_LOST`` (no worker is left to run it); returns them to deliver."""
        lost: list[Entry] = []
        while self._queue:
            e = self._queue.popleft()
            if e.done:
                continue
            e.done = True
            self._queued -= 1
            del self._pending[e.key]
            self._count(Outcome.WORKER_LOST)
            lost.append(e)
        return lost

    # ---------------------------------------------------------- untravelled
    def _reject(self, worker: Any, key: int, why: str) -> None:
        """Answer ``INVALID`` a query assigned to ``worker`` that could not be sent to it (pickling failed)."""
        with self._lock:
            e = worker.inflight.pop(key, None)
            if e is None:
                return
            self._inflight -= 1
            if e.done:
                return
            e.done = True
            self._pending.pop(key, None)
            self._count(Outcome.INVALID)
        self._deliver(e, QueryResult(e.query.query_id, Outcome.INVALID, submitted_at=e.submitted_at,
                                     completed_at=time.perf_counter(), kind=e.query.kind, error=why))

    # ---------------------------------------------------------- stats
    def _worker_records(self) -> list[Any]:
        """The executor's worker records, one per position (called under the lock)."""
        raise NotImplementedError

    def _snapshot(self) -> tuple[list[Any], ExecutorStats]:
        """Copies of every worker's counters and the totals, taken at one instant under the lock.

        Returns the worker records too, so the executor can add what it must
        measure outside the lock (memory) to ``snapshot.workers`` in order.
        """
        with self._lock:
            records = list(self._worker_records())
            ws = []
            for r in records:
                s = WorkerStats(**vars(r.stats))
                s.pid, s.in_flight = r.pid, len(r.inflight)
                ws.append(s)
            snap = ExecutorStats(workers=ws, submitted=self._submitted, completed=self._completed,
                                 in_flight=self._inflight, queued=self._queued, outcomes=dict(self._outcomes))
        return records, snap

    # ---------------------------------------------------------- close
    def _closing_locked(self) -> None:
        """Executor-specific state to reset on the first ``close()``, under the lock (default: nothing)."""

    def _cancel_all(self) -> None:
        """Mark the executor closed and answer every pending query ``CANCELLED``; idempotent.

        Pending, queue and queued are cleared at once under the lock, so
        nothing is dispatched afterwards; an answer that arrives later finds
        its entry done and is dropped.  Results are delivered outside the lock.
        """
        done: list[Entry] = []
        with self._lock:
            first = not self._closed
            self._closed = True
            if first:
                done = [e for e in self._pending.values() if not e.done]
                for e in done:
                    e.done = True
                    self._count(Outcome.CANCELLED)
                self._pending.clear()
                self._queue.clear()
                self._queued = 0
                self._closing_locked()
        for e in done:
            self._deliver(e, self._unanswered(e, Outcome.CANCELLED, "the executor was closed"))

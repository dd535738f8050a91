"""Admission: what every multi-query executor keeps about the queries it has accepted.

One ``Admission`` object per executor owns, under one lock: the pending
chunks, the bounded queue, the deadline heap, the outcome counts and the model
registry.  Transports (pipes to worker processes, Dask comms, a direct call)
own only their own state and ask admission what to run next (``take``) and
tell it what came back (``finish``), what was lost (``requeue_or_lose``) and
when they close (``cancel_all``).  So the rules that decide a query's outcome
-- a full queue, a passed deadline, a lost worker, a closed executor, a query
that cannot travel -- are written once.

Units.  A caller submits a ``Batch`` (Q queries with one model, one ``top_k``
and one timeout); admission cuts it into ``Chunk``\\ s, contiguous runs of its
rows, which are what travel to a worker.  Every row ends in exactly one
outcome, written into ``batch.answers``.

Locking.  Methods named ``*_locked`` must be called with ``lock`` held; they
return ``Delivery`` tuples which the caller passes to ``deliver`` *after*
releasing the lock, so callers' callbacks never run under it.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import threading
import time
from collections import deque
from typing import Any, Callable, Optional, Sequence

import numpy as np

from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError
from pspread.execution.answers import (
    CANCELLED,
    CODE,
    INVALID,
    OK,
    OUTCOMES,
    OVERLOADED,
    PENDING,
    TIMED_OUT,
    WORKER_LOST,
    Answers,
    SeedBlock,
)
from pspread.execution.base import ExecutorStats, WorkerStats
from pspread.execution.query import Query

#: ``on_rows(batch, start, stop)``: rows ``start:stop`` of ``batch`` have their outcomes
RowsCallback = Callable[["Batch", int, int], None]
Delivery = tuple["Batch", int, int]
#: what a ``*_locked`` call leaves for ``deliver`` (None: nothing to tell)
Deliveries = list[Optional[Delivery]]


class Batch:
    """A submitted run of queries: its answers, its seeds, and who to tell when rows finish."""

    __slots__ = ("answers", "seeds", "model_id", "top_k", "timeout_s", "remaining", "on_rows",
                 "future", "queries", "done_event")

    def __init__(self, seeds: SeedBlock | Sequence[Any], k: int, model_id: int = 0, top_k: int | None = None,
                 timeout_s: float | None = None, on_rows: RowsCallback | None = None,
                 queries: Sequence[Query] | None = None, future: "cf.Future[Any] | None" = None) -> None:
        self.seeds = seeds
        self.model_id = model_id
        self.top_k = top_k
        self.timeout_s = timeout_s
        self.answers = Answers.empty(len(seeds), k)
        self.remaining = len(seeds)
        self.on_rows = on_rows
        self.queries = queries
        self.future = future
        self.done_event: threading.Event | None = None

    def __len__(self) -> int:
        return len(self.answers)

    def payload(self, start: int, stop: int) -> SeedBlock | list[Any]:
        """The seeds of rows ``start:stop``, as they travel to a worker."""
        seeds = self.seeds
        return seeds.slice(start, stop) if isinstance(seeds, SeedBlock) else list(seeds[start:stop])


class Chunk:
    """Rows ``start:stop`` of one batch, queued or on one worker."""

    __slots__ = ("key", "batch", "start", "stop", "deadline", "attempts", "worker", "done")

    def __init__(self, key: int, batch: Batch, start: int, stop: int, deadline: float | None) -> None:
        self.key = key
        self.batch = batch
        self.start = start
        self.stop = stop
        self.deadline = deadline
        self.attempts = 1
        self.worker = -1  # a worker's index while it runs the chunk, -1 while queued
        self.done = False  # outcomes decided (a late answer is then dropped)

    @property
    def rows(self) -> int:
        return self.stop - self.start


class Admission:
    """Pending chunks, the bounded queue, deadlines, outcome counts and models, under ``lock``.

    ``max_in_flight`` rows may be on workers at once and ``queue_size`` more
    may wait; past that, rows are answered ``OVERLOADED`` at once (counted).
    """

    def __init__(self, model: SpreadModel, max_in_flight: int, queue_size: int) -> None:
        self.lock = threading.Lock()
        self.max_in_flight = max_in_flight
        self.queue_size = queue_size
        self.model = model
        self._keys = itertools.count()
        self.pending: dict[int, Chunk] = {}
        self.queue: deque[Chunk] = deque()
        self.queued = 0  # rows waiting in ``queue`` (done chunks are skipped lazily)
        self.inflight = 0  # rows on workers, until their answer arrives or the worker is lost
        self.deadlines: list[tuple[float, int]] = []
        self.submitted = 0
        self.completed = 0  # rows a worker answered (ok or invalid)
        self.outcomes = np.zeros(len(OUTCOMES), dtype=np.int64)
        self.closed = False
        self.model_ids: dict[SpreadModel, int] = {model: 0}
        self.models: dict[int, SpreadModel] = {0: model}

    # ------------------------------------------------------------ models
    def model_id_locked(self, model: SpreadModel | None) -> int:
        """The registry id of ``model`` (0 for the executor's own), registering it on first sight."""
        if model is None:
            return 0
        mid = self.model_ids.get(model)
        if mid is None:
            if not isinstance(model, SpreadModel):
                raise ExecutorError(f"a query's model must be a SpreadModel, got {type(model).__name__}")
            mid = self.model_ids[model] = len(self.models)
            self.models[mid] = model
        return mid

    # ------------------------------------------------------------- admit
    def admit_locked(self, batch: Batch, now: float, workers_alive: bool) -> list[Delivery]:
        """Queue what fits of ``batch``; the rest is ``OVERLOADED`` (``WORKER_LOST`` with no worker)."""
        if self.closed:
            raise ExecutorError("this executor is closed; create a new one to run more queries")
        q = len(batch)
        batch.answers.submitted_at[:] = now
        self.submitted += q
        room = self.max_in_flight + self.queue_size - self.queued - self.inflight
        n = max(0, min(q, room)) if workers_alive else 0
        out: list[Delivery] = []
        if n:
            deadline = None if batch.timeout_s is None else now + batch.timeout_s
            chunk = Chunk(next(self._keys), batch, 0, n, deadline)
            self.pending[chunk.key] = chunk
            self.queue.append(chunk)
            self.queued += n
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, chunk.key))
        if n < q:
            if workers_alive:
                why = (f"more than max_in_flight={self.max_in_flight} + queue_size={self.queue_size} "
                       "queries waiting")
                out.append(self._end_rows(batch, n, q, OVERLOADED, why, now))
            else:
                out.append(self._end_rows(batch, n, q, WORKER_LOST, "no worker is left to answer", now))
        return out

    def _end_rows(self, batch: Batch, start: int, stop: int, code: int, why: str | None, now: float) -> Delivery:
        """Rows that end without a worker's answer: their outcome, counted, with the reason."""
        a = batch.answers
        a.outcome[start:stop] = code
        a.completed_at[start:stop] = now
        if why:
            for r in range(start, stop):
                a.errors[r] = why
        self.outcomes[code] += stop - start
        batch.remaining -= stop - start
        return batch, start, stop

    # -------------------------------------------------------------- take
    def take_locked(self, max_rows: int, out: Deliveries) -> Chunk | None:
        """The next queued chunk, cut to at most ``max_rows`` rows (the rest stays first in line).

        A single query whose future the caller cancelled while it waited ends
        ``CANCELLED`` here (appended to ``out``) instead of being sent.
        """
        queue = self.queue
        while queue:
            c = queue[0]
            if c.done:
                queue.popleft()
                continue
            fut = c.batch.future
            if fut is not None and c.attempts == 1 and not fut.set_running_or_notify_cancel():
                queue.popleft()
                c.done = True
                self.pending.pop(c.key, None)
                self.queued -= c.rows
                out.append(self._end_rows(c.batch, c.start, c.stop, CANCELLED, "cancelled", time.perf_counter()))
                continue
            if c.rows > max_rows:
                rest = Chunk(next(self._keys), c.batch, c.start + max_rows, c.stop, c.deadline)
                rest.attempts = c.attempts
                c.stop = rest.start
                queue[0] = rest
                self.pending[rest.key] = rest
                if rest.deadline is not None:
                    heapq.heappush(self.deadlines, (rest.deadline, rest.key))
            else:
                queue.popleft()
            self.queued -= c.rows
            self.inflight += c.rows
            return c
        return None

    # ------------------------------------------------------------ answers
    def finish_locked(self, c: Chunk, outcome: np.ndarray, fill: Callable[[Answers, int, int], None],
                      now: float) -> Delivery | None:
        """A worker answered chunk ``c``: ``fill`` writes its rows; counts and returns what to deliver.

        A chunk already decided (timed out meanwhile) only frees its rows; its late answer is dropped.
        """
        self.inflight -= c.rows
        if c.done:
            return None
        c.done = True
        self.pending.pop(c.key, None)
        a = c.batch.answers
        fill(a, c.start, c.stop)
        a.outcome[c.start:c.stop] = outcome
        a.completed_at[c.start:c.stop] = now
        a.worker[c.start:c.stop] = c.worker
        a.attempts[c.start:c.stop] = c.attempts
        if not outcome.any():  # every row OK (code 0): the common case, no histogram
            self.outcomes[OK] += c.rows
            self.completed += c.rows
        else:
            counts = np.bincount(outcome.astype(np.int64), minlength=len(OUTCOMES))
            self.outcomes += counts
            self.completed += int(counts[OK] + counts[INVALID])
        c.batch.remaining -= c.rows
        return c.batch, c.start, c.stop

    def reject_locked(self, c: Chunk, why: str) -> Delivery | None:
        """Chunk ``c`` could not be sent to its worker (it cannot be pickled): ``INVALID``."""
        self.inflight -= c.rows
        if c.done:
            return None
        c.done = True
        self.pending.pop(c.key, None)
        return self._end_rows(c.batch, c.start, c.stop, INVALID, why, time.perf_counter())

    # ----------------------------------------------------------- deadlines
    def next_deadline(self) -> float | None:
        return self.deadlines[0][0] if self.deadlines else None

    def expire_locked(self, now: float) -> list[Delivery]:
        """``TIMED_OUT`` for every pending chunk whose deadline has passed.

        A queued chunk leaves the queue's count here; one on a worker keeps
        its rows counted in flight until its late answer arrives (then dropped).
        """
        out: list[Delivery] = []
        heap, pending = self.deadlines, self.pending
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            c = pending.pop(key, None)
            if c is None or c.done:
                continue
            c.done = True
            if c.worker < 0:
                self.queued -= c.rows
            timeout = c.batch.timeout_s
            out.append(self._end_rows(c.batch, c.start, c.stop, TIMED_OUT,
                                      f"no answer within timeout_s={timeout}", now))
        return out

    # ------------------------------------------------------- lost workers
    def requeue_or_lose_locked(self, chunks: Sequence[Chunk], why: str, retry: bool = True,
                               now: float | None = None) -> list[Delivery]:
        """A lost worker's chunks: back to the front of the queue once, then ``WORKER_LOST`` (stamped ``now``).

        The caller has taken them off the worker; their rows leave ``inflight`` here.
        """
        out: list[Delivery] = []
        now = time.perf_counter() if now is None else now
        for c in reversed(chunks):  # reversed: appendleft keeps their order
            self.inflight -= c.rows
            if c.done:
                continue
            c.worker = -1
            if retry and c.attempts < 2:
                c.attempts = 2
                self.queue.appendleft(c)
                self.queued += c.rows
            else:
                c.done = True
                self.pending.pop(c.key, None)
                c.batch.answers.attempts[c.start:c.stop] = c.attempts  # tried on every worker it was given
                out.append(self._end_rows(c.batch, c.start, c.stop, WORKER_LOST, why, now))
        return out

    def lose_queued_locked(self, why: str) -> list[Delivery]:
        """End every waiting chunk ``WORKER_LOST`` (no worker is left to run it)."""
        out: list[Delivery] = []
        now = time.perf_counter()
        while self.queue:
            c = self.queue.popleft()
            if c.done:
                continue
            c.done = True
            self.queued -= c.rows
            self.pending.pop(c.key, None)
            out.append(self._end_rows(c.batch, c.start, c.stop, WORKER_LOST, why, now))
        return out

    # -------------------------------------------------------------- close
    def cancel_all_locked(self) -> list[Delivery]:
        """Mark closed; every pending chunk ends ``CANCELLED``; idempotent."""
        if self.closed:
            return []
        self.closed = True
        now = time.perf_counter()
        out = [self._end_rows(c.batch, c.start, c.stop, CANCELLED, "the executor was closed", now)
               for c in self.pending.values() if not c.done]
        for c in self.pending.values():
            c.done = True
        self.pending.clear()
        self.queue.clear()
        self.queued = 0
        return out

    # ------------------------------------------------------------- stats
    def stats_locked(self, workers: list[WorkerStats]) -> ExecutorStats:
        counts = {OUTCOMES[i].value: int(n) for i, n in enumerate(self.outcomes.tolist()) if n}
        return ExecutorStats(workers=workers, submitted=self.submitted, completed=self.completed,
                             in_flight=self.inflight, queued=self.queued, outcomes=counts)


def deliver(deliveries: Sequence[Optional[Delivery]]) -> None:
    """Tell each batch's callback which rows finished; resolve a batch's future when it is whole.

    Runs outside the admission lock.  A caller's callback that raises must not
    stop the executor, so its exception is swallowed here.
    """
    for d in deliveries:
        if d is None:
            continue
        batch, start, stop = d
        if batch.on_rows is not None:
            try:
                batch.on_rows(batch, start, stop)
            except Exception:  # noqa: BLE001 - see the docstring
                pass
        if batch.remaining == 0 and batch.done_event is not None:
            batch.done_event.set()


__all__ = ["Admission", "Batch", "Chunk", "deliver", "CODE", "PENDING"]

"""``ProcessExecutor``: many queries at once, one worker process per core, nothing lost.

Design (DESIGN.md, "Execution"):

* every worker opens the graph bundle by mmap and owns its pipe; the parent
  sends *batches* of queries and gets batches of compact answers back, so a
  pipe message is paid per batch, not per query, once the executor is busy;
* one receiver thread waits on every pipe, every worker's process sentinel and
  a wake-up pipe (``multiprocessing.connection.wait``); it resolves futures,
  refills workers from the queue, expires deadlines and watches memory -- the
  submitting thread hands nothing per query to another thread;
* admission: at most ``max_in_flight`` queries on workers, then a bounded
  queue, then an immediate ``OVERLOADED`` answer (counted);
* a dead worker is replaced, its unanswered queries retried once elsewhere and
  then reported ``WORKER_LOST``; a worker past ``memory_limit_mb`` stops getting
  work and is replaced once it has drained;
* ``close()`` (also from ``__exit__``, ``atexit`` and after Ctrl-C) answers
  every pending query ``CANCELLED`` and stops every worker: stop message, then
  terminate, then kill.  Workers also exit by themselves if the parent dies.

This module holds admission, dispatch and the public API; ``receiver.py`` the
receiver thread, ``lifecycle.py`` how workers start, die, get replaced and stop,
``slots.py`` the per-worker and per-query records, ``worker.py`` the worker.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import functools
import heapq
import itertools
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any, Iterable

from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError, GraphError
from pspread.execution.base import Callback, Executor, ExecutorStats
from pspread.execution.dispatch import make_balancer
from pspread.execution.ledger import Ledger
from pspread.execution.lifecycle import WorkerLifecycle
from pspread.execution.query import Outcome, Query, QueryResult
from pspread.execution.receiver import Receiver
from pspread.execution.slots import Entry, Slot

START_METHODS = ("spawn", "forkserver")


class ProcessExecutor(Receiver, WorkerLifecycle, Ledger, Executor):
    """Answers queries on ``workers`` processes that share one graph bundle.

    ``graph_path``: a bundle folder (``pspread graph generate ... -o PATH``).
    ``model``: default model (None: ``SpreadModel()``); a query's own ``model``
    wins.  ``kernel``: ``auto``, ``frontier``, ``dense`` or ``reference``.
    ``max_in_flight``: queries on workers at once; ``queue_size``: how many more
    wait in the parent (default 4 × max_in_flight) before ``OVERLOADED``.
    ``balance``: ``least-loaded``, ``round-robin`` or ``power-of-two``.
    ``batch_size``: most queries per pipe message (None: adaptive, up to 16 per worker,
    more when the queue is longer).
    ``memory_limit_mb``: recycle a worker whose RSS passes this.
    ``start_method``: ``spawn`` (default) or ``forkserver`` -- never fork, since
    the parent already runs threads.  ``flush_ms``: longest a worker holds a
    finished answer while it has more queued work (it answers at once when its
    work runs out, so this only matters at saturation, where it saves messages).
    """

    def __init__(
        self,
        graph_path: str | os.PathLike[str],
        workers: int = 2,
        model: SpreadModel | None = None,
        kernel: str = "auto",
        max_in_flight: int = 256,
        queue_size: int | None = None,
        balance: str = "least-loaded",
        batch_size: int | None = None,
        memory_limit_mb: float | None = None,
        start_method: str = "spawn",
        start_timeout_s: float = 120.0,
        flush_ms: float = 50.0,
        memory_check_s: float = 0.25,
    ) -> None:
        _check_int("workers", workers, 1)
        _check_int("max_in_flight", max_in_flight, 1)
        if queue_size is None:
            queue_size = 4 * max_in_flight
        _check_int("queue_size", queue_size, 0)
        if batch_size is not None:
            _check_int("batch_size", batch_size, 1)
        if start_method not in START_METHODS:
            raise ExecutorError(f"start_method must be one of {', '.join(START_METHODS)}, got {start_method!r} "
                                "(fork is unsafe once the parent runs threads)")
        if memory_limit_mb is not None and not memory_limit_mb > 0:
            raise ExecutorError(f"memory_limit_mb must be > 0 (megabytes of RSS per worker), got {memory_limit_mb!r}")
        if model is not None and not isinstance(model, SpreadModel):
            raise ExecutorError(f"model must be a SpreadModel or None, got {type(model).__name__}")
        path = Path(graph_path)
        if not path.is_dir():
            raise GraphError(f"{path}: not a graph bundle folder; workers open bundles by mmap -- create one with "
                             "`pspread graph generate ... -o PATH` or `pspread graph convert`")
        self.graph_path = str(path.resolve())
        self.num_workers = workers
        self.model = model or SpreadModel()
        self.kernel = kernel
        self.max_in_flight = max_in_flight
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.balance = balance
        self._balancer = make_balancer(balance)
        self._mem_limit = None if memory_limit_mb is None else int(memory_limit_mb * 1024 * 1024)
        self._mem_check_s = memory_check_s
        self._flush_s = flush_ms / 1000.0
        self._max_depth = max(2, min(64, batch_size or 16))
        self._mean_compute_s = 0.0  # running mean of the workers' time per query (sizes batches)
        import multiprocessing as mp

        self._ctx = mp.get_context(start_method)
        self._lock = threading.Lock()
        self._keys = itertools.count()
        self._pending: dict[int, Entry] = {}
        self._queue: deque[Entry] = deque()
        self._queued = 0  # live entries in _queue (timed-out ones are skipped lazily)
        self._inflight = 0
        self._deadlines: list[tuple[float, int]] = []
        self._wake_at = 0.0
        self._submitted = 0
        self._completed = 0
        self._outcomes: dict[str, int] = {}
        self._model_ids: dict[SpreadModel, int] = {self.model: 0}
        self._models: dict[int, SpreadModel] = {0: self.model}
        self._slots: list[Slot] = []
        self._accepting: list[Slot] = []
        self._retiring: list[tuple[Any, float]] = []  # (process, kill-after time)
        self._closed = False
        self._shut = False
        self._ready = threading.Event()
        self._start_error: str | None = None
        #: unexpected errors the receiver thread survived (for diagnosis; normally empty)
        self.receiver_errors: list[str] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        import selectors

        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._receiver = threading.Thread(target=self._receive_loop, name="pspread-receiver", daemon=True)
        _ref = weakref.ref(self)
        self._atexit = lambda: (lambda ex: ex.close() if ex is not None else None)(_ref())
        atexit.register(self._atexit)
        try:
            for i in range(workers):
                self._slots.append(self._new_slot(i))
            self._receiver.start()
            if not self._ready.wait(start_timeout_s):
                raise ExecutorError(f"workers did not start within {start_timeout_s:g} s (graph {self.graph_path})")
            if self._start_error:
                raise ExecutorError(self._start_error)
        except BaseException:
            self.close()
            raise

    def pids(self) -> list[int]:
        with self._lock:
            return [s.pid for s in self._slots if s.alive]

    # ------------------------------------------------------------- submit
    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        """Admit a query: to a worker now, to the queue, or an ``OVERLOADED`` answer; never blocks."""
        fut: cf.Future[QueryResult] = cf.Future()
        self._admit(query, callback, fut)
        return fut

    def _admit(self, query: Query, callback: Callback | None, fut: "cf.Future[QueryResult] | None") -> None:
        """``submit`` without the future when ``fut`` is None (``map``: a callback is enough)."""
        now = time.perf_counter()
        timeout = query.timeout_s
        deadline = None if timeout is None else now + timeout
        entry = Entry(next(self._keys), query, fut, callback, now, deadline)
        send = None
        refused: Outcome | None = None
        wake = False
        with self._lock:
            if self._closed:
                raise ExecutorError("this executor is closed; create a new one to run more queries")
            self._submitted += 1
            if query.model is not None and query.model not in self._model_ids:
                mid = len(self._models)
                self._model_ids[query.model] = mid
                self._models[mid] = query.model
            idle = None
            if not self._queued and self._inflight < self.max_in_flight:
                idle = [s for s in self._accepting if not s.inflight]
            if idle:
                # a worker is idle: straight to it.  Otherwise the query waits in the
                # parent and goes to whichever worker frees first (pull, not push), so it
                # never waits behind a long query while another worker is free.
                slot = idle[self._balancer.pick(idle)]
                if fut is not None:
                    fut.set_running_or_notify_cancel()
                entry.started = True
                self._assign(slot, entry)
                send = (slot, [self._wire(entry)], self._new_models(slot, [entry]))
            elif (self._queued + self._inflight < self.max_in_flight + self.queue_size
                  and any(s.alive for s in self._slots)):
                self._queue.append(entry)
                self._queued += 1
            else:
                refused = Outcome.OVERLOADED if any(s.alive for s in self._slots) else Outcome.WORKER_LOST
                self._count(refused)
            if refused is None:
                self._pending[entry.key] = entry
                if deadline is not None:
                    heapq.heappush(self._deadlines, (deadline, entry.key))
                    wake = deadline < self._wake_at
        if refused is not None:
            why = (f"more than max_in_flight={self.max_in_flight} + queue_size={self.queue_size} queries waiting"
                   if refused is Outcome.OVERLOADED else "no worker is left to answer")
            self._deliver(entry, QueryResult(query.query_id, refused, submitted_at=now, completed_at=time.perf_counter(),
                                             kind=query.kind, error=why))
        elif send is not None:
            self._send(*send)
        if wake:
            self._wake()

    def map(self, queries: Iterable[Query], timeout_s: float | None = None) -> list[QueryResult]:
        """Run many queries, results in order; waits for room rather than overloading itself.

        No future per query (a callback stores each result in place), and the calling
        thread sleeps until a whole chunk of room is free, not per query: a long map
        costs the parent as little as the executor can make it.  ``timeout_s`` bounds
        each wait for room or for the remaining results.
        """
        window = max(1, self.max_in_flight + self.queue_size)
        low = window - max(1, min(64, window // 2))
        cond = threading.Condition()
        state = [0, 0]  # outstanding, finished
        results: list[QueryResult | None] = []

        def finished(index: int, result: QueryResult) -> None:
            results[index] = result
            with cond:
                state[0] -= 1
                state[1] += 1
                if state[0] == low or state[0] == 0:
                    cond.notify()

        for i, q in enumerate(queries):
            with cond:
                if state[0] >= window and not cond.wait_for(lambda: state[0] <= low, timeout_s):
                    raise TimeoutError(f"map: no room for more queries within {timeout_s} s")
                state[0] += 1
            results.append(None)
            self._admit(q, functools.partial(finished, i), None)
        with cond:
            if not cond.wait_for(lambda: state[0] == 0, timeout_s):
                raise TimeoutError(f"map: {state[0]} queries still unanswered after {timeout_s} s")
        return results  # type: ignore[return-value]

    # -------------------------------------------------- bookkeeping (locked)
    def _assign(self, slot: Slot, entry: Entry) -> None:
        slot.inflight[entry.key] = entry
        entry.worker = slot.index
        self._inflight += 1

    def _wire(self, e: Entry) -> tuple:
        q = e.query
        mid = 0 if q.model is None else self._model_ids[q.model]
        return (e.key, q.seeds, q.top_k, mid, q.kind, e.deadline)

    def _new_models(self, slot: Slot, entries: list[Entry]) -> list[tuple[int, SpreadModel]] | None:
        new = None
        for e in entries:
            m = e.query.model
            if m is not None:
                mid = self._model_ids[m]
                if mid not in slot.known_models:
                    slot.known_models.add(mid)
                    (new := new or []).append((mid, m))
        return new

    def _fill(self, done: list) -> list[tuple[Slot, list[tuple], Any]]:
        """Move queued queries onto workers while there is room; returns the batches to send."""
        batches: dict[int, tuple[Slot, list[Entry]]] = {}
        queue, accepting = self._queue, self._accepting
        if not self._queued or not accepting:
            return []
        # A short queue goes to whichever worker is free first (pull: depth 1, nothing waits
        # behind a long query on one worker while another is idle).  A long queue means
        # saturation: then each worker also holds prefetched queries, so it never waits for
        # a round trip, and the longer the queue the more travel per message -- but never
        # more than about one batching window (flush_ms) of work, so a stalled worker does
        # not sit on many queries another could take.
        by_time = int(self._flush_s / self._mean_compute_s) + 1 if self._mean_compute_s > 0 else self._max_depth
        depth = max(1, min(self._max_depth, -(-self._queued // len(accepting)) - 1, by_time))
        room = [s for s in accepting if len(s.inflight) < depth]
        while self._queued and self._inflight < self.max_in_flight and room:
            e = queue.popleft()
            if e.done:
                continue
            self._queued -= 1
            if not e.started:
                if e.future is not None and not e.future.set_running_or_notify_cancel():
                    e.done = True
                    del self._pending[e.key]
                    self._count(Outcome.CANCELLED)
                    done.append((e, None))
                    continue
                e.started = True
            slot = room[self._balancer.pick(room)]
            self._assign(slot, e)
            batches.setdefault(slot.index, (slot, []))[1].append(e)
            if len(slot.inflight) >= depth:
                room.remove(slot)
        out = []
        for slot, entries in batches.values():
            out.append((slot, [self._wire(e) for e in entries], self._new_models(slot, entries)))
        return out

    # ------------------------------------------------------------- sending
    def _send(self, slot: Slot, items: list[tuple], models: Any) -> None:
        step = self.batch_size or len(items)
        try:
            with slot.send_lock:
                for i in range(0, len(items), step):
                    chunk = items[i:i + step]
                    try:
                        slot.conn.send(("q", models if i == 0 else None, chunk))
                    except (OSError, EOFError):
                        raise
                    except Exception:  # noqa: BLE001 - a query that cannot be pickled
                        self._send_one_by_one(slot, chunk, models if i == 0 else None)
        except (OSError, ValueError, EOFError):
            pass  # the worker died; its sentinel tells the receiver, which retries these queries

    def _send_one_by_one(self, slot: Slot, items: list[tuple], models: Any) -> None:
        """Find the queries that cannot travel (pickling failed) and answer them ``INVALID``."""
        for item in items:
            try:
                slot.conn.send(("q", models, [item]))
                models = None
            except (OSError, EOFError):
                raise
            except Exception as exc:  # noqa: BLE001
                self._reject(slot, item[0], f"the query cannot be sent to a worker: {type(exc).__name__}: {exc}; "
                                            "give seeds as a list of ints, a {id: activation} dict or a text")

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or closing

    # --------------------------------------------------------------- stats
    def stats(self) -> ExecutorStats:
        import psutil

        slots, snap = self._snapshot()
        for s, w in zip(slots, snap.workers):
            if s.alive:
                try:
                    w.rss_bytes = int(s.process_info().memory_info().rss)
                except (psutil.Error, OSError):
                    pass
        return snap

    def _worker_records(self) -> list[Slot]:
        return self._slots

    # --------------------------------------------------------------- close
    def close(self) -> None:
        """Answer every pending query ``CANCELLED`` and stop every worker; safe to call again."""
        self._cancel_all()
        self._shutdown()

    def _closing_locked(self) -> None:
        self._accepting = []  # no worker takes work any more

    def __del__(self) -> None:  # last resort; close() is the way
        try:
            if not self._shut:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"ProcessExecutor({self.graph_path!r}, workers={self.num_workers}, kernel={self.kernel!r}, "
                f"balance={self.balance!r})")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ExecutorError(f"{name} must be an integer >= {minimum}, got {value!r}")


__all__ = ["ProcessExecutor", "START_METHODS"]

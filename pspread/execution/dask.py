"""``DaskExecutor``: the executor interface on Dask distributed, beyond one machine.

Design (DESIGN.md, "Execution"):

* each Dask worker process holds one graph replica (``GraphHolder``, a worker
  plugin): opened by mmap from a path the workers can read, or shipped once per
  worker when they cannot -- never per query;
* pspread, not Dask's scheduler, decides which worker gets which queries (the
  process executor's strategies, ``pspread.execution.dispatch``); queries travel
  to a worker in batches of up to ``batch_size`` over a direct connection to it,
  and at most ``depth`` batches per worker are outstanding (one computing, the
  next already there), the rest wait in the parent; admission is the process
  executor's: ``max_in_flight`` on workers, ``queue_size`` more, then ``OVERLOADED``;
* all the executor's bookkeeping runs on the Dask client's event loop; ``submit``
  only queues under a lock, and wakes that loop only when a worker has room
  (otherwise the next answer to arrive refills the workers anyway);
* a worker lost mid-batch: its queries are retried once on another worker,
  then answered ``WORKER_LOST``; a worker that rejoins (a local cluster's nanny
  restarts it) takes the lost one's place and counts a restart;
* ``scheduler=None`` starts a ``LocalCluster`` bound to 127.0.0.1 (no
  dashboard) and stops it on every exit path (``close``, ``__exit__``,
  ``atexit``, Ctrl-C while starting).  A given address is used as is (TLS and
  security come from Dask's configuration); one that cannot be reached within
  ``connect_timeout_s`` is a ``RunAborted`` naming it.

Starting or joining the cluster is ``dask_cluster.ClusterLink``'s job, the
worker side is ``dask_worker.GraphHolder``.  Dask is optional: only those two
import it, when an executor starts, and a missing install is an
``ExecutorError`` that says how to get it.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import heapq
import itertools
import os
import pickle
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any, Iterable

from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError, GraphError
from pspread.execution.base import Callback, Executor, ExecutorStats, WorkerStats
from pspread.execution.dask_cluster import INSTALL_HINT, ClusterLink
from pspread.execution.dispatch import make_balancer
from pspread.execution.ledger import Ledger
from pspread.execution.query import Outcome, Query, QueryResult
from pspread.execution.slots import Entry
from pspread.execution.worker import EXPIRED, INVALID, to_result

_RECONCILE_S = 0.5  # how often the scheduler's worker list is compared with ours
_TICK_S = 0.05  # longest the deadline check sleeps


class _Worker:
    """One Dask worker as the executor tracks it (a position: a replacement inherits its counters)."""

    def __init__(self, index: int, address: str, pid: int, stats: WorkerStats | None = None) -> None:
        self.index = index
        self.address = address
        self.pid = pid
        self.alive = True
        self.batches = 0  # messages outstanding
        self.inflight: dict[int, Entry] = {}
        self.known_models: set[int] = {0}
        self.stats = stats or WorkerStats(worker=index, pid=pid)
        self.stats.pid = pid
        self.stats.in_flight = 0

    @property
    def inflight_n(self) -> int:
        return len(self.inflight)


class DaskExecutor(Ledger, Executor):
    """Answers queries on the workers of a Dask cluster, each holding one graph replica.

    ``graph_path``: a bundle folder (``pspread graph generate ... -o PATH``).
    ``scheduler``: a Dask scheduler address (``tcp://host:8786``); None starts a
    local cluster of ``workers`` processes on 127.0.0.1.  With an address every
    worker the cluster has is used (at least one is waited for).
    ``model``/``kernel``: as for ``ProcessExecutor``.  ``balance``:
    ``least-loaded``, ``round-robin`` or ``power-of-two``.  ``batch_size``: most
    queries per message to a worker (an idle worker gets what waits, however few;
    large batches only form under load).  ``depth``: messages outstanding per worker.
    ``ship_graph``: send the bundle's files to the workers (once each) instead of
    having them open ``graph_path``; automatic for a worker that cannot read it.
    ``memory_limit_mb``: a local worker past it is restarted by Dask (its queries retried).
    """

    def __init__(
        self,
        graph_path: str | os.PathLike[str],
        scheduler: str | None = None,
        workers: int = 2,
        model: SpreadModel | None = None,
        kernel: str = "auto",
        balance: str = "least-loaded",
        batch_size: int | None = 32,
        max_in_flight: int | None = 256,
        queue_size: int | None = None,
        depth: int = 2,
        ship_graph: bool = False,
        memory_limit_mb: float | None = None,
        connect_timeout_s: float = 5.0,
        start_timeout_s: float = 120.0,
    ) -> None:
        batch_size = 32 if batch_size is None else batch_size
        max_in_flight = 256 if max_in_flight is None else max_in_flight
        for name, value, low in (("workers", workers, 1), ("batch_size", batch_size, 1),
                                 ("max_in_flight", max_in_flight, 1), ("depth", depth, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ExecutorError(f"{name} must be an integer >= {low}, got {value!r}")
        if queue_size is not None and (not isinstance(queue_size, int) or queue_size < 0):
            raise ExecutorError(f"queue_size must be an integer >= 0, got {queue_size!r}")
        if model is not None and not isinstance(model, SpreadModel):
            raise ExecutorError(f"model must be a SpreadModel or None, got {type(model).__name__}")
        if not connect_timeout_s > 0:
            raise ExecutorError(f"connect_timeout_s must be > 0 seconds, got {connect_timeout_s!r}")
        path = Path(graph_path)
        if not path.is_dir() and scheduler is None:
            raise GraphError(f"{path}: not a graph bundle folder; Dask workers open bundles by mmap -- create one "
                             "with `pspread graph generate ... -o PATH` or `pspread graph convert`")
        self.graph_path = str(path.resolve()) if path.is_dir() else str(graph_path)
        self.scheduler = scheduler
        self.num_workers = workers
        self.model = model or SpreadModel()
        self.kernel = kernel
        self.balance = balance
        self._balancer = make_balancer(balance)
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.queue_size = 4 * self.max_in_flight if queue_size is None else queue_size
        self.depth = depth
        self.ship_graph = ship_graph
        self._lock = threading.Lock()
        self._keys = itertools.count()
        self._pending: dict[int, Entry] = {}
        self._queue: deque[Entry] = deque()
        self._queued = 0
        self._inflight = 0
        self._deadlines: list[tuple[float, int]] = []
        self._submitted = 0
        self._completed = 0
        self._outcomes: dict[str, int] = {}
        self._model_ids: dict[SpreadModel, int] = {self.model: 0}
        self._workers: list[_Worker] = []
        self._lost_addresses: set[str] = set()
        self._kicked = False
        self._tasks: set[Any] = set()
        self._closed = False
        self._shut = False
        self._link = ClusterLink(self.graph_path, scheduler, workers, self.model, kernel, ship_graph,
                                 memory_limit_mb, connect_timeout_s, start_timeout_s)
        _ref = weakref.ref(self)
        self._atexit = lambda: (lambda ex: ex.close() if ex is not None else None)(_ref())
        atexit.register(self._atexit)
        try:
            started = self._link.start()
            if scheduler is not None:
                self.num_workers = len(started)
            self._workers = [_Worker(i, a, int(h["pid"])) for i, (a, h) in enumerate(started)]
            self._link.loop.add_callback(self._tick_forever)
        except BaseException:
            self.close()
            raise

    @property
    def start_s(self) -> float:
        """Seconds the cluster took to come up (local: cluster started and client connected)."""
        return self._link.start_s

    @property
    def stop_s(self) -> float:
        """Seconds ``close`` took to stop the cluster (0 until closed)."""
        return self._link.stop_s

    @property
    def scheduler_address(self) -> str:
        """The scheduler in use: the one given, or the local cluster's (``tcp://127.0.0.1:PORT``)."""
        return self._link.address

    def pids(self) -> list[int]:
        """Worker process ids (a local cluster only: remote pids mean nothing here)."""
        if not self._link.local:
            return []
        with self._lock:
            return [w.pid for w in self._workers if w.alive]

    # -------------------------------------------------------------- submit
    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        """Admit a query (queued for the loop) or answer it ``OVERLOADED`` at once; never blocks."""
        now = time.perf_counter()
        fut: cf.Future[QueryResult] = cf.Future()
        timeout = query.timeout_s
        deadline = None if timeout is None else now + timeout
        entry = Entry(next(self._keys), query, fut, callback, now, deadline)
        refused: Outcome | None = None
        kick = False
        with self._lock:
            if self._closed:
                raise ExecutorError("this executor is closed; create a new one to run more queries")
            self._submitted += 1
            if query.model is not None and query.model not in self._model_ids:
                self._model_ids[query.model] = len(self._model_ids)
            alive = any(w.alive for w in self._workers)
            if alive and self._queued + self._inflight < self.max_in_flight + self.queue_size:
                self._queue.append(entry)
                self._queued += 1
                self._pending[entry.key] = entry
                if deadline is not None:
                    heapq.heappush(self._deadlines, (deadline, entry.key))
                if not self._kicked and self._has_room():
                    self._kicked = kick = True  # else an answer's arrival refills the workers anyway
            else:
                refused = Outcome.OVERLOADED if alive else Outcome.WORKER_LOST
                self._count(refused)
        if kick:
            self._link.loop.add_callback(self._pump)
        if refused is not None:
            why = (f"more than max_in_flight={self.max_in_flight} + queue_size={self.queue_size} queries waiting"
                   if refused is Outcome.OVERLOADED else "no Dask worker is left to answer")
            self._deliver(entry, QueryResult(query.query_id, refused, submitted_at=now,
                                             completed_at=time.perf_counter(), kind=query.kind, error=why))
        return fut

    def map(self, queries: Iterable[Query], timeout_s: float | None = None) -> list[QueryResult]:
        """Run many queries, results in order; waits for room rather than overloading itself.

        The calling thread sleeps until a chunk of room is free (not per query).
        """
        window = max(1, self.max_in_flight + self.queue_size)
        low = window - max(1, min(64, window // 2))
        cond = threading.Condition()
        outstanding = [0]

        def finished(_: QueryResult) -> None:
            with cond:
                outstanding[0] -= 1
                if outstanding[0] == low:
                    cond.notify()

        futures: list[cf.Future[QueryResult]] = []
        for q in queries:
            with cond:
                if outstanding[0] >= window and not cond.wait_for(lambda: outstanding[0] <= low, timeout_s):
                    raise TimeoutError(f"map: no room for more queries within {timeout_s} s")
                outstanding[0] += 1
            futures.append(self.submit(q, callback=finished))
        return [f.result(timeout=timeout_s) for f in futures]

    # -------------------------------------------------- dispatch (the loop)
    def _pump(self) -> None:
        """Move queued queries onto workers with room, one batch per message (runs on the loop)."""
        cancelled: list[Entry] = []
        with self._lock:
            self._kicked = False
            batches = self._fill(cancelled)
        for e in cancelled:
            self._deliver(e, None)
        self._spawn(batches)

    @property
    def _prefetch_min(self) -> int:
        """Queries that must wait before a busy worker is sent a further batch.

        A quarter batch, at least 2: prefetched single queries cost more CPU in
        messages than they save in worker idle time (measured at 800 q/s on 2 cores).
        """
        return min(self.batch_size, max(2, self.batch_size // 4))

    def _has_room(self) -> bool:
        """Would ``_fill`` send anything now?  (Under the lock; saves waking the loop per query at saturation.)"""
        if self._inflight >= self.max_in_flight:
            return False
        full = self._queued >= self._prefetch_min
        return any(w.alive and (w.batches == 0 or (full and w.batches < self.depth)) for w in self._workers)

    def _spawn(self, batches: list[tuple]) -> None:
        """Start sending each batch (on the loop; tasks are kept until done so none is collected early)."""
        import asyncio

        for b in batches:
            task = asyncio.ensure_future(self._send(*b))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _fill(self, cancelled: list[Entry]) -> list[tuple]:
        """Batches for workers with room (called under the lock, on the loop).

        An idle worker gets what is queued at once (latency).  A busy one gets a
        further batch only once ``_prefetch_min`` queries wait: each message
        costs both sides hundreds of microseconds of CPU, so at moderate load
        queries gather in the parent while the workers compute and leave in one
        batch when an answer returns; under load batches are prefetched (up to
        ``depth`` per worker), so no worker waits for a round trip.
        """
        out: list[tuple] = []
        now = time.perf_counter()
        while self._queued and self._inflight < self.max_in_flight:
            full = self._queued >= self._prefetch_min
            room = [w for w in self._workers
                    if w.alive and (w.batches == 0 or (full and w.batches < self.depth))]
            if not room:
                break
            worker = room[self._balancer.pick(room)]
            entries: list[Entry] = []
            limit = min(self.batch_size, self.max_in_flight - self._inflight)
            while self._queue and len(entries) < limit:
                e = self._queue.popleft()
                if e.done:
                    continue
                self._queued -= 1
                if not e.started:
                    if not e.future.set_running_or_notify_cancel():
                        e.done = True
                        del self._pending[e.key]
                        self._count(Outcome.CANCELLED)
                        cancelled.append(e)
                        continue
                    e.started = True
                e.worker = worker.index
                worker.inflight[e.key] = e
                self._inflight += 1
                entries.append(e)
            if not entries:
                if not self._queue:
                    break
                continue
            worker.batches += 1
            items, models = [], None
            for e in entries:
                q = e.query
                mid = 0 if q.model is None else self._model_ids[q.model]
                if mid not in worker.known_models:
                    worker.known_models.add(mid)
                    (models := models or []).append((mid, q.model))
                remaining = None if e.deadline is None else e.deadline - now
                items.append((e.key, q.seeds, q.top_k, mid, q.kind, remaining))
            out.append((worker, entries, items, models))
        return out

    async def _send(self, worker: _Worker, entries: list[Entry], items: list[tuple], models: Any) -> None:
        """One batch to one worker and its answers back; a broken connection means the worker is lost."""
        try:
            payload = pickle.dumps(("q", models, items), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - some query cannot travel: answer those INVALID, send the rest
            items, payload = self._drop_unpicklable(worker, items, models)
            if payload is None:
                self._batch_done(worker)
                return
        try:
            reply = await self._link.answer(worker.address, payload)
            rss, answers = pickle.loads(reply)
        except Exception as exc:  # noqa: BLE001 - closed comm, worker gone, handler missing after a restart
            self._on_lost(worker, f"Dask worker {worker.address} was lost ({type(exc).__name__}: {exc})")
            return
        self._on_answers(worker, answers, rss)

    def _drop_unpicklable(self, worker: _Worker, items: list[tuple], models: Any) -> tuple[list[tuple], bytes | None]:
        keep = []
        for item in items:
            try:
                pickle.dumps(item)
            except Exception as exc:  # noqa: BLE001
                self._reject(worker, item[0], f"the query cannot be sent to a Dask worker: {type(exc).__name__}: "
                                              f"{exc}; give seeds as a list of ints, a {{id: activation}} dict or a text")
            else:
                keep.append(item)
        if not keep:
            return keep, None
        return keep, pickle.dumps(("q", models, keep), protocol=pickle.HIGHEST_PROTOCOL)

    def _batch_done(self, worker: _Worker) -> None:
        with self._lock:
            worker.batches -= 1
        self._pump()

    def _on_answers(self, worker: _Worker, answers: list, rss: int) -> None:
        answered: list = []
        cancelled: list[Entry] = []
        with self._lock:
            worker.batches -= 1
            st = worker.stats
            if rss:
                st.rss_bytes = rss
            for ans in answers:
                e = worker.inflight.pop(ans[0], None)
                if e is None:
                    continue
                self._inflight -= 1
                st.busy_s += ans[3]
                if e.done:
                    continue  # answered TIMED_OUT (or CANCELLED) already
                e.done = True
                del self._pending[e.key]
                status = ans[1]
                if status == EXPIRED:
                    self._count(Outcome.TIMED_OUT)
                else:
                    st.queries += 1
                    self._completed += 1
                    if status == INVALID:
                        st.errors += 1
                        self._count(Outcome.INVALID)
                    else:
                        self._count(Outcome.OK)
                answered.append((e, ans))
            batches = self._fill(cancelled)
        self._spawn(batches)
        for e in cancelled:
            self._deliver(e, None)
        index = worker.index
        for e, (_, status, payload, compute_s) in answered:
            self._deliver(e, to_result(e.query, status, payload, compute_s, e.submitted_at, index, e.attempts))

    def _on_lost(self, worker: _Worker, why: str, batch_failed: bool = True) -> None:
        """Retry the lost worker's queries once elsewhere, report the rest ``WORKER_LOST``.

        Called when a batch's connection breaks (``batch_failed``) or when the
        scheduler no longer lists the worker (so an idle worker's death is seen
        before a batch waits on connecting to it).
        """
        cancelled: list[Entry] = []
        with self._lock:
            if batch_failed:
                worker.batches = max(0, worker.batches - 1)
            if worker.alive:
                worker.alive = False
                self._lost_addresses.add(worker.address)
            entries = list(worker.inflight.values())
            worker.inflight.clear()
            self._inflight -= len(entries)
            lost = self._requeue_or_lose_locked(entries, retry=not self._closed)
            if not any(w.alive for w in self._workers):
                lost += self._lose_queued_locked()  # nobody left to retry on
            batches = self._fill(cancelled)
        self._spawn(batches)
        for e in cancelled:
            self._deliver(e, None)
        for e in lost:
            self._deliver(e, self._unanswered(e, Outcome.WORKER_LOST, why))

    # ------------------------------------------- deadlines and replacements
    async def _tick_forever(self) -> None:
        """Expire deadlines; adopt a rejoined worker in a lost one's place (runs on the loop)."""
        import asyncio

        next_reconcile = time.perf_counter() + _RECONCILE_S
        reconciling: Any = None
        while not self._shut:
            with self._lock:
                wait = _TICK_S
                if self._deadlines:
                    wait = min(wait, max(0.001, self._deadlines[0][0] - time.perf_counter()))
            await asyncio.sleep(wait)
            if self._shut:
                return
            self._expire()
            if time.perf_counter() >= next_reconcile and (reconciling is None or reconciling.done()):
                next_reconcile = time.perf_counter() + _RECONCILE_S
                reconciling = asyncio.ensure_future(self._reconcile())  # a slow adoption must not stall deadlines

    async def _reconcile(self) -> None:
        """Compare with the scheduler's workers: a vanished one is lost, a new one replaces a lost one."""
        try:
            listed = await self._link.listed()
        except Exception:  # noqa: BLE001 - scheduler briefly unreachable: try again next time
            return
        with self._lock:
            vanished = [w for w in self._workers if w.alive and w.address not in listed]
        for w in vanished:
            self._on_lost(w, f"Dask worker {w.address} left the cluster", batch_failed=False)
        with self._lock:
            dead = [w for w in self._workers if not w.alive]
            known = {w.address for w in self._workers} | self._lost_addresses
        if not dead or self._shut:
            return
        for address in sorted(listed - known):
            if not dead:
                return
            try:
                hello = await self._link.greet(address)
            except Exception:  # noqa: BLE001 - not ready yet (plugin still opening the graph)
                continue
            old = dead.pop(0)
            new = _Worker(old.index, address, int(hello["pid"]), old.stats)
            new.stats.restarts += 1
            with self._lock:
                if self._shut:
                    return
                self._workers[old.index] = new
            self._pump()

    # --------------------------------------------------------------- stats
    def stats(self) -> ExecutorStats:
        workers, snap = self._snapshot()
        if self._link.local:
            import psutil

            for w, s in zip(workers, snap.workers):
                if w.alive:
                    try:
                        s.rss_bytes = int(psutil.Process(w.pid).memory_info().rss)
                    except (psutil.Error, OSError):
                        pass
        return snap

    def _worker_records(self) -> list[_Worker]:
        return self._workers

    # --------------------------------------------------------------- close
    def close(self) -> None:
        """Answer every pending query ``CANCELLED`` and stop the local cluster (or leave a remote one)."""
        self._cancel_all()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        try:
            self._link.close()
        finally:
            atexit.unregister(self._atexit)

    def __del__(self) -> None:  # last resort; close() is the way
        try:
            import asyncio

            try:
                asyncio.get_running_loop()
                return  # collected on an event loop thread: closing would block that loop (atexit still runs)
            except RuntimeError:
                pass
            if not self._shut:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        where = self.scheduler or "local cluster"
        return (f"DaskExecutor({self.graph_path!r}, scheduler={where!r}, workers={self.num_workers}, "
                f"kernel={self.kernel!r}, balance={self.balance!r}, batch_size={self.batch_size})")


__all__ = ["DaskExecutor", "INSTALL_HINT"]

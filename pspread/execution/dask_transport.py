"""The Dask executor's transport: its workers as records, chunks sent over Dask comms, on the client's loop.

It owns only its own state -- the ``ClusterLink`` (cluster, client, event
loop), one ``DaskWorker`` record per worker position, the balancer -- and works
on the executor's ``Admission`` through its lock, like the process executor's
``PipeTransport``:

* ``fill_locked`` moves queued chunks onto workers with room: an idle worker
  gets what waits at once (a short queue: one query at a time, so nothing
  waits behind a long query while another worker idles); a busy one gets a
  second chunk only once ``prefetch_min`` queries wait, so at saturation every
  worker holds two chunks -- one computing, the next already there -- of up to
  ``batch_size`` rows, each about ``chunk_s`` of work at most (a chunk's
  answers come back together, and it holds the worker's event loop meanwhile);
* each chunk is one RPC straight to its worker (not via the scheduler); the
  reply's arrays are written into the batch's answers with one lock hold, and
  the worker is refilled in the same step;
* a broken RPC, or a worker the scheduler no longer lists, means the worker is
  lost: its chunks are retried once elsewhere, then ``WORKER_LOST``; a worker
  that joins later (a local cluster's nanny restarts it) takes a lost one's
  place and counts a restart;
* deadlines are expired by a tick on the loop.

Everything here that touches workers runs on the client's event loop;
callers' threads only queue (``Admission``) and ``kick`` the loop when a
worker has room.  ``cpu_s`` is the loop's CPU time inside these handlers.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

import numpy as np

from pspread.execution.admission import Admission, Chunk, Deliveries, deliver
from pspread.execution.answering import Reply
from pspread.execution.answers import INVALID, OK
from pspread.execution.base import WorkerStats
from pspread.execution.dask_cluster import ClusterLink
from pspread.execution.dispatch import make_balancer

RECONCILE_S = 0.5  # how often the scheduler's worker list is compared with ours
TICK_S = 0.05  # longest the deadline check sleeps
#: most seconds of work in one chunk: at ~10 ms a query a full chunk of 32 still fits, and an RPC per
#: chunk (about 1 ms of CPU on both ends) stays small; a shorter budget made chunks of a few rows
CHUNK_S = 0.4
Send = tuple["DaskWorker", Chunk, "list[tuple[int, Any]] | None"]


class DaskWorker:
    """One Dask worker as the executor tracks it (a position: a replacement inherits its counters)."""

    def __init__(self, index: int, address: str, pid: int, stats: WorkerStats | None = None) -> None:
        self.index = index
        self.address = address
        self.pid = pid
        self.alive = True
        self.inflight: dict[int, Chunk] = {}  # chunks on this worker (one RPC each), by key
        self.inflight_rows = 0
        self.stats = stats or WorkerStats(worker=index, pid=pid)
        self.stats.pid = pid
        self.stats.in_flight = 0

    @property
    def inflight_n(self) -> int:
        """Queries outstanding on this worker (what the balancers compare)."""
        return self.inflight_rows


class DaskTransport:
    """Chunks to Dask workers and replies back, on the client's event loop; see the module docstring."""

    def __init__(self, adm: Admission, link: ClusterLink, balance: str, batch_size: int, depth: int,
                 chunk_s: float = CHUNK_S) -> None:
        self.adm = adm
        self.link = link
        self.balancer = make_balancer(balance)
        self.batch_size = batch_size
        self.depth = depth
        self.chunk_s = chunk_s
        self.workers: list[DaskWorker] = []
        self.lost_addresses: set[str] = set()
        self.mean_compute_s = 0.0  # running mean of the workers' time per query (sizes chunks)
        self.kicked = False
        self.shut = False
        self.cpu_s = 0.0  # the loop's CPU time in this transport's handlers
        self._tasks: set[Any] = set()

    def start(self) -> int:
        """Start or join the cluster; returns the number of workers in use."""
        started = self.link.start()
        self.workers = [DaskWorker(i, a, int(h["pid"])) for i, (a, h) in enumerate(started)]
        self.link.loop.add_callback(self._tick_forever)
        return len(self.workers)

    def alive(self) -> bool:
        return any(w.alive for w in self.workers)

    @property
    def prefetch_min(self) -> int:
        """Queries that must wait before a busy worker is sent a second chunk.

        A quarter chunk, at least 2: prefetched single queries cost more CPU in
        messages than they save in worker idle time.
        """
        return min(self.batch_size, max(2, self.batch_size // 4))

    # ------------------------------------------------------------ dispatch
    def has_room_locked(self) -> bool:
        """Would ``fill_locked`` send anything now?  (Saves waking the loop per query at saturation.)"""
        adm = self.adm
        if not adm.queued or adm.inflight >= adm.max_in_flight:
            return False
        full = adm.queued >= self.prefetch_min
        return any(w.alive and (not w.inflight or (full and len(w.inflight) < self.depth)) for w in self.workers)

    def kick_locked(self) -> bool:
        """True when the caller should ``kick`` the loop (a worker has room and no pump is on its way)."""
        if self.kicked or self.shut or not self.has_room_locked():
            return False
        self.kicked = True
        return True

    def kick(self) -> None:
        """Have the loop fill the workers (thread-safe)."""
        self.link.loop.add_callback(self._pump)

    def fill_locked(self, out: Deliveries) -> list[Send]:
        """Chunks for workers with room (under the admission lock); ``dispatch`` sends them."""
        adm = self.adm
        alive = [w for w in self.workers if w.alive]
        if not adm.queued or not alive:
            return []
        mean = self.mean_compute_s
        by_time = int(self.chunk_s / mean) + 1 if mean > 0 else self.batch_size
        cap = max(1, min(self.batch_size, by_time))
        sends: list[Send] = []
        while adm.queued and adm.inflight < adm.max_in_flight:
            full = adm.queued >= self.prefetch_min
            room = [w for w in alive if w.alive and (not w.inflight or (full and len(w.inflight) < self.depth))]
            if not room:
                break
            w = room[self.balancer.pick(room)]
            n = min(cap, -(-adm.queued // len(alive)), adm.max_in_flight - adm.inflight)
            c = adm.take_locked(n, out)
            if c is None:
                break
            c.worker = w.index
            w.inflight[c.key] = c
            w.inflight_rows += c.rows
            mid = c.batch.model_id
            sends.append((w, c, [(mid, adm.models[mid])] if mid else None))
        return sends

    def dispatch(self, sends: list[Send]) -> None:
        """Start one RPC per chunk (on the loop; tasks are kept until done so none is collected early)."""
        if not sends:
            return
        import asyncio

        for w, c, models in sends:
            task = asyncio.ensure_future(self._send(w, c, models))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pump(self) -> None:
        cpu0 = time.thread_time()
        out: Deliveries = []
        with self.adm.lock:
            self.kicked = False
            sends = self.fill_locked(out)
        self.dispatch(sends)
        deliver(out)
        self.cpu_s += time.thread_time() - cpu0

    async def _send(self, w: DaskWorker, c: Chunk, models: Any) -> None:
        """One chunk to one worker and its reply back; a broken connection means the worker is lost."""
        cpu = time.thread_time
        cpu0 = cpu()
        b = c.batch
        seeds = b.payload(c.start, c.stop)
        remaining = None if c.deadline is None else max(0.0, c.deadline - time.perf_counter())
        try:
            payload = pickle.dumps((models, b.model_id, b.top_k, remaining, seeds), protocol=5)
        except Exception as exc:  # noqa: BLE001 - a query that cannot travel is INVALID, the rest go on
            self._reject(w, c, f"the query cannot be sent to a Dask worker: {type(exc).__name__}: {exc}; give "
                               "seeds as a list of ints, a {id: activation} dict or a text")
            self.cpu_s += cpu() - cpu0
            return
        self.cpu_s += cpu() - cpu0
        try:
            raw = await self.link.answer(w.address, payload)
            cpu0 = cpu()
            rss, sent_at, wire = pickle.loads(raw)
            reply = Reply.from_wire(wire)
        except Exception as exc:  # noqa: BLE001 - closed comm, worker gone, handler missing after a restart
            cpu0 = cpu()
            self.on_lost(w, f"Dask worker {w.address} was lost ({type(exc).__name__}: {exc})")
            self.cpu_s += cpu() - cpu0
            return
        self._on_reply(w, c, reply, rss, sent_at)
        self.cpu_s += cpu() - cpu0

    def _reject(self, w: DaskWorker, c: Chunk, why: str) -> None:
        out: Deliveries = []
        with self.adm.lock:
            if w.inflight.pop(c.key, None) is not None:
                w.inflight_rows -= c.rows
                out.append(self.adm.reject_locked(c, why))
            sends = self.fill_locked(out)
        self.dispatch(sends)
        deliver(out)

    def _on_reply(self, w: DaskWorker, c: Chunk, reply: Reply, rss: int, sent_at: float) -> None:
        """The hot path: a chunk's arrays written into its batch, counters, refill, callbacks."""
        now = time.perf_counter()
        if not self.link.local:  # another machine's clock: put its stamps on ours (transit time ignored)
            shift = now - sent_at
            rows = reply.rows.copy()
            rows["started"] += shift
            rows["finished"] += shift
            reply = reply._replace(rows=rows)
        out: Deliveries = []
        adm = self.adm
        with adm.lock:
            if w.inflight.pop(c.key, None) is None:
                return  # the worker was given up meanwhile: its chunks were requeued or lost already
            w.inflight_rows -= c.rows
            st = w.stats
            busy = reply.busy_s
            st.busy_s += busy
            st.kernel_cpu_s += reply.kernel_cpu_s
            if rss:
                st.rss_bytes = rss
            if not c.done:  # else timed out meanwhile: the late answer is dropped, not counted
                codes = reply.outcome
                n_ok = int(np.count_nonzero(codes == OK))
                n_bad = int(np.count_nonzero(codes == INVALID))
                st.queries += n_ok + n_bad
                st.errors += n_bad
                if n_ok + n_bad:
                    mean = busy / (n_ok + n_bad)
                    m = self.mean_compute_s
                    self.mean_compute_s = mean if m == 0.0 else 0.8 * m + 0.2 * mean
            out.append(adm.finish_locked(c, reply.outcome, reply.filler(c.batch.timeout_s), now))
            sends = self.fill_locked(out)
        self.dispatch(sends)
        deliver(out)

    def on_lost(self, w: DaskWorker, why: str) -> None:
        """Retry the lost worker's chunks once elsewhere, report the rest ``WORKER_LOST`` (on the loop).

        Called when an RPC breaks or when the scheduler no longer lists the
        worker (so an idle worker's death is seen before a chunk waits on it).
        """
        out: Deliveries = []
        adm = self.adm
        with adm.lock:
            if w.alive:
                w.alive = False
                self.lost_addresses.add(w.address)
            chunks = list(w.inflight.values())
            w.inflight, w.inflight_rows = {}, 0
            out.extend(adm.requeue_or_lose_locked(chunks, why, retry=not adm.closed))
            if not self.alive():
                out.extend(adm.lose_queued_locked(why))  # nobody left to retry on
            sends = self.fill_locked(out)
        self.dispatch(sends)
        deliver(out)

    # ------------------------------------------- deadlines and replacements
    async def _tick_forever(self) -> None:
        """Expire deadlines; adopt a rejoined worker in a lost one's place (runs on the loop)."""
        import asyncio

        adm = self.adm
        next_reconcile = time.perf_counter() + RECONCILE_S
        reconciling: Any = None
        while not self.shut:
            nd = adm.next_deadline()
            wait = TICK_S if nd is None else min(TICK_S, max(0.001, nd - time.perf_counter()))
            await asyncio.sleep(wait)
            if self.shut:
                return
            cpu0 = time.thread_time()
            nd = adm.next_deadline()
            if nd is not None and nd <= time.perf_counter():
                with adm.lock:
                    out = adm.expire_locked(time.perf_counter())
                deliver(out)
            if time.perf_counter() >= next_reconcile and (reconciling is None or reconciling.done()):
                next_reconcile = time.perf_counter() + RECONCILE_S
                reconciling = asyncio.ensure_future(self._reconcile())  # a slow adoption must not stall deadlines
            self.cpu_s += time.thread_time() - cpu0

    async def _reconcile(self) -> None:
        """Compare with the scheduler's workers: a vanished one is lost, a new one replaces a lost one."""
        try:
            listed = await self.link.listed()
        except Exception:  # noqa: BLE001 - scheduler briefly unreachable: try again next time
            return
        with self.adm.lock:
            vanished = [w for w in self.workers if w.alive and w.address not in listed]
        for w in vanished:
            self.on_lost(w, f"Dask worker {w.address} left the cluster")
        with self.adm.lock:
            dead = [w for w in self.workers if not w.alive]
            known = {w.address for w in self.workers} | self.lost_addresses
        if not dead or self.shut:
            return
        for address in sorted(listed - known):
            if not dead:
                return
            try:
                hello = await self.link.greet(address)
            except Exception:  # noqa: BLE001 - not ready yet (plugin still opening the graph)
                continue
            old = dead.pop(0)
            new = DaskWorker(old.index, address, int(hello["pid"]), old.stats)
            new.stats.restarts += 1
            with self.adm.lock:
                if self.shut:
                    return
                self.workers[old.index] = new
            self._pump()

    # --------------------------------------------------------------- close
    def close(self) -> None:
        """Stop the tick and leave (or stop) the cluster; pending RPCs fail and find their chunks decided."""
        if self.shut:
            return
        self.shut = True
        self.link.close()


__all__ = ["DaskTransport", "DaskWorker"]

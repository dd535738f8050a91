"""The process executor's transport: worker processes, their pipes, and one receiver thread.

It owns only its own state -- the worker processes (a ``WorkerPool``), a
selector over every pipe, process sentinel and a wake-up pipe, the thread
that waits on it -- and works on the executor's ``Admission`` through its lock:

* ``fill_locked`` moves queued chunks onto workers with room (how many rows
  each worker holds, and how they travel, is ``pipe_dispatch``'s);
* the receiver thread writes each reply's arrays into its batch's answers (one
  lock hold per message, not per query), refills the worker, expires
  deadlines, replaces dead workers and runs the memory guard;
* a dead worker's chunks are retried once elsewhere, then ``WORKER_LOST``; a
  worker past the memory limit stops getting work and is replaced once it has
  drained, one worker at a time, so the others keep serving.

Workers are started with ``spawn`` or ``forkserver``, never ``fork``: the
parent already runs threads.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from typing import Any, Callable

import numpy as np

from pspread.execution.admission import Admission, Deliveries, deliver
from pspread.execution.answering import Reply
from pspread.execution.answers import INVALID, OK
from pspread.execution.dispatch import make_balancer
from pspread.execution.pipe_dispatch import Send, depth_for, place_locked, send_all, wire_locked
from pspread.execution.pool import STOP_GRACE_S, WorkerPool
from pspread.execution.slots import Slot


class PipeTransport:
    """Worker processes fed over pipes; see the module docstring."""

    def __init__(self, adm: Admission, graph_path: str, kernel: str, workers: int, balance: str,
                 batch_size: int | None, memory_limit_mb: float | None, start_method: str,
                 flush_s: float, memory_check_s: float, worker_init: str | None = None) -> None:
        import multiprocessing as mp

        self.adm = adm
        self.graph_path = graph_path
        self.kernel = kernel
        self.balancer = make_balancer(balance)
        self.chunk_rows = batch_size or 256
        self.max_depth = 2 * self.chunk_rows
        self.mem_limit = None if memory_limit_mb is None else int(memory_limit_mb * 1024 * 1024)
        self.mem_check_s = memory_check_s
        #: workers replaced by the memory guard so far (``ExecutorStats.recycles``)
        self.recycles = 0
        self.flush_s = flush_s
        self.mean_compute_s = 0.0  # running mean of the workers' time per query (sizes chunks)
        self.pool = WorkerPool(mp.get_context(start_method), graph_path, adm.model, kernel, flush_s, worker_init)
        self.accepting: list[Slot] = []
        self.shut = False
        self.ready = threading.Event()
        self.start_error: str | None = None
        self.wake_at = 0.0
        self.cpu_s = 0.0  # the receiver thread's CPU time so far
        #: unexpected errors the receiver thread survived (for diagnosis; normally empty)
        self.errors: list[str] = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._loop, name="pspread-receiver", daemon=True)
        self._num = workers

    def start(self, timeout_s: float) -> str | None:
        """Start the workers and the receiver; wait until all are ready. Returns an error, or None."""
        for i in range(self._num):
            self.pool.slots.append(self.pool.spawn(i))
        self.thread.start()
        if not self.ready.wait(timeout_s):
            return f"workers did not start within {timeout_s:g} s (graph {self.graph_path})"
        if self.start_error is None and self.mem_limit is not None:
            with self.adm.lock:
                fresh = [s for s in self.pool.slots if s.alive and s.ready]
            self.pool.check_baseline(fresh, self.mem_limit)
        return self.start_error

    def alive(self) -> bool:
        return self.pool.alive()

    # ------------------------------------------------------------ dispatch
    def fill_locked(self, out: Deliveries) -> list[Send]:
        """Move queued chunks onto workers with room (under the admission lock); returns what to send."""
        adm, accepting = self.adm, self.accepting
        if not adm.queued or not accepting:
            return []
        depth = depth_for(adm.queued, len(accepting), self.max_depth, self.mean_compute_s)
        return wire_locked(adm, place_locked(adm, accepting, self.balancer.pick, depth, out))

    def send(self, sends: list[Send]) -> None:
        """Write each worker's chunks to its pipe (outside the admission lock)."""
        send_all(sends, self._reject)

    def _reject(self, slot: Slot, key: int, why: str) -> None:
        """A chunk on ``slot`` could not be pickled: it ends ``INVALID`` with ``why``."""
        with self.adm.lock:
            c = slot.inflight.pop(key, None)
            d = None
            if c is not None:
                slot.inflight_rows -= c.rows
                d = self.adm.reject_locked(c, why)
        deliver([d])

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or closing

    # ------------------------------------------------------------ receiver
    def _loop(self) -> None:
        next_mem = time.perf_counter() + self.mem_check_s
        cpu = time.thread_time
        base = cpu()
        while not self.shut:
            try:
                next_mem = self._once(next_mem)
            except Exception as exc:  # noqa: BLE001 - the receiver must outlive any one bad event
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)
            self.cpu_s = cpu() - base

    def _once(self, next_mem: float) -> float:
        adm = self.adm
        with adm.lock:
            self._watch()
            now = time.perf_counter()
            timeout = 1.0
            nd = adm.next_deadline()
            if nd is not None:
                timeout = min(timeout, max(0.0, nd - now))
            if self.pool.retiring:
                timeout = min(timeout, 0.05)
            if self.mem_limit is not None:
                timeout = min(timeout, max(0.0, next_mem - now))
            self.wake_at = now + timeout
        try:
            events = self.sel.select(timeout)
        except OSError:
            events = []  # a descriptor closed under us (close()); the loop re-checks
        if self.shut:
            return next_mem
        for key, _ in events:
            if key.data is None:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass
                continue
            slot, is_conn = key.data
            if not slot.alive:
                continue
            if is_conn:
                try:
                    msg = slot.conn.recv()
                except (EOFError, OSError):
                    self._on_death(slot, f"worker {slot.index} closed its pipe")
                    continue
                self._handle(slot, msg)
            else:
                slot.proc.join(timeout=0.05)
                self._on_death(slot, f"worker {slot.index} (pid {slot.pid}) died (exit code {slot.proc.exitcode})")
        nd = adm.next_deadline()
        if nd is not None and nd <= time.perf_counter():
            with adm.lock:
                out = adm.expire_locked(time.perf_counter())
            deliver(out)
        if self.pool.retiring:
            self._reap()
        if self.mem_limit is not None and time.perf_counter() >= next_mem:
            next_mem = time.perf_counter() + self.mem_check_s
            self._check_memory()
        return next_mem

    def _handle(self, slot: Slot, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "r":
            self._on_replies(slot, msg[1])
        elif kind == "ready":
            out: Deliveries = []
            with self.adm.lock:
                slot.ready = True
                slot.start_failures = 0
                slot.accepting = not self.adm.closed
                if slot.accepting:
                    self.accepting.append(slot)
                if all(s.ready or not s.alive for s in self.pool.slots):
                    self.ready.set()
                sends = self.fill_locked(out)
            self.send(sends)
            deliver(out)
        elif kind == "fail":
            self._on_death(slot, msg[1], failed_start=True)

    def _on_replies(self, slot: Slot, replies: list[tuple[int, Reply]]) -> None:
        """The hot path: one message of replies -> answers written, counters, refill, callbacks."""
        out: Deliveries = []
        now = time.perf_counter()
        busy = kcpu = 0.0
        answered = invalid = 0
        adm = self.adm
        with adm.lock:
            for key, wire in replies:
                reply = Reply.from_wire(wire)
                c = slot.inflight.pop(key, None)
                if c is None:
                    continue
                slot.inflight_rows -= c.rows
                busy += reply.busy_s
                kcpu += reply.kernel_cpu_s
                if c.done:  # timed out meanwhile: the late answer is dropped, not counted
                    out.append(adm.finish_locked(c, reply.outcome, reply.filler(c.batch.timeout_s), now))
                    continue
                codes = reply.outcome
                if not codes.any():  # all OK
                    n_ok, n_bad = c.rows, 0
                else:
                    n_ok = int(np.count_nonzero(codes == OK))
                    n_bad = int(np.count_nonzero(codes == INVALID))
                answered += n_ok + n_bad
                invalid += n_bad
                out.append(adm.finish_locked(c, codes, reply.filler(c.batch.timeout_s), now))
            st = slot.stats
            st.busy_s += busy
            st.kernel_cpu_s += kcpu
            st.queries += answered
            st.errors += invalid
            if answered:
                mean = busy / answered
                m = self.mean_compute_s
                self.mean_compute_s = mean if m == 0.0 else 0.8 * m + 0.2 * mean
            if slot.draining and not slot.inflight:
                self._recycle_locked(slot)
            sends = self.fill_locked(out)
        self.send(sends)
        deliver(out)

    # ----------------------------------------------------------- lifecycle
    def _watch(self) -> None:
        """Register live workers' pipes and process sentinels with the selector (receiver thread)."""
        for s in self.pool.slots:
            if s.alive and not s.watched:
                for fd, is_conn in ((s.conn.fileno(), True), (s.proc.sentinel, False)):
                    self.sel.register(fd, selectors.EVENT_READ, (s, is_conn))
                    s.watched.append(fd)

    def _unwatch(self, slot: Slot) -> None:
        for fd in slot.watched:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
        slot.watched = []

    def _on_death(self, slot: Slot, why: str, failed_start: bool = False) -> None:
        out: Deliveries = []
        replace = False
        adm = self.adm
        with adm.lock:
            if not slot.alive:
                return
            slot.alive = False
            if slot in self.accepting:
                self.accepting.remove(slot)
            was_ready = slot.ready
            lost = list(slot.inflight.values())
            slot.inflight, slot.inflight_rows = {}, 0
            out.extend(adm.requeue_or_lose_locked(lost, why))
            self._retire_locked(slot, 0.0)
            if failed_start or not was_ready:
                slot.start_failures += 1
            if adm.closed:
                pass
            elif not self.ready.is_set() and not was_ready:
                self.start_error = why  # a worker cannot even start: the executor fails to start
                self.ready.set()
            else:
                replace = slot.start_failures < 3
        if replace:
            try:
                new = self.pool.spawn(slot.index, slot)
            except Exception as exc:  # noqa: BLE001 - e.g. out of processes
                why = f"{why}; replacing it failed: {exc}"
            else:
                self._install(new)
        with adm.lock:
            if not self.alive():
                out.extend(adm.lose_queued_locked(why))
            sends = self.fill_locked(out)  # retry elsewhere now, not at the next answer
        self.send(sends)
        self.wake()
        deliver(out)

    def _lose_waiting_if_no_worker(self, why: str) -> None:
        with self.adm.lock:
            out = self.adm.lose_queued_locked(why) if not self.alive() else []
        deliver(out)

    def _check_memory(self) -> None:
        """The memory guard: drain a worker past the limit, one at a time, so the others keep serving."""
        with self.adm.lock:
            slots = [s for s in self.pool.slots if s.alive and s.ready and not s.draining]
            busy_recycling = self.pool.recycling()
        victim = self.pool.over_limit(slots, self.mem_limit)
        if victim is not None and not busy_recycling:
            self._drain(victim)

    def _drain(self, slot: Slot) -> None:
        """Stop giving ``slot`` work; it is replaced once its last query is answered."""
        with self.adm.lock:
            if not slot.alive or slot.draining or self.adm.closed:
                return
            slot.draining = True
            if slot in self.accepting:
                self.accepting.remove(slot)
            if not slot.inflight:
                self._recycle_locked(slot)

    def _recycle_locked(self, slot: Slot) -> None:
        self.recycles += 1
        slot.alive = False
        slot.recycle = True
        self._retire_locked(slot, STOP_GRACE_S)

    def _retire_locked(self, slot: Slot, grace: float) -> None:
        self._unwatch(slot)
        self.pool.retire_locked(slot, grace)

    def _install(self, new: Slot) -> None:
        """A replacement process takes its slot (and is stopped at once if the executor closed meanwhile)."""
        with self.adm.lock:
            self.pool.slots[new.index] = new
            if self.adm.closed:
                self._retire_locked(new, STOP_GRACE_S)

    def _reap(self) -> None:
        with self.adm.lock:
            replace = self.pool.reap_locked(self.adm.closed)
        for slot in replace:
            try:
                new = self.pool.spawn(slot.index, slot)
            except Exception as exc:  # noqa: BLE001 - e.g. out of processes: lose no query over it
                self._lose_waiting_if_no_worker(f"worker {slot.index} could not be replaced: {exc}")
                continue
            self._install(new)

    def close_locked(self) -> None:
        self.accepting = []  # no worker takes work any more

    def shutdown(self, unregister: Callable[[], None]) -> None:
        """Stop the receiver, then every worker: stop message, terminate, kill; idempotent."""
        if self.shut:
            return
        self.shut = True
        self.wake()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=5.0)
        with self.adm.lock:
            procs = self.pool.take_all_locked()
        self.pool.stop(procs)
        self.sel.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        unregister()

"""Workers come and go: start, death, replacement, the memory guard, retirement and shutdown.

A mixin of ``ProcessExecutor`` (it shares the executor's lock and tables): every
method here runs on the receiver thread, except ``_shutdown`` (``close()``, after
the receiver has stopped) and ``_new_slot`` at start-up.

A dead worker's unanswered queries go back to the front of the queue once
(``attempts=2``) and are then reported ``WORKER_LOST``; a slot whose process
cannot start three times in a row is given up; with no worker left every
waiting query is answered ``WORKER_LOST`` rather than left to hang.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Any

from pspread.execution.query import Outcome
from pspread.execution.slots import Slot, spawn_worker

STOP_GRACE_S = 1.0


class WorkerLifecycle:
    """Start, watch, replace, recycle and stop worker processes (mixin of ``ProcessExecutor``)."""

    _lock: Any
    _slots: list[Slot]
    _accepting: list[Slot]
    _retiring: list[tuple[Slot, float]]
    _closed: bool
    _shut: bool

    def _new_slot(self, index: int, previous: Slot | None = None) -> Slot:
        proc, conn = spawn_worker(self._ctx, index, self.graph_path, self.model, self.kernel, self._flush_s)
        slot = Slot(index, proc, conn)
        if previous is not None:
            slot.stats = previous.stats
            slot.stats.restarts += 1
            slot.start_failures = previous.start_failures
        slot.stats.pid = slot.pid
        slot.stats.in_flight = 0
        return slot

    def _watch(self) -> None:
        """Register live workers' pipes and process sentinels with the selector (receiver thread)."""
        import selectors

        for s in self._slots:
            if s.alive and not s.watched:
                for fd, is_conn in ((s.conn.fileno(), True), (s.proc.sentinel, False)):
                    self._sel.register(fd, selectors.EVENT_READ, (s, is_conn))
                    s.watched.append(fd)

    def _unwatch(self, slot: Slot) -> None:
        for fd in slot.watched:
            try:
                self._sel.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
        slot.watched = []

    def _on_death(self, slot: Slot, why: str, failed_start: bool = False) -> None:
        done: list = []
        replace = False
        with self._lock:
            if not slot.alive:
                return
            slot.alive = False
            if slot in self._accepting:
                self._accepting.remove(slot)
            was_ready = slot.ready
            lost = [e for e in slot.inflight.values() if not e.done]
            self._inflight -= len(slot.inflight)
            slot.inflight = {}
            done.extend((e, why) for e in self._requeue_or_lose_locked(lost))
            self._retire_locked(slot, 0.0)
            if failed_start or not was_ready:
                slot.start_failures += 1
            if self._closed:
                pass
            elif not self._ready.is_set() and not was_ready:
                self._start_error = why  # a worker cannot even start: the executor fails to start
                self._ready.set()
            else:
                replace = slot.start_failures < 3
        if replace:
            try:
                new = self._new_slot(slot.index, slot)
            except Exception as exc:  # noqa: BLE001 - e.g. out of processes
                why = f"{why}; replacing it failed: {exc}"
            else:
                with self._lock:
                    self._slots[slot.index] = new
                    if self._closed:
                        self._retire_locked(new, STOP_GRACE_S)
        done.extend(self._lose_waiting_if_no_worker(why, deliver=False))
        with self._lock:
            cancelled: list = []
            batches = self._fill(cancelled)  # retry elsewhere now, not at the next answer
        for b in batches:
            self._send(*b)
        for e, _ in cancelled:
            self._deliver(e, None)
        self._wake()
        for e, reason in done:
            self._deliver(e, self._unanswered(e, Outcome.WORKER_LOST, reason))

    def _lose_waiting_if_no_worker(self, why: str, deliver: bool = True) -> list:
        """With no worker left to retry on, answer every waiting query ``WORKER_LOST``."""
        lost: list = []
        with self._lock:
            if not any(s.alive for s in self._slots):
                lost = [(e, why) for e in self._lose_queued_locked()]
        if deliver:
            for e, reason in lost:
                self._deliver(e, self._unanswered(e, Outcome.WORKER_LOST, reason))
        return lost

    # ------------------------------------------------------- memory guard
    def _check_memory(self) -> None:
        import psutil

        with self._lock:
            slots = [s for s in self._slots if s.alive and s.ready and not s.draining]
        for s in slots:
            try:
                rss = s.process_info().memory_info().rss
            except (psutil.Error, OSError):
                continue
            s.stats.rss_bytes = int(rss)
            if self._mem_limit is not None and rss > self._mem_limit:
                self._drain(s)

    def _drain(self, slot: Slot) -> None:
        """Stop giving ``slot`` work; it is replaced once its last query is answered."""
        with self._lock:
            if not slot.alive or slot.draining or self._closed:
                return
            slot.draining = True
            if slot in self._accepting:
                self._accepting.remove(slot)
            if not slot.inflight:
                self._recycle_locked(slot)  # replaced by _reap once it has exited

    def _recycle_locked(self, slot: Slot) -> None:
        slot.alive = False
        slot.recycle = True
        self._retire_locked(slot, STOP_GRACE_S)

    def _replace(self, slot: Slot) -> None:
        new = self._new_slot(slot.index, slot)
        with self._lock:
            self._slots[slot.index] = new
            if self._closed:
                self._retire_locked(new, STOP_GRACE_S)

    def _retire_locked(self, slot: Slot, grace: float) -> None:
        """Ask a worker to stop and remember its process so it is joined (or killed) later."""
        slot.alive = False
        self._unwatch(slot)
        try:
            with slot.send_lock:
                slot.conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self._retiring.append((slot, time.perf_counter() + grace))

    def _reap(self) -> None:
        now = time.perf_counter()
        replace: list[Slot] = []
        with self._lock:
            keep = []
            for slot, kill_at in self._retiring:
                if slot.proc.exitcode is not None or not slot.proc.is_alive():
                    slot.finish()
                    if slot.recycle and not self._closed:
                        slot.recycle = False
                        replace.append(slot)
                    continue
                if now >= kill_at:
                    slot.proc.kill()
                keep.append((slot, kill_at))
            self._retiring = keep
        for slot in replace:
            try:
                self._replace(slot)
            except Exception as exc:  # noqa: BLE001 - e.g. out of processes: lose no query over it
                self._lose_waiting_if_no_worker(f"worker {slot.index} could not be replaced: {exc}")

    def _shutdown(self) -> None:
        """Stop the receiver, then every worker: stop message, terminate, kill (close() calls it)."""
        if self._shut:
            return
        self._shut = True
        self._wake()
        if self._receiver.is_alive() and threading.current_thread() is not self._receiver:
            self._receiver.join(timeout=5.0)
        with self._lock:
            procs = [s for s in self._slots] + [s for s, _ in self._retiring]
            self._retiring = []
        for s in procs:
            try:
                with s.send_lock:
                    s.conn.send(("stop",))
            except (OSError, ValueError):
                pass
        end = time.monotonic() + STOP_GRACE_S
        for s in procs:
            s.proc.join(timeout=max(0.0, end - time.monotonic()))
        for s in procs:
            if s.proc.is_alive():
                s.proc.terminate()
        end = time.monotonic() + STOP_GRACE_S
        for s in procs:
            s.proc.join(timeout=max(0.0, end - time.monotonic()))
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join(timeout=5.0)
            s.finish()
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        atexit.unregister(self._atexit)

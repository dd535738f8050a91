"""The receiver thread: one selector over every worker pipe, process sentinel and a wake-up pipe.

A mixin of ``ProcessExecutor``.  The thread resolves answers in batches (the
hot path: counters are updated once per message, futures and callbacks are
completed outside the lock), refills workers from the queue, expires
deadlines (``Ledger._expire``), reaps retired workers and runs the memory
guard.  The submitting thread never hands a query to it: it only wakes it
when a new deadline is earlier than the receiver's next planned wake-up.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pspread.execution.slots import Slot
from pspread.execution.worker import INVALID, to_result


class Receiver:
    """The receiver thread's loop and handlers (mixin of ``ProcessExecutor``)."""

    _lock: Any
    _slots: list[Slot]
    _shut: bool
    _mean_compute_s: float

    def _receive_loop(self) -> None:
        next_mem = time.perf_counter() + self._mem_check_s
        sel = self._sel
        wake_r = self._wake_r
        while not self._shut:
            try:
                next_mem = self._receive_once(sel, wake_r, next_mem)
            except Exception as exc:  # noqa: BLE001 - the receiver must outlive any one bad event
                self.receiver_errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)

    def _receive_once(self, sel: Any, wake_r: int, next_mem: float) -> float:
        """One wait on the selector and everything it reported; returns the next memory check time."""
        with self._lock:
            self._watch()
            now = time.perf_counter()
            timeout = 1.0
            if self._deadlines:
                timeout = min(timeout, max(0.0, self._deadlines[0][0] - now))
            if self._retiring:
                timeout = min(timeout, 0.05)
            if self._mem_limit is not None:
                timeout = min(timeout, max(0.0, next_mem - now))
            self._wake_at = now + timeout
        try:
            events = sel.select(timeout)
        except OSError:
            events = []  # a descriptor closed under us (close()); the loop re-checks
        if self._shut:
            return next_mem
        for key, _ in events:
            if key.data is None:
                try:
                    os.read(wake_r, 4096)
                except OSError:
                    pass
                continue
            slot, is_conn = key.data
            if not slot.alive:
                continue
            if is_conn:
                self._on_message(slot)
            else:
                slot.proc.join(timeout=0.05)
                self._on_death(slot, f"worker {slot.index} (pid {slot.pid}) died "
                                     f"(exit code {slot.proc.exitcode})")
        self._expire()
        if self._retiring:
            self._reap()
        if self._mem_limit is not None and time.perf_counter() >= next_mem:
            next_mem = time.perf_counter() + self._mem_check_s
            self._check_memory()
        return next_mem

    def _on_message(self, slot: Slot) -> None:
        """Handle one message from ``slot``'s pipe (the selector reports it again if more wait)."""
        try:
            msg = slot.conn.recv()
        except (EOFError, OSError):
            self._on_death(slot, f"worker {slot.index} closed its pipe")
            return
        self._handle(slot, msg)

    def _handle(self, slot: Slot, msg: tuple) -> None:
        kind = msg[0]
        if kind == "r":
            self._on_answers(slot, msg[1])
        elif kind == "ready":
            with self._lock:
                slot.ready = True
                slot.start_failures = 0
                slot.accepting = not self._closed
                if slot.accepting:
                    self._accepting.append(slot)
                if all(s.ready or not s.alive for s in self._slots):
                    self._ready.set()
                done: list = []
                batches = self._fill(done)
            for b in batches:
                self._send(*b)
        elif kind == "fail":
            self._on_death(slot, msg[1], failed_start=True)

    def _on_answers(self, slot: Slot, answers: list) -> None:
        """The hot path: one message of answers -> bookkeeping, refill, futures (counters updated once)."""
        done: list = []
        answered: list = []
        busy = 0.0
        n_ok = n_invalid = n_expired = n_late = 0
        with self._lock:
            inflight, pending = slot.inflight, self._pending
            for ans in answers:
                key = ans[0]
                e = inflight.pop(key, None)
                if e is None:
                    continue
                busy += ans[3]
                if e.done:
                    n_late += 1  # answered TIMED_OUT already; the late answer is dropped
                    continue
                e.done = True
                del pending[key]
                status = ans[1]
                if status == 0:
                    n_ok += 1
                elif status == INVALID:
                    n_invalid += 1
                else:
                    n_expired += 1
                answered.append((e, ans))
            self._inflight -= n_ok + n_invalid + n_expired + n_late
            st = slot.stats
            st.busy_s += busy
            if answered:
                mean = busy / len(answered)
                m = self._mean_compute_s
                self._mean_compute_s = mean if m == 0.0 else 0.8 * m + 0.2 * mean
            st.queries += n_ok + n_invalid
            st.errors += n_invalid
            self._completed += n_ok + n_invalid
            outcomes = self._outcomes
            if n_ok:
                outcomes["ok"] = outcomes.get("ok", 0) + n_ok
            if n_invalid:
                outcomes["invalid"] = outcomes.get("invalid", 0) + n_invalid
            if n_expired:
                outcomes["timed_out"] = outcomes.get("timed_out", 0) + n_expired
            if slot.draining and not slot.inflight:
                self._recycle_locked(slot)
            batches = self._fill(done)
        for b in batches:
            self._send(*b)
        for e, _ in done:
            self._deliver(e, None)
        index = slot.index
        for e, (_, status, payload, compute_s) in answered:
            self._deliver(e, to_result(e.query, status, payload, compute_s, e.submitted_at, index, e.attempts))

"""The worker processes behind the pipe transport: start, replace, retire, reap and stop them.

``WorkerPool`` owns the processes only -- which slot holds which process,
which processes are on their way out, and how every one of them is stopped.
What a worker's death means for its queries, and when a worker is recycled,
is the transport's business (``pipes.py``); it calls in here under the
admission lock for the ``*_locked`` methods.
"""

from __future__ import annotations

import time
from typing import Any

from pspread.errors import ExecutorError
from pspread.execution.slots import Slot, spawn_worker

#: seconds a worker gets to exit after its stop message before it is killed
STOP_GRACE_S = 1.0


class MemoryLimitError(ExecutorError):
    """A memory limit below what a fresh worker needs (exit 2: raise the limit)."""

    exit_code = 2


class WorkerPool:
    """Worker processes at fixed positions (slots); a replacement inherits its slot's counters."""

    def __init__(self, ctx: Any, graph_path: str, model: Any, kernel: str, flush_s: float,
                 worker_init: str | None = None) -> None:
        self.ctx = ctx
        self.graph_path = graph_path
        self.model = model
        self.kernel = kernel
        self.flush_s = flush_s
        self.worker_init = worker_init
        self.slots: list[Slot] = []
        self.retiring: list[tuple[Slot, float]] = []  # (worker, kill-after time)

    def spawn(self, index: int, previous: Slot | None = None) -> Slot:
        """Start a worker process for slot ``index`` (taking over ``previous``'s counters)."""
        proc, conn = spawn_worker(self.ctx, index, self.graph_path, self.model, self.kernel, self.flush_s,
                                  self.worker_init)
        slot = Slot(index, proc, conn)
        if previous is not None:
            slot.stats = previous.stats
            slot.stats.restarts += 1
            slot.start_failures = previous.start_failures
        slot.stats.pid = slot.pid
        slot.stats.in_flight = 0
        return slot

    def alive(self) -> bool:
        return any(s.alive for s in self.slots)

    def recycling(self) -> bool:
        """A worker is out of service for memory: draining, exiting, or its replacement still starting.

        The guard takes one worker at a time and waits for its replacement to be
        ready, so at most one worker is ever missing and queued queries always
        have one to go to.
        """
        return (any(s.draining or not s.ready for s in self.slots if s.alive)
                or any(s.recycle for s, _ in self.retiring))

    @staticmethod
    def over_limit(candidates: list[Slot], limit: int | None) -> Slot | None:
        """Read each candidate's RSS into its stats; the first one past ``limit`` (None: no limit)."""
        import psutil

        found = None
        for s in candidates:
            try:
                rss = int(s.process_info().memory_info().rss)
            except (psutil.Error, OSError):
                continue
            s.stats.rss_bytes = rss
            if limit is not None and rss > limit and found is None:
                found = s
        return found

    @classmethod
    def check_baseline(cls, fresh: list[Slot], limit: int) -> None:
        """Refuse a memory limit that freshly started workers already exceed: they would recycle forever."""
        cls.over_limit(fresh, None)  # reads each one's RSS
        baseline = max((s.stats.rss_bytes for s in fresh), default=0)
        if baseline >= limit:
            raise MemoryLimitError(
                f"memory_limit_mb {limit / 2**20:g} is below the {baseline / 2**20:.0f} MB a fresh worker already "
                f"uses with this graph; every worker would be recycled again and again -- set memory_limit_mb "
                f"above {baseline / 2**20 * 1.5:.0f} (1.5 x that), or leave it unset")

    def retire_locked(self, slot: Slot, grace: float) -> None:
        """Ask a worker to stop and remember its process so it is joined (or killed) later."""
        slot.alive = False
        try:
            with slot.send_lock:
                slot.conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self.retiring.append((slot, time.perf_counter() + grace))

    def reap_locked(self, closed: bool) -> list[Slot]:
        """Join exited workers, kill overdue ones; returns the recycled slots to start again."""
        now = time.perf_counter()
        replace: list[Slot] = []
        keep = []
        for slot, kill_at in self.retiring:
            if slot.proc.exitcode is not None or not slot.proc.is_alive():
                slot.finish()
                if slot.recycle and not closed:
                    slot.recycle = False
                    replace.append(slot)
                continue
            if now >= kill_at:
                slot.proc.kill()
            keep.append((slot, kill_at))
        self.retiring = keep
        return replace

    def take_all_locked(self) -> list[Slot]:
        """Every process this pool ever started and has not joined, for ``stop``."""
        procs = list(self.slots) + [s for s, _ in self.retiring]
        self.retiring = []
        return procs

    @staticmethod
    def stop(procs: list[Slot]) -> None:
        """Stop message, then terminate, then kill: every process is gone when this returns."""
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

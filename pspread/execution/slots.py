"""The parent's view of one worker process, and how one is started.

A ``Slot`` is a worker position (0..workers-1): when its process dies or is
recycled, a new process takes the same slot and inherits its counters, so
``stats()`` shows restarts per position.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

from pspread.execution.base import WorkerStats
from pspread.execution.worker import THREAD_ENV, worker_main

_ENV_LOCK = threading.Lock()


class Slot:
    """One worker process as the parent tracks it."""

    def __init__(self, index: int, proc: Any, conn: Any) -> None:
        self.index = index
        self.proc = proc
        self.pid: int = proc.pid
        self.conn = conn
        self.alive = True  # may receive work / be waited on
        self.ready = False  # has opened the graph and said so
        self.accepting = False
        self.draining = False  # past its memory limit: no new work
        self.recycle = False  # replace it once it has exited
        self.start_failures = 0
        self.inflight: dict[int, Any] = {}  # chunks on this worker, by key
        self.inflight_rows = 0  # queries in those chunks
        self.known_models: set[int] = set()
        self.send_lock = threading.Lock()
        self.watched: list[int] = []  # descriptors registered with the receiver's selector
        self.stats = WorkerStats(worker=index, pid=self.pid)
        self._ps: Any = None

    @property
    def inflight_n(self) -> int:
        return self.inflight_rows

    def process_info(self) -> Any:
        """A cached ``psutil.Process`` of this worker."""
        if self._ps is None:
            import psutil

            self._ps = psutil.Process(self.pid)
        return self._ps

    def finish(self) -> None:
        """Join the exited process and close the parent's end of its pipe."""
        try:
            self.proc.join(timeout=0.1)
        except Exception:  # pragma: no cover - join of an already-joined process
            pass
        try:
            self.conn.close()
        except OSError:
            pass


def spawn_worker(ctx: Any, index: int, graph_path: str, model: Any, kernel: str, flush_s: float,
                 worker_init: str | None = None) -> tuple[Any, Any]:
    """Start one worker process; returns ``(process, parent end of its pipe)``.

    The thread-pool variables are set to 1 in the environment the child is
    started with (a spawned child reads them before numpy loads its BLAS).
    """
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    proc = ctx.Process(
        target=worker_main,
        args=(index, graph_path, model, kernel, child_conn, os.getpid()),
        kwargs={"flush_s": flush_s, "worker_init": worker_init},
        name=f"pspread-worker-{index}",
        daemon=True,
    )
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        main = sys.modules.get("__main__")
        try:
            for k in THREAD_ENV:
                os.environ[k] = "1"
            # A worker needs nothing from the caller's main module, so it is not re-imported
            # there: workers start faster, a script without a __main__ guard does not run
            # again in each worker, and `python - <<EOF` or notebooks work.
            sys.modules["__main__"] = types.ModuleType("__main__")
            proc.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    child_conn.close()
    return proc, parent_conn

"""``ProcessExecutor``: many queries at once, one worker process per core, nothing lost.

Composition, not inheritance: the executor holds one ``Admission`` (pending
queries, the bounded queue, deadlines, outcome counts, the model registry,
their lock) and one ``PipeTransport`` (worker processes, pipes, the receiver
thread).  This module is the public API and the glue between them.

* every worker opens the graph bundle by mmap; the parent sends chunks of
  queries as arrays and gets arrays back, so a pipe message is paid per chunk,
  not per query, once the executor is busy;
* admission: at most ``max_in_flight`` queries on workers, then a bounded
  queue, then an immediate ``OVERLOADED`` answer (counted);
* a dead worker is replaced, its unanswered queries retried once elsewhere and
  then reported ``WORKER_LOST``; a worker past ``memory_limit_mb`` stops getting
  work and is replaced once it has drained;
* ``close()`` (also from ``__exit__``, ``atexit`` and after Ctrl-C) answers
  every pending query ``CANCELLED`` and stops every worker: stop message, then
  terminate, then kill.  Workers also exit by themselves if the parent dies.
"""

from __future__ import annotations

import atexit
import os
import time
import weakref
from pathlib import Path
from typing import Callable

from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError, GraphError
from pspread.execution.admission import Admission, Batch, Deliveries, deliver
from pspread.execution.base import BundleLabels, Executor, ExecutorStats, WorkerStats
from pspread.execution.dispatch import make_balancer
from pspread.execution.limits import check_worker_count
from pspread.execution.pipes import PipeTransport
from pspread.execution.worker import check_worker_init

START_METHODS = ("spawn", "forkserver")


class ProcessExecutor(Executor):
    """Answers queries on ``workers`` processes that share one graph bundle.

    ``graph_path``: a bundle folder (``pspread graph generate ... -o PATH``).
    ``model``: default model (None: ``SpreadModel()``); a query's own ``model``
    wins.  ``kernel``: ``auto``, ``frontier``, ``dense`` or ``reference``.
    ``max_in_flight``: queries on workers at once; ``queue_size``: how many more
    wait in the parent (default 4 × max_in_flight) before ``OVERLOADED``.
    ``balance``: ``least-loaded``, ``round-robin`` or ``power-of-two``.
    ``batch_size``: most queries per chunk sent to a worker (None: 256; chunks
    are only that large when the queue is long, and hold at most about
    0.25 s of work).  ``memory_limit_mb``: recycle a worker whose RSS passes
    this.  ``start_method``: ``spawn`` (default) or ``forkserver`` -- never fork,
    since the parent already runs threads.  ``flush_ms``: longest a worker holds
    a finished answer while it has more queued work.  ``worker_init``: an import
    path (``"package.module:function"``) each worker imports and calls before it
    opens the graph, e.g. to ``register_kernel`` a kernel of one's own.
    """

    def __init__(
        self,
        graph_path: str | os.PathLike[str],
        workers: int = 2,
        model: SpreadModel | None = None,
        kernel: str = "auto",
        max_in_flight: int = 1024,
        queue_size: int | None = None,
        balance: str = "least-loaded",
        batch_size: int | None = None,
        memory_limit_mb: float | None = None,
        start_method: str = "spawn",
        start_timeout_s: float = 120.0,
        flush_ms: float = 50.0,
        memory_check_s: float = 0.25,
        worker_init: str | None = None,
    ) -> None:
        _check_int("workers", workers, 1)
        check_worker_count(workers)
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
        make_balancer(balance)  # an unknown strategy is refused before any process starts
        check_worker_init(worker_init)
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
        self._adm = Admission(self.model, max_in_flight, queue_size)
        self._pipes = PipeTransport(self._adm, self.graph_path, kernel, workers, balance, batch_size,
                                    memory_limit_mb, start_method, flush_ms / 1000.0, memory_check_s, worker_init)
        self._submit_cpu_s = 0.0
        self._label_of: Callable[[int], str] | None = None
        _ref = weakref.ref(self)
        self._atexit = lambda: (lambda ex: ex.close() if ex is not None else None)(_ref())
        atexit.register(self._atexit)
        try:
            error = self._pipes.start(start_timeout_s)
            if error:
                raise ExecutorError(error)
        except BaseException:
            self.close()
            raise

    @property
    def receiver_errors(self) -> list[str]:
        """Unexpected errors the receiver thread survived (for diagnosis; normally empty)."""
        return self._pipes.errors

    def pids(self) -> list[int]:
        with self._adm.lock:
            return [s.pid for s in self._pipes.pool.slots if s.alive]

    # -------------------------------------------------------------- admit
    def _model_id(self, model: SpreadModel | None) -> int:
        with self._adm.lock:
            return self._adm.model_id_locked(model)

    def _window(self) -> int:
        return max(1, self.max_in_flight + self.queue_size)

    def _labels(self) -> Callable[[int], str]:
        if self._label_of is None:
            self._label_of = BundleLabels(self.graph_path)
        return self._label_of

    def _admit(self, batch: Batch) -> None:
        """Queue ``batch`` and hand what fits to idle workers now; never blocks on workers."""
        cpu0 = time.thread_time()
        adm, pipes = self._adm, self._pipes
        out: Deliveries = []
        with adm.lock:
            out.extend(adm.admit_locked(batch, time.perf_counter(), pipes.alive()))
            sends = pipes.fill_locked(out)
            nd = adm.next_deadline()
            wake = nd is not None and nd < pipes.wake_at
        pipes.send(sends)
        if wake:
            pipes.wake()
        deliver(out)
        self._submit_cpu_s += time.thread_time() - cpu0

    # -------------------------------------------------------------- stats
    def stats(self) -> ExecutorStats:
        import psutil

        with self._adm.lock:
            slots = list(self._pipes.pool.slots)
            ws = []
            for s in slots:
                w = WorkerStats(**vars(s.stats))
                w.pid, w.in_flight = s.pid, s.inflight_rows
                ws.append(w)
            snap = self._adm.stats_locked(ws)
        for s, w in zip(slots, snap.workers):
            if s.alive:
                try:
                    w.rss_bytes = int(s.process_info().memory_info().rss)
                except (psutil.Error, OSError):
                    pass
        snap.parent_cpu_s = self._pipes.cpu_s + self._submit_cpu_s
        snap.recycles = self._pipes.recycles
        return snap

    # -------------------------------------------------------------- close
    def close(self) -> None:
        """Answer every pending query ``CANCELLED`` and stop every worker; safe to call again."""
        with self._adm.lock:
            out = self._adm.cancel_all_locked()
            self._pipes.close_locked()
        deliver(out)
        self._pipes.shutdown(lambda: atexit.unregister(self._atexit))

    def __del__(self) -> None:  # last resort; close() is the way
        try:
            if not self._pipes.shut:
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

"""``DaskExecutor``: the executor interface on Dask distributed, beyond one machine.

Composition, as for the process executor: the executor holds one
``Admission`` (pending chunks, the bounded queue, deadlines, outcome counts,
the model registry, their lock) and one ``DaskTransport`` (the cluster link,
the worker records, the handlers on the client's event loop).  This module is
the public API and the glue between them.

* each Dask worker process holds one graph replica (``GraphHolder``, a worker
  plugin): opened by mmap from a path the workers can read, or shipped once per
  worker when they cannot -- never per query;
* pspread, not Dask's scheduler, decides which worker gets which queries (the
  process executor's strategies, ``pspread.execution.dispatch``); queries travel
  to a worker in chunks of up to ``batch_size`` (seeds as arrays, answers as
  arrays) over a direct connection to it, and at most ``depth`` chunks per
  worker are outstanding (one computing, the next already there), the rest wait
  in the parent; admission is the process executor's: ``max_in_flight`` on
  workers, ``queue_size`` more, then ``OVERLOADED``;
* talking to workers happens on the Dask client's event loop; admitting only
  queues under the admission lock, and wakes that loop only when a worker has
  room (otherwise the next answer to arrive refills the workers anyway);
* a worker lost mid-chunk: its queries are retried once on another worker,
  then answered ``WORKER_LOST``; a worker that rejoins (a local cluster's nanny
  restarts it) takes the lost one's place and counts a restart;
* ``scheduler=None`` starts a ``LocalCluster`` bound to 127.0.0.1 (no
  dashboard) and stops it on every exit path (``close``, ``__exit__``,
  ``atexit``, Ctrl-C while starting).  A given address is used as is (TLS and
  security come from Dask's configuration); one that is malformed is refused
  at once (exit 2), one where no Dask scheduler answers an identity request
  within ``connect_timeout_s`` (10 s) is a ``RunAborted`` naming it (exit 3).

Starting or joining the cluster is ``dask_cluster.ClusterLink``'s job, moving
chunks ``dask_transport.DaskTransport``'s, the worker side is
``dask_worker.GraphHolder``.  Dask is optional: only the link and the
worker side import it, when an executor starts, and a missing install is an
``ExecutorError`` that says how to get it.
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
from pspread.execution.admission import Admission, Batch, Delivery, deliver
from pspread.execution.base import BundleLabels, Executor, ExecutorStats, WorkerStats
from pspread.execution.dask_cluster import INSTALL_HINT, ClusterLink, check_scheduler_address
from pspread.execution.dask_transport import DaskTransport
from pspread.execution.dispatch import make_balancer
from pspread.execution.limits import check_worker_count
from pspread.execution.worker import check_worker_init


class DaskExecutor(Executor):
    """Answers queries on the workers of a Dask cluster, each holding one graph replica.

    ``graph_path``: a bundle folder (``pspread graph generate ... -o PATH``).
    ``scheduler``: a Dask scheduler address (``tcp://host:8786``); None starts a
    local cluster of ``workers`` processes on 127.0.0.1.  With an address every
    worker the cluster has is used (at least one is waited for).
    ``model``/``kernel``: as for ``ProcessExecutor``.  ``balance``:
    ``least-loaded``, ``round-robin`` or ``power-of-two``.  ``batch_size``: most
    queries per chunk sent to a worker (None: 32; an idle worker gets what waits,
    however few; large chunks only form under load).  ``depth``: chunks outstanding
    per worker.
    ``ship_graph``: send the bundle's files to the workers (once each) instead of
    having them open ``graph_path``; automatic for a worker that cannot read it.
    ``memory_limit_mb``: a local worker past it is restarted by Dask (checked every second; its queries retried).
    ``worker_init``: as for ``ProcessExecutor``, run once on every Dask worker.
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
        connect_timeout_s: float = 10.0,
        start_timeout_s: float = 120.0,
        worker_init: str | None = None,
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
        if scheduler is not None:
            scheduler = check_scheduler_address(scheduler)
        else:
            check_worker_count(workers)  # a local cluster starts that many processes here
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
        make_balancer(balance)  # an unknown strategy is refused before any cluster starts
        check_worker_init(worker_init)
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.queue_size = 4 * self.max_in_flight if queue_size is None else queue_size
        self.depth = depth
        self.ship_graph = ship_graph
        self._adm = Admission(self.model, max_in_flight, self.queue_size)
        self._link = ClusterLink(self.graph_path, scheduler, workers, self.model, kernel, ship_graph,
                                 memory_limit_mb, connect_timeout_s, start_timeout_s, worker_init)
        self._dask = DaskTransport(self._adm, self._link, balance, batch_size, depth)
        self._submit_cpu_s = 0.0
        self._label_of: Callable[[int], str] | None = None
        _ref = weakref.ref(self)
        self._atexit = lambda: (lambda ex: ex.close() if ex is not None else None)(_ref())
        atexit.register(self._atexit)
        try:
            started = self._dask.start()
            if scheduler is not None:
                self.num_workers = started
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
        with self._adm.lock:
            return [w.pid for w in self._dask.workers if w.alive]

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
        """Queue ``batch``; wake the loop only if a worker has room now; never blocks on workers."""
        cpu0 = time.thread_time()
        adm, dask = self._adm, self._dask
        out: list[Delivery] = []
        with adm.lock:
            out.extend(adm.admit_locked(batch, time.perf_counter(), dask.alive()))
            kick = dask.kick_locked()
        if kick:
            dask.kick()
        deliver(out)
        self._submit_cpu_s += time.thread_time() - cpu0

    # --------------------------------------------------------------- stats
    def stats(self) -> ExecutorStats:
        with self._adm.lock:
            workers = list(self._dask.workers)
            ws = []
            for w in workers:
                s = WorkerStats(**vars(w.stats))
                s.pid, s.in_flight = w.pid, w.inflight_rows
                ws.append(s)
            snap = self._adm.stats_locked(ws)
        if self._link.local:
            import psutil

            for w, s in zip(workers, snap.workers):
                if w.alive:
                    try:
                        s.rss_bytes = int(psutil.Process(w.pid).memory_info().rss)
                    except (psutil.Error, OSError):
                        pass
        snap.parent_cpu_s = self._dask.cpu_s + self._submit_cpu_s
        return snap

    # --------------------------------------------------------------- close
    def close(self) -> None:
        """Answer every pending query ``CANCELLED`` and stop the local cluster (or leave a remote one)."""
        with self._adm.lock:
            out = self._adm.cancel_all_locked()
        deliver(out)
        self._shutdown()

    def _shutdown(self) -> None:
        if self._dask.shut:
            return
        try:
            self._dask.close()
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
            if not self._dask.shut:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        where = self.scheduler or "local cluster"
        return (f"DaskExecutor({self.graph_path!r}, scheduler={where!r}, workers={self.num_workers}, "
                f"kernel={self.kernel!r}, balance={self.balance!r}, batch_size={self.batch_size})")


__all__ = ["DaskExecutor", "INSTALL_HINT"]

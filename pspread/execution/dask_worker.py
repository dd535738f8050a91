"""The Dask side of the ``DaskExecutor``: one graph holder per Dask worker process.

A ``GraphHolder`` is a Dask ``WorkerPlugin``: registered once by the executor,
Dask installs it on every worker of the cluster, including workers that join
later (a worker restarted by its nanny gets it again, so a replacement is
ready without the executor doing anything).  On each worker it

* opens the graph bundle once, by mmap, from a path the workers can read --
  or, when they cannot (``ship_graph`` or a path missing there), receives the
  bundle's files once, writes them under the worker's own scratch folder
  (removed with the worker) and opens that copy by mmap;
* keeps one ``Spreader`` per distinct model (``SpreaderCache``, shared with
  the process executor), so kernel buffers are allocated once;
* answers *chunks* of queries with ``answer_chunk`` -- the same work a process
  worker does -- right on the worker's event loop (one query per core).

The executor talks to it through three handlers added to the worker's RPC
server, named with the executor's token so that several executors can share
one cluster: ``pspread_hello_<token>``, ``pspread_file_<token>`` and
``pspread_answer_<token>``.  A chunk travels pickled, as bytes, in one message
(pickle protocol 5: numpy arrays as raw buffers, no Python object per query):

* in: ``(models, model_id, top_k, remaining_s, seeds)`` -- ``seeds`` a
  ``SeedBlock`` (the batch path) or a list as a ``Query`` gave them, ``models``
  the ``(id, SpreadModel)`` the chunk needs beyond the default (sent with every
  chunk that uses one, so two chunks in flight cannot race on defining it),
  ``remaining_s`` the seconds left before its deadline (clocks differ between
  machines);
* out: ``(rss_bytes, sent_at, Reply.to_wire())`` -- ``sent_at`` is this worker's
  ``perf_counter`` as the reply leaves, so a remote parent can put the reply's
  stamps on its own clock.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from pspread.execution.answering import Reply, SpreaderCache, all_invalid, answer_chunk
from pspread.execution.dask_cluster import handler_names
from pspread.execution.worker import pin_threads, run_worker_init

#: states a holder reports in its hello
READY, NEED_BUNDLE, FAILED = "ready", "need-bundle", "failed"


class GraphHolder(WorkerPlugin):
    """Holds one graph replica and its spreaders on a Dask worker; answers batches of queries.

    ``graph_path``: bundle folder to open on the worker (None: wait for the files
    to be shipped).  ``model``: the default model (id 0).  ``kernel``: as for
    ``Spreader``.  ``token``: names this executor's handlers and scratch folder.
    ``worker_init``: an import path run once on the worker before it opens the
    graph (see ``pspread.execution.worker``).
    """

    def __init__(self, graph_path: str | None, model: Any, kernel: str, token: str,
                 worker_init: str | None = None) -> None:
        self.worker_init = worker_init
        self.graph_path = graph_path
        self.model = model
        self.kernel = kernel
        self.token = token
        self.name = f"pspread-graph-{token}"

    # ------------------------------------------------------------ lifecycle
    async def setup(self, worker: Any) -> None:
        """Open the graph (off the event loop) and add this holder's handlers; never raises."""
        import asyncio

        pin_threads()
        self.state = NEED_BUNDLE
        self.error: str | None = None
        self.cache: SpreaderCache | None = None
        self.pid = os.getpid()
        self.scratch = os.path.join(getattr(worker, "local_directory", None) or "/tmp", f"pspread-{self.token}")
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pspread-open")  # opens the graph off the loop
        self._ps: Any = None
        self._rss_last, self._rss_at = 0, -1.0
        names = handler_names(self.token)
        worker.handlers[names["hello"]] = self.hello
        worker.handlers[names["file"]] = self.receive_file
        worker.handlers[names["answer"]] = self.answer_batch
        try:
            run_worker_init(self.worker_init)
        except Exception as exc:  # noqa: BLE001 - reported to the executor through hello
            self.state, self.error = FAILED, f"worker_init {self.worker_init!r} failed: {type(exc).__name__}: {exc}"
            return
        if self.graph_path is not None and os.path.isdir(self.graph_path):
            await asyncio.get_running_loop().run_in_executor(self.pool, self._open, self.graph_path)

    def teardown(self, worker: Any) -> None:
        for name in handler_names(self.token).values():
            worker.handlers.pop(name, None)
        self.cache = None
        self.pool.shutdown(wait=False)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _open(self, path: str) -> None:
        """Open the bundle, build the default spreader and run one warm-up query (compiled code loads now)."""
        try:
            from pspread.engine.io import load_graph

            graph = load_graph(path)
            cache = SpreaderCache(graph, self.kernel, threads=1)
            cache.define(0, self.model)
            warm = cache.get(0)
            if graph.num_nodes:
                warm.answer_arrays([0], 1)  # load compiled code now, not on the first real query
        except Exception as exc:  # noqa: BLE001 - reported to the executor through hello
            self.state, self.error = FAILED, f"{type(exc).__name__}: {exc}"
            return
        self.cache, self.state, self.error = cache, READY, None

    # ------------------------------------------------------------- handlers
    async def hello(self, open_shipped: bool = False) -> dict[str, Any]:
        """Who and how ready this holder is; with ``open_shipped``, open the files received so far first."""
        import asyncio

        if open_shipped and self.state != READY:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._open, self.scratch)
        return {"pid": self.pid, "state": self.state, "error": self.error, "rss": self._rss(),
                "graph_path": self.graph_path}

    async def receive_file(self, name: str, data: bytes) -> str:
        """Store one shipped bundle file in the scratch folder (the executor sends each once)."""
        if os.sep in name or name.startswith("."):
            return f"refused file name {name!r}"
        os.makedirs(self.scratch, exist_ok=True)
        with open(os.path.join(self.scratch, name), "wb") as fh:
            fh.write(data)
        return "ok"

    async def answer_batch(self, payload: bytes) -> bytes:
        """Answer one pickled chunk; returns ``pickle((rss, sent_at, Reply.to_wire()))``.

        The chunk runs right here on the worker's event loop: handing it to a
        thread cost as much as the queries themselves (a thread wake-up and GIL
        hand-over per message).  The executor sizes chunks to a few tens of
        milliseconds of work, so Dask's heartbeats keep flowing, and a second
        chunk that arrives meanwhile is read as soon as this one is answered.
        """
        received = time.perf_counter()
        models, model_id, top_k, remaining, seeds = pickle.loads(payload)
        cache = self.cache
        if cache is None:
            reply = _unanswerable(len(seeds), f"this worker has no graph ({self.error or self.state})")
        else:
            if models:
                for mid, model in models:
                    cache.define(mid, model)
            deadline = None if remaining is None else received + remaining
            reply = answer_chunk(cache, model_id, top_k, seeds, deadline)
        return pickle.dumps((self._rss(), time.perf_counter(), reply.to_wire()), protocol=5)

    def _rss(self) -> int:
        """This worker's RSS, read at most every 0.25 s (it travels with every answer)."""
        now = time.monotonic()
        if now - self._rss_at < 0.25:
            return self._rss_last
        try:
            if self._ps is None:
                import psutil

                self._ps = psutil.Process()
            self._rss_last, self._rss_at = int(self._ps.memory_info().rss), now
        except Exception:  # noqa: BLE001 - statistics must never fail a batch
            pass
        return self._rss_last


def _unanswerable(q: int, why: str) -> Reply:
    """Every row of a chunk ``INVALID`` with ``why`` (the worker could not open the graph)."""
    return all_invalid(q, why, 0.0)


__all__ = ["FAILED", "GraphHolder", "NEED_BUNDLE", "READY"]

"""``InlineExecutor``: every query answered synchronously, in this process.

It is the one-worker sequential baseline that speedups are measured from, and
the executor tests and small scripts use because it starts instantly.  It
implements the same interface and the same outcomes as the process executor
(a bad query is an ``INVALID`` answer, not an exception), so the contract suite
runs unchanged on both.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from os import PathLike
from typing import Union

from pspread.engine.graph import Graph
from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError
from pspread.execution.base import Callback, Executor, ExecutorStats, WorkerStats
from pspread.execution.query import Outcome, Query, QueryResult
from pspread.execution.worker import HOOKS_ENV, OK, SpreaderCache, answer, to_result

GraphLike = Union[Graph, str, "PathLike[str]"]


class InlineExecutor(Executor):
    """Runs each query in ``submit`` itself; the returned future is already done.

    ``graph_or_path``: a ``Graph`` or a bundle path (opened with ``load_graph``).
    ``model``: the default model (None: ``SpreadModel()``); ``kernel``: as for
    ``Spreader``; ``threads``: threads one query may use (1 keeps it comparable
    with a single process worker).
    """

    num_workers = 1

    def __init__(self, graph_or_path: GraphLike, model: SpreadModel | None = None, kernel: str = "auto",
                 threads: int = 1) -> None:
        if isinstance(graph_or_path, Graph):
            graph = graph_or_path
        else:
            from pspread.engine.io import load_graph

            graph = load_graph(os.fspath(graph_or_path))
        self.graph = graph
        self.model = model or SpreadModel()
        self._cache = SpreaderCache(graph, kernel, threads=threads)
        self._cache.define(0, self.model)
        self._cache.get(0)  # a bad kernel name fails here, not on the first query
        self._model_ids: dict[SpreadModel, int] = {self.model: 0}
        self._hooks = os.environ.get(HOOKS_ENV) == "1"
        self._lock = threading.Lock()  # one query at a time, even from several threads
        self._closed = False
        self._stats = WorkerStats(worker=0, pid=os.getpid())
        self._submitted = 0
        self._completed = 0
        self._outcomes: dict[str, int] = {}

    def _model_id(self, model: SpreadModel | None) -> int:
        if model is None:
            return 0
        mid = self._model_ids.get(model)
        if mid is None:
            mid = self._model_ids[model] = len(self._model_ids)
            self._cache.define(mid, model)
        return mid

    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        if self._closed:
            raise ExecutorError("this executor is closed; create a new one to run more queries")
        submitted_at = time.perf_counter()
        with self._lock:
            self._submitted += 1
            try:
                spreader = self._cache.get(self._model_id(query.model))
            except Exception as exc:  # noqa: BLE001 - e.g. the kernel refuses the model
                status, payload, compute_s = 1, f"the query's model cannot be used: {exc}", 0.0
            else:
                status, payload, compute_s = answer(spreader, query.seeds, query.top_k, query.kind, self._hooks)
            result: QueryResult = to_result(query, status, payload, compute_s, submitted_at, worker=0)
            if query.timeout_s is not None and result.latency_s > query.timeout_s:
                result = QueryResult(query.query_id, Outcome.TIMED_OUT, compute_s=compute_s,
                                     submitted_at=submitted_at, completed_at=result.completed_at, worker=0,
                                     kind=query.kind, error=f"no answer within timeout_s={query.timeout_s}")
            st = self._stats
            st.busy_s += compute_s
            if result.outcome is not Outcome.TIMED_OUT:
                st.queries += 1
                self._completed += 1
                if status != OK:
                    st.errors += 1
            key = result.outcome.value
            self._outcomes[key] = self._outcomes.get(key, 0) + 1
        fut: cf.Future[QueryResult] = cf.Future()
        fut.set_running_or_notify_cancel()
        fut.set_result(result)
        if callback is not None:
            callback(result)
        return fut

    def stats(self) -> ExecutorStats:
        with self._lock:
            ws = WorkerStats(**vars(self._stats))
            try:
                import psutil

                ws.rss_bytes = int(psutil.Process().memory_info().rss)
            except Exception:  # pragma: no cover - psutil is a dependency, but stats must not fail
                pass
            return ExecutorStats(workers=[ws], submitted=self._submitted, completed=self._completed,
                                 in_flight=0, queued=0, outcomes=dict(self._outcomes))

    def pids(self) -> list[int]:
        return [os.getpid()]

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"InlineExecutor({self.graph!r}, kernel={self._cache.kernel!r})"


__all__ = ["InlineExecutor"]

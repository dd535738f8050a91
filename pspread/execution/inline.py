"""``InlineExecutor``: every query answered synchronously, in this process.

It is the one-worker sequential baseline that speedups are measured from, and
the executor tests and small scripts use because it starts instantly.  It
holds the same ``Admission`` as the other executors and a trivial transport
-- a direct call of ``answer_chunk`` -- so the contract suite runs unchanged
on all of them and a bad query is an ``INVALID`` answer, not an exception.
"""

from __future__ import annotations

import os
import threading
import time
from os import PathLike
from typing import Callable, Union

import numpy as np

from pspread.engine.graph import Graph
from pspread.engine.model import SpreadModel
from pspread.execution.admission import Admission, Batch, Deliveries, deliver
from pspread.execution.answering import SpreaderCache, answer_chunk
from pspread.execution.answers import INVALID, TIMED_OUT, Answers
from pspread.execution.base import Executor, ExecutorStats, WorkerStats

GraphLike = Union[Graph, str, "PathLike[str]"]


class InlineExecutor(Executor):
    """Runs each batch inside ``submit``/``map_batch`` itself; the returned future is already done.

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
        self._adm = Admission(self.model, max_in_flight=1 << 30, queue_size=0)
        self._cache = SpreaderCache(graph, kernel, threads=threads)
        self._cache.define(0, self.model)
        self._cache.get(0)  # a bad kernel name fails here, not on the first query
        self._run_lock = threading.Lock()  # one query at a time, even from several threads
        self._stats = WorkerStats(worker=0, pid=os.getpid())
        self._cpu_s = 0.0  # this process's CPU in the executor (kernel work included; see stats)

    def _model_id(self, model: SpreadModel | None) -> int:
        with self._adm.lock:
            mid = self._adm.model_id_locked(model)
        if model is not None:
            self._cache.define(mid, model)
        return mid

    def _labels(self) -> Callable[[int], str]:
        return self.graph.labels.label

    def _admit(self, batch: Batch) -> None:
        cpu0 = time.thread_time()
        adm = self._adm
        with self._run_lock:
            with adm.lock:
                out: Deliveries = list(adm.admit_locked(batch, time.perf_counter(), True))
                chunk = adm.take_locked(len(batch), out)
            if chunk is not None:
                part = batch.payload(chunk.start, chunk.stop)
                deadline = None if batch.timeout_s is None else float(batch.answers.submitted_at[0]) + batch.timeout_s
                reply = answer_chunk(self._cache, batch.model_id, batch.top_k, part, deadline)
                outcome = reply.outcome
                if deadline is not None:  # a query that ran past its deadline is late, as on a worker
                    late = np.nan_to_num(reply.rows["finished"], nan=np.inf) > deadline
                    outcome = np.where(late, np.int8(TIMED_OUT), outcome).astype(np.int8)
                chunk.worker = 0

                def fill(a: Answers, start: int, stop: int) -> None:
                    reply.fill(a, start, stop)
                    for r in np.flatnonzero(outcome == TIMED_OUT).tolist():
                        a.errors.setdefault(start + r, f"no answer within timeout_s={batch.timeout_s}")

                with adm.lock:
                    out.append(adm.finish_locked(chunk, outcome, fill, time.perf_counter()))
                    st = self._stats
                    answered = int(np.count_nonzero(outcome != TIMED_OUT))
                    st.queries += answered
                    st.errors += int(np.count_nonzero(outcome == INVALID))
                    st.busy_s += reply.busy_s
                    st.kernel_cpu_s += reply.kernel_cpu_s
            self._cpu_s += time.thread_time() - cpu0
        deliver(out)

    def stats(self) -> ExecutorStats:
        import psutil

        with self._adm.lock:
            ws = WorkerStats(**vars(self._stats))
            try:
                ws.rss_bytes = int(psutil.Process().memory_info().rss)
            except psutil.Error:  # pragma: no cover - stats must not fail
                pass
            snap = self._adm.stats_locked([ws])
        snap.parent_cpu_s = self._cpu_s
        return snap

    def pids(self) -> list[int]:
        return [os.getpid()]

    def close(self) -> None:
        with self._adm.lock:
            out = self._adm.cancel_all_locked()
        deliver(out)

    def __repr__(self) -> str:
        return f"InlineExecutor({self.graph!r}, kernel={self._cache.kernel!r})"


__all__ = ["InlineExecutor"]

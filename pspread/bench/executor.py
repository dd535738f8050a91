"""``pspread bench executor``: what the process executor costs, measured in one run.

Every figure comes from the same seeded query set, in interleaved rounds:

* **parent CPU per query** (psutil CPU time of this process ÷ queries) for
  ``map_batch``, for ``map(list[Query])`` and for the load driver's closed
  model at saturation -- the coordination the parent pays;
* **no-op ceiling**: ``map_batch`` throughput of one-seed, one-step queries on
  a 2,000-node graph, where the query work is next to nothing, so the figure is
  the executor's own limit;
* **speedup**: time of the query set on 1 worker ÷ time on W workers;
* **throughput at saturation** ÷ (W × the standalone rate: the same queries
  answered one after another in this process, with no executor);
* **added latency at 50 % load**: per query, end to end minus the worker's own
  compute time, p50 and p99, under an open-model schedule at half the measured
  capacity -- for this executor and for ``concurrent.futures.ProcessPoolExecutor``
  on the same queries at the same rate.

Nothing here asserts a speed: it prints figures (machines here are shared
and noisy; compare the ratios, which are taken within one run).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import psutil

from pspread.engine.model import SpreadModel
from pspread.execution.answering import SpreaderCache, answer_chunk
from pspread.execution.answers import SeedBlock
from pspread.execution.process import ProcessExecutor
from pspread.execution.query import Query


def _cpu() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


@dataclass
class ExecutorFigures:
    """The figures of one ``bench_executor`` run (lists hold one value per round)."""

    graph: str
    queries: int
    workers: int
    parent_us: dict[str, list[float]] = field(default_factory=dict)
    noop_qps: list[float] = field(default_factory=list)
    qps: dict[int, list[float]] = field(default_factory=dict)
    standalone_qps: list[float] = field(default_factory=list)
    added_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def speedup(self) -> list[float]:
        return [w / one for w, one in zip(self.qps.get(self.workers, []), self.qps.get(1, []))]

    def saturation_share(self) -> list[float]:
        return [q / (self.workers * s) for q, s in zip(self.qps.get(self.workers, []), self.standalone_qps)]

    def to_dict(self) -> dict[str, Any]:
        return {"graph": self.graph, "queries": self.queries, "workers": self.workers, "parent_us": self.parent_us,
                "noop_qps": self.noop_qps, "qps": {str(k): v for k, v in self.qps.items()},
                "standalone_qps": self.standalone_qps, "speedup": self.speedup(),
                "saturation_share": self.saturation_share(), "added_ms": self.added_ms, "notes": self.notes}


def bench_executor(graph_path: str, model: SpreadModel, workers: int = 2, queries: int = 4000, seeds: int = 3,
                   rounds: int = 3, kernel: str = "auto", seed: int = 1, latency_s: float = 4.0,
                   progress: Callable[[str], None] = lambda m: None) -> ExecutorFigures:
    """Measure the figures listed in the module docstring; see ``ExecutorFigures``."""
    from pspread.engine.io import load_graph

    graph = load_graph(graph_path)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, graph.num_nodes, size=(queries, seeds))
    fig = ExecutorFigures(graph=graph_path, queries=queries, workers=workers)
    for key in ("map_batch", "map", "driver"):
        fig.parent_us[key] = []
    cache = SpreaderCache(graph, kernel)
    cache.define(0, model)
    block = SeedBlock.of(ids)
    answer_chunk(cache, 0, None, block.slice(0, min(50, queries)))  # compile and fault in before timing
    with ProcessExecutor(graph_path, workers=1, model=model, kernel=kernel) as one, \
            ProcessExecutor(graph_path, workers=workers, model=model, kernel=kernel) as many:
        for ex in (one, many):
            ex.map_batch(ids[: min(200, queries)])
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}: standalone, 1 worker, {workers} workers")
            t0 = time.perf_counter()
            answer_chunk(cache, 0, None, block)
            fig.standalone_qps.append(queries / (time.perf_counter() - t0))
            for ex in (one, many):
                c0, t0 = _cpu(), time.perf_counter()
                ex.map_batch(ids)
                dt, dc = time.perf_counter() - t0, _cpu() - c0
                fig.qps.setdefault(ex.num_workers, []).append(queries / dt)
                if ex is many:
                    fig.parent_us["map_batch"].append(1e6 * dc / queries)
            qs = [Query(seeds=row) for row in ids.tolist()]
            c0 = _cpu()
            many.map(qs)
            fig.parent_us["map"].append(1e6 * (_cpu() - c0) / queries)
            fig.parent_us["driver"].append(_driver_cpu_us(many, graph.num_nodes, queries, seeds, seed + r))
        progress("added latency at 50% load")
        capacity = float(np.median(fig.qps[workers]))
        fig.added_ms["pspread"] = _added_latency(many, ids, capacity / 2, latency_s)
    fig.added_ms["ProcessPoolExecutor"] = _pool_added_latency(graph_path, model, kernel, workers, ids,
                                                             capacity / 2, latency_s)
    progress("no-op ceiling")
    fig.noop_qps = _noop_ceiling(workers, rounds)
    return fig


def _driver_cpu_us(ex: ProcessExecutor, num_nodes: int, queries: int, seeds: int, seed: int) -> float:
    """Parent CPU per query of the load driver's closed model at saturation (driver + recorder + executor)."""
    from pspread.load.driver import Driver
    from pspread.load.recorder import Recorder
    from pspread.load.workload import Workload

    work = Workload(num_nodes, seeds_per_query=seeds, seed=seed, block=queries)
    c0 = _cpu()
    Driver(ex).run_closed(work, Recorder(capacity=queries), clients=4 * ex.num_workers * 32, max_queries=queries)
    return 1e6 * (_cpu() - c0) / queries


def _added_latency(ex: ProcessExecutor, ids: np.ndarray, rate: float, seconds: float) -> dict[str, float]:
    """Open-model run at ``rate``: p50/p99 of end-to-end minus the worker's compute time (ms)."""
    from pspread.load.driver import Driver
    from pspread.load.schedule import ArrivalSchedule
    from pspread.load.workload import Workload

    batches: list[Any] = []
    n = max(1, int(rate * seconds))
    intended = ArrivalSchedule.constant(rate, n / rate).intended_times()[:n]
    source = Workload(int(ids.max()) + 1, seeds_per_query=ids.shape[1], seed=7, block=len(ids))

    class _Keep:  # the driver's recorder, keeping each batch's answers for the figure below
        submitted = completed = late_starts = dropped = 0
        origin = 0.0

        def kind_code(self, kind: str) -> int:
            return 0

        def record_rows(self, intended: Any, submitted: float, answers: Any, start: int, stop: int, k: int) -> None:
            batches.append((answers, start, stop))
            self.completed += stop - start

    keep: Any = _Keep()
    Driver(ex).run_open(source, intended, keep)
    added = np.concatenate([(a.latency_s - a.compute_s)[s:e] for a, s, e in batches]) if batches else np.zeros(1)
    return {"rate_qps": rate, "p50": float(np.percentile(added, 50) * 1e3),
            "p99": float(np.percentile(added, 99) * 1e3)}


_POOL: dict[str, Any] = {}


def _pool_init(graph_path: str, model: SpreadModel, kernel: str) -> None:
    from pspread.engine.io import load_graph
    from pspread.engine.spreader import Spreader

    _POOL["spreader"] = Spreader(load_graph(graph_path), model, kernel=kernel)


def _pool_query(seeds: list[int]) -> tuple[list[int], float, float]:
    t0 = time.perf_counter()
    nodes = _POOL["spreader"].answer_arrays(np.asarray(seeds, dtype=np.int64))[0].tolist()
    return nodes, t0, time.perf_counter()


def _pool_added_latency(graph_path: str, model: SpreadModel, kernel: str, workers: int, ids: np.ndarray,
                        rate: float, seconds: float) -> dict[str, float]:
    """The same open-model schedule against ``ProcessPoolExecutor``, one submit per arrival."""
    n = max(1, int(rate * seconds))
    rows = ids.tolist()
    added: list[float] = []
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                                initargs=(graph_path, model, kernel)) as pool:
        list(pool.map(_pool_query, rows[: 4 * workers]))  # start and warm every worker
        start = time.perf_counter()
        futures = []
        for k in range(n):
            t = start + k / rate
            now = time.perf_counter()
            if now < t:
                time.sleep(t - now)
            sent = time.perf_counter()
            fut = pool.submit(_pool_query, rows[k % len(rows)])
            fut.add_done_callback(lambda f, sent=sent: added.append(
                time.perf_counter() - sent - (f.result()[2] - f.result()[1])))
            futures.append(fut)
        cf.wait(futures)
    arr = np.asarray(added) if added else np.zeros(1)
    return {"rate_qps": rate, "p50": float(np.percentile(arr, 50) * 1e3), "p99": float(np.percentile(arr, 99) * 1e3)}


def _noop_ceiling(workers: int, rounds: int, queries: int = 40_000) -> list[float]:
    """``map_batch`` q/s of one-seed, one-step queries on a generated 2,000-node graph."""
    from pspread.engine.generators import generate_graph
    from pspread.engine.io import save_graph

    folder = tempfile.mkdtemp(prefix="pspread-bench-")
    try:
        path = str(save_graph(generate_graph("barabasi-albert", nodes=2000, degree=5, seed=7),
                              os.path.join(folder, "g")))
        ids = np.random.default_rng(0).integers(0, 2000, size=(queries, 1))
        out = []
        with ProcessExecutor(path, workers=workers, model=SpreadModel(max_steps=1, top_k=1),
                             kernel="frontier") as ex:
            ex.map_batch(ids[:2000])
            for _ in range(rounds):
                t0 = time.perf_counter()
                ex.map_batch(ids)
                out.append(queries / (time.perf_counter() - t0))
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)

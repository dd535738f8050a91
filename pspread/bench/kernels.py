"""``pspread bench kernels``: every kernel on the same queries, side by side.

What it measures, and why each figure exists:

* single-query latency per kernel (median, mean, p99 ms) -- the frontier goal;
* batched throughput per kernel (queries/s with ``spread_batch``) -- batching goal;
* ``reference`` as the sequential baseline (capped: it is plain Python);
* ``dense`` against bare scipy doing the same steps -- the kernel must not add
  overhead around the products;
* ``dense`` with 1 thread vs N threads on one θ = 0 query -- intra-query parallelism;
* the dense step's element-wise half on numpy vs numexpr, at 10^5, 10^6 and
  4x10^6 elements on 1 and N threads, and the whole dense kernel on either path
  -- which path ``auto`` should take at which size.

Ratios are taken within one run on the same queries, so machine noise cancels
as far as it can.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from pspread.engine.graph import Graph
from pspread.engine.kernels import make_kernel
from pspread.engine.kernels.base import SeedSet
from pspread.engine.model import SpreadModel
from pspread.errors import ModelError, PspreadError

#: untimed queries each kernel answers first; three left the first kernel's mean inflated by JIT and page-ins
WARMUP_QUERIES = 20

@dataclass
class KernelFigures:
    kernel: str
    queries: int
    median_ms: float
    mean_ms: float
    p99_ms: float
    batch_qps: float | None = None
    touched_mean: float = 0.0


@dataclass
class KernelBench:
    graph: str
    nodes: int
    arcs: int
    model: dict[str, object]
    seeds_per_query: int
    batch: int
    kernels: list[KernelFigures] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    elementwise: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: the most queries, and seeds per query, one benchmark builds
MAX_BENCH_QUERIES = 1_000_000
MAX_BENCH_SEEDS = 100_000


def make_queries(graph: Graph, count: int, seeds_per_query: int, seed: int) -> list[SeedSet]:
    """``count`` random seed sets of ``seeds_per_query`` distinct nodes (activation 1.0).

    Refuses more than ``MAX_BENCH_QUERIES`` (a typo such as ``--queries 1e12``
    would otherwise loop for hours building them).
    """
    if count > MAX_BENCH_QUERIES or seeds_per_query > MAX_BENCH_SEEDS:
        raise PspreadError(f"{count:,} queries of {seeds_per_query:,} seeds is more than a benchmark takes "
                           f"(at most {MAX_BENCH_QUERIES:,} queries of {MAX_BENCH_SEEDS:,} seeds); ask for fewer")
    rng = np.random.default_rng(seed)
    k = min(seeds_per_query, graph.num_nodes)
    out = []
    for _ in range(count):
        nodes = np.unique(rng.choice(graph.num_nodes, size=k, replace=False)).astype(np.int64)
        out.append(SeedSet(nodes, np.ones(len(nodes), dtype=np.float32)))
    return out


def _time_each(fn: Callable[[SeedSet], object], queries: list[SeedSet]) -> np.ndarray:
    times = np.empty(len(queries))
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        fn(q)
        times[i] = time.perf_counter() - t0
    return times


def bench_kernels(
    graph: Graph,
    model: SpreadModel,
    kernels: list[str],
    queries: int = 200,
    seeds_per_query: int = 3,
    batch: int = 32,
    seed: int = 1,
    reference_budget_s: float = 20.0,
    threads: int = 2,
    progress: Callable[[str], None] | None = None,
) -> KernelBench:
    """Measure each kernel on the same query set; see the module docstring."""
    qs = make_queries(graph, queries, seeds_per_query, seed)
    report = KernelBench(graph.source, graph.num_nodes, graph.num_arcs, model.to_dict(), seeds_per_query, batch)
    say = progress or (lambda _msg: None)
    for name in kernels:
        say(f"kernel {name}")
        try:
            kern = make_kernel(name, graph, model)
        except ModelError as exc:  # e.g. push on a thresholded model: say so and go on
            report.notes.append(f"{name} skipped: {exc}")
            continue
        run_qs = qs
        if name == "reference":
            t0 = time.perf_counter()
            kern.spread(qs[0])
            one = time.perf_counter() - t0
            cap = max(1, min(len(qs), int(reference_budget_s / max(one, 1e-6))))
            if cap < len(qs):
                report.notes.append(f"reference ran on {cap} of {len(qs)} queries (plain Python; time budget)")
            run_qs = qs[:cap]
        else:
            for q in qs[:WARMUP_QUERIES]:
                kern.spread(q)  # warm-up, not timed: compile, page in the graph, fill the buffers
        times = _time_each(kern.spread, run_qs)
        touched = float(np.mean([kern.spread(q).touched for q in run_qs[:20]]))
        fig = KernelFigures(name, len(run_qs), 1e3 * float(np.median(times)), 1e3 * float(times.mean()),
                            1e3 * float(np.percentile(times, 99)), touched_mean=touched)
        if name != "reference" and batch > 1:
            t0 = time.perf_counter()
            for lo in range(0, len(qs), batch):
                kern.spread_batch(qs[lo:lo + batch])
            fig.batch_qps = len(qs) / (time.perf_counter() - t0)
        report.kernels.append(fig)
    by = {k.kernel: k for k in report.kernels}
    if "reference" in by:
        for k in report.kernels:
            if k.kernel != "reference":
                report.ratios[f"{k.kernel}_vs_reference"] = by["reference"].mean_ms / k.mean_ms
    if "dense" in by and model.stop == "converged":
        say("bare scipy baseline")
        bare = _bare_scipy(graph, model)
        sample = qs[: max(3, min(len(qs), 20))]
        bare_times = _time_each(bare, sample)
        dense = make_kernel("dense", graph, model)
        dense_times = _time_each(dense.spread, sample)
        report.ratios["dense_vs_bare_scipy"] = float(np.median(dense_times) / np.median(bare_times))
        if batch > 1:
            block = qs[:batch]
            t0 = time.perf_counter()
            dense.spread_batch(block)
            batched = time.perf_counter() - t0
            t0 = time.perf_counter()
            for q in block:
                dense.spread(q)
            single = time.perf_counter() - t0
            report.ratios[f"dense_batch{len(block)}_vs_single"] = single / batched
        if threads > 1:
            say(f"dense threads 1 vs {threads}")
            wide = model.with_(threshold=0.0)
            one = make_kernel("dense", graph, wide, threads=1)
            many = make_kernel("dense", graph, wide, threads=threads)
            one.spread(qs[0]), many.spread(qs[0])
            t_one = float(np.median(_time_each(one.spread, qs[:5])))
            t_many = float(np.median(_time_each(many.spread, qs[:5])))
            report.ratios[f"dense_threads{threads}_vs_1"] = t_one / t_many
            many.close()
        say("dense element-wise: numpy vs numexpr")
        _compare_elementwise(report, graph, model, qs, threads)
    return report


ELEMENTWISE_SIZES = (100_000, 1_000_000, 4_000_000)


def bench_elementwise(model: SpreadModel, sizes: tuple[int, ...] = ELEMENTWISE_SIZES,
                      threads: tuple[int, ...] = (1, 2), rounds: int = 7, reps: int = 5) -> list[dict[str, float]]:
    """ms of one element-wise half-step (spreading mass + update) per path, size and thread count.

    The two paths alternate within every round, so both see the same machine; the
    figure is the median over rounds of the mean over ``reps`` steps.
    """
    from pspread.engine.kernels.dense import ElementwiseStep

    rng = np.random.default_rng(0)
    out = []
    for size in sizes:
        a = (rng.random((size, 1), dtype=np.float32) * np.float32(4 * model.threshold or 1e-2))
        s = np.zeros_like(a)
        s[:3] = 1.0
        share = np.full((size, 1), 1.0 - model.retention, dtype=np.float32)
        pulled = rng.random((size, 1), dtype=np.float32) * np.float32(1e-3)
        g, b = np.empty_like(a), np.empty_like(a)
        for t in threads:
            steps = {path: ElementwiseStep(path, a, s, share, model, t) for path in ("numpy", "numexpr")}
            times: dict[str, list[float]] = {path: [] for path in steps}
            for _ in range(rounds):
                for path, step in steps.items():
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        step.spreading_mass(a, g)
                        step.update(a, g, pulled, b, suppress=True)
                    times[path].append((time.perf_counter() - t0) / reps)
            med = {path: 1e3 * float(np.median(v)) for path, v in times.items()}
            out.append({"elements": size, "threads": t, "numpy_ms": med["numpy"], "numexpr_ms": med["numexpr"]})
    return out


def _compare_elementwise(report: KernelBench, graph: Graph, model: SpreadModel, qs: list[SeedSet],
                         threads: int) -> None:
    """The element-wise micro-benchmark, and the dense kernel end to end on each path."""
    from pspread.engine.kernels.dense import MAX_BLOCK, DenseKernel

    report.elementwise = bench_elementwise(model, threads=tuple(sorted({1, threads})))
    for row in report.elementwise:
        report.notes.append(f"element-wise step, {row['elements']:,} elements, {row['threads']} thread(s): "
                            f"numpy {row['numpy_ms']:.2f} ms, numexpr {row['numexpr_ms']:.2f} ms")
    block = qs[:MAX_BLOCK]
    for t in sorted({1, threads}):
        kernels = {path: DenseKernel(graph, model, threads=t, elementwise=path) for path in ("numpy", "numexpr")}
        times: dict[str, list[float]] = {path: [] for path in kernels}
        for k in kernels.values():
            k.spread_batch(block)  # warm-up
        for _ in range(3):
            for path, k in kernels.items():
                t0 = time.perf_counter()
                k.spread_batch(block)
                times[path].append(time.perf_counter() - t0)
        for k in kernels.values():
            k.close()
        ratio = float(np.median(times["numpy"]) / np.median(times["numexpr"]))
        report.ratios[f"dense_batch{len(block)}_numexpr_vs_numpy_threads{t}"] = ratio


def _bare_scipy(graph: Graph, model: SpreadModel) -> Callable[[SeedSet], np.ndarray]:
    """The same update written the obvious way with scipy and numpy (the overhead baseline)."""
    indptr, indices, data = graph.transpose_csr
    pt = sp.csr_array((data, indices, indptr), shape=(graph.num_nodes,) * 2)
    r = np.full(graph.num_nodes, model.retention, dtype=np.float32)
    if model.sinks == "keep":
        r[graph.sink_mask] = 1.0

    def run(seeds: SeedSet) -> np.ndarray:
        s = np.zeros(graph.num_nodes, dtype=np.float32)
        s[seeds.nodes] = seeds.values
        a = s.copy()
        for _ in range(model.max_steps):
            g = np.where(a >= model.threshold, a, 0) * (1 - r)
            b = (1 - model.decay) * (a - g + pt @ g) + model.restart * s
            a = b
        return a

    return run

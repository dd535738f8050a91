"""Benchmark of the process executor: scaling, coordination overhead, added latency, memory.

Run it on a graph bundle (a big one, so that queries cost what they cost in production)::

    pspread graph generate barabasi-albert --nodes 1000000 --degree 10 --seed 7 -o /tmp/ba1m
    python benchmarks/bench_executor.py --graph /tmp/ba1m --queries 2000 --workers 1,2

Every figure is measured in this one run, on the same query set (seeded):

* standalone kernel rate: the queries answered one after another in this
  process, no executor -- the ceiling a worker can reach;
* speedup: time of the query set with 1 worker / time with W workers;
* throughput at saturation vs the sum of the workers' standalone rates;
* coordination overhead: CPU time of the parent / CPU time of parent + workers
  over the saturated run (psutil ``cpu_times``);
* added latency (``completed_at - submitted_at - compute_s``) p50/p99 at about
  50 % load, against ``concurrent.futures.ProcessPoolExecutor`` running the
  same queries at the same rate;
* memory: total PSS of the workers vs the bundle's size, and PSS, private
  (USS) and anonymous memory before and after ``--memory-queries`` more queries.

Each round also prints how many cores the workers were busy: on a shared machine
a round where W workers got fewer than W cores measures the neighbours, not the
executor, which is why medians and best rounds are both reported.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def make_queries(num_nodes: int, count: int, seeds: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_nodes, size=(count, seeds)).tolist()


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1e3) if values else float("nan")


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def bundle_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


def workers_pss(pids: list[int]) -> int:
    return sum(psutil.Process(p).memory_full_info().pss for p in pids)


def workers_uss(pids: list[int]) -> int:
    """Memory only the workers map (includes graph pages touched by one worker alone)."""
    return sum(psutil.Process(p).memory_full_info().uss for p in pids)


def workers_anon(pids: list[int]) -> int:
    """Anonymous memory of the workers (heap, kernel buffers): what a leak would grow.

    Read from ``/proc/PID/smaps_rollup`` (Linux); 0 where it is not available.
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Anonymous:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            return 0
    return total


# ------------------------------------------------------------------ standalone
def standalone_rate(spreader: Any, queries: list[list[int]], top_k: int) -> float:
    """Queries per second of one kernel in this process, no executor -- what one worker can reach."""
    t0 = time.perf_counter()
    for q in queries:
        spreader.query(q, top_k=top_k)
    return len(queries) / (time.perf_counter() - t0)


# ------------------------------------------------------------------ saturation
def saturated_run(ex: Any, queries: list[list[int]], top_k: int) -> dict[str, float]:
    """All queries as fast as admission allows; wall time and CPU of parent and workers."""
    from pspread import Query

    qs = [Query(seeds=s, top_k=top_k) for s in queries]
    ex.map(qs[:20])  # warm every worker
    me = psutil.Process()
    workers = [psutil.Process(p) for p in ex.pids()]
    p0, w0 = cpu_s(me), [cpu_s(w) for w in workers]
    t0 = time.perf_counter()
    results = ex.map(qs)
    wall = time.perf_counter() - t0
    p1, w1 = cpu_s(me), [cpu_s(w) for w in workers]
    bad = sum(not r.ok for r in results)
    parent = p1 - p0
    wcpu = sum(b - a for a, b in zip(w0, w1))
    return {"wall_s": wall, "qps": len(qs) / wall, "parent_cpu_s": parent, "workers_cpu_s": wcpu,
            "overhead": parent / (parent + wcpu) if parent + wcpu > 0 else float("nan"), "failed": bad}


# ------------------------------------------------------------ latency at a rate
def paced(rate: float, count: int, submit: Any) -> None:
    """Submit ``count`` queries at a constant ``rate`` (open model: never waits for answers)."""
    t0 = time.perf_counter()
    for i in range(count):
        target = t0 + i / rate
        while True:
            now = time.perf_counter()
            if now >= target:
                break
            time.sleep(min(target - now, 0.002))
        submit(i)


def executor_latency(ex: Any, queries: list[list[int]], top_k: int, rate: float) -> dict[str, float]:
    from pspread import Query

    added: list[float] = []
    done = threading.Semaphore(0)

    def on_done(r: Any) -> None:
        if r.ok:
            added.append(r.completed_at - r.submitted_at - r.compute_s)
        done.release()

    qs = [Query(seeds=s, top_k=top_k) for s in queries]
    paced(rate, len(qs), lambda i: ex.submit(qs[i], callback=on_done))
    for _ in qs:
        done.acquire()
    return {"p50_ms": percentile_ms(added, 50), "p99_ms": percentile_ms(added, 99), "n": len(added)}


_POOL_SPREADER: Any = None


def _pool_init(graph_path: str, model: Any, kernel: str) -> None:
    global _POOL_SPREADER
    import pspread

    _POOL_SPREADER = pspread.Spreader(pspread.load_graph(graph_path), model, kernel=kernel, threads=1)
    _POOL_SPREADER.query([0])


def _pool_task(seeds: list[int], top_k: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    res = _POOL_SPREADER.query(seeds, top_k=top_k)
    return res.top, time.perf_counter() - t0


def pool_latency(pool: cf.ProcessPoolExecutor, queries: list[list[int]], top_k: int,
                 rate: float) -> dict[str, float]:
    """The same queries at the same rate through ``ProcessPoolExecutor`` (one task per query)."""
    added: list[float] = []
    done = threading.Semaphore(0)

    def submit(i: int) -> None:
        t_sub = time.perf_counter()

        def cb(f: cf.Future) -> None:
            _, compute = f.result()
            added.append(time.perf_counter() - t_sub - compute)
            done.release()

        pool.submit(_pool_task, queries[i], top_k).add_done_callback(cb)

    paced(rate, len(queries), submit)
    for _ in queries:
        done.acquire()
    return {"p50_ms": percentile_ms(added, 50), "p99_ms": percentile_ms(added, 99), "n": len(added)}


def open_pool(graph_path: str, model: Any, kernel: str, workers: int, warm: list[int]) -> cf.ProcessPoolExecutor:
    pool = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                                  initargs=(graph_path, model, kernel))
    list(pool.map(_pool_task, [warm] * (workers * 4), [10] * (workers * 4)))  # start and warm every process
    return pool


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


# ----------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--graph", required=True, help="graph bundle folder")
    ap.add_argument("--queries", type=int, default=2000, help="queries in the fixed query set")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds (1 worker, W workers, ...); medians are reported, so a "
                         "burst of noise on a shared machine does not decide the figures")
    ap.add_argument("--kernel", default="auto")
    ap.add_argument("--preset", default="threshold")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per query")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--load", type=float, default=0.5, help="share of saturation throughput for the latency run")
    ap.add_argument("--latency-queries", type=int, default=400, help="queries per latency round")
    ap.add_argument("--memory-queries", type=int, default=20000, help="queries between the two PSS readings")
    ap.add_argument("--max-in-flight", type=int, default=256)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    for k in THREAD_ENV:
        os.environ.setdefault(k, "1")
    import pspread

    model = pspread.SpreadModel.preset(args.preset)
    graph = pspread.load_graph(args.graph)
    counts = sorted({int(w) for w in args.workers.split(",")})
    wmax = max(counts)
    queries = make_queries(graph.num_nodes, args.queries, args.seeds, seed=7)
    spreader = pspread.Spreader(graph, model, kernel=args.kernel, threads=1)
    spreader.query(queries[0])
    size = bundle_bytes(args.graph)
    out: dict[str, Any] = {"graph": args.graph, "bundle_bytes": size, "queries": args.queries,
                           "kernel": args.kernel, "preset": args.preset, "cores": os.cpu_count(),
                           "rounds": args.rounds, "workers": {}}
    print(f"graph {args.graph}: {size / 2**20:.0f} MiB bundle; {args.queries} queries x {args.rounds} rounds, "
          f"{args.seeds} seeds, kernel {args.kernel}, preset {args.preset}, {os.cpu_count()} cores", flush=True)

    executors = {w: pspread.ProcessExecutor(args.graph, workers=w, model=model, kernel=args.kernel,
                                            max_in_flight=args.max_in_flight) for w in counts}
    pool = None
    try:
        runs: dict[int, list[dict[str, float]]] = {w: [] for w in counts}
        alone: list[float] = []
        for r in range(args.rounds):
            alone.append(standalone_rate(spreader, queries, args.top_k))
            line = [f"round {r + 1}: standalone {alone[-1]:.1f} q/s"]
            for w in counts:
                sat = saturated_run(executors[w], queries, args.top_k)
                sat["share_of_standalone_sum"] = sat["qps"] / (w * alone[-1])
                runs[w].append(sat)
                sat["worker_cores"] = sat["workers_cpu_s"] / sat["wall_s"]
                line.append(f"{w}w {sat['qps']:.1f} q/s ovh {sat['overhead']:.2%} "
                            f"busy {sat['worker_cores']:.2f} cores")
            if 1 in runs and wmax > 1:
                line.append(f"speedup {runs[1][-1]['wall_s'] / runs[wmax][-1]['wall_s']:.2f}")
            print("; ".join(line), flush=True)
        rate1 = median(alone)
        out["standalone_qps"] = {"median": rate1, "rounds": alone}
        for w in counts:
            qps = median([x["qps"] for x in runs[w]])
            ovh = median([x["overhead"] for x in runs[w]])
            share = median([x["share_of_standalone_sum"] for x in runs[w]])
            out["workers"][w] = {"qps": qps, "overhead": ovh, "share_of_standalone_sum": share, "rounds": runs[w],
                                 "per_worker_queries": [x.queries for x in executors[w].stats().workers]}
            out["workers"][w]["overhead_min"] = min(x["overhead"] for x in runs[w])
            out["workers"][w]["share_max"] = max(x["share_of_standalone_sum"] for x in runs[w])
            print(f"workers={w}: {qps:.1f} q/s at saturation = {share:.1%} of {w} x standalone ({rate1:.1f} q/s), "
                  f"best round {out['workers'][w]['share_max']:.1%}; coordination overhead {ovh:.2%} of all CPU, "
                  f"best round {out['workers'][w]['overhead_min']:.2%} (medians)", flush=True)
            if w > 1 and 1 in runs:
                ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[1], runs[w])]
                out["workers"][w]["speedup"] = {"median": median(ratios), "best": max(ratios), "rounds": ratios}
                note = "" if w <= (os.cpu_count() or 1) else f" (SKIPPED as a target: {w} workers > cores)"
                print(f"speedup {w} vs 1 worker: median {median(ratios):.2f}, best {max(ratios):.2f} "
                      f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}){note}", flush=True)

        # ---- added latency at ~50 % load, against ProcessPoolExecutor, interleaved
        rate = args.load * out["workers"][wmax]["qps"]
        lat_q = queries[: args.latency_queries]
        pool = open_pool(args.graph, model, args.kernel, wmax, queries[0])
        mine, theirs = [], []
        for r in range(args.rounds * 3):  # short alternating rounds: both sides see the same noise
            mine.append(executor_latency(executors[wmax], lat_q, args.top_k, rate))
            theirs.append(pool_latency(pool, lat_q, args.top_k, rate))
            print(f"latency round {r + 1} at {rate:.0f} q/s: executor p50 {mine[-1]['p50_ms']:.3f} p99 "
                  f"{mine[-1]['p99_ms']:.3f} ms; ProcessPoolExecutor p50 {theirs[-1]['p50_ms']:.3f} "
                  f"p99 {theirs[-1]['p99_ms']:.3f} ms", flush=True)
        lat = {k: median([m[k] for m in mine]) for k in ("p50_ms", "p99_ms")}
        plat = {k: median([m[k] for m in theirs]) for k in ("p50_ms", "p99_ms")}
        out["latency"] = {"rate_qps": rate, "executor": lat, "process_pool": plat,
                          "p99_ratio_vs_pool": lat["p99_ms"] / plat["p99_ms"],
                          "p50_ratio_vs_pool": lat["p50_ms"] / plat["p50_ms"]}
        print(f"added latency at {rate:.0f} q/s ({args.load:.0%} load), medians of rounds: executor p50 "
              f"{lat['p50_ms']:.3f} ms p99 {lat['p99_ms']:.3f} ms; ProcessPoolExecutor p50 {plat['p50_ms']:.3f} ms "
              f"p99 {plat['p99_ms']:.3f} ms; ratio p50 {lat['p50_ms'] / plat['p50_ms']:.2f}, "
              f"p99 {lat['p99_ms'] / plat['p99_ms']:.2f}", flush=True)
        pool.shutdown()
        pool = None

        # ---- memory: PSS of the W workers vs the bundle, before and after many queries
        ex = executors[wmax]
        pids = list(ex.pids())
        pss0, uss0, anon0 = workers_pss(pids), workers_uss(pids), workers_anon(pids)
        t0 = time.perf_counter()
        reps = max(1, (args.memory_queries + len(queries) - 1) // len(queries))
        for _ in range(reps):
            ex.map([pspread.Query(seeds=s, top_k=args.top_k) for s in queries])
        pss1, uss1, anon1 = workers_pss(pids), workers_uss(pids), workers_anon(pids)
        out["memory"] = {"pss_before": pss0, "pss_after": pss1, "uss_before": uss0, "uss_after": uss1,
                         "anon_before": anon0, "anon_after": anon1,
                         "queries_between": reps * len(queries),
                         "seconds": time.perf_counter() - t0, "change": pss1 / pss0 - 1,
                         "budget_bytes": size + wmax * 100 * 2**20}
        print(f"memory: {wmax} workers' PSS {pss0 / 2**20:.0f} MiB = bundle {size / 2**20:.0f} MiB "
              f"{(pss0 - size) / 2**20:+.0f} MiB (budget bundle + {wmax} x 100 MiB); after "
              f"{reps * len(queries)} more queries {pss1 / 2**20:.0f} MiB ({pss1 / pss0 - 1:+.2%}); private (USS) "
              f"{uss0 / 2**20:.0f} -> {uss1 / 2**20:.0f} MiB ({uss1 / uss0 - 1:+.2%}); anonymous (heap, buffers) "
              f"{anon0 / 2**20:.0f} -> {anon1 / 2**20:.0f} MiB", flush=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        for ex in executors.values():
            ex.close()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

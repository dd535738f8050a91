"""Benchmark of the Dask executor against the process executor, on the same queries in one run.

Run it on a graph bundle::

    pspread graph generate barabasi-albert --nodes 1000000 --degree 10 --seed 7 -o /tmp/ba1m
    python benchmarks/bench_dask.py --graph /tmp/ba1m --workers 2 --batch-sizes 1,8,32

For each batch size (queries per message to a worker) and for the process
executor with the same workers, model and query set, in interleaved rounds
(medians reported, so a busy neighbour on the machine hits every executor alike):

* saturated throughput: the whole query set through ``map`` (admission-paced),
  queries per second;
* sustained runs: open-loop arrival rates (``--rates``, default 400 and 800 q/s) held
  for ``--seconds``; answered q/s and latency p50/p99 measured from each
  query's *intended* start (no coordinated omission), errors counted;
* the Dask executor's start (local cluster up; and ready, graph opened on every
  worker) and stop times.

The ratio columns are Dask ÷ process on the same figures.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

import numpy as np


def make_queries(num_nodes: int, count: int, seeds: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_nodes, size=(count, seeds)).tolist()


def saturated(ex: Any, queries: list[list[int]], top_k: int) -> float:
    """Queries per second of the whole set through ``map``."""
    from pspread import Query

    qs = [Query(seeds=s, top_k=top_k) for s in queries]
    t0 = time.perf_counter()
    results = ex.map(qs, timeout_s=600)
    dt = time.perf_counter() - t0
    bad = sum(not r.ok for r in results)
    if bad:
        print(f"  warning: {bad} of {len(results)} queries not OK in the saturated run")
    return len(qs) / dt


def sustained(ex: Any, queries: list[list[int]], top_k: int, rate: float, seconds: float) -> dict[str, float]:
    """An open-loop arrival rate for ``seconds``: answered q/s, p50/p99 from the intended start, errors."""
    from pspread import Query

    n = int(rate * seconds)
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    done = threading.Event()
    finished = [0]

    def on_done(intended: float, r: Any) -> None:
        with lock:
            if r.ok:
                lat.append(r.completed_at - intended)
            else:
                errors[0] += 1
            finished[0] += 1
            if finished[0] == n:
                done.set()

    start = time.perf_counter() + 0.05
    for i in range(n):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ex.submit(Query(seeds=queries[i % len(queries)], top_k=top_k),
                  callback=lambda r, t=intended: on_done(t, r))
    done.wait(120)
    wall = time.perf_counter() - start
    arr = np.asarray(lat) * 1e3
    return {"offered_qps": rate, "answered_qps": len(lat) / wall, "errors": float(errors[0]),
            "p50_ms": float(np.percentile(arr, 50)) if len(arr) else float("nan"),
            "p99_ms": float(np.percentile(arr, 99)) if len(arr) else float("nan")}


def measure(ex: Any, queries: list[list[int]], args: argparse.Namespace) -> dict[str, float]:
    from pspread import Query

    ex.map([Query(seeds=s, top_k=args.top_k) for s in queries[:50]])  # warm every worker
    out: dict[str, Any] = {"saturated_qps": saturated(ex, queries, args.top_k)}
    for rate in args.rates:
        out[f"at_{rate:g}"] = sustained(ex, queries, args.top_k, rate, args.seconds)
    return out


def sustained_line(run: dict[str, Any], rates: list[float]) -> str:
    parts = []
    for rate in rates:
        s = run[f"at_{rate:g}"]
        parts.append(f"at {rate:.0f} q/s offered {s['answered_qps']:.0f} answered, p50 {s['p50_ms']:.1f} ms, "
                     f"p99 {s['p99_ms']:.1f} ms, errors {s['errors']:.0f}")
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True, help="graph bundle folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,8,32")
    ap.add_argument("--queries", type=int, default=3000, help="queries in the saturated run")
    ap.add_argument("--rates", default="400,800", help="offered rates of the sustained runs, q/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the sustained run")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per query")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--preset", default="threshold")
    ap.add_argument("--kernel", default="auto")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]

    import pspread
    from pspread import DaskExecutor, ProcessExecutor, SpreadModel

    model = SpreadModel.preset(args.preset)
    graph = pspread.load_graph(args.graph)
    queries = make_queries(graph.num_nodes, args.queries, args.seeds, seed=11)
    del graph
    sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    figures: dict[str, Any] = {"workers": args.workers, "seeds": args.seeds, "rates": args.rates,
                               "rounds": args.rounds, "runs": {}, "lifecycle": []}

    # start and stop of the Dask executor alone (cluster up; graph opened and warm on every worker)
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        ex = DaskExecutor(args.graph, workers=args.workers, model=model, kernel=args.kernel)
        ready_s = time.perf_counter() - t0
        ex.close()
        figures["lifecycle"].append({"cluster_start_s": ex.start_s, "ready_s": ready_s, "stop_s": ex.stop_s})
    life = {k: float(np.median([x[k] for x in figures["lifecycle"]])) for k in figures["lifecycle"][0]}
    print(f"dask lifecycle (median of {args.rounds}): cluster start {life['cluster_start_s']:.2f} s, "
          f"ready {life['ready_s']:.2f} s, stop {life['stop_s']:.2f} s")

    # the executors side by side; rounds interleave them so a noisy neighbour hits all alike
    rounds: dict[str, list[dict[str, Any]]] = {"process": [], **{f"dask-batch-{b}": [] for b in sizes}}
    with ProcessExecutor(args.graph, workers=args.workers, model=model, kernel=args.kernel) as pex, \
            DaskExecutor(args.graph, workers=args.workers, model=model, kernel=args.kernel) as dex:
        for r in range(args.rounds):
            rounds["process"].append(measure(pex, queries, args))
            for b in sizes:
                dex.batch_size = b
                rounds[f"dask-batch-{b}"].append(measure(dex, queries, args))
            print(f"round {r + 1} of {args.rounds} done")
    for name, runs in rounds.items():
        med: dict[str, Any] = {"saturated_qps": float(np.median([x["saturated_qps"] for x in runs]))}
        for rate in args.rates:
            key = f"at_{rate:g}"
            med[key] = {k: float(np.median([x[key][k] for x in runs])) for k in runs[0][key]}
        figures["runs"][name] = med
    base = figures["runs"]["process"]
    print(f"medians of {args.rounds} rounds; latency from the intended start")
    for name, run in figures["runs"].items():
        run["ratio_saturated"] = run["saturated_qps"] / base["saturated_qps"]
        print(f"{name:>13}: {run['saturated_qps']:.0f} q/s saturated ({run['ratio_saturated']:.2f}x process); "
              f"{sustained_line(run, args.rates)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()

"""The Dask executor against the process executor at saturation, on the same queries in one run.

    python -m pspread.bench.dask --graph ba1m --queries 4000 --rounds 3

Both executors run with their default settings and the same workers, model
and query set (``--seeds`` random seed ids per query).  Each round sends the
whole set through ``map_batch`` -- which keeps the executor as full as its
admission allows, so this is saturated throughput -- once per executor, the
executors taking turns so a busy neighbour on the machine hits both alike.
Printed per round: queries per second of each and the ratio Dask ÷ process,
plus CPU seconds per 1000 queries in this process: what the executor counts as
its own (``stats().parent_cpu_s``) and the whole process (``process_time``:
for a local Dask cluster that includes its scheduler and nannies, which run on
the client's loop here); then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence, TextIO

import numpy as np


def make_queries(num_nodes: int, count: int, seeds: int, seed: int) -> np.ndarray:
    """``count`` queries of ``seeds`` random node ids each, as a (count, seeds) array."""
    return np.random.default_rng(seed).integers(0, num_nodes, size=(count, seeds))


def saturated(ex: Any, queries: np.ndarray, top_k: int, out: TextIO) -> tuple[float, float, float]:
    """Queries per second of the whole set through ``map_batch``; executor and process CPU s per 1000 queries."""
    cpu0 = ex.stats().parent_cpu_s
    proc0 = time.process_time()
    t0 = time.perf_counter()
    ans = ex.map_batch(queries, top_k=top_k, wait_s=600)
    dt = time.perf_counter() - t0
    proc = time.process_time() - proc0
    bad = len(ans) - int(ans.ok.sum())
    if bad:
        out.write(f"  warning: {bad} of {len(ans)} queries not OK: {ans.counts()}\n")
    per = 1000.0 / len(ans)
    return len(ans) / dt, (ex.stats().parent_cpu_s - cpu0) * per, proc * per


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> dict[str, Any]:
    """Run the comparison; lines go to ``out`` (stdout) as they are measured; returns the figures."""
    out = out or sys.stdout
    ap = argparse.ArgumentParser(prog="python -m pspread.bench.dask", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True, help="graph bundle folder")
    ap.add_argument("--queries", type=int, default=4000, help="queries per round and executor")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per query")
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--preset", default="threshold")
    ap.add_argument("--kernel", default="auto")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    from pspread.engine.io import load_graph
    from pspread.engine.model import SpreadModel
    from pspread.execution.dask import DaskExecutor
    from pspread.execution.process import ProcessExecutor

    model = SpreadModel.preset(args.preset)
    queries = make_queries(load_graph(args.graph).num_nodes, args.queries, args.seeds, seed=11)
    runs: dict[str, list[tuple[float, float, float]]] = {"process": [], "dask": []}
    load = os.getloadavg()
    out.write(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    with ProcessExecutor(args.graph, workers=args.workers, model=model, kernel=args.kernel) as pex, \
            DaskExecutor(args.graph, workers=args.workers, model=model, kernel=args.kernel) as dex:
        executors = {"process": pex, "dask": dex}
        for ex in executors.values():  # warm every worker (compiled code, page cache)
            ex.map_batch(queries[:200], top_k=args.top_k, wait_s=600)
        for r in range(args.rounds):
            order = list(executors) if r % 2 == 0 else list(reversed(executors))
            for name in order:
                runs[name].append(saturated(executors[name], queries, args.top_k, out))
            p, d = runs["process"][-1], runs["dask"][-1]
            out.write(f"round {r + 1}: process {p[0]:.0f} q/s, dask {d[0]:.0f} q/s, ratio {d[0] / p[0]:.2f}x; "
                      f"CPU s per 1000 queries, executor's own / whole process: process {p[1]:.3f} / {p[2]:.3f}, "
                      f"dask {d[1]:.3f} / {d[2]:.3f}\n")
            out.flush()
    med = {name: float(np.median([x[0] for x in xs])) for name, xs in runs.items()}
    cpu = {name: float(np.median([x[1] for x in xs])) for name, xs in runs.items()}
    proc = {name: float(np.median([x[2] for x in xs])) for name, xs in runs.items()}
    ratio = float(np.median([d[0] / p[0] for p, d in zip(runs["process"], runs["dask"])]))
    load = os.getloadavg()
    out.write(f"median of {args.rounds} rounds: process {med['process']:.0f} q/s, dask {med['dask']:.0f} q/s, "
              f"ratio {ratio:.2f}x (median of per-round ratios); load average after: {load[0]:.2f}\n")
    figures = {"workers": args.workers, "queries": args.queries, "seeds": args.seeds, "rounds": args.rounds,
               "qps": {k: [x[0] for x in v] for k, v in runs.items()}, "median_qps": med,
               "parent_cpu_s_per_1000": cpu, "process_cpu_s_per_1000": proc, "ratio": ratio}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    return figures


if __name__ == "__main__":
    main()

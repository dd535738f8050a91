"""Refresh the README's "Measured here" table from benchmark runs on this machine.

    python scripts/refresh_figures.py                   # 1M-node graph, rewrites README.md
    python scripts/refresh_figures.py --nodes 200000 --print   # smaller, print the table only

It generates the benchmark graph in a temporary folder, runs the same
``pspread`` commands a reader would (each row's last column), reads their
``--json -`` output, and rewrites the table between ``<!-- figures:start -->``
and ``<!-- figures:end -->``.  Every row names the machine it ran on (CPU
model, cores, memory) and the date, so a figure is never read without its
context, with the 1-minute load average before and after it was measured (a
load above the core count means other work shared the cores).  Run it on a
quiet machine, one benchmark at a time (on a shared machine:
``flock /tmp/pspread-bench.lock python scripts/refresh_figures.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


@dataclass
class Row:
    """One line of the table: what was measured, the figure, and the command that measured it."""

    what: str
    figure: str
    command: str
    load: str = ""  # the 1-minute load average before and after the measurement, e.g. "load 0.4-1.1"


def machine() -> str:
    """``AMD EPYC, 2 cores, 23.5 GiB``: what every figure was measured on."""
    from pspread.metrics.system import cpu_model, logical_cores, memory_total_mb, physical_cores

    cores, logical = physical_cores(), logical_cores()
    threads = f" ({logical} logical)" if logical and cores and logical != cores else ""
    memory = memory_total_mb()
    mem = f", {memory / 1024:.1f} GiB" if memory else ""
    return f"{cpu_model() or 'unknown CPU'}, {cores or logical or '?'} cores{threads}{mem}"


def render(rows: Sequence[Row], where: str, when: str) -> str:
    """The Markdown table (a machine column on every row)."""
    lines = ["| what | figure | machine | command |", "|---|---|---|---|"]
    for row in rows:
        load = f", {row.load}" if row.load else ""
        lines.append(f"| {row.what} | {row.figure} | {where}, {when}{load} | `{row.command}` |")
    return "\n".join(lines)


def replace_table(text: str, table: str) -> str:
    """``text`` with everything between the figure markers replaced by ``table``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"the README must hold {START} ... {END} exactly once, in that order")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``a-b (median m)`` over rounds, or one value."""
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(min(values))}-{fmt.format(max(values))} (median {fmt.format(statistics.median(values))})"


def cli(args: Sequence[str], env: Optional[dict[str, str]] = None) -> tuple[int, str]:
    """Run ``pspread ARGS`` with this interpreter; its exit code and stdout (stderr passes through)."""
    done = subprocess.run([sys.executable, "-m", "pspread", *args], text=True, stdout=subprocess.PIPE,
                          env=env, check=False)
    return done.returncode, done.stdout


def cli_json(args: Sequence[str]) -> dict[str, Any]:
    code, out = cli([*args, "--json", "-"])
    if code != 0:
        raise SystemExit(f"pspread {' '.join(args)} exited {code}")
    data: dict[str, Any] = json.loads(out)
    return data


def kernel_rows(graph: str, label: str, queries: int) -> list[Row]:
    data = cli_json(["bench", "kernels", graph, "--kernels", "frontier,auto", "--queries", str(queries)])
    parts = [f"{k['kernel']}: median {k['median_ms']:.2f} ms, p99 {k['p99_ms']:.2f} ms, batched "
             f"{k['batch_qps']:,.0f} q/s on one core" for k in data["kernels"] if k.get("batch_qps")]
    return [Row(f"one query, {label}", "; ".join(parts),
                f"pspread bench kernels GRAPH --kernels frontier,auto --queries {queries}")]


def executor_rows(graph: str, label: str, workers: int, queries: int, rounds: int) -> list[Row]:
    data = cli_json(["bench", "executor", graph, "--workers", str(workers), "--queries", str(queries),
                     "--rounds", str(rounds)])
    command = f"pspread bench executor GRAPH --workers {workers} --queries {queries} --rounds {rounds}"
    share = [100 * v for v in data["saturation_share"]]
    us = data["parent_us"]
    added = data["added_ms"]
    latency = "; ".join(f"{name} p50 {v['p50']:.2f} ms, p99 {v['p99']:.2f} ms" for name, v in added.items())
    return [
        Row(f"process executor, {workers} workers vs 1, {label}",
            f"speedup {spread(data['speedup'])}; throughput {spread(share, '{:.0f}')}% of {workers} × the "
            "standalone kernel", command),
        Row(f"parent CPU per query, {label}",
            f"map_batch {spread(us['map_batch'], '{:.1f}')} µs; map(list[Query]) {spread(us['map'], '{:.1f}')} µs; "
            f"load driver at saturation {spread(us['driver'], '{:.1f}')} µs", command),
        Row(f"no-op ceiling (one-step queries, 2,000 nodes, {workers} workers)",
            f"{spread(data['noop_qps'], '{:,.0f}')} q/s", command),
        Row(f"added latency at 50% load (end to end minus compute), {label}", latency, command),
    ]


def driver_rows() -> list[Row]:
    data = cli_json(["bench", "driver"])
    return [Row("load driver against a no-op executor",
                f"asked {data['open_rate_asked']:,.0f}/s, sustained {data['open_rate_sustained']:,.0f}/s, "
                f"{data['cpu_us_per_arrival']:.1f} µs CPU per arrival; closed model "
                f"{data['closed_rate']:,.0f} q/s", "pspread bench driver")]


def scenario_rows(name: str, work: Path) -> list[Row]:
    out = work / f"{name}.json"
    code, _ = cli(["run", name, "--plain", "--json", str(out), "--results-dir", str(work / "results")])
    data = json.loads(out.read_text()) if out.is_file() else {}
    gates = []
    for gate in data.get("thresholds", []):
        observed = gate.get("observed")
        value = "" if observed is None else f" {observed:.4g}"
        status = str(gate.get("status", "?")).upper()
        reason = f" ({gate['reason']})" if status == "SKIPPED" and gate.get("reason") else ""
        gates.append(f"{gate.get('metric')} {gate.get('threshold')}: {status}{value}{reason}")
    return [Row(f"scenario {name}", f"exit {code}: " + ("; ".join(gates) or "no gates recorded"),
                f"pspread run {name}")]


#: one open of a bundle, timed after the imports (a fresh process: no verdict in memory, maybe one on disk)
_LOAD = ("import sys, time\nfrom pspread.engine.io import load_graph\nt = time.perf_counter()\n"
         "load_graph(sys.argv[1])\nprint(time.perf_counter() - t)\n")


def load_rows(graph: str, label: str, work: Path) -> list[Row]:
    env = dict(os.environ, PSPREAD_VERDICT_CACHE=str(work / "verdicts"))
    times = [float(subprocess.run([sys.executable, "-c", _LOAD, graph], text=True, capture_output=True, env=env,
                                  check=True).stdout) for _ in range(3)]
    return [Row(f"open a bundle, {label}",
                f"first open (full check) {times[0]:.2f} s; with the cached verdict {min(times[1:]):.3f} s",
                "pspread.load_graph(BUNDLE)")]


def collect(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> list[Row]:
    """Generate the graph and run every benchmark; the table's rows in order."""
    graph = str(work / "graph")
    code, _ = cli(["graph", "generate", "barabasi-albert", "--nodes", str(args.nodes), "--degree",
                   str(args.degree), "--seed", "7", "-o", graph])
    if code != 0:
        raise SystemExit("could not generate the benchmark graph")
    label = f"BA {args.nodes:,} nodes, degree {args.degree}"
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("kernels", lambda: kernel_rows(graph, label, args.queries)),
        ("executor", lambda: executor_rows(graph, label, args.workers, args.executor_queries, args.rounds)),
        ("driver", driver_rows),
        ("bundle load", lambda: load_rows(graph, label, work)),
    ]
    if not args.skip_scenario:
        steps.append((args.scenario, lambda: scenario_rows(args.scenario, work)))
    for name, step in steps:
        say(f"measuring: {name}")
        before = _load()
        measured = step()
        span = "-".join(dict.fromkeys(f"{v:.1f}" for v in sorted((before, _load()))))
        for row in measured:
            row.load = f"load {span}"
        rows += measured
    return rows


def _load() -> float:
    """The 1-minute load average (how busy the machine was: above the core count, figures suffer)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return float("nan")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="nodes of the BA benchmark graph")
    parser.add_argument("--degree", type=int, default=10, help="edges per new node of the BA graph")
    parser.add_argument("--queries", type=int, default=200, help="queries of the kernel benchmark")
    parser.add_argument("--executor-queries", type=int, default=3000, help="queries of the executor benchmark")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the executor benchmark")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the executor benchmark")
    parser.add_argument("--scenario", default="seed-targets", help="the shipped scenario to run and report")
    parser.add_argument("--skip-scenario", action="store_true", help="leave the scenario run out")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="the file whose table to rewrite")
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pspread-figures-") as tmp:
        rows = collect(args, Path(tmp), lambda m: print(m, file=sys.stderr))
    table = render(rows, machine(), dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"))
    if args.print_only:
        print(table)
    else:
        args.readme.write_text(replace_table(args.readme.read_text(encoding="utf-8"), table), encoding="utf-8")
        print(f"rewrote the figures table of {args.readme} ({len(rows)} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

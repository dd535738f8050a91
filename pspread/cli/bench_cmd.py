"""``pspread bench``: micro-benchmarks that print figures (never pass/fail)."""

from __future__ import annotations

import json
from typing import List, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from typing_extensions import Annotated

from pspread.bench.kernels import bench_kernels
from pspread.cli.model_options import build_model
from pspread.cli.options import (
    DurationOpt,
    ExcludeSeedsOpt,
    GraphArg,
    JsonOpt,
    Kernel,
    KernelOpt,
    Preset,
    PresetOpt,
    QueriesOpt,
    RateOpt,
    RoundsOpt,
    SeedOpt,
    SeedsPerQueryOpt,
    SetOpt,
    UsageError,
    epilog,
    is_stdout,
    parse_duration_option,
    write_output,
)
from pspread.engine.io import load_graph
from pspread.engine.kernels import KERNELS
from pspread.errors import ModelError

bench_app = typer.Typer(name="bench", no_args_is_help=True, help="Micro-benchmarks of kernels and executors.")


_KERNELS_EPILOG = epilog([
    "pspread bench kernels ba1m --queries 200",
    "pspread bench kernels karate --kernels frontier,dense,reference --json kernels.json",
])


@bench_app.command("kernels", epilog=_KERNELS_EPILOG)
def kernels_cmd(
    graph: GraphArg,
    queries: QueriesOpt = 200,
    kernels: Annotated[str, typer.Option(
        metavar="KERNEL[,KERNEL...]", help="Kernels to compare, comma-separated: "
        f"{', '.join(k.value for k in Kernel)}.")] = "frontier,dense,auto",
    preset: PresetOpt = Preset.threshold,
    set_: SetOpt = None,
    seeds: SeedsPerQueryOpt = 3,
    batch: Annotated[int, typer.Option(metavar="N",
        help="Batch size for the batched-throughput figure (1: skip).", min=1)] = 32,
    threads: Annotated[int, typer.Option(metavar="N",
        help="Threads for the dense threading figure (1: skip).", min=1)] = 2,
    seed: SeedOpt = 1,
    exclude_seeds: ExcludeSeedsOpt = False,
    json_out: JsonOpt = None,
) -> None:
    """Time every kernel on the same random queries; print ms/query and ratios.

    Add `reference` to --kernels for the sequential baseline (it is plain
    Python and runs on as many queries as fit in 20 s).
    """
    names = [k.strip() for k in kernels.split(",") if k.strip()]
    bad = [k for k in names if k not in KERNELS]
    if bad or not names:
        raise ModelError(f"--kernels: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(KERNELS)}")
    model = build_model(preset.value, set_)
    if exclude_seeds:
        model = model.with_(exclude_seeds=True)
    g = load_graph(graph)
    console = Console(highlight=False, stderr=True)
    with console.status("benchmarking") as status:
        report = bench_kernels(g, model, names, queries=queries, seeds_per_query=seeds, batch=batch, seed=seed,
                               threads=threads, progress=lambda m: status.update(f"benchmarking: {m}"))
    if json_out is not None:
        write_output(json_out, json.dumps(report.to_dict(), indent=2), inputs=[graph])
        if is_stdout(json_out):
            return
    out = Console(highlight=False)
    table = Table(title=f"{g.num_nodes:,} nodes, {g.num_arcs:,} arcs, preset {preset.value}, {seeds} seeds/query")
    for col in ("kernel", "queries", "median ms", "mean ms", "p99 ms", f"batch{batch} q/s", "touched"):
        table.add_column(col, justify="right" if col != "kernel" else "left")
    for k in report.kernels:
        table.add_row(k.kernel, str(k.queries), f"{k.median_ms:.3f}", f"{k.mean_ms:.3f}", f"{k.p99_ms:.3f}",
                      f"{k.batch_qps:,.0f}" if k.batch_qps else "-", f"{k.touched_mean:,.0f}")
    out.print(table)
    for name, value in report.ratios.items():
        out.print(f"{name}: {value:.2f}x")
    for note in report.notes:
        out.print(f"[dim]note: {note}[/]")


_PEERS_EPILOG = epilog([
    "pspread bench peers ba100k --queries 30 --peers networkx,sknetwork",
    "pspread bench peers karate --top 5 --set tie_tolerance=0 --json -",
])


@bench_app.command("peers", epilog=_PEERS_EPILOG)
def peers_cmd(
    graph: GraphArg,
    queries: Annotated[int, typer.Option("--queries", "-q", metavar="N",
        help="Queries in all (split over the rounds).", min=1)] = 30,
    rounds: RoundsOpt = 3,
    top: Annotated[int, typer.Option("--top", "-k", metavar="K", help="k of recall@k.", min=1)] = 20,
    seeds: SeedsPerQueryOpt = 3,
    peers: Annotated[str, typer.Option(metavar="PEER[,PEER...]",
        help="Comma-separated peers: networkx, igraph, sknetwork.")] = (
        "networkx,igraph,sknetwork"),
    seed: SeedOpt = 1,
    set_: Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE",
        help="Override a ppr parameter of pspread's run, "
                                                      "e.g. --set tie_tolerance=0 (repeatable).")] = None,
    json_out: JsonOpt = None,
) -> None:
    """Personalised PageRank top-k: pspread (ppr preset, auto kernel) against other libraries.

    Prints ms/query, recall@k against the converged answer and each peer's
    time as a multiple of pspread's, with the min-max over rounds.  Missing
    peers are skipped with an install hint (pip install 'pspread[peers]').
    """
    from pspread.bench.peers import PEERS, bench_peers

    names = [p.strip() for p in peers.split(",") if p.strip()]
    bad = [p for p in names if p not in PEERS]
    if bad:
        raise ModelError(f"--peers: unknown {', '.join(bad)}; choose from {', '.join(PEERS)}")
    overrides = build_model("ppr", set_).to_dict() if set_ else None  # validated before any work
    if overrides:
        given = {item.split("=", 1)[0].strip() for item in set_ or []}
        overrides = {name: value for name, value in overrides.items() if name in given}
    g = load_graph(graph)
    console = Console(highlight=False, stderr=True)
    with console.status("benchmarking") as status:
        report = bench_peers(g, queries=queries, rounds=rounds, k=top, seeds_per_query=seeds, seed=seed,
                             peers=names, progress=lambda m: status.update(f"benchmarking: {m}"),
                             overrides=overrides)
    if json_out is not None:
        write_output(json_out, json.dumps(report.to_dict(), indent=2), inputs=[graph])
        if is_stdout(json_out):
            return
    out = Console(highlight=False)
    for line in report.skipped:
        out.print(f"[yellow]skipped[/] {line}")
    table = Table(title=f"PPR top-{top}: {g.num_nodes:,} nodes, {g.num_arcs:,} arcs, {seeds} seeds/query, "
                        f"{queries} queries in {rounds} rounds")
    for col in ("method", "ms/query", "min-max", f"recall@{top}", "worst query", "x pspread", "min-max"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for m in report.methods:
        ratio = "-" if m.ratio_vs_pspread is None else f"{m.ratio_vs_pspread:.2f}"
        spread = "-" if m.ratio_min is None else f"{m.ratio_min:.2f}-{m.ratio_max:.2f}"
        table.add_row(m.method, f"{m.ms_per_query:.3f}", f"{m.ms_min:.3f}-{m.ms_max:.3f}", f"{m.recall:.4f}",
                      f"{m.recall_min:.2f}", ratio, spread)
    out.print(table)


_DRIVER_EPILOG = epilog(["pspread bench driver", "pspread bench driver --rate 20000 --duration 1s --json -"])


@bench_app.command("driver", epilog=_DRIVER_EPILOG)
def driver_cmd(
    rate: RateOpt = 50_000.0,
    duration: DurationOpt = "2s",
    clients: Annotated[int, typer.Option(metavar="N", help="Closed-model clients.", min=1)] = 4,
    json_out: JsonOpt = None,
) -> None:
    """How fast the load driver goes against an executor that does nothing.

    Whatever rate it sustains is the most any run could ask of a real
    executor: the driver must never be what limits a run (goal: >= 20,000/s).
    """
    from pspread.bench.driver import bench_driver

    seconds = parse_duration_option(duration or "2s")
    if seconds < 0.1:
        raise UsageError(f"--duration {duration!r}: give at least 100ms, e.g. --duration 1s")
    figures = bench_driver(rate=rate or 50_000.0, duration_s=seconds, closed_clients=clients)
    if json_out is not None:
        write_output(json_out, json.dumps(figures, indent=2))
        if is_stdout(json_out):
            return
    out = Console(highlight=False)
    out.print(f"open model: asked {figures['open_rate_asked']:,.0f}/s, sustained "
              f"{figures['open_rate_sustained']:,.0f}/s, late starts {figures['open_late_starts']:,.0f}, "
              f"{figures['cpu_us_per_arrival']:.1f} µs CPU per arrival")
    out.print(f"closed model ({clients} clients): {figures['closed_rate']:,.0f} queries/s")


_EXECUTOR_EPILOG = epilog([
    "pspread bench executor ba1m --workers 2 --queries 4000 --rounds 3",
    "pspread bench executor ba200k -w 2 --kernel frontier --json executor.json",
])


@bench_app.command("executor", epilog=_EXECUTOR_EPILOG)
def executor_cmd(
    graph: Annotated[str, typer.Argument(metavar="GRAPH", help="Graph bundle folder (workers open it by mmap).")],
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N",
        help="Worker processes for the W-worker figures.", min=1)] = 2,
    queries: Annotated[int, typer.Option("--queries", "-q", metavar="N",
        help="Queries in the fixed query set.", min=10)] = 4000,
    rounds: RoundsOpt = 3,
    preset: PresetOpt = Preset.threshold,
    set_: SetOpt = None,
    seeds: SeedsPerQueryOpt = 3,
    kernel: KernelOpt = Kernel.auto,
    json_out: JsonOpt = None,
) -> None:
    """What the process executor costs: parent CPU per query, no-op ceiling, speedup, added latency.

    Every figure comes from one run on the same seeded queries (docs/glossary.md
    says what each counts).
    """
    from pspread.bench.executor import bench_executor

    model = build_model(preset.value, set_)
    console = Console(highlight=False, stderr=True)
    with console.status("benchmarking the executor") as status:
        fig = bench_executor(graph, model, workers=workers, queries=queries, seeds=seeds, rounds=rounds,
                             kernel=kernel.value, progress=lambda m: status.update(f"benchmarking: {m}"))
    if json_out is not None:
        write_output(json_out, json.dumps(fig.to_dict(), indent=2), inputs=[graph])
        if is_stdout(json_out):
            return
    out = Console(highlight=False)

    def spread(values: list[float], fmt: str = "{:,.2f}") -> str:
        v = sorted(values)
        return " / ".join(fmt.format(x) for x in (v[0], float(np.median(v)), v[-1])) if v else "-"

    table = Table(title=f"process executor on {graph}: {queries:,} queries, {seeds} seeds each, "
                        f"{workers} workers (min / median / max of {rounds} rounds)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label in (("map_batch", "parent CPU per query, map_batch (µs)"),
                       ("map", "parent CPU per query, map(list[Query]) (µs)"),
                       ("driver", "parent CPU per query, driver at saturation (µs)")):
        table.add_row(label, spread(fig.parent_us[key]))
    table.add_row("no-op ceiling, 2,000-node graph (q/s)", spread(fig.noop_qps, "{:,.0f}"))
    table.add_row("standalone kernel, this process (q/s)", spread(fig.standalone_qps, "{:,.0f}"))
    for w, values in sorted(fig.qps.items()):
        table.add_row(f"{w} worker(s), map_batch (q/s)", spread(values, "{:,.0f}"))
    table.add_row(f"speedup {workers} vs 1", spread(fig.speedup()))
    table.add_row(f"throughput ÷ ({workers} × standalone)", spread(fig.saturation_share(), "{:.1%}"))
    for name, lat in fig.added_ms.items():
        table.add_row(f"added latency at {lat['rate_qps']:,.0f} q/s, {name}: p50 / p99 (ms)",
                      f"{lat['p50']:.3f} / {lat['p99']:.3f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app)

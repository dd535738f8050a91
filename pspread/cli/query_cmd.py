"""``pspread query``: ask a graph one question and see the ranked answer."""

from __future__ import annotations

import json
from typing import List

import typer
from rich.console import Console
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.model_options import build_model
from pspread.cli.options import (
    ExcludeSeedsOpt,
    GraphArg,
    JsonOpt,
    Kernel,
    KernelOpt,
    Preset,
    PresetOpt,
    SetOpt,
    ThreadsOpt,
    TopOpt,
    epilog,
    is_stdout,
    warn_if_sinks,
    write_output,
)
from pspread.engine.io import load_graph
from pspread.engine.spreader import Spreader, SpreadResult

EPILOG = epilog([
    "pspread query karate 0 33 --top 5",
    "pspread query words \"dog cat\" --preset threshold --top 10",
    "pspread query ba1m 1 2 3 --preset ppr --json -",
    "pspread query ba1m 7 --set max_steps=3 --set stop=converged --kernel dense",
])


def query(
    graph: GraphArg,
    terms: Annotated[List[str], typer.Argument(metavar="SEEDS...",
                                               help="Seeds: node ids (1 2 3) or label text (\"dog cat\").")],
    preset: PresetOpt = Preset.threshold,
    top: TopOpt = 10,
    kernel: KernelOpt = Kernel.auto,
    threads: ThreadsOpt = 1,
    set_: SetOpt = None,
    exclude_seeds: ExcludeSeedsOpt = False,
    directed: Annotated[bool, typer.Option(
        "--directed/--undirected", help="Edge lists only: read each line as one arc, or as an edge both ways. "
        "A bundle records its own.")] = False,
    json_out: JsonOpt = None,
) -> None:
    """Spread activation from the seeds and print the top-k nodes.

    Seeds that are all integers are node ids; anything else is matched against
    node labels (case-insensitive; multi-word labels with spaces or _).
    """
    model = build_model(preset.value, set_, top)
    if exclude_seeds:
        model = model.with_(exclude_seeds=True)
    g = load_graph(graph, directed=directed)
    warn_if_sinks(g)
    spreader = Spreader(g, model, kernel=kernel.value, threads=threads)
    if all(t.strip().lstrip("-").isdigit() for t in terms):
        seeds: object = [int(t) for t in terms]
    else:
        seeds = " ".join(terms)
    result = spreader.query(seeds)  # type: ignore[arg-type]
    if json_out is not None:
        write_output(json_out, json.dumps({"graph": graph, "model": model.to_dict(), **result.to_dict()}, indent=2),
                     inputs=[graph])
        if is_stdout(json_out):
            return
    _print_answer(g.num_nodes, preset.value, result)


def _print_answer(num_nodes: int, preset: str, r: SpreadResult) -> None:
    console = Console(highlight=False)
    table = Table(title=f"top {len(r.top)} of {num_nodes:,} nodes ({preset}, {r.kernel} kernel)")
    table.add_column("rank", justify="right")
    table.add_column("node", justify="right")
    table.add_column("label")
    table.add_column("activation", justify="right")
    for rank, (node, label, act) in enumerate(r.top, 1):
        table.add_row(str(rank), str(node), label, f"{act:.6g}")
    console.print(table)
    console.print(
        f"{r.steps} steps{' (converged)' if r.converged else ''}, "
        f"{r.touched_nodes:,} nodes touched, {r.elapsed_s * 1e3:.2f} ms"
    )
    if r.unknown_terms:
        console.print(f"[yellow]unknown terms (no matching label):[/] {', '.join(r.unknown_terms)}")


def register(app: typer.Typer) -> None:
    app.command("query", epilog=EPILOG)(query)

"""``pspread query``: ask a graph one question and see the ranked answer."""

from __future__ import annotations

import json
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.model_options import PRESET_HELP, SET_HELP, build_model
from pspread.engine.io import load_graph
from pspread.engine.kernels import KERNELS
from pspread.engine.spreader import Spreader
from pspread.errors import ModelError


def query(
    graph: Annotated[str, typer.Argument(help="Graph bundle folder or edge-list file.")],
    terms: Annotated[List[str], typer.Argument(help="Seeds: node ids (1 2 3) or label text (\"dog cat\").")],
    preset: Annotated[str, typer.Option("--preset", "-p", help=PRESET_HELP)] = "threshold",
    top: Annotated[int, typer.Option("--top", "-k", help="How many nodes to return.", min=1)] = 10,
    kernel: Annotated[str, typer.Option(help=f"Kernel: {', '.join(KERNELS)}.")] = "auto",
    threads: Annotated[int, typer.Option(help="Threads one query may use (dense kernel).", min=1)] = 1,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help=SET_HELP)] = None,
    exclude_seeds: Annotated[bool, typer.Option("--exclude-seeds", help="Leave the seeds out of the answer.")] = False,
    undirected: Annotated[bool, typer.Option("--undirected", help="Edge lists only: edges go both ways.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Spread activation from the seeds and print the top-k nodes.

    Seeds that are all integers are node ids; anything else is matched against
    node labels (case-insensitive; multi-word labels with spaces or _).

    Examples:

      pspread query ba1m 1 2 3 --preset ppr --json

      pspread query words "dog cat" --preset threshold --top 10
    """
    model = build_model(preset, set_, top)
    if exclude_seeds:
        model = model.with_(exclude_seeds=True)
    if kernel not in KERNELS:
        raise ModelError(f"--kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    g = load_graph(graph, directed=not undirected)
    spreader = Spreader(g, model, kernel=kernel, threads=threads)
    if all(t.strip().lstrip("-").isdigit() for t in terms):
        seeds: object = [int(t) for t in terms]
    else:
        seeds = " ".join(terms)
    result = spreader.query(seeds)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps({"graph": graph, "model": model.to_dict(), **result.to_dict()}, indent=2))
        return
    console = Console(highlight=False)
    table = Table(title=f"top {len(result.top)} of {g.num_nodes:,} nodes ({preset}, {result.kernel} kernel)")
    table.add_column("rank", justify="right")
    table.add_column("node", justify="right")
    table.add_column("label")
    table.add_column("activation", justify="right")
    for rank, (node, label, act) in enumerate(result.top, 1):
        table.add_row(str(rank), str(node), label, f"{act:.6g}")
    console.print(table)
    console.print(
        f"{result.steps} steps{' (converged)' if result.converged else ''}, "
        f"{result.touched_nodes:,} nodes touched, {result.elapsed_s * 1e3:.2f} ms"
    )
    if result.unknown_terms:
        console.print(f"[yellow]unknown terms (no matching label):[/] {', '.join(result.unknown_terms)}")


def register(app: typer.Typer) -> None:
    app.command("query")(query)

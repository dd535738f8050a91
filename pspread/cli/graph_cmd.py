"""``pspread graph generate|convert|info``: make, import and inspect graph bundles.

A bundle is what every other command reads (mmap, shared by all workers), so
these commands are the way in: ``generate`` for synthetic graphs of a known
shape, ``convert`` for real edge lists (with a progress bar, since large files
take a while), ``info`` to check what a bundle holds before benchmarking it.
Humans get Rich tables; ``--json`` prints one JSON object for scripts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.options import (
    Delimiter,
    GraphKind,
    JsonOpt,
    SeedOpt,
    Weights,
    choices,
    epilog,
    is_stdout,
    listed,
    warn_if_sinks,
    write_output,
)
from pspread.errors import GraphError

graph_app = typer.Typer(
    name="graph",
    no_args_is_help=True,
    help="Make, import and inspect graph bundles (folders of .npy arrays opened with mmap).",
)

_OUT_HELP = "Output bundle folder."
_FORCE_HELP = "Replace an existing bundle at the output path."


def _console() -> Console:
    return Console(highlight=False)


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _summary_line(info: dict[str, Any], out: Path, seconds: float) -> str:
    kind = "directed" if info["directed"] else "undirected"
    return (f"wrote [bold]{out}[/]: {info['num_nodes']:,} nodes, {info['num_edges']:,} edges "
            f"({info['num_arcs']:,} arcs, {kind}) in {seconds:.1f} s")


def _emit_json(target: str, payload: dict[str, Any], source: Optional[Path] = None) -> None:
    write_output(target, json.dumps(payload, indent=2, default=str), inputs=[source])


_GENERATE_EPILOG = epilog([
    "pspread graph generate barabasi-albert --nodes 100000 --degree 5 --seed 7 -o ba100k",
    "pspread graph generate ws -n 2000 --degree 4 --rewire 0.2 -o ws2k",
    "pspread graph generate grid --rows 100 --cols 100 --weights uniform -o grid",
])
_CONVERT_EPILOG = epilog([
    "pspread graph convert examples/karate.tsv -o karate",
    "pspread graph convert links.csv.gz -o links --directed --delimiter comma",
])
_INFO_EPILOG = epilog(["pspread graph info karate", "pspread graph info ba100k --verify --json -"])


# ------------------------------------------------------------------ generate
@graph_app.command("generate", epilog=_GENERATE_EPILOG)
def generate(
    kind: Annotated[str, typer.Argument(
        metavar="KIND", help=f"Graph kind: {', '.join(k.value for k in GraphKind)} "
        "(er, ba, ws are short for the first three; _ works for -).")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="DIR", help=_OUT_HELP)],
    nodes: Annotated[Optional[int], typer.Option("--nodes", "-n", metavar="N", help="Number of nodes.")] = None,
    degree: Annotated[Optional[float], typer.Option(
        "--degree", metavar="NUMBER",
            help="ER: average degree; BA: edges per new node; WS: ring neighbours (even).")] = None,
    seed: SeedOpt = 0,
    rewire: Annotated[Optional[float], typer.Option("--rewire", metavar="P",
        help="WS: rewiring probability (default 0.1).")] = None,
    p: Annotated[Optional[float], typer.Option("--p", metavar="P",
        help="ER: edge probability (instead of --degree).")] = None,
    rows: Annotated[Optional[int], typer.Option("--rows", metavar="N", help="grid: rows.")] = None,
    cols: Annotated[Optional[int], typer.Option("--cols", metavar="N", help="grid: columns.")] = None,
    weights: Annotated[Optional[Weights], typer.Option("--weights", metavar=choices(Weights),
        help="Random edge weights: uniform (0, 1] (default: every weight 1).")] = None,
    directed: Annotated[bool, typer.Option("--directed", help="ER only: a directed graph.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help=_FORCE_HELP)] = False,
    json_out: JsonOpt = None,
) -> None:
    """Generate a synthetic graph (deterministic by --seed) and save it as a bundle."""
    from pspread.engine.generators import generate_graph, normalise_kind
    from pspread.engine.io import check_replaceable, graph_info, save_graph

    key = normalise_kind(kind)
    check_replaceable(output, force)  # before generating: --force only ever replaces a bundle folder
    as_json = is_stdout(json_out)
    params: dict[str, Any] = {"nodes": nodes, "seed": seed, "rewire": rewire, "p": p, "rows": rows, "cols": cols,
                              "weights": weights.value if weights else None, "directed": directed or None}
    if degree is not None:
        params["degree"] = degree if key == "erdos-renyi" else _whole(degree, "--degree")
    started = time.perf_counter()
    with _console().status(f"generating {key} ...") if not as_json else _null():
        graph = generate_graph(key, **params)
        save_graph(graph, output, overwrite=force)
    elapsed = time.perf_counter() - started
    info = graph_info(graph)
    if json_out is not None:
        _emit_json(json_out, {"output": str(output), "seconds": round(elapsed, 3), **info})
    if not as_json:
        _console().print(_summary_line(info, output, elapsed), soft_wrap=True)


def _whole(value: float, name: str) -> int:
    if not float(value).is_integer():
        raise GraphError(f"{name} must be a whole number for this graph kind, got {value}")
    return int(value)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ------------------------------------------------------------------- convert
def _default_output(file: Path) -> Path:
    name = file.name
    for suffix in (".gz", ".tsv", ".csv", ".txt", ".edges", ".el"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return file.with_name(name if name != file.name else name + ".bundle")


@graph_app.command("convert", epilog=_CONVERT_EPILOG)
def convert(
    file: Annotated[Path, typer.Argument(metavar="FILE",
        help="Edge list: source target \\[weight]; TSV/CSV/whitespace; .gz allowed (rules: docs/edge-lists.md).")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="DIR", help=_OUT_HELP + " (default: FILE without its extension)")] = None,
    undirected: Annotated[bool, typer.Option(
        "--undirected/--directed", help="Each line an edge both ways (two arcs), or one arc source -> target.")] = True,
    delimiter: Annotated[Optional[Delimiter], typer.Option(
        "--delimiter", metavar="NAME", help=f"Field separator: {listed(Delimiter)} (pipe is |) "
        "(default: detect)")] = None,
    header: Annotated[Optional[bool], typer.Option(
        "--header/--no-header", help="First line is a header (default: detect)")] = None,
    labels: Annotated[bool, typer.Option(
        "--labels", help="Read ids as text labels even if they look like integers "
                         "(also the fix for sparse or huge ids).")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help=_FORCE_HELP)] = False,
    json_out: JsonOpt = None,
) -> None:
    """Convert an edge-list file into a bundle (undirected unless --directed)."""
    from pspread.engine.edgelist import read_edge_list
    from pspread.engine.examples import shipped_example
    from pspread.engine.io import check_replaceable, graph_info, save_graph

    shipped = shipped_example(file)
    file = shipped or file
    if file.is_dir():
        raise GraphError(f"{file}: is a folder; convert reads an edge-list file (use `pspread graph info` on bundles)")
    if not file.is_file():
        raise GraphError(f"{file}: no such file; give the path of an edge-list file")
    out = output or (Path(_default_output(file).name) if shipped else _default_output(file))  # never in the package
    check_replaceable(out, force, keep=file)  # never the input, never anything but a bundle folder
    as_json = is_stdout(json_out)
    started = time.perf_counter()
    err = Console(stderr=True)
    show = not as_json and err.is_terminal
    with Progress(TextColumn("reading {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not show) as bar:
        task = bar.add_task(file.name, total=file.stat().st_size)
        graph = read_edge_list(file, directed=not undirected,
                               delimiter=delimiter.engine_value if delimiter else None, header=header,
                               labels=labels or None,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    with err.status("writing bundle ...") if show else _null():
        save_graph(graph, out, overwrite=force)
    elapsed = time.perf_counter() - started
    info = graph_info(graph)
    if json_out is not None:
        _emit_json(json_out, {"output": str(out), "seconds": round(elapsed, 3), **info}, file)
    if not as_json:
        _console().print(_summary_line(info, out, elapsed), soft_wrap=True)
    warn_if_sinks(graph)


# ---------------------------------------------------------------------- info
@graph_app.command("info", epilog=_INFO_EPILOG)
def info(
    path: Annotated[Path, typer.Argument(metavar="GRAPH",
        help="A bundle folder (or an edge-list file, which is parsed).")],
    verify: Annotated[bool, typer.Option("--verify", help="Check every array's checksum (reads all bytes).")] = False,
    json_out: JsonOpt = None,
) -> None:
    """Show what a graph holds: counts, degrees, sinks, arrays on disk."""
    from pspread.engine.examples import shipped_example
    from pspread.engine.io import check_bundle, graph_info, is_bundle, load_graph, verify_bundle

    path = shipped_example(path) or path
    if not path.exists():
        raise GraphError(f"{path}: no such bundle or file; create one with `pspread graph generate` or "
                         "`pspread graph convert`")
    bundle = is_bundle(path)
    if path.is_dir() and not bundle:
        raise GraphError(f"{path}: not a graph bundle (no meta.json); create one with `pspread graph convert`")
    if verify and not bundle:
        raise GraphError(f"{path}: --verify checks the checksums of a bundle; this is an edge-list file")
    if verify:
        verify_bundle(path)  # before loading, so corruption is reported as such
    # the very check (and cached verdict) every load makes: a bundle info calls
    # valid is one `query` and `run` open, and a GraphError here is theirs too
    verdict = check_bundle(path) if bundle else None
    graph = load_graph(path)
    data = graph_info(graph, path if bundle else None)
    if verdict is not None:
        data["validation"] = verdict.to_dict()
    if verify:
        data["verified"] = True
    if json_out is not None:
        _emit_json(json_out, {"path": str(path), **data}, path)
    if not is_stdout(json_out):
        _print_info(path, data)
    warn_if_sinks(graph)


def _print_info(path: Path, data: dict[str, Any]) -> None:
    console = _console()
    table = Table(title=str(path), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    deg = data["out_degree"]
    rows: list[tuple[str, str]] = [
        ("source", str(data["source"])),
        ("nodes", f"{data['num_nodes']:,}"),
        ("edges", f"{data['num_edges']:,}"),
        ("arcs", f"{data['num_arcs']:,}"),
        ("directed", "yes" if data["directed"] else "no"),
        ("labels", data["labels"]),
        ("out-degree", f"min {deg['min']:,}  mean {deg['mean']:.2f}  median {deg['median']:g}  max {deg['max']:,}"),
        ("sinks", f"{data['sinks']:,}"),
        ("isolated", f"{data['isolated']:,}"),
    ]
    if "format_version" in data:
        rows += [("format version", str(data["format_version"])), ("created", str(data.get("created"))),
                 ("on disk", _fmt_bytes(data["disk_bytes"]))]
    else:
        rows.append(("in memory", _fmt_bytes(data["memory_bytes"])))
    if "validation" in data:
        v = data["validation"]
        how = f"checked in {v['seconds']:.2f} s" if v["cached"] == "no" else \
            f"cached verdict ({v['cached']}; the check took {v['seconds']:.2f} s)"
        rows.append(("arrays", f"[green]valid[/] ({how})"))
    if "verified" in data:
        rows.append(("checksums", "[green]all arrays verified[/]"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if "arrays" in data:
        arrays = Table(title="arrays", title_justify="left")
        for col in ("array", "dtype", "shape", "size"):
            arrays.add_column(col, justify="right" if col == "size" else "left")
        for name, spec in data["arrays"].items():
            arrays.add_row(name, spec["dtype"], "x".join(str(s) for s in spec["shape"]), _fmt_bytes(spec["bytes"]))
        console.print(arrays)


def register(app: typer.Typer) -> None:
    """Add the ``graph`` command group to the ``pspread`` app."""
    app.add_typer(graph_app, name="graph")


__all__ = ["register", "graph_app"]

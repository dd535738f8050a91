"""``pspread compare BASE.json NEW.json``: gate a run against a baseline in CI.

Exit 0 when nothing regressed, 1 on a regression (beyond the ``--fail-on``
tolerance AND significant by Mann–Whitney U on per-second samples), 2 on bad
input (unreadable file, unknown schema version, malformed rule).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.errors import EXIT_GATE_FAILED
from pspread.cli.options import JsonOpt, epilog, is_stdout, write_output
from pspread.results.compare import DEFAULT_ALPHA, DEFAULT_FAIL_ON, Comparison, compare, parse_fail_on
from pspread.results.export import read_results

_STYLE = {"regression": "bold red", "not significant": "yellow", "worse (not gated)": "yellow",
          "improved": "green", "ok": "green", "no data": "dim"}


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _table(result: Comparison, base: Path, new: Path) -> Table:
    table = Table(title=f"{base.name} → {new.name}", title_justify="left")
    for column, justify in (("metric", "left"), ("base", "right"), ("new", "right"), ("change", "right"),
                            ("p-value", "right"), ("fail on", "left"), ("verdict", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for m in result.metrics:
        unit = " qps" if m.metric == "qps" else " ms"
        change = "–" if m.change_pct is None else f"{m.change_pct:+.1f}%"
        style = _STYLE.get(m.status, "")
        verdict = f"[{style}]{m.status}[/]" if style else m.status
        table.add_row(m.metric, _fmt(m.base) + unit, _fmt(m.new) + unit, change,
                      "–" if m.p_value is None else f"{m.p_value:.3g}", m.rule or "–", verdict)
    return table


EPILOG = epilog([
    "pspread compare results/base.json results/new.json",
    "pspread compare base.json new.json --fail-on 'p99:+10%' --fail-on 'qps:-10%' --json -",
], exits=(0, 1, 2))


def compare_command(
    base: Annotated[Path, typer.Argument(metavar="BASE", help="Baseline results JSON.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="New results JSON.")],
    fail_on: Annotated[Optional[List[str]], typer.Option(
        "--fail-on", metavar="RULE", help="Tolerance, e.g. 'p99:+10%' or 'qps:-10%' or 'p95:+5ms'; repeat for several. "
                          f"Default: {' '.join(DEFAULT_FAIL_ON)}.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", metavar="P", min=1e-9, max=0.5,
                                         help="Significance level of the Mann–Whitney U test.")] = DEFAULT_ALPHA,
    json_out: JsonOpt = None,
) -> None:
    """Compare two results files; exit 1 only on a change beyond tolerance that is also significant."""
    rules = parse_fail_on(fail_on or DEFAULT_FAIL_ON)
    result = compare(read_results(base), read_results(new), rules, alpha=alpha)
    if json_out is not None:
        write_output(json_out, json.dumps(result.to_dict(), indent=2), inputs=[base, new])
    if not is_stdout(json_out):
        console = Console(highlight=False)
        console.print(_table(result, base, new))
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        for m in result.metrics:
            if m.note and m.status in ("regression", "not significant"):
                console.print(f"{m.metric}: {m.note}")
        console.print("[bold red]REGRESSION[/]" if result.regressed else "[green]no regression[/]")
    if result.regressed:
        raise typer.Exit(EXIT_GATE_FAILED)


def register(app: typer.Typer) -> None:
    app.command("compare", epilog=EPILOG)(compare_command)

"""``pspread compare BASE NEW``: gate a run against a baseline in CI, like with like.

Exit 0 when nothing regressed, 1 on a regression (beyond the ``--fail-on``
tolerance AND significant on the runs' own samples), 2 on bad input
(unreadable file, unknown schema version, an incomplete run, runs of
different setups without ``--allow-mismatch``, a malformed rule).  BASE may
be a folder: the last ``--last`` results files in it (by name, which starts
with the UTC time) form the baseline, their median per figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.options import JsonOpt, epilog, is_stdout, write_output
from pspread.errors import ExitCode
from pspread.results.compare import (
    DEFAULT_ALPHA,
    DEFAULT_FAIL_ON,
    CompareError,
    Comparison,
    MetricComparison,
    compare,
    parse_fail_on,
)
from pspread.results.export import check_output, read_results, write_text_atomic
from pspread.results.run import Results

_STYLE = {"regression": "bold red", "not significant": "yellow", "worse (not gated)": "yellow",
          "improved": "green", "ok": "green", "no data": "dim", "not gated": "dim"}
_UNIT = {"qps": " q/s", "knee": " q/s", "error_rate": ""}


def _fmt(metric: str, value: Optional[float]) -> str:
    if value is None:
        return "–"
    if metric == "error_rate":
        return f"{100 * value:.2f}%"
    return f"{value:,.2f}" + _UNIT.get(metric, " ms")


def _change(m: MetricComparison) -> str:
    if m.metric == "error_rate" and m.base is not None and m.new is not None:
        return f"{100 * (m.new - m.base):+.2f} pp"
    return "–" if m.change_pct is None else f"{m.change_pct:+.1f}%"


def _table(result: Comparison, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (("scope", "left"), ("metric", "left"), ("base", "right"), ("new", "right"),
                            ("change", "right"), ("p-value", "right"), ("fail on", "left"), ("verdict", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for m in result.metrics:
        style = _STYLE.get(m.status, "")
        verdict = f"[{style}]{m.status}[/]" if style else m.status
        table.add_row(m.scope, m.metric, _fmt(m.metric, m.base), _fmt(m.metric, m.new), _change(m),
                      "–" if m.p_value is None else f"{m.p_value:.3g}", m.rule or "–", verdict)
    return table


EPILOG = epilog([
    "pspread compare results/base.json results/new.json",
    "pspread compare results/ new.json --last 5 --markdown compare.md",
    "pspread compare base.json new.json --fail-on 'p99:+10%' --fail-on 'qps:-10%' --json -",
], exits=(0, 1, 2))


def to_markdown(result: Comparison, title: str) -> str:
    """The comparison as a Markdown table, for CI job pages."""
    verdict = "REGRESSION" if result.regressed else "no regression"
    lines = [f"## pspread compare: {title} — {verdict}", "",
             "| scope | metric | base | new | change | p-value | fail on | verdict |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for m in result.metrics:
        p = "–" if m.p_value is None else f"{m.p_value:.3g}"
        lines.append(f"| {m.scope} | {m.metric} | {_fmt(m.metric, m.base)} | {_fmt(m.metric, m.new)} | "
                     f"{_change(m)} | {p} | {m.rule or '–'} | {m.status} |")
    lines.append("")
    lines += [f"- warning: {w}" for w in result.warnings]
    lines += [f"- {m.scope} {m.metric}: {m.note}" for m in result.metrics
              if m.note and m.status in ("regression", "not significant")]
    return "\n".join(lines).rstrip() + "\n"


def _baseline(base: Path, last: int) -> tuple[list[Results], list[str]]:
    if not base.is_dir():
        return [read_results(base)], [base.name]
    files = sorted(base.glob("*.json"))[-last:]
    if not files:
        raise CompareError(f"{base}: no results files (*.json) in this folder")
    complete = []
    for path in files:
        results = read_results(path)
        if results.status == "complete":
            complete.append((results, path.name))
    if not complete:
        raise CompareError(f"{base}: none of the last {len(files)} results files is a complete run")
    return [r for r, _ in complete], [n for _, n in complete]


def compare_command(
    base: Annotated[Path, typer.Argument(metavar="BASE",
                                         help="Baseline results JSON, or a folder of them (see --last).")],
    new: Annotated[Path, typer.Argument(help="New results JSON.", metavar="NEW")],
    fail_on: Annotated[Optional[List[str]], typer.Option(
        "--fail-on", metavar="RULE", help="Tolerance, e.g. 'p99:+10%', 'qps:-10%', 'p95:+5ms', 'error_rate:+1%' "
        "(percentage points), 'knee:-10%'; repeat for several. "
        f"Default: {' '.join(DEFAULT_FAIL_ON)}.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", metavar="P", min=1e-9, max=0.5,
                                         help="Significance level of the tests.")] = DEFAULT_ALPHA,
    last: Annotated[int, typer.Option("--last", min=1, max=1000, metavar="N",
                                      help="With BASE a folder: the last N complete runs form the baseline.")] = 5,
    allow_mismatch: Annotated[bool, typer.Option(
        "--allow-mismatch", help="Compare runs of different graphs, scenarios or executor settings anyway.")] = False,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", metavar="FILE",
                                                     help="Also write the table as Markdown here.")] = None,
    json_out: JsonOpt = None,
) -> None:
    """Compare a run with a baseline; exit 1 only on a change beyond tolerance that is also significant."""
    rules = parse_fail_on(fail_on or DEFAULT_FAIL_ON)
    if markdown is not None:
        check_output(markdown, force=True, what="--markdown")
    bases, names = _baseline(base, last)
    title = (f"{names[0]} → {new.name}" if len(names) == 1 else f"median of {len(names)} runs in {base} → {new.name}")
    result = compare(bases, read_results(new), rules, alpha=alpha, allow_mismatch=allow_mismatch,
                     names=[*names, new.name])
    if json_out is not None:
        write_output(json_out, json.dumps(result.to_dict(), indent=2), inputs=[base, new])
    if not is_stdout(json_out):
        console = Console(highlight=False)
        console.print(_table(result, title))
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
        for m in result.metrics:
            if m.note and m.status in ("regression", "not significant"):
                console.print(f"{m.scope} {m.metric}: {escape(m.note)}")
        console.print("[bold red]REGRESSION[/]" if result.regressed else "[green]no regression[/]")
    if markdown is not None:
        write_text_atomic(markdown, to_markdown(result, title))
    if result.regressed:
        raise typer.Exit(int(ExitCode.GATE_FAILED))


def register(app: typer.Typer) -> None:
    app.command("compare", epilog=EPILOG)(compare_command)

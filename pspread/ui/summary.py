"""The end-of-run summary, k6 style: ✓/✗ per threshold, SKIPPED with its reason, then the figures.

Written for people and for CI logs alike: one line per gate first (what decides
the exit code), then dotted ``name....: value`` lines with the latency
percentiles, throughput, errors by kind, late starts and drops, per-worker
counts, coordination overhead and the scaling figures when there are any.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.markup import escape

from pspread.load.runner import PhaseFigures
from pspread.metrics.thresholds import Verdict, VerdictStatus

_MARK = {VerdictStatus.PASS: ("✓", "green"), VerdictStatus.FAIL: ("✗", "red"), VerdictStatus.SKIPPED: ("↷", "yellow")}


def _ms(v: float | None) -> str:
    return "-" if v is None else (f"{v:.2f}ms" if v < 100 else f"{v:.0f}ms")


def _dots(name: str, width: int = 24) -> str:
    return f"{name} ".ljust(width, ".") + ":"


def verdict_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """Rich-markup lines, one per gate."""
    lines = []
    for v in verdicts:
        mark, style = _MARK[v.status]
        text = escape(str(v.threshold))
        if v.status is VerdictStatus.SKIPPED:
            lines.append(f"  [{style}]{mark} {text}  SKIPPED: {escape(v.reason)}[/]")
        else:
            lines.append(f"  [{style}]{mark} {text}[/]  observed {v.observed:.4g}")
    return lines


def phase_lines(phases: Iterable[PhaseFigures]) -> list[str]:
    """The dotted figure lines, per phase (warm-up marked excluded)."""
    lines = []
    for p in phases:
        if not p.measured:
            lines.append(f"  [dim]{escape(p.name)} ({p.kind}, {p.report.duration_s:.1f}s, excluded from figures): "
                         f"{p.total} queries, p99 {_ms(p.latency.p99)}, errors {p.errors}[/]")
            continue
        lines.append(f"  [bold]{escape(p.name)}[/] ({p.kind}, {p.report.duration_s:.1f}s)")
        lat = p.latency
        lines.append(f"    {_dots('latency_ms')} avg={_ms(lat.avg)} min={_ms(lat.min)} med={_ms(lat.med)} "
                     f"max={_ms(lat.max)} p(90)={_ms(lat.p90)} p(95)={_ms(lat.p95)} p(99)={_ms(lat.p99)}")
        lines.append(f"    {_dots('queries')} {p.total}  {p.throughput_qps:.1f} ok/s")
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(p.outcomes.items()) if k != "ok")
        lines.append(f"    {_dots('errors')} {100 * p.error_rate:.2f}% ({p.errors} of {p.total})"
                     + (f"  {by_kind}" if by_kind else ""))
        lines.append(f"    {_dots('late starts / dropped')} {p.report.late_starts} / {p.report.dropped}")
        if p.per_worker:
            total = sum(p.per_worker.values()) or 1
            p99 = {w: d.get("p99") for w, d in p.per_worker_latency.items()}
            share = "  ".join(f"w{w} {n} ({100 * n / total:.0f}%, p99 {_ms(p99.get(w))})"
                              for w, n in sorted(p.per_worker.items()))
            lines.append(f"    {_dots('per worker')} {share}")
        res = p.resources
        cpu = res.cpu
        if cpu is not None and cpu.coordination_overhead is not None:
            lines.append(f"    {_dots('coordination overhead')} {100 * cpu.coordination_overhead:.2f}% of all CPU "
                         f"(executor outside query work: {cpu.executor_s:.2f}s of {cpu.all_s:.2f}s)")
            lines.append(f"    {_dots('load generation')} {100 * (cpu.load_generation or 0):.2f}% of all CPU "
                         f"(driver, recorder, live view: {cpu.load_s:.2f}s)")
        if res.peak_rss_bytes:
            growth = "" if res.rss_growth is None else f", growth {100 * res.rss_growth:+.1f}%"
            lines.append(f"    {_dots('memory')} peak {res.peak_rss_bytes / 2**20:.0f} MB (all processes){growth}")
    return lines


def scaling_lines(scaling: dict[str, Any] | None) -> list[str]:
    """Speedup table lines from a scaling report's dict (see ``pspread.load.scaling``)."""
    if not scaling:
        return []
    lines = ["  [bold]speedup[/] (fixed query set at saturation, same run)"]
    for row in scaling.get("points", []):
        if row.get("skipped"):
            lines.append(f"    {row['workers']:>3} workers  [yellow]SKIPPED: {escape(row['skipped'])}[/]")
        else:
            overhead = row.get("coordination_overhead")
            lines.append(f"    {row['workers']:>3} workers  {row['time_s']:.3f}s  {row['qps']:.0f} q/s  "
                         f"speedup {row['speedup']:.2f}  efficiency {row['efficiency']:.2f}"
                         + (f"  coordination {100 * overhead:.2f}%" if overhead is not None else ""))
    fit = scaling.get("usl")
    if fit:
        peak = fit.get("peak_workers")
        lines.append(f"    USL fit: sigma={fit['sigma']:.3f} kappa={fit['kappa']:.4f}"
                     + (f", peak at {peak:.1f} workers" if peak else "")
                     + (f" ({fit['note']})" if fit.get("note") else ""))
    return lines


def print_summary(console: Console, title: str, verdicts: Sequence[Verdict], phases: Sequence[PhaseFigures],
                  scaling: dict[str, Any] | None = None, results_path: str | None = None,
                  extra: Sequence[str] = (), status: str = "complete", judged: bool = True) -> None:
    """Print the whole summary.

    ``status`` other than complete (interrupted, aborted) heads the last line.
    ``judged=False``: the phases were probes, not a run to gate (capacity
    search); they are left out and ``extra`` carries the report.
    """
    console.print()
    console.print(f"[bold]{escape(title)}[/]")
    if judged:
        for line in verdict_lines(verdicts) or ["  (no thresholds)"]:
            console.print(line, soft_wrap=True)
        console.print()
    for line in [*(phase_lines(phases) if judged else []), *scaling_lines(scaling), *extra]:
        console.print(line, soft_wrap=True)
    failed = sum(v.failed for v in verdicts)
    skipped = sum(v.status is VerdictStatus.SKIPPED for v in verdicts)
    passed = sum(v.passed for v in verdicts)
    console.print()
    if status != "complete":
        verdict = f"[yellow]{status.upper()}[/] (figures so far)"
    elif not judged:
        verdict = "[bold]DONE[/]"
    else:
        verdict = "[red]FAILED[/]" if failed else "[green]PASSED[/]"
    counts = f": {passed} passed, {failed} failed, {skipped} skipped" if judged else ""
    console.print(verdict + counts + (f"; results in {escape(results_path)}" if results_path else ""),
                  soft_wrap=True)

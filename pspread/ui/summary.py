"""The end-of-run summary, k6 style, rendered from a ``Results`` record alone.

Written for people and for CI logs alike: one line per gate first (what decides
the exit code), then dotted ``name....: value`` lines per phase with the
latency percentiles, throughput, errors by kind, late starts and drops,
per-worker and per-query-type figures, coordination overhead, and the speedup,
capacity and soak reports when there are any.  The Markdown export
(``pspread.results.export.to_markdown``) reads the same record.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.console import Console
from rich.markup import escape

from pspread.results.records import CapacityRecord, ScalingRecord, SoakRecord, VerdictRecord
from pspread.results.run import PhaseResult, Results
from pspread.scenario.units import format_duration

_MARK = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skipped": ("↷", "yellow")}


def _ms(v: float | None) -> str:
    return "-" if v is None else (f"{v:.2f}ms" if v < 100 else f"{v:.0f}ms")


def _dots(name: str, width: int = 24) -> str:
    return f"{name} ".ljust(width, ".") + ":"


def verdict_lines(verdicts: Sequence[VerdictRecord]) -> list[str]:
    """Rich-markup lines, one per gate."""
    lines = []
    for v in verdicts:
        mark, style = _MARK[v.status]
        text = escape(f"{v.metric}: {v.threshold}")
        if v.status == "skipped":
            lines.append(f"  [{style}]{mark} {text}  SKIPPED: {escape(v.reason)}[/]")
        else:
            observed = "-" if v.observed is None else f"{v.observed:.4g}"
            lines.append(f"  [{style}]{mark} {text}[/]  observed {observed}")
    return lines


def _phase_detail(p: PhaseResult) -> list[str]:
    lat = p.latency_ms
    lines = [f"    {_dots('latency_ms')} avg={_ms(lat.avg)} min={_ms(lat.min)} med={_ms(lat.med)} "
             f"max={_ms(lat.max)} p(90)={_ms(lat.p90)} p(95)={_ms(lat.p95)} p(99)={_ms(lat.p99)}",
             f"    {_dots('queries')} {p.total}  {p.throughput_qps:.1f} ok/s"]
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(p.outcomes.items()) if k != "ok")
    lines.append(f"    {_dots('errors')} {100 * p.error_rate:.2f}% ({p.errors} of {p.total})"
                 + (f"  {by_kind}" if by_kind else ""))
    lines.append(f"    {_dots('late starts / dropped')} {p.late_starts} / {p.dropped}")
    if p.per_worker:
        total = sum(p.per_worker.values()) or 1
        p99 = {w: lat.p99 for w, lat in p.per_worker_latency_ms.items()}
        share = "  ".join(f"w{w} {n} ({100 * n / total:.0f}%, p99 {_ms(p99.get(w))})"
                          for w, n in sorted(p.per_worker.items(), key=lambda kv: int(kv[0])))
        lines.append(f"    {_dots('per worker')} {share}")
    if len(p.per_kind) > 1:
        for name, k in sorted(p.per_kind.items()):
            lines.append(f"    {_dots('type ' + name)} {k.total} queries, {k.throughput_qps:.1f} ok/s, "
                         f"p99 {_ms(k.latency_ms.p99)}, errors {100 * k.error_rate:.2f}%")
    res = p.resources
    cpu = res.cpu if res is not None else None
    if cpu is not None and cpu.coordination_overhead is not None:
        lines.append(f"    {_dots('coordination overhead')} {100 * cpu.coordination_overhead:.2f}% of all CPU "
                     f"(executor outside query work: {cpu.executor_s:.2f}s of {cpu.all_s:.2f}s)")
        lines.append(f"    {_dots('load generation')} {100 * (cpu.load_generation or 0):.2f}% of all CPU "
                     f"(driver, recorder, live view: {cpu.load_s:.2f}s)")
    if res is not None and res.peak_rss_bytes:
        growth = "" if res.rss_growth is None else f", growth {100 * res.rss_growth:+.1f}%"
        lines.append(f"    {_dots('memory')} peak {res.peak_rss_bytes / 2**20:.0f} MB (all processes){growth}")
    return lines


def phase_lines(phases: Iterable[PhaseResult]) -> list[str]:
    """The dotted figure lines, per phase (warm-up marked excluded)."""
    lines = []
    for p in phases:
        if not p.measured:
            lines.append(f"  [dim]{escape(p.name)} ({p.kind}, {p.duration_s:.1f}s, excluded from figures): "
                         f"{p.total} queries, p99 {_ms(p.latency_ms.p99)}, errors {p.errors}[/]")
            continue
        lines.append(f"  [bold]{escape(p.name)}[/] ({p.kind}, {p.duration_s:.1f}s)")
        lines += _phase_detail(p)
    return lines


def scaling_lines(scaling: ScalingRecord | None) -> list[str]:
    """The speedup table of a scaling run."""
    if scaling is None:
        return []
    lines = ["  [bold]speedup[/] (fixed query set at saturation, same run)"]
    for row in scaling.points:
        if row.skipped:
            lines.append(f"    {row.workers:>3} workers  [yellow]SKIPPED: {escape(row.skipped)}[/]")
        else:
            overhead = row.coordination_overhead
            lines.append(f"    {row.workers:>3} workers  {row.time_s or 0:.3f}s  {row.qps or 0:.0f} q/s  "
                         f"speedup {row.speedup or 0:.2f}  efficiency {row.efficiency or 0:.2f}"
                         + (f"  coordination {100 * overhead:.2f}%" if overhead is not None else "")
                         + (f"  repeats ±{100 * row.spread:.0f}%" if row.spread is not None else ""))
    fit = scaling.usl
    if fit is not None:
        peak = fit.peak_workers
        lines.append(f"    USL fit: sigma={fit.sigma:.3f} kappa={fit.kappa:.4f}"
                     + (f", peak at {peak:.1f} workers" if peak else "") + (f" ({fit.note})" if fit.note else ""))
    elif scaling.usl_note:
        lines.append(f"    [dim]no USL fit: {escape(scaling.usl_note)}[/]")
    lines += [f"    [yellow]warning: {escape(w)}[/]" for w in scaling.warnings]
    return lines


def capacity_lines(report: CapacityRecord | None) -> list[str]:
    """Every probe of a capacity search, then the knee, its bracket and whether a second probe confirmed it."""
    if report is None:
        return []
    on = f" on {report.workers} workers" if report.workers is not None else ""
    if report.skipped:
        return [f"  [bold]capacity{on}[/]  [yellow]SKIPPED: {escape(report.skipped)}[/]"]
    lines = [f"  [bold]capacity{on}[/] (constant-rate probes; gates {report.latency_gate} and {report.error_gate})"]
    for p in report.probes:
        mark = "[green]✓[/]" if p.passed else "[red]✗[/]"
        lat = "-" if p.latency_ms is None else f"{p.latency_ms:.1f}ms"
        lines.append(f"    {mark} {p.rate_qps:8.0f} q/s offered  {p.achieved_qps:8.0f} answered  latency {lat}  "
                     f"errors {100 * p.error_rate:.2f}%" + (f"  ({escape(p.reason)})" if p.reason else ""))
    if report.knee_qps is None:
        lines.append("    capacity knee: not found (even the lowest probe failed)")
        return lines
    bracket = ("" if report.first_failing_qps is None else
               f"; the bracket is {report.knee_qps:.0f}-{report.first_failing_qps:.0f} q/s (search precision, "
               "not a confidence interval)")
    confirmed = {True: ", confirmed by a second probe", False: ", NOT confirmed by a second probe",
                 None: ""}[report.confirmed]
    lines.append(f"    [bold]capacity knee: {report.knee_qps:.0f} q/s[/]{confirmed}{bracket}; "
                 f"found in {report.elapsed_s:.0f} s" + (f"; {escape(report.note)}" if report.note else ""))
    return lines


def capacity_scaling_lines(results: Results) -> list[str]:
    """Knee per worker count, and each count's knee over the one-worker knee."""
    measured = [c for c in results.capacity_by_workers if c.knee_qps is not None and c.workers is not None]
    if len(measured) < 2:
        return []
    one = next((c.knee_qps for c in measured if c.workers == 1), None)
    cells = "  ".join(f"{c.workers}w {c.knee_qps:.0f} q/s" + (f" ({(c.knee_qps or 0) / one:.2f}x)" if one else "")
                      for c in measured)
    return [f"  [bold]capacity scaling[/]  {cells}"]


def soak_lines(rep: SoakRecord | None) -> list[str]:
    """First tenth against last tenth of a soak: p99 drift and memory growth."""
    if rep is None:
        return []
    drift = "-" if rep.latency_drift is None else f"{100 * rep.latency_drift:+.1f}%"
    growth = "-" if rep.rss_growth is None else f"{100 * rep.rss_growth:+.1f}%"
    return [f"  [bold]soak[/] {format_duration(rep.duration_s)} at {rep.rate_qps:.0f} q/s: p99 first tenth "
            f"{rep.p99_first_ms or 0:.2f}ms, last tenth {rep.p99_last_ms or 0:.2f}ms (drift {drift}); "
            f"memory {rep.rss_first_mb or 0:.0f} MB -> {rep.rss_last_mb or 0:.0f} MB (growth {growth})"]


def print_summary(console: Console, results: Results, results_path: str | None = None) -> None:
    """Print the whole summary of a run.

    A capacity search's phases are probes: they are left out, and the search's
    own report (per worker count) is shown instead.
    """
    searches = results.capacity_by_workers or ([results.capacity] if results.capacity is not None else [])
    title = f"{results.scenario_name}: {results.status}" + (f" ({results.error})" if results.error else "")
    console.print()
    console.print(f"[bold]{escape(title)}[/]")
    for line in verdict_lines(results.thresholds) or ["  (no thresholds)"]:
        console.print(line, soft_wrap=True)
    measured = [p.name for p in results.phases if p.measured]
    if results.thresholds and measured and not searches:
        excluded = [p.name for p in results.phases if not p.measured]
        console.print(f"  [dim]untagged gates cover the measured phases together: {escape(', '.join(measured))}"
                      + (f" (excluded: {escape(', '.join(excluded))})" if excluded else "") + "[/]", soft_wrap=True)
    console.print()
    recycled = ([f"  [yellow]memory guard: {results.recycles} worker(s) replaced past the memory limit, one at a "
                 "time[/]"] if results.recycles else [])
    body = [*(phase_lines(results.phases) if not searches else []), *recycled, *scaling_lines(results.scaling),
            *[line for c in searches for line in capacity_lines(c)], *capacity_scaling_lines(results),
            *soak_lines(results.soak)]
    for line in body:
        console.print(line, soft_wrap=True)
    counts = results.verdict_counts()
    console.print()
    if results.status != "complete":
        verdict = f"[yellow]{results.status.upper()}[/] (figures so far)"
    elif counts["fail"] or (results.strict and counts["skipped"]):
        verdict = "[red]FAILED[/]"
    else:
        verdict = "[green]PASSED[/]"
    tally = f": {counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped"
    if results.strict and counts["skipped"]:
        tally += " (--strict: skipped gates fail the run)"
    console.print(verdict + tally + (f"; results in {escape(results_path)}" if results_path else ""), soft_wrap=True)

"""``pspread run``, ``pspread stress`` and ``pspread speedup``: benchmark a scenario and gate on it.

``run`` drives the scenario's phases (plus its speedup run when it has one) with
a live view, writes ``results/<UTC time>-<scenario>.json`` after every phase,
prints a k6-style summary and exits 0 when every gate passes, 1 when one
fails, 2 for a bad scenario or graph, 3 when the run was aborted and 130 on
Ctrl-C (results written first).  ``stress`` searches the capacity knee, or
with ``--soak`` holds a steady load and reports drift.  ``speedup`` times one
fixed query set on 1 and on W workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from pspread.cli.run_session import RunSession
from pspread.errors import ScenarioError
from pspread.load.capacity import CapacityReport, find_capacity, soak
from pspread.load.limits import check_runnable
from pspread.load.runner import Runner, make_executor
from pspread.load.scaling import ScalingPoint, measure_scaling
from pspread.scenario.fields import MAX_BATCH, MAX_DURATION_S
from pspread.scenario.loader import load_scenario, resolve_scenario
from pspread.scenario.model import Scenario
from pspread.scenario.overrides import parse_set_option
from pspread.scenario.phases import PhaseSpec
from pspread.scenario.units import format_duration, parse_duration

ScenarioArg = Annotated[Optional[str], typer.Argument(
    help="Scenario file (or a shipped scenario's name); none: the built-in default scenario.", show_default=False)]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", "-w", min=1, help="Worker processes (overrides the scenario).")]
DurationOpt = Annotated[Optional[str], typer.Option("--duration", "-d", help="Length of every measured phase, e.g. 30s, 2m.")]
RateOpt = Annotated[Optional[float], typer.Option("--rate", "-r", min=0.001, help="Arrival rate in queries/s (constant phases; ramps scaled to peak at it).")]
ExecutorOpt = Annotated[Optional[str], typer.Option("--executor", "-e", help="process, inline or dask.")]
SchedulerOpt = Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (implies --executor dask; none: a local cluster on 127.0.0.1).")]
JsonOpt = Annotated[Optional[Path], typer.Option("--json", help="Also write the results JSON here.")]
MarkdownOpt = Annotated[Optional[Path], typer.Option("--markdown", help="Write a Markdown summary here (for CI job pages).")]
ResultsOpt = Annotated[Path, typer.Option("--results-dir", help="Folder for the results file (never overwritten).")]
PlainOpt = Annotated[bool, typer.Option("--plain", help="One line a second instead of the live table (automatic when stdout is not a terminal).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override any scenario key, e.g. --set executor.balance=round-robin (repeatable).")]


def _load(scenario: str | None, overrides: dict[str, Any], sets: list[str] | None) -> tuple[Scenario, Path | None]:
    """The scenario with CLI overrides on top; its folder (relative paths in it resolve there)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    for item in sets or []:
        key, value = parse_set_option(item)
        given[key] = value
    source = resolve_scenario(scenario)
    base = Path(source).resolve().parent if isinstance(source, Path) or (source and Path(source).is_file()) else None
    loaded = load_scenario(source, given)
    check_runnable(loaded)  # e.g. a worker count this machine cannot hold: refused before anything starts
    return loaded, base


def _session(sc: Scenario, base: Path | None, results_dir: Path, plain: bool, json_out: Path | None = None,
             markdown: Path | None = None) -> RunSession:
    return RunSession(sc, results_dir, plain=True if plain else None, json_out=json_out, markdown_out=markdown,
                      base_dir=base)


def _scaling(session: RunSession, runner: Runner, workers: list[int], queries: int, repeats: int) -> None:
    """The speedup run, reported to the session (a line per point as it finishes)."""
    sc, kind = runner.scenario, runner.executor_kind
    assert runner.prepared is not None and runner.workload is not None

    def progress(point: ScalingPoint) -> None:
        if point.skipped:
            session.console.print(f"speedup: {point.workers} workers SKIPPED: {point.skipped}", soft_wrap=True)
        else:
            session.console.print(f"speedup: {point.workers} workers {point.time_s:.3f}s for {queries} queries "
                                  f"({point.qps:.0f} q/s), speedup {point.speedup:.2f}", soft_wrap=True)

    session.console.print(f"speedup run: {queries} fixed queries at saturation on {', '.join(map(str, workers))} workers")
    report = measure_scaling(sc, lambda w: make_executor(sc, runner.prepared, workers=w, kind=kind),  # type: ignore[arg-type]
                             runner.workload, workers, queries, repeats, kind=kind, on_point=progress)
    session.set_scaling(report.to_dict(), report.observed(sc.speedup.max_workers if sc.speedup else None))


def run_command(
    scenario: ScenarioArg = None, workers: WorkersOpt = None, duration: DurationOpt = None, rate: RateOpt = None,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Run a scenario's phases with a live view; gate on its thresholds (exit 0 pass, 1 fail).

    Exit 2: a bad scenario, graph or limit; 3: the run was aborted; 130 Ctrl-C,
    143 SIGTERM, 129 SIGHUP (all three stop the run the same way; the results
    file is still written, marked interrupted).
    """
    if scheduler is not None and executor is None:
        executor = "dask"
    sc, base = _load(scenario, {"workers": workers, "duration": duration, "rate": rate, "executor.kind": executor,
                                "executor.scheduler": scheduler}, set_)
    session = _session(sc, base, results_dir, plain, json_out, markdown)

    def body(runner: Runner) -> None:
        runner.run()
        if sc.speedup is not None:
            _scaling(session, runner, sc.speedup.workers, sc.speedup.queries, sc.speedup.repeats)

    raise typer.Exit(session.execute(body))


def _parse_workers(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    except ValueError:
        raise ScenarioError(f"--workers {text!r}: give worker counts separated by commas, e.g. 1,2,4") from None
    if not counts or counts[0] < 1:
        raise ScenarioError(f"--workers {text!r}: worker counts must be integers >= 1")
    return counts


def speedup_command(
    scenario: ScenarioArg = None,
    workers: Annotated[str, typer.Option("--workers", "-w", help="Worker counts, comma-separated (1 is always added).")] = "1,2",
    queries: Annotated[Optional[int], typer.Option("--queries", "-n", min=1, help="Size of the fixed query set.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Time each count this often; the median counts.")] = 1,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
) -> None:
    """Speedup and efficiency of W workers over 1 on one fixed query set; counts above the cores are SKIPPED."""
    counts = _parse_workers(workers)
    sc, base = _load(scenario, {"executor.kind": executor}, set_)
    n = queries or (sc.speedup.queries if sc.speedup else 2000)
    if n > MAX_BATCH:
        raise ScenarioError(f"--queries {n:,}: a speedup run takes at most {MAX_BATCH:,} queries; ask for fewer")
    session = _session(sc, base, results_dir, plain, json_out, markdown)
    raise typer.Exit(session.execute(lambda runner: _scaling(session, runner, counts, n, repeats),
                                     start_executor=False))


def _capacity_lines(report: CapacityReport) -> list[str]:
    lines = ["  [bold]capacity[/] (constant-rate probes; gates "
             f"{report.latency_gate} and {report.error_gate})"]
    for p in report.probes:
        mark = "[green]✓[/]" if p.passed else "[red]✗[/]"
        lat = "-" if p.latency_ms is None else f"{p.latency_ms:.1f}ms"
        lines.append(f"    {mark} {p.rate_qps:8.0f} q/s offered  {p.achieved_qps:8.0f} answered  latency {lat}  "
                     f"errors {100 * p.error_rate:.2f}%" + (f"  ({p.reason})" if p.reason else ""))
    if report.knee_qps is None:
        lines.append("    capacity knee: not found (even the lowest probe failed)")
    else:
        bracket = "" if report.precision is None else f", first failing {report.first_failing_qps:.0f} q/s (±{100 * report.precision:.1f}%)"
        lines.append(f"    [bold]capacity knee: {report.knee_qps:.0f} q/s[/]{bracket}, found in {report.elapsed_s:.0f} s"
                     + (f"; {report.note}" if report.note else ""))
    return lines


def stress_command(
    scenario: ScenarioArg = None,
    soak_for: Annotated[Optional[str], typer.Option("--soak", help="Hold a steady load this long (e.g. 10m) and report drift, instead of the capacity search.")] = None,
    rate: RateOpt = None,
    probe: Annotated[str, typer.Option("--probe", help="Length of each capacity probe.")] = "3s",
    workers: WorkersOpt = None, executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
) -> None:
    """Find the capacity knee (the highest rate that meets the latency and error gates), or soak."""
    try:
        probe_s = parse_duration(probe)
        soak_s = parse_duration(soak_for) if soak_for is not None else None
    except ValueError as exc:
        raise ScenarioError(f"--probe/--soak: {exc}") from None
    for flag, seconds in (("--probe", probe_s), ("--soak", soak_s)):
        if seconds is not None and not 0 < seconds <= MAX_DURATION_S:
            raise ScenarioError(f"{flag} {seconds:g}s: give a length above 0 and at most "
                                f"{format_duration(MAX_DURATION_S)}, e.g. {flag} 30s")
    sc, base = _load(scenario, {"workers": workers, "executor.kind": executor}, set_)
    rates = [p.rate_qps for p in sc.phases if p.rate_qps and p.measured]
    start = rate or (max(rates) if rates else 100.0)
    # the first probe (or the soak) as the phase it will be, checked now rather than after the warm-up
    PhaseSpec(kind="constant", duration_s=soak_s if soak_s is not None else probe_s, rate_qps=start)
    session = _session(sc, base, results_dir, plain, json_out, markdown)

    def warm(runner: Runner) -> None:
        for phase in sc.phases:
            if not phase.measured:
                runner.run_phase(phase)

    def capacity(runner: Runner) -> None:
        warm(runner)
        report = find_capacity(runner, start, probe_s=probe_s)
        session.add_section("capacity", report.to_dict(), _capacity_lines(report))

    def soak_body(runner: Runner) -> None:
        warm(runner)
        _, rep = soak(runner, start, float(soak_s))  # type: ignore[arg-type]
        drift = "-" if rep.latency_drift is None else f"{100 * rep.latency_drift:+.1f}%"
        growth = "-" if rep.rss_growth is None else f"{100 * rep.rss_growth:+.1f}%"
        lines = [f"  [bold]soak[/] {format_duration(rep.duration_s)} at {rep.rate_qps:.0f} q/s: p99 first tenth "
                 f"{rep.p99_first_ms or 0:.2f}ms, last tenth {rep.p99_last_ms or 0:.2f}ms (drift {drift}); "
                 f"memory {rep.rss_first_mb or 0:.0f} MB -> {rep.rss_last_mb or 0:.0f} MB (growth {growth})"]
        session.add_section("soak", rep.to_dict(), lines)

    if soak_s is not None:
        raise typer.Exit(session.execute(soak_body))
    raise typer.Exit(session.execute(capacity, gates=False))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``stress`` and ``speedup`` to the ``pspread`` command."""
    app.command("run")(run_command)
    app.command("stress")(stress_command)
    app.command("speedup")(speedup_command)

"""``pspread run``, ``pspread stress`` and ``pspread speedup``: run, then render, then exit.

Each command turns its flags into scenario overrides, checks its output paths
before anything runs, hands the run to ``pspread.session`` (which returns
``Results`` with the status and exit code), prints the summary and writes the
requested files.  Exit codes (``pspread.errors.ExitCode``): 0 every gate
passed, 1 a gate failed, 2 bad input (nothing ran), 3 the run was aborted,
130 Ctrl-C (what was measured is written first).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from typing_extensions import Annotated

from pspread.cli.options import (
    DurationOpt,
    ExecutorOpt,
    JsonOpt,
    MarkdownOpt,
    PlainOpt,
    ProbeOpt,
    RateOpt,
    RepeatsOpt,
    ResultsDirOpt,
    ScenarioArg,
    ScenarioSetOpt,
    SchedulerOpt,
    SoakOpt,
    WorkersListOpt,
    WorkersOpt,
    epilog,
    parse_duration_option,
    parse_workers,
)
from pspread.results.export import check_output, to_csv, to_markdown, write_text_atomic
from pspread.results.junit import to_junit
from pspread.results.run import Results
from pspread.scenario.overrides import parse_set_option
from pspread.session import run as session_run
from pspread.session.recording import Session
from pspread.ui.live import LiveView
from pspread.ui.summary import print_summary

CsvOpt = Annotated[Optional[str], typer.Option("--csv", metavar="FILE|-", help="Write the per-second series of every phase as CSV (- for stdout).")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help="Also write an HTML report of this run (plots; works offline), as `pspread report` does.")]
JunitOpt = Annotated[Optional[str], typer.Option("--junit", metavar="FILE|-", help="Write the gates as JUnit XML (one testcase per gate; skipped gates as skipped).")]
OutputsForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Replace existing --json/--markdown/--csv/--junit/--report files.")]
StrictOpt = Annotated[Optional[bool], typer.Option("--strict/--no-strict", help="A SKIPPED gate fails the run (exit 1); default: the scenario's `strict` key.", show_default=False)]
SpeedupQueriesOpt = Annotated[Optional[int], typer.Option("--queries", "-q", metavar="N", min=1, help="Size of the fixed query set (default: the scenario's speedup.queries, else 2000).")]
StressWorkersOpt = Annotated[Optional[str], typer.Option("--workers", "-w", metavar="N[,N...]", help="Worker processes: a count, auto, or several (1,2,4) for one knee per count and the capacity scaling.")]


def _epilog(examples: list[str]) -> str:
    return epilog(examples, exits=(0, 1, 2, 3, 130)) + (
        " 1 also when an abortOnFail gate ended the run. 143 SIGTERM and 129 SIGHUP stop a run like Ctrl-C; "
        "the results file is still written, marked interrupted.")


class Outputs:
    """The files a command writes besides its results file, checked before the run and written after it."""

    def __init__(self, json_out: str | None, markdown: str | None, csv_out: str | None, force: bool,
                 junit: str | None = None, report: Path | None = None) -> None:
        self.targets: list[tuple[str, str, Callable[[Results], str]]] = []
        self.report = check_output(report, force=force, what="--report") if report is not None else None
        for flag, path, render in (("--json", json_out, _json_text), ("--markdown", markdown, to_markdown),
                                   ("--csv", csv_out, to_csv), ("--junit", junit, to_junit)):
            if path is None:
                continue
            if path != "-":
                check_output(path, force=force, what=flag)
            self.targets.append((flag, path, render))
        self.to_stdout = any(path == "-" for _, path, _ in self.targets)

    def write(self, results: Results) -> None:
        for _, path, render in self.targets:
            if path == "-":
                sys.stdout.write(render(results))
                sys.stdout.flush()
            else:
                write_text_atomic(path, render(results))
        if self.report is not None:
            from pspread.report import write_report  # plotting code is imported only when a report is asked for

            write_report([results], self.report)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:  # GitHub Actions shows this file on the job's page
            try:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(to_markdown(results) + "\n")
            except OSError as exc:
                typer.echo(f"warning: GITHUB_STEP_SUMMARY {summary}: {exc.strerror}; summary not appended", err=True)


def _json_text(results: Results) -> str:
    import json

    return json.dumps(results.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _overrides(flags: dict[str, Any], sets: list[str] | None) -> dict[str, Any]:
    given = {k: v for k, v in flags.items() if v is not None}
    for item in sets or []:
        key, value = parse_set_option(item)
        given[key] = value
    return given


def _finish(session: Session, console: Console, outputs: Outputs, run: Callable[[], Results]) -> None:
    """Run, render the summary, write the files, exit with the run's code."""
    results = run()
    if session.measured_anything:
        print_summary(console, results, str(session.path) if session.path else None)
    outputs.write(results)
    if results.status == "interrupted":
        typer.echo("interrupted; partial results written" + (f" to {session.path}" if session.path else ""),
                   err=True)
    elif results.error:
        typer.echo(f"error: {results.error}", err=True)
    raise typer.Exit(int(results.exit_status or 0))


def _prepare(scenario: str | None, flags: dict[str, Any], sets: list[str] | None, results_dir: Path,
             plain: bool, outputs: Outputs, strict: bool | None) -> tuple[Session, Console, LiveView]:
    sc, base = session_run.resolve(scenario, _overrides(flags, sets))
    console = Console(highlight=False, stderr=outputs.to_stdout)
    view = LiveView(sc.parsed_thresholds(), plain=True if plain else None, title=f"pspread {sc.name}",
                    console=console)
    return Session(sc, base_dir=base, results_dir=results_dir, observer=view, strict=strict), console, view


def _run_with_view(view: LiveView, run: Callable[[], Results]) -> Callable[[], Results]:
    def wrapped() -> Results:
        try:
            return run()
        finally:
            view.close()
    return wrapped


def _kind(executor: Any, scheduler: str | None) -> str | None:
    """The executor kind for the scenario: the option's value; --scheduler alone implies dask."""
    if executor is not None:
        return str(executor.value)
    return "dask" if scheduler is not None else None


def run_command(
    scenario: ScenarioArg = None, workers: WorkersOpt = None, duration: DurationOpt = None, rate: RateOpt = None,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None, csv_out: CsvOpt = None,
    junit: JunitOpt = None, report: ReportOpt = None, force: OutputsForceOpt = False,
    results_dir: ResultsDirOpt = Path("results"), plain: PlainOpt = False, set_: ScenarioSetOpt = None,
    scheduler: SchedulerOpt = None, strict: StrictOpt = None,
) -> None:
    """Run a scenario's phases with a live view; gate on its thresholds (exit 0 pass, 1 fail)."""
    count = parse_workers(workers, many=False)[0] if workers is not None else None
    if duration is not None:
        parse_duration_option(duration)  # one syntax, one message; the scenario reads the text itself
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(
        scenario, {"workers": count, "duration": duration, "rate": rate, "executor.kind": _kind(executor, scheduler),
                   "executor.scheduler": scheduler}, set_, results_dir, plain, outputs, strict)
    _finish(session, console, outputs, _run_with_view(view, lambda: session_run.execute_run(session)))


def speedup_command(
    scenario: ScenarioArg = None, workers: WorkersListOpt = "1,2", queries: SpeedupQueriesOpt = None,
    repeats: RepeatsOpt = 1, executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None,
    csv_out: CsvOpt = None, junit: JunitOpt = None, report: ReportOpt = None, force: OutputsForceOpt = False,
    results_dir: ResultsDirOpt = Path("results"), plain: PlainOpt = False, set_: ScenarioSetOpt = None,
    strict: StrictOpt = None,
) -> None:
    """Speedup and efficiency of W workers over 1 on one fixed query set; counts above the cores are SKIPPED."""
    counts = parse_workers(workers or "1,2")  # ``auto`` is resolved by the session
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(scenario, {"executor.kind": _kind(executor, None)}, set_, results_dir, plain,
                                      outputs, strict)
    _finish(session, console, outputs,
            _run_with_view(view, lambda: session_run.execute_speedup(session, counts, queries, repeats)))


def stress_command(
    scenario: ScenarioArg = None, soak_for: SoakOpt = None,
    rate: Annotated[Optional[float], typer.Option("--rate", "-r", min=0.001, metavar="QPS", help="Rate of the first probe (or of the soak); default: the scenario's highest measured rate.")] = None,
    probe: ProbeOpt = "3s", workers: StressWorkersOpt = None, executor: ExecutorOpt = None, json_out: JsonOpt = None,
    markdown: MarkdownOpt = None, csv_out: CsvOpt = None, junit: JunitOpt = None, report: ReportOpt = None,
    force: OutputsForceOpt = False, results_dir: ResultsDirOpt = Path("results"), plain: PlainOpt = False,
    set_: ScenarioSetOpt = None, strict: StrictOpt = None,
) -> None:
    """Find the capacity knee (the highest rate that meets the latency and error gates), or soak.

    Gate on it with `capacity_qps` thresholds in the scenario, e.g. capacity_qps: ['value>=500'].
    """
    probe_s = parse_duration_option(probe, "--probe")
    soak_s = parse_duration_option(soak_for, "--soak") if soak_for is not None else None
    counts = parse_workers(workers) if workers is not None else []
    single = counts[0] if len(counts) == 1 else None  # one count (or auto): the scenario's workers
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(scenario, {"workers": single, "executor.kind": _kind(executor, None)}, set_,
                                      results_dir, plain, outputs, strict)
    several = counts if len(counts) > 1 else None
    _finish(session, console, outputs,
            _run_with_view(view, lambda: session_run.execute_stress(session, probe_s, soak_s, rate, several)))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``stress`` and ``speedup`` to the ``pspread`` command."""
    app.command("run", epilog=_epilog([
        "pspread run", "pspread run quickstart --duration 30s --rate 200 --workers 2",
        "pspread run seed-targets --strict --junit gates.xml --markdown summary.md --report run.html",
        "pspread run my.yaml --set executor.balance=round-robin --json -"]))(run_command)
    app.command("stress", epilog=_epilog([
        "pspread stress quickstart --probe 3s", "pspread stress quickstart --workers 1,2,4 --junit gates.xml",
        "pspread stress quickstart --soak 10m --rate 200"]))(stress_command)
    app.command("speedup", epilog=_epilog([
        "pspread speedup quickstart --workers 1,2,4 --queries 2000 --repeats 3"]))(speedup_command)


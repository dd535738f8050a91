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

from pspread.errors import ScenarioError
from pspread.results.export import check_output, to_csv, to_markdown, write_text_atomic
from pspread.results.junit import to_junit
from pspread.results.model import Results
from pspread.scenario.overrides import parse_set_option
from pspread.scenario.units import parse_duration
from pspread.session import run as session_run
from pspread.session.recording import Session
from pspread.ui.live import LiveView
from pspread.ui.summary import print_summary

EXIT_CODES = ("Exit codes: 0 every gate passed; 1 a gate failed (or an abortOnFail gate ended the run); "
              "2 bad input: a scenario, graph, flag or limit (nothing ran); 3 the run was aborted (workers kept "
              "dying, scheduler unreachable); 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (all three stop the run the "
              "same way; the results file is still written, marked interrupted).")

ScenarioArg = Annotated[Optional[str], typer.Argument(
    help="Scenario file (or a shipped scenario's name); none: the built-in default scenario.", show_default=False,
    metavar="[SCENARIO]")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", "-w", min=1, metavar="N",
                                                   help="Worker processes (overrides the scenario).")]
DurationOpt = Annotated[Optional[str], typer.Option("--duration", "-d", metavar="DURATION",
                                                    help="Length of every measured phase, e.g. 30s, 2m.")]
RateOpt = Annotated[Optional[float], typer.Option("--rate", "-r", min=0.001, metavar="QPS",
                                                  help="Arrival rate in queries/s (constant phases; ramps scaled to peak at it).")]
ExecutorOpt = Annotated[Optional[str], typer.Option("--executor", "-e", metavar="KIND", help="process, inline or dask.")]
SchedulerOpt = Annotated[Optional[str], typer.Option("--scheduler", metavar="URL", help="Dask scheduler address, e.g. tcp://host:8786 (implies --executor dask; none: a local cluster on 127.0.0.1).")]
JsonOpt = Annotated[Optional[str], typer.Option("--json", metavar="FILE|-", help="Also write the results JSON here (- for stdout).")]
MarkdownOpt = Annotated[Optional[str], typer.Option("--markdown", metavar="FILE|-", help="Write a Markdown summary here, for CI job pages (- for stdout).")]
CsvOpt = Annotated[Optional[str], typer.Option("--csv", metavar="FILE|-", help="Write the per-second series of every phase as CSV (- for stdout).")]
ReportOpt = Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help="Also write an HTML report of this run (plots; works offline), as `pspread report` does.")]
JunitOpt = Annotated[Optional[str], typer.Option("--junit", metavar="FILE|-", help="Write the gates as JUnit XML (one testcase per gate; skipped gates as skipped).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing --json/--markdown/--csv/--junit/--report files.")]
StrictOpt = Annotated[Optional[bool], typer.Option("--strict/--no-strict", help="A SKIPPED gate fails the run (exit 1); default: the scenario's `strict` key.", show_default=False)]
ResultsOpt = Annotated[Path, typer.Option("--results-dir", metavar="DIR", help="Folder for the results file (never overwritten).")]
PlainOpt = Annotated[bool, typer.Option("--plain", help="One line a second instead of the live table (automatic when stdout is not a terminal).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Override any scenario key, e.g. --set executor.balance=round-robin (repeatable).")]


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


def run_command(
    scenario: ScenarioArg = None, workers: WorkersOpt = None, duration: DurationOpt = None, rate: RateOpt = None,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None, csv_out: CsvOpt = None,
    junit: JunitOpt = None, report: ReportOpt = None, force: ForceOpt = False,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
    scheduler: SchedulerOpt = None, strict: StrictOpt = None,
) -> None:
    """Run a scenario's phases with a live view; gate on its thresholds (exit 0 pass, 1 fail).

    Exit 2: a bad scenario, graph or limit; 3: the run was aborted; 130 Ctrl-C,
    143 SIGTERM, 129 SIGHUP (all three stop the run the same way; the results
    file is still written, marked interrupted).
    """
    if scheduler is not None and executor is None:
        executor = "dask"
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(
        scenario, {"workers": workers, "duration": duration, "rate": rate, "executor.kind": executor,
                   "executor.scheduler": scheduler}, set_, results_dir, plain, outputs, strict)
    _finish(session, console, outputs, _run_with_view(view, lambda: session_run.execute_run(session)))


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
    workers: Annotated[str, typer.Option("--workers", "-w", metavar="N,N,...", help="Worker counts, comma-separated (1 is always added).")] = "1,2",
    queries: Annotated[Optional[int], typer.Option("--queries", "-n", min=1, metavar="N", help="Size of the fixed query set.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, metavar="N", help="Time each count this often; the median counts.")] = 1,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None, csv_out: CsvOpt = None,
    junit: JunitOpt = None, report: ReportOpt = None, force: ForceOpt = False,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
    strict: StrictOpt = None,
) -> None:
    """Speedup and efficiency of W workers over 1 on one fixed query set; counts above the cores are SKIPPED."""
    counts = _parse_workers(workers)
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(scenario, {"executor.kind": executor}, set_, results_dir, plain, outputs,
                                      strict)
    _finish(session, console, outputs,
            _run_with_view(view, lambda: session_run.execute_speedup(session, counts, queries, repeats)))


def _duration(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ScenarioError(f"{flag} {text!r}: {exc}") from None


def stress_command(
    scenario: ScenarioArg = None,
    soak_for: Annotated[Optional[str], typer.Option("--soak", metavar="DURATION", help="Hold a steady load this long (e.g. 10m) and report drift, instead of the capacity search.")] = None,
    rate: Annotated[Optional[float], typer.Option("--rate", "-r", min=0.001, metavar="QPS", help="Rate of the first probe (or of the soak); default: the scenario's highest measured rate.")] = None,
    probe: Annotated[str, typer.Option("--probe", metavar="DURATION", help="Length of each capacity probe.")] = "3s",
    workers: Annotated[Optional[str], typer.Option("--workers", "-w", metavar="N[,N...]", help="Worker processes; several (1,2,4) find one knee per count and report capacity scaling.")] = None,
    executor: ExecutorOpt = None, json_out: JsonOpt = None, markdown: MarkdownOpt = None,
    csv_out: CsvOpt = None, junit: JunitOpt = None, report: ReportOpt = None, force: ForceOpt = False,
    results_dir: ResultsOpt = Path("results"), plain: PlainOpt = False, set_: SetOpt = None,
    strict: StrictOpt = None,
) -> None:
    """Find the capacity knee (the highest rate that meets the latency and error gates), or soak.

    Gate on it with `capacity_qps` thresholds in the scenario, e.g. capacity_qps: ['value>=500'].
    """
    probe_s, soak_s = _duration("--probe", probe) or 0.0, _duration("--soak", soak_for)
    counts = _parse_workers(workers) if workers is not None else []
    single = counts[0] if len(counts) == 1 else None
    outputs = Outputs(json_out, markdown, csv_out, force, junit, report)
    session, console, view = _prepare(scenario, {"workers": single, "executor.kind": executor}, set_,
                                      results_dir, plain, outputs, strict)
    several = counts if len(counts) > 1 else None
    _finish(session, console, outputs,
            _run_with_view(view, lambda: session_run.execute_stress(session, probe_s, soak_s, rate, several)))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``stress`` and ``speedup`` to the ``pspread`` command."""
    epilog = EXIT_CODES
    app.command("run", epilog=epilog)(run_command)
    app.command("stress", epilog=epilog)(stress_command)
    app.command("speedup", epilog=epilog)(speedup_command)


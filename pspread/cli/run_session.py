"""One benchmarking command from start to exit code: what ``run``, ``stress`` and ``speedup`` share.

A ``RunSession`` owns the runner, the live view, the results object and its
file.  It writes the results file after every phase (atomically, a fresh name
the first time), and on every way out -- gates passed or failed, Ctrl-C, an
aborted run -- stops the executor, removes temporary files, writes what was
measured with the matching status, prints the k6-style summary, and returns
the exit code (0 pass, 1 a gate failed, 3 aborted, 130 interrupted).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import typer
from rich.console import Console

from pspread.cli.errors import EXIT_ABORTED, EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from pspread.errors import PspreadError, RunAborted
from pspread.load.runner import PhaseFigures, Runner, observed_for
from pspread.metrics import stats
from pspread.metrics.thresholds import Observed, Verdict
from pspread.results import PhaseResult, Results, ResultsWriter, to_markdown, utc_now, write_json_atomic
from pspread.results.environment import collect_environment
from pspread.scenario.model import Scenario
from pspread.ui.live import LiveView
from pspread.ui.summary import print_summary


class RunSession:
    """Runs ``body(runner)`` for one scenario and turns whatever happens into files and an exit code."""

    def __init__(self, scenario: Scenario, results_dir: Path, plain: bool | None = None,
                 json_out: Path | None = None, markdown_out: Path | None = None, executor_kind: str | None = None,
                 base_dir: Path | None = None, title: str | None = None) -> None:
        self.scenario = scenario
        self.console = Console(highlight=False)
        self.view = LiveView(scenario.parsed_thresholds(), plain=plain, title=title or f"pspread {scenario.name}")
        self.writer = ResultsWriter(results_dir)
        self.json_out, self.markdown_out = json_out, markdown_out
        self.runner = Runner(scenario, observer=self.view, on_phase=self._phase_done, executor_kind=executor_kind,
                             base_dir=base_dir)
        self.results = Results(scenario_name=scenario.name, scenario=scenario.to_dict(), started_utc=utc_now(),
                               environment=collect_environment())
        self.scaling: dict[str, Any] | None = None
        self.extra_lines: list[str] = []
        self.extra_observed: Observed | None = None

    # ------------------------------------------------------------- results
    def _phase_done(self, phases: list[PhaseFigures]) -> None:
        """After each phase: add it to the results and rewrite the file (atomically)."""
        self.results = self.results.with_phase(PhaseResult.from_dict(phases[-1].to_dict()))
        self.results = replace(self.results, summary={**self.results.summary, **self._summary(phases)})
        self.writer.write(self.results)

    def _summary(self, phases: list[PhaseFigures]) -> dict[str, Any]:
        observed = observed_for(phases)
        measured = [p for p in phases if p.measured]
        total = observed.total or 0
        summary: dict[str, Any] = {
            "total": total, "errors": observed.errors, "error_rate": stats.error_rate(observed.errors or 0, total),
            "latency_ms": stats.summarize(observed.latency_ms if observed.latency_ms is not None else np.zeros(0)).to_dict(),
            "late_starts": sum(p.report.late_starts for p in measured),
            "dropped": sum(p.report.dropped for p in measured),
        }
        summary.update(observed.values)
        return summary

    def set_scaling(self, scaling: dict[str, Any], observed: Observed) -> None:
        """Attach a scaling run (speedup figures join the gates)."""
        self.scaling = scaling
        self.extra_observed = observed
        self.results = replace(self.results, scaling=scaling)
        self.writer.write(self.results)

    def add_section(self, key: str, payload: dict[str, Any], lines: list[str]) -> None:
        """Attach a command's own report (capacity search, soak) to the summary and the results."""
        self.results = replace(self.results, summary={**self.results.summary, key: payload})
        self.extra_lines += lines
        self.writer.write(self.results)

    # ----------------------------------------------------------------- run
    def execute(self, body: Callable[[Runner], None], start_executor: bool = True, gates: bool = True) -> int:
        """Run ``body`` and finish: the exit code, with results written on every path.

        ``start_executor``: False when ``body`` makes its own executors (speedup).
        ``gates``: False when the phases are probes, not a run to judge (capacity search).
        """
        status, code, error = "complete", EXIT_OK, None
        try:
            self.runner.setup(start_executor=start_executor)
            body(self.runner)
        except KeyboardInterrupt:
            status, code = "interrupted", EXIT_INTERRUPTED
        except RunAborted as exc:
            status, code, error = "aborted", EXIT_ABORTED, exc
        except PspreadError as exc:
            if exc.exit_code == EXIT_USAGE and not self.runner.phases:
                raise  # bad input found before anything ran: a message and exit 2, no results file
            status, code, error = "aborted", exc.exit_code, exc
        finally:
            try:
                self._record_workers()
                self.view.close()
            finally:
                self._stop_quietly()
        verdicts = self._verdicts() if gates and (self.runner.phases or self.scaling) else []
        if status == "complete" and any(v.failed for v in verdicts):
            code = EXIT_GATE_FAILED
        self.results = self.results.with_verdicts(verdicts).finished(status, code)
        path = self._write_all()
        if self.runner.phases or self.scaling:
            title = f"{self.scenario.name}: {status}" + (f" ({error})" if error else "")
            print_summary(self.console, title, verdicts, self.runner.phases, self.scaling,
                          str(path) if path else None, self.extra_lines, status=status, judged=gates)
        if error is not None:
            typer.echo(f"error: {error}", err=True)
        elif code == EXIT_INTERRUPTED:
            typer.echo("interrupted; partial results written" + (f" to {path}" if path else ""), err=True)
        return code

    def _record_workers(self) -> None:
        """Per-worker counters from the executor, before it stops."""
        executor = self.runner.executor
        if executor is None:
            return
        try:
            workers = tuple(w.__dict__.copy() for w in executor.stats().workers)
        except (PspreadError, OSError, KeyboardInterrupt):
            return
        self.results = replace(self.results, workers=workers)

    def _stop_quietly(self) -> None:
        """Stop the executor even if a second Ctrl-C arrives while it stops."""
        for _ in range(3):
            try:
                self.runner.close()
                return
            except KeyboardInterrupt:
                continue

    def _verdicts(self) -> list[Verdict]:
        return self.runner.verdicts(self.extra_observed)

    def _write_all(self) -> Path | None:
        path = None
        if self.runner.phases or self.scaling or self.results.status != "complete":
            path = self.writer.write(self.results)
        if self.json_out is not None:
            write_json_atomic(self.results, self.json_out, replace=True)
        if self.markdown_out is not None:
            self.markdown_out.parent.mkdir(parents=True, exist_ok=True)
            self.markdown_out.write_text(to_markdown(self.results), encoding="utf-8")
        return path


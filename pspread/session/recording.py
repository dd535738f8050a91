"""What every run keeps while it runs: its :class:`Results`, its results file, its gates and how it ended.

A :class:`Session` owns one :class:`~pspread.load.runner.Runner`.  After each
phase it rebuilds the results (phases, and the summary computed once by
``pspread.results.summary``) and rewrites the results file atomically, so a run
stopped by Ctrl-C, a crash or a dying worker still leaves what it measured.
:meth:`Session.execute` runs a body on the runner and, on every way out, stops
the executor, removes temporary files, judges the gates and records the status
and exit code.  It never prints: rendering is the caller's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from pspread.errors import ExitCode, PspreadError, RunAborted
from pspread.execution.base import Executor
from pspread.load.capacity import CapacityReport, SoakReport
from pspread.load.clock import Clock
from pspread.load.runner import Observer, Runner
from pspread.load.scaling import ScalingPoint, ScalingReport
from pspread.metrics.thresholds import SCALING_METRICS, Observed, Verdict, evaluate_all
from pspread.results.environment import collect_environment
from pspread.results.export import ResultsWriter
from pspread.results.model import PhaseResult, Results, utc_now
from pspread.results.records import CapacityRecord, ScalingRecord, SoakRecord, WorkerRecord
from pspread.results.summary import observed, run_summary
from pspread.scenario.model import Scenario


class SessionObserver(Observer, Protocol):
    """A live view: the runner's phase hooks, plus each point of a speedup run as it is measured."""

    def scaling_point(self, point: ScalingPoint, queries: int) -> None: ...


class Session:
    """One run's state; see the module docstring.

    ``results_dir``: a folder (or a ``ResultsWriter``) for the results file,
    written after every phase and at the end; None writes nothing.
    """

    def __init__(self, scenario: Scenario, *, base_dir: Path | None = None,
                 results_dir: str | Path | ResultsWriter | None = None, executor: Executor | None = None,
                 clock: Clock | None = None, observer: Observer | None = None) -> None:
        self.scenario = scenario
        self.observer = observer
        if isinstance(results_dir, ResultsWriter) or results_dir is None:
            self.writer = results_dir
        else:
            self.writer = ResultsWriter(results_dir)
        self.runner = Runner(scenario, observer=observer, on_phase=self._phase_done, base_dir=base_dir,
                             executor=executor, clock=clock)
        self.results = Results(scenario_name=scenario.name, scenario=scenario.to_dict(), started_utc=utc_now(),
                               environment=collect_environment())
        self.scaling_observed: Observed | None = None
        self.verdicts: list[Verdict] = []

    @property
    def path(self) -> Path | None:
        """The results file, once written."""
        return self.writer.path if self.writer is not None else None

    # ------------------------------------------------------------- results
    def _update(self, **fields: Any) -> None:
        self.results = self.results.model_copy(update=fields)
        if self.writer is not None:
            self.writer.write(self.results)

    def _phase_done(self, phases: list[PhaseResult]) -> None:
        self._update(phases=list(phases), summary=run_summary(phases))

    def set_scaling(self, report: ScalingReport) -> None:
        """Attach a speedup run (its speedup and efficiency join the gates)."""
        speedup = self.scenario.speedup
        self.scaling_observed = report.observed(speedup.max_workers if speedup else None)
        self._update(scaling=ScalingRecord.model_validate(report.to_dict()))

    def set_capacity(self, report: CapacityReport) -> None:
        self._update(capacity=CapacityRecord.model_validate(report.to_dict()))

    def set_soak(self, report: SoakReport) -> None:
        self._update(soak=SoakRecord.model_validate(report.to_dict()))

    @property
    def measured_anything(self) -> bool:
        return bool(self.runner.phases) or self.results.scaling is not None

    # ----------------------------------------------------------------- run
    def execute(self, body: Callable[[Runner], None], start_executor: bool = True, gates: bool = True) -> Results:
        """Run ``body`` and finish: the results, with status and exit code, written on every path.

        ``start_executor``: False when ``body`` makes its own executors (speedup).
        ``gates``: False when the phases are probes, not a run to judge (capacity search).
        A ``PspreadError`` of bad input raised before anything ran propagates (nothing to record).
        """
        error: PspreadError | None = None
        status, code = "complete", int(ExitCode.OK)
        try:
            self.runner.setup(start_executor=start_executor)
            body(self.runner)
        except KeyboardInterrupt:
            status, code = "interrupted", int(ExitCode.INTERRUPTED)
        except RunAborted as exc:
            status, code, error = "aborted", int(ExitCode.ABORTED), exc
        except PspreadError as exc:
            if exc.exit_code == ExitCode.USAGE and not self.measured_anything:
                raise
            status, code, error = "aborted", int(exc.exit_code), exc
        finally:
            try:
                self._record_workers()
            finally:
                self._stop_quietly()
        self.verdicts = self._judge() if gates and self.measured_anything else []
        if status == "complete" and any(v.failed for v in self.verdicts):
            code = int(ExitCode.GATE_FAILED)
        message = str(error) if error is not None else None
        self.results = self.results.with_verdicts(self.verdicts).finished(status, int(code), message)
        if self.writer is not None and (self.measured_anything or status != "complete"):
            self.writer.write(self.results)
        return self.results

    def _judge(self) -> list[Verdict]:
        """The scenario's gates against the measured phases (and the speedup run, when there was one)."""
        seen = observed(self.runner.phases)
        extra = self.scaling_observed
        if extra is not None:
            seen.values.update(extra.values)
            seen.unavailable.update(extra.unavailable)
            seen.speedup_workers = extra.speedup_workers
        for metric in SCALING_METRICS:
            if metric not in seen.values and metric not in seen.unavailable:
                seen.unavailable[metric] = "no speedup run in this command (use `pspread speedup`)"
        thresholds = self.scenario.parsed_thresholds()
        if not self.runner.phases:  # only a scaling run (pspread speedup): the load gates have nothing to judge
            thresholds = [t for t in thresholds if t.metric in SCALING_METRICS]
        return evaluate_all(thresholds, seen)

    def _record_workers(self) -> None:
        """Per-worker counters from the executor, before it stops."""
        executor = self.runner.executor
        if executor is None:
            return
        try:
            workers = executor.stats().workers
        except (PspreadError, OSError, KeyboardInterrupt):
            return
        fields = WorkerRecord.model_fields
        records = [WorkerRecord.model_validate({k: v for k, v in w.__dict__.items() if k in fields}) for w in workers]
        self.results = self.results.model_copy(update={"workers": records})

    def _stop_quietly(self) -> None:
        """Stop the executor even if a second Ctrl-C arrives while it stops."""
        for _ in range(3):
            try:
                self.runner.close()
                return
            except KeyboardInterrupt:
                continue

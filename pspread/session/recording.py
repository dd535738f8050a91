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
from pspread.metrics.system import usable_cores
from pspread.metrics.thresholds import (
    CAPACITY_METRICS,
    SCALING_METRICS,
    Observed,
    Verdict,
    VerdictStatus,
    evaluate,
    evaluate_all,
)
from pspread.results.environment import collect_environment
from pspread.results.export import ResultsWriter
from pspread.results.records import CapacityRecord, ScalingRecord, SoakRecord, WorkerRecord
from pspread.results.run import PhaseResult, Results, utc_now
from pspread.results.summary import observed, run_summary
from pspread.scenario.spec import Scenario


class GateAborted(PspreadError):
    """An ``abortOnFail`` gate failed during the run: it ended early, its results are written (exit 1)."""

    exit_code = ExitCode.GATE_FAILED


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
                 clock: Clock | None = None, observer: Observer | None = None, strict: bool | None = None) -> None:
        self.scenario = scenario
        self.strict = scenario.strict if strict is None else strict
        self.observer = observer
        if isinstance(results_dir, ResultsWriter) or results_dir is None:
            self.writer = results_dir
        else:
            self.writer = ResultsWriter(results_dir)
        self.runner = Runner(scenario, observer=observer, on_phase=self._phase_done, base_dir=base_dir,
                             executor=executor, clock=clock)
        self.results = Results(scenario_name=scenario.name, scenario=scenario.to_dict(), started_utc=utc_now(),
                               environment=collect_environment(), strict=self.strict)
        self.scaling_observed: Observed | None = None
        self.capacity_skipped: str | None = None
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
        """Attach one capacity search (per worker count, when several); the largest count is the headline."""
        record = CapacityRecord.model_validate(report.to_dict())
        by_workers = [c for c in self.results.capacity_by_workers if c.workers != record.workers]
        if record.workers is not None:
            by_workers = sorted([*by_workers, record], key=lambda c: c.workers or 0)
        self._update(capacity=record, capacity_by_workers=by_workers)

    def note_skipped_workers(self, workers: int, reason: str) -> None:
        """A worker count the capacity search could not run here: recorded, and its gates SKIPPED."""
        self.capacity_skipped = f"capacity on {workers} workers: {reason}"
        skipped = CapacityRecord(latency_gate="", error_gate="", workers=workers, skipped=reason)
        by_workers = sorted([*self.results.capacity_by_workers, skipped], key=lambda c: c.workers or 0)
        self._update(capacity_by_workers=by_workers)

    def set_soak(self, report: SoakReport) -> None:
        self._update(soak=SoakRecord.model_validate(report.to_dict()))

    @property
    def measured_anything(self) -> bool:
        return bool(self.runner.phases) or self.results.scaling is not None

    # ----------------------------------------------------------------- run
    def execute(self, body: Callable[[Runner], None], start_executor: bool = True, capacity: bool = False) -> Results:
        """Run ``body`` and finish: the results, with status and exit code, written on every path.

        ``start_executor``: False when ``body`` makes its own executors (speedup).
        ``capacity``: the phases are probes of a capacity search: only ``capacity_qps`` gates are judged.
        With ``strict``, a SKIPPED gate fails the run like a failed one (exit 1).
        A ``PspreadError`` of bad input raised before anything ran propagates (nothing to record).
        """
        error: PspreadError | None = None
        status, code = "complete", int(ExitCode.OK)
        try:
            self.runner.setup(start_executor=start_executor)
            body(self.runner)
        except KeyboardInterrupt:
            status, code = "interrupted", int(ExitCode.INTERRUPTED)
        except GateAborted as exc:
            status, code, error = "aborted", int(ExitCode.GATE_FAILED), exc
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
        self.verdicts = self._judge(capacity) if self.measured_anything else []
        failed = any(v.failed for v in self.verdicts)
        if self.strict and any(v.status is VerdictStatus.SKIPPED for v in self.verdicts):
            failed = True
        if status == "complete" and failed:
            code = int(ExitCode.GATE_FAILED)
        message = str(error) if error is not None else None
        self.results = self.results.with_verdicts(self.verdicts).finished(status, int(code), message)
        if self.writer is not None and (self.measured_anything or status != "complete"):
            self.writer.write(self.results)
        return self.results

    def _judge(self, capacity: bool) -> list[Verdict]:
        """The scenario's gates against the measured phases (and the speedup run, when there was one).

        A capacity search judges only the ``capacity_qps`` gates (its phases are
        probes); every other command leaves those to ``pspread stress``.
        """
        thresholds = self.scenario.parsed_thresholds()
        if capacity:
            return evaluate_all([t for t in thresholds if t.metric in CAPACITY_METRICS], self._capacity_observed())
        thresholds = [t for t in thresholds if t.metric not in CAPACITY_METRICS]
        seen = observed(self.runner.phases)
        scoped = {t.tags: observed(self.runner.phases, tags=t.tags) for t in thresholds if t.tags}
        extra = self.scaling_observed
        if extra is not None:
            seen.values.update(extra.values)
            seen.unavailable.update(extra.unavailable)
            seen.speedup_workers = extra.speedup_workers
        for metric in SCALING_METRICS:
            if metric not in seen.values and metric not in seen.unavailable:
                seen.unavailable[metric] = "no speedup run in this command (use `pspread speedup`)"
        if not self.runner.phases:  # only a scaling run (pspread speedup): the load gates have nothing to judge
            thresholds = [t for t in thresholds if t.metric in SCALING_METRICS]
        return [evaluate(t, scoped[t.tags] if t.tags else seen) for t in thresholds]

    def _capacity_observed(self) -> Observed:
        """The knee the gates judge: the search on the most workers this machine can run in parallel."""
        seen = Observed(cores=usable_cores())
        cap = self.results.capacity
        if self.capacity_skipped is not None:
            seen.unavailable["capacity_qps"] = self.capacity_skipped
        elif cap is None:
            seen.unavailable["capacity_qps"] = "no capacity search ran"
        elif cap.knee_qps is None:
            seen.values["capacity_qps"] = 0.0  # even the lowest probe failed: no rate is served
        else:
            seen.values["capacity_qps"] = cap.knee_qps
        return seen

    def _record_workers(self) -> None:
        """Per-worker counters from the executor, before it stops."""
        executor = self.runner.executor
        if executor is None:
            return
        try:
            stats = executor.stats()
        except (PspreadError, OSError, KeyboardInterrupt):
            return
        fields = WorkerRecord.model_fields
        records = [WorkerRecord.model_validate({k: v for k, v in w.__dict__.items() if k in fields})
                   for w in stats.workers]
        self.results = self.results.model_copy(update={"workers": records, "recycles": int(stats.recycles)})

    def _stop_quietly(self) -> None:
        """Stop the executor even if a second Ctrl-C arrives while it stops."""
        for _ in range(3):
            try:
                self.runner.close()
                return
            except KeyboardInterrupt:
                continue

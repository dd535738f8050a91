"""Runs a whole scenario: graph, executor, phases, figures, gates, results file.

``Runner(scenario).run()`` prepares the graph (generated graphs are written to
a bundle so worker processes can mmap it; a temporary one is removed when the
run ends), starts the executor, drives every phase, and after each phase turns
its samples into figures and hands them to ``on_phase`` -- where the CLI
rewrites the results file (atomically), so a run stopped by Ctrl-C or a crash
still leaves what it measured.  Warm-up phases
run and are shown but are excluded from the figures and gates.

The runner never prints: a UI observer (``pspread.ui.live``) watches the driver,
the recorder and the resource sampler through the ``Observer`` hooks.
"""

from __future__ import annotations

import atexit
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from pspread.engine.graph import Graph
from pspread.engine.tempdirs import owned_tempdir
from pspread.errors import ExecutorError, RunAborted, ScenarioError
from pspread.execution.base import Executor
from pspread.load.driver import Driver, DriverReport
from pspread.load.recorder import Recorder, Samples
from pspread.load.resources import PhaseResources, ResourceSampler
from pspread.load.schedule import ArrivalSchedule
from pspread.load.workload import Workload, workload_for
from pspread.metrics import stats
from pspread.metrics.thresholds import SCALING_METRICS, Observed, Verdict, evaluate_all
from pspread.scenario.model import Scenario
from pspread.scenario.phases import PhaseSpec

CACHE_ENV = "PSPREAD_CACHE_DIR"


# ------------------------------------------------------------------ graph
@dataclass
class PreparedGraph:
    """A graph ready for executors: in memory, and as a bundle folder workers can mmap."""

    graph: Graph
    path: Path | None
    tmpdir: Path | None = None

    def cleanup(self) -> None:
        """Remove the temporary bundle, if this run wrote one."""
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def prepare_graph(scenario: Scenario, need_bundle: bool, base_dir: Path | None = None) -> PreparedGraph:
    """Load or generate the scenario's graph; write a bundle when workers need one.

    Generated bundles go to ``$PSPREAD_CACHE_DIR/<kind>-<params>`` when that
    variable is set (kept, reused by later runs), else to a temporary folder
    removed by :meth:`PreparedGraph.cleanup`.
    """
    from pspread.engine.generators import generate_graph
    from pspread.engine.io import is_bundle, load_graph, save_graph

    spec = scenario.graph
    if spec.path is not None:
        path = Path(spec.path)
        if not path.exists() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
        if is_bundle(path):
            return PreparedGraph(load_graph(path), path)
        graph = load_graph(path, directed=spec.directed)
        key = None
    else:
        assert spec.generate is not None
        params = spec.generate.params()
        key = spec.generate.kind + "-" + "-".join(f"{k}{v}" for k, v in sorted(params.items()))
        cache = os.environ.get(CACHE_ENV)
        if cache and is_bundle(Path(cache) / key):
            return PreparedGraph(load_graph(Path(cache) / key), Path(cache) / key)
        graph = generate_graph(spec.generate.kind, **params)
        if cache:
            return PreparedGraph(graph, save_graph(graph, Path(cache) / key, overwrite=True))
    if not need_bundle:
        return PreparedGraph(graph, None)
    folder = owned_tempdir("pspread-graph-")  # named by pid: a killed run's folder goes at the next start
    atexit.register(shutil.rmtree, folder, True)  # the last resort if cleanup() is never reached
    try:
        return PreparedGraph(graph, save_graph(graph, folder / (key or "graph")), tmpdir=folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def make_executor(scenario: Scenario, prepared: PreparedGraph, workers: int | None = None,
                  kind: str | None = None) -> Executor:
    """The scenario's executor over the prepared graph (``workers``/``kind`` override it)."""
    spec = scenario.executor
    kind = kind or spec.kind
    types = scenario.query_types()
    model = types[0].model if len(types) == 1 else scenario.spread_model()
    n = workers or spec.resolved_workers()
    if kind == "inline":
        from pspread.execution.inline import InlineExecutor

        return InlineExecutor(prepared.graph, model=model, kernel=scenario.model.kernel)
    if prepared.path is None:
        raise ExecutorError(f"the {kind} executor needs the graph as a bundle folder")
    if kind == "process":
        from pspread.execution.process import ProcessExecutor

        options: dict[str, Any] = {"balance": spec.balance, "batch_size": spec.batch_size,
                                   "memory_limit_mb": spec.memory_limit_mb, "queue_size": spec.queue_size}
        if spec.max_in_flight is not None:
            options["max_in_flight"] = spec.max_in_flight
        return ProcessExecutor(prepared.path, workers=n, model=model, kernel=scenario.model.kernel, **options)
    if kind == "dask":
        from pspread.execution.dask import DaskExecutor  # says how to install Dask when it is missing

        dask_options: dict[str, Any] = {"balance": spec.balance, "batch_size": spec.batch_size,
                                        "memory_limit_mb": spec.memory_limit_mb, "queue_size": spec.queue_size}
        if spec.max_in_flight is not None:
            dask_options["max_in_flight"] = spec.max_in_flight
        return DaskExecutor(prepared.path, scheduler=spec.scheduler, workers=n, model=model,
                            kernel=scenario.model.kernel, **dask_options)
    raise ScenarioError(f"executor.kind must be process, inline or dask; got {kind!r}")


# ------------------------------------------------------------------ figures
@dataclass
class PhaseFigures:
    """What one phase measured, ready for gates, tables and the results file."""

    name: str
    kind: str
    measured: bool
    planned_s: float
    report: DriverReport
    latency: stats.LatencySummary
    outcomes: dict[str, int]
    errors: int
    total: int
    throughput_qps: float
    series: stats.Series
    resources: PhaseResources
    per_worker: dict[int, int]
    latency_ms: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    planned_rate: float | None = None
    per_worker_latency: dict[int, dict[str, float | None]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return stats.error_rate(self.errors, self.total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "measured": self.measured, "planned_s": self.planned_s,
            "driver": self.report.to_dict(), "latency_ms": self.latency.to_dict(), "outcomes": self.outcomes,
            "errors": self.errors, "total": self.total, "error_rate": self.error_rate,
            "throughput_qps": self.throughput_qps, "planned_rate_qps": self.planned_rate,
            "per_worker": {str(k): v for k, v in self.per_worker.items()},
            "per_worker_latency_ms": {str(k): v for k, v in self.per_worker_latency.items()},
            "series": self.series.to_dict(), "resources": self.resources.to_dict(),
        }


def phase_figures(phase: PhaseSpec, report: DriverReport, samples: Samples, resources: PhaseResources) -> PhaseFigures:
    """Summaries of one phase's samples: OK latencies (ms) from the intended start, errors incl. drops."""
    ok = samples.ok
    lat_ms = samples.latency_s * 1e3
    outcomes = samples.outcome_counts()
    if report.dropped:
        outcomes["dropped"] = report.dropped
    total = len(samples) + report.dropped
    errors = total - int(ok.sum())
    span = max(report.duration_s, 1e-9)
    workers = np.bincount(samples.worker[samples.worker >= 0]) if len(samples) else np.zeros(0, np.int64)
    per_worker_latency = {}
    for w in np.flatnonzero(workers).tolist():
        mine = lat_ms[ok & (samples.worker == w)]
        summary = stats.summarize(mine)
        per_worker_latency[w] = {"count": summary.count, "med": summary.med, "p99": summary.p99, "max": summary.max}
    return PhaseFigures(
        name=str(phase.name), kind=phase.kind, measured=phase.measured, planned_s=float(phase.duration_s or 0.0),
        report=report, latency=stats.summarize(lat_ms[ok]), outcomes=outcomes, errors=errors, total=total,
        throughput_qps=int(ok.sum()) / span,
        series=stats.per_second(samples.completed - samples.origin, lat_ms, ok, duration_s=phase.duration_s),
        resources=resources, per_worker={i: int(c) for i, c in enumerate(workers.tolist()) if c},
        latency_ms=lat_ms[ok], planned_rate=phase.rate_qps, per_worker_latency=per_worker_latency,
    )


def observed_for(phases: list[PhaseFigures], cores: int | None = None) -> Observed:
    """Gate inputs from the measured phases together (warm-up excluded)."""
    measured = [p for p in phases if p.measured]
    lat = np.concatenate([p.latency_ms for p in measured]) if measured else np.zeros(0)
    errors = sum(p.errors for p in measured)
    total = sum(p.total for p in measured)
    span = sum(p.report.duration_s for p in measured)
    ok = sum(p.total - p.errors for p in measured)
    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    if span > 0:
        values["throughput_qps"] = ok / span
    splits = [p.resources.cpu for p in measured if p.resources.cpu is not None]
    if splits:
        cpu = splits[0]
        for sp in splits[1:]:
            cpu = cpu + sp
        if cpu.coordination_overhead is not None:
            values["coordination_overhead"] = cpu.coordination_overhead
            values["load_generation"] = cpu.load_generation or 0.0
    if "coordination_overhead" not in values:
        unavailable["coordination_overhead"] = "no CPU was measured in the measured phases"
    growth = [p.resources.rss_growth for p in measured if p.resources.rss_growth is not None]
    if growth:
        values["rss_growth"] = growth[-1]
    return Observed(latency_ms=lat, errors=errors, total=total, values=values, unavailable=unavailable,
                    cores=cores or os.cpu_count() or 1)


# ------------------------------------------------------------------ running
class Observer(Protocol):
    """What a live view is told (all optional in practice: see ``NullObserver``)."""

    def phase_started(self, phase: PhaseSpec, driver: Driver, recorder: Recorder, sampler: ResourceSampler) -> None: ...

    def phase_finished(self, figures: PhaseFigures) -> None: ...


class NullObserver:
    def phase_started(self, phase: PhaseSpec, driver: Driver, recorder: Recorder, sampler: ResourceSampler) -> None:
        pass

    def phase_finished(self, figures: PhaseFigures) -> None:
        pass


def schedule_for(phase: PhaseSpec, seed: int) -> ArrivalSchedule:
    """The arrival schedule of an open-model phase."""
    segments = phase.ramp_segments()
    return ArrivalSchedule.ramping([(d, hi) for d, _, hi in segments], start_rate=segments[0][1],
                                   poisson=phase.poisson, seed=seed)


class Runner:
    """Runs one scenario's phases on one executor; see the module docstring.

    ``on_phase``: called after each phase with the figures so far, also for a
    phase cut short by Ctrl-C (the CLI writes the results file there).  ``executor_kind``/``workers`` override the
    scenario's.  ``max_lateness_s``: drop arrivals later than this.
    """

    def __init__(self, scenario: Scenario, observer: Observer | None = None,
                 on_phase: Callable[[list[PhaseFigures]], None] | None = None,
                 executor_kind: str | None = None, base_dir: Path | None = None,
                 max_lateness_s: float | None = None, sample_interval_s: float = 0.5) -> None:
        self.scenario = scenario
        self.observer = observer or NullObserver()
        self.on_phase = on_phase or (lambda figures: None)
        self.executor_kind = executor_kind or scenario.executor.kind
        self.base_dir = base_dir
        self.max_lateness_s = max_lateness_s
        self.sample_interval_s = sample_interval_s
        self.phases: list[PhaseFigures] = []
        self.driver: Driver | None = None
        self.executor: Executor | None = None
        self.sampler: ResourceSampler | None = None
        self.prepared: PreparedGraph | None = None
        self.workload: Workload | None = None
        self._offset = 0

    # the pieces are public so stress and speedup reuse them
    def setup(self, start_executor: bool = True) -> None:
        """Graph and workload, then (``start_executor``) executor, driver and sampler; idempotent."""
        if self.prepared is None:
            self.prepared = prepare_graph(self.scenario, self.executor_kind != "inline", self.base_dir)
            graph = self.prepared.graph
            self.workload = workload_for(self.scenario, graph.num_nodes, graph.labels, self.base_dir)
        if self.executor is not None or not start_executor:
            return
        self.executor = make_executor(self.scenario, self.prepared, kind=self.executor_kind)
        timeout = self.scenario.workload.timeout_s or 30.0
        self.driver = Driver(self.executor, max_lateness_s=self.max_lateness_s, drain_timeout_s=timeout + 5.0)
        self.sampler = ResourceSampler(self.executor.pids, self.sample_interval_s, self.executor).start()

    def close(self) -> None:
        """Stop the executor and sampler, remove temporary files (idempotent)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.executor is not None:
            self.executor.close()
        if self.prepared is not None:
            self.prepared.cleanup()

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()

    def source(self) -> Callable[[int], Any]:
        """A query source that continues the workload stream where the last phase ended."""
        assert self.workload is not None
        offset, query = self._offset, self.workload.query
        return lambda k: query(offset + k)

    def run_phase(self, phase: PhaseSpec) -> PhaseFigures:
        """Drive one phase and return its figures."""
        assert self.driver is not None and self.executor is not None and self.sampler is not None
        recorder = Recorder(capacity=_capacity(phase))
        intended = None
        if phase.is_open:
            intended = schedule_for(phase, self.scenario.workload.random_seed + len(self.phases)).intended_times()
        self.sampler.begin_phase()
        try:
            self.observer.phase_started(phase, self.driver, recorder, self.sampler)
            if intended is not None:
                report = self.driver.run_open(self.source(), intended, recorder)
            else:
                clients = phase.clients or max(1, self.executor.num_workers)
                report = self.driver.run_closed(self.source(), recorder, clients=clients,
                                                duration_s=phase.duration_s, think_time_s=phase.think_time_ms / 1e3)
        except KeyboardInterrupt:  # Ctrl-C just outside the driver's loop: still a phase, cut short
            report = self.driver.abandon("open" if intended is not None else "closed", recorder)
        self._offset += report.submitted
        figures = phase_figures(phase, report, recorder.snapshot(), self.sampler.end_phase())
        self.phases.append(figures)
        self.observer.phase_finished(figures)
        self.on_phase(self.phases)
        if report.interrupted:
            raise KeyboardInterrupt
        return figures

    def run(self) -> list[PhaseFigures]:
        """Every phase in order (each handed to ``on_phase`` as it ends)."""
        self.setup()
        for phase in self.scenario.phases:
            figures = self.run_phase(phase)
            if figures.report.stopped:
                break
            if figures.total and figures.outcomes.get("worker_lost", 0) == figures.total:
                raise RunAborted(f"phase {phase.name}: every query was lost with its worker; the workers keep dying")
        return self.phases

    def verdicts(self, extra: Observed | None = None) -> list[Verdict]:
        """The scenario's gates against the measured phases (``extra`` adds scaling figures)."""
        observed = observed_for(self.phases)
        if extra is not None:
            observed.values.update(extra.values)
            observed.unavailable.update(extra.unavailable)
            observed.speedup_workers = extra.speedup_workers
        for metric in SCALING_METRICS:
            if metric not in observed.values and metric not in observed.unavailable:
                observed.unavailable[metric] = "no speedup run in this command (use `pspread speedup`)"
        thresholds = self.scenario.parsed_thresholds()
        if not self.phases:  # only a scaling run (pspread speedup): the load gates have nothing to judge
            thresholds = [t for t in thresholds if t.metric in SCALING_METRICS]
        return evaluate_all(thresholds, observed)


def _capacity(phase: PhaseSpec) -> int:
    """Rows to preallocate: the planned arrivals plus slack (the recorder grows past it anyway)."""
    segments = phase.ramp_segments()
    planned = sum(d * (a + b) / 2 for d, a, b in segments) if segments else 10_000
    return int(min(max(planned * 1.1 + 1024, 4096), 1 << 22))


"""Drives a scenario's phases on one executor: graph, workload, executor, driver, resource sampler.

``Runner(scenario).run()`` prepares the graph (generated graphs are written to
a bundle so worker processes can mmap it; a temporary one is removed when the
run ends), starts the executor, drives every phase, and after each phase turns
its samples into a :class:`~pspread.results.run.PhaseResult`
(``pspread.load.figures``) and hands it to ``on_phase``.  What a whole run is
-- results, gates, files, exit code -- is ``pspread.session.run_scenario``,
built on this.

The runner never prints: a UI observer (``pspread.ui.live``) watches the driver,
the recorder and the resource sampler through the ``Observer`` hooks.
"""

from __future__ import annotations

import atexit
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from pspread.engine.direction import sink_warning
from pspread.engine.graph import Graph
from pspread.engine.tempdirs import owned_tempdir
from pspread.errors import ExecutorError, RunAborted, ScenarioError
from pspread.execution.base import Executor
from pspread.load.clock import SYSTEM_CLOCK, Clock
from pspread.load.driver import Driver
from pspread.load.figures import phase_result
from pspread.load.recorder import Recorder
from pspread.load.resources import ResourceSampler
from pspread.load.schedule import ArrivalSchedule, expected_arrivals
from pspread.load.workload import Workload, workload_for
from pspread.results.run import PhaseResult
from pspread.scenario.phases import PhaseSpec
from pspread.scenario.spec import Scenario

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


# ------------------------------------------------------------------ running
class Observer(Protocol):
    """What a live view is told (all optional in practice: see ``NullObserver``).

    An observer may also have ``preparing(step: str)``, told each start-up step
    (opening or generating the graph, starting workers) before the first phase.
    """

    def phase_started(self, phase: PhaseSpec, driver: Driver, recorder: Recorder, sampler: ResourceSampler) -> None: ...

    def phase_finished(self, phase: PhaseResult) -> None: ...


class NullObserver:
    """Watches nothing (the default when no live view is attached)."""

    def phase_started(self, phase: PhaseSpec, driver: Driver, recorder: Recorder, sampler: ResourceSampler) -> None:
        pass

    def phase_finished(self, phase: PhaseResult) -> None:
        pass


def schedule_for(phase: PhaseSpec, seed: int) -> ArrivalSchedule:
    """The arrival schedule of an open-model phase."""
    segments = phase.ramp_segments()
    return ArrivalSchedule.ramping([(d, hi) for d, _, hi in segments], start_rate=segments[0][1],
                                   poisson=phase.poisson, seed=seed)


class Runner:
    """Runs one scenario's phases on one executor; see the module docstring.

    ``on_phase``: called after each phase with the results so far, also for a
    phase cut short by Ctrl-C.  ``executor``: use this one instead of building
    the scenario's (the caller keeps it: the runner does not close it).
    ``executor_kind`` overrides the scenario's.  ``clock``: the driver's time
    source (tests pass a simulated one with a scripted executor).
    ``max_lateness_s``: drop arrivals later than this.
    """

    def __init__(self, scenario: Scenario, observer: Observer | None = None,
                 on_phase: Callable[[list[PhaseResult]], None] | None = None,
                 executor_kind: str | None = None, base_dir: Path | None = None,
                 max_lateness_s: float | None = None, sample_interval_s: float = 0.5,
                 executor: Executor | None = None, clock: Clock | None = None) -> None:
        self.scenario = scenario
        self.observer: Observer = observer or NullObserver()
        self.on_phase = on_phase or (lambda phases: None)
        self.executor_kind = executor_kind or scenario.executor.kind
        self.base_dir = base_dir
        self.max_lateness_s = max_lateness_s
        self.sample_interval_s = sample_interval_s
        self.clock = clock or SYSTEM_CLOCK
        self.phases: list[PhaseResult] = []
        self.driver: Driver | None = None
        self.executor: Executor | None = executor
        self._own_executor = executor is None
        self.workers: int | None = None  # None: the scenario's
        #: the phase being driven and its recorder (None between phases), for watchers of a running phase
        self.current: tuple[PhaseSpec, Recorder] | None = None
        self.sampler: ResourceSampler | None = None
        self.prepared: PreparedGraph | None = None
        self.workload: Workload | None = None
        self._offset = 0

    # the pieces are public so stress and speedup reuse them
    def setup(self, start_executor: bool = True) -> None:
        """Graph and workload, then (``start_executor``) executor, driver and sampler; idempotent."""
        if self.prepared is None:
            need_bundle = self._own_executor and self.executor_kind != "inline"
            self._tell(_graph_step(self.scenario))
            self.prepared = prepare_graph(self.scenario, need_bundle, self.base_dir)
            graph = self.prepared.graph
            warning = sink_warning(graph)
            if warning:
                self._tell(f"warning: {warning}")
            self.workload = workload_for(self.scenario, graph.num_nodes, graph.labels, self.base_dir)
        if self.driver is not None or not start_executor:
            return
        if self.executor is None:
            n = self.workers or self.scenario.executor.resolved_workers()
            self._tell(f"starting the {self.executor_kind} executor"
                       + (f" ({n} worker{'s' if n != 1 else ''}, each opening the graph)"
                          if self.executor_kind != "inline" else ""))
            self.executor = make_executor(self.scenario, self.prepared, workers=self.workers, kind=self.executor_kind)
        timeout = self.scenario.workload.timeout_s or 30.0
        self.driver = Driver(self.executor, clock=self.clock.now, sleep=self.clock.sleep,
                             max_lateness_s=self.max_lateness_s, drain_timeout_s=timeout + 5.0)
        self.sampler = ResourceSampler(self.executor.pids, self.sample_interval_s, self.executor).start()

    def _tell(self, step: str) -> None:
        """A start-up step for the live view (graph generation and worker start-up take seconds)."""
        preparing = getattr(self.observer, "preparing", None)
        if preparing is not None:
            preparing(step)

    def restart(self, workers: int) -> None:
        """A fresh executor with ``workers`` workers over the same graph and workload (capacity per count)."""
        if not self._own_executor:
            raise ExecutorError("a runner given its executor cannot change its worker count")
        if self.sampler is not None:
            self.sampler.stop()
        if self.executor is not None:
            self.executor.close()
        self.executor = self.driver = self.sampler = None
        self.workers = workers
        self.setup()

    def close(self) -> None:
        """Stop the executor and sampler, remove temporary files (idempotent)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.executor is not None and self._own_executor:
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

    def run_phase(self, phase: PhaseSpec) -> PhaseResult:
        """Drive one phase and return its figures."""
        assert self.driver is not None and self.executor is not None and self.sampler is not None
        recorder = Recorder(capacity=_capacity(phase))
        intended = None
        if phase.is_open:
            intended = schedule_for(phase, self.scenario.workload.random_seed + len(self.phases)).intended_times()
        self.sampler.begin_phase()
        self.current = (phase, recorder)
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
        self.current = None
        self._offset += report.submitted
        figures = phase_result(phase, report, recorder.snapshot(), self.sampler.end_phase())
        self.phases.append(figures)
        self.observer.phase_finished(figures)
        self.on_phase(self.phases)
        if report.interrupted:
            raise KeyboardInterrupt
        return figures

    def run(self) -> list[PhaseResult]:
        """Every phase in order (each handed to ``on_phase`` as it ends)."""
        self.setup()
        for phase in self.scenario.phases:
            figures = self.run_phase(phase)
            if figures.driver is not None and figures.driver.stopped:
                break
            if figures.total and figures.outcomes.get("worker_lost", 0) == figures.total:
                raise RunAborted(f"phase {phase.name}: every query was lost with its worker; the workers keep dying")
        return self.phases


def _graph_step(scenario: Scenario) -> str:
    spec = scenario.graph
    if spec.path is not None:
        return f"opening the graph {spec.path}"
    assert spec.generate is not None
    params = spec.generate.params()
    size = f"{params['nodes']:,} nodes" if "nodes" in params else ", ".join(f"{k} {v}" for k, v in params.items())
    cache = os.environ.get(CACHE_ENV)
    return f"generating the {spec.generate.kind} graph ({size})" + (f"; cached in {cache}" if cache else "")


def _capacity(phase: PhaseSpec) -> int:
    """Rows to preallocate: the planned arrivals plus slack (the recorder grows past it anyway)."""
    segments = phase.ramp_segments()
    planned = expected_arrivals(segments) if segments else 10_000
    return int(min(max(planned * 1.1 + 1024, 4096), 1 << 22))


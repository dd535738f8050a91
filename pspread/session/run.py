"""Where a run happens: ``run_scenario``, ``stress_scenario`` and ``speedup_scenario`` -> ``Results``.

These are the one way a benchmark runs, for the CLI, the tests and users'
own Python::

    from pspread import run_scenario
    results = run_scenario("quickstart", overrides={"duration": "5s"}, results_dir="results")
    results.summary.latency_ms.p99, results.exit_status  # the run's p99 in ms, and 0 when every gate passed

Each resolves the scenario (a ``Scenario``, a file, a shipped scenario's name,
or None for the built-in default) with its overrides, then drives it through a
:class:`~pspread.session.recording.Session`: phases become
``PhaseResult`` records (``pspread.load.figures``), the run's summary is
computed once (``pspread.results.summary``), the gates are judged on the same
figures, and the results file is rewritten after every phase.  Nothing here
prints; the returned ``Results`` carries the status and the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from pspread.errors import ScenarioError
from pspread.execution.base import Executor
from pspread.load.capacity import find_capacity, soak
from pspread.load.clock import Clock
from pspread.load.limits import check_runnable
from pspread.load.runner import Observer, Runner, make_executor
from pspread.load.scaling import ScalingPoint, measure_scaling
from pspread.metrics.system import usable_cores
from pspread.metrics.thresholds import cores_reason
from pspread.results.export import ResultsWriter
from pspread.results.run import Results
from pspread.scenario.fields import MAX_BATCH, MAX_DURATION_S
from pspread.scenario.loader import load_scenario, resolve_scenario, validate_data
from pspread.scenario.overrides import apply_overrides
from pspread.scenario.phases import PhaseSpec
from pspread.scenario.spec import Scenario
from pspread.scenario.units import format_duration
from pspread.session.abort import AbortWatch
from pspread.session.recording import GateAborted, Session

ScenarioSource = Scenario | str | Path | None
ResultsTarget = str | Path | ResultsWriter | None


def resolve(scenario: ScenarioSource, overrides: Mapping[str, Any] | None = None) -> tuple[Scenario, Path | None]:
    """The scenario with ``overrides`` (dotted keys, as ``--set`` takes them) on top, and its folder.

    Relative paths in a scenario file resolve against its folder.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    base = None
    if isinstance(scenario, Scenario):
        loaded = scenario
        if given:
            data = scenario.to_dict()
            origins: dict[Any, str] = {}
            problems = apply_overrides(data, given, "override", origins)
            loaded = validate_data(data, scenario.name, None, origins, problems)
    else:
        source = resolve_scenario(scenario)
        is_file = isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                                and Path(source).is_file())
        base = Path(source).resolve().parent if is_file and source is not None else None
        loaded = load_scenario(source, given)
    check_runnable(loaded)  # e.g. a worker count this machine cannot hold: refused before anything starts
    return loaded, base


def _session(scenario: ScenarioSource, overrides: Mapping[str, Any] | None, executor: Executor | None,
             clock: Clock | None, observer: Observer | None, results_dir: ResultsTarget) -> Session:
    sc, base = resolve(scenario, overrides)
    return Session(sc, base_dir=base, results_dir=results_dir, executor=executor, clock=clock, observer=observer)


def run_scenario(scenario: ScenarioSource = None, *, overrides: Mapping[str, Any] | None = None,
                 executor: Executor | None = None, clock: Clock | None = None, observer: Observer | None = None,
                 results_dir: ResultsTarget = None) -> Results:
    """Run a scenario's phases (and its speedup run, when it has one); judge its gates.

    ``executor``: run on this executor instead of the scenario's (the caller
    keeps and closes it).  ``clock``: the driver's time source.  ``observer``:
    a live view (``pspread.ui.live.LiveView``).  ``results_dir``: where the
    results file is written after every phase (None: nowhere).
    Raises ``ScenarioError`` for a bad scenario before anything runs; every
    other ending (gates failed, Ctrl-C, aborted) is in the returned status.
    """
    session = _session(scenario, overrides, executor, clock, observer, results_dir)
    return execute_run(session)


def execute_run(session: Session) -> Results:
    """``run_scenario`` on a session the caller made (the CLI keeps it to name the results file)."""
    sc = session.scenario

    def body(runner: Runner) -> None:
        with AbortWatch(runner, sc.parsed_thresholds()) as watch:
            runner.run()
        if watch.tripped is not None:
            raise GateAborted(watch.tripped.message())
        if sc.speedup is not None:
            _scaling(session, runner, sc.speedup.workers, sc.speedup.queries, sc.speedup.repeats)

    return session.execute(body)


def speedup_scenario(scenario: ScenarioSource = None, *, workers: Sequence[int | str] = (1, 2),
                     queries: int | None = None, repeats: int = 1, overrides: Mapping[str, Any] | None = None,
                     observer: Observer | None = None, results_dir: ResultsTarget = None) -> Results:
    """Speedup and efficiency of W workers over 1 on one fixed query set (counts past the cores are SKIPPED)."""
    session = _session(scenario, overrides, None, None, observer, results_dir)
    return execute_speedup(session, workers, queries, repeats)


def worker_counts_of(workers: Sequence[int | str]) -> list[int]:
    """Counts as given, ``auto`` meaning one worker per usable core."""
    return sorted({usable_cores() if w == "auto" else int(w) for w in workers})


def execute_speedup(session: Session, workers: Sequence[int | str], queries: int | None, repeats: int) -> Results:
    """``speedup_scenario`` on a session the caller made."""
    workers = worker_counts_of(workers)
    sc = session.scenario
    n = queries or (sc.speedup.queries if sc.speedup else 2000)
    if n > MAX_BATCH:
        raise ScenarioError(f"--queries {n:,}: a speedup run takes at most {MAX_BATCH:,} queries; ask for fewer")
    for w in workers:
        check_runnable(sc, workers=w)
    return session.execute(lambda runner: _scaling(session, runner, list(workers), n, repeats), start_executor=False)


def stress_scenario(scenario: ScenarioSource = None, *, probe_s: float = 3.0, soak_s: float | None = None,
                    start_rate: float | None = None, workers: Sequence[int | str] | None = None,
                    overrides: Mapping[str, Any] | None = None, executor: Executor | None = None,
                    clock: Clock | None = None, observer: Observer | None = None,
                    results_dir: ResultsTarget = None, strict: bool | None = None) -> Results:
    """Find the capacity knee (short constant-rate probes), or with ``soak_s`` hold one steady load and report drift.

    The scenario's warm-up phases run first.  The search starts at
    ``start_rate`` (default: the highest measured phase rate, else 100 q/s).
    ``workers``: one search per worker count (counts above the usable cores
    are skipped); the ``capacity_qps`` gates judge the largest one measured.
    """
    sc, base = resolve(scenario, overrides)
    session = Session(sc, base_dir=base, results_dir=results_dir, executor=executor, clock=clock,
                      observer=observer, strict=strict)
    return execute_stress(session, probe_s, soak_s, start_rate, workers)


def execute_stress(session: Session, probe_s: float, soak_s: float | None, start_rate: float | None,
                   workers: Sequence[int | str] | None = None) -> Results:
    """``stress_scenario`` on a session the caller made."""
    for flag, seconds in (("--probe", probe_s), ("--soak", soak_s)):
        if seconds is not None and not 0 < seconds <= MAX_DURATION_S:
            raise ScenarioError(f"{flag} {seconds:g}s: give a length above 0 and at most "
                                f"{format_duration(MAX_DURATION_S)}, e.g. {flag} 30s")
    counts = worker_counts_of(workers or [])
    if counts and counts[0] < 1:
        raise ScenarioError(f"--workers {counts}: worker counts must be >= 1")
    sc = session.scenario
    for w in counts:
        check_runnable(sc, workers=w)
    rates = [p.rate_qps for p in sc.phases if p.rate_qps and p.measured]
    start = start_rate or (max(rates) if rates else 100.0)
    try:  # the first probe (or the soak) as the phase it will be, checked now rather than after the warm-up
        PhaseSpec(kind="constant", duration_s=soak_s if soak_s is not None else probe_s, rate_qps=start)
    except ValueError as exc:
        raise ScenarioError(f"the first {'soak' if soak_s is not None else 'probe'} at {start:g} q/s: "
                            f"{_first_error(exc)}") from None
    cores = usable_cores()

    def warm(runner: Runner) -> None:
        for phase in sc.phases:
            if not phase.measured:
                runner.run_phase(phase)

    def capacity(runner: Runner) -> None:
        if not counts:
            warm(runner)
            session.set_capacity(find_capacity(runner, start, probe_s=probe_s))
            return
        for w in counts:
            if w > cores:
                session.note_skipped_workers(w, cores_reason(w, cores))
                continue
            runner.restart(w)
            warm(runner)
            report = find_capacity(runner, start, probe_s=probe_s)
            report.workers = w
            session.set_capacity(report)

    def soak_body(runner: Runner) -> None:
        warm(runner)
        _, report = soak(runner, start, float(soak_s or 0.0))
        session.set_soak(report)

    if soak_s is not None:
        return session.execute(soak_body)
    return session.execute(capacity, start_executor=not counts, capacity=True)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', exc)}"
    return str(exc)


def _scaling(session: Session, runner: Runner, workers: list[int], queries: int, repeats: int) -> None:
    """The speedup run on fresh executors over the runner's graph and workload."""
    sc, kind, prepared = runner.scenario, runner.executor_kind, runner.prepared
    assert prepared is not None and runner.workload is not None
    observer = session.observer
    tell = getattr(observer, "scaling_point", None)

    def progress(point: ScalingPoint) -> None:
        if tell is not None:
            tell(point, queries)

    report = measure_scaling(sc, lambda w: make_executor(sc, prepared, workers=w, kind=kind), runner.workload,
                             workers, queries, repeats, kind=kind, on_point=progress)
    session.set_scaling(report)

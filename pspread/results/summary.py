"""The run's totals, computed once from its measured phases: the summary, and what the gates judge.

Both functions read the same phases the same way (warm-up excluded), so the
figure a gate judged is the figure the summary, the results file and the
report show.  Definitions (``docs/architecture.md``, "Measurement definitions"):

* ``total``: queries the driver offered in the measured phases (answered, failed or dropped);
* ``errors``: those that did not end ``ok`` (drops included); ``error_rate`` = errors ÷ total;
* ``latency_ms``: the summary of every OK latency, from each query's intended start;
* ``throughput_qps``: OK answers ÷ the sum of the measured phases' spans;
* ``coordination_overhead`` / ``load_generation``: the phases' CPU splits added, as shares of all CPU.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pspread.metrics import stats
from pspread.metrics.cpu import CpuSplit
from pspread.metrics.system import usable_cores
from pspread.metrics.thresholds import TAGGABLE, Observed, Tags
from pspread.results.records import KindFigures, LatencyRecord
from pspread.results.run import PhaseResult, RunSummary


def _measured(phases: Sequence[PhaseResult]) -> list[PhaseResult]:
    return [p for p in phases if p.measured]


def _cpu(phases: Sequence[PhaseResult]) -> CpuSplit | None:
    total: CpuSplit | None = None
    for p in phases:
        rec = p.resources.cpu if p.resources is not None else None
        if rec is None:
            continue
        split = CpuSplit(rec.all_s, rec.kernel_s, rec.executor_s, rec.load_s, rec.parent_s, rec.workers_s)
        total = split if total is None else total + split
    return total


def _latencies(phases: Sequence[PhaseResult]) -> np.ndarray:
    return np.concatenate([p.ok_latency_ms for p in phases]) if phases else np.zeros(0)


def per_kind(phases: Sequence[PhaseResult]) -> dict[str, KindFigures]:
    """Each query type's figures over the given phases (latency percentiles from the pooled samples)."""
    span = sum(p.duration_s for p in phases)
    names = sorted({k for p in phases for k in p.per_kind})
    out = {}
    for name in names:
        rows = [p.per_kind[name] for p in phases if name in p.per_kind]
        total, errors = sum(r.total for r in rows), sum(r.errors for r in rows)
        lat = np.concatenate([p.kind_latency_ms.get(name, np.zeros(0)) for p in phases])
        out[name] = KindFigures(total=total, errors=errors, error_rate=stats.error_rate(errors, total),
                                throughput_qps=(total - errors) / span if span > 0 else 0.0,
                                latency_ms=LatencyRecord.of(stats.summarize(lat)))
    return out


def run_summary(phases: Sequence[PhaseResult]) -> RunSummary:
    """The run's figures over its measured phases (see the module docstring for each one)."""
    measured = _measured(phases)
    total = sum(p.total for p in measured)
    errors = sum(p.errors for p in measured)
    span = sum(p.duration_s for p in measured)
    cpu = _cpu(measured)
    growth = [p.resources.rss_growth for p in measured
              if p.resources is not None and p.resources.rss_growth is not None]
    return RunSummary(
        total=total, errors=errors, error_rate=stats.error_rate(errors, total),
        latency_ms=LatencyRecord.of(stats.summarize(_latencies(measured))),
        throughput_qps=(total - errors) / span if span > 0 else None,
        late_starts=sum(p.late_starts for p in measured), dropped=sum(p.dropped for p in measured),
        coordination_overhead=cpu.coordination_overhead if cpu is not None else None,
        load_generation=(cpu.load_generation or 0.0) if cpu is not None and cpu.coordination_overhead is not None
        else None,
        rss_growth=growth[-1] if growth else None,
        per_kind=per_kind(measured),
    )


def observed(phases: Sequence[PhaseResult], cores: int | None = None, tags: Tags = ()) -> Observed:
    """What the gates judge: the measured phases' samples and the summary's scalar figures.

    ``tags`` narrow it the way a tagged threshold does: ``(("phase", "steady"),)``
    to that phase, ``(("kind", "rank"),)`` to that query type's queries.
    """
    for tag, name in tags:
        if tag == "phase":
            return _observed_phase(phases, name, cores)
        if tag == "kind":
            return _observed_kind(phases, name, cores)
    measured = _measured(phases)
    summary = run_summary(phases)
    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    for metric in ("throughput_qps", "coordination_overhead", "load_generation", "rss_growth"):
        figure = summary.value(metric)
        if figure is not None:
            values[metric] = figure
    if "coordination_overhead" not in values:
        unavailable["coordination_overhead"] = "no CPU was measured in the measured phases"
    return Observed(latency_ms=_latencies(measured), errors=summary.errors, total=summary.total, values=values,
                    unavailable=unavailable, cores=cores or usable_cores())


def _unavailable(reason: str, cores: int | None) -> Observed:
    return Observed(unavailable={m: reason for m in TAGGABLE}, cores=cores or usable_cores())


def _observed_phase(phases: Sequence[PhaseResult], name: str, cores: int | None) -> Observed:
    mine = [p for p in _measured(phases) if p.name == name]
    if not mine:
        known = ", ".join(p.name for p in _measured(phases)) or "none"
        return _unavailable(f"no measured phase named {name!r} (measured: {known})", cores)
    return observed(mine, cores)


def _observed_kind(phases: Sequence[PhaseResult], name: str, cores: int | None) -> Observed:
    measured = _measured(phases)
    figures = per_kind(measured).get(name)
    if figures is None:
        known = ", ".join(sorted({k for p in measured for k in p.per_kind})) or "none"
        return _unavailable(f"no queries of type {name!r} were measured (types: {known})", cores)
    lat = np.concatenate([p.kind_latency_ms.get(name, np.zeros(0)) for p in measured])
    return Observed(latency_ms=lat, errors=figures.errors, total=figures.total,
                    values={"throughput_qps": figures.throughput_qps}, cores=cores or usable_cores())

"""One phase's samples become its :class:`~pspread.results.run.PhaseResult`: the only place phase figures are made.

Definitions (``docs/architecture.md``, "Measurement definitions"): latency is
completion minus the *intended* start (no coordinated omission), OK answers
only; ``total`` counts every completed query plus the arrivals the driver
dropped; ``errors`` everything not ``ok`` (drops included);
``throughput_qps`` = OK answers ÷ the phase's measured span (first
submission to the last answer).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pspread.load.driver import DriverReport
from pspread.load.recorder import Samples
from pspread.load.resources import PhaseResources
from pspread.metrics import stats
from pspread.metrics.thresholds import Observed, Threshold
from pspread.results.records import (
    DriverRecord,
    KindFigures,
    LatencyRecord,
    ResourcesRecord,
    SeriesRecord,
    WorkerLatency,
)
from pspread.results.run import LATENCY_SAMPLE, PhaseResult
from pspread.results.summary import observed
from pspread.scenario.phases import PhaseSpec


def _per_worker(samples: Samples, lat_ms: np.ndarray,
                ok: np.ndarray) -> tuple[dict[str, int], dict[str, WorkerLatency]]:
    counts = np.bincount(samples.worker[samples.worker >= 0]) if len(samples) else np.zeros(0, np.int64)
    per_worker, latency = {}, {}
    for w in np.flatnonzero(counts).tolist():
        summary = stats.summarize(lat_ms[ok & (samples.worker == w)])
        per_worker[str(w)] = int(counts[w])
        latency[str(w)] = WorkerLatency(count=summary.count, med=summary.med, p99=summary.p99, max=summary.max)
    return per_worker, latency


def _per_kind(samples: Samples, lat_ms: np.ndarray, ok: np.ndarray,
              span: float) -> tuple[dict[str, KindFigures], dict[str, np.ndarray]]:
    figures, latencies = {}, {}
    for code, name in enumerate(samples.kinds):
        mine = samples.kind == code
        total = int(mine.sum())
        if not total:
            continue
        good = lat_ms[mine & ok]
        errors = total - good.size
        figures[name] = KindFigures(total=total, errors=errors, error_rate=stats.error_rate(errors, total),
                                    throughput_qps=good.size / span,
                                    latency_ms=LatencyRecord.of(stats.summarize(good)))
        latencies[name] = good
    return figures, latencies


def latency_sample(lat_ms: np.ndarray, size: int = LATENCY_SAMPLE, seed: int = 0) -> list[float]:
    """At most ``size`` of the latencies, chosen uniformly without replacement (seeded), sorted, 4 significant digits.

    Enough for a rank test to see a 1.2x shift in a few seconds at 100 q/s,
    small enough (about 40 KB) that a results file stays readable.
    """
    if lat_ms.size > size:
        lat_ms = np.random.default_rng(seed).choice(lat_ms, size=size, replace=False)
    return [float(f"{v:.4g}") for v in np.sort(lat_ms)]


def phase_result(phase: PhaseSpec, report: DriverReport, samples: Samples, resources: PhaseResources) -> PhaseResult:
    """The figures of one phase (see the module docstring), with its OK latencies kept in memory."""
    ok = samples.ok
    lat_ms = samples.latency_s * 1e3
    outcomes = samples.outcome_counts()
    if report.dropped:
        outcomes["dropped"] = report.dropped
    total = len(samples) + report.dropped
    errors = total - int(ok.sum())
    span = max(report.duration_s, 1e-9)
    per_worker, worker_latency = _per_worker(samples, lat_ms, ok)
    per_kind, kind_latency = _per_kind(samples, lat_ms, ok, span)
    series = stats.per_second(samples.completed - samples.origin, lat_ms, ok, duration_s=phase.duration_s)
    result = PhaseResult(
        name=str(phase.name), kind=phase.kind, measured=phase.measured, planned_s=float(phase.duration_s or 0.0),
        planned_rate_qps=phase.rate_qps, total=total, errors=errors, error_rate=stats.error_rate(errors, total),
        throughput_qps=int(ok.sum()) / span, latency_ms=LatencyRecord.of(stats.summarize(lat_ms[ok])),
        outcomes=outcomes, per_worker=per_worker, per_worker_latency_ms=worker_latency, per_kind=per_kind,
        series=SeriesRecord.of(series), latency_sample_ms=latency_sample(lat_ms[ok]),
        driver=DriverRecord.model_validate(report.to_dict()),
        resources=ResourcesRecord.model_validate(resources.to_dict()),
    )
    return result.with_samples(lat_ms[ok], kind_latency)


def observed_so_far(threshold: Threshold, done: Sequence[PhaseResult], running: PhaseSpec | None,
                    latency_ms: np.ndarray, ok: np.ndarray, kind: np.ndarray, kinds: Sequence[str],
                    cores: int | None = None) -> Observed:
    """What ``threshold`` covers up to now, by the one rule the final verdict uses too.

    Untagged: every measured phase together, so the finished measured phases
    (``done``) plus the running phase's rows when it is measured;
    ``{phase:NAME}``: that phase alone (the running one, or a finished one);
    ``{kind:NAME}``: that query type's rows in all of them.  ``latency_ms``,
    ``ok`` and ``kind`` (codes into ``kinds``) are the running phase's rows so far.
    """
    tags = threshold.tags
    phase = dict(tags).get("phase")
    measured_now = running is not None and running.measured and (phase is None or str(running.name) == phase)
    if measured_now and phase is not None:
        base = Observed(latency_ms=np.zeros(0), errors=0, total=0, cores=cores)
    else:
        base = observed(done, cores, tags=tags)
    if not measured_now or latency_ms.size == 0:
        return base
    rows = np.ones(latency_ms.size, dtype=bool)
    name = dict(tags).get("kind")
    if name is not None:
        rows = kind == (list(kinds).index(name) if name in kinds else -1)
    good = ok & rows
    prior = base.latency_ms if base.latency_ms is not None else np.zeros(0)
    return Observed(latency_ms=np.concatenate([prior, latency_ms[good]]),
                    errors=(base.errors or 0) + int((rows & ~ok).sum()), total=(base.total or 0) + int(rows.sum()),
                    values=dict(base.values), cores=base.cores)

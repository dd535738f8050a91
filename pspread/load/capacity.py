"""Capacity search and soak: how much load the system takes, and whether it holds it.

Capacity (``pspread stress``): short constant-rate probes on one warm executor.
The rate doubles until a probe fails, then a bisection (on the log scale)
between the last passing and the first failing rate narrows the knee to a few
percent.  A probe fails when the scenario's latency gate fails (default
``p(99)<100``), its error gate fails (default ``rate<0.01``), or the system
answers clearly less than was offered (it is falling behind).  The knee is the
highest passing rate.

Soak (``--soak 10m``): one long steady phase; memory growth and latency drift
compare the first and the last tenth of it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pspread.load.runner import Runner
from pspread.metrics.thresholds import Threshold, VerdictStatus, evaluate, min_samples, parse_threshold
from pspread.results.run import PhaseResult
from pspread.results.summary import observed
from pspread.scenario.phases import PhaseSpec

DEFAULT_LATENCY = "p(99)<100"
DEFAULT_ERRORS = "rate<0.01"
#: a probe is lengthened to hold the latency gate's minimum sample count, but not past this
MAX_PROBE_S = 10.0


@dataclass
class Probe:
    """One constant-rate probe of the search."""

    rate_qps: float
    achieved_qps: float
    latency_ms: float | None
    error_rate: float
    passed: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CapacityReport:
    """The probes in order and the knee they found."""

    latency_gate: str
    error_gate: str
    probes: list[Probe] = field(default_factory=list)
    knee_qps: float | None = None
    first_failing_qps: float | None = None
    elapsed_s: float = 0.0
    note: str = ""
    #: worker count the search ran on (None: the scenario's)
    workers: int | None = None
    #: whether a second probe at the knee passed again (None: not re-probed)
    confirmed: bool | None = None
    #: a lower rate failed while a higher one passed: the knee is not a sharp edge
    non_monotonic: bool = False

    @property
    def precision(self) -> float | None:
        """Relative width of the final bracket (knee .. first failing rate)."""
        if self.knee_qps and self.first_failing_qps:
            return self.first_failing_qps / self.knee_qps - 1.0
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_gate": self.latency_gate, "error_gate": self.error_gate, "knee_qps": self.knee_qps,
            "first_failing_qps": self.first_failing_qps, "precision": self.precision,
            "elapsed_s": self.elapsed_s, "note": self.note, "probes": [p.to_dict() for p in self.probes],
            "workers": self.workers, "confirmed": self.confirmed, "non_monotonic": self.non_monotonic,
        }


def gates_for(thresholds: list[Threshold]) -> tuple[Threshold, Threshold]:
    """The scenario's first latency percentile gate and error-rate gate, or the defaults."""
    latency = next((t for t in thresholds if t.metric == "latency_ms" and t.percentile is not None), None)
    errors = next((t for t in thresholds if t.metric == "error_rate" and t.stat == "rate"), None)
    return (latency or parse_threshold("latency_ms", DEFAULT_LATENCY),
            errors or parse_threshold("error_rate", DEFAULT_ERRORS))


def judge(figures: PhaseResult, latency: Threshold, errors: Threshold, min_share: float = 0.9) -> Probe:
    """Did one probe hold the offered rate within the gates?"""
    rate = float(figures.planned_rate_qps or 0.0)
    seen = observed([figures])
    lat_v = evaluate(latency, seen)
    err_v = evaluate(errors, seen)
    # answers per second from the first arrival to the last answer: a system that falls behind drains late
    achieved = figures.throughput_qps
    reasons = []
    if lat_v.status is not VerdictStatus.PASS:
        reasons.append(f"{latency} observed {lat_v.observed:.4g}" if lat_v.observed is not None else lat_v.reason)
    if err_v.status is not VerdictStatus.PASS:
        reasons.append(f"{errors} observed {err_v.observed:.4g}" if err_v.observed is not None else err_v.reason)
    if achieved < min_share * rate:
        reasons.append(f"answered {achieved:.0f} q/s of {rate:.0f} offered")
    return Probe(rate_qps=rate, achieved_qps=achieved, latency_ms=lat_v.observed, error_rate=figures.error_rate,
                 passed=not reasons, reason="; ".join(reasons))


def find_capacity(
    runner: Runner,
    start_rate: float,
    probe_s: float = 3.0,
    precision: float = 0.05,
    time_budget_s: float = 110.0,
    max_rate: float = 1e6,
    on_probe: Callable[[Probe], None] | None = None,
) -> CapacityReport:
    """Search the highest rate that passes the gates (see the module docstring).

    ``precision``: stop when the bracket is narrower than this (relative).
    ``time_budget_s``: stop searching then, and say so in ``note``.
    """
    latency, errors = gates_for(runner.scenario.parsed_thresholds())
    report = CapacityReport(latency_gate=str(latency), error_gate=str(errors))
    t0 = time.monotonic()
    lo: float | None = None
    hi: float | None = None
    rate = max(1.0, float(start_rate))

    need = min_samples(latency.percentile) if latency.percentile is not None else 1

    def probe(r: float) -> bool:
        # long enough for the latency gate's sample minimum (within reason: a rate of 1 q/s would need minutes)
        duration = min(max(probe_s, 1.2 * need / r), max(probe_s, MAX_PROBE_S))
        phase = PhaseSpec(name=f"probe-{len(report.probes) + 1}", kind="constant", duration_s=duration, rate_qps=r)
        result = judge(runner.run_phase(phase), latency, errors)
        report.probes.append(result)
        if on_probe is not None:
            on_probe(result)
        return result.passed

    while hi is None and rate <= max_rate:
        if time.monotonic() - t0 > time_budget_s:
            break
        if probe(rate):
            lo, rate = rate, rate * 2.0
        else:
            hi = rate
            if lo is None:  # fails at the start rate already: search downwards
                while hi > 1.0 and time.monotonic() - t0 <= time_budget_s:
                    rate = hi / 4.0
                    if probe(rate):
                        lo = rate
                        break
                    hi = rate
    while lo is not None and hi is not None and hi / lo - 1.0 > precision:
        if time.monotonic() - t0 > time_budget_s:
            report.note = f"stopped at the {time_budget_s:.0f} s time budget"
            break
        mid = math.sqrt(lo * hi)
        if probe(mid):
            lo = mid
        else:
            hi = mid
    if hi is None and lo is not None:
        report.note = report.note or f"never failed up to {lo:.0f} q/s"
    report.knee_qps, report.first_failing_qps = lo, hi
    if lo is not None:  # re-probe the knee: one lucky probe must not set the capacity
        report.confirmed = probe(lo)
        if not report.confirmed:
            report.note = _join(report.note, f"the knee did not hold when probed again at {lo:.0f} q/s")
    report.non_monotonic = _non_monotonic(report.probes)
    if report.non_monotonic:
        report.note = _join(report.note, "a lower rate failed while a higher one passed: the edge is noisy")
    report.elapsed_s = time.monotonic() - t0
    return report


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def _non_monotonic(probes: list[Probe]) -> bool:
    passed = [p.rate_qps for p in probes if p.passed]
    failed = [p.rate_qps for p in probes if not p.passed]
    return bool(passed and failed and min(failed) < max(passed))


@dataclass
class SoakReport:
    """Drift between the first and the last tenth of a long steady phase."""

    rate_qps: float
    duration_s: float
    p99_first_ms: float | None
    p99_last_ms: float | None
    rss_first_mb: float | None
    rss_last_mb: float | None
    rss_growth: float | None

    @property
    def latency_drift(self) -> float | None:
        if self.p99_first_ms and self.p99_last_ms is not None:
            return self.p99_last_ms / self.p99_first_ms - 1.0
        return None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, latency_drift=self.latency_drift)


def soak(runner: Runner, rate: float, duration_s: float) -> tuple[PhaseResult, SoakReport]:
    """One steady phase of ``duration_s`` at ``rate``; compare its first and last tenth."""
    figures = runner.run_phase(PhaseSpec(name="soak", kind="constant", duration_s=duration_s, rate_qps=rate))
    p99 = figures.series.series().p99_ms
    w = max(1, len(p99) // 10)
    first = np.nanmedian(p99[:w]) if np.isfinite(p99[:w]).any() else None
    last = np.nanmedian(p99[-w:]) if np.isfinite(p99[-w:]).any() else None
    resources = figures.resources
    rss = [row[1] for row in resources.series] if resources is not None else []
    k = max(1, len(rss) // 10)
    rss_first = float(np.mean(rss[:k])) / 2**20 if rss else None
    rss_last = float(np.mean(rss[-k:])) / 2**20 if rss else None
    return figures, SoakReport(
        rate_qps=rate, duration_s=duration_s,
        p99_first_ms=None if first is None else float(first), p99_last_ms=None if last is None else float(last),
        rss_first_mb=rss_first, rss_last_mb=rss_last, rss_growth=resources.rss_growth if resources else None,
    )

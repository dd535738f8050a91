"""Gate a run against a baseline, like with like, without failing on noise.

A change is a regression only when it exceeds its tolerance (``p99:+10%``)
AND a one-sided test on the runs' own samples agrees at ``alpha`` (0.01 by
default):

* latency percentiles: Mann–Whitney U on the per-query OK latencies each phase
  stores (``PhaseResult.latency_sample_ms``, up to 4096 a phase), so a few
  seconds of data can show a real shift while a single slow second cannot;
* error rate: Fisher's exact test on the error and OK counts;
* throughput (closed model only: in an open model it is the offered rate and
  is reported, not gated): Mann–Whitney U on the per-second counts;
* capacity knee: regressed only when the new search failed a rate the
  baseline passed (the brackets disagree), beyond the tolerance.

Runs are compared only like with like: both complete, and with the same
graph, model, executor, workload and phases unless ``allow_mismatch``.  Phases
are compared by name, and the whole run (measured phases together) as
``run``.  The baseline may be several runs; its point values are their
median, its samples pooled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from pspread.errors import PspreadError
from pspread.results.run import PhaseResult, Results

#: compared metric -> (k6 name in a latency summary, or None; "higher is worse")
METRICS: dict[str, tuple[str | None, bool]] = {
    "p50": ("med", True),
    "p95": ("p(95)", True),
    "p99": ("p(99)", True),
    "qps": (None, False),
    "error_rate": (None, True),
    "knee": (None, False),
}
LATENCY_METRICS = ("p50", "p95", "p99")
_ALIASES = {"med": "p50", "median": "p50", "throughput": "qps", "throughput_qps": "qps", "errors": "error_rate",
            "capacity": "knee", "capacity_qps": "knee"}
DEFAULT_FAIL_ON = ("p50:+10%", "p95:+10%", "p99:+10%", "qps:-10%", "error_rate:+1%", "knee:-10%")
DEFAULT_ALPHA = 0.01
#: fewer samples than this on either side cannot show significance
MIN_SAMPLES = 20
MIN_SECONDS = 3
#: scenario sections that must agree for two runs to be comparable
COMPARED_SECTIONS = ("graph", "model", "executor", "workload", "phases", "speedup")

_RULE = re.compile(r"^\s*(?P<metric>[A-Za-z_0-9]+)\s*:\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*"
                   r"(?P<unit>%|ms|qps)?\s*$")


class CompareError(PspreadError):
    """A ``--fail-on`` rule or an input of ``compare`` is invalid (exit 2)."""


@dataclass(frozen=True)
class FailOn:
    """One tolerance: ``metric`` may worsen by ``amount`` (relative if ``relative``) before failing.

    For ``error_rate`` a ``%`` is percentage points: ``error_rate:+1%`` allows 0.5% -> 1.5%.
    """

    metric: str
    amount: float
    relative: bool
    source: str

    def exceeded(self, base: float, new: float) -> bool:
        worse = (new - base) if METRICS[self.metric][1] else (base - new)
        if self.metric == "error_rate":
            return worse > self.amount / 100.0
        limit = self.amount / 100.0 * abs(base) if self.relative else self.amount
        return worse > limit


def parse_fail_on(rules: Iterable[str]) -> list[FailOn]:
    """Parse ``p99:+10%``-style rules; every bad rule is reported at once (``CompareError``)."""
    parsed, problems = [], []
    for rule in rules:
        try:
            parsed.append(_parse_rule(rule))
        except ValueError as exc:
            problems.append(f"--fail-on {rule!r}: {exc}")
    if problems:
        raise CompareError("\n".join(problems))
    return parsed


def _parse_rule(rule: str) -> FailOn:
    match = _RULE.match(rule)
    if match is None:
        raise ValueError("write <metric>:<+|-><number>[%|ms|qps], e.g. p99:+10% or qps:-10%")
    metric = _ALIASES.get(match.group("metric").lower(), match.group("metric").lower())
    if metric not in METRICS:
        raise ValueError(f"unknown metric {match.group('metric')!r}; choose one of {', '.join(METRICS)}")
    higher_worse = METRICS[metric][1]
    sign, unit = match.group("sign"), match.group("unit") or ""
    if higher_worse and sign != "+":
        raise ValueError(f"{metric} gets worse when it rises; write {metric}:+{match.group('num')}{unit}")
    if not higher_worse and sign != "-":
        raise ValueError(f"{metric} gets worse when it falls; write {metric}:-{match.group('num')}{unit}")
    rate_like = metric in ("qps", "knee")
    if unit == "ms" and metric not in LATENCY_METRICS or unit == "qps" and not rate_like:
        raise ValueError(f"{unit} is not a unit of {metric}; use % or {'qps' if rate_like else 'ms'}")
    return FailOn(metric=metric, amount=float(match.group("num")), relative=unit == "%", source=rule.strip())


@dataclass(frozen=True)
class MetricComparison:
    """How one metric moved in one scope (``run`` or a phase): point values, change, test result, verdict."""

    metric: str
    base: float | None
    new: float | None
    change_pct: float | None
    p_value: float | None
    rule: str | None
    status: str  # "ok", "regression", "improved", "not significant", "worse (not gated)", "not gated", "no data"
    note: str = ""
    scope: str = "run"

    @property
    def regression(self) -> bool:
        return self.status == "regression"

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "metric": self.metric, "base": self.base, "new": self.new,
                "change_pct": self.change_pct, "p_value": self.p_value, "rule": self.rule, "status": self.status,
                "note": self.note}


@dataclass(frozen=True)
class Comparison:
    """All metrics compared; ``regressed`` decides the exit code (1)."""

    base_name: str
    new_name: str
    metrics: tuple[MetricComparison, ...]
    alpha: float
    warnings: tuple[str, ...] = ()
    baselines: int = 1

    @property
    def regressed(self) -> bool:
        return any(m.regression for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base_name, "new": self.new_name, "baselines": self.baselines, "alpha": self.alpha,
                "regressed": self.regressed, "metrics": [m.to_dict() for m in self.metrics],
                "warnings": list(self.warnings)}


# ------------------------------------------------------------------ like with like
def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list):
        out = {f"{prefix}.length": len(value)}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}.{i}"))
        return out
    return {prefix: value}


def mismatched_keys(base: Results, new: Results) -> list[str]:
    """The scenario keys (dotted) that differ between two runs, in the sections that decide comparability."""
    a = _flatten({k: base.scenario.get(k) for k in COMPARED_SECTIONS})
    b = _flatten({k: new.scenario.get(k) for k in COMPARED_SECTIONS})
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def check_comparable(bases: Sequence[Results], new: Results, allow_mismatch: bool = False,
                     names: Sequence[str] | None = None) -> None:
    """Refuse (``CompareError``, exit 2) incomplete runs, and runs of different setups unless allowed."""
    labels = list(names or []) or [r.scenario_name for r in [*bases, new]]
    for label, results in zip(labels, [*bases, new]):
        if results.status != "complete":
            raise CompareError(f"{label}: the run is incomplete (status {results.status}); compare only finished "
                               "runs")
    if allow_mismatch:
        return
    for label, base in zip(labels, bases):
        keys = mismatched_keys(base, new)
        if keys:
            shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
            raise CompareError(f"{label} and {labels[-1]} ran different setups ({shown}); compare runs of one "
                               "scenario, or pass --allow-mismatch to compare anyway")


# ------------------------------------------------------------------ tests
def _mann_whitney(xs: np.ndarray, ys: np.ndarray, higher_worse: bool) -> float | None:
    from scipy.stats import mannwhitneyu

    if xs.size < MIN_SAMPLES or ys.size < MIN_SAMPLES or np.ptp(np.concatenate([xs, ys])) == 0:
        return None
    return float(mannwhitneyu(xs, ys, alternative="less" if higher_worse else "greater").pvalue)


def _fisher(base_err: int, base_total: int, new_err: int, new_total: int) -> float | None:
    from scipy.stats import fisher_exact

    if base_total < MIN_SAMPLES or new_total < MIN_SAMPLES:
        return None
    table = [[new_err, new_total - new_err], [base_err, base_total - base_err]]
    return float(fisher_exact(table, alternative="greater")[1])


def _verdict(metric: str, scope: str, b: float | None, n: float | None, p_value: float | None,
             rule: FailOn | None, alpha: float, no_test: str, note: str = "") -> MetricComparison:
    if b is None or n is None:
        return MetricComparison(metric, b, n, None, None, rule.source if rule else None, "no data",
                                note or "a run has no measured samples", scope)
    change = (n - b) / abs(b) * 100.0 if b else None
    higher_worse = METRICS[metric][1]
    worse = (n > b) if higher_worse else (n < b)
    source = rule.source if rule else None
    if rule is None:
        return MetricComparison(metric, b, n, change, p_value, None, "worse (not gated)" if worse else "ok",
                                note, scope)
    if not rule.exceeded(b, n):
        status = "improved" if not worse and b != n else "ok"
        return MetricComparison(metric, b, n, change, p_value, source, status, note, scope)
    if p_value is None:
        return MetricComparison(metric, b, n, change, None, source, "not significant", no_test, scope)
    if p_value >= alpha:
        return MetricComparison(metric, b, n, change, p_value, source, "not significant",
                                f"beyond tolerance but p = {p_value:.3g} >= {alpha:g}: could be noise", scope)
    return MetricComparison(metric, b, n, change, p_value, source, "regression",
                            f"beyond {source} and significant (p = {p_value:.3g})", scope)


# ------------------------------------------------------------------ scopes
@dataclass
class _Side:
    """One side of a comparison in one scope: point values and samples (pooled over the baseline's runs)."""

    latency: dict[str, float | None]
    sample: np.ndarray
    qps: float | None
    per_second: np.ndarray
    errors: int
    total: int


def _median(values: Sequence[float | None]) -> float | None:
    have = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(have)) if have else None


def _side(runs: Sequence[Results], phase: str | None) -> _Side:
    latency: dict[str, list[float | None]] = {m: [] for m in LATENCY_METRICS}
    samples, per_second, qps = [], [], []
    errors = total = 0
    for r in runs:
        phases: list[PhaseResult] = ([p for p in r.phases if p.name == phase] if phase else r.measured_phases)
        summary = phases[0].latency_ms if phase and phases else r.summary.latency_ms
        for m in LATENCY_METRICS:
            latency[m].append(summary.get(METRICS[m][0] or ""))
        qps.append(phases[0].throughput_qps if phase and phases else r.summary.throughput_qps)
        for p in phases:
            samples.append(np.asarray(p.latency_sample_ms, dtype=np.float64))
            counts = np.asarray(p.series.count, dtype=np.float64)
            per_second.append(counts[:-1] if counts.size > 2 else counts)
            errors, total = errors + p.errors, total + p.total
    return _Side({m: _median(v) for m, v in latency.items()}, _cat(samples), _median(qps), _cat(per_second),
                 errors, total)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _open_model(results: Results) -> bool:
    phases = [p for p in results.scenario.get("phases") or [] if isinstance(p, dict) and p.get("kind") != "warmup"]
    return bool(phases) and all(p.get("kind") != "closed" for p in phases)


def _scope(scope: str, bases: Sequence[Results], new: Results, phase: str | None, rules: dict[str, FailOn],
           alpha: float) -> list[MetricComparison]:
    b, n = _side(bases, phase), _side([new], phase)
    out = []
    for metric in LATENCY_METRICS:
        p = _mann_whitney(b.sample, n.sample, True)
        out.append(_verdict(metric, scope, b.latency[metric], n.latency[metric], p, rules.get(metric), alpha,
                            f"too few per-query samples to test ({b.sample.size} vs {n.sample.size}, "
                            f"need {MIN_SAMPLES})"))
    if _open_model(new):
        out.append(MetricComparison("qps", b.qps, n.qps, None, None, None, "not gated",
                                    "open model: throughput follows the offered rate", scope))
    else:
        ps = None
        if b.per_second.size >= MIN_SECONDS and n.per_second.size >= MIN_SECONDS:
            ps = _mann_whitney_seconds(b.per_second, n.per_second)
        out.append(_verdict("qps", scope, b.qps, n.qps, ps, rules.get("qps"), alpha,
                            f"too few seconds to test ({b.per_second.size} vs {n.per_second.size}, "
                            f"need {MIN_SECONDS})"))
    rate_b = b.errors / b.total if b.total else None
    rate_n = n.errors / n.total if n.total else None
    out.append(_verdict("error_rate", scope, rate_b, rate_n, _fisher(b.errors, b.total, n.errors, n.total),
                        rules.get("error_rate"), alpha,
                        f"too few queries to test ({b.total} vs {n.total}, need {MIN_SAMPLES})"))
    return out


def _mann_whitney_seconds(xs: np.ndarray, ys: np.ndarray) -> float | None:
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([xs, ys])) == 0:
        return None
    return float(mannwhitneyu(xs, ys, alternative="greater").pvalue)


def _knee(bases: Sequence[Results], new: Results, rule: FailOn | None) -> list[MetricComparison]:
    caps = [r.capacity for r in bases if r.capacity is not None]
    if not caps and new.capacity is None:
        return []
    b = _median([c.knee_qps for c in caps])
    n = new.capacity.knee_qps if new.capacity is not None else None
    if b is None or n is None:
        return [_verdict("knee", "run", b, n, None, rule, 1.0, "", "a run found no capacity knee")]
    base_passed = max(c.knee_qps or 0.0 for c in caps)
    failed_at = new.capacity.first_failing_qps if new.capacity is not None else None
    change = (n - b) / b * 100.0 if b else None
    verdict = _verdict("knee", "run", b, n, None, rule, 1.0, "")
    if verdict.status != "not significant":
        return [verdict]
    if failed_at is not None and failed_at <= base_passed:
        return [MetricComparison("knee", b, n, change, None, verdict.rule, "regression",
                                 f"beyond {verdict.rule}, and the new search failed at {failed_at:.0f} q/s, "
                                 f"a rate the baseline passed")]
    return [MetricComparison("knee", b, n, change, None, verdict.rule, "not significant",
                             "beyond tolerance, but the new search failed no rate the baseline passed "
                             "(the brackets overlap)")]


def compare(base: Results | Sequence[Results], new: Results, fail_on: Sequence[FailOn] | None = None,
            alpha: float = DEFAULT_ALPHA, allow_mismatch: bool = False,
            names: Sequence[str] | None = None) -> Comparison:
    """Compare ``new`` with the baseline run(s) per scope and metric; gate the metrics ``fail_on`` names."""
    bases = [base] if isinstance(base, Results) else list(base)
    if not bases:
        raise CompareError("no baseline results to compare with")
    check_comparable(bases, new, allow_mismatch, names)
    rules = {r.metric: r for r in (fail_on if fail_on is not None else parse_fail_on(DEFAULT_FAIL_ON))}
    out: list[MetricComparison] = []
    if new.measured_phases:
        out += _scope("run", bases, new, None, rules, alpha)
        names_new = [p.name for p in new.measured_phases]
        shared = [name for name in names_new if all(any(p.name == name for p in r.measured_phases) for r in bases)]
        if len(shared) > 1:
            for name in shared:
                out += _scope(f"phase {name}", bases, new, name, rules, alpha)
    out += _knee(bases, new, rules.get("knee"))
    warnings = []
    from pspread.results.environment import differences

    for line in differences(dict(bases[0].environment), dict(new.environment)):
        warnings.append(f"environments differ ({line}); figures may not be comparable")
    if allow_mismatch and any(mismatched_keys(b, new) for b in bases):
        warnings.append("the runs had different setups (--allow-mismatch): figures may not be comparable")
    if any(not p.latency_sample_ms for r in [*bases, new] for p in r.measured_phases):
        warnings.append("a run stored no per-query latencies; latency changes cannot be shown significant")
    return Comparison(bases[0].scenario_name, new.scenario_name, tuple(out), alpha, tuple(warnings), len(bases))

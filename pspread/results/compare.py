"""Gate a run against a baseline without failing on noise.

A change is a regression only when it exceeds its tolerance (``p99:+10%``)
AND a one-sided Mann–Whitney U test on the per-second samples of both runs
agrees at ``alpha`` (0.01 by default).  A single slow second cannot fail CI,
and neither can a long run whose tiny drift is significant but harmless.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from pspread.errors import PspreadError
from pspread.results.model import Results

#: compared metric -> (per-second column, summary key in latency_ms, "higher is worse")
METRICS: dict[str, tuple[str, str | None, bool]] = {
    "p50": ("p50_ms", "med", True),
    "p95": ("p95_ms", "p(95)", True),
    "p99": ("p99_ms", "p(99)", True),
    "qps": ("count", None, False),
}
_ALIASES = {"med": "p50", "median": "p50", "throughput": "qps", "throughput_qps": "qps"}
DEFAULT_FAIL_ON = ("p99:+10%", "qps:-10%")
DEFAULT_ALPHA = 0.01
#: fewer per-second samples than this on either side cannot show significance
MIN_SAMPLES = 3

_RULE = re.compile(r"^\s*(?P<metric>[A-Za-z_0-9]+)\s*:\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*"
                   r"(?P<unit>%|ms|qps)?\s*$")


class CompareError(PspreadError):
    """A ``--fail-on`` rule or an input of ``compare`` is invalid (exit 2)."""


@dataclass(frozen=True)
class FailOn:
    """One tolerance: ``metric`` may worsen by ``amount`` (relative if ``relative``) before failing."""

    metric: str
    amount: float
    relative: bool
    source: str

    def exceeded(self, base: float, new: float) -> bool:
        worse = (new - base) if METRICS[self.metric][2] else (base - new)
        limit = self.amount / 100.0 * abs(base) if self.relative else self.amount
        return worse > limit

    def describe(self) -> str:
        return self.source


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
    higher_worse = METRICS[metric][2]
    sign, unit = match.group("sign"), match.group("unit") or ""
    if higher_worse and sign != "+":
        raise ValueError(f"{metric} gets worse when it rises; write {metric}:+{match.group('num')}{unit}")
    if not higher_worse and sign != "-":
        raise ValueError(f"qps gets worse when it falls; write qps:-{match.group('num')}{unit}")
    if unit == "ms" and metric == "qps" or unit == "qps" and metric != "qps":
        raise ValueError(f"{unit} is not a unit of {metric}; use % or {'qps' if metric == 'qps' else 'ms'}")
    return FailOn(metric=metric, amount=float(match.group("num")), relative=unit == "%", source=rule.strip())


@dataclass(frozen=True)
class MetricComparison:
    """How one metric moved: point values, change, test result and the verdict."""

    metric: str
    base: float | None
    new: float | None
    change_pct: float | None
    p_value: float | None
    rule: str | None
    status: str  # "ok", "regression", "improved", "within tolerance", "not significant", "no data"
    note: str = ""

    @property
    def regression(self) -> bool:
        return self.status == "regression"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "base": self.base, "new": self.new, "change_pct": self.change_pct,
                "p_value": self.p_value, "rule": self.rule, "status": self.status, "note": self.note}


@dataclass(frozen=True)
class Comparison:
    """All metrics compared; ``regressed`` decides the exit code (1)."""

    base_name: str
    new_name: str
    metrics: tuple[MetricComparison, ...]
    alpha: float
    warnings: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return any(m.regression for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base_name, "new": self.new_name, "alpha": self.alpha, "regressed": self.regressed,
                "metrics": [m.to_dict() for m in self.metrics], "warnings": list(self.warnings)}


def point_value(results: Results, metric: str) -> float | None:
    """The headline number of ``metric``: from the run's summary, else the median per-second value."""
    column, key, _ = METRICS[metric]
    summary = results.summary or {}
    if metric == "qps":
        value = summary.get("throughput_qps")
    else:
        latency = summary.get("latency_ms") or {}
        value = latency.get(key) if isinstance(latency, dict) else None
    if value is not None and math.isfinite(float(value)):
        return float(value)
    samples = results.per_second(column)
    return float(np.median(samples)) if samples.size else None


def compare(base: Results, new: Results, fail_on: Sequence[FailOn] | None = None,
            alpha: float = DEFAULT_ALPHA) -> Comparison:
    """Compare ``new`` with ``base`` on p50, p95, p99 and qps; gate the metrics ``fail_on`` names."""
    from scipy.stats import mannwhitneyu

    rules = {r.metric: r for r in (fail_on if fail_on is not None else parse_fail_on(DEFAULT_FAIL_ON))}
    out: list[MetricComparison] = []
    for metric, (column, _, higher_worse) in METRICS.items():
        b, n = point_value(base, metric), point_value(new, metric)
        rule = rules.get(metric)
        xs, ys = base.per_second(column), new.per_second(column)
        if b is None or n is None:
            out.append(MetricComparison(metric, b, n, None, None, rule.source if rule else None, "no data",
                                        "a run has no measured samples"))
            continue
        change = (n - b) / abs(b) * 100.0 if b else None
        p_value = None
        if xs.size >= MIN_SAMPLES and ys.size >= MIN_SAMPLES and not (np.ptp(np.concatenate([xs, ys])) == 0):
            alternative = "less" if higher_worse else "greater"  # base below new = latency rose
            p_value = float(mannwhitneyu(xs, ys, alternative=alternative).pvalue)
        out.append(_verdict(metric, b, n, change, p_value, rule, alpha, higher_worse, xs.size, ys.size))
    warnings = []
    from pspread.results.environment import differences

    for line in differences(dict(base.environment), dict(new.environment)):
        warnings.append(f"environments differ ({line}); figures may not be comparable")
    return Comparison(base.scenario_name, new.scenario_name, tuple(out), alpha, tuple(warnings))


def _verdict(metric: str, b: float, n: float, change: float | None, p_value: float | None, rule: FailOn | None,
             alpha: float, higher_worse: bool, nb: int, nn: int) -> MetricComparison:
    worse = (n > b) if higher_worse else (n < b)
    source = rule.source if rule else None
    if rule is None:
        status = "ok" if not worse else "worse (not gated)"
        return MetricComparison(metric, b, n, change, p_value, None, status)
    if not rule.exceeded(b, n):
        status = "improved" if not worse and b != n else "ok"
        return MetricComparison(metric, b, n, change, p_value, source, status)
    if p_value is None:
        return MetricComparison(metric, b, n, change, None, source, "not significant",
                                f"too few per-second samples to test ({nb} vs {nn}, need {MIN_SAMPLES})")
    if p_value >= alpha:
        return MetricComparison(metric, b, n, change, p_value, source, "not significant",
                                f"beyond tolerance but p = {p_value:.3g} >= {alpha:g}: could be noise")
    return MetricComparison(metric, b, n, change, p_value, source, "regression",
                            f"beyond {source} and significant (p = {p_value:.3g})")

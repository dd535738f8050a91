"""Pass/fail gates in k6's threshold grammar: ``p(99)<50``, ``value>=4``, ``rate<0.01``.

A threshold is parsed once, before anything runs, into a typed ``Threshold``;
its statistic is checked against the metric it is attached to (``rate`` only on
``error_rate``, percentiles only on ``latency_ms``, ``value`` on the scalar
metrics), so a typo fails in the first second, not after a ten-minute run.

Evaluation gives a ``Verdict``: PASS, FAIL, or SKIPPED with a reason.  A gate
that cannot be measured here -- a speedup on 4 workers on a 2-core machine, a
metric the run did not record -- is SKIPPED, never passed silently and never
failed for the machine's sake.
"""

from __future__ import annotations

import difflib
import enum
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from pspread.errors import ScenarioError

#: metric name -> the statistics a threshold on it may use
METRICS: dict[str, tuple[str, ...]] = {
    "latency_ms": ("p", "avg", "med", "min", "max", "count"),
    "throughput_qps": ("value",),
    "error_rate": ("rate", "count"),
    "speedup": ("value",),
    "efficiency": ("value",),
    "coordination_overhead": ("value",),
    "rss_growth": ("value",),
    "capacity_qps": ("value",),
}
#: metrics measured on the speedup (scaling) run, bounded by the machine's cores
SCALING_METRICS = ("speedup", "efficiency")
#: metrics only ``pspread stress`` measures (the capacity knee)
CAPACITY_METRICS = ("capacity_qps",)
#: metrics a threshold may narrow to one query type or one phase: ``latency_ms{kind:rank}``, ``{phase:steady}``
TAGGABLE = ("latency_ms", "error_rate", "throughput_qps")
TAGS = ("kind", "phase")
_KEY = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z_0-9]*)\s*"
                  r"(?:\{\s*(?P<tag>[A-Za-z_]+)\s*:\s*(?P<value>[^{}:]+?)\s*\})?\s*$")
Tags = tuple[tuple[str, str], ...]


def parse_key(key: str) -> tuple[str, Tags]:
    """``latency_ms{kind:rank}`` -> (``latency_ms``, ((``kind``, ``rank``),)); ValueError says what is allowed."""
    match = _KEY.match(key)
    if match is None:
        raise ValueError(f"cannot read the metric {key!r}; write a metric, optionally with one tag: "
                         "latency_ms, latency_ms{kind:rank}, error_rate{phase:steady}")
    metric = match.group("metric")
    if metric not in METRICS:
        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown metric {metric!r}; {hint}choose one of {', '.join(METRICS)}")
    if match.group("tag") is None:
        return metric, ()
    tag, value = match.group("tag"), match.group("value")
    if tag not in TAGS:
        raise ValueError(f"{key!r}: unknown tag {tag!r}; a threshold can select one {' or one '.join(TAGS)}")
    if metric not in TAGGABLE:
        raise ValueError(f"{key!r}: {metric} is measured for the whole run; tags apply to {', '.join(TAGGABLE)}")
    return metric, ((tag, value),)


def min_samples(percentile: float) -> int:
    """The fewest latencies a ``p(q)`` gate is judged on: enough that one sample is expected beyond q.

    Below it the percentile is the sample maximum or an interpolation towards
    it, and the gate would judge noise: p(99) needs 100, p(99.9) 1000.
    """
    return max(1, math.ceil(1.0 / (1.0 - percentile / 100.0) - 1e-9)) if percentile < 100 else 1

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_EXPR = re.compile(
    rf"^\s*(?P<stat>p\(\s*(?P<pct>{_NUM})\s*\)|avg|med|min|max|value|rate|count)"
    rf"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>{_NUM})\s*$"
)
_STAT_WORD = re.compile(r"^\s*(p\([^)]*\)|[A-Za-z_][A-Za-z_0-9.]*)")
_BARE_PCT = re.compile(r"^p(\d+(?:\.\d+)?)$")
_KNOWN_STATS = ("p(N)", "avg", "med", "min", "max", "value", "rate", "count")


class VerdictStatus(str, enum.Enum):
    """How one threshold came out."""

    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Threshold:
    """One parsed gate: ``metric``'s ``stat`` compared with ``value`` by ``op``.

    ``stat`` is ``"p(99)"``-style for percentiles (``percentile`` holds the
    number), otherwise one of avg, med, min, max, value, rate, count.
    ``source`` is the text as written, shown in tables and messages.
    """

    metric: str
    stat: str
    op: str
    value: float
    source: str
    percentile: float | None = None
    #: the one query type or phase this gate covers (none: every measured phase together)
    tags: Tags = ()
    #: k6's abortOnFail: end the run as soon as this gate fails (after ``delay_abort_s`` of the run)
    abort_on_fail: bool = False
    delay_abort_s: float = 0.0

    @property
    def key(self) -> str:
        """The metric as written, with its tag: ``latency_ms{kind:rank}``."""
        return self.metric + "".join(f"{{{k}:{v}}}" for k, v in self.tags)

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` meets the gate (NaN never does)."""
        if math.isnan(observed):
            return False
        return OPERATORS[self.op](observed, self.value)

    def __str__(self) -> str:
        return f"{self.key}: {self.source}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one threshold: status, the observed number and why (for SKIPPED)."""

    threshold: Threshold
    status: VerdictStatus
    observed: float | None = None
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status is VerdictStatus.PASS

    @property
    def failed(self) -> bool:
        return self.status is VerdictStatus.FAIL

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.threshold.key,
            "threshold": self.threshold.source,
            "status": self.status.value,
            "observed": self.observed,
            "reason": self.reason,
        }


# ------------------------------------------------------------------ parsing
def parse_threshold(metric: str, text: str, abort_on_fail: bool = False, delay_abort_s: float = 0.0) -> Threshold:
    """Parse one expression for ``metric`` (a key; tags allowed).

    ``ValueError`` says what is wrong and what is allowed.
    """
    metric, tags = parse_key(metric)
    if not isinstance(text, str):
        raise ValueError(f"a threshold is a string like 'p(99)<50', got {text!r}")
    match = _EXPR.match(text)
    if match is None:
        raise ValueError(_syntax_message(metric, text))
    stat = match.group("stat").replace(" ", "")
    pct: float | None = None
    kind = stat
    if stat.startswith("p("):
        kind = "p"
        pct = float(match.group("pct"))
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"{text!r}: percentile must lie in [0, 100], got {pct:g}")
        stat = f"p({pct:g})"
    allowed = METRICS[metric]
    if kind not in allowed:
        raise ValueError(f"{text!r}: {_stat_name(kind)} does not apply to {metric}; use {_allowed(allowed)}")
    value = float(match.group("value"))
    if delay_abort_s < 0:
        raise ValueError(f"delayAbortEval must be >= 0 s, got {delay_abort_s:g}")
    return Threshold(metric=metric, stat=stat, op=match.group("op"), value=value, source=text.strip(), percentile=pct,
                     tags=tags, abort_on_fail=abort_on_fail, delay_abort_s=delay_abort_s)


def parse_thresholds(spec: Mapping[str, Sequence[str] | str], where: str = "thresholds") -> list[Threshold]:
    """Parse a whole ``metric -> [expressions]`` mapping; every problem is reported at once.

    Raises ``ScenarioError`` listing each bad expression as
    ``thresholds.<metric>.<index>: message``.
    """
    parsed: list[Threshold] = []
    problems: list[str] = []
    for metric, exprs in spec.items():
        items = [exprs] if isinstance(exprs, str) else list(exprs)
        try:
            parse_key(metric)
        except ValueError as exc:
            problems.append(f"{where}.{metric}: {exc}")
            continue
        for index, text in enumerate(items):
            try:
                parsed.append(parse_threshold(metric, text))
            except ValueError as exc:
                problems.append(f"{where}.{metric}.{index}: {exc}")
    if problems:
        raise ScenarioError("invalid thresholds:\n  " + "\n  ".join(problems))
    return parsed


def _syntax_message(metric: str, text: str) -> str:
    word = _STAT_WORD.match(text)
    allowed = _allowed(METRICS[metric])
    if word and _BARE_PCT.match(word.group(1)):
        pct = _BARE_PCT.match(word.group(1)).group(1)  # type: ignore[union-attr]
        return f"{text!r}: write percentiles with parentheses, e.g. 'p({pct})<50'"
    if word and not word.group(1).startswith("p(") and word.group(1) not in _KNOWN_STATS:
        return f"{text!r}: unknown statistic {word.group(1)!r}; for {metric} use {allowed}"
    return (
        f"cannot read {text!r}; write <statistic><operator><number>, e.g. "
        f"{_example(metric)} (operators < <= > >= == !=; for {metric} use {allowed})"
    )


def _allowed(stats: Iterable[str]) -> str:
    return ", ".join("p(N)" if s == "p" else s for s in stats)


def _stat_name(kind: str) -> str:
    return "p(N)" if kind == "p" else kind


def _example(metric: str) -> str:
    return {"latency_ms": "'p(99)<50'", "error_rate": "'rate<0.01'"}.get(metric, "'value>=4'")


# --------------------------------------------------------------- evaluation
@dataclass
class Observed:
    """What a run measured, in the shape thresholds need.

    ``latency_ms``: every latency sample (exact percentiles); when only a
    summary survives (a results file), ``latency_summary`` maps stat names
    (``"p(99)"``, ``"avg"``, ``"count"`` ...) to numbers instead.
    ``values``: scalar metrics (throughput_qps, speedup, efficiency,
    coordination_overhead, rss_growth).  ``unavailable``: metric -> why it was
    not measured.  ``cores`` and ``speedup_workers`` let scaling gates be
    SKIPPED on machines too small to show them.
    """

    latency_ms: np.ndarray | None = None
    latency_summary: Mapping[str, float] | None = None
    errors: int | None = None
    total: int | None = None
    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    cores: int | None = None
    speedup_workers: int | None = None


def cores_reason(needed: int, have: int) -> str:
    """The standard SKIPPED reason for a gate that needs more cores than the machine has."""
    return f"needs {needed} cores, this machine has {have}"


def evaluate(threshold: Threshold, observed: Observed) -> Verdict:
    """PASS, FAIL or SKIPPED (with the reason) for one threshold."""
    metric = threshold.metric
    if metric in observed.unavailable:
        return Verdict(threshold, VerdictStatus.SKIPPED, reason=observed.unavailable[metric])
    if metric in SCALING_METRICS and observed.speedup_workers and observed.cores:
        if observed.speedup_workers > observed.cores:
            return Verdict(threshold, VerdictStatus.SKIPPED,
                           reason=cores_reason(observed.speedup_workers, observed.cores))
    number, reason = _observe(threshold, observed)
    if number is None:
        return Verdict(threshold, VerdictStatus.SKIPPED, reason=reason)
    status = VerdictStatus.PASS if threshold.holds(number) else VerdictStatus.FAIL
    return Verdict(threshold, status, observed=number)


def evaluate_all(thresholds: Iterable[Threshold], observed: Observed) -> list[Verdict]:
    """Verdicts in the order the thresholds were written."""
    return [evaluate(t, observed) for t in thresholds]


def overall_status(verdicts: Iterable[Verdict]) -> VerdictStatus:
    """FAIL if any gate failed, else PASS (SKIPPED gates neither pass nor fail a run)."""
    return VerdictStatus.FAIL if any(v.failed for v in verdicts) else VerdictStatus.PASS


def _observe(threshold: Threshold, observed: Observed) -> tuple[float | None, str]:
    metric, stat = threshold.metric, threshold.stat
    if metric == "latency_ms":
        return _latency_stat(threshold, observed)
    if metric == "error_rate":
        if observed.errors is None or observed.total is None:
            return None, "error counts were not recorded"
        if stat == "count":
            return float(observed.errors), ""
        if observed.total == 0:
            return None, "no queries completed"
        return observed.errors / observed.total, ""
    if metric in observed.values and observed.values[metric] is not None:
        return float(observed.values[metric]), ""
    return None, f"{metric} was not measured in this run"


def _latency_stat(threshold: Threshold, observed: Observed) -> tuple[float | None, str]:
    samples = observed.latency_ms
    if samples is not None:
        arr = np.asarray(samples, dtype=np.float64)
        if threshold.stat == "count":
            return float(arr.size), ""
        if arr.size == 0:
            return None, "no latency samples (no query succeeded)"
        if threshold.percentile is not None:
            need = min_samples(threshold.percentile)
            if arr.size < need:
                return None, (f"{arr.size} latency samples, {threshold.stat} needs at least {need}; "
                              "run the phase longer or at a higher rate")
            return float(np.percentile(arr, threshold.percentile)), ""
        funcs: dict[str, Callable[[np.ndarray], Any]] = {"avg": np.mean, "med": np.median, "min": np.min,
                                                          "max": np.max}
        func = funcs[threshold.stat]
        return float(func(arr)), ""
    summary = observed.latency_summary
    if summary is not None and threshold.stat in summary and summary[threshold.stat] is not None:
        return float(summary[threshold.stat]), ""
    if summary is not None:
        return None, f"{threshold.stat} of latency_ms was not recorded"
    return None, "latency_ms was not measured in this run"

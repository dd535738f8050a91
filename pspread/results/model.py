"""One run's results as a frozen, versioned object: what every export and ``compare`` reads.

The JSON file is the contract between a run today and a comparison months
later, so it carries ``schema_version``; ``from_dict`` refuses versions it does
not know instead of misreading them.  Phase records keep the typed fields that
gates and comparisons need and pass anything else (driver counters, resource
samples) through untouched in ``extra``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import numpy as np

from pspread.errors import PspreadError
from pspread.metrics.stats import LatencySummary, Series
from pspread.metrics.thresholds import Verdict

SCHEMA_VERSION = 1
#: how a run ended, as recorded in ``Results.status``
RUN_STATUSES = ("running", "complete", "interrupted", "aborted")


class ResultsError(PspreadError):
    """A results file cannot be read: not JSON, not pspread results, or an unknown schema version."""


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with a ``Z``, as results record it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class PhaseResult:
    """The figures of one phase.  ``measured`` is False for warm-up (excluded from gates)."""

    name: str
    kind: str
    measured: bool
    latency_ms: LatencySummary
    series: Series
    total: int = 0
    errors: int = 0
    throughput_qps: float = 0.0
    planned_s: float = 0.0
    outcomes: Mapping[str, int] = field(default_factory=dict)
    per_worker: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            name=self.name, kind=self.kind, measured=self.measured, planned_s=self.planned_s,
            total=self.total, errors=self.errors, error_rate=self.error_rate,
            throughput_qps=self.throughput_qps, latency_ms=self.latency_ms.to_dict(),
            outcomes=dict(self.outcomes), per_worker=dict(self.per_worker), series=self.series.to_dict(),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PhaseResult":
        """Read a phase record (also what the runner's figures ``to_dict`` give); unknown keys go to ``extra``."""
        known = {"name", "kind", "measured", "planned_s", "total", "errors", "error_rate", "throughput_qps",
                 "latency_ms", "outcomes", "per_worker", "series"}
        try:
            return cls(
                name=str(data["name"]), kind=str(data.get("kind", "constant")),
                measured=bool(data.get("measured", data.get("kind") != "warmup")),
                latency_ms=LatencySummary.from_dict(dict(data["latency_ms"])),
                series=Series.from_dict(dict(data.get("series") or {})),
                total=int(data.get("total", 0)), errors=int(data.get("errors", 0)),
                throughput_qps=float(data.get("throughput_qps", 0.0)), planned_s=float(data.get("planned_s", 0.0)),
                outcomes={str(k): int(v) for k, v in dict(data.get("outcomes") or {}).items()},
                per_worker={str(k): int(v) for k, v in dict(data.get("per_worker") or {}).items()},
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"phase record {data.get('name', '?')!r} is malformed: {exc!r}") from None


@dataclass(frozen=True)
class Results:
    """Everything one run produced; build it, then ``replace`` / ``with_phase`` for updates.

    ``scenario``: the validated scenario as a dict (so a run can be repeated).
    ``summary``: figures over all measured phases (throughput_qps, error_rate,
    latency_ms summary, coordination_overhead ...).  ``thresholds``: verdict
    records (metric, threshold, status, observed, reason).  ``scaling``: the
    speedup run (worker counts, times, speedups, USL fit), if any.
    ``exit_status``: the code the CLI exits with (0 pass, 1 gate failed, 3
    aborted, 130 interrupted).
    """

    scenario_name: str
    scenario: Mapping[str, Any]
    started_utc: str
    environment: Mapping[str, Any] = field(default_factory=dict)
    finished_utc: str | None = None
    status: str = "running"
    phases: tuple[PhaseResult, ...] = ()
    workers: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    thresholds: tuple[Mapping[str, Any], ...] = ()
    scaling: Mapping[str, Any] | None = None
    exit_status: int | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {self.status!r}")

    # ----------------------------------------------------------- updates
    def with_phase(self, phase: PhaseResult) -> "Results":
        """A copy with ``phase`` added (or replacing a phase of the same name)."""
        kept = tuple(p for p in self.phases if p.name != phase.name)
        return replace(self, phases=kept + (phase,))

    def with_verdicts(self, verdicts: Iterable[Verdict]) -> "Results":
        return replace(self, thresholds=tuple(v.to_dict() for v in verdicts))

    def finished(self, status: str, exit_status: int) -> "Results":
        """A copy marked as ended now with ``status`` and the CLI's exit code."""
        return replace(self, status=status, exit_status=exit_status, finished_utc=utc_now())

    # ------------------------------------------------------------ queries
    @property
    def measured_phases(self) -> tuple[PhaseResult, ...]:
        return tuple(p for p in self.phases if p.measured)

    def per_second(self, column: str) -> np.ndarray:
        """One column of the per-second series over all measured phases, NaN seconds dropped.

        ``column``: ``count`` (queries per second), ``p50_ms``, ``p95_ms``,
        ``p99_ms``, ``max_ms``, ``errors``.  The last second of each phase is
        left out when the phase has more than two (it is usually partial).
        """
        chunks = []
        for phase in self.measured_phases:
            values = np.asarray(getattr(phase.series, column), dtype=np.float64)
            if values.size > 2:
                values = values[:-1]
            chunks.append(values[~np.isnan(values)])
        return np.concatenate(chunks) if chunks else np.zeros(0)

    def verdict_counts(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "skipped": 0}
        for record in self.thresholds:
            counts[str(record.get("status"))] = counts.get(str(record.get("status")), 0) + 1
        return counts

    # -------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "schema_version": self.schema_version,
            "scenario_name": self.scenario_name,
            "status": self.status,
            "exit_status": self.exit_status,
            "started_utc": self.started_utc,
            "finished_utc": self.finished_utc,
            "environment": dict(self.environment),
            "scenario": dict(self.scenario),
            "summary": dict(self.summary),
            "thresholds": [dict(t) for t in self.thresholds],
            "phases": [p.to_dict() for p in self.phases],
            "workers": [dict(w) for w in self.workers],
            "scaling": dict(self.scaling) if self.scaling is not None else None,
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Results":
        """Read a results dict; refuses other schema versions with a message saying which."""
        if not isinstance(data, Mapping) or "schema_version" not in data:
            raise ResultsError("not a pspread results file (no schema_version)")
        version = data["schema_version"]
        if version != SCHEMA_VERSION:
            raise ResultsError(
                f"results schema version {version!r} is not supported (this pspread reads version "
                f"{SCHEMA_VERSION}); re-run the baseline with this version"
            )
        try:
            return cls(
                scenario_name=str(data["scenario_name"]), scenario=dict(data.get("scenario") or {}),
                started_utc=str(data["started_utc"]), finished_utc=data.get("finished_utc"),
                environment=dict(data.get("environment") or {}), status=str(data.get("status", "complete")),
                phases=tuple(PhaseResult.from_dict(p) for p in data.get("phases") or []),
                workers=tuple(dict(w) for w in data.get("workers") or []),
                summary=dict(data.get("summary") or {}),
                thresholds=tuple(dict(t) for t in data.get("thresholds") or []),
                scaling=dict(data["scaling"]) if data.get("scaling") is not None else None,
                exit_status=data.get("exit_status"), schema_version=int(version),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"results file is malformed: {exc!r}") from None


def jsonable(value: Any) -> Any:
    """Plain JSON types only: numpy scalars and arrays become Python ones, NaN and inf become None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if hasattr(value, "value") and isinstance(getattr(value, "value"), (str, int)):
        return value.value
    return str(value)


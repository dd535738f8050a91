"""One run's results: a frozen, versioned pydantic model that every export, ``compare`` and the report read.

The JSON file is the contract between a run today and a comparison months
later, so it carries ``schema_version``; :meth:`Results.from_dict` refuses
versions it does not know instead of misreading them, and the published JSON
Schema (``docs/results.schema.json``, ``Results.model_json_schema()``) is
generated from these classes.  A newcomer reads it in this order:

* :class:`PhaseResult`: one phase's figures, built from its samples by
  ``pspread.load.figures.phase_result``;
* :class:`RunSummary`: the run's totals over its measured phases, computed once
  by ``pspread.results.summary.run_summary``;
* :class:`Results`: the scenario, environment, phases, summary, gate verdicts,
  scaling and capacity records, and how the run ended.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Literal, Mapping, Optional

import numpy as np
from pydantic import PrivateAttr, ValidationError

from pspread.errors import PspreadError
from pspread.metrics.thresholds import Verdict
from pspread.results.records import (
    CapacityRecord,
    DriverRecord,
    KindFigures,
    LatencyRecord,
    Record,
    ResourcesRecord,
    ScalingRecord,
    SeriesRecord,
    SoakRecord,
    VerdictRecord,
    WorkerLatency,
    WorkerRecord,
    jsonable,
)

SCHEMA_VERSION = 2
#: OK latencies kept per phase in the file (uniformly subsampled beyond this), for significance tests
LATENCY_SAMPLE = 4096
RunStatus = Literal["running", "complete", "interrupted", "aborted"]
#: how a run ended, as recorded in ``Results.status``
RUN_STATUSES: tuple[str, ...] = ("running", "complete", "interrupted", "aborted")


class ResultsError(PspreadError):
    """A results file cannot be read: not JSON, not pspread results, or an unknown schema version."""


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with a ``Z``, as results record it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PhaseResult(Record):
    """The figures of one phase.  ``measured`` is False for warm-up (excluded from the summary and gates).

    The OK latencies themselves (``ok_latency_ms``) are kept in memory for the
    run's gates and summary, but not written to the file.
    """

    name: str
    kind: str
    measured: bool
    planned_s: float = 0.0
    planned_rate_qps: Optional[float] = None
    total: int = 0
    errors: int = 0
    error_rate: float = 0.0
    throughput_qps: float = 0.0
    latency_ms: LatencyRecord = LatencyRecord()
    outcomes: dict[str, int] = {}
    per_worker: dict[str, int] = {}
    per_worker_latency_ms: dict[str, WorkerLatency] = {}
    per_kind: dict[str, KindFigures] = {}
    series: SeriesRecord = SeriesRecord()
    #: up to ``LATENCY_SAMPLE`` OK latencies (ms), a uniform random subsample, sorted: what ``compare`` tests
    latency_sample_ms: list[float] = []
    driver: Optional[DriverRecord] = None
    resources: Optional[ResourcesRecord] = None

    _ok_latency_ms: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros(0))
    _kind_latency_ms: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Equal when every recorded field is (the in-memory samples are not part of the record)."""
        if not isinstance(other, PhaseResult):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def ok_latency_ms(self) -> np.ndarray:
        """Every OK latency of the phase in ms (empty for a phase read back from a file)."""
        return self._ok_latency_ms

    @property
    def kind_latency_ms(self) -> dict[str, np.ndarray]:
        """The OK latencies of each query type, in ms (empty for a phase read back from a file)."""
        return self._kind_latency_ms

    def with_samples(self, ok_latency_ms: np.ndarray,
                     by_kind: Mapping[str, np.ndarray] | None = None) -> "PhaseResult":
        """Attach the in-memory samples the run's summary and gates are computed from."""
        self._ok_latency_ms = np.asarray(ok_latency_ms, dtype=np.float64)
        self._kind_latency_ms = {k: np.asarray(v, dtype=np.float64) for k, v in (by_kind or {}).items()}
        return self

    @property
    def duration_s(self) -> float:
        """The measured span (driver start to the last answer), else the planned length."""
        return self.driver.duration_s if self.driver is not None else self.planned_s

    @property
    def late_starts(self) -> int:
        return self.driver.late_starts if self.driver is not None else 0

    @property
    def dropped(self) -> int:
        return self.driver.dropped if self.driver is not None else 0


class RunSummary(Record):
    """The run's figures over its measured phases together (warm-up excluded); see ``results.summary``.

    ``throughput_qps``: OK answers ÷ the measured phases' summed spans.
    ``coordination_overhead`` and ``load_generation``: shares of all CPU of the
    run's processes (``pspread.metrics.cpu``); None when no CPU was measured.
    """

    total: int = 0
    errors: int = 0
    error_rate: float = 0.0
    latency_ms: LatencyRecord = LatencyRecord()
    throughput_qps: Optional[float] = None
    late_starts: int = 0
    dropped: int = 0
    coordination_overhead: Optional[float] = None
    load_generation: Optional[float] = None
    rss_growth: Optional[float] = None
    per_kind: dict[str, KindFigures] = {}

    def value(self, metric: str) -> float | None:
        """A scalar figure by its gate name (``throughput_qps``, ``error_rate``, ...), or None."""
        v = getattr(self, metric, None)
        return None if v is None or isinstance(v, (dict, Record)) else float(v)


class Results(Record):
    """Everything one run produced; build it, then :meth:`with_phase` / ``model_copy(update=...)`` for updates.

    ``scenario``: the validated scenario as a dict (so a run can be repeated).
    ``exit_status``: the code the CLI exits with (``pspread.errors.ExitCode``).
    """

    schema_version: Literal[2] = 2  # SCHEMA_VERSION
    scenario_name: str
    status: RunStatus = "running"
    exit_status: Optional[int] = None
    started_utc: str
    finished_utc: Optional[str] = None
    environment: dict[str, Any] = {}
    scenario: dict[str, Any] = {}
    summary: RunSummary = RunSummary()
    thresholds: list[VerdictRecord] = []
    phases: list[PhaseResult] = []
    workers: list[WorkerRecord] = []
    #: workers the memory guard replaced during the run (one at a time; see ``executor.memory_limit_mb``)
    recycles: int = 0
    scaling: Optional[ScalingRecord] = None
    capacity: Optional[CapacityRecord] = None
    #: ``pspread stress --workers 1,2,4``: one search per worker count (``capacity`` is the largest measured)
    capacity_by_workers: list[CapacityRecord] = []
    soak: Optional[SoakRecord] = None
    #: ``--strict``: skipped gates counted as failed
    strict: bool = False
    error: Optional[str] = None

    # ----------------------------------------------------------- updates
    def with_phase(self, phase: PhaseResult) -> "Results":
        """A copy with ``phase`` added (or replacing a phase of the same name)."""
        kept = [p for p in self.phases if p.name != phase.name]
        return self.model_copy(update={"phases": [*kept, phase]})

    def with_verdicts(self, verdicts: Iterable[Verdict]) -> "Results":
        """A copy with the gates' verdicts recorded."""
        return self.model_copy(update={"thresholds": [VerdictRecord.model_validate(v.to_dict()) for v in verdicts]})

    def finished(self, status: str, exit_status: int, error: str | None = None) -> "Results":
        """A copy marked as ended now with ``status`` and the exit code."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        return self.model_copy(update={"status": status, "exit_status": int(exit_status),
                                       "finished_utc": utc_now(), "error": error})

    # ------------------------------------------------------------ queries
    @property
    def measured_phases(self) -> list[PhaseResult]:
        return [p for p in self.phases if p.measured]

    def latency_sample(self) -> np.ndarray:
        """The stored per-query OK latencies of every measured phase (ms), pooled."""
        parts = [np.asarray(p.latency_sample_ms, dtype=np.float64) for p in self.measured_phases]
        return np.concatenate(parts) if parts else np.zeros(0)

    def per_second(self, column: str) -> np.ndarray:
        """One column of the per-second series over all measured phases, NaN seconds dropped.

        ``column``: ``count`` (queries per second), ``p50_ms``, ``p95_ms``,
        ``p99_ms``, ``max_ms``, ``errors``.  The last second of each phase is
        left out when the phase has more than two (it is usually partial).
        """
        chunks = []
        for phase in self.measured_phases:
            raw = getattr(phase.series, column)
            values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
            if values.size > 2:
                values = values[:-1]
            chunks.append(values[~np.isnan(values)])
        return np.concatenate(chunks) if chunks else np.zeros(0)

    def verdict_counts(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "skipped": 0}
        for record in self.thresholds:
            counts[record.status] += 1
        return counts

    # -------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["environment"] = jsonable(data["environment"])
        data["scenario"] = jsonable(data["scenario"])
        return data

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
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ResultsError(f"results file is malformed at {where}: {first['msg']} "
                               f"({exc.error_count()} problem(s))") from None

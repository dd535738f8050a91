"""The typed parts of a results file: latency summaries, series, counters, verdicts, scaling, capacity.

Each record is a frozen pydantic model whose fields are the JSON keys, so the
file, the Python object and the published JSON Schema
(``docs/results.schema.json``) are one definition.  The figures themselves are
computed elsewhere -- per phase in ``pspread.load.figures``, per run in
``pspread.results.summary`` -- and only stored here; every field's meaning is
in ``docs/architecture.md`` ("Measurement definitions").
"""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pspread.metrics.stats import LatencySummary, Series


class Record(BaseModel):
    """Frozen, strict about unknown keys (a typo in a hand-edited file is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, ser_json_inf_nan="null")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, k6-style keys (``p(99)``)."""
        return self.model_dump(mode="json", by_alias=True)


def finite_or_none(value: Any) -> Any:
    """NaN and inf have no JSON spelling: they are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class LatencyRecord(Record):
    """Count, min, avg, median, p90, p95, p99, p99.9 and max of OK latencies in ms (None: no samples)."""

    count: int = 0
    min: Optional[float] = None
    avg: Optional[float] = None
    med: Optional[float] = None
    p90: Optional[float] = Field(None, alias="p(90)")
    p95: Optional[float] = Field(None, alias="p(95)")
    p99: Optional[float] = Field(None, alias="p(99)")
    p999: Optional[float] = Field(None, alias="p(99.9)")
    max: Optional[float] = None
    #: (percentile, ms) at ``pspread.metrics.stats.SPECTRUM_PERCENTILES``, as far as the count resolves: the
    #: report's distribution plot (empty in files written before it was recorded)
    spectrum: list[tuple[float, float]] = []

    @model_validator(mode="before")
    @classmethod
    def _from_summary(cls, data: Any) -> Any:
        return data.to_dict() if isinstance(data, LatencySummary) else data

    @classmethod
    def of(cls, summary: LatencySummary) -> "LatencyRecord":
        return cls.model_validate(summary.to_dict())

    def summary(self) -> LatencySummary:
        return LatencySummary.from_dict(self.to_dict())

    def get(self, stat: str) -> float | None:
        """A statistic by its k6 name (``p(99)``, ``med``, ``count``), as thresholds and compare name them."""
        value = self.to_dict().get(stat)
        return None if value is None else float(value)


class SeriesRecord(Record):
    """One row per whole second of a phase (see ``pspread.metrics.stats.Series``); null latency: no OK query."""

    second: list[int] = []
    count: list[int] = []
    errors: list[int] = []
    p50_ms: list[Optional[float]] = []
    p95_ms: list[Optional[float]] = []
    p99_ms: list[Optional[float]] = []
    max_ms: list[Optional[float]] = []
    #: percentiles over the last 10 s at each second (``stats.SLIDING_WINDOW_S``); empty in older files
    p50_sliding_ms: list[Optional[float]] = []
    p95_sliding_ms: list[Optional[float]] = []
    p99_sliding_ms: list[Optional[float]] = []

    @model_validator(mode="before")
    @classmethod
    def _from_series(cls, data: Any) -> Any:
        return data.to_dict() if isinstance(data, Series) else data

    @classmethod
    def of(cls, series: Series) -> "SeriesRecord":
        return cls.model_validate(series.to_dict())

    def series(self) -> Series:
        return Series.from_dict(self.model_dump())

    def __len__(self) -> int:
        return len(self.second)


class DriverRecord(Record):
    """What the load driver did in a phase: planned, submitted and completed queries, late starts, drops, span."""

    model: str
    planned: int
    submitted: int
    completed: int
    late_starts: int
    dropped: int
    started_at: float
    submitted_until: float
    ended_at: float
    drained: bool
    stopped: bool
    interrupted: bool = False
    duration_s: float


class CpuRecord(Record):
    """The CPU split of a phase (``pspread.metrics.cpu``): seconds, and the two shares of all CPU."""

    all_s: float
    kernel_s: float
    executor_s: float
    load_s: float
    parent_s: float
    workers_s: float
    coordination_overhead: Optional[float] = None
    load_generation: Optional[float] = None


class ProcessRecord(Record):
    pid: int
    role: str
    cpu_percent: float
    rss_bytes: int


class ResourcesRecord(Record):
    """CPU and memory of a phase; ``series`` rows: (t_s, total RSS bytes, parent CPU %, workers CPU %)."""

    parent_cpu_s: float = 0.0
    workers_cpu_s: float = 0.0
    coordination_overhead: Optional[float] = None
    load_generation: Optional[float] = None
    cpu: Optional[CpuRecord] = None
    peak_rss_bytes: int = 0
    rss_growth: Optional[float] = None
    processes: list[ProcessRecord] = []
    series: list[tuple[float, int, float, float]] = []
    #: per process role (``parent``, ``worker 0`` ...): rows (t_s, CPU %, RSS bytes) at each sample
    process_series: dict[str, list[tuple[float, float, int]]] = {}


class WorkerLatency(Record):
    count: int
    med: Optional[float] = None
    p99: Optional[float] = None
    max: Optional[float] = None


class KindFigures(Record):
    """The figures of one query type: its queries, errors, OK answers per second and OK latencies."""

    total: int
    errors: int
    error_rate: float
    throughput_qps: float
    latency_ms: LatencyRecord


class VerdictRecord(Record):
    """One gate's outcome: its metric and threshold text, pass/fail/skipped, what was observed, and why."""

    metric: str
    threshold: str
    status: Literal["pass", "fail", "skipped"]
    observed: Optional[float] = None
    reason: str = ""

    @field_validator("observed", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        return finite_or_none(value)


class WorkerRecord(Record):
    """One worker's counters at the end of the run, as the executor saw them."""

    worker: int
    pid: Optional[int] = None
    queries: int = 0
    errors: int = 0
    busy_s: float = 0.0
    in_flight: int = 0
    rss_bytes: int = 0
    restarts: int = 0
    kernel_cpu_s: float = 0.0


class ScalingPointRecord(Record):
    workers: int
    time_s: Optional[float] = None
    qps: Optional[float] = None
    speedup: Optional[float] = None
    efficiency: Optional[float] = None
    errors: int = 0
    skipped: Optional[str] = None
    coordination_overhead: Optional[float] = None
    load_generation: Optional[float] = None
    spread: Optional[float] = None


class UslRecord(Record):
    lambda_: float = Field(alias="lambda")
    sigma: float
    kappa: float
    peak_workers: Optional[float] = None
    points: int
    note: str = ""


class ScalingRecord(Record):
    """The speedup run: each worker count's time for one fixed query set, speedup, efficiency, the USL fit."""

    queries: int
    cores: int
    workers: list[int]
    points: list[ScalingPointRecord]
    time_s: list[Optional[float]]
    speedup: list[Optional[float]]
    efficiency: list[Optional[float]]
    usl: Optional[UslRecord] = None
    usl_note: str = ""
    #: what makes these figures weak, each with how to fix it (short timings, unstable repeats)
    warnings: list[str] = []


class ProbeRecord(Record):
    rate_qps: float
    achieved_qps: float
    latency_ms: Optional[float] = None
    error_rate: float
    passed: bool
    reason: str = ""


class CapacityRecord(Record):
    """The capacity search: every probe in order, the knee (highest passing rate) and the bracket above it."""

    latency_gate: str
    error_gate: str
    knee_qps: Optional[float] = None
    first_failing_qps: Optional[float] = None
    precision: Optional[float] = None
    elapsed_s: float = 0.0
    note: str = ""
    probes: list[ProbeRecord] = []
    workers: Optional[int] = None
    confirmed: Optional[bool] = None
    non_monotonic: bool = False
    #: why this worker count was not searched (more workers than usable cores)
    skipped: Optional[str] = None


class SoakRecord(Record):
    """A soak: p99 and memory of the first against the last tenth of one long steady phase."""

    rate_qps: float
    duration_s: float
    p99_first_ms: Optional[float] = None
    p99_last_ms: Optional[float] = None
    rss_first_mb: Optional[float] = None
    rss_last_mb: Optional[float] = None
    rss_growth: Optional[float] = None
    latency_drift: Optional[float] = None


def jsonable(value: Any) -> Any:
    """Plain JSON types only, for the free-form parts (environment, scenario): NaN and inf become None."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return finite_or_none(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "value") and isinstance(value.value, (str, int)):
        return value.value
    return str(value)

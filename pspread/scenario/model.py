"""A benchmark scenario as a strict, typed model.

Every section refuses keys it does not know (``extra="forbid"``), every number
carries its unit in its name (``duration_s``, ``rate_qps``, ``think_time_ms``,
``memory_limit_mb``), and every field has a default, so ``name: smoke`` alone
is a runnable scenario.  Durations may be written ``30s``, ``2m``, ``500ms`` or
as bare numbers in the field's unit (see ``pspread.scenario.units``).

Checks that span fields (a constant phase needs ``rate_qps``, a ramp needs
either start/end rates or stages, model overrides must build a valid
``SpreadModel``) live in ``model_validator``s here, so a scenario built in
Python is checked exactly as one read from YAML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from pspread.engine.model import SpreadModel
from pspread.errors import ModelError
from pspread.metrics.thresholds import METRICS, Threshold, parse_threshold
from pspread.scenario.fields import (
    MAX_BATCH,
    MAX_DEGREE,
    MAX_DEGREE_PENALTY,
    MAX_MEMORY_MB,
    MAX_NODES,
    MAX_REPEATS,
    MAX_SEEDS_PER_QUERY,
    MAX_TOP_K,
    MAX_WEIGHT,
    MAX_WORKERS,
    MAX_ZIPF_S,
    BalanceName,
    ExecutorKind,
    GeneratorKind,
    KernelName,
    ParamValue,
    PresetName,
    Sampling,
    Seed,
    StopName,
    TimeoutS,
    Workers,
    _Strict,
)
from pspread.scenario.phases import PhaseSpec

_MODEL_PARAMS = {f.name for f in fields(SpreadModel)} | {"alpha"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCHEDULER = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}")


# ----------------------------------------------------------------------- graph
class GenerateSpec(_Strict):
    """A synthetic graph, built (and cached) by ``pspread.engine.generators``.

    ``degree``: Barabási–Albert edges per new node, Watts–Strogatz ring
    neighbours, Erdős–Rényi average degree (or give ``p``); ``rewire``:
    Watts–Strogatz rewiring probability (default 0.1); ``grid`` takes
    ``rows``/``cols`` (or ``nodes``: the nearest square).  ``seed``: RNG seed,
    so a scenario always benchmarks the same graph.  ``weights: uniform``
    draws random edge weights (default: all 1).  ``directed``: Erdős–Rényi only.
    """

    kind: GeneratorKind = "barabasi-albert"
    nodes: Optional[int] = Field(None, ge=1, le=MAX_NODES)
    degree: Optional[int] = Field(None, ge=1, le=MAX_DEGREE)
    p: Optional[float] = Field(None, ge=0, le=1)
    rewire: Optional[float] = Field(None, ge=0, le=1)
    rows: Optional[int] = Field(None, ge=1, le=MAX_NODES)
    cols: Optional[int] = Field(None, ge=1, le=MAX_NODES)
    seed: Seed = 0
    weights: Optional[Literal["uniform"]] = None
    directed: bool = False

    @model_validator(mode="after")
    def _fits_kind(self) -> "GenerateSpec":
        allowed = _GENERATOR_PARAMS[self.kind]
        wrong = [k for k in ("p", "rewire", "rows", "cols") if getattr(self, k) is not None and k not in allowed]
        if self.directed and "directed" not in allowed:
            wrong.append("directed")
        if self.kind == "grid" and self.degree is not None:
            wrong.append("degree")
        if wrong:
            raise ValueError(f"{', '.join(wrong)} does not apply to {self.kind} "
                             f"(it takes {', '.join(sorted(allowed))})")
        if self.kind == "grid":
            if (self.rows is None) != (self.cols is None):
                raise ValueError("a grid needs both rows and cols (or just nodes)")
            if self.rows is None:
                side = max(1, math.isqrt(self.nodes or 20_000))
                self.rows = self.cols = side
            if self.rows * self.cols > MAX_NODES:  # type: ignore[operator]
                raise ValueError(f"a {self.rows} x {self.cols} grid has more than {MAX_NODES:,} nodes "
                                 "(node ids are int32); make it smaller")
        else:
            if self.nodes is None:
                self.nodes = 20_000
            if self.degree is None and not (self.kind == "erdos-renyi" and self.p is not None):
                self.degree = 4
        return self

    def params(self) -> dict[str, Any]:
        """Keyword arguments for ``generate_graph(kind, **params)``."""
        keys = _GENERATOR_PARAMS[self.kind]
        return {k: getattr(self, k) for k in sorted(keys) if getattr(self, k) is not None
                and not (k == "directed" and not self.directed)}

    @property
    def num_nodes(self) -> int:
        return int(self.rows * self.cols) if self.kind == "grid" else int(self.nodes or 0)  # type: ignore[operator]


_GENERATOR_PARAMS: dict[str, set[str]] = {
    "erdos-renyi": {"nodes", "degree", "p", "seed", "directed", "weights"},
    "barabasi-albert": {"nodes", "degree", "seed", "weights"},
    "watts-strogatz": {"nodes", "degree", "rewire", "seed", "weights"},
    "grid": {"rows", "cols", "seed", "weights"},
}


class GraphSpec(_Strict):
    """Either ``generate: {...}`` or ``path:`` (a bundle folder or an edge-list file)."""

    generate: Optional[GenerateSpec] = None
    path: Optional[str] = None
    directed: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "GraphSpec":
        if self.generate is not None and self.path is not None:
            raise ValueError("give either generate or path, not both")
        if self.generate is None and self.path is None:
            self.generate = GenerateSpec()
        return self


# ----------------------------------------------------------------------- model
class ModelSpec(_Strict):
    """The spreading model: a preset, parameter overrides and the kernel that runs it.

    ``stop``, ``exclude_seeds`` and ``degree_penalty`` are model parameters
    given their own keys (None: the preset's); ``overrides`` wins over them.
    """

    preset: PresetName = "threshold"
    overrides: dict[str, ParamValue] = Field(default_factory=dict)
    kernel: KernelName = "auto"
    stop: Optional[StopName] = None
    exclude_seeds: Optional[bool] = None
    degree_penalty: Optional[float] = Field(None, ge=0, le=MAX_DEGREE_PENALTY)

    @model_validator(mode="after")
    def _builds(self) -> "ModelSpec":
        self.build()
        return self

    def build(self, extra: dict[str, ParamValue] | None = None) -> SpreadModel:
        """The ``SpreadModel`` this section describes (``extra`` overrides on top)."""
        params: dict[str, ParamValue] = {
            key: value for key in ("stop", "exclude_seeds", "degree_penalty")
            if (value := getattr(self, key)) is not None
        }
        params.update(self.overrides)
        params.update(extra or {})
        try:
            return SpreadModel.preset(self.preset, **params)
        except ModelError as exc:
            raise ValueError(f"overrides: {exc}") from None


# -------------------------------------------------------------------- executor
class ExecutorSpec(_Strict):
    """Who runs the queries and how they are admitted.

    ``workers``: processes (``auto``: one per core).  ``balance``: dispatch
    strategy.  ``batch_size``: most queries sent to a worker in one message
    (None: the executor's own adaptive default).
    ``max_in_flight`` / ``queue_size``: admission limits (None: the executor's
    defaults); past both, queries answer OVERLOADED.  ``memory_limit_mb``: a
    worker past this RSS is recycled.  ``scheduler``: address of an existing
    Dask scheduler (``dask`` only; None starts a local cluster).
    """

    kind: ExecutorKind = "process"
    workers: Workers = "auto"
    balance: BalanceName = "least-loaded"
    batch_size: Optional[int] = Field(None, ge=1, le=MAX_BATCH)
    max_in_flight: Optional[int] = Field(None, ge=1, le=MAX_BATCH)
    queue_size: Optional[int] = Field(None, ge=0, le=MAX_BATCH)
    memory_limit_mb: Optional[float] = Field(None, gt=0, le=MAX_MEMORY_MB)
    scheduler: Optional[str] = None

    @field_validator("scheduler")
    @classmethod
    def _address_form(cls, scheduler: Optional[str]) -> Optional[str]:
        if scheduler is not None and not _SCHEDULER.fullmatch(scheduler.strip()):
            raise ValueError(f"{scheduler!r} is not a Dask scheduler address; write tcp://host:port "
                             "(or tls://host:port), e.g. tcp://10.0.0.5:8786")
        return None if scheduler is None else scheduler.strip()

    @model_validator(mode="after")
    def _scheduler_only_for_dask(self) -> "ExecutorSpec":
        if self.scheduler is not None and self.kind != "dask":
            raise ValueError(f"scheduler only applies to kind: dask (kind is {self.kind})")
        return self

    def resolved_workers(self, cores: int | None = None) -> int:
        """The worker count: ``auto`` becomes the number of cores this process may use (its CPU affinity)."""
        if self.workers == "auto":
            from pspread.metrics.system import usable_cores

            return max(1, cores if cores is not None else usable_cores())
        return int(self.workers)


# -------------------------------------------------------------------- workload
class SeedsSpec(_Strict):
    """Where query seeds come from.

    ``uniform``: any node equally likely.  ``zipf``: ranks drawn with exponent
    ``zipf_s`` over a hot set of ``hot_set`` nodes (None: every node), the
    skew real query logs show.  ``query_file``: a text file, one query per line,
    labels mapped to nodes; lines are then drawn with ``sampling``.
    """

    sampling: Sampling = "uniform"
    zipf_s: float = Field(1.1, gt=0, le=MAX_ZIPF_S)
    hot_set: Optional[int] = Field(None, ge=1, le=MAX_NODES)
    query_file: Optional[str] = None


class QueryTypeSpec(_Strict):
    """One entry of a weighted query mix; unset fields inherit the scenario's."""

    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT)
    preset: Optional[PresetName] = None
    overrides: dict[str, ParamValue] = Field(default_factory=dict)
    seeds_per_query: Optional[int] = Field(None, ge=1, le=MAX_SEEDS_PER_QUERY)
    top_k: Optional[int] = Field(None, ge=1, le=MAX_TOP_K)

    @field_validator("overrides")
    @classmethod
    def _known_parameters(cls, overrides: dict[str, ParamValue]) -> dict[str, ParamValue]:
        unknown = sorted(set(overrides) - _MODEL_PARAMS)
        if unknown:
            raise ValueError(f"unknown model parameter(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(sorted(_MODEL_PARAMS))}")
        return overrides


class WorkloadSpec(_Strict):
    """Which queries a run sends: seed sampling, sizes, timeout and the query mix."""

    seeds: SeedsSpec = Field(default_factory=SeedsSpec)
    seeds_per_query: int = Field(1, ge=1, le=MAX_SEEDS_PER_QUERY)
    top_k: int = Field(10, ge=1, le=MAX_TOP_K)
    timeout_s: Optional[TimeoutS] = 10.0
    random_seed: Seed = 0
    mix: list[QueryTypeSpec] = Field(default_factory=list)

    @field_validator("mix")
    @classmethod
    def _unique_names(cls, mix: list[QueryTypeSpec]) -> list[QueryTypeSpec]:
        seen: set[str] = set()
        for item in mix:
            if item.name in seen:
                raise ValueError(f"query type name {item.name!r} appears twice; names must be unique")
            seen.add(item.name)
        return mix


@dataclass(frozen=True)
class QueryType:
    """A query type resolved against the scenario: its model and sizes, ready to run."""

    name: str
    weight: float
    model: SpreadModel
    seeds_per_query: int
    top_k: int


# ------------------------------------------------------------------ thresholds
def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _checker(metric: str) -> Any:
    def check(text: str) -> str:
        parse_threshold(metric, text)
        return text

    return AfterValidator(check)


def _expr_list(metric: str) -> Any:
    return Annotated[list[Annotated[str, _checker(metric)]], BeforeValidator(_as_list)]


class ThresholdsSpec(_Strict):
    """Gates in k6's grammar, one list of expressions per metric (a single string is fine too)."""

    latency_ms: _expr_list("latency_ms") = Field(default_factory=list)  # type: ignore[valid-type]
    throughput_qps: _expr_list("throughput_qps") = Field(default_factory=list)  # type: ignore[valid-type]
    error_rate: _expr_list("error_rate") = Field(default_factory=list)  # type: ignore[valid-type]
    speedup: _expr_list("speedup") = Field(default_factory=list)  # type: ignore[valid-type]
    efficiency: _expr_list("efficiency") = Field(default_factory=list)  # type: ignore[valid-type]
    coordination_overhead: _expr_list("coordination_overhead") = Field(default_factory=list)  # type: ignore[valid-type]
    rss_growth: _expr_list("rss_growth") = Field(default_factory=list)  # type: ignore[valid-type]

    def parsed(self) -> list[Threshold]:
        """Every threshold, parsed, in metric order then written order."""
        return [parse_threshold(metric, text) for metric in METRICS for text in getattr(self, metric)]

    def metrics(self) -> list[str]:
        """The metrics that carry at least one threshold."""
        return [metric for metric in METRICS if getattr(self, metric)]


assert set(ThresholdsSpec.model_fields) == set(METRICS), "ThresholdsSpec must cover every metric"


# --------------------------------------------------------------------- speedup
class SpeedupSpec(_Strict):
    """The scaling run: a fixed set of ``queries`` timed on each worker count.

    Speedup = time on 1 worker ÷ time on W workers, in the same run; 1 is
    always measured (added if missing).  Speedup and efficiency thresholds
    refer to the largest W.
    """

    workers: list[int] = Field(default_factory=lambda: [1, 2, 4], min_length=1)
    queries: int = Field(2000, ge=1, le=MAX_BATCH)
    repeats: int = Field(1, ge=1, le=MAX_REPEATS)

    @field_validator("workers")
    @classmethod
    def _normalise(cls, workers: list[int]) -> list[int]:
        if any(w < 1 or w > MAX_WORKERS for w in workers):
            raise ValueError(f"worker counts must lie in 1..{MAX_WORKERS}, got {workers}")
        return sorted(set(workers) | {1})

    @property
    def max_workers(self) -> int:
        return max(self.workers)


# -------------------------------------------------------------------- scenario
def _default_phases() -> list[PhaseSpec]:
    return [
        PhaseSpec(name="warmup", kind="warmup", duration_s=2.0),
        PhaseSpec(name="steady", kind="constant", duration_s=10.0, rate_qps=50.0),
    ]


class Scenario(_Strict):
    """A whole benchmark: graph, model, executor, workload, phases, gates and scaling run."""

    name: str = "scenario"
    description: str = ""
    graph: GraphSpec = Field(default_factory=GraphSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    phases: list[PhaseSpec] = Field(default_factory=_default_phases, min_length=1)
    thresholds: ThresholdsSpec = Field(default_factory=ThresholdsSpec)
    speedup: Optional[SpeedupSpec] = None

    @field_validator("name")
    @classmethod
    def _file_safe(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"name {name!r} must start with a letter or digit and hold only letters, digits, '.', '_' "
                "or '-' (it becomes part of the results file name)"
            )
        return name

    @field_validator("phases", mode="before")
    @classmethod
    def _name_phases(cls, phases: Any) -> Any:
        """Unnamed phases are named after their kind (``constant``, then ``constant-3`` if taken)."""
        if not isinstance(phases, list):
            return phases
        explicit = {str(p["name"]) for p in phases if isinstance(p, dict) and p.get("name") is not None}
        taken: set[str] = set()
        named = []
        for index, phase in enumerate(phases):
            if isinstance(phase, dict) and phase.get("name") is None:
                base = str(phase.get("kind") or "constant")
                name = base if base not in taken and base not in explicit else f"{base}-{index + 1}"
                phase = {**phase, "name": name}
            if isinstance(phase, dict) and phase.get("name") is not None:
                taken.add(str(phase["name"]))
            named.append(phase)
        return named

    @field_validator("phases")
    @classmethod
    def _unique_phase_names(cls, phases: list[PhaseSpec]) -> list[PhaseSpec]:
        seen: set[str] = set()
        for index, phase in enumerate(phases):
            if phase.name in seen:
                raise ValueError(f"{index}.name: {phase.name!r} is already used by an earlier phase; "
                                 "phase names must be unique")
            seen.add(str(phase.name))
        return phases

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        problems = []
        for index, item in enumerate(self.workload.mix):
            try:
                self._query_type(item)
            except ValueError as exc:
                problems.append(f"workload.mix.{index}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        if self.speedup is None and (self.thresholds.speedup or self.thresholds.efficiency):
            self.speedup = SpeedupSpec()
        return self

    # ------------------------------------------------------------ helpers
    def _query_type(self, item: QueryTypeSpec) -> QueryType:
        if item.preset is None or item.preset == self.model.preset:
            model = self.model.build(item.overrides)
        else:
            model = ModelSpec(preset=item.preset, overrides=item.overrides, kernel=self.model.kernel).build()
        return QueryType(
            name=item.name,
            weight=item.weight,
            model=model,
            seeds_per_query=item.seeds_per_query or self.workload.seeds_per_query,
            top_k=item.top_k or self.workload.top_k,
        )

    def query_types(self) -> list[QueryType]:
        """The weighted query mix, resolved; a scenario without a mix has one type, ``default``."""
        if not self.workload.mix:
            return [QueryType("default", 1.0, self.model.build(), self.workload.seeds_per_query, self.workload.top_k)]
        return [self._query_type(item) for item in self.workload.mix]

    def spread_model(self) -> SpreadModel:
        """The scenario's base spreading model."""
        return self.model.build()

    def measured_phases(self) -> list[PhaseSpec]:
        """Phases whose figures count (warm-up excluded)."""
        return [p for p in self.phases if p.measured]

    def total_duration_s(self) -> float:
        """Planned length of all phases (not counting the speedup run)."""
        return float(sum(p.duration_s or 0.0 for p in self.phases))

    def parsed_thresholds(self) -> list[Threshold]:
        return self.thresholds.parsed()

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict (what results files embed)."""
        return self.model_dump(mode="json")

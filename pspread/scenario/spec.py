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
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from pspread.engine.model import SpreadModel
from pspread.errors import ModelError
from pspread.metrics.thresholds import Threshold
from pspread.scenario.fields import (
    MAX_BATCH,
    MAX_DEGREE,
    MAX_DEGREE_PENALTY,
    MAX_MEMORY_MB,
    MAX_NODES,
    MAX_REPEATS,
    MAX_WORKERS,
    BalanceName,
    ExecutorKind,
    GeneratorKind,
    KernelName,
    ParamValue,
    PresetName,
    Seed,
    StopName,
    Workers,
    _Strict,
)
from pspread.scenario.gates import ThresholdsSpec
from pspread.scenario.phases import PhaseSpec
from pspread.scenario.workload import QueryType, QueryTypeSpec, WorkloadSpec

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


# ------------------------------------------------------------------ thresholds
# --------------------------------------------------------------------- speedup
class SpeedupSpec(_Strict):
    """The scaling run: a fixed set of ``queries`` timed on each worker count.

    Speedup = time on 1 worker ÷ time on W workers, in the same run; 1 is
    always measured (the scaling run adds it, ``pspread.load.scaling.worker_counts``).
    Speedup and efficiency thresholds refer to the largest W.
    """

    workers: list[int] = Field(default_factory=lambda: [1, 2, 4], min_length=1)
    queries: int = Field(2000, ge=1, le=MAX_BATCH)
    repeats: int = Field(1, ge=1, le=MAX_REPEATS)

    @field_validator("workers")
    @classmethod
    def _normalise(cls, workers: list[int]) -> list[int]:
        if any(w < 1 or w > MAX_WORKERS for w in workers):
            raise ValueError(f"worker counts must lie in 1..{MAX_WORKERS}, got {workers}")
        return sorted(set(workers))

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
    #: a SKIPPED gate fails the run (exit 1), as ``--strict`` does: for CI machines that must judge every gate
    strict: bool = False

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

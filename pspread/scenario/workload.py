"""Which queries a run sends: seed sampling, sizes, the timeout and the weighted query mix.

``QueryTypeSpec`` is a mix entry as written (a preset and overrides, sizes
that inherit the workload's); ``QueryType`` is the one shape a query type has
once resolved -- ``Scenario.query_types()`` builds them, once, and the load
layer's ``Workload`` draws queries from them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from pydantic import Field, field_validator

from pspread.engine.model import SpreadModel
from pspread.scenario.fields import (
    MAX_NODES,
    MAX_SEEDS_PER_QUERY,
    MAX_TOP_K,
    MAX_WEIGHT,
    MAX_ZIPF_S,
    ParamValue,
    PresetName,
    Sampling,
    Seed,
    TimeoutS,
    _Strict,
)

_MODEL_PARAMS = {f.name for f in fields(SpreadModel)} | {"alpha"}


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
    """One query type of a mix, ready to run: its name, its share, its model and sizes.

    None means "not this type's own": ``model`` the executor's default,
    ``seeds_per_query`` and ``top_k`` the workload's.  ``Scenario.query_types()``
    fills every field.
    """

    name: str = "default"
    weight: float = 1.0
    model: SpreadModel | None = None
    seeds_per_query: int | None = None
    top_k: int | None = None


__all__ = ["QueryType", "QueryTypeSpec", "SeedsSpec", "WorkloadSpec"]

"""Scenarios: YAML files that describe a benchmark, read into a strict typed model.

``load_scenario(path_or_text, overrides=...)`` reads one (defaults < file <
``PSPREAD_*`` environment < CLI overrides) and reports every problem at once;
``default_scenario()`` is what ``pspread run`` uses without a file.
"""

from pspread.scenario.phases import PhaseSpec, StageSpec
from pspread.scenario.spec import (
    ExecutorSpec,
    GenerateSpec,
    GraphSpec,
    ModelSpec,
    Scenario,
    SpeedupSpec,
    ThresholdsSpec,
)
from pspread.scenario.units import format_duration, parse_duration
from pspread.scenario.workload import QueryType, QueryTypeSpec, SeedsSpec, WorkloadSpec

__all__ = [
    "ExecutorSpec", "GenerateSpec", "GraphSpec", "ModelSpec", "PhaseSpec", "QueryType", "QueryTypeSpec",
    "Scenario", "SeedsSpec", "SpeedupSpec", "StageSpec", "ThresholdsSpec", "WorkloadSpec",
    "format_duration", "parse_duration",
]

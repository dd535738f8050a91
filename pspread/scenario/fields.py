"""The field types every scenario section shares: durations with units, names, choices, strictness."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pspread.scenario.units import parse_duration

_DURATION_INPUT = Union[float, str]
DurationS = Annotated[float, Field(ge=0),
                      BeforeValidator(lambda v: parse_duration(v, "s"), json_schema_input_type=_DURATION_INPUT)]
DurationMs = Annotated[float, Field(ge=0),
                       BeforeValidator(lambda v: parse_duration(v, "ms"), json_schema_input_type=_DURATION_INPUT)]
PositiveDurationS = Annotated[float, Field(gt=0),
                              BeforeValidator(lambda v: parse_duration(v, "s"), json_schema_input_type=_DURATION_INPUT)]

ParamValue = Union[bool, int, float, str]
GeneratorKind = Literal["barabasi-albert", "erdos-renyi", "watts-strogatz", "grid"]
PresetName = Literal["threshold", "spreadr", "ppr"]
KernelName = Literal["auto", "frontier", "dense", "push", "reference"]
StopName = Literal["converged", "topk"]
ExecutorKind = Literal["process", "inline", "dask"]
BalanceName = Literal["round-robin", "least-loaded", "power-of-two"]
PhaseKind = Literal["warmup", "constant", "ramp", "closed"]
Sampling = Literal["uniform", "zipf"]



def _check_workers(value: Any) -> Any:
    """``"auto"`` or an integer >= 1 (strings from the environment are accepted)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"workers must be an integer >= 1 or 'auto', got {value!r}")
    return value


Workers = Annotated[Union[int, Literal["auto"]], BeforeValidator(_check_workers)]


class _Strict(BaseModel):
    """Base of every section: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)



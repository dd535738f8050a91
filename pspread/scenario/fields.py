"""The field types every scenario section shares: durations with units, names, choices, strictness."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pspread.scenario.units import parse_duration

# ---------------------------------------------------------------- limits
# Every numeric scenario key has an upper bound, so a typo (1e12 workers, a
# rate of 1e300) is refused by ``pspread scenarios validate`` instead of
# exhausting the machine at run time.  docs/architecture.md lists them.
MAX_DURATION_S = 7 * 24 * 3600.0      #: a phase, a stage: one week
MAX_THINK_TIME_MS = 3_600_000.0       #: one hour
MAX_TIMEOUT_S = 3600.0                #: a query's timeout
MAX_RATE_QPS = 1_000_000.0            #: arrival rates
MAX_ARRIVALS = 50_000_000             #: planned arrivals of one open phase (its schedule: 8 bytes each)
MAX_CLIENTS = 10_000                  #: closed-model clients
MAX_WORKERS = 1024                    #: worker processes (the executor also refuses > 4 x usable cores)
MAX_NODES = 2**31 - 1                 #: node ids are int32
MAX_DEGREE = 100_000
MAX_SEED = 2**63 - 1                  #: random seeds: 0 .. 2**63 - 1
MAX_SEEDS_PER_QUERY = 100_000
MAX_TOP_K = 1_000_000
MAX_BATCH = 1_000_000                 #: batch_size, max_in_flight, queue_size, speedup queries
MAX_MEMORY_MB = 16 * 1024 * 1024.0    #: memory_limit_mb: 16 TiB
MAX_WEIGHT = 1e9                      #: a query type's weight in the mix
MAX_REPEATS = 1000
MAX_ZIPF_S = 100.0
MAX_DEGREE_PENALTY = 100.0

_DURATION_INPUT = Union[float, str]
DurationS = Annotated[float, Field(ge=0, le=MAX_DURATION_S),
                      BeforeValidator(lambda v: parse_duration(v, "s"), json_schema_input_type=_DURATION_INPUT)]
DurationMs = Annotated[float, Field(ge=0, le=MAX_THINK_TIME_MS),
                       BeforeValidator(lambda v: parse_duration(v, "ms"), json_schema_input_type=_DURATION_INPUT)]
PositiveDurationS = Annotated[float, Field(gt=0, le=MAX_DURATION_S),
                              BeforeValidator(lambda v: parse_duration(v, "s"), json_schema_input_type=_DURATION_INPUT)]
TimeoutS = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S),
                     BeforeValidator(lambda v: parse_duration(v, "s"), json_schema_input_type=_DURATION_INPUT)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]

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
    if value > MAX_WORKERS:
        raise ValueError(f"workers must be at most {MAX_WORKERS} (the hard limit on worker processes), "
                         f"got {value}; use 'auto' for one per core")
    return value


Workers = Annotated[Union[int, Literal["auto"]], BeforeValidator(_check_workers)]


class _Strict(BaseModel):
    """Base of every section: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)



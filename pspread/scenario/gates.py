"""The ``thresholds:`` section: k6's grammar, its object form, and tags for one query type or phase.

::

    thresholds:
      latency_ms: ['p(99)<50', 'avg<10']
      latency_ms{kind:rank}: ['p(95)<20']
      error_rate{phase:steady}:
        - {threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: 10s}

Each expression is checked against its metric when the scenario is read, so a
typo fails before anything runs.  A gate without a tag covers every measured
phase together; ``{phase:NAME}`` one phase; ``{kind:NAME}`` one query type's
queries in every measured phase -- live and in the final verdict alike.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from pspread.metrics.thresholds import METRICS, Threshold, parse_key, parse_threshold
from pspread.scenario.fields import DurationS, _Strict


class GateSpec(_Strict):
    """k6's object form of one threshold."""

    threshold: str
    abortOnFail: bool = False  # noqa: N815 - k6's spelling, so k6 users' files read as they expect
    delayAbortEval: DurationS = 0.0  # noqa: N815


Gate = Union[str, GateSpec]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, dict)) else value


def _text(gate: Gate) -> str:
    return gate if isinstance(gate, str) else gate.threshold


def _checker(metric: str) -> Any:
    def check(gate: Gate) -> Gate:
        parse_threshold(metric, _text(gate))
        return gate

    return AfterValidator(check)


def _gate_list(metric: str) -> Any:
    return Annotated[list[Annotated[Gate, _checker(metric)]], BeforeValidator(_as_list)]


class ThresholdsSpec(_Strict):
    """Gates in k6's grammar, one list per metric (a single string is fine too); tagged keys are extra keys."""

    model_config = {**_Strict.model_config, "extra": "allow"}

    latency_ms: _gate_list("latency_ms") = Field(default_factory=list)  # type: ignore[valid-type]
    throughput_qps: _gate_list("throughput_qps") = Field(default_factory=list)  # type: ignore[valid-type]
    error_rate: _gate_list("error_rate") = Field(default_factory=list)  # type: ignore[valid-type]
    speedup: _gate_list("speedup") = Field(default_factory=list)  # type: ignore[valid-type]
    efficiency: _gate_list("efficiency") = Field(default_factory=list)  # type: ignore[valid-type]
    coordination_overhead: _gate_list("coordination_overhead") = Field(default_factory=list)  # type: ignore[valid-type]
    rss_growth: _gate_list("rss_growth") = Field(default_factory=list)  # type: ignore[valid-type]
    capacity_qps: _gate_list("capacity_qps") = Field(default_factory=list)  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _tagged_keys(cls, data: Any) -> Any:
        """Extra keys must be tagged metrics (``latency_ms{kind:rank}``); their gates are checked here."""
        if not isinstance(data, dict):
            return data
        problems = []
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            try:
                metric, tags = parse_key(str(key))
                if not tags:  # a plain metric would be a declared field: this one is misspelt
                    raise ValueError(f"unknown metric {key!r}; choose one of {', '.join(METRICS)}")
                for i, gate in enumerate(_as_list(value) or []):
                    text = gate.get("threshold") if isinstance(gate, dict) else gate
                    try:
                        parse_threshold(str(key), text)
                    except ValueError as exc:
                        raise ValueError(f"{key}.{i}: {exc}") from None
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return data

    def _entries(self) -> list[tuple[str, list[Any]]]:
        plain = [(metric, getattr(self, metric)) for metric in METRICS]
        extra = [(key, _as_list(value)) for key, value in (self.model_extra or {}).items()]
        return plain + extra

    def parsed(self) -> list[Threshold]:
        """Every threshold, parsed, in metric order then written order (tagged keys after the plain ones)."""
        out = []
        for key, gates in self._entries():
            for gate in gates:
                if isinstance(gate, dict):
                    gate = GateSpec.model_validate(gate)
                if isinstance(gate, GateSpec):
                    out.append(parse_threshold(key, gate.threshold, abort_on_fail=gate.abortOnFail,
                                               delay_abort_s=float(gate.delayAbortEval)))
                else:
                    out.append(parse_threshold(key, gate))
        return out

    def metrics(self) -> list[str]:
        """The metric keys that carry at least one threshold."""
        return [key for key, gates in self._entries() if gates]


assert set(ThresholdsSpec.model_fields) == set(METRICS), "ThresholdsSpec must cover every metric"

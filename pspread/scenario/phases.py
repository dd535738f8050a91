"""One phase of a scenario run: warm-up, constant, ramp or closed, and the checks that span its fields."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from pspread.scenario.fields import (
    MAX_ARRIVALS,
    MAX_CLIENTS,
    MAX_RATE_QPS,
    DurationMs,
    PhaseKind,
    PositiveDurationS,
    _Strict,
)


class StageSpec(_Strict):
    """One ramp stage: go linearly to ``target_qps`` over ``duration_s`` (as k6's stages)."""

    duration_s: PositiveDurationS
    target_qps: float = Field(ge=0, le=MAX_RATE_QPS)


_OPEN_ONLY = ("rate_qps", "start_rate_qps", "end_rate_qps", "stages", "poisson")
_ALLOWED: dict[str, set[str]] = {
    "warmup": {"rate_qps", "clients", "think_time_ms", "poisson"},
    "constant": {"rate_qps", "poisson"},
    "ramp": {"start_rate_qps", "end_rate_qps", "stages", "poisson"},
    "closed": {"clients", "think_time_ms"},
}
_KIND_SPECIFIC = ("rate_qps", "start_rate_qps", "end_rate_qps", "stages", "poisson", "clients", "think_time_ms")


class PhaseSpec(_Strict):
    """One phase of a run.

    ``warmup``: excluded from the figures; open at ``rate_qps`` if given, else
    closed-loop with ``clients`` (None: one per worker).  ``constant``: open
    model at ``rate_qps``.  ``ramp``: open model from ``start_rate_qps`` to
    ``end_rate_qps`` over ``duration_s``, or through ``stages`` (starting at
    ``start_rate_qps``, default 0).  ``closed``: ``clients`` each send a query,
    wait for it, think ``think_time_ms``, repeat.  ``poisson``: exponential
    inter-arrival times instead of evenly spaced ones.
    """

    name: Optional[str] = None
    kind: PhaseKind = "constant"
    duration_s: Optional[PositiveDurationS] = None
    rate_qps: Optional[float] = Field(None, gt=0, le=MAX_RATE_QPS)
    start_rate_qps: Optional[float] = Field(None, ge=0, le=MAX_RATE_QPS)
    end_rate_qps: Optional[float] = Field(None, ge=0, le=MAX_RATE_QPS)
    stages: Optional[list[StageSpec]] = Field(None, min_length=1)
    poisson: bool = False
    clients: Optional[int] = Field(None, ge=1, le=MAX_CLIENTS)
    think_time_ms: DurationMs = 0.0

    @model_validator(mode="after")
    def _fits_kind(self) -> "PhaseSpec":
        problems: list[str] = []
        allowed = _ALLOWED[self.kind]
        for key in _KIND_SPECIFIC:
            given = key in self.model_fields_set and getattr(self, key) != type(self).model_fields[key].default
            if given and key not in allowed:
                problems.append(f"{key} does not apply to a {self.kind} phase (it takes {', '.join(sorted(allowed))})")
        if self.kind == "constant" and self.rate_qps is None:
            problems.append("rate_qps is required for a constant phase")
        if self.kind == "closed" and self.clients is None:
            problems.append("clients is required for a closed phase")
        if self.kind == "ramp":
            problems += self._ramp_problems()
        if self.duration_s is None and self.kind != "ramp":
            problems.append(f"duration_s is required for a {self.kind} phase (e.g. duration_s: 30s)")
        if not problems:
            problems += self._arrival_problems()
        if problems:
            raise ValueError("; ".join(problems))
        if self.name is None:
            self.name = self.kind
        return self

    def _ramp_problems(self) -> list[str]:
        if self.stages is not None:
            if self.end_rate_qps is not None:
                return ["give either end_rate_qps or stages, not both"]
            total = sum(s.duration_s for s in self.stages)
            if self.duration_s is not None and abs(self.duration_s - total) > 1e-9:
                return [f"duration_s ({self.duration_s:g}) differs from the sum of the stages ({total:g}); drop it"]
            self.duration_s = total
            return []
        missing = [k for k in ("start_rate_qps", "end_rate_qps", "duration_s") if getattr(self, k) is None]
        if missing:
            return ["a ramp phase needs start_rate_qps, end_rate_qps and duration_s, or stages; "
                    f"missing {', '.join(missing)}"]
        return []

    def _arrival_problems(self) -> list[str]:
        """An open phase's schedule is an array of 8 bytes per arrival: refuse one too large to plan."""
        arrivals = sum(d * (a + b) / 2.0 for d, a, b in self.ramp_segments()) if self.is_open else 0.0
        if arrivals > MAX_ARRIVALS:
            return [f"plans {arrivals:,.0f} arrivals (rate x duration), more than the {MAX_ARRIVALS:,} one phase "
                    "may hold; lower the rate or split the phase"]
        return []

    @property
    def is_open(self) -> bool:
        """Whether arrivals follow a schedule (open model) rather than clients (closed model)."""
        return self.kind in ("constant", "ramp") or (self.kind == "warmup" and self.rate_qps is not None)

    @property
    def measured(self) -> bool:
        """Warm-up phases are excluded from the figures and the gates."""
        return self.kind != "warmup"

    def ramp_segments(self) -> list[tuple[float, float, float]]:
        """``(duration_s, from_qps, to_qps)`` segments of the arrival rate over the phase.

        What the curve means -- its integral, its value at a time, the arrivals
        it plans -- is ``pspread.load.schedule``'s (``expected_arrivals``, ``rate_at``).
        """
        if self.kind == "ramp" and self.stages is not None:
            segments, rate = [], self.start_rate_qps or 0.0
            for stage in self.stages:
                segments.append((stage.duration_s, rate, stage.target_qps))
                rate = stage.target_qps
            return segments
        if self.kind == "ramp":
            return [(float(self.duration_s or 0), float(self.start_rate_qps or 0), float(self.end_rate_qps or 0))]
        if self.rate_qps is not None:
            return [(float(self.duration_s or 0), self.rate_qps, self.rate_qps)]
        return []



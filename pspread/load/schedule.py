r"""Arrival schedules: when each query of an open-model run is *meant* to start.

A schedule is a plan made before the run, as a numpy array of intended start
offsets (seconds from the phase start).  Latency is measured from these times,
not from when the driver got round to submitting, so a stalled system cannot
hide its queueing delay (no coordinated omission).

Every schedule is an arrival-rate curve r(t): constant, or piecewise linear
between stage targets (k6's ``ramping-arrival-rate``).  Its integral N(t) is the
expected number of arrivals by time t.  Arrival k is placed where N(t) = u_k,
with u_k = k (evenly spaced) or u_k a unit-rate Poisson process (exponential
gaps), so one inversion serves both, exactly, without a time grid.

This module is the one owner of rate curves: a curve is a list of
``Segment``\ s ``(duration_s, from_qps, to_qps)`` (a scenario phase gives its
own, ``PhaseSpec.ramp_segments``), ``expected_arrivals`` is its integral and
``rate_at`` its value; everything that plans or sizes a run calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pspread.errors import ScenarioError

#: ``(duration_s, rate at its start, rate at its end)``: the rate goes linearly from one to the other
Segment = tuple[float, float, float]


def segment_arrivals(duration_s: float, from_qps: float, to_qps: float) -> float:
    """Expected arrivals over one linear segment: the area under it."""
    return duration_s * (from_qps + to_qps) / 2.0


def expected_arrivals(segments: Sequence[Segment]) -> float:
    """N(T) of a rate curve: the mean number of arrivals over all its segments."""
    return float(sum(segment_arrivals(d, a, b) for d, a, b in segments))


def rate_at(segments: Sequence[Segment], t_s: float) -> float:
    """The planned arrival rate ``t_s`` seconds in (0 before the start and after the end)."""
    start = 0.0
    for d, a, b in segments:
        if start <= t_s < start + d:
            return a + (b - a) * (t_s - start) / d
        start += d
    return 0.0


@dataclass(frozen=True)
class Stage:
    """Ramp the arrival rate linearly to ``target`` q/s over ``duration_s`` seconds."""

    duration_s: float
    target: float


@dataclass(frozen=True)
class ArrivalSchedule:
    """A piecewise-linear arrival-rate curve starting at ``start_rate`` q/s.

    ``poisson`` draws exponential inter-arrival gaps (seeded) instead of even
    spacing; the mean rate is the same.
    """

    stages: tuple[Stage, ...]
    start_rate: float = 0.0
    poisson: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.stages:
            raise ScenarioError("an arrival schedule needs at least one stage (duration and rate)")
        if not np.isfinite(self.start_rate) or self.start_rate < 0:
            raise ScenarioError(f"start rate must be >= 0 q/s, got {self.start_rate!r}")
        for k, st in enumerate(self.stages):
            if not np.isfinite(st.duration_s) or st.duration_s <= 0:
                raise ScenarioError(f"stage {k}: duration must be > 0 s, got {st.duration_s!r}")
            if not np.isfinite(st.target) or st.target < 0:
                raise ScenarioError(f"stage {k}: target rate must be >= 0 q/s, got {st.target!r}")

    @classmethod
    def constant(cls, rate: float, duration_s: float, poisson: bool = False, seed: int = 0) -> "ArrivalSchedule":
        """``rate`` q/s for ``duration_s`` seconds."""
        return cls((Stage(duration_s, rate),), start_rate=rate, poisson=poisson, seed=seed)

    @classmethod
    def ramping(
        cls, stages: Sequence[tuple[float, float]], start_rate: float = 0.0, poisson: bool = False, seed: int = 0
    ) -> "ArrivalSchedule":
        """Linear ramps through ``(duration_s, target_rate)`` stages from ``start_rate``."""
        return cls(tuple(Stage(float(d), float(r)) for d, r in stages), float(start_rate), poisson, seed)

    @classmethod
    def from_segments(cls, segments: Sequence[Segment], poisson: bool = False, seed: int = 0) -> "ArrivalSchedule":
        """The schedule of a continuous rate curve (each segment starts where the last ended, as a phase's do)."""
        if not segments:
            raise ScenarioError("an arrival schedule needs at least one stage (duration and rate)")
        for k in range(1, len(segments)):
            if segments[k][1] != segments[k - 1][2]:
                raise ScenarioError(f"segment {k} starts at {segments[k][1]:g} q/s, but the one before ends at "
                                    f"{segments[k - 1][2]:g} q/s; a schedule's rate cannot jump")
        return cls.ramping([(d, b) for d, _, b in segments], start_rate=segments[0][1], poisson=poisson, seed=seed)

    @property
    def duration_s(self) -> float:
        return float(sum(st.duration_s for st in self.stages))

    def segments(self) -> list[Segment]:
        """The rate curve: ``(duration, rate at start, rate at end)`` of every stage."""
        out, a = [], self.start_rate
        for st in self.stages:
            out.append((st.duration_s, a, st.target))
            a = st.target
        return out

    def expected_arrivals(self) -> float:
        """N(T): the mean number of arrivals over the whole schedule."""
        return expected_arrivals(self.segments())

    def rate_at(self, t: float) -> float:
        """The planned arrival rate at ``t`` seconds (0 after the end)."""
        return rate_at(self.segments(), t)

    def intended_times(self) -> np.ndarray:
        """Intended start offsets (float64 seconds, sorted) of every arrival."""
        total = self.expected_arrivals()
        if self.poisson:
            rng = np.random.default_rng(self.seed)
            # draw a little more than needed, top up in the rare case it falls short
            u = np.cumsum(rng.exponential(1.0, size=int(total + 6 * np.sqrt(total + 1) + 16)))
            while len(u) and u[-1] < total:
                more = np.cumsum(rng.exponential(1.0, size=int(np.sqrt(total + 1)) + 16)) + u[-1]
                u = np.concatenate([u, more])
            u = u[u < total]
        else:
            u = np.arange(int(np.ceil(total - 1e-9)), dtype=np.float64)
        return self.invert(u)

    def invert(self, u: np.ndarray) -> np.ndarray:
        """Times t with N(t) = u, stage by stage (the stable quadratic root)."""
        out = np.empty(len(u), dtype=np.float64)
        n0 = t0 = 0.0
        lo = 0
        for d, a, b in self.segments():
            n1 = n0 + segment_arrivals(d, a, b)
            hi = int(np.searchsorted(u, n1, side="left"))
            if hi > lo:
                x = u[lo:hi] - n0
                # t = 2x / (a + sqrt(a^2 + 2 (b - a) x / d)) solves (b-a)/(2d) t^2 + a t = x
                root = np.sqrt(np.maximum(a * a + 2.0 * (b - a) * x / d, 0.0))
                denom = a + root
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = np.where(denom > 0, 2.0 * x / np.where(denom > 0, denom, 1.0), 0.0)
                out[lo:hi] = t0 + np.clip(t, 0.0, d)
            lo = hi
            n0 = n1
            t0 += d
        if lo < len(u):  # rounding at the very end: place the rest at the end
            out[lo:] = self.duration_s
        return out


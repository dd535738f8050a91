"""Arrival schedules: when each query of an open-model run is *meant* to start.

A schedule is a plan made before the run, as a numpy array of intended start
offsets (seconds from the phase start).  Latency is measured from these times,
not from when the driver got round to submitting, so a stalled system cannot
hide its queueing delay (no coordinated omission).

Every schedule is an arrival-rate curve r(t): constant, or piecewise linear
between stage targets (k6's ``ramping-arrival-rate``).  Its integral N(t) is the
expected number of arrivals by time t.  Arrival k is placed where N(t) = u_k,
with u_k = k (evenly spaced) or u_k a unit-rate Poisson process (exponential
gaps), so one inversion serves both, exactly, without a time grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pspread.errors import ScenarioError


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

    @property
    def duration_s(self) -> float:
        return float(sum(st.duration_s for st in self.stages))

    def _segments(self) -> list[tuple[float, float, float, float]]:
        """(t0, duration, rate at start, rate at end) of every stage."""
        out, t0, a = [], 0.0, self.start_rate
        for st in self.stages:
            out.append((t0, st.duration_s, a, st.target))
            t0 += st.duration_s
            a = st.target
        return out

    def expected_arrivals(self) -> float:
        """N(T): the mean number of arrivals over the whole schedule."""
        return float(sum(d * (a + b) / 2.0 for _, d, a, b in self._segments()))

    def rate_at(self, t: float) -> float:
        """The planned arrival rate at ``t`` seconds (0 after the end)."""
        for t0, d, a, b in self._segments():
            if t0 <= t < t0 + d:
                return a + (b - a) * (t - t0) / d
        return 0.0

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
        n0 = 0.0
        lo = 0
        for t0, d, a, b in self._segments():
            n1 = n0 + d * (a + b) / 2.0
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
        if lo < len(u):  # rounding at the very end: place the rest at the end
            out[lo:] = self.duration_s
        return out


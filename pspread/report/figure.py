"""What a plot is, independent of the library that draws it, and the small helpers every figure uses.

The figure modules turn a results record (the plain dict of the JSON file)
into :class:`Figure` objects: named traces of numbers, phase bands, marked
lines.  The HTML module alone knows plotly.  So the numbers behind every plot
can be checked against the results file without a browser, and the JSON shape
is the only contract with the results model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: longest trace a plot gets; longer per-second series are coarsened (see ``coarsen``)
MAX_POINTS = 1500
#: significant digits numbers keep in the report (more would only add bytes)
DIGITS = 4


@dataclass(frozen=True)
class Trace:
    """One named line, set of markers or bars; ``axis`` "y2" plots it against the right-hand axis."""

    name: str
    x: list[Any]
    y: list[float | None]
    style: str = "line"  # line | dash | markers | lines+markers | bar
    axis: str = "y"
    text: list[str] | None = None


@dataclass(frozen=True)
class Band:
    """A shaded span of the x axis: one phase of a run."""

    x0: float
    x1: float
    label: str
    measured: bool = True


@dataclass(frozen=True)
class Figure:
    """One plot: its traces, axes and annotations; ``key`` names it in the page (``fig-<key>``)."""

    key: str
    section: str
    title: str
    x_title: str
    y_title: str
    traces: list[Trace]
    bands: list[Band] = field(default_factory=list)
    vlines: list[tuple[float, str]] = field(default_factory=list)
    x_type: str = "linear"  # linear | log | category
    y_type: str = "linear"
    y2_title: str | None = None
    stacked: bool = False
    x_ticks: tuple[list[float], list[str]] | None = None
    note: str = ""

    @property
    def points(self) -> int:
        """How many data points the figure holds (None values are gaps, not points)."""
        return sum(sum(1 for v in t.y if v is not None) for t in self.traces)


def num(value: Any) -> float | None:
    """``value`` as a float to ``DIGITS`` significant digits; None for missing, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return float(f"{v:.{DIGITS}g}")


def nums(values: Sequence[Any]) -> list[float | None]:
    return [num(v) for v in values]


def coarsen(x: Sequence[float], y: Sequence[float | None], how: str) -> tuple[list[float], list[float | None]]:
    """At most ``MAX_POINTS`` points: consecutive buckets merged, by ``how`` = "max" or "mean".

    Latency percentiles merge by their max (a spike must survive the
    coarsening), rates by their mean (so the axis stays "per second").
    """
    n = len(x)
    if n <= MAX_POINTS:
        return list(x), list(y)
    k = math.ceil(n / MAX_POINTS)
    xs: list[float] = []
    ys: list[float | None] = []
    for i in range(0, n, k):
        chunk = [v for v in y[i:i + k] if v is not None]
        xs.append(x[i])
        if not chunk:
            ys.append(None)
        else:
            ys.append(num(max(chunk) if how == "max" else sum(chunk) / len(chunk)))
    return xs, ys


def measured(phase: Mapping[str, Any]) -> bool:
    return bool(phase.get("measured", phase.get("kind") != "warmup"))


def phases(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in record.get("phases") or [] if isinstance(p, Mapping)]


def phase_offsets(record: Mapping[str, Any]) -> list[float]:
    """Where each phase starts, in seconds from the first phase's start.

    From the driver's start stamps when every phase has one (they share one
    monotonic clock); otherwise phases are laid end to end by their length.
    """
    ps = phases(record)
    starts = [((p.get("driver") or {}).get("started_at")) for p in ps]
    stamps = [float(s) for s in starts if isinstance(s, (int, float))]
    if ps and len(stamps) == len(ps):
        return [s - stamps[0] for s in stamps]
    out, t = [], 0.0
    for p in ps:
        out.append(t)
        t += max(float(len((p.get("series") or {}).get("second") or [])), float(p.get("planned_s") or 0.0))
    return out


def phase_length(phase: Mapping[str, Any]) -> float:
    """The phase's measured span (the driver's), else its series length, else its plan."""
    driver = phase.get("driver") or {}
    if isinstance(driver.get("duration_s"), (int, float)):
        return float(driver["duration_s"])
    n = len((phase.get("series") or {}).get("second") or [])
    return float(n) if n else float(phase.get("planned_s") or 0.0)


def bands(record: Mapping[str, Any]) -> list[Band]:
    """One band per phase of the run, at its place on the run's time axis."""
    return [Band(num(t0) or 0.0, num(t0 + phase_length(p)) or 0.0, str(p.get("name", "?")), measured(p))
            for p, t0 in zip(phases(record), phase_offsets(record))]


def label(runs: Sequence[tuple[str, Mapping[str, Any]]], index: int, name: str) -> str:
    """A trace's name: ``name`` alone for one run, prefixed with the run's label when runs are overlaid."""
    return name if len(runs) == 1 else f"{runs[index][0]}: {name}"

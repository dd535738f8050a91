"""The load figures of a report, from results records (plain dicts): latency and rates over time, distribution,
per-worker and per-kind breakdowns.

Every function takes ``runs``: ``(label, record)`` pairs, the baseline first,
and overlays them; each returns a :class:`Figure` or None when no run has the
data (a results file of a speedup run has no phases, one without ``per_kind``
has no per-kind figures).  docs/report.md defines every figure.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pspread.report.figure import (
    Band,
    Figure,
    Trace,
    bands,
    coarsen,
    label,
    measured,
    num,
    nums,
    phase_offsets,
    phases,
)

Runs = Sequence[tuple[str, Mapping[str, Any]]]

#: per-second columns of the latency-over-time plot: (column, legend name, style)
LATENCY_COLUMNS = (
    ("p50_ms", "p50", "line"), ("p95_ms", "p95", "line"), ("p99_ms", "p99", "line"), ("max_ms", "max", "line"),
    ("p50_sliding_ms", "p50 (10 s window)", "dash"), ("p95_sliding_ms", "p95 (10 s window)", "dash"),
    ("p99_sliding_ms", "p99 (10 s window)", "dash"),
)


def timeline(record: Mapping[str, Any], column: str, how: str = "max") -> tuple[list[float], list[float | None]]:
    """One per-second column over the whole run: x is seconds from the first phase's start (bucket start)."""
    xs: list[float] = []
    ys: list[float | None] = []
    for phase, t0 in zip(phases(record), phase_offsets(record)):
        series = phase.get("series") or {}
        seconds, values = series.get("second") or [], series.get(column) or []
        if len(values) != len(seconds):
            continue
        if xs and seconds:  # a gap between phases, so no line joins the end of one to the start of the next
            xs.append(num((xs[-1] + t0 + seconds[0]) / 2) or 0.0)
            ys.append(None)
        xs.extend(num(t0 + s) or 0.0 for s in seconds)
        ys.extend(nums(values))
    return coarsen(xs, ys, how)


def _first_bands(runs: Runs) -> list[Band]:
    return bands(runs[0][1]) if runs else []


def latency_over_time(runs: Runs) -> Figure | None:
    """p50/p95/p99/max of each second, and p50/p95/p99 over a sliding 10 s window; phases as bands."""
    traces = []
    for i, (_, record) in enumerate(runs):
        for column, name, style in LATENCY_COLUMNS:
            x, y = timeline(record, column, "max")
            if any(v is not None for v in y):
                traces.append(Trace(label(runs, i, name), x, y, style))
    if not traces:
        return None
    return Figure("latency", "load", "Latency over time", "seconds from the start of the run", "latency (ms)",
                  traces, bands=_first_bands(runs), y_type="log",
                  note="OK answers only; a dashed line is the percentile of every answer of the last 10 seconds.")


def offered_rate(phase: Mapping[str, Any], spec: Mapping[str, Any] | None) -> list[float | None] | None:
    """The arrival rate the schedule offered in each second of the phase (its middle); None for a closed phase."""
    if (phase.get("driver") or {}).get("model") == "closed":
        return None
    seconds = (phase.get("series") or {}).get("second") or []
    segments: list[tuple[float, float, float]] = []
    if spec and spec.get("kind") == "ramp":
        if spec.get("stages"):
            rate = float(spec.get("start_rate_qps") or 0.0)
            for stage in spec["stages"]:
                segments.append((float(stage["duration_s"]), rate, float(stage["target_qps"])))
                rate = float(stage["target_qps"])
        else:
            segments.append((float(spec.get("duration_s") or 0.0), float(spec.get("start_rate_qps") or 0.0),
                             float(spec.get("end_rate_qps") or 0.0)))
    else:
        planned = phase.get("planned_rate_qps") or (spec or {}).get("rate_qps")
        if planned is None:
            return None
        return [num(planned) for _ in seconds]
    return [num(_rate_at(segments, s + 0.5)) for s in seconds]


def _rate_at(segments: list[tuple[float, float, float]], t: float) -> float | None:
    start = 0.0
    for duration, lo, hi in segments:
        if t <= start + duration and duration > 0:
            return lo + (hi - lo) * (t - start) / duration
        start += duration
    return None


def _spec(record: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for spec in (record.get("scenario") or {}).get("phases") or []:
        if isinstance(spec, Mapping) and spec.get("name") == name:
            return spec
    return None


def rate_over_time(runs: Runs) -> Figure | None:
    """Offered arrivals per second (the schedule) against answers per second, with errors per second as bars."""
    traces = []
    for i, (_, record) in enumerate(runs):
        ox: list[float] = []
        oy: list[float | None] = []
        for phase, t0 in zip(phases(record), phase_offsets(record)):
            rates = offered_rate(phase, _spec(record, str(phase.get("name"))))
            if rates is not None:
                ox.extend(num(t0 + s) or 0.0 for s in (phase.get("series") or {}).get("second") or [])
                oy.extend(rates)
        if oy:
            traces.append(Trace(label(runs, i, "offered (q/s)"), *coarsen(ox, oy, "mean"), style="dash"))
        x, y = timeline(record, "count", "mean")
        if y:
            traces.append(Trace(label(runs, i, "answered (q/s)"), x, y))
        x, y = timeline(record, "errors", "mean")
        if any(v for v in y):
            traces.append(Trace(label(runs, i, "errors (/s)"), x, y, "bar"))
    if not traces:
        return None
    return Figure("rate", "load", "Offered and achieved rate", "seconds from the start of the run",
                  "queries per second", traces, bands=_first_bands(runs),
                  note="Answered counts every answer ending in that second, errors included.")


def anomalies(runs: Runs) -> Figure | None:
    """Per phase: arrivals sent late, arrivals dropped, queries refused as overloaded."""
    traces = []
    for i, (_, record) in enumerate(runs):
        ps = phases(record)
        names = [str(p.get("name")) for p in ps]
        late = [num((p.get("driver") or {}).get("late_starts", 0)) for p in ps]
        dropped = [num((p.get("driver") or {}).get("dropped", 0)) for p in ps]
        overloaded = [num((p.get("outcomes") or {}).get("overloaded", 0)) for p in ps]
        for name, values in (("late starts", late), ("dropped", dropped), ("overloaded", overloaded)):
            traces.append(Trace(label(runs, i, name), names, values, "bar"))
    if not any(t.x for t in traces):
        return None
    return Figure("anomalies", "load", "Late, dropped and overloaded", "phase", "queries", traces,
                  x_type="category",
                  note="Late: sent more than 2 ms after its intended time. Dropped: later than max_lateness_s, "
                       "never sent. Overloaded: refused by a full queue.")


def spectrum(latency: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(percentile, ms) points of a latency summary: its recorded spectrum, else its named percentiles."""
    points = [(float(q), float(v)) for q, v in latency.get("spectrum") or [] if v is not None]
    if points:
        return points
    named = (("min", 0.0), ("med", 50.0), ("p(90)", 90.0), ("p(95)", 95.0), ("p(99)", 99.0),
             ("p(99.9)", 99.9), ("max", 100.0))
    return [(q, float(latency[k])) for k, q in named if latency.get(k) is not None]


def _odds(q: float, count: int) -> float:
    """The x of percentile ``q`` on an HDR plot: 1 / (1 - q); the max sits at the sample count."""
    return float(max(count, 1)) if q >= 100.0 else 1.0 / (1.0 - q / 100.0)


HDR_TICKS = ([1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6],
             ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"])


def distribution(runs: Runs) -> Figure | None:
    """Latency against percentile on HDR axes (x = 1 / (1 - q), log): the whole run and each measured phase."""
    traces = []
    for i, (_, record) in enumerate(runs):
        summaries = [("all measured", (record.get("summary") or {}).get("latency_ms"))]
        summaries += [(str(p.get("name")), p.get("latency_ms")) for p in phases(record) if measured(p)]
        for name, latency in summaries:
            if not isinstance(latency, Mapping) or not latency.get("count"):
                continue
            points = spectrum(latency)
            count = int(latency["count"])
            traces.append(Trace(label(runs, i, name), [num(_odds(q, count)) for q, _ in points],
                                nums([v for _, v in points]), "lines+markers" if name == "all measured" else "line",
                                text=[f"p{q:g}" for q, _ in points]))
    if not traces:
        return None
    return Figure("distribution", "distribution", "Latency distribution (HDR percentiles)", "percentile",
                  "latency (ms)", traces, x_type="log", y_type="log", x_ticks=HDR_TICKS,
                  note="Each point is an exact percentile of every OK answer; the last is the maximum.")


def _worker_names(ps: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    names: set[str] = set()
    for p in ps:
        names.update(str(w) for w in (p.get(key) or {}))
    return sorted(names, key=lambda w: (len(w), w))


def worker_load(runs: Runs) -> Figure | None:
    """Queries each worker answered, stacked by measured phase."""
    traces = []
    for i, (_, record) in enumerate(runs):
        ps = [p for p in phases(record) if measured(p)]
        workers = _worker_names(ps, "per_worker")
        for p in ps:
            counts = p.get("per_worker") or {}
            if counts:
                traces.append(Trace(label(runs, i, str(p.get("name"))), [f"worker {w}" for w in workers],
                                    [num(counts.get(w, 0)) for w in workers], "bar"))
    if not traces:
        return None
    return Figure("worker-load", "breakdown", "Queries per worker", "worker", "queries answered", traces,
                  x_type="category", stacked=len(runs) == 1)


def worker_latency(runs: Runs) -> Figure | None:
    """Median and p99 latency of each worker's answers, per measured phase."""
    traces = []
    for i, (_, record) in enumerate(runs):
        ps = [p for p in phases(record) if measured(p)]
        workers = _worker_names(ps, "per_worker_latency_ms")
        for p in ps:
            lat = p.get("per_worker_latency_ms") or {}
            if not lat:
                continue
            x = [f"worker {w}" for w in workers]
            for stat, style in (("med", "markers"), ("p99", "markers")):
                traces.append(Trace(label(runs, i, f"{p.get('name')} {stat}"), x,
                                    [num((lat.get(w) or {}).get(stat)) for w in workers], style))
    if not traces:
        return None
    return Figure("worker-latency", "breakdown", "Latency per worker", "worker", "latency (ms)", traces,
                  x_type="category")


def _kinds(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(str(p.get("name")), p["per_kind"]) for p in phases(record)
            if measured(p) and isinstance(p.get("per_kind"), Mapping) and p["per_kind"]]


def kind_latency(runs: Runs) -> Figure | None:
    """p50, p95 and p99 latency of each query kind, per measured phase (nothing when no phase records kinds)."""
    traces = []
    for i, (_, record) in enumerate(runs):
        for phase_name, per_kind in _kinds(record):
            kinds = sorted(per_kind)
            for key, stat in (("med", "p50"), ("p(95)", "p95"), ("p(99)", "p99")):
                traces.append(Trace(label(runs, i, f"{phase_name} {stat}"), kinds,
                                    [num((per_kind[k].get("latency_ms") or {}).get(key)) for k in kinds], "bar"))
    if not traces:
        return None
    return Figure("kind-latency", "breakdown", "Latency per query kind", "query kind", "latency (ms)", traces,
                  x_type="category")


def kind_load(runs: Runs) -> Figure | None:
    """Queries and errors of each query kind over the measured phases, and its throughput (right axis)."""
    traces = []
    for i, (_, record) in enumerate(runs):
        per_phase = _kinds(record)
        kinds = sorted({k for _, per_kind in per_phase for k in per_kind})
        if not kinds:
            continue
        total = [num(sum(int(pk.get(k, {}).get("total", 0)) for _, pk in per_phase)) for k in kinds]
        errors = [num(sum(int(pk.get(k, {}).get("errors", 0)) for _, pk in per_phase)) for k in kinds]
        traces.append(Trace(label(runs, i, "queries"), kinds, total, "bar"))
        traces.append(Trace(label(runs, i, "errors"), kinds, errors, "bar"))
        for phase_name, pk in per_phase:
            traces.append(Trace(label(runs, i, f"{phase_name} q/s"), kinds,
                                [num(pk.get(k, {}).get("throughput_qps")) for k in kinds], "markers", axis="y2"))
    if not traces:
        return None
    return Figure("kind-load", "breakdown", "Load per query kind", "query kind", "queries", traces,
                  x_type="category", y2_title="throughput (q/s)")

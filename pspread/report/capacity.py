"""The capacity and resource figures of a report: stress probes, speedup with its USL fit, the CPU split and
per-process CPU and memory over time.

Same conventions as ``pspread.report.figures``: ``runs`` are ``(label,
record)`` pairs of plain results dicts, the baseline first; None when no run
has the data.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from pspread.report.figure import Figure, Trace, bands, coarsen, label, num, phase_offsets, phases

Runs = Sequence[tuple[str, Mapping[str, Any]]]
MB = 1024 * 1024


def searches(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The run's capacity searches with probes: one per worker count (``capacity_by_workers``), else the one."""
    by_workers = [c for c in record.get("capacity_by_workers") or [] if isinstance(c, Mapping) and c.get("probes")]
    if len(by_workers) > 1:
        return [(f"{c.get('workers')} workers, ", c) for c in by_workers]
    cap = record.get("capacity")
    return [("", cap)] if isinstance(cap, Mapping) and cap.get("probes") else []


def _probes(cap: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return sorted(cap["probes"], key=lambda p: float(p.get("rate_qps") or 0.0))


def capacity_latency(runs: Runs) -> Figure | None:
    """Each stress probe's gated latency and error rate against its offered rate; the knee as a line."""
    traces: list[Trace] = []
    vlines: list[tuple[float, str]] = []
    note = ""
    for i, (_, record) in enumerate(runs):
        for prefix, cap in searches(record):
            probes = _probes(cap)
            for passed, name in ((True, "passed"), (False, "failed")):
                chosen = [p for p in probes if bool(p.get("passed")) == passed]
                traces.append(Trace(label(runs, i, f"{prefix}latency, {name}"),
                                    [num(p.get("rate_qps")) for p in chosen],
                                    [num(p.get("latency_ms")) for p in chosen],
                                    "markers", text=[str(p.get("reason") or name) for p in chosen]))
            rates = [num(p.get("rate_qps")) for p in probes]
            traces.append(Trace(label(runs, i, f"{prefix}latency"), rates, [num(p.get("latency_ms")) for p in probes],
                                "dash"))
            traces.append(Trace(label(runs, i, f"{prefix}error rate (%)"), rates,
                                [num(100.0 * float(p.get("error_rate") or 0.0)) for p in probes], "lines+markers",
                                axis="y2"))
            if cap.get("knee_qps") is not None:
                vlines.append((num(cap["knee_qps"]) or 0.0,
                               label(runs, i, f"{prefix}knee {float(cap['knee_qps']):.0f} q/s")))
            note = f"Gates: {cap.get('latency_gate') or 'latency'}; {cap.get('error_gate') or 'no error gate'}."
    if not traces:
        return None
    return Figure("capacity", "capacity", "Stress probes: latency and errors against offered rate",
                  "offered rate (q/s)", "latency (ms, the gated statistic)", traces, vlines=vlines,
                  y_type="log", y2_title="error rate (%)", note=note)


def capacity_throughput(runs: Runs) -> Figure | None:
    """Answered against offered rate of each probe, with the ideal (answered = offered) line."""
    traces = []
    top = 0.0
    for i, (_, record) in enumerate(runs):
        for prefix, cap in searches(record):
            probes = _probes(cap)
            top = max([top] + [float(p.get("rate_qps") or 0.0) for p in probes])
            traces.append(Trace(label(runs, i, f"{prefix}answered"), [num(p.get("rate_qps")) for p in probes],
                                [num(p.get("achieved_qps")) for p in probes], "lines+markers"))
    if not traces:
        return None
    traces.append(Trace("answered = offered", [0.0, num(top)], [0.0, num(top)], "dash"))
    return Figure("capacity-rate", "capacity", "Stress probes: answered against offered rate",
                  "offered rate (q/s)", "answered rate (q/s)", traces)


def usl_speedup(usl: Mapping[str, Any], workers: Sequence[float]) -> list[float | None]:
    """The speedup the fitted USL predicts: X(N) / X(1) = N / (1 + σ(N − 1) + κN(N − 1))."""
    sigma, kappa = float(usl.get("sigma") or 0.0), float(usl.get("kappa") or 0.0)
    return [num(n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))) for n in workers]


def speedup(runs: Runs) -> Figure | None:
    """Measured speedup per worker count, the ideal line, the USL fit; efficiency on the right axis."""
    traces = []
    for i, (_, record) in enumerate(runs):
        scaling = record.get("scaling")
        if not isinstance(scaling, Mapping):
            continue
        points = [p for p in scaling.get("points") or [] if p.get("speedup") is not None and not p.get("skipped")]
        if not points:
            continue
        ws = [float(p["workers"]) for p in points]
        traces.append(Trace(label(runs, i, "speedup"), nums_(ws), [num(p["speedup"]) for p in points],
                            "lines+markers"))
        traces.append(Trace(label(runs, i, "efficiency"), nums_(ws), [num(p.get("efficiency")) for p in points],
                            "markers", axis="y2"))
        usl = scaling.get("usl")
        if isinstance(usl, Mapping):
            top = max(ws) * 2.0
            peak = usl.get("peak_workers")
            if isinstance(peak, (int, float)) and peak > top:
                top = min(float(peak) * 1.2, max(ws) * 8.0)
            grid = [1.0 + (top - 1.0) * k / 40.0 for k in range(41)]
            sigma, kappa = float(usl.get("sigma") or 0.0), float(usl.get("kappa") or 0.0)
            traces.append(Trace(label(runs, i, f"USL fit (σ={sigma:.3g}, κ={kappa:.3g})"), nums_(grid),
                                usl_speedup(usl, grid), "dash"))
    if not traces:
        return None
    top = max(max(v for v in t.x if v is not None) for t in traces)
    traces.append(Trace("ideal (speedup = workers)", [1.0, num(top)], [1.0, num(top)], "dash"))
    return Figure("speedup", "capacity", "Speedup and efficiency", "workers", "speedup (time on 1 ÷ time on W)",
                  traces, y2_title="efficiency (speedup ÷ W)",
                  note="Worker counts above the usable cores are skipped, never plotted.")


def nums_(values: Sequence[float]) -> list[Any]:
    return [num(v) for v in values]


def cpu_split(runs: Runs) -> Figure | None:
    """Per phase: CPU seconds of the queries' own work, of coordination (executor) and of load generation."""
    traces = []
    for i, (_, record) in enumerate(runs):
        rows: list[tuple[str, Mapping[str, Any]]] = []
        for p in phases(record):
            split = (p.get("resources") or {}).get("cpu")
            if isinstance(split, Mapping):
                rows.append((str(p.get("name")), split))
        if not rows:
            continue
        for key, name in (("kernel_s", "kernel (query work)"), ("executor_s", "coordination"),
                          ("load_s", "load generation")):
            traces.append(Trace(label(runs, i, name), [n for n, _ in rows], [num(c.get(key)) for _, c in rows],
                                "bar"))
    if not traces:
        return None
    return Figure("cpu-split", "capacity", "CPU by role, per phase", "phase", "CPU seconds", traces,
                  x_type="category", stacked=len(runs) == 1,
                  note="As docs/architecture.md defines them: kernel CPU, coordination overhead, load generation.")


def _process_rows(phase: Mapping[str, Any]) -> dict[str, list[list[float]]]:
    """Per role ``[t, cpu %, rss bytes]`` rows; older files only have the totals (parent, all workers)."""
    res = phase.get("resources") or {}
    per_process = res.get("process_series")
    if isinstance(per_process, Mapping) and per_process:
        return {str(role): list(rows) for role, rows in per_process.items()}
    rows = res.get("series") or []
    return {"all processes": [[r[0], r[2] + r[3], r[1]] for r in rows if len(r) >= 4]}


def _over_time(runs: Runs, column: int, scale: float) -> list[Trace]:
    traces = []
    for i, (_, record) in enumerate(runs):
        by_role: dict[str, tuple[list[float], list[float | None]]] = {}
        for phase, t0 in zip(phases(record), phase_offsets(record)):
            for role, rows in _process_rows(phase).items():
                xs, ys = by_role.setdefault(role, ([], []))
                for row in rows:
                    xs.append(num(t0 + float(row[0])) or 0.0)
                    ys.append(num(float(row[column]) / scale) if row[column] is not None else None)
        for role, (xs, ys) in sorted(by_role.items()):
            if xs:
                traces.append(Trace(label(runs, i, role), *coarsen(xs, ys, "mean")))
    return traces


def cpu_over_time(runs: Runs) -> Figure | None:
    """CPU % of each process (parent, every worker) at each resource sample; 100% is one core."""
    traces = _over_time(runs, 1, 1.0)
    if not traces:
        return None
    return Figure("cpu-time", "capacity", "CPU per process over time", "seconds from the start of the run",
                  "CPU (%, 100 = one core)", traces, bands=bands(runs[0][1]))


def memory_over_time(runs: Runs) -> Figure | None:
    """Resident memory (RSS) of each process at each resource sample."""
    traces = _over_time(runs, 2, MB)
    if not traces:
        return None
    return Figure("memory-time", "capacity", "Memory per process over time", "seconds from the start of the run",
                  "resident memory (MiB)", traces, bands=bands(runs[0][1]))

"""``pspread report``: one self-contained HTML file of plots from one or more results files.

``write_report(results, path)`` is the entry point (also behind ``--report``
on ``run``, ``stress`` and ``speedup``).  The figures are extracted from each
run's plain JSON dict (``Results.to_dict()``), so the report depends only on
the results file's shape; several runs are overlaid, the first as the
baseline, with what ``pspread compare`` judges between it and each other.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pspread.report import capacity, figures, tables
from pspread.report.figure import Figure
from pspread.results.run import Results

#: every figure a report can hold, in page order (each returns None when no run has its data)
FIGURES: tuple[Callable[[Sequence[tuple[str, Mapping[str, Any]]]], Figure | None], ...] = (
    figures.latency_over_time, figures.rate_over_time, figures.anomalies, figures.distribution,
    figures.worker_load, figures.worker_latency, figures.kind_latency, figures.kind_load,
    capacity.capacity_latency, capacity.capacity_throughput, capacity.speedup, capacity.cpu_split,
    capacity.cpu_over_time, capacity.memory_over_time,
)


def run_labels(count: int) -> list[str]:
    """``base``, ``new`` (or ``new 1``, ``new 2`` ...) for overlaid runs; ``run`` for one."""
    if count == 1:
        return ["run"]
    return ["base"] + (["new"] if count == 2 else [f"new {k}" for k in range(1, count)])


def build_figures(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Figure]:
    """Every figure the runs have data for, in page order."""
    return [fig for make in FIGURES if (fig := make(runs)) is not None]


def build_tables(runs: Sequence[tuple[str, Mapping[str, Any]]],
                 comparisons: Sequence[Mapping[str, Any]] = ()) -> dict[str, list[tables.Table]]:
    """The tables of each section of the page."""
    verdict = [tables.headline(runs), tables.verdicts(runs)]
    verdict += [tables.comparison(runs[0][0], runs[k + 1][0], c) for k, c in enumerate(comparisons)]
    out = {"verdict": verdict, "context": [tables.environment(runs)]}
    if any(r.get("phases") for _, r in runs):
        out["load"] = [tables.phase_table(runs)]
    drift = tables.soak(runs)
    if drift is not None:
        out.setdefault("load", []).append(drift)
    return out


def render(results: Sequence[Results]) -> str:
    """The report of ``results`` (baseline first) as one HTML document."""
    from pspread.report.html import page
    from pspread.results.compare import compare

    if not results:
        raise ValueError("a report needs at least one results record")
    labels = run_labels(len(results))
    runs = [(name, r.to_dict()) for name, r in zip(labels, results)]
    comparisons = [compare(results[0], r).to_dict() for r in results[1:]]
    first = runs[0][1]
    title = "pspread report: " + " vs ".join(dict.fromkeys(str(r.get("scenario_name")) for _, r in runs))
    subtitle = "; ".join(f"{name}: {r.get('scenario_name')} started {r.get('started_utc')}, {r.get('status')}"
                         for name, r in runs) if len(runs) > 1 else (
        f"started {first.get('started_utc')}, finished {first.get('finished_utc') or '–'}, "
        f"status {first.get('status')}, exit {first.get('exit_status')}")
    return page(title, subtitle, build_figures(runs), build_tables(runs, comparisons))


def write_report(results: Sequence[Results], path: Path) -> Path:
    """Write the report of ``results`` (the first is the baseline) to ``path`` atomically; return the path.

    A reader sees the previous file or the new one, never half of one: the
    page goes to a temporary file beside ``path`` and is renamed into place.
    """
    target = Path(path)
    text = render(results)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


__all__ = ["write_report", "render", "build_figures", "build_tables", "run_labels", "FIGURES"]

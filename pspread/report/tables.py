"""The tables of a report, from results records: verdicts, headline figures, environment, comparison.

Each function returns a :class:`Table` of strings (already formatted), so the
HTML module only lays them out and the unit tests read the same cells a
person sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

Runs = Sequence[tuple[str, Mapping[str, Any]]]

MARKS = {"pass": "✓ pass", "fail": "✗ fail", "skipped": "– skipped"}


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    #: per row, a CSS class for the verdict it shows ("pass", "fail", "skipped", "")
    classes: list[str]


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.3g}"
    return str(value)


def verdicts(runs: Runs) -> Table:
    """Every threshold of every run with its verdict, what was observed, and why."""
    rows, classes = [], []
    for name, record in runs:
        for t in record.get("thresholds") or []:
            status = str(t.get("status"))
            rows.append([name, str(t.get("metric")), str(t.get("threshold")), fmt(t.get("observed"), 3),
                         MARKS.get(status, status), str(t.get("reason") or "")])
            classes.append(status)
    return Table("verdicts", "Gates", ["run", "metric", "threshold", "observed", "verdict", "note"], rows, classes)


def headline(runs: Runs) -> Table:
    """Status, queries, errors, throughput and latency percentiles of each run's measured phases together."""
    rows, classes = [], []
    for name, record in runs:
        s = record.get("summary") or {}
        lat = s.get("latency_ms") or {}
        counts = [str(t.get("status")) for t in record.get("thresholds") or []]
        verdict = "fail" if "fail" in counts else ("pass" if record.get("status") == "complete" else "")
        status = str(record.get("status")) + (f" ({record['error']})" if record.get("error") else "")
        rows.append([name, status, fmt(record.get("exit_status")), fmt(s.get("total")),
                     fmt(s.get("errors")), fmt(s.get("throughput_qps"), 1), fmt(lat.get("med")),
                     fmt(lat.get("p(95)")), fmt(lat.get("p(99)")), fmt(lat.get("max"))])
        classes.append(verdict)
    return Table("headline", "Runs", ["run", "status", "exit", "queries", "errors", "q/s", "p50 ms", "p95 ms",
                                      "p99 ms", "max ms"], rows, classes)


def phase_table(runs: Runs) -> Table:
    """One row per phase: kind, queries, errors, throughput, percentiles, late and dropped arrivals."""
    rows = []
    for name, record in runs:
        for p in record.get("phases") or []:
            lat = p.get("latency_ms") or {}
            driver = p.get("driver") or {}
            measured = p.get("measured", p.get("kind") != "warmup")
            rows.append([name, str(p.get("name")) + ("" if measured else " (not counted)"), str(p.get("kind")),
                         fmt(p.get("total")), fmt(p.get("errors")), fmt(p.get("throughput_qps"), 1),
                         fmt(lat.get("med")), fmt(lat.get("p(99)")), fmt(lat.get("max")),
                         fmt(driver.get("late_starts")), fmt(driver.get("dropped"))])
    return Table("phases", "Phases", ["run", "phase", "kind", "queries", "errors", "q/s", "p50 ms", "p99 ms",
                                      "max ms", "late", "dropped"], rows, [""] * len(rows))


def soak(runs: Runs) -> Table | None:
    """A soak's drift: p99 and memory of the first against the last tenth of its steady phase."""
    rows = []
    for name, record in runs:
        s = record.get("soak")
        if isinstance(s, Mapping):
            drift, growth = s.get("latency_drift"), s.get("rss_growth")
            rows.append([name, fmt(s.get("rate_qps"), 1), fmt(s.get("duration_s"), 0), fmt(s.get("p99_first_ms")),
                         fmt(s.get("p99_last_ms")), "–" if drift is None else f"{100 * drift:+.1f}%",
                         fmt(s.get("rss_first_mb"), 1), fmt(s.get("rss_last_mb"), 1),
                         "–" if growth is None else f"{100 * growth:+.2f}%"])
    if not rows:
        return None
    return Table("soak", "Soak drift (first tenth → last tenth)",
                 ["run", "q/s", "seconds", "p99 first ms", "p99 last ms", "p99 drift", "RSS first MB", "RSS last MB",
                  "RSS growth"], rows, [""] * len(rows))


def environment(runs: Runs) -> Table:
    """Machine and software of each run: CPU, cores, memory, Python, library versions, git revision."""
    rows = []
    for name, record in runs:
        env = record.get("environment") or {}
        git = env.get("git") or {}
        rev = (str(git.get("revision") or "")[:12] + (" (dirty)" if git.get("dirty") else "")) or "–"
        libs = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items())
        rows.append([name, str(env.get("cpu_model") or "–"),
                     f"{fmt(env.get('cores_logical'))} logical, {fmt(env.get('cores_physical'))} physical, "
                     f"{fmt(env.get('cores_usable'))} usable",
                     f"{fmt(env.get('memory_total_mb'), 0)} MB", str(env.get("platform") or "–"),
                     f"{env.get('python_implementation') or ''} {env.get('python') or '–'}".strip(), libs or "–",
                     rev, f"{record.get('started_utc') or '–'} → {record.get('finished_utc') or '–'}"])
    return Table("environment", "Environment",
                 ["run", "CPU", "cores", "memory", "platform", "Python", "libraries", "git revision", "time (UTC)"],
                 rows, [""] * len(rows))


def comparison(base: str, new: str, result: Mapping[str, Any]) -> Table:
    """What ``pspread compare`` judges between the baseline and one new run (its ``to_dict``)."""
    rows, classes = [], []
    for m in result.get("metrics") or []:
        unit = " q/s" if m.get("metric") == "qps" else " ms"
        change = m.get("change_pct")
        rows.append([str(m.get("metric")), fmt(m.get("base")) + unit, fmt(m.get("new")) + unit,
                     "–" if change is None else f"{change:+.1f}%",
                     "–" if m.get("p_value") is None else f"{m['p_value']:.3g}", str(m.get("rule") or "–"),
                     str(m.get("status")), str(m.get("note") or "")])
        status = str(m.get("status"))
        classes.append("fail" if status == "regression" else ("pass" if status in ("ok", "improved") else "skipped"))
    for w in result.get("warnings") or []:
        rows.append(["warning", "", "", "", "", "", "", str(w)])
        classes.append("skipped")
    verdict = "REGRESSION" if result.get("regressed") else "no regression"
    return Table("compare", f"{base} → {new}: {verdict}",
                 ["metric", "base", "new", "change", "p-value", "fail on", "verdict", "note"], rows, classes)

"""Results out: JSON written atomically and never over another run, Markdown for CI, CSV series.

Atomic means a reader (or a crash, or Ctrl-C) sees either the previous
complete file or the new complete file, never half of one: the JSON goes to a
temporary file in the same folder, is flushed and fsynced, then renamed into
place.  A run claims its file name once with ``os.link`` (which fails if the
name exists), so two runs started in the same second never overwrite each
other; later writes of the same run replace its own file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from pspread.errors import PspreadError
from pspread.results.records import CapacityRecord, ScalingRecord
from pspread.results.run import Results, ResultsError

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def results_filename(results: Results) -> str:
    """``<UTC start time>-<scenario>.json``, e.g. ``20261125T121340Z-ci-gate.json``."""
    try:
        started = datetime.strptime(results.started_utc[:19], "%Y-%m-%dT%H:%M:%S")
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
    except ValueError:
        stamp = _SAFE.sub("", results.started_utc) or "run"
    name = _SAFE.sub("-", results.scenario_name).strip("-") or "scenario"
    return f"{stamp}-{name}.json"


def _encode(results: Results) -> bytes:
    return (json.dumps(results.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


def _umask() -> int:
    """The process's umask (reading it means setting it; done once)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


class OutputError(PspreadError):
    """An output path cannot be written, or would overwrite a file without ``--force`` (exit 2)."""


def check_output(path: str | Path, force: bool = False, what: str = "output") -> Path:
    """Refuse, before anything runs, an output file that could not be written or would overwrite one.

    The folder must exist (or be creatable) and be writable; an existing file
    is replaced only with ``force``; a folder is never replaced.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{what} {target}: is a folder; give a file name, e.g. {target / 'results.json'}")
    if target.exists() and not force:
        raise OutputError(f"{what} {target}: already exists; pass --force to replace it, or choose another name")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {target}: folder {folder} is not writable; choose a path you can write")
    return target


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(target.parent, text.encode("utf-8"), target.stem)
    try:
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return target


def _write_temp(folder: Path, payload: bytes, stem: str) -> Path:
    """The payload in a fsynced temporary file in ``folder``, mode per the umask; removed on any failure."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared like any file
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _claim(tmp: Path, target: Path) -> Path:
    """Link ``tmp`` to ``target`` or the first free ``target-1``, ``target-2`` ...; never overwrites."""
    stem, suffix = target.stem, target.suffix
    for n in range(0, 10_000):
        candidate = target if n == 0 else target.with_name(f"{stem}-{n}{suffix}")
        try:
            os.link(tmp, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:
            # a file system without hard links: reserve the name exclusively, then replace it
            try:
                fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            os.replace(tmp, candidate)
            return candidate
    raise ResultsError(f"{target.parent}: no free results file name for {target.name}")


def write_json_atomic(results: Results, folder_or_path: str | Path, replace: bool = False) -> Path:
    """Write ``results`` as JSON; return the path written.

    A folder gets ``<UTC time>-<scenario>.json`` (suffixed ``-1``, ``-2`` if
    taken).  A ``.json`` path is used as given; an existing file there is
    never overwritten (a suffix is added) unless ``replace`` is True, which is
    how a run rewrites its *own* file after each phase.
    """
    target = Path(folder_or_path)
    if target.suffix != ".json" or target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        target = target / results_filename(results)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    payload = _encode(results)
    tmp = _write_temp(target.parent, payload, target.stem)
    try:
        if replace:
            os.replace(tmp, target)
            written = target
        else:
            written = _claim(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return written


class ResultsWriter:
    """Writes one run's file: a fresh name on the first write, the same file after that.

    ``writer = ResultsWriter("results")``; ``writer.write(results)`` after each
    phase and once at the end (also from a Ctrl-C handler: partial results).
    """

    def __init__(self, folder: str | Path = "results") -> None:
        self.folder = Path(folder)
        self.path: Path | None = None

    def write(self, results: Results) -> Path:
        if self.path is None:
            self.path = write_json_atomic(results, self.folder)
        else:
            write_json_atomic(results, self.path, replace=True)
        return self.path


def read_results(path: str | Path) -> Results:
    """Read a results JSON file; ``ResultsError`` names the file and what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{p}: no such results file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ResultsError(f"{p}: not a readable JSON results file ({type(exc).__name__}: {exc})") from None
    try:
        return Results.from_dict(data)
    except ResultsError as exc:
        raise ResultsError(f"{p}: {exc}") from None
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        # a record of the wrong shape (``phases: "x"``, a number where a section belongs)
        raise ResultsError(f"{p}: results file is malformed ({type(exc).__name__}: {exc}); "
                           "give a file `pspread run` wrote") from None


# ------------------------------------------------------------------ Markdown
_MARK = {"pass": "✓", "fail": "✗", "skipped": "–"}


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and digits != 0:
        value = float(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(results: Results) -> str:
    """A summary for CI job pages: verdict, thresholds (✓/✗/–), phases, scaling, capacity, environment."""
    counts = results.verdict_counts()
    failed = counts["fail"] or (results.strict and counts["skipped"])
    verdict = "FAILED" if failed else ("PASSED" if results.status == "complete" else results.status.upper())
    lines = [f"## pspread: {results.scenario_name} — {verdict}", ""]
    lines.append(f"Started {results.started_utc}, finished {results.finished_utc or '–'}, "
                 f"status {results.status}, exit {_num(results.exit_status, 0)}.")
    lines.append("")
    if results.thresholds:
        lines += ["| | metric | threshold | observed | note |", "|---|---|---|---|---|"]
        for t in results.thresholds:
            lines.append(f"| {_MARK.get(t.status, '?')} | {t.metric} | `{t.threshold}` | "
                         f"{_num(t.observed, 3)} | {t.reason or t.status} |")
        lines.append("")
    if results.phases:
        lines += ["| phase | kind | queries | errors | qps | p50 ms | p95 ms | p99 ms | max ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for p in results.phases:
            lat = p.latency_ms
            name = p.name if p.measured else f"{p.name} (not counted)"
            lines.append(f"| {name} | {p.kind} | {p.total} | {p.errors} | {_num(p.throughput_qps, 1)} | "
                         f"{_num(lat.med)} | {_num(lat.p95)} | {_num(lat.p99)} | {_num(lat.max)} |")
        lines.append("")
    if results.recycles:
        lines += [f"Memory guard: {results.recycles} worker(s) replaced past the memory limit, one at a time.", ""]
    if results.scaling is not None:
        lines += _scaling_lines(results.scaling)
    for cap in results.capacity_by_workers or ([results.capacity] if results.capacity is not None else []):
        lines += _capacity_lines(cap)
    env = results.environment
    if env:
        git = env.get("git") or {}
        rev = (git.get("revision") or "")[:12] + (" (dirty)" if git.get("dirty") else "") if git else "–"
        lines.append(f"Machine: {env.get('cpu_model') or 'unknown CPU'}, {env.get('cores_logical')} cores "
                     f"({env.get('cores_physical')} physical), Python {env.get('python')}, revision {rev or '–'}.")
    return "\n".join(lines).rstrip() + "\n"


def _scaling_lines(scaling: ScalingRecord) -> list[str]:
    lines = ["| workers | speedup | efficiency |", "|---:|---:|---:|"]
    for p in scaling.points:
        lines.append(f"| {p.workers} | {_num(p.speedup) if not p.skipped else 'skipped'} | {_num(p.efficiency)} |")
    if scaling.usl is not None:
        usl = scaling.usl
        lines.append("")
        lines.append(f"USL fit: σ = {_num(usl.sigma, 4)}, κ = {_num(usl.kappa, 5)}, "
                     f"peak at {_num(usl.peak_workers, 1)} workers.")
    return lines + [""]


def _capacity_lines(cap: CapacityRecord) -> list[str]:
    on = f" on {cap.workers} workers" if cap.workers is not None else ""
    if cap.skipped:
        return [f"Capacity{on}: skipped ({cap.skipped}).", ""]
    knee = "not found" if cap.knee_qps is None else f"{cap.knee_qps:.0f} q/s"
    bracket = "" if cap.first_failing_qps is None else f", first failing rate {cap.first_failing_qps:.0f} q/s"
    confirmed = {True: ", confirmed by a second probe", False: ", not confirmed by a second probe",
                 None: ""}[cap.confirmed]
    lines = [f"Capacity knee{on}: **{knee}**{bracket}{confirmed} (gates `{cap.latency_gate}`, `{cap.error_gate}`).",
             "",
             "| offered q/s | answered q/s | latency ms | errors | verdict |", "|---:|---:|---:|---:|---|"]
    for p in cap.probes:
        lines.append(f"| {p.rate_qps:.0f} | {p.achieved_qps:.0f} | {_num(p.latency_ms)} | "
                     f"{100 * p.error_rate:.2f}% | {'pass' if p.passed else 'fail: ' + p.reason} |")
    return lines + [""]


# ----------------------------------------------------------------------- CSV
CSV_COLUMNS = ("phase", "second", "count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def to_csv(results: Results) -> str:
    """The per-second series of every phase, one row per phase-second (empty cells for no data)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for phase in results.phases:
        columns = phase.series.model_dump()
        for i in range(len(phase.series)):
            row = [phase.name] + [columns[c][i] for c in CSV_COLUMNS[1:]]
            writer.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in row])
    return buf.getvalue()

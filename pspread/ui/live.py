"""The live view of a run: a Rich table a few times a second, or a line a second in CI logs.

It is an observer of the runner: when a phase starts it gets the driver, the
recorder and the resource sampler, and from then on only *reads* them -- new
samples since its last look (``Recorder.snapshot(since=...)``), the sampler's
latest reading -- so the driver's hot path does no work for it.  Overall
percentiles are recomputed at most once a second; the 4 Hz refresh between
reuses them and updates only the cheap counters.  ``busy_s`` counts the time
the view itself spends, so its cost can be checked against the run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from pspread.load.driver import Driver
from pspread.load.figures import observed_so_far
from pspread.load.recorder import OK_CODE, OUTCOMES, Recorder
from pspread.load.resources import ResourceSampler
from pspread.load.scaling import ScalingPoint
from pspread.metrics.thresholds import TAGGABLE, Threshold, VerdictStatus, evaluate
from pspread.results.run import PhaseResult
from pspread.scenario.phases import PhaseSpec

REFRESH_HZ = 4.0
_EMPTY = np.zeros(0)
WINDOW_S = 10.0


@dataclass
class LiveFigures:
    """What the view shows, recomputed from the recorder's new rows."""

    phase: str = ""
    kind: str = ""
    measured: bool = True
    elapsed_s: float = 0.0
    planned_s: float = 0.0
    done: int = 0
    ok: int = 0
    current_qps: float = 0.0
    overall_qps: float = 0.0
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    #: p99 of the OK answers of the last ``WINDOW_S`` seconds: a spike shows here before it moves the cumulative one
    window_p99: float = float("nan")
    errors: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    late: int = 0
    dropped: int = 0
    processes: list[tuple[str, int, float, int]] = field(default_factory=list)
    targets: list[tuple[str, VerdictStatus | None, float | None]] = field(default_factory=list)


class LiveStats:
    """Incremental figures of one phase; reads only rows it has not seen."""

    def __init__(self, driver: Driver, recorder: Recorder, sampler: ResourceSampler, phase: PhaseSpec,
                 thresholds: list[Threshold], done: list[PhaseResult] | None = None) -> None:
        self.driver, self.recorder, self.sampler, self.phase = driver, recorder, sampler, phase
        self.thresholds = thresholds
        self.done = done or []  # the finished phases: gates cover them too (one rule, live and final)
        self.seen = 0
        self.latencies: list[np.ndarray] = []
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # latency ms, ok, kind, completed
        self.kinds: list[str] = []
        self.recent: list[tuple[float, int]] = []  # (when seen, how many) for the current rate
        self.error_counts = np.zeros(len(OUTCOMES), dtype=np.int64)
        self.ok = 0
        self._last_full = 0.0
        self.figures = LiveFigures(phase=str(phase.name), kind=phase.kind, measured=phase.measured,
                                   planned_s=float(phase.duration_s or 0.0))

    def update(self, now: float) -> LiveFigures:
        rec, f = self.recorder, self.figures
        new = rec.snapshot(since=self.seen)
        self.seen += len(new)
        if len(new):
            ok = new.outcome == OK_CODE
            self.ok += int(ok.sum())
            lat = new.latency_s * 1e3
            self.latencies.append(lat[ok])
            self.rows.append((lat, ok, new.kind, new.completed))
            self.kinds = new.kinds
            self.error_counts += np.bincount(new.outcome[~ok], minlength=len(OUTCOMES))
        # the current rate: rows that arrived over the last second of looks ÷ the time those looks cover
        self.recent.append((now, len(new)))
        while len(self.recent) > 2 and self.recent[1][0] <= now - 1.0:
            self.recent.pop(0)
        f.elapsed_s = max(0.0, now - rec.origin)
        f.done, f.ok = self.seen, self.ok
        if len(self.recent) >= 2:
            f.current_qps = sum(n for _, n in self.recent[1:]) / (now - self.recent[0][0])
        else:
            f.current_qps = len(new) / f.elapsed_s if f.elapsed_s > 0 else 0.0
        f.overall_qps = self.ok / f.elapsed_s if f.elapsed_s > 0 else 0.0
        f.errors = {OUTCOMES[i].value: int(n) for i, n in enumerate(self.error_counts) if n}
        f.in_flight = max(0, rec.submitted - rec.completed)
        f.late, f.dropped = rec.late_starts, rec.dropped
        if now - self._last_full >= 1.0:
            self._full_update()
            self._last_full = now
        return f

    def _full_update(self) -> None:
        """Percentiles, processes and targets: the once-a-second part."""
        f = self.figures
        if len(self.latencies) > 1:
            self.latencies = [np.concatenate(self.latencies)]
        lat = self.latencies[0] if self.latencies else np.zeros(0)
        if lat.size:
            f.p50, f.p95, f.p99 = (float(v) for v in np.percentile(lat, [50, 95, 99]))
            f.max = float(lat.max())
        f.processes = [(p.role, p.pid, p.cpu_percent, p.rss_bytes) for p in self.sampler.latest()]
        if len(self.rows) > 1:
            self.rows = [tuple(np.concatenate(col) for col in zip(*self.rows))]  # type: ignore[misc]
        lat_all, ok, kind, completed = self.rows[0] if self.rows else (_EMPTY, _EMPTY.astype(bool), _EMPTY, _EMPTY)
        recent = ok & (completed >= (completed.max() if completed.size else 0.0) - WINDOW_S)
        f.window_p99 = float(np.percentile(lat_all[recent], 99)) if recent.any() else float("nan")
        targets = []
        for t in self.thresholds:
            if t.metric in TAGGABLE:
                seen = observed_so_far(t, self.done, self.phase, lat_all, ok, kind, self.kinds)
                if t.metric == "throughput_qps" and not t.tags:
                    seen.values["throughput_qps"] = f.overall_qps if f.measured else seen.values.get(
                        "throughput_qps", float("nan"))
                v = evaluate(t, seen)
                targets.append((str(t), v.status if v.status is not VerdictStatus.SKIPPED else None, v.observed))
            else:
                targets.append((str(t), None, None))
        f.targets = targets


class LiveView:
    """Observer that renders ``LiveStats`` with Rich (``plain=False``) or as lines (``plain=True``)."""

    def __init__(self, thresholds: list[Threshold], plain: bool | None = None, stream: TextIO | None = None,
                 title: str = "pspread", console: Console | None = None) -> None:
        self.console = console or Console(file=stream, highlight=False)
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.thresholds = thresholds
        self.title = title
        self.busy_s = 0.0
        self._stats: LiveStats | None = None
        self._live: Live | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done: list[PhaseResult] = []

    # ------------------------------------------------------------ observer
    def preparing(self, step: str) -> None:
        """A start-up step, shown at once: generating a graph and starting workers take seconds."""
        style = "yellow" if step.startswith("warning:") else "dim"
        self.console.print(f"[{style}]{escape(step)}…[/]" if style == "dim" else f"[{style}]{escape(step)}[/]",
                           soft_wrap=True)

    def phase_started(self, phase: PhaseSpec, driver: Driver, recorder: Recorder, sampler: ResourceSampler) -> None:
        self._finish_thread()
        self._stats = LiveStats(driver, recorder, sampler, phase, self.thresholds, self._done)
        self._stop.clear()
        if self.plain:
            tag = "" if phase.measured else " (warm-up, excluded)"
            self.console.print(f"phase {phase.name}: {phase.kind}{tag}", soft_wrap=True)
            thread = threading.Thread(target=self._plain_loop, name="pspread-live", daemon=True)
            thread.start()
            self._thread = thread
        else:
            self._live = Live(get_renderable=self._renderable, console=self.console,
                              refresh_per_second=REFRESH_HZ, transient=False)
            self._live.start()

    def phase_finished(self, phase: PhaseResult) -> None:
        self._finish_thread()
        self._done.append(phase)
        if self.plain:
            self.console.print(
                f"phase {phase.name} done: {phase.total} queries, {phase.throughput_qps:.0f} q/s, "
                f"p99 {_ms(phase.latency_ms.p99)}, errors {phase.errors}", soft_wrap=True)

    def scaling_point(self, point: ScalingPoint, queries: int) -> None:
        """A line per worker count of a speedup run, as it is measured."""
        if point.skipped:
            self.console.print(f"speedup: {point.workers} workers SKIPPED: {point.skipped}", soft_wrap=True)
        else:
            self.console.print(f"speedup: {point.workers} workers {point.time_s or 0:.3f}s for {queries} queries "
                               f"({point.qps or 0:.0f} q/s), speedup {point.speedup or 0:.2f}", soft_wrap=True)

    def close(self) -> None:
        self._finish_thread()

    def _finish_thread(self) -> None:
        self._stop.set()
        if self._thread is not None:
            if self._thread.ident is not None:  # started (Ctrl-C may land between creating and starting)
                self._thread.join(timeout=2)
            self._thread = None
        if self._live is not None:
            self._live.stop()
            self._live = None

    # ------------------------------------------------------------ renderers
    def _update(self) -> LiveFigures | None:
        if self._stats is None:
            return None
        t0 = time.perf_counter()
        f = self._stats.update(time.perf_counter())
        self.busy_s += time.perf_counter() - t0
        return f

    def _plain_loop(self) -> None:
        while not self._stop.wait(1.0):
            f = self._update()
            if f is not None:
                t0 = time.perf_counter()
                self.console.print(plain_line(f), soft_wrap=True)
                self.busy_s += time.perf_counter() - t0

    def _renderable(self) -> Text:
        f = self._update()
        t0 = time.perf_counter()
        group = render(f, self.title) if f is not None else Text("")
        self.busy_s += time.perf_counter() - t0
        return group


# ------------------------------------------------------------------ rendering
def _ms(v: float | None) -> str:
    return "-" if v is None or v != v else (f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms")


def _num(v: float) -> str:
    return "-" if v != v else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def plain_line(f: LiveFigures) -> str:
    """One log line: what a CI job page shows every second."""
    progress = f"{f.elapsed_s:.0f}s/{f.planned_s:.0f}s" if f.planned_s else f"{f.elapsed_s:.0f}s"
    errors = ",".join(f"{k}={v}" for k, v in f.errors.items()) or "0"
    cpu = " ".join(f"{'parent' if role == 'parent' else 'w' + role.split()[-1]}={c:.0f}%"
                   for role, _, c, _ in f.processes)
    return (f"[{f.phase}] {progress} q/s now {f.current_qps:.0f} avg {f.overall_qps:.0f} | "
            f"p50 {_ms(f.p50)} p95 {_ms(f.p95)} p99 {_ms(f.p99)} max {_ms(f.max)} "
            f"p99({WINDOW_S:.0f}s) {_ms(f.window_p99)} | errors {errors} | "
            f"in flight {f.in_flight} late {f.late} dropped {f.dropped} | cpu {cpu}")


def _row(text: Text, cells: list[str], width: int = 10, style: str = "") -> None:
    for cell in cells:
        text.append(cell.rjust(width), style=style)
    text.append("\n")


def render(f: LiveFigures, title: str) -> Text:
    """The Rich view: a progress bar, load and count columns, processes, targets.

    One styled ``Text`` with fixed-width columns rather than Rich tables: a
    table re-measures every cell on every refresh (several ms), a Text costs a
    fraction of that, which keeps the view well under 1% of the parent at 4 Hz.
    """
    out = Text()
    out.append(title, style="bold")
    out.append(" phase ")
    out.append(f.phase, style="cyan")
    out.append(f" ({f.kind}{'' if f.measured else ', warm-up'})  ")
    total = f.planned_s or max(f.elapsed_s, 1.0)
    done = int(round(30 * min(f.elapsed_s, total) / total))
    out.append("━" * done, style="magenta")
    out.append("━" * (30 - done), style="grey23")
    out.append(f"  {f.elapsed_s:.0f}s / {f.planned_s:.0f}s\n")
    _row(out, ["q/s now", "q/s avg", "p50 ms", "p95 ms", "p99 ms", "max ms", f"p99 {WINDOW_S:.0f}s"], style="bold")
    _row(out, [f"{f.current_qps:.0f}", f"{f.overall_qps:.0f}", _num(f.p50), _num(f.p95), _num(f.p99), _num(f.max),
               _num(f.window_p99)])
    _row(out, ["done", "in flight", "late", "dropped", "errors"], style="bold")
    _row(out, [str(f.done), str(f.in_flight), str(f.late), str(f.dropped)])
    out.remove_suffix("\n")
    errors = ", ".join(f"{k} {v}" for k, v in f.errors.items()) or "0"
    out.append("  " + errors.rjust(8), style="red" if f.errors else "green")
    out.append("\n")
    _row(out, ["process", "pid", "CPU", "RSS"], style="bold")
    for role, pid, cpu, rss in f.processes:
        _row(out, [role, str(pid), f"{cpu:.0f}%", _mb(rss)])
    for text, status, value in f.targets:
        if status is VerdictStatus.PASS:
            mark, style = "✓", "green"
        elif status is VerdictStatus.FAIL:
            mark, style = "✗", "red"
        else:
            mark, style = "·", "dim"
        shown = "" if value is None else f"  {value:.4g}"
        out.append(f" {mark} {text}{shown}\n", style=style)
    out.remove_suffix("\n")
    return out

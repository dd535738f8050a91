"""k6's ``abortOnFail``: end a run as soon as a marked gate fails, and still write what was measured.

The watch wakes twice a second, judges each ``abortOnFail`` gate on what its
threshold covers so far -- the measured phases already done plus the running
phase's samples, narrowed by the gate's tag exactly as the final verdict is --
and, once the run is ``delayAbortEval`` old, stops the driver at the first
failure.  The run then ends like any other: drained, figures computed, results
written, the failed gate in the verdicts, status ``aborted`` and exit 1.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from pspread.load.figures import observed_so_far
from pspread.load.runner import Runner
from pspread.metrics.thresholds import Threshold, Verdict, evaluate

INTERVAL_S = 0.5
_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class Tripped:
    """The gate that ended the run, what it saw, and when (seconds into the run)."""

    verdict: Verdict
    after_s: float

    def message(self) -> str:
        seen = "nothing" if self.verdict.observed is None else f"{self.verdict.observed:.4g}"
        return f"abortOnFail: {self.verdict.threshold} failed {self.after_s:.1f} s into the run (observed {seen})"


class AbortWatch:
    """Watches the ``abortOnFail`` gates of a running ``Runner`` on a daemon thread."""

    def __init__(self, runner: Runner, thresholds: list[Threshold], interval_s: float = INTERVAL_S) -> None:
        self.runner = runner
        self.thresholds = [t for t in thresholds if t.abort_on_fail]
        self.interval_s = interval_s
        self.tripped: Tripped | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def __enter__(self) -> "AbortWatch":
        if self.thresholds:
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._loop, name="pspread-abort", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.check(time.monotonic() - self._t0) is not None:
                return

    def check(self, elapsed_s: float) -> Tripped | None:
        """Judge the gates now; on the first failure stop the driver and remember why.

        The running phase's rows are copied once per check, whatever the number of gates.
        """
        due = [t for t in self.thresholds if elapsed_s >= t.delay_abort_s]
        if not due:
            return None
        current = self.runner.current
        rows = current[1].snapshot() if current is not None else None
        for t in due:
            if rows is None or current is None:
                seen = observed_so_far(t, self.runner.phases, None, _EMPTY, _EMPTY.astype(bool), _EMPTY, [])
            else:
                seen = observed_so_far(t, self.runner.phases, current[0], rows.latency_s * 1e3, rows.ok, rows.kind,
                                       rows.kinds)
            verdict = evaluate(t, seen)
            if verdict.failed:
                self.tripped = Tripped(verdict, elapsed_s)
                self.runner.stop()
                return self.tripped
        return None

"""Keeps every latency sample of a phase, cheaply, for exact percentiles later.

The driver's completion callback calls :meth:`Recorder.record_rows` once per
run of finished rows, from an executor's receiver thread, so recording is a
lock and a few slice copies from the batch's ``Answers`` into preallocated
numpy chunks -- no object per sample, no list growth.  Readers (the live
view, the summary) take :meth:`snapshot` copies and do their maths there, off
the hot path.

Times are ``time.perf_counter()`` seconds.  Each sample keeps the intended
start (latency is measured from it: no coordinated omission), the actual
submission, the completion, the outcome, the query kind and the worker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from pspread.execution.answers import CODE as _OUTCOME_CODE
from pspread.execution.answers import OK as OK_CODE
from pspread.execution.answers import OUTCOMES, Answers
from pspread.execution.query import QueryResult

CHUNK = 1 << 16


@dataclass
class Samples:
    """A consistent copy of what a recorder holds: one row per completed query.

    ``latency_s`` is completion minus *intended* start; ``service_s`` is
    completion minus actual submission (what the executor alone added).
    """

    intended: np.ndarray
    submitted: np.ndarray
    completed: np.ndarray
    outcome: np.ndarray
    kind: np.ndarray
    worker: np.ndarray
    kinds: list[str]
    origin: float
    late_starts: int = 0
    dropped: int = 0
    submitted_count: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.completed)

    @property
    def latency_s(self) -> np.ndarray:
        return self.completed - self.intended

    @property
    def service_s(self) -> np.ndarray:
        return self.completed - self.submitted

    @property
    def ok(self) -> np.ndarray:
        return self.outcome == OK_CODE

    def outcome_counts(self) -> dict[str, int]:
        """Completed queries by outcome name (only outcomes that occurred)."""
        counts = np.bincount(self.outcome, minlength=len(OUTCOMES))
        return {o.value: int(c) for o, c in zip(OUTCOMES, counts) if c}



class Recorder:
    """Thread-safe, append-only store of per-query samples for one phase."""

    def __init__(self, capacity: int = CHUNK, origin: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._chunk = max(1024, int(capacity))
        self._full: list[tuple[np.ndarray, ...]] = []
        self._cur = self._new_chunk()
        self._n = 0  # rows used in the current chunk
        self._kinds: dict[str, int] = {}
        self.origin = origin
        self.late_starts = 0
        self.dropped = 0
        self.submitted = 0
        self.completed = 0

    def _new_chunk(self) -> tuple[np.ndarray, ...]:
        n = self._chunk
        return (np.empty(n), np.empty(n), np.empty(n), np.empty(n, np.int8), np.empty(n, np.int16),
                np.empty(n, np.int32))

    def kind_code(self, kind: str) -> int:
        """A small integer for a query-kind name (stable for the recorder's life)."""
        code = self._kinds.get(kind)
        if code is None:
            with self._lock:
                code = self._kinds.setdefault(kind, len(self._kinds))
        return code

    # ------------------------------------------------------------- hot path
    def record(self, intended: float, submitted: float, result: QueryResult) -> None:
        """Store one completed query (called once per query, from any thread)."""
        kind = self._kinds.get(result.kind)
        if kind is None:
            kind = self.kind_code(result.kind)
        completed = result.completed_at
        with self._lock:
            i = self._n
            if i == self._chunk:
                self._full.append(self._cur)
                self._cur = self._new_chunk()
                i = 0
            c = self._cur
            c[0][i] = intended
            c[1][i] = submitted
            c[2][i] = completed
            c[3][i] = _OUTCOME_CODE[result.outcome]
            c[4][i] = kind
            c[5][i] = result.worker
            self._n = i + 1
            self.completed += 1

    def record_rows(self, intended: np.ndarray, submitted: float, answers: Answers, start: int, stop: int,
                    kind: int) -> None:
        """Store rows ``start:stop`` of a batch's answers (``intended``: their intended starts).

        The submission time of each row is the executor's own admission stamp
        (``answers.submitted_at``); ``submitted`` is the driver's, used where the
        executor gave none.
        """
        with self._lock:
            at = 0
            n = stop - start
            while at < n:
                i = self._n
                if i == self._chunk:
                    self._full.append(self._cur)
                    self._cur = self._new_chunk()
                    i = 0
                m = min(n - at, self._chunk - i)
                a, b = start + at, start + at + m
                c = self._cur
                c[0][i:i + m] = intended[at:at + m]
                c[1][i:i + m] = np.where(np.isnan(answers.submitted_at[a:b]), submitted, answers.submitted_at[a:b])
                c[2][i:i + m] = answers.completed_at[a:b]
                c[3][i:i + m] = answers.outcome[a:b]
                c[4][i:i + m] = kind
                c[5][i:i + m] = answers.worker[a:b]
                self._n = i + m
                at += m
            self.completed += n

    # -------------------------------------------------------------- readers
    def __len__(self) -> int:
        return self.completed

    def snapshot(self, since: int = 0) -> Samples:
        """A copy of the samples recorded so far, rows ``since`` onwards (only those are copied)."""
        with self._lock:
            skip_chunks, skip = divmod(max(0, since), self._chunk)
            parts = [ch for ch in self._full[skip_chunks:]] + [tuple(a[: self._n] for a in self._cur)]
            parts = [tuple(a[skip:] for a in parts[0])] + parts[1:]
            cols = [np.concatenate([p[j] for p in parts]) for j in range(6)]
            late, dropped, sub = self.late_starts, self.dropped, self.submitted
            kinds = sorted(self._kinds, key=self._kinds.__getitem__)
        s = Samples(*cols, kinds=kinds, origin=self.origin, late_starts=late, dropped=dropped,
                    submitted_count=sub)
        errs = s.outcome != OK_CODE
        if errs.any():
            s.errors_by_kind = {OUTCOMES[c].value: int(n) for c, n in
                                enumerate(np.bincount(s.outcome[errs], minlength=len(OUTCOMES))) if n}
        return s

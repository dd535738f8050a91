"""Many queries as arrays: ``SeedBlock`` in, ``Answers`` out.

The batch path (``Executor.map_batch``, ``Executor.submit_batch``, the load
driver) never makes a Python object per query: seeds travel as one CSR-like
block (offsets into one array of node ids, optional activations), answers come
back as arrays with one row per query -- the top-k node ids and scores, an
outcome code, the worker, and four timestamps.  Labels are looked up only when
someone asks for a row's ``top``.

Timestamps are ``time.perf_counter()`` seconds.  On Linux that clock is
CLOCK_MONOTONIC, which every process on the machine shares, so a worker's own
``started_at``/``finished_at`` stamps can be compared with the parent's
``submitted_at``/``completed_at`` directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pspread.errors import QueryError
from pspread.execution.query import Outcome

#: outcome codes: the position of each ``Outcome`` in declaration order (OK is 0)
OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
CODE: dict[Outcome, int] = {o: i for i, o in enumerate(OUTCOMES)}
OK = CODE[Outcome.OK]
TIMED_OUT = CODE[Outcome.TIMED_OUT]
OVERLOADED = CODE[Outcome.OVERLOADED]
INVALID = CODE[Outcome.INVALID]
WORKER_LOST = CODE[Outcome.WORKER_LOST]
CANCELLED = CODE[Outcome.CANCELLED]
#: a row that has no outcome yet
PENDING = -1


@dataclass
class SeedBlock:
    """The seeds of Q queries: row i is ``nodes[offsets[i]:offsets[i+1]]`` (and its ``values``).

    ``values`` None means an activation of 1.0 for every seed.  Ids are not
    checked here; the worker checks them and answers a bad row ``INVALID``.
    """

    offsets: np.ndarray
    nodes: np.ndarray
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of(cls, seeds: Any, values: Any = None) -> "SeedBlock":
        """A block from a (Q, S) integer array (negative entries are padding) or a list of id sequences."""
        if isinstance(seeds, SeedBlock):
            return seeds
        if isinstance(seeds, np.ndarray) and seeds.ndim == 2:
            if seeds.dtype.kind not in "iu":
                raise QueryError(f"seeds must be an integer array, got dtype {seeds.dtype}")
            q, s = seeds.shape
            if values is None and (seeds.size == 0 or seeds.min() >= 0):  # no padding: a view, no copy
                return cls(np.arange(0, q * s + 1, s, dtype=np.int64) if s else np.zeros(q + 1, np.int64),
                           seeds.reshape(-1).astype(np.int64, copy=False))
            keep = seeds >= 0
            counts = keep.sum(axis=1)
            offsets = np.zeros(len(seeds) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            vals = None
            if values is not None:
                v = np.asarray(values, dtype=np.float32)
                if v.shape != seeds.shape:
                    raise QueryError(f"seed values have shape {v.shape}, the seeds {seeds.shape}")
                vals = v[keep]
            return cls(offsets, seeds[keep].astype(np.int64, copy=False), vals)
        rows = [np.asarray(r, dtype=np.int64).ravel() for r in seeds]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        nodes = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        vals = None
        if values is not None:
            vals = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in values]) if rows else None
            if vals is not None and len(vals) != len(nodes):
                raise QueryError(f"{len(vals)} seed values for {len(nodes)} seeds")
        return cls(offsets, nodes, vals)

    def to_wire(self) -> tuple[bytes, bytes, bytes | None]:
        """The arrays as raw bytes: they pickle as a copy, where arrays would each carry a dtype."""
        return (self.offsets.astype(np.int64, copy=False).tobytes(), self.nodes.astype(np.int64, copy=False).tobytes(),
                None if self.values is None else self.values.astype(np.float32, copy=False).tobytes())

    @classmethod
    def from_wire(cls, wire: tuple[bytes, bytes, bytes | None]) -> "SeedBlock":
        offsets, nodes, values = wire
        return cls(np.frombuffer(offsets, np.int64), np.frombuffer(nodes, np.int64),
                   None if values is None else np.frombuffer(values, np.float32))

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.nodes[a:b], None if self.values is None else self.values[a:b]

    def slice(self, start: int, stop: int) -> "SeedBlock":
        """Rows ``start:stop`` as a block of their own (offsets start at 0 again)."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return SeedBlock(self.offsets[start:stop + 1] - a, self.nodes[a:b],
                         None if self.values is None else self.values[a:b])


@dataclass
class Answers:
    """One row per query of a batch; rows end up in exactly one outcome.

    ``nodes``/``scores``: the top-k, best first (node -1 and score 0 pad a
    short answer).  ``outcome``: codes of ``OUTCOMES`` (``PENDING`` until
    decided).  ``started_at``/``finished_at``: the worker's stamps around the
    query (NaN when no worker ran it); ``submitted_at``: when the parent
    admitted it; ``completed_at``: when its outcome reached the parent.
    ``errors``/``unknown_terms``: messages by row, only where there are any.
    """

    nodes: np.ndarray
    scores: np.ndarray
    outcome: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    touched: np.ndarray
    worker: np.ndarray
    attempts: np.ndarray
    started_at: np.ndarray
    finished_at: np.ndarray
    submitted_at: np.ndarray
    completed_at: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    unknown_terms: dict[int, list[str]] = field(default_factory=dict)
    labels: Callable[[int], str] | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, q: int, k: int) -> "Answers":
        """Q rows with no outcome yet: one allocation (copies of a template row), every field a view of it."""
        r = np.repeat(_template(k), q)
        return cls(r["nodes"], r["scores"], r["outcome"], r["steps"], r["converged"], r["touched"], r["worker"],
                   r["attempts"], r["started_at"], r["finished_at"], r["submitted_at"], r["completed_at"])

    def __len__(self) -> int:
        return len(self.outcome)

    @property
    def ok(self) -> np.ndarray:
        ok: np.ndarray = self.outcome == OK
        return ok

    @property
    def compute_s(self) -> np.ndarray:
        """The worker's own time on each query (0 where no worker ran it)."""
        out: np.ndarray = np.nan_to_num(self.finished_at - self.started_at)
        return out

    @property
    def latency_s(self) -> np.ndarray:
        """End to end in the executor: admitted → outcome back in the parent."""
        out: np.ndarray = self.completed_at - self.submitted_at
        return out

    def counts(self) -> dict[str, int]:
        """Rows by outcome name (outcomes that occurred only)."""
        decided = self.outcome[self.outcome >= 0]
        return {OUTCOMES[c].value: int(n) for c, n in enumerate(np.bincount(decided, minlength=len(OUTCOMES))) if n}

    def top(self, i: int) -> list[tuple[int, str, float]]:
        """Row ``i``'s answer as ``(node, label, score)``, best first (labels looked up now)."""
        label = self.labels or str
        return [(int(n), label(int(n)), float(s))
                for n, s in zip(self.nodes[i].tolist(), self.scores[i].tolist()) if n >= 0]

    def write(self, start: int, part: "Answers") -> None:
        """Copy ``part``'s rows into rows ``start:start+len(part)`` (errors shifted likewise)."""
        stop = start + len(part)
        k = min(self.nodes.shape[1], part.nodes.shape[1])
        self.nodes[start:stop, :k] = part.nodes[:, :k]
        self.scores[start:stop, :k] = part.scores[:, :k]
        for name in ("outcome", "steps", "converged", "touched", "worker", "attempts", "started_at",
                     "finished_at", "submitted_at", "completed_at"):
            getattr(self, name)[start:stop] = getattr(part, name)
        for r, msg in part.errors.items():
            self.errors[start + r] = msg
        for r, terms in part.unknown_terms.items():
            self.unknown_terms[start + r] = terms


@functools.lru_cache(maxsize=64)
def _template(k: int) -> np.ndarray:
    """One empty row of an ``Answers`` with top-k width ``k`` (no node, no outcome, no times)."""
    dtype = np.dtype([("nodes", np.int64, (k,)), ("scores", np.float64, (k,)), ("outcome", np.int8),
                      ("steps", np.int32), ("converged", np.bool_), ("touched", np.int64), ("worker", np.int16),
                      ("attempts", np.int8), ("started_at", np.float64), ("finished_at", np.float64),
                      ("submitted_at", np.float64), ("completed_at", np.float64)])
    row = np.zeros(1, dtype=dtype)
    row["nodes"], row["outcome"], row["worker"], row["attempts"] = -1, PENDING, -1, 1
    for name in ("started_at", "finished_at", "submitted_at", "completed_at"):
        row[name] = np.nan
    return row


def concat(parts: Sequence[Answers]) -> Answers:
    """Rows of several batches, in order, as one ``Answers``."""
    if len(parts) == 1:
        return parts[0]
    k = max((p.nodes.shape[1] for p in parts), default=1)
    out = Answers.empty(sum(len(p) for p in parts), k)
    at = 0
    for p in parts:
        out.write(at, p)
        at += len(p)
    out.labels = parts[0].labels if parts else None
    return out

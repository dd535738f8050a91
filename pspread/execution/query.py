"""What travels through an executor: ``Query`` in, ``QueryResult`` out.

Every submitted query ends in exactly one ``Outcome``.  Error outcomes are
values, not exceptions, so a load test can count them without try/except on the
hot path; ``QueryResult.raise_for_outcome()`` turns one into an exception when
a caller prefers that.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

from pspread.engine.model import SpreadModel
from pspread.errors import PspreadError

Seeds = Union[str, Mapping[int, float], Sequence[int]]

_ids = itertools.count()


class Outcome(str, enum.Enum):
    """How a query ended."""

    OK = "ok"
    TIMED_OUT = "timed_out"
    OVERLOADED = "overloaded"
    INVALID = "invalid"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"


class QueryFailed(PspreadError):
    """Raised by ``QueryResult.raise_for_outcome`` for any outcome but OK."""

    def __init__(self, result: "QueryResult") -> None:
        super().__init__(f"query {result.query_id} {result.outcome.value}: {result.error or ''}".rstrip(": "))
        self.result = result


@dataclass
class Query:
    """One spreading-activation query.

    ``seeds``: node ids, ``{id: activation}`` or a text of labels.
    ``top_k``: answer size (None: the model's).  ``timeout_s``: give up and
    answer ``TIMED_OUT`` after this long from submission (None: never).
    ``model``: a model for this query only (None: the executor's); query mixes
    use it.  ``kind``: a free label (the query type) carried into the results.
    """

    seeds: Seeds
    top_k: int | None = None
    timeout_s: float | None = None
    model: SpreadModel | None = None
    kind: str = "default"
    query_id: int = field(default_factory=lambda: next(_ids))


class QueryResult:
    """The outcome of one query, with its answer when it is OK.

    Times are ``time.perf_counter()`` seconds (CLOCK_MONOTONIC, shared by every
    process): ``submitted_at`` (when the executor admitted it), ``completed_at``
    (when its outcome reached the submitting process).  ``compute_s`` is the
    worker's own time on the query, so ``completed_at - submitted_at - compute_s``
    is what the executor added.  ``top`` is ``[(node, label, activation), ...]``;
    an executor builds it from arrays and looks the labels up only when read.
    """

    __slots__ = ("query_id", "outcome", "_top", "_lazy", "steps", "converged", "touched_nodes", "unknown_terms",
                 "compute_s", "submitted_at", "completed_at", "worker", "attempts", "kind", "error")

    def __init__(self, query_id: int, outcome: Outcome, top: list[tuple[int, str, float]] | None = None,
                 steps: int = 0, converged: bool = False, touched_nodes: int = 0,
                 unknown_terms: list[str] | None = None, compute_s: float = 0.0, submitted_at: float = 0.0,
                 completed_at: float = 0.0, worker: int = -1, attempts: int = 1, kind: str = "default",
                 error: str | None = None, lazy_top: Callable[[], list[tuple[int, str, float]]] | None = None) -> None:
        self.query_id = query_id
        self.outcome = outcome
        self._top = top
        self._lazy = lazy_top
        self.steps = steps
        self.converged = converged
        self.touched_nodes = touched_nodes
        self.unknown_terms = unknown_terms if unknown_terms is not None else []
        self.compute_s = compute_s
        self.submitted_at = submitted_at
        self.completed_at = completed_at
        self.worker = worker
        self.attempts = attempts
        self.kind = kind
        self.error = error

    @property
    def top(self) -> list[tuple[int, str, float]]:
        if self._top is None:
            self._top = self._lazy() if self._lazy is not None else []
            self._lazy = None
        return self._top

    @top.setter
    def top(self, value: list[tuple[int, str, float]]) -> None:
        self._top, self._lazy = value, None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def latency_s(self) -> float:
        return self.completed_at - self.submitted_at

    def raise_for_outcome(self) -> "QueryResult":
        if not self.ok:
            raise QueryFailed(self)
        return self

    def __repr__(self) -> str:
        return (f"QueryResult(query_id={self.query_id}, outcome={self.outcome.value}, kind={self.kind!r}, "
                f"worker={self.worker}, latency_s={self.latency_s:.6f}, error={self.error!r})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id, "outcome": self.outcome.value, "kind": self.kind,
            "top": [{"node": n, "label": lab, "activation": a} for n, lab, a in self.top],
            "steps": self.steps, "converged": self.converged, "touched_nodes": self.touched_nodes,
            "unknown_terms": self.unknown_terms, "compute_s": self.compute_s, "latency_s": self.latency_s,
            "worker": self.worker, "attempts": self.attempts, "error": self.error,
        }

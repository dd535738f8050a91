"""The ``Executor`` interface every executor implements (and one contract suite tests).

Two ways in, one path inside.  The batch path -- ``map_batch`` (seeds as an
array, ``Answers`` as arrays back) and ``submit_batch`` (the same, with a
callback per finished run of rows, for load drivers) -- makes no Python object
per query.  ``submit`` (one ``Query``, a future), ``map`` (ordered) and ``run``
(asyncio) ride on it: each becomes a ``Batch`` for the executor's ``Admission``.
Nothing here raises for a bad query or a full queue: those become ``INVALID`` /
``OVERLOADED`` outcomes, counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from pspread.engine.model import SpreadModel
from pspread.execution.query import Outcome, Query, QueryResult

if TYPE_CHECKING:
    from pspread.execution.admission import Batch, RowsCallback
    from pspread.execution.answers import Answers

Callback = Callable[[QueryResult], None]


@dataclass
class WorkerStats:
    """Counters of one worker, as the parent sees them."""

    worker: int
    pid: int | None
    queries: int = 0
    errors: int = 0
    busy_s: float = 0.0
    in_flight: int = 0
    rss_bytes: int = 0
    restarts: int = 0
    #: CPU seconds the worker spent on the queries themselves (parse, spread, rank), as it measured
    kernel_cpu_s: float = 0.0


@dataclass
class ExecutorStats:
    """A snapshot of an executor: per-worker counters plus admission totals."""

    workers: list[WorkerStats] = field(default_factory=list)
    submitted: int = 0
    completed: int = 0
    in_flight: int = 0
    queued: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    #: CPU seconds this process spent in the executor (submitting, dispatching, receiving)
    parent_cpu_s: float = 0.0
    #: workers the memory guard replaced (past ``memory_limit_mb``), one at a time
    recycles: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Executor(ABC):
    """Runs independent queries, possibly many at once; a context manager.

    Subclasses implement ``_admit`` (take a ``Batch``), ``_window`` (rows the
    executor holds before it answers ``OVERLOADED``), ``stats``, ``close``,
    and provide ``model`` (the default) and ``_model_id``.
    """

    #: number of worker processes (1 for the inline executor)
    num_workers: int = 1
    model: SpreadModel

    # -------------------------------------------------------- the one path
    @abstractmethod
    def _admit(self, batch: "Batch") -> None:
        """Queue or run ``batch``; every row ends in one outcome, told through ``batch.on_rows``."""

    @abstractmethod
    def _model_id(self, model: SpreadModel | None) -> int:
        """The executor's id of ``model`` (0: its default), registered on first sight."""

    def _window(self) -> int:
        """Rows ``map``/``map_batch`` keep outstanding: what fits before ``OVERLOADED``."""
        return 1 << 30

    def _labels(self) -> Callable[[int], str] | None:
        """Node id -> label, for building ``QueryResult.top`` (None: ids as text)."""
        return None

    def _k(self, model: SpreadModel | None, top_k: int | None) -> int:
        return int(top_k or (model or getattr(self, "model", None) or SpreadModel()).top_k)

    # ------------------------------------------------------- batch path
    def submit_batch(self, seeds: Any, *, model: SpreadModel | None = None, top_k: int | None = None,
                     timeout_s: float | None = None, values: Any = None,
                     on_rows: "RowsCallback | None" = None) -> "Batch":
        """Admit Q queries given as arrays (see ``SeedBlock.of``); returns the batch, answered in place.

        ``on_rows(batch, start, stop)`` is called (on the executor's thread) each
        time rows ``start:stop`` have their outcomes in ``batch.answers``.
        """
        from pspread.execution.admission import Batch
        from pspread.execution.answers import SeedBlock

        block = SeedBlock.of(seeds, values)
        batch = Batch(block, self._k(model, top_k), self._model_id(model), top_k, timeout_s, on_rows)
        batch.answers.labels = self._labels()
        self._admit(batch)
        return batch

    def map_batch(self, seeds: Any, *, model: SpreadModel | None = None, top_k: int | None = None,
                  timeout_s: float | None = None, values: Any = None,
                  wait_s: float | None = None) -> "Answers":
        """Answer Q queries given as a (Q, S) id array (or a list of id arrays); one row each, in order.

        It waits for room rather than overloading the executor.  ``timeout_s``
        bounds each query; ``wait_s`` bounds the whole call (TimeoutError).
        """
        from pspread.execution.answers import SeedBlock, concat

        block = SeedBlock.of(seeds, values)
        steps = self._steps(len(block))
        parts = self._windowed(
            [(block.slice(a, min(a + n, len(block))), None) for a, n in steps],
            model, top_k, timeout_s, wait_s)
        out = concat([b.answers for b in parts]) if parts else self._empty_answers(model, top_k)
        out.labels = self._labels()
        return out

    def _empty_answers(self, model: SpreadModel | None, top_k: int | None) -> "Answers":
        from pspread.execution.answers import Answers

        return Answers.empty(0, self._k(model, top_k))

    def _steps(self, q: int) -> list[tuple[int, int]]:
        step = max(1, self._window() // 2)
        return [(a, step) for a in range(0, q, step)]

    def _windowed(self, parts: list[tuple[Any, Sequence[Query] | None]], model: SpreadModel | None,
                  top_k: int | None, timeout_s: float | None, wait_s: float | None) -> list["Batch"]:
        """Admit ``parts`` one after another, never more than ``_window()`` rows outstanding; wait for all."""
        from pspread.execution.admission import Batch

        window = self._window()
        cond = threading.Condition()
        outstanding = [0]

        def finished(batch: "Batch", start: int, stop: int) -> None:
            with cond:
                outstanding[0] -= stop - start
                cond.notify()

        batches = []
        labels = self._labels()
        for seeds, queries in parts:
            n = len(seeds)
            with cond:
                # the predicate runs only within this iteration, so it sees this n
                if not cond.wait_for(lambda: outstanding[0] == 0 or outstanding[0] + n <= window, wait_s):  # noqa: B023
                    raise TimeoutError(f"no room for more queries within {wait_s} s")
                outstanding[0] += n
            m = model if queries is None else queries[0].model
            k = top_k if queries is None else queries[0].top_k
            t = timeout_s if queries is None else queries[0].timeout_s
            batch = Batch(seeds, self._k(m, k), self._model_id(m), k, t, finished, queries)
            batch.answers.labels = labels
            batches.append(batch)
            self._admit(batch)
        with cond:
            if not cond.wait_for(lambda: outstanding[0] == 0, wait_s):
                raise TimeoutError(f"{outstanding[0]} queries still unanswered after {wait_s} s")
        return batches

    # --------------------------------------------------- one query at a time
    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        """Queue a query; the future (and ``callback``, if given) get its one QueryResult."""
        from pspread.execution.admission import Batch

        fut: cf.Future[QueryResult] = cf.Future()

        def finished(batch: "Batch", start: int, stop: int) -> None:
            res = result_of(batch, 0, query)
            try:
                if fut.running() or fut.set_running_or_notify_cancel():
                    fut.set_result(res)
            except (RuntimeError, cf.InvalidStateError):
                pass  # cancelled by the caller, or already resolved
            if callback is not None:
                callback(res)

        batch = Batch([query.seeds], self._k(query.model, query.top_k), self._model_id(query.model), query.top_k,
                      query.timeout_s, finished, [query], fut)
        batch.answers.labels = self._labels()
        self._admit(batch)
        return fut

    def map(self, queries: Iterable[Query], timeout_s: float | None = None) -> list[QueryResult]:
        """Run many queries; results in the order given.  Waits for room rather than overloading.

        Consecutive queries with the same model, ``top_k`` and timeout travel
        together as one batch (no future, no object per query inside the executor).
        """
        qs = list(queries)
        parts: list[tuple[Any, Sequence[Query] | None]] = []
        step = max(1, self._window() // 2)
        i = 0
        while i < len(qs):
            first = qs[i]
            j = i + 1
            while (j < len(qs) and j - i < step and qs[j].model is first.model and qs[j].top_k == first.top_k
                   and qs[j].timeout_s == first.timeout_s):
                j += 1
            run = qs[i:j]
            parts.append(([q.seeds for q in run], run))
            i = j
        batches = self._windowed(parts, None, None, None, timeout_s)
        return [result_of(b, r, q) for b in batches for r, q in enumerate(b.queries or ())]

    async def run(self, query: Query) -> QueryResult:
        """Await one query from asyncio code."""
        return await asyncio.wrap_future(self.submit(query))

    # ------------------------------------------------------------- the rest
    @abstractmethod
    def stats(self) -> ExecutorStats:
        """Per-worker counters and totals, now."""

    def pids(self) -> Sequence[int]:
        """Process ids of the workers (for CPU and memory accounting)."""
        return []

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; idempotent; pending queries end CANCELLED."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def result_of(batch: "Batch", row: int, query: Query) -> QueryResult:
    """Row ``row`` of ``batch`` as the ``QueryResult`` of ``query`` (labels looked up when read)."""
    from pspread.execution.answers import OUTCOMES

    a = batch.answers
    code = int(a.outcome[row])
    outcome = OUTCOMES[code] if code >= 0 else Outcome.CANCELLED
    started, finished = a.started_at[row], a.finished_at[row]
    compute = float(finished - started) if finished == finished and started == started else 0.0
    return QueryResult(
        query.query_id, outcome, None, int(a.steps[row]), bool(a.converged[row]), int(a.touched[row]),
        a.unknown_terms.get(row, []), compute, float(a.submitted_at[row]), float(a.completed_at[row]),
        int(a.worker[row]), int(a.attempts[row]), query.kind, a.errors.get(row),
        lazy_top=(lambda: a.top(row)) if code == 0 else None,
    )


class BundleLabels:
    """Node id -> label of a bundle, opened on the first lookup only (executors whose parent has no graph)."""

    def __init__(self, graph_path: str) -> None:
        self.graph_path = graph_path
        self._labels: Any = None

    def __call__(self, node: int) -> str:
        if self._labels is None:
            from pspread.engine.io import load_graph

            self._labels = load_graph(self.graph_path).labels
        return str(self._labels.label(node))


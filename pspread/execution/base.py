"""The ``Executor`` interface every executor implements (and one contract suite tests).

The interface is deliberately small: ``submit`` (a future, or a callback for
load drivers that must not pay for futures), ``map`` (ordered), ``run``
(asyncio), ``stats`` and ``close``.  ``submit`` never raises for a bad query or
a full queue: those become ``INVALID`` / ``OVERLOADED`` outcomes, counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Sequence

from pspread.execution.query import Query, QueryResult

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


@dataclass
class ExecutorStats:
    """A snapshot of an executor: per-worker counters plus admission totals."""

    workers: list[WorkerStats] = field(default_factory=list)
    submitted: int = 0
    completed: int = 0
    in_flight: int = 0
    queued: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Executor(ABC):
    """Runs independent queries, possibly many at once; a context manager."""

    #: number of worker processes (1 for the inline executor)
    num_workers: int = 1

    @abstractmethod
    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        """Queue a query; the future (and ``callback``, if given) get its one QueryResult."""

    def map(self, queries: Iterable[Query], timeout_s: float | None = None) -> list[QueryResult]:
        """Run many queries; results in the order given."""
        futures = [self.submit(q) for q in queries]
        return [f.result(timeout=timeout_s) for f in futures]

    async def run(self, query: Query) -> QueryResult:
        """Await one query from asyncio code."""
        return await asyncio.wrap_future(self.submit(query))

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

"""``NullExecutor``: answers every query at once without computing anything.

It measures the load driver itself (``pspread bench driver``): whatever rate the
driver sustains against it is the most any run could ever ask of a real
executor, so the driver is never the limit.  Tests use it as a fast double.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Sequence

from pspread.execution.base import Callback, Executor, ExecutorStats, WorkerStats
from pspread.execution.query import Outcome, Query, QueryResult


class NullExecutor(Executor):
    """Completes each query synchronously with an empty OK answer."""

    num_workers = 1

    def __init__(self) -> None:
        self._submitted = 0
        self._closed = False

    def submit(self, query: Query, callback: Callback | None = None) -> "cf.Future[QueryResult]":
        now = time.perf_counter()
        self._submitted += 1
        result = QueryResult(query.query_id, Outcome.OK, submitted_at=now, completed_at=now, worker=0,
                             kind=query.kind)
        future: cf.Future[QueryResult] = cf.Future()
        future.set_result(result)
        if callback is not None:
            callback(result)
        return future

    def stats(self) -> ExecutorStats:
        n = self._submitted
        return ExecutorStats(workers=[WorkerStats(0, None, queries=n)], submitted=n, completed=n,
                             outcomes={"ok": n})

    def pids(self) -> Sequence[int]:
        return []

    def close(self) -> None:
        self._closed = True

"""Answering one chunk of queries: the work a worker does, shared by every executor.

A chunk is a run of queries with one model and one ``top_k``: either a
``SeedBlock`` (the batch path: ids as arrays) or a list of seeds as a caller
gave them (ids, ``{id: activation}``, text), with their query kinds.  The
answer is a ``Reply``: arrays with one row per query, the worker's own start
and finish stamps per query, and the CPU time the worker spent answering
(``kernel_cpu_s``: the query work itself -- parsing seeds, spreading, ranking
-- as opposed to receiving and sending, which is coordination).

Nothing here raises for a bad query: every exception becomes that row's
``INVALID`` outcome with a message, so one bad query can never take a worker
down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pspread.errors import PspreadError
from pspread.execution.answers import INVALID, OK, TIMED_OUT, SeedBlock

#: test hooks (a query ``kind`` of ``__sleep_ms:N`` sleeps N ms) work only when this is "1"
HOOKS_ENV = "PSPREAD_TEST_HOOKS"


@dataclass
class Reply:
    """A worker's answer to one chunk (what crosses the pipe back, as arrays)."""

    nodes: np.ndarray
    scores: np.ndarray
    outcome: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    touched: np.ndarray
    started_at: np.ndarray
    finished_at: np.ndarray
    kernel_cpu_s: float
    errors: dict[int, str] = field(default_factory=dict)
    unknown_terms: dict[int, list[str]] = field(default_factory=dict)


class SpreaderCache:
    """One ``Spreader`` per distinct model id, built on first use (kernels own their buffers)."""

    def __init__(self, graph: Any, kernel: str, threads: int = 1) -> None:
        self.graph = graph
        self.kernel = kernel
        self.threads = threads
        self._by_id: dict[int, Any] = {}
        self._models: dict[int, Any] = {}

    def define(self, model_id: int, model: Any) -> None:
        self._models[model_id] = model

    def get(self, model_id: int) -> Any:
        sp = self._by_id.get(model_id)
        if sp is None:
            from pspread.engine.spreader import Spreader

            sp = Spreader(self.graph, self._models.get(model_id), kernel=self.kernel, threads=self.threads)
            self._by_id[model_id] = sp
        return sp


def answer_chunk(cache: SpreaderCache, model_id: int, top_k: int | None, seeds: SeedBlock | Sequence[Any],
                 kinds: Sequence[str] | None = None, deadline: float | None = None,
                 hooks: bool = False) -> Reply:
    """Answer every query of a chunk in order; rows past ``deadline`` are ``TIMED_OUT`` unrun."""
    perf, cpu = time.perf_counter, time.thread_time
    cpu0 = cpu()
    q = len(seeds)
    try:
        spreader = cache.get(model_id)
        k = int(top_k or spreader.model.top_k)
    except Exception as exc:  # noqa: BLE001 - a model the kernel refuses: every row is invalid
        return _all_invalid(q, f"the query's model cannot be used: {exc}", cpu() - cpu0)
    nodes = np.full((q, k), -1, dtype=np.int64)
    scores = np.zeros((q, k), dtype=np.float64)
    outcome = np.zeros(q, dtype=np.int8)
    steps = np.zeros(q, np.int32)
    converged = np.zeros(q, bool)
    touched = np.zeros(q, np.int64)
    started = np.full(q, np.nan)
    finished = np.full(q, np.nan)
    errors: dict[int, str] = {}
    unknown: dict[int, list[str]] = {}
    block = seeds if isinstance(seeds, SeedBlock) else None
    for i in range(q):
        t0 = perf()
        if deadline is not None and t0 > deadline:
            outcome[i:] = TIMED_OUT
            break
        started[i] = t0
        try:
            if block is not None:
                ids, vals = block.row(i)
                query: Any = ids if vals is None else dict(zip(ids.tolist(), vals.tolist()))
            else:
                query = seeds[i]
                if hooks and kinds is not None and kinds[i].startswith("__"):
                    _run_hook(kinds[i])
            top_nodes, top_vals, st, conv, tn, terms = spreader.answer_arrays(query, k)
            m = len(top_nodes)
            nodes[i, :m] = top_nodes
            scores[i, :m] = top_vals
            steps[i], converged[i], touched[i] = st, conv, tn
            if terms:
                unknown[i] = terms
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            outcome[i] = INVALID
            errors[i] = _why(exc)
        finished[i] = perf()
    return Reply(nodes, scores, outcome, steps, converged, touched, started, finished, cpu() - cpu0, errors,
                 unknown)


def _all_invalid(q: int, why: str, cpu_s: float) -> Reply:
    now = np.full(q, time.perf_counter())
    return Reply(np.full((q, 1), -1, np.int64), np.zeros((q, 1), np.float64), np.full(q, INVALID, np.int8),
                 np.zeros(q, np.int32), np.zeros(q, bool), np.zeros(q, np.int64), now, now.copy(), cpu_s,
                 {i: why for i in range(q)})


def _why(exc: BaseException) -> str:
    if isinstance(exc, PspreadError):  # QueryError, ModelError: the query is at fault
        return str(exc)
    if isinstance(exc, MemoryError):
        return "the query ran out of memory; use fewer seeds or a more local model"
    if isinstance(exc, (ValueError, TypeError, IndexError, KeyError, OverflowError)):
        return f"invalid query: {type(exc).__name__}: {exc}"
    return f"internal error while answering: {type(exc).__name__}: {exc}"  # a kernel bug must not kill us


def _run_hook(kind: str) -> None:
    """Test-only behaviours, enabled by ``PSPREAD_TEST_HOOKS=1`` in the worker's environment."""
    if kind.startswith("__sleep_ms:"):
        time.sleep(float(kind.split(":", 1)[1]) / 1000.0)
    elif kind == "__raise":
        raise RuntimeError("test hook: simulated kernel failure")


assert OK == 0  # rows start OK; only failures are written

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

import functools
import time
from typing import Any, Callable, NamedTuple, Sequence, cast

import numpy as np

from pspread.errors import PspreadError
from pspread.execution.answers import INVALID, OK, TIMED_OUT, SeedBlock

#: test hooks (a query ``kind`` of ``__sleep_ms:N`` sleeps N ms) work only when this is "1"
HOOKS_ENV = "PSPREAD_TEST_HOOKS"


@functools.lru_cache(maxsize=64)
def reply_dtype(k: int) -> np.dtype:
    """One row of a reply: the top-k and the per-query facts, packed so a reply is one array."""
    return np.dtype([("nodes", np.int64, (k,)), ("scores", np.float64, (k,)), ("outcome", np.int8),
                     ("steps", np.int32), ("converged", np.bool_), ("touched", np.int64),
                     ("started", np.float64), ("finished", np.float64)])


class Reply(NamedTuple):
    """A worker's answer to one chunk: one packed array (``reply_dtype``), its query CPU, messages by row.

    It crosses the pipe as ``to_wire()``: the rows' raw bytes and k, so pickling
    costs a memory copy, not a structured dtype's description every time.
    """

    rows: np.ndarray
    kernel_cpu_s: float
    errors: dict[int, str] | None = None
    unknown_terms: dict[int, list[str]] | None = None

    @property
    def outcome(self) -> np.ndarray:
        return self.rows["outcome"]

    def to_wire(self) -> tuple[Any, ...]:
        k = self.rows.dtype["nodes"].shape[0]
        return (self.rows.tobytes(), k, self.kernel_cpu_s, self.errors, self.unknown_terms)

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> "Reply":
        data, k, cpu_s, errors, unknown = wire
        return cls(np.frombuffer(data, dtype=reply_dtype(k)), cpu_s, errors, unknown)

    @property
    def busy_s(self) -> float:
        """The worker's own time on the chunk's queries (rows it ran)."""
        r = self.rows
        if not r["outcome"].any():  # all OK: every row ran
            return float(r["finished"].sum() - r["started"].sum())
        ran = r["outcome"] != TIMED_OUT
        return float((r["finished"][ran] - r["started"][ran]).sum())

    def filler(self, timeout_s: float | None) -> Callable[[Any, int, int], None]:
        """``fill``, plus the reason on rows the worker found past their deadline."""
        def fill(a: Any, start: int, stop: int) -> None:
            self.fill(a, start, stop)
            late = self.rows["outcome"] == TIMED_OUT
            if late.any():
                for r in np.flatnonzero(late).tolist():
                    a.errors.setdefault(start + r, f"no answer within timeout_s={timeout_s}")
        return fill

    def fill(self, a: Any, start: int, stop: int) -> None:
        """Write these rows into rows ``start:stop`` of an ``Answers``."""
        r = self.rows
        k = min(a.nodes.shape[1], r["nodes"].shape[1])
        a.nodes[start:stop, :k] = r["nodes"][:, :k]
        a.scores[start:stop, :k] = r["scores"][:, :k]
        a.steps[start:stop] = r["steps"]
        a.converged[start:stop] = r["converged"]
        a.touched[start:stop] = r["touched"]
        a.started_at[start:stop] = r["started"]
        a.finished_at[start:stop] = r["finished"]
        if self.errors:
            for i, msg in self.errors.items():
                a.errors[start + i] = msg
        if self.unknown_terms:
            for i, terms in self.unknown_terms.items():
                a.unknown_terms[start + i] = terms


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
        return all_invalid(q, f"the query's model cannot be used: {exc}", cpu() - cpu0)
    out = np.zeros(q, dtype=reply_dtype(k))
    nodes, scores, outcome = out["nodes"], out["scores"], out["outcome"]
    started, finished = out["started"], out["finished"]
    nodes[:] = -1
    started[:] = np.nan
    finished[:] = np.nan
    steps, converged, touched = out["steps"], out["converged"], out["touched"]
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
                query = cast(Sequence[Any], seeds)[i]
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
    return Reply(out, cpu() - cpu0, errors or None, unknown or None)


def all_invalid(q: int, why: str, cpu_s: float) -> Reply:
    """Every row of a chunk ``INVALID`` with ``why`` (its model is refused, or no graph could be opened)."""
    out = np.zeros(q, dtype=reply_dtype(1))
    out["nodes"] = -1
    out["outcome"] = INVALID
    out["started"] = out["finished"] = time.perf_counter()
    return Reply(out, cpu_s, {i: why for i in range(q)})


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
    elif kind.startswith("__grow_mb:"):  # hold N MB more resident memory (the memory guard's tests)
        _HELD.append(b"\1" * int(float(kind.split(":", 1)[1]) * 2**20))


#: memory the ``__grow_mb`` test hook holds on to, so the worker's RSS stays up
_HELD: list[bytes] = []


assert OK == 0  # rows start OK; only failures are written

"""The worker process of the ``ProcessExecutor``, and the one-query answer both executors share.

A worker opens the graph bundle once (mmap, read-only, so every worker shares
the page cache instead of holding a copy), keeps one ``Spreader`` per distinct
model (its kernel's preallocated buffers are the worker's "pool"), and then
loops: drain every batch waiting on its pipe, answer the queries one by one,
and send the compact answers (top-k only, never full vectors) back in batches.

Answers are flushed when the worker runs out of work, after ``flush_n``
answers or after ``flush_s`` seconds -- at low load every answer leaves at
once (latency), at saturation answers leave in batches (the parent's CPU per
query is the coordination overhead, so fewer, larger messages matter).

Wire format (tuples, because pickling tuples of builtins is the cheapest path):

* parent -> worker: ``("q", new_models, items)`` with items
  ``(key, seeds, top_k, model_id, kind, deadline)``; ``("stop",)``.
* worker -> parent: ``("ready", pid)``, ``("fail", message)`` (could not start),
  ``("r", answers)`` with answers ``(key, status, payload, compute_s)``.

The worker exits by itself when the parent goes away: EOF on its pipe, or its
parent pid changing (checked whenever it is idle).
"""

from __future__ import annotations

import os
import time
from typing import Any

from pspread.execution.query import Outcome, QueryResult

#: answer status codes on the wire
OK, INVALID, EXPIRED = 0, 1, 2
_OK = Outcome.OK

#: thread-pool variables every worker pins to 1 (one query uses one core)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_MAX_THREADS")

#: test hooks (a query ``kind`` of ``__sleep_ms:N`` sleeps N ms) work only when this is "1"
HOOKS_ENV = "PSPREAD_TEST_HOOKS"

_IDLE_POLL_S = 0.25


def answer(spreader: Any, seeds: Any, top_k: int | None, kind: str, hooks: bool = False) -> tuple[int, Any, float]:
    """Run one query; never raises.  Returns ``(status, payload, compute_s)``.

    ``payload`` is ``(top, steps, converged, touched, unknown_terms)`` when OK,
    else the error message.  Every exception is caught here so that one bad
    query can never take a worker (or the inline executor's caller) down.
    """
    from pspread.errors import PspreadError

    t0 = time.perf_counter()
    try:
        if hooks and kind.startswith("__"):
            _run_hook(kind)
        res = spreader.query(seeds, top_k=top_k)
        payload: Any = (res.top, res.steps, res.converged, res.touched_nodes, res.unknown_terms)
        status = OK
    except PspreadError as exc:  # QueryError, ModelError: the query is at fault
        status, payload = INVALID, str(exc)
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        status, payload = INVALID, f"invalid query: {type(exc).__name__}: {exc}"
    except MemoryError:
        status, payload = INVALID, "the query ran out of memory; use fewer seeds or a more local model"
    except Exception as exc:  # noqa: BLE001 - a bug in a kernel must not kill the worker
        status, payload = INVALID, f"internal error while answering: {type(exc).__name__}: {exc}"
    return status, payload, time.perf_counter() - t0


def _run_hook(kind: str) -> None:
    """Test-only behaviours, enabled by ``PSPREAD_TEST_HOOKS=1`` in the worker's environment."""
    if kind.startswith("__sleep_ms:"):
        time.sleep(float(kind.split(":", 1)[1]) / 1000.0)
    elif kind == "__raise":
        raise RuntimeError("test hook: simulated kernel failure")


class SpreaderCache:
    """One ``Spreader`` per distinct model, built on first use (kernels own their buffers)."""

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


def pin_threads() -> None:
    """Keep every numeric library of this process on one thread (one query per core)."""
    for name in THREAD_ENV:
        os.environ[name] = "1"


def worker_main(
    index: int,
    graph_path: str,
    default_model: Any,
    kernel: str,
    conn: Any,
    parent_pid: int,
    flush_n: int = 64,
    flush_s: float = 0.005,
) -> None:
    """Entry point of a worker process; returns (exits) when told to stop or the parent is gone."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    pin_threads()
    hooks = os.environ.get(HOOKS_ENV) == "1"
    try:
        from pspread.engine.io import load_graph

        graph = load_graph(graph_path)
        cache = SpreaderCache(graph, kernel, threads=1)
        cache.define(0, default_model)
        warm = cache.get(0)  # build the default kernel (and validate it) before saying ready
        if graph.num_nodes:
            answer(warm, [0], 1, "warm-up")  # load compiled code now, not on the first real query
    except BaseException as exc:  # noqa: BLE001 - report any start failure to the parent
        try:
            conn.send(("fail", f"worker {index} could not start: {type(exc).__name__}: {exc}"))
        except Exception:
            pass
        return
    try:
        conn.send(("ready", os.getpid()))
        _serve(conn, cache, parent_pid, hooks, flush_n, flush_s)
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the parent is gone or interrupted us: nothing left to answer
    finally:
        try:
            conn.close()
        except Exception:
            pass
    # nothing is left to flush: skip the interpreter's slow teardown (numeric libraries
    # take ~0.2 s to unload), so close() and recycling stay quick
    os._exit(0)


def _serve(conn: Any, cache: SpreaderCache, parent_pid: int, hooks: bool, flush_n: int, flush_s: float) -> None:
    from collections import deque

    perf = time.perf_counter
    work: deque = deque()
    out: list = []
    first_unsent = 0.0
    recv, poll, send = conn.recv, conn.poll, conn.send

    def take(msg: tuple) -> bool:
        if msg[0] == "stop":
            return False
        _, new_models, items = msg
        if new_models:
            for mid, model in new_models:
                cache.define(mid, model)
        work.extend(items)
        return True

    def drain() -> bool:
        """Take every message already waiting; False when told to stop."""
        while poll():
            if not take(recv()):
                return False
        return True

    while True:
        if not work:
            while not poll(_IDLE_POLL_S):
                if os.getppid() != parent_pid:
                    return
        # take everything already waiting, so batches stay large at saturation
        if not drain():
            break
        while work:
            key, seeds, top_k, model_id, kind, deadline = work.popleft()
            if deadline is not None and perf() > deadline:
                out.append((key, EXPIRED, None, 0.0))
            else:
                try:
                    spreader = cache.get(model_id)
                except Exception as exc:  # noqa: BLE001 - a model the kernel refuses
                    out.append((key, INVALID, f"the query's model cannot be used: {exc}", 0.0))
                else:
                    status, payload, compute_s = answer(spreader, seeds, top_k, kind, hooks)
                    out.append((key, status, payload, compute_s))
            if len(out) == 1:
                first_unsent = perf()
            if len(work) == 1 or len(out) >= flush_n or perf() - first_unsent >= flush_s:
                # one query left: send the answers now, so the parent refills us while we
                # compute it (or the batch is large, or answers have waited long enough)
                send(("r", out))
                out = []
            elif not work:
                # out of work: if the refill is already here, keep going and let these answers
                # ride with the next batch; otherwise we are idle -- answer at once
                if not drain():
                    break
                if not work:
                    send(("r", out))
                    out = []
    if out:
        send(("r", out))


def to_result(query: Any, status: int, payload: Any, compute_s: float, submitted_at: float,
              worker: int, attempts: int = 1) -> Any:
    """Decode one wire answer into the ``QueryResult`` the caller sees (parent side)."""
    now = time.perf_counter()
    if status == OK:
        top, steps, converged, touched, unknown = payload
        return QueryResult(
            query.query_id, _OK, top, steps, converged, touched, unknown, compute_s,
            submitted_at, now, worker, attempts, query.kind,
        )
    if status == INVALID:
        return QueryResult(query.query_id, Outcome.INVALID, compute_s=compute_s, submitted_at=submitted_at,
                           completed_at=now, worker=worker, attempts=attempts, kind=query.kind, error=payload)
    return QueryResult(query.query_id, Outcome.TIMED_OUT, submitted_at=submitted_at, completed_at=now,
                       worker=worker, attempts=attempts, kind=query.kind,
                       error=f"no answer within timeout_s={query.timeout_s}")

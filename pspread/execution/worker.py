"""The worker process of the ``ProcessExecutor``.

A worker opens the graph bundle once (mmap, read-only, so every worker shares
the page cache instead of holding a copy), keeps one ``Spreader`` per distinct
model (its kernel's preallocated buffers are the worker's "pool"), and then
loops: take every chunk waiting on its pipe, answer them one after another
(``answer_chunk``), and send the replies back -- arrays, one row per query,
never full activation vectors or label strings.

Replies leave at once when the worker runs out of work or has one chunk left
(so the parent refills it while it computes that one), else after ``flush_s``:
at low load every answer leaves at once, at saturation replies share messages.

Wire format (pickled tuples of builtins and numpy arrays):

* parent -> worker: ``("q", new_models, [(key, model_id, top_k, deadline, seeds), ...])``,
  ``("stop",)``;
* worker -> parent: ``("ready", pid)``, ``("fail", message)`` (could not start),
  ``("r", [(key, Reply.to_wire()), ...])``.

The worker exits by itself when the parent goes away: EOF on its pipe, or its
parent pid changing (checked whenever it is idle).

``worker_init`` (``"package.module:function"`` or ``"package.module"``) is the
one way to run code of one's own in a worker before it opens the graph: to
register a kernel (``register_kernel``), set up logging, and so on.  It is
imported by name, so it must be importable in the worker (on its ``sys.path``).
"""

from __future__ import annotations

import importlib
import os
import time
from collections import deque
from typing import Any

from pspread.errors import ExecutorError
from pspread.execution.answering import SpreaderCache, answer_chunk
from pspread.execution.answers import SeedBlock

#: thread-pool variables every worker pins to 1 (one query uses one core)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_MAX_THREADS")

_IDLE_POLL_S = 0.25


def pin_threads() -> None:
    """Keep every numeric library of this process on one thread (one query per core)."""
    for name in THREAD_ENV:
        os.environ[name] = "1"


def check_worker_init(spec: str | None) -> None:
    """Refuse a ``worker_init`` that is not an import path, before any worker starts."""
    if spec is None:
        return
    module, _, func = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    names = module.split(".") + ([func] if func else [])
    if not all(n.isidentifier() for n in names):
        raise ExecutorError(f"worker_init must be an import path 'package.module' or 'package.module:function', "
                            f"got {spec!r}")


def run_worker_init(spec: str | None) -> None:
    """Import ``spec``'s module and call its function (see the module docstring); its errors propagate."""
    if spec is None:
        return
    module, _, func = spec.partition(":")
    mod = importlib.import_module(module)
    if func:
        getattr(mod, func)()


def worker_main(index: int, graph_path: str, default_model: Any, kernel: str, conn: Any, parent_pid: int,
                flush_s: float = 0.005, worker_init: str | None = None) -> None:
    """Entry point of a worker process; returns (exits) when told to stop or the parent is gone."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    pin_threads()
    try:
        run_worker_init(worker_init)
        from pspread.engine.io import load_graph

        graph = load_graph(graph_path)
        cache = SpreaderCache(graph, kernel, threads=1)
        cache.define(0, default_model)
        warm = cache.get(0)  # build the default kernel (and validate it) before saying ready
        if graph.num_nodes:
            warm.answer_arrays([0], 1)  # load compiled code now, not on the first real query
    except BaseException as exc:  # noqa: BLE001 - report any start failure to the parent
        try:
            conn.send(("fail", f"worker {index} could not start: {type(exc).__name__}: {exc}"))
        except Exception:
            pass
        return
    try:
        conn.send(("ready", os.getpid()))
        _serve(conn, cache, parent_pid, flush_s)
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


def _serve(conn: Any, cache: SpreaderCache, parent_pid: int, flush_s: float) -> None:
    perf = time.perf_counter
    work: deque[tuple[Any, ...]] = deque()
    out: list[tuple[int, tuple[Any, ...]]] = []
    first_unsent = 0.0
    recv, poll, send = conn.recv, conn.poll, conn.send

    def drain() -> bool:
        """Take every message already waiting; False when told to stop."""
        while poll():
            msg = recv()
            if msg[0] == "stop":
                return False
            _, new_models, chunks = msg
            if new_models:
                for mid, model in new_models:
                    cache.define(mid, model)
            work.extend(chunks)
        return True

    while True:
        if not work:
            while not poll(_IDLE_POLL_S):
                if os.getppid() != parent_pid:
                    return
        if not drain():
            break
        while work:
            key, model_id, top_k, deadline, seeds = work.popleft()
            if isinstance(seeds, tuple):  # a SeedBlock, as raw bytes
                seeds = SeedBlock.from_wire(seeds)
            out.append((key, answer_chunk(cache, model_id, top_k, seeds, deadline).to_wire()))
            if len(out) == 1:
                first_unsent = perf()
            if len(work) == 1 or perf() - first_unsent >= flush_s:
                send(("r", out))  # one chunk left: answer now, so the parent refills us meanwhile
                out = []
            elif not work:
                # out of work: if the refill is already here, let these replies ride with the
                # next ones; otherwise we are idle -- answer at once
                if not drain():
                    break
                if not work:
                    send(("r", out))
                    out = []
    if out:
        send(("r", out))

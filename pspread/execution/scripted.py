"""``ScriptedExecutor``: the real ``Admission`` in front of a transport that answers from a script.

Everything a caller of an executor sees -- the bounded queue and
``OVERLOADED``, deadlines and ``TIMED_OUT``, a lost worker's queries retried
once and then ``WORKER_LOST``, ``CANCELLED`` on close, the stamps and the
counts -- comes from the same ``Admission`` the process and Dask executors
hold.  Only the work is scripted: each query gets a ``Step`` saying how long
it takes and how it ends.  So the load driver, the recorder, the runner and
the commands can be exercised on exact, reproducible behaviour without a graph
or a worker process, and ``NullExecutor`` (``pspread bench driver``) is one
with an empty script.

Two ways to run the script:

* in the caller's thread (``background=False``, the default): ``submit_batch``
  answers before it returns, one query after another, calling ``sleep(latency)``
  for each.  Given a simulated ``clock``/``sleep`` pair (the driver takes the
  same pair) no real time passes at all;
* on a server thread (``background=True``): ``workers`` servers, each taking
  the next queued query when it is free.  Completion times are computed, not
  slept (start = the later of its admission and the server being free), so a
  server's capacity is exactly 1 / latency whatever the machine's load; each
  answer is handed back once its completion time has passed, so a backlog
  really has to drain.  This mode runs on real time (``time.perf_counter``).
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

from pspread.engine.model import SpreadModel
from pspread.errors import ExecutorError
from pspread.execution.admission import Admission, Batch, Chunk, Deliveries, deliver
from pspread.execution.answers import CODE, INVALID, OK, TIMED_OUT, WORKER_LOST, Answers
from pspread.execution.base import Executor, ExecutorStats, WorkerStats
from pspread.execution.query import Outcome

#: outcomes a script may give a query (the others are admission's to decide)
SCRIPTABLE = (Outcome.OK, Outcome.INVALID, Outcome.TIMED_OUT, Outcome.WORKER_LOST)


@dataclass(frozen=True)
class Step:
    """What the scripted transport does with one query.

    ``latency_s``: how long the query takes on its worker.  ``outcome``: how
    it ends (``ok``, ``invalid``, ``timed_out`` -- the worker found it late --
    or ``worker_lost``: its worker dies with it, so admission retries it once).
    ``error``: the message on a row that is not OK.  ``raises``: the batch that
    holds this query is refused with this exception by ``submit_batch`` itself,
    before anything of it is admitted (an executor failing under its caller).
    ``retry``: what the second attempt after ``worker_lost`` does (None: the same).
    """

    latency_s: float = 0.0
    outcome: Union[Outcome, str] = Outcome.OK
    error: str | None = None
    raises: BaseException | None = None
    retry: "Step | None" = None

    def __post_init__(self) -> None:
        outcome = Outcome(self.outcome)
        if outcome not in SCRIPTABLE:
            raise ExecutorError(f"a scripted step's outcome must be one of {', '.join(o.value for o in SCRIPTABLE)}"
                                f", got {outcome.value!r} (admission decides the others)")
        if not self.latency_s >= 0:
            raise ExecutorError(f"a scripted step's latency_s must be >= 0, got {self.latency_s!r}")
        object.__setattr__(self, "outcome", outcome)

    @property
    def code(self) -> int:
        return CODE[Outcome(self.outcome)]


#: one step for every query, steps in turn (cycled), or the step of query number i (0, 1, ... in the order
#: admitted; the function is called once per query, when its batch arrives)
Script = Union[Step, Sequence[Step], Callable[[int], Step]]


class ScriptedExecutor(Executor):
    """An executor whose queries take and end as ``script`` says (see the module docstring).

    ``workers``: servers of the background mode (the caller's thread is one).
    ``max_in_flight`` / ``queue_size``: as for ``ProcessExecutor``.  ``clock`` /
    ``sleep``: the time the caller's-thread mode stamps and waits on.
    """

    def __init__(self, script: Script = Step(), *, workers: int = 1, max_in_flight: int = 1 << 30,
                 queue_size: int = 0, background: bool = False, model: SpreadModel | None = None,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ExecutorError(f"workers must be an integer >= 1, got {workers!r}")
        self._script = script
        self._steps_of = _step_function(script)
        self.num_workers = workers if background else 1
        self.model = model or SpreadModel()
        self.max_in_flight = max_in_flight
        self.queue_size = queue_size
        self.clock, self.sleep = clock, sleep
        self._adm = Admission(self.model, max_in_flight, queue_size)
        self._numbered = 0  # queries admitted so far: the script's argument is a query's number
        self._step_rows: dict[Batch, list[Step]] = {}  # each unfinished batch's steps, by row
        self._run_lock = threading.Lock()  # the caller's-thread mode runs one query at a time
        self._stats = [WorkerStats(worker=i, pid=None) for i in range(self.num_workers)]
        self._server: _Servers | None = _Servers(self) if background else None

    # ----------------------------------------------------------------- admit
    def _window(self) -> int:
        return max(1, self.max_in_flight + self.queue_size)

    def _model_id(self, model: SpreadModel | None) -> int:
        with self._adm.lock:
            return self._adm.model_id_locked(model)

    def _admit(self, batch: Batch) -> None:
        adm = self._adm
        with adm.lock:
            if not isinstance(self._script, Step):
                steps = [self._steps_of(self._numbered + i) for i in range(len(batch))]
                failure = next((s.raises for s in steps if s.raises is not None), None)
                if failure is not None:  # refused before any of it counts
                    raise failure
                self._numbered += len(batch)
                self._step_rows[batch] = steps
            elif self._script.raises is not None:
                raise self._script.raises
            out: Deliveries = list(adm.admit_locked(batch, self.clock(), True))
            if batch.remaining == 0:
                self._step_rows.pop(batch, None)
        deliver(out)
        if self._server is not None:
            self._server.wake()
        else:
            self._run_here()

    def step(self, c: Chunk) -> Step:
        """The script's step for chunk ``c``'s first row (chunks here are one row, or rows of one step)."""
        s = self._script if isinstance(self._script, Step) else self._step_rows[c.batch][c.start]
        return s.retry or s if c.attempts > 1 else s

    def uniform(self) -> bool:
        """Every query takes the same zero-time step that never raises: a whole chunk is answered at once."""
        s = self._script
        return isinstance(s, Step) and s.latency_s == 0 and s.raises is None

    # ----------------------------------------------- the caller's-thread mode
    def _run_here(self) -> None:
        adm = self._adm
        most = 1 << 30 if self.uniform() else 1
        with self._run_lock:
            while True:
                out: Deliveries = []
                with adm.lock:
                    out.extend(adm.expire_locked(self.clock()))
                    c = adm.take_locked(most, out)
                    if c is not None:
                        c.worker = 0
                if c is None:
                    deliver(out)
                    return
                step = self.step(c)
                started = self.clock()
                if step.latency_s:
                    self.sleep(step.latency_s)
                with adm.lock:
                    out.extend(self.answer_locked(c, step, started, self.clock()))
                deliver(out)

    # ------------------------------------------------------------- answers
    def answer_locked(self, c: Chunk, step: Step, started: float, finished: float) -> Deliveries:
        """Chunk ``c`` ran ``started``..``finished`` and ends as ``step`` says (a late answer is dropped)."""
        adm = self._adm
        out: Deliveries = list(adm.expire_locked(finished))
        st = self._stats[c.worker]
        st.busy_s += finished - started
        if step.code == WORKER_LOST:
            st.restarts += 1
            out.extend(adm.requeue_or_lose_locked([c], step.error or "scripted: the worker was lost", now=finished))
            return out
        st.queries += c.rows
        st.errors += c.rows if step.code == INVALID else 0
        outcome = np.full(c.rows, step.code, dtype=np.int8)
        why = step.error or f"scripted: {Outcome(step.outcome).value}"
        if step.code == TIMED_OUT:
            why = step.error or f"no answer within timeout_s={c.batch.timeout_s}"

        def fill(a: Answers, start: int, stop: int) -> None:
            a.started_at[start:stop] = started
            a.finished_at[start:stop] = finished
            if step.code != OK:
                for r in range(start, stop):
                    a.errors[r] = why

        out.append(adm.finish_locked(c, outcome, fill, finished))
        if c.batch.remaining == 0:
            self._step_rows.pop(c.batch, None)
        return out

    # ----------------------------------------------------------------- rest
    def stats(self) -> ExecutorStats:
        with self._adm.lock:
            workers = [WorkerStats(**vars(s)) for s in self._stats]
            return self._adm.stats_locked(workers)

    def pids(self) -> list[int]:
        return []

    def close(self) -> None:
        with self._adm.lock:
            out = self._adm.cancel_all_locked()
            self._step_rows.clear()
        deliver(out)
        if self._server is not None:
            self._server.stop()

    def __repr__(self) -> str:
        mode = f"background, workers={self.num_workers}" if self._server is not None else "in the caller's thread"
        return f"ScriptedExecutor({mode})"


class _Servers:
    """The background mode: ``workers`` servers on one thread, completion times computed (see the module)."""

    def __init__(self, ex: ScriptedExecutor) -> None:
        self.ex = ex
        self.free_at = [0.0] * ex.num_workers
        self.running: list[tuple[float, int, int, Chunk, Step, float]] = []  # (done at, seq, server, ...)
        self.cond = threading.Condition(ex._adm.lock)
        self.seq = 0
        self.done = False
        self.thread = threading.Thread(target=self._loop, name="pspread-scripted", daemon=True)
        self.thread.start()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.done = True
            self.cond.notify()
        if self.thread is not threading.current_thread():
            self.thread.join()

    def _loop(self) -> None:
        adm = self.ex._adm
        while True:
            out: Deliveries = []
            with self.cond:
                if self.done:
                    return
                now = time.perf_counter()
                out.extend(adm.expire_locked(now))
                self._finish_due(now, out)
                self._start_free(now, out)
                wait = self._next_event(now)
                if not out:
                    self.cond.wait(wait)
            deliver(out)

    def _start_free(self, now: float, out: Deliveries) -> None:
        """Every server free by ``now`` takes the next queued query, starting when it could have."""
        adm, free_at = self.ex._adm, self.free_at
        while adm.queue:
            w = min(range(len(free_at)), key=free_at.__getitem__)
            if free_at[w] > now:
                return
            c = adm.take_locked(1, out)
            if c is None:
                return
            c.worker = w
            step = self.ex.step(c)
            start = max(free_at[w], float(c.batch.answers.submitted_at[c.start]))
            free_at[w] = start + step.latency_s
            heapq.heappush(self.running, (free_at[w], self.seq, w, c, step, start))
            self.seq += 1
            self._finish_due(now, out)

    def _finish_due(self, now: float, out: Deliveries) -> None:
        while self.running and self.running[0][0] <= now:
            done_at, _, _, c, step, start = heapq.heappop(self.running)
            out.extend(self.ex.answer_locked(c, step, start, done_at))

    def _next_event(self, now: float) -> float | None:
        """Seconds until the next completion or deadline (None: until someone wakes us)."""
        times = [self.running[0][0]] if self.running else []
        nd = self.ex._adm.next_deadline()
        if nd is not None:
            times.append(nd)
        return max(0.0, min(times) - now) if times else None


def _step_function(script: Script) -> Callable[[int], Step]:
    if isinstance(script, Step):
        return lambda i: script
    if callable(script):
        return script
    steps = list(script)
    if not steps or not all(isinstance(s, Step) for s in steps):
        raise ExecutorError("a script is a Step, a non-empty sequence of Steps, or a function of the query number")
    return lambda i: steps[i % len(steps)]


__all__ = ["SCRIPTABLE", "Script", "ScriptedExecutor", "Step"]

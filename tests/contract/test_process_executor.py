"""The process executor's promises under stress: timeouts, overload, cancellation,
a worker killed mid-load, the parent killed, balancing, the memory guard, and
no process left behind by any test.

Slow and failing queries come from a test kernel the workers register through
``worker_init`` (``sleepy_kernel``): a query whose seed activation is N > 1
sleeps N ms.  Nothing in pspread itself knows about it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import sleepy_kernel
from timing import wait_until

from pspread import Graph, Outcome, ProcessExecutor, Query, SpreadModel
from pspread.engine.io import save_graph
from pspread.errors import ExecutorError, GraphError

KERNEL = sleepy_kernel.NAME
INIT = sleepy_kernel.INIT
MODEL = SpreadModel.preset("threshold")


def sleepy(ms: int, **kw: object) -> Query:
    return Query(seeds={1: float(ms)}, **kw)  # type: ignore[arg-type]


def _is_tracker(p: psutil.Process) -> bool:
    """multiprocessing's own services (resource tracker, fork server): one per interpreter,
    started by the first spawn/forkserver start, they live as long as this process -- not workers."""
    try:
        cmd = " ".join(p.cmdline())
        # workers forked by the fork server share its command line but are its children, not ours
        return ("resource_tracker" in cmd or "forkserver" in cmd) and p.ppid() == os.getpid()
    except psutil.Error:
        return False


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    n = 30
    src = [i for i in range(n) for _ in range(2)]
    dst = [(i + k) % n for i in range(n) for k in (1, 7)]
    path = tmp_path_factory.mktemp("proc") / "g"
    save_graph(Graph.from_edges(src, dst, num_nodes=n), path)
    return str(path)


@pytest.fixture(autouse=True)
def no_leftover_processes():
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield

    def left() -> list[psutil.Process]:
        return [p for p in me.children(recursive=True)
                if p.pid not in before and not _gone(p.pid) and not _is_tracker(p)]

    wait_until(lambda: not left(), timeout=5)
    assert not left(), f"processes left behind: {left()}"


def make(bundle: str, **kw: object) -> ProcessExecutor:
    kw.setdefault("workers", 2)
    return ProcessExecutor(bundle, model=MODEL, kernel=KERNEL, worker_init=INIT, **kw)  # type: ignore[arg-type]


def test_running_query_past_its_timeout_is_timed_out_and_late_answer_dropped(bundle: str) -> None:
    with make(bundle, workers=1) as ex:
        slow = ex.submit(sleepy(400, timeout_s=0.05))
        res = slow.result(timeout=30)
        assert res.outcome is Outcome.TIMED_OUT and "timeout_s" in (res.error or "")
        assert ex.submit(Query(seeds=[2])).result(timeout=30).ok  # answered after the late one
        st = ex.stats()
        assert st.outcomes == {"timed_out": 1, "ok": 1}
        assert st.completed == 1 == sum(w.queries for w in st.workers)


def test_queued_query_times_out_in_the_queue(bundle: str) -> None:
    with make(bundle, workers=1, max_in_flight=1) as ex:
        first = ex.submit(sleepy(300))
        waiting = ex.submit(Query(seeds=[3], timeout_s=0.05))
        assert waiting.result(timeout=30).outcome is Outcome.TIMED_OUT
        assert first.result(timeout=30).ok
        assert ex.stats().outcomes == {"timed_out": 1, "ok": 1}


def test_overload_is_answered_at_once_and_counted(bundle: str) -> None:
    got: list = []
    with make(bundle, workers=1, max_in_flight=1, queue_size=1) as ex:
        running = ex.submit(sleepy(300))
        queued = ex.submit(Query(seeds=[1]))
        refused = ex.submit(Query(seeds=[1]), callback=got.append)
        assert refused.done() and refused.result().outcome is Outcome.OVERLOADED
        assert got and got[0].outcome is Outcome.OVERLOADED
        assert running.result(timeout=30).ok and queued.result(timeout=30).ok
        st = ex.stats()
        assert st.outcomes == {"overloaded": 1, "ok": 2} and st.submitted == 3


def test_cancel_a_queued_query_and_close_cancels_the_rest(bundle: str) -> None:
    got: list = []
    ex = make(bundle, workers=1, max_in_flight=1)
    running = ex.submit(sleepy(300))
    queued = ex.submit(Query(seeds=[1]), callback=got.append)
    assert queued.cancel()
    assert running.result(timeout=30).ok
    assert wait_until(lambda: ex.stats().outcomes.get("cancelled") == 1)
    assert wait_until(lambda: bool(got))  # the callback runs just after the count, outside the lock
    assert got[0].outcome is Outcome.CANCELLED
    pending = [ex.submit(sleepy(200)) for _ in range(3)]
    ex.close()
    outs = [f.result(timeout=10).outcome for f in pending]
    assert all(o is Outcome.CANCELLED for o in outs)
    with pytest.raises(ExecutorError):
        ex.submit(Query(seeds=[1]))


def test_worker_killed_under_load_loses_no_query(bundle: str) -> None:
    done = threading.Semaphore(0)
    n = 300
    with make(bundle, workers=2, max_in_flight=64) as ex:
        victim = ex.pids()[0]
        futures = [ex.submit(sleepy(3), callback=lambda r: done.release()) for _ in range(n)]
        for _ in range(20):
            assert done.acquire(timeout=30)
        os.kill(victim, signal.SIGKILL)
        results = [f.result(timeout=60) for f in futures]
        assert len(results) == n
        outcomes = {r.outcome for r in results}
        assert outcomes <= {Outcome.OK, Outcome.WORKER_LOST}
        assert any(r.attempts == 2 for r in results), "the dead worker's queries were retried"
        assert all(r.ok for r in results if r.attempts == 2 and r.outcome is not Outcome.WORKER_LOST)
        st = ex.stats()
        assert st.submitted == n == sum(st.outcomes.values())
        assert sum(w.restarts for w in st.workers) == 1
        assert wait_until(lambda: len(ex.pids()) == 2 and victim not in ex.pids())
        assert ex.submit(Query(seeds=[4])).result(timeout=30).ok  # the replacement works


def test_worker_killed_during_map_batch_loses_no_query(bundle: str) -> None:
    n = 400
    with make(bundle, workers=2, max_in_flight=64) as ex:
        victim = ex.pids()[0]
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        try:
            answers = ex.map_batch(np.tile(np.arange(4), (n, 1)), values=np.full((n, 4), 3.0), wait_s=120)
        finally:
            killer.cancel()
        assert len(answers) == n
        counts = answers.counts()
        assert sum(counts.values()) == n and set(counts) <= {"ok", "worker_lost"}
        assert (answers.attempts == 2).any(), "the dead worker's queries were retried"
        assert (answers.outcome >= 0).all(), "every row has an outcome"
        st = ex.stats()
        assert st.submitted == n == sum(st.outcomes.values())
        assert sum(w.restarts for w in st.workers) == 1
        direct = ex.map_batch(np.tile(np.arange(4), (3, 1)), values=np.full((3, 4), 3.0))
        assert (direct.nodes[0] == answers.nodes[answers.ok][0]).all()  # retried rows answer like the rest


def test_workers_exit_when_the_parent_is_killed(bundle: str, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pspread import ProcessExecutor
        ex = ProcessExecutor({bundle!r}, workers=2, kernel="reference")
        print(*ex.pids(), flush=True)
        time.sleep(60)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline() if child.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    finally:
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()
    assert wait_until(lambda: all(_gone(p) for p in pids), timeout=10), "workers outlived their parent"


@pytest.mark.parametrize("balance", ["least-loaded", "round-robin", "power-of-two"])
def test_every_balance_strategy_uses_both_workers(bundle: str, balance: str) -> None:
    with make(bundle, balance=balance) as ex:
        results = ex.map([sleepy(2) for _ in range(40)] + [Query(seeds=[i % 30]) for i in range(40)])
        assert all(r.ok for r in results)
        per_worker = [w.queries for w in ex.stats().workers]
        assert all(q > 0 for q in per_worker) and sum(per_worker) == 80
        assert {r.worker for r in results} == {0, 1}


def test_unknown_balance_strategy_is_refused(bundle: str) -> None:
    with pytest.raises(ExecutorError, match="least-loaded"):
        make(bundle, balance="random-ish")


#: a limit well above a fresh worker's RSS (about 160 MB), and a query that pushes a worker past it
GUARD_LIMIT_MB = 600
GROW = Query(seeds={1: sleepy_kernel.GROW})


def test_memory_guard_recycles_a_worker(bundle: str) -> None:
    with make(bundle, workers=1, memory_limit_mb=GUARD_LIMIT_MB, memory_check_s=0.05) as ex:
        first = ex.pids()
        assert ex.submit(GROW).result(timeout=30).ok
        assert wait_until(lambda: ex.stats().workers[0].restarts >= 1)
        assert ex.pids() != first
        results = ex.map([Query(seeds=[i]) for i in range(10)], timeout_s=60)
        assert all(r.ok for r in results)
        st = ex.stats()
        assert st.completed == 11 and st.recycles == st.workers[0].restarts >= 1


def test_memory_guard_takes_one_worker_at_a_time_and_loses_no_query(bundle: str) -> None:
    with make(bundle, workers=2, memory_limit_mb=GUARD_LIMIT_MB, memory_check_s=0.02) as ex:
        grown = ex.map([GROW, GROW], timeout_s=60)  # both workers (least-loaded spreads them) past the limit
        assert all(r.ok for r in grown)
        queued = ex.map([sleepy(20) for _ in range(60)], timeout_s=60)
        assert [r.outcome for r in queued] == [Outcome.OK] * 60  # none worker_lost while the guard recycles
        assert wait_until(lambda: sum(w.restarts for w in ex.stats().workers) >= 2)
        st = ex.stats()
        assert st.recycles == sum(w.restarts for w in st.workers)


def test_memory_limit_below_a_fresh_worker_is_refused_with_the_figure(bundle: str) -> None:
    with pytest.raises(ExecutorError, match=r"below the \d+ MB a fresh worker") as info:
        make(bundle, workers=1, memory_limit_mb=1)
    assert info.value.exit_code == 2


def test_pool_counts_a_starting_replacement_as_recycling() -> None:
    from pspread.execution.pool import WorkerPool

    class FakeSlot:
        def __init__(self, ready: bool) -> None:
            self.alive, self.ready, self.draining, self.recycle = True, ready, False, False

    pool = WorkerPool(None, "", None, "auto", 0.0)
    pool.slots = [FakeSlot(True), FakeSlot(True)]  # type: ignore[list-item]
    assert not pool.recycling()
    pool.slots[1].ready = False  # a replacement still starting: the guard must wait for it
    assert pool.recycling()


def test_a_failing_query_does_not_take_the_worker_down(bundle: str) -> None:
    with make(bundle, workers=1) as ex:
        pids = ex.pids()
        res = ex.submit(Query(seeds={1: sleepy_kernel.FAIL})).result(timeout=30)
        assert res.outcome is Outcome.INVALID and "internal error" in (res.error or "")
        assert "simulated kernel failure" in (res.error or "")
        assert ex.submit(Query(seeds=[1])).result(timeout=30).ok
        assert ex.pids() == pids and ex.stats().workers[0].restarts == 0


def test_exception_inside_with_block_stops_every_worker(bundle: str) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError):
        with make(bundle) as ex:
            pids = list(ex.pids())
            ex.submit(sleepy(100))
            raise RuntimeError("boom")
    assert pids and all(_gone(p) for p in pids)


def test_bad_start_is_an_error_and_leaves_nothing(bundle: str, tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="unknown kernel"):
        ProcessExecutor(bundle, kernel="no-such-kernel")
    with pytest.raises(GraphError, match="bundle"):
        ProcessExecutor(tmp_path / "missing")
    with pytest.raises(ExecutorError, match="max_in_flight"):
        ProcessExecutor(bundle, max_in_flight=0)


def test_a_query_that_cannot_be_sent_is_invalid(bundle: str) -> None:
    with make(bundle, workers=1) as ex:
        res = ex.submit(Query(seeds=(i for i in range(3)))).result(timeout=30)  # type: ignore[arg-type]
        assert res.outcome is Outcome.INVALID and "cannot be sent" in (res.error or "")
        assert ex.submit(Query(seeds=[1])).result(timeout=30).ok
        assert not ex.receiver_errors


def test_forkserver_start_method_works(bundle: str) -> None:
    with make(bundle, start_method="forkserver") as ex:
        assert all(r.ok for r in ex.map([Query(seeds=[i]) for i in range(10)]))


def test_ctrl_c_in_the_parent_stops_every_worker(bundle: str) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pspread import ProcessExecutor, Query
        try:
            with ProcessExecutor({bundle!r}, workers=2, kernel={KERNEL!r}, worker_init={INIT!r}) as ex:
                print(*ex.pids(), flush=True)
                ex.map([Query(seeds={{1: 50.0}}) for _ in range(2000)])
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        pids = [int(p) for p in child.stdout.readline().split()]
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        rest = child.stdout.read()
        assert child.wait(timeout=30) == 130 and "interrupted" in rest
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
    assert len(pids) == 2 and all(_gone(p) for p in pids)


def test_works_from_a_script_on_stdin_without_a_main_guard(bundle: str) -> None:
    script = textwrap.dedent(f"""
        from pspread import ProcessExecutor, Query
        with ProcessExecutor({bundle!r}, workers=1, kernel="reference") as ex:
            print(ex.submit(Query(seeds=[1])).result(timeout=30).outcome.value)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"]  # printed once: the workers did not re-run the script


def test_when_no_worker_can_be_replaced_every_query_is_answered(bundle: str, tmp_path: Path) -> None:
    import shutil

    mine = tmp_path / "copy"
    shutil.copytree(bundle, mine)
    with ProcessExecutor(mine, workers=1, model=MODEL, kernel=KERNEL, worker_init=INIT) as ex:
        victim = ex.pids()[0]
        futures = [ex.submit(sleepy(100)) for _ in range(5)]
        shutil.rmtree(mine)  # replacements cannot open the graph any more
        os.kill(victim, signal.SIGKILL)
        outcomes = [f.result(timeout=60).outcome for f in futures]
        assert outcomes == [Outcome.WORKER_LOST] * 5
        assert ex.submit(Query(seeds=[1])).result(timeout=10).outcome is Outcome.WORKER_LOST
        st = ex.stats()
        assert st.submitted == 6 == sum(st.outcomes.values()) and st.workers[0].restarts >= 1


def test_worker_init_must_be_an_import_path_and_must_work(bundle: str) -> None:
    with pytest.raises(ExecutorError, match="import path"):
        ProcessExecutor(bundle, workers=1, worker_init="not a path")
    with pytest.raises(ExecutorError, match="no_such_module_here"):
        ProcessExecutor(bundle, workers=1, worker_init="no_such_module_here:install")
    with pytest.raises(ExecutorError, match="unknown kernel 'test-sleepy'"):
        ProcessExecutor(bundle, workers=1, kernel=KERNEL)  # without its worker_init the kernel does not exist

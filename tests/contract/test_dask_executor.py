"""``DaskExecutor``: the executor contract on a local Dask cluster, plus what is Dask's own.

The contract checks are the ones every executor passes (imported from
``test_executor_contract``), run here against one module-scoped local cluster
of two worker processes.  Further executors connect to that cluster's
scheduler by address, which is also how a remote cluster is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sleepy_kernel

pytest.importorskip("distributed", reason="the dask executor needs `pip install 'pspread[dask]'`")

from test_executor_contract import (  # noqa: E402 - the shared contract, run on Dask below
    KERNEL,
    MODEL,
    bundle,
    spreader,
    test_callback_gets_the_same_result,
    test_invalid_queries_are_answered_and_do_not_hurt,
    test_map_keeps_order,
    test_results_match_the_spreader,
    test_run_from_asyncio,
    test_stats_add_up,
    test_unknown_text_terms_are_reported,
)
from timing import wait_until

import pspread  # noqa: E402
from pspread import Outcome, Query  # noqa: E402
from pspread.errors import ExecutorError, RunAborted  # noqa: E402
from pspread.execution.dask import DaskExecutor  # noqa: E402

__all__ = ["bundle", "spreader", "test_callback_gets_the_same_result",
           "test_invalid_queries_are_answered_and_do_not_hurt", "test_map_keeps_order",
           "test_results_match_the_spreader", "test_run_from_asyncio", "test_stats_add_up",
           "test_unknown_text_terms_are_reported"]

_BEFORE = {p.pid for p in psutil.Process().children(recursive=True)}


def _ours(pids: set[int]) -> list[psutil.Process]:
    """Child processes started since this module began that are still running (zombies are gone)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in pids and p.status() != psutil.STATUS_ZOMBIE:
                cmd = " ".join(p.cmdline())
                if "resource_tracker" not in cmd and "forkserver" not in cmd:
                    out.append(p)
        except psutil.Error:
            pass
    return out


@pytest.fixture(scope="module")
def executor(bundle: tuple[str, object]):
    """One local cluster (two worker processes) for the whole module."""
    ex = DaskExecutor(bundle[0], workers=2, model=MODEL, kernel=KERNEL)
    try:
        yield ex
    finally:
        ex.close()


def _address(ex: DaskExecutor) -> str:
    return ex.scheduler_address  # the local cluster a second executor joins


# ------------------------------------------------------------------ Dask's own
def test_the_local_cluster_listens_on_loopback_only(executor: DaskExecutor) -> None:
    assert _address(executor).startswith("tcp://127.0.0.1:")
    procs = [psutil.Process()] + [psutil.Process(pid) for pid in executor.pids()]
    listening = [c for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening, "expected the scheduler and the workers to listen somewhere"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening


def test_workers_are_separate_processes_holding_the_graph(executor: DaskExecutor) -> None:
    pids = executor.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    results = executor.map([Query(seeds=[i % 12]) for i in range(40)], timeout_s=60)
    assert {r.worker for r in results} == {0, 1}


@pytest.mark.parametrize("batch_size, balance", [(1, "round-robin"), (32, "power-of-two"), (8, "least-loaded")])
def test_batch_sizes_and_strategies_on_a_cluster_by_address(executor: DaskExecutor, bundle: tuple[str, object],
                                                             spreader: pspread.Spreader, batch_size: int,
                                                             balance: str) -> None:
    queries = [Query(seeds=[i % 12, (i * 7) % 12], top_k=3) for i in range(80)]
    with DaskExecutor(bundle[0], scheduler=_address(executor), model=MODEL, kernel=KERNEL, balance=balance,
                      batch_size=batch_size) as ex:
        assert ex.num_workers == 2 and ex.pids() == []  # remote pids mean nothing here
        results = ex.map(queries, timeout_s=60)
        st = ex.stats()
    assert [r.top for r in results] == [spreader.query(q.seeds, top_k=3).top for q in queries]
    assert st.outcomes == {"ok": 80} and all(w.queries > 0 for w in st.workers)
    assert executor.submit(Query(seeds=[1])).result(timeout=30).ok  # the shared cluster is untouched


def test_shipped_graph_answers_like_a_mapped_one(executor: DaskExecutor, bundle: tuple[str, object],
                                                 spreader: pspread.Spreader) -> None:
    with DaskExecutor(bundle[0], scheduler=_address(executor), model=MODEL, kernel=KERNEL, ship_graph=True) as ex:
        res = ex.submit(Query(seeds=[3, 4], top_k=5)).result(timeout=30)
    assert res.ok and res.top == spreader.query([3, 4], top_k=5).top


def test_timeouts_and_overload_are_answered_and_counted(executor: DaskExecutor, bundle: tuple[str, object]) -> None:
    with DaskExecutor(bundle[0], scheduler=_address(executor), model=MODEL, kernel=sleepy_kernel.NAME,
                      worker_init=sleepy_kernel.INIT, max_in_flight=2, queue_size=2) as ex:
        slow = ex.submit(Query(seeds={1: 400.0}, timeout_s=0.05))
        rest = [ex.submit(Query(seeds={2: 200.0})) for _ in range(8)]
        assert slow.result(timeout=30).outcome is Outcome.TIMED_OUT
        outcomes = [f.result(timeout=30).outcome for f in rest]
        st = ex.stats()
    assert Outcome.OVERLOADED in outcomes and Outcome.OK in outcomes
    assert st.submitted == 9 == sum(st.outcomes.values())
    assert st.outcomes["timed_out"] == 1 and st.outcomes["overloaded"] == outcomes.count(Outcome.OVERLOADED)


def test_close_cancels_what_is_pending_and_is_final(executor: DaskExecutor, bundle: tuple[str, object]) -> None:
    ex = DaskExecutor(bundle[0], scheduler=_address(executor), model=MODEL, kernel=sleepy_kernel.NAME,
                      worker_init=sleepy_kernel.INIT, max_in_flight=1)
    futures = [ex.submit(Query(seeds={1: 300.0})) for _ in range(4)]
    ex.close()
    ex.close()
    outcomes = [f.result(timeout=30).outcome for f in futures]
    assert outcomes.count(Outcome.CANCELLED) >= 3
    with pytest.raises(ExecutorError, match="closed"):
        ex.submit(Query(seeds=[1]))


def test_a_query_that_cannot_be_sent_is_invalid(executor: DaskExecutor) -> None:
    res = executor.submit(Query(seeds=(i for i in range(3)))).result(timeout=30)  # type: ignore[arg-type]
    assert res.outcome is Outcome.INVALID and "cannot be sent" in (res.error or "")
    assert executor.submit(Query(seeds=[1])).result(timeout=30).ok


def test_stats_count_worker_and_parent_cpu(executor: DaskExecutor) -> None:
    before = executor.stats()
    ans = executor.map_batch([[i % 12, (i * 5) % 12] for i in range(200)], wait_s=60)
    after = executor.stats()
    assert ans.counts() == {"ok": 200}
    # CPU counters only ever grow (how much they grow is the benchmarks' to measure, not a test's)
    assert sum(w.kernel_cpu_s for w in after.workers) >= sum(w.kernel_cpu_s for w in before.workers)
    assert after.parent_cpu_s >= before.parent_cpu_s >= 0
    assert set(ans.worker.tolist()) == {0, 1} and (ans.finished_at >= ans.started_at).all()
    assert (ans.started_at >= ans.submitted_at).all() and (ans.completed_at >= ans.finished_at).all()


def test_unreachable_scheduler_aborts_naming_it(bundle: tuple[str, object]) -> None:
    with pytest.raises(RunAborted, match=r"tcp://127\.0\.0\.1:9") as info:
        DaskExecutor(bundle[0], scheduler="tcp://127.0.0.1:9", connect_timeout_s=1.0)
    assert info.value.exit_code == 3


def test_missing_dask_says_how_to_install_it(bundle: tuple[str, object]) -> None:
    code = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
            "import pspread\n"
            "from pspread.errors import ExecutorError\n"
            "try:\n"
            f"    pspread.DaskExecutor({bundle[0]!r})\n"
            "except ExecutorError as exc:\n"
            "    print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "refused: the dask executor needs `pip install 'pspread[dask]'`" in out.stdout


def test_not_a_bundle_is_a_graph_error(tmp_path: Path) -> None:
    with pytest.raises(pspread.GraphError, match="not a graph bundle"):
        DaskExecutor(tmp_path / "missing")


def test_a_killed_worker_loses_no_query_and_is_replaced(bundle: tuple[str, object]) -> None:
    with DaskExecutor(bundle[0], workers=2, model=MODEL, kernel=sleepy_kernel.NAME, worker_init=sleepy_kernel.INIT,
                      batch_size=4) as ex:
        victim = ex.pids()[0]
        futures = [ex.submit(Query(seeds={i % 12: 10.0})) for i in range(120)]
        assert wait_until(lambda: sum(f.done() for f in futures) >= 10, timeout=30)
        psutil.Process(victim).kill()
        results = [f.result(timeout=60) for f in futures]
        assert [r.outcome for r in results].count(Outcome.OK) == 120, {r.outcome for r in results}
        assert any(r.attempts == 2 for r in results)  # the victim's queries were retried elsewhere
        # Dask's nanny restarts the worker; it takes the lost one's place
        assert wait_until(lambda: sum(w.restarts for w in ex.stats().workers) == 1, timeout=60)
        assert victim not in ex.pids() and len(ex.pids()) == 2
        assert ex.submit(Query(seeds=[5])).result(timeout=30).ok
        # an idle worker's death is seen from the scheduler, before any batch waits on connecting to it
        idle = ex.pids()[1]
        psutil.Process(idle).kill()
        assert wait_until(lambda: idle not in ex.pids(), timeout=15)
        assert all(r.ok for r in ex.map([Query(seeds=[i % 12]) for i in range(20)], timeout_s=15))


_OWNER = """
import sys, time
import pspread
if __name__ == "__main__":
    ex = pspread.DaskExecutor(sys.argv[1], workers=2, kernel="reference")
    print(" ".join(map(str, ex.pids())), flush=True)
    while True:
        ex.map([pspread.Query(seeds=[1])] * 20)
        time.sleep(0.01)
"""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_workers_go_when_their_owner_is_interrupted_or_killed(bundle: tuple[str, object], tmp_path: Path,
                                                               signal_name: str) -> None:
    """Ctrl-C closes the cluster (atexit); a killed owner's workers exit by themselves."""
    import signal

    script = tmp_path / "owner.py"
    script.write_text(_OWNER)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), bundle[0]], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        time.sleep(0.3)
        proc.send_signal(getattr(signal, signal_name))
        proc.wait(timeout=30)
        assert wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                           for p in pids), timeout=20), f"workers {pids} outlived their owner"
        if signal_name == "SIGINT":  # closed on the way out: its scratch folder is gone too
            assert not list(scratch.glob("pspread-dask-*"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_runner_builds_a_dask_executor(executor: DaskExecutor, bundle: tuple[str, object]) -> None:
    from pspread.load.runner import PreparedGraph, make_executor
    from pspread.scenario.loader import load_scenario

    sc = load_scenario(f"""
name: d
graph: {{path: {bundle[0]}}}
model: {{preset: threshold, kernel: reference}}
executor: {{kind: dask, scheduler: "{_address(executor)}", batch_size: 4, balance: round-robin}}
phases: [{{kind: constant, duration_s: 1s, rate_qps: 10}}]
""")
    ex = make_executor(sc, PreparedGraph(bundle[1], Path(bundle[0])))  # type: ignore[arg-type]
    try:
        assert isinstance(ex, DaskExecutor) and ex.batch_size == 4 and ex.balance == "round-robin"
        assert ex.submit(Query(seeds=[0])).result(timeout=30).ok
    finally:
        ex.close()


def test_pspread_run_with_a_scheduler_address(executor: DaskExecutor, bundle: tuple[str, object],
                                              tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from pspread.cli.app import app

    scenario = tmp_path / "d.yaml"
    scenario.write_text(f"""
name: d
graph: {{path: {bundle[0]}}}
model: {{preset: threshold, kernel: reference}}
workload: {{seeds_per_query: 2, top_k: 3}}
phases: [{{kind: constant, duration_s: 0.5s, rate_qps: 40}}]
thresholds: {{error_rate: ['rate<0.01']}}
""")
    res = CliRunner().invoke(app, ["run", str(scenario), "--scheduler", _address(executor), "--plain",
                                   "--results-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    data = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert data["phases"][0]["total"] == 20 and data["phases"][0]["errors"] == 0
    res = CliRunner().invoke(app, ["run", str(scenario), "--scheduler", "tcp://127.0.0.1:9", "--plain",
                                   "--results-dir", str(tmp_path / "r2")])
    assert res.exit_code == 3 and "tcp://127.0.0.1:9" in res.output


def test_the_benchmark_runs_both_executors_on_the_same_queries(bundle: tuple[str, object], capsys) -> None:
    from pspread.bench.dask import main

    figures = main(["--graph", bundle[0], "--queries", "60", "--rounds", "1", "--kernel", "reference",
                    "--top-k", "3"])
    out = capsys.readouterr().out
    assert "round 1: process" in out and "ratio" in out and "warning" not in out
    assert set(figures["median_qps"]) == {"process", "dask"} and all(v > 0 for v in figures["median_qps"].values())
    assert figures["ratio"] == pytest.approx(figures["median_qps"]["dask"] / figures["median_qps"]["process"])


def test_public_name() -> None:
    assert pspread.DaskExecutor is DaskExecutor


def test_nothing_is_left_running(executor: DaskExecutor) -> None:
    """Runs last: closing the module's cluster leaves no process behind."""
    pids = executor.pids()
    assert pids and all(psutil.pid_exists(p) for p in pids)
    scratch = executor._link._scratch  # noqa: SLF001 - the cluster's scratch folder
    assert scratch is not None and os.path.isdir(scratch)
    executor.close()
    assert wait_until(lambda: not _ours(_BEFORE), timeout=10), _ours(_BEFORE)
    assert not os.path.exists(scratch)

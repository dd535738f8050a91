"""One contract every executor passes: inline, process and Dask (skipped when Dask is not installed).

To add an executor, add a factory to ``FACTORIES``: it gets the saved bundle
path, the in-memory graph, the model and admission limits (``max_in_flight``,
``queue_size``; an executor without limits ignores them), and returns an open
executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import importlib.util
import math
import threading
from typing import Any, Callable

import numpy as np
import pytest

import pspread
from pspread import Graph, InlineExecutor, Outcome, ProcessExecutor, Query, Spreader, SpreadModel
from pspread.engine.io import save_graph
from pspread.errors import ExecutorError
from pspread.execution.answers import CODE
from pspread.execution.base import Executor

KERNEL = "reference"  # deterministic and compiled-code free: the contract is about the executor
MODEL = SpreadModel.preset("threshold")

LABELS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew", "ice_cream", "jam",
          "kiwi", "lemon"]


def _graph() -> Graph:
    n = len(LABELS)
    src, dst = [], []
    for i in range(n):
        for k in (1, 2, 5):
            src.append(i)
            dst.append((i * 3 + k) % n)
    return Graph.from_edges(src, dst, num_nodes=n, labels=LABELS)


def _inline(path: str, graph: Graph, model: SpreadModel, **limits: Any) -> Executor:
    return InlineExecutor(path, model=model, kernel=KERNEL)  # answers inside the call: it never overloads


def _process(path: str, graph: Graph, model: SpreadModel, **limits: Any) -> Executor:
    return ProcessExecutor(path, workers=2, model=model, kernel=KERNEL, **limits)


def _dask(path: str, graph: Graph, model: SpreadModel, **limits: Any) -> Executor:
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask is not installed: the dask executor needs `pip install 'pspread[dask]'`")
    from pspread.execution.dask import DaskExecutor

    return DaskExecutor(path, workers=2, model=model, kernel=KERNEL, **limits)


FACTORIES: dict[str, Callable[..., Executor]] = {"inline": _inline, "process": _process, "dask": _dask}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Graph]:
    graph = _graph()
    path = tmp_path_factory.mktemp("contract") / "g"
    save_graph(graph, path)
    return str(path), graph


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def executor(request: pytest.FixtureRequest, bundle: tuple[str, Graph]):
    path, graph = bundle
    ex = FACTORIES[request.param](path, graph, MODEL)
    try:
        yield ex
    finally:
        ex.close()


@pytest.fixture(scope="module")
def spreader(bundle: tuple[str, Graph]) -> Spreader:
    return Spreader(bundle[1], MODEL, kernel=KERNEL)


QUERIES = [
    Query(seeds=[0, 1, 2]),
    Query(seeds={3: 1.0, 7: 0.5}, top_k=4),
    Query(seeds="banana ice cream", top_k=3),
    Query(seeds=[11], model=MODEL.with_(retention=0.2, threshold=0.0), kind="other-model"),
]


def test_results_match_the_spreader(executor: Executor, spreader: Spreader) -> None:
    for q in QUERIES:
        res = executor.submit(q).result(timeout=30)
        assert res.outcome is Outcome.OK, res.error
        direct = spreader if q.model is None else Spreader(spreader.graph, q.model, kernel=KERNEL)
        expect = direct.query(q.seeds, top_k=q.top_k)
        assert res.top == expect.top
        assert res.steps == expect.steps and res.touched_nodes == expect.touched_nodes
        assert res.query_id == q.query_id and res.kind == q.kind
        # the worker's own time lies within the query's time in the executor (no clock-resolution bet on > 0)
        assert 0 <= res.compute_s <= res.completed_at - res.submitted_at


def test_map_keeps_order(executor: Executor) -> None:
    queries = [Query(seeds=[i % 12, (i * 5) % 12], top_k=2) for i in range(60)]
    results = executor.map(queries, timeout_s=60)
    assert [r.query_id for r in results] == [q.query_id for q in queries]
    assert all(r.ok for r in results)


def test_run_from_asyncio(executor: Executor, spreader: Spreader) -> None:
    async def main() -> list:
        return await asyncio.gather(*(executor.run(Query(seeds=[i])) for i in range(5)))

    results = asyncio.run(main())
    assert [r.top for r in results] == [spreader.query([i]).top for i in range(5)]


def test_callback_gets_the_same_result(executor: Executor) -> None:
    got: list = []
    fut = executor.submit(Query(seeds=[4]), callback=got.append)
    res = fut.result(timeout=30)
    assert isinstance(fut, cf.Future)
    assert got == [res]


@pytest.mark.parametrize(
    "seeds, fragment",
    [([999], "out of range"), ("nothing here", "matches a node label"), ({1: -2.0}, "activation"),
     ([], "at least one seed"), (["x"], "not an integer")],
)
def test_invalid_queries_are_answered_and_do_not_hurt(executor: Executor, seeds: object, fragment: str) -> None:
    res = executor.submit(Query(seeds=seeds)).result(timeout=30)  # type: ignore[arg-type]
    assert res.outcome is Outcome.INVALID
    assert fragment in (res.error or "")
    after = executor.submit(Query(seeds=[1])).result(timeout=30)
    assert after.ok


def test_unknown_text_terms_are_reported(executor: Executor) -> None:
    res = executor.submit(Query(seeds="apple zebra")).result(timeout=30)
    assert res.ok and res.unknown_terms == ["zebra"]


def test_stats_add_up(executor: Executor) -> None:
    executor.map([Query(seeds=[i % 12]) for i in range(20)] + [Query(seeds=[-1])], timeout_s=60)
    st = executor.stats()
    assert len(st.workers) == executor.num_workers
    assert sum(w.queries for w in st.workers) == st.completed
    assert sum(w.errors for w in st.workers) == st.outcomes.get("invalid", 0)
    assert st.in_flight == 0 and st.queued == 0
    assert st.submitted == sum(st.outcomes.values())
    assert st.outcomes.get("ok", 0) >= 20
    assert all(w.rss_bytes > 0 and w.queries > 0 for w in st.workers)
    # CPU and busy time are recorded per worker (finite, never negative); how much is the benchmarks' to say
    assert all(math.isfinite(w.busy_s) and math.isfinite(w.kernel_cpu_s) and min(w.busy_s, w.kernel_cpu_s) >= 0
               for w in st.workers)
    assert math.isfinite(st.parent_cpu_s) and st.parent_cpu_s >= 0
    assert len(executor.pids()) == executor.num_workers


BATCHES = [
    np.array([[0, 1, 2], [3, -1, -1], [11, 5, -1], [-1, 7, -1]]),  # -1 pads a short row, wherever it is
    np.array([[4], [7], [999], [2]]),  # row 2: a bad id
    np.random.default_rng(5).integers(0, len(LABELS), size=(9, 3)),
]


@pytest.mark.parametrize("which", range(len(BATCHES)))
def test_map_batch_answers_equal_submit_answers(executor: Executor, which: int) -> None:
    seeds = BATCHES[which]
    ans = executor.map_batch(seeds, top_k=4, wait_s=60)
    assert len(ans) == len(seeds)
    for i, row in enumerate(seeds.tolist()):
        ids = [s for s in row if s >= 0]
        res = executor.submit(Query(seeds=ids, top_k=4)).result(timeout=30)
        assert int(ans.outcome[i]) == CODE[res.outcome], (i, ans.errors.get(i), res.error)
        if any(s >= len(LABELS) for s in ids):
            assert res.outcome is Outcome.INVALID and "out of range" in ans.errors[i]
            continue
        assert res.ok, res.error
        top = [(n, s) for n, _, s in res.top]
        got = [(int(n), float(s)) for n, s in zip(ans.nodes[i], ans.scores[i]) if n >= 0]
        assert got == top  # ids and scores exactly, in order
        assert ans.top(i) == res.top  # labels too
        assert int(ans.steps[i]) == res.steps and int(ans.touched[i]) == res.touched_nodes
    bad = [i for i, row in enumerate(seeds.tolist()) if any(s >= len(LABELS) for s in row)]
    expect = {"ok": len(seeds) - len(bad), **({"invalid": len(bad)} if bad else {})}
    assert sorted(ans.errors) == bad and ans.counts() == expect


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_accounting_holds_under_overload(name: str, bundle: tuple[str, Graph]) -> None:
    """A burst of batches far past max_in_flight + queue_size: every row ends in one outcome, all counted."""
    path, graph = bundle
    rng = np.random.default_rng(9)
    with FACTORIES[name](path, graph, MODEL, max_in_flight=4, queue_size=4) as ex:
        limited = getattr(ex, "max_in_flight", None) is not None
        cond = threading.Condition()
        decided = [0]

        def on_rows(batch: Any, start: int, stop: int) -> None:
            with cond:
                decided[0] += stop - start
                cond.notify_all()

        batches = [ex.submit_batch(rng.integers(0, len(LABELS), size=(20, 2)), top_k=3, on_rows=on_rows)
                   for _ in range(6)]
        total = sum(len(b) for b in batches)
        with cond:
            assert cond.wait_for(lambda: decided[0] == total, 60), (decided[0], total)
        st = ex.stats()
    assert st.submitted == total == sum(st.outcomes.values())
    assert st.in_flight == 0 and st.queued == 0
    assert all((b.answers.outcome >= 0).all() and b.remaining == 0 for b in batches)
    by_rows: dict[str, int] = {}
    for b in batches:
        for k, n in b.answers.counts().items():
            by_rows[k] = by_rows.get(k, 0) + n
    assert by_rows == st.outcomes
    assert st.completed == st.outcomes.get("ok", 0) == sum(w.queries for w in st.workers)
    if limited:  # the first batch alone is 20 rows for a window of 8
        assert st.outcomes.get("overloaded", 0) >= 20 - 8 and st.outcomes.get("ok", 0) >= 8
    else:
        assert st.outcomes == {"ok": total}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_close_is_idempotent_and_final(name: str, bundle: tuple[str, Graph]) -> None:
    path, graph = bundle
    with FACTORIES[name](path, graph, MODEL) as ex:
        assert ex.submit(Query(seeds=[2])).result(timeout=30).ok
    ex.close()
    with pytest.raises(ExecutorError):
        ex.submit(Query(seeds=[2]))


def test_public_names() -> None:
    assert pspread.ProcessExecutor is ProcessExecutor and pspread.InlineExecutor is InlineExecutor

"""One contract every executor passes (inline, process; the Dask one plugs in here too).

To add an executor, add a factory to ``FACTORIES``: it gets the saved bundle
path, the in-memory graph and the model, and returns an open executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from typing import Callable

import pytest

import pspread
from pspread import Graph, InlineExecutor, Outcome, ProcessExecutor, Query, Spreader, SpreadModel
from pspread.engine.io import save_graph
from pspread.errors import ExecutorError
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


FACTORIES: dict[str, Callable[[str, Graph, SpreadModel], Executor]] = {
    "inline": lambda path, graph, model: InlineExecutor(path, model=model, kernel=KERNEL),
    "process": lambda path, graph, model: ProcessExecutor(path, workers=2, model=model, kernel=KERNEL),
}


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
        assert res.compute_s > 0 and res.completed_at >= res.submitted_at


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
    assert all(w.rss_bytes > 0 and w.busy_s > 0 for w in st.workers)
    assert len(executor.pids()) == executor.num_workers


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

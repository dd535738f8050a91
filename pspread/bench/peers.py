"""``pspread bench peers``: personalised PageRank top-k, pspread against other libraries.

Every method answers the same queries (``seeds_per_query`` random seeds each,
α = 0.85) on the same graph, in interleaved rounds (round r runs every method
on its share of the queries before round r+1 starts), so machine noise lands on
all methods alike.  Reported per method: ms/query (median over rounds, with
the min-max spread), recall@k against the converged answer (dense steps to an
L1 change of 1e-10), and the ratio of its time to pspread's per round
(median, min-max).  pspread runs its ``ppr`` preset defaults on the ``auto``
kernel (``overrides`` changes its parameters, e.g. ``tie_tolerance``); the
peers run their own defaults.  Recall is the mean over queries of each
query's recall@k; ``recall_min`` is the worst single query.

Peers (``pip install 'pspread[peers]'``): networkx (``pagerank`` with a
personalization), python-igraph (``personalized_pagerank``, PRPACK) and
scikit-network (``PageRank``, its default power-iteration solver).  A peer
that is not installed is skipped with an install hint.  Where the graph has
sinks, peers may treat dangling mass differently (igraph spreads it over all
nodes); their recall then measures that difference too.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from pspread.bench.kernels import make_queries
from pspread.engine.graph import Graph
from pspread.engine.kernels.base import SeedSet
from pspread.engine.model import SpreadModel
from pspread.engine.spreader import Spreader

ALPHA = 0.85
PEERS = {"networkx": "networkx", "igraph": "python-igraph", "sknetwork": "scikit-network"}

Method = Callable[[SeedSet], list[int]]


@dataclass
class PeerFigures:
    method: str
    ms_per_query: float
    ms_min: float
    ms_max: float
    recall: float
    recall_min: float = 0.0
    ratio_vs_pspread: float | None = None
    ratio_min: float | None = None
    ratio_max: float | None = None


@dataclass
class PeerBench:
    graph: str
    nodes: int
    arcs: int
    k: int
    queries: int
    rounds: int
    seeds_per_query: int
    methods: list[PeerFigures] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def available_peers() -> tuple[list[str], list[str]]:
    """(installed peers, install hints for the missing ones)."""
    found, hints = [], []
    for module, package in PEERS.items():
        if importlib.util.find_spec(module) is not None:
            found.append(module)
        else:
            hints.append(f"{module}: not installed (pip install {package}, or pip install 'pspread[peers]')")
    return found, hints


def _top(scores: np.ndarray, k: int) -> list[int]:
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))].tolist()


def _pspread(graph: Graph, k: int, overrides: dict[str, object] | None = None) -> Method:
    model = SpreadModel.preset("ppr", **{"alpha": ALPHA, **(overrides or {}), "top_k": k})
    spreader = Spreader(graph, model, kernel="auto")
    return lambda q: [n for n, _, _ in spreader.query(dict(zip(q.nodes.tolist(), q.values.tolist()))).top]


def _networkx(graph: Graph, k: int) -> Method:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_weighted_edges_from(zip(graph.arc_rows().tolist(), graph.indices.tolist(), graph.weights.tolist()))

    def run(q: SeedSet) -> list[int]:
        pr = nx.pagerank(g, alpha=ALPHA, personalization=dict(zip(q.nodes.tolist(), q.values.tolist())))
        return _top(np.fromiter((pr[i] for i in range(graph.num_nodes)), float, graph.num_nodes), k)

    return run


def _igraph(graph: Graph, k: int) -> Method:
    import igraph

    g = igraph.Graph(n=graph.num_nodes, edges=np.column_stack([graph.arc_rows(), graph.indices]).tolist(),
                     directed=True)
    weights = graph.weights.astype(float).tolist()

    def run(q: SeedSet) -> list[int]:
        scores = g.personalized_pagerank(damping=ALPHA, reset_vertices=q.nodes.tolist(), weights=weights)
        return _top(np.asarray(scores), k)

    return run


def _sknetwork(graph: Graph, k: int) -> Method:
    from sknetwork.ranking import PageRank

    adjacency = sp.csr_matrix(graph.to_scipy().astype(np.float64))  # its API takes the matrix class
    solver = PageRank(damping_factor=ALPHA)

    def run(q: SeedSet) -> list[int]:
        scores = solver.fit_predict(adjacency, weights=dict(zip(q.nodes.tolist(), q.values.tolist())))
        return _top(np.asarray(scores), k)

    return run


BUILDERS: dict[str, Callable[[Graph, int], Method]] = {
    "pspread": _pspread, "networkx": _networkx, "igraph": _igraph, "sknetwork": _sknetwork,
}


def converged_topk(graph: Graph, queries: list[SeedSet], k: int) -> list[set[int]]:
    """The converged answer's top-k sets (dense steps to an L1 change of 1e-10)."""
    model = SpreadModel.preset("ppr", alpha=ALPHA, top_k=k, stop="converged", tolerance=1e-10, max_steps=2000)
    spreader = Spreader(graph, model, kernel="dense")
    return [{n for n, _, _ in spreader.query(dict(zip(q.nodes.tolist(), q.values.tolist()))).top} for q in queries]


def bench_peers(
    graph: Graph,
    queries: int = 30,
    rounds: int = 3,
    k: int = 20,
    seeds_per_query: int = 3,
    seed: int = 1,
    peers: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    overrides: dict[str, object] | None = None,
) -> PeerBench:
    """Run pspread and each installed peer on the same queries; see the module docstring."""
    say = progress or (lambda _msg: None)
    found, hints = available_peers()
    wanted = found if peers is None else [p for p in peers if p in found]
    report = PeerBench(graph.source, graph.num_nodes, graph.num_arcs, k, queries, rounds, seeds_per_query,
                       skipped=hints + [f"{p}: not installed" for p in (peers or []) if p not in found and p in PEERS])
    qs = make_queries(graph, queries, seeds_per_query, seed)
    say("converged answers")
    truth = converged_topk(graph, qs, k)
    methods = {"pspread": _pspread(graph, k, overrides)}
    methods.update({name: BUILDERS[name](graph, k) for name in wanted})
    for run in methods.values():
        run(qs[0])  # warm-up: compile, build caches
    share = [qs[r::rounds] for r in range(rounds)]
    idx = [list(range(r, len(qs), rounds)) for r in range(rounds)]
    times = {name: [] for name in methods}
    hits = {name: [] for name in methods}
    for r in range(rounds):
        for name, run in methods.items():
            say(f"round {r + 1}/{rounds}: {name}")
            if not share[r]:
                continue
            t0 = time.perf_counter()
            answers = [run(q) for q in share[r]]
            times[name].append(1e3 * (time.perf_counter() - t0) / len(share[r]))
            hits[name].extend(len(set(a) & truth[i]) / max(1, len(truth[i])) for a, i in zip(answers, idx[r]))
    base = np.asarray(times["pspread"])
    for name in methods:
        t = np.asarray(times[name])
        fig = PeerFigures(name, float(np.median(t)), float(t.min()), float(t.max()), float(np.mean(hits[name])),
                          float(np.min(hits[name])) if hits[name] else 0.0)
        if name != "pspread":
            ratio = t / base
            fig.ratio_vs_pspread, fig.ratio_min, fig.ratio_max = (float(np.median(ratio)), float(ratio.min()),
                                                                   float(ratio.max()))
        report.methods.append(fig)
    return report

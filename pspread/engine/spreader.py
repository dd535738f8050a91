"""``Spreader``: query in, ranked answer out.

It owns the parts every kernel shares -- turning a query (ids, ``{id: value}``
or text) into a seed vector, choosing the kernel, timing, top-k -- so kernels
only implement the update itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from pspread.engine._topk import rank_divisor, top_k_positions
from pspread.engine.graph import Graph
from pspread.engine.kernels import make_kernel
from pspread.engine.kernels.base import Activation, SeedSet
from pspread.engine.labels import split_terms
from pspread.engine.model import SpreadModel
from pspread.errors import QueryError

SeedsLike = Union[str, Mapping[int, float], Sequence[int], np.ndarray]


@dataclass
class SpreadResult:
    """The answer to one query.

    ``top`` lists ``(node_id, label, activation)`` best first (ties by id);
    ``activation()`` rebuilds the full vector.  ``unknown_terms`` lists words of
    a text query that matched no label (the query still ran on the rest).
    """

    top: list[tuple[int, str, float]]
    nodes: np.ndarray
    values: np.ndarray
    num_nodes: int
    steps: int
    converged: bool
    touched_nodes: int
    elapsed_s: float
    kernel: str
    seeds: list[int] = field(default_factory=list)
    unknown_terms: list[str] = field(default_factory=list)
    #: proven L1 distance of ``activation()`` from the converged answer (None: not known)
    error_bound: float | None = None

    def activation(self) -> np.ndarray:
        """The full activation vector (float32, length ``num_nodes``)."""
        out = np.zeros(self.num_nodes, dtype=np.float32)
        out[self.nodes] = self.values
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "top": [{"node": n, "label": lab, "activation": a} for n, lab, a in self.top],
            "steps": self.steps,
            "converged": self.converged,
            "touched_nodes": self.touched_nodes,
            "elapsed_s": self.elapsed_s,
            "kernel": self.kernel,
            "seeds": self.seeds,
            "unknown_terms": self.unknown_terms,
            "error_bound": self.error_bound,
        }


class Spreader:
    """Runs queries against one graph with one model and one kernel.

    ``kernel`` is ``reference``, ``dense``, ``frontier`` or ``auto``; ``threads``
    caps the threads one query may use (the multi-process executor keeps it at 1).
    """

    def __init__(self, graph: Graph, model: SpreadModel | None = None, kernel: str = "auto", threads: int = 1) -> None:
        self.graph = graph
        self.model = model or SpreadModel()
        self.kernel = make_kernel(kernel, graph, self.model, threads=threads)
        self._divisor = rank_divisor(graph.out_weight, self.model.degree_penalty)

    # ----------------------------------------------------------- queries
    def seeds(self, query: SeedsLike) -> tuple[SeedSet, list[str]]:
        """Resolve a query to a seed set; returns it and the unknown text terms."""
        n = self.graph.num_nodes
        unknown: list[str] = []
        if isinstance(query, str):
            terms = split_terms(query, self.graph.labels)
            if not terms:
                raise QueryError("the text query is empty; give one or more labels")
            ids = []
            for t in terms:
                node = self.graph.labels.lookup(t)
                (unknown.append(t) if node is None else ids.append(node))
            if not ids:
                raise QueryError(f"no term of {query!r} matches a node label ({', '.join(unknown)})")
            pairs = {i: 1.0 for i in ids}
        elif isinstance(query, Mapping):
            pairs = {}
            for k, v in query.items():
                pairs[_node_id(k, n)] = _seed_value(k, v)
        else:
            arr = np.asarray(query)
            if arr.ndim != 1 or arr.size == 0:
                raise QueryError("a query needs at least one seed node id")
            if arr.dtype.kind in "iu":  # the batch path: ids checked as one array
                bad = (arr < 0) | (arr >= n)
                if bad.any():
                    node = int(arr[bad][0])
                    raise QueryError(f"seed node {node} is out of range: the graph has nodes 0..{n - 1}")
                nodes = np.unique(arr.astype(np.int64, copy=False))
                return SeedSet(nodes, np.ones(len(nodes), dtype=np.float32)), unknown
            pairs = {_node_id(k, n): 1.0 for k in arr.tolist()}
        if not pairs:
            raise QueryError("a query needs at least one seed")
        nodes = np.fromiter(sorted(pairs), dtype=np.int64, count=len(pairs))
        values = np.asarray([pairs[i] for i in nodes.tolist()], dtype=np.float32)
        return SeedSet(nodes, values), unknown

    def query(self, query: SeedsLike, top_k: int | None = None) -> SpreadResult:
        """Spread from the query's seeds; ``top_k`` overrides the model's."""
        return self.query_batch([query], top_k=top_k)[0]

    def query_batch(self, queries: Sequence[SeedsLike], top_k: int | None = None) -> list[SpreadResult]:
        """Answer many queries in one kernel call (same order); far cheaper per query."""
        parsed = [self.seeds(q) for q in queries]
        k = top_k or self.model.top_k
        self.kernel.answer_k = k  # kernels that stop on the top-k (stop: topk) certify this many
        t0 = time.perf_counter()
        acts = self.kernel.spread_batch([p[0] for p in parsed])
        elapsed = (time.perf_counter() - t0) / max(1, len(parsed))
        return [self._result(act, seeds, unknown, k, elapsed) for act, (seeds, unknown) in zip(acts, parsed)]

    def answer_arrays(
        self, query: SeedsLike, top_k: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, int, bool, int, list[str]]:
        """One query's ranked answer as arrays, with no labels looked up (the executors' path).

        Returns ``(top_nodes, top_values, steps, converged, touched_nodes, unknown_terms)``.
        """
        seeds, unknown = self.seeds(query)
        k = top_k or self.model.top_k
        self.kernel.answer_k = k  # kernels that stop on the top-k (stop: topk) certify this many
        act = self.kernel.spread_batch([seeds])[0]
        top_nodes, top_vals = self._rank(act, seeds, k)
        return top_nodes, top_vals, act.steps, act.converged, act.touched, unknown

    def _rank(self, act: Activation, seeds: SeedSet, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The answer's top-k: the one ranking rule every path uses."""
        return top_k(act.nodes, act.values, k, seeds.nodes if self.model.exclude_seeds else None,
                     divisor=self._divisor)

    def _result(self, act: Activation, seeds: SeedSet, unknown: list[str], k: int, elapsed: float) -> SpreadResult:
        top_nodes, top_vals = self._rank(act, seeds, k)
        labels = self.graph.labels
        top = [(int(i), labels.label(int(i)), float(v)) for i, v in zip(top_nodes.tolist(), top_vals.tolist())]
        return SpreadResult(
            top=top, nodes=act.nodes, values=act.values.astype(np.float32, copy=False),
            num_nodes=self.graph.num_nodes, steps=act.steps, converged=act.converged,
            touched_nodes=act.touched, elapsed_s=elapsed, kernel=self.kernel.name,
            seeds=seeds.nodes.tolist(), unknown_terms=unknown, error_bound=act.error_bound,
        )


def top_k(
    nodes: np.ndarray, values: np.ndarray, k: int, exclude: np.ndarray | None = None,
    divisor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive activations, best first, ties broken by smaller node id.

    "Best" is the largest activation, or with a ``divisor`` (the degree
    penalty's d_i^γ, indexed by node) the largest a_i / divisor_i; the values
    returned are the activations either way.
    """
    if exclude is not None and len(exclude):
        keep = ~np.isin(nodes, exclude)
        nodes, values = nodes[keep], values[keep]
    score = values if divisor is None else values / divisor[nodes]
    pos = top_k_positions(np.ascontiguousarray(nodes, dtype=np.int64), np.ascontiguousarray(score), int(k))
    return nodes[pos], values[pos]


def _node_id(value: object, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise QueryError(f"seed {value!r} is not an integer node id")
    node = int(value)
    if not 0 <= node < n:
        raise QueryError(f"seed node {node} is out of range: the graph has nodes 0..{n - 1}")
    return node


def _seed_value(key: object, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise QueryError(f"seed {key!r} has activation {value!r}; it must be a number > 0") from None
    if not np.isfinite(v) or v <= 0:
        raise QueryError(f"seed {key!r} has activation {value!r}; it must be a finite number > 0")
    return v

"""What every kernel takes and returns, and the pieces of the update they share.

A kernel turns seed vectors into activation vectors under one ``SpreadModel``;
the ``Spreader`` does everything around it (parsing queries, top-k, timing).
Kernels return activations *sparsely* (node ids and values of the non-zero
entries), because in the common thresholded setting a query touches a tiny share
of the graph and the full vector would cost more to build than the spread itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pspread.engine.graph import Graph
from pspread.engine.model import SpreadModel


@dataclass(frozen=True)
class SeedSet:
    """Seed node ids (unique, sorted) and their initial activations (> 0)."""

    nodes: np.ndarray
    values: np.ndarray

    @property
    def total(self) -> float:
        return float(self.values.sum(dtype=np.float64))


@dataclass
class Activation:
    """A kernel's answer for one query: the non-zero activations and how it got there."""

    nodes: np.ndarray  # int64 ids of the nodes with activation > 0
    values: np.ndarray  # float32 activations, aligned with nodes
    steps: int  # updates applied
    converged: bool  # stopped because the L1 change fell to the tolerance
    touched: int  # nodes that held activation at any step
    #: proven L1 distance from the converged answer (the fixed point), where the kernel knows one
    error_bound: float | None = None


class Kernel:
    """Base class: ``spread`` one seed set; ``spread_batch`` many (default: a loop)."""

    name = "base"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1) -> None:
        self.graph = graph
        self.model = model
        self.threads = max(1, int(threads))
        #: how many nodes the answer will hold (``stop: topk`` certifies this many);
        #: the ``Spreader`` sets it to the k a query asks for
        self.answer_k = model.top_k

    def spread(self, seeds: SeedSet) -> Activation:  # pragma: no cover - interface
        raise NotImplementedError

    def spread_batch(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        return [self.spread(s) for s in seeds]


def node_retention(graph: Graph, model: SpreadModel) -> np.ndarray:
    """Per-node retention r_i: r, except sinks with ``sinks: keep``, which keep all (1.0)."""
    r = np.full(graph.num_nodes, model.retention, dtype=np.float32)
    if model.sinks == "keep":
        r[graph.sink_mask] = 1.0
    return r


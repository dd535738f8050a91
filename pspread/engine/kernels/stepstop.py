"""``stop: topk`` for the step kernels: dense steps until the top-k set is proven.

A linear model (θ = σ = λ = 0, δ > 0) contracts by (1 − δ) in L1 each step, so
after a step whose L1 change was c the answer is within ``B = (1−δ)/δ · c`` of
the fixed point (L1, so two nodes' errors add up to at most B).  No node
outside the current top-k can then beat one inside it by more than
``U − L + B·max(1/d^γ)``, where L is the k-th score and U the (k+1)-th; once
that is at most max(ε, τ·L) (τ the model's ``tie_tolerance``) the query stops.  It also stops when converged (c <= ε) or
after T steps, whichever comes first.

The steps themselves are the dense kernel's (``DenseKernel.iterate``, one step
a call, from any start vector): one definition of a dense step.
"""

from __future__ import annotations

import numpy as np

from pspread.engine.kernels.base import Activation, SeedSet
from pspread.engine.kernels.dense import DenseKernel


def iterate_topk(dense: DenseKernel, seeds: SeedSet, start: np.ndarray, k: int,
                 inv_div: np.ndarray | None, steps_done: int = 0, touched: int = 0) -> Activation:
    """Dense steps from ``start`` (n-vector) until the top-k set is proven, converged or T steps."""
    m = dense.model
    n = dense.graph.num_nodes
    s = np.zeros((n, 1), dtype=np.float32)
    s[seeds.nodes, 0] = seeds.values
    cur = np.ascontiguousarray(start, dtype=np.float32).reshape(-1, 1)
    coef = (1.0 - m.decay) / m.decay
    max_inv = float(inv_div.max()) if inv_div is not None and len(inv_div) else 1.0
    candidates = np.ones(n, dtype=bool)
    if m.exclude_seeds:
        candidates[seeds.nodes] = False
    steps, converged, bound = steps_done, False, float("inf")
    vector = cur[:, 0].astype(np.float64)
    while steps < m.max_steps:
        act = dense.iterate(cur, s, steps + 1, steps_done=steps)[0]
        steps += 1
        new = np.zeros(n, dtype=np.float64)
        new[act.nodes] = act.values
        change = float(np.abs(new - vector).sum())
        vector = new
        cur = new.astype(np.float32).reshape(-1, 1)
        bound = coef * change
        touched = max(touched, act.touched)
        if act.converged:
            converged = True
            break
        if _proven(vector, candidates, k, inv_div, bound * max_inv, m.tolerance, m.tie_tolerance):
            break
    nodes = np.flatnonzero(vector > 0)
    return Activation(nodes, vector[nodes].astype(np.float32), steps, converged, max(touched, len(nodes)),
                      error_bound=bound)


def _proven(vector: np.ndarray, candidates: np.ndarray, k: int, inv_div: np.ndarray | None,
            slack: float, tol: float, tie: float = 0.0) -> bool:
    """True when U - L + slack <= max(tol, tie·L): L the k-th score, U the (k+1)-th."""
    score = vector if inv_div is None else vector * inv_div
    score = score[candidates]
    if score.size <= k:
        return slack <= tol  # every candidate is in the answer: only its values are in doubt
    part = np.partition(score, score.size - k - 1)
    lower = float(part[score.size - k:].min())
    upper = float(part[score.size - k - 1])
    if lower <= 0:
        return False
    return upper - lower + slack <= max(tol, tie * lower)


class TopkDenseKernel(DenseKernel):
    """The dense kernel under ``stop: topk``: one query at a time through ``iterate_topk``."""

    def __init__(self, graph, model, threads: int = 1) -> None:  # type: ignore[no-untyped-def]
        super().__init__(graph, model, threads)
        from pspread.engine._topk import rank_divisor

        div = rank_divisor(graph.out_weight, model.degree_penalty)
        self._inv_div = None if div is None else 1.0 / div

    def spread(self, seeds: SeedSet) -> Activation:
        start = np.zeros(self.graph.num_nodes, dtype=np.float32)
        start[seeds.nodes] = seeds.values
        return iterate_topk(self, seeds, start, max(1, int(self.answer_k)), self._inv_div)

    def spread_batch(self, seeds):  # type: ignore[no-untyped-def]
        return [self.spread(s) for s in seeds]

"""The push kernel: personalised PageRank by forward push, with a proven error bound.

For a linear model with r = 0 and a restart (``ppr`` and its rescalings) the
answer the step kernels converge to is a fixed point, and forward push reaches
it touching only the nodes whose share is large enough to matter: its work
follows the answer's locality, not the graph's size.  Each query runs in
*rounds* with a falling residual threshold ε_r (per unit of out-degree); after
each round the kernel knows exactly how far its estimate is from the fixed
point (``Activation.error_bound``, L1) and stops

* with ``stop: converged`` once that bound is at most ``ε·(1-δ)/δ``, the
  guarantee the step kernels give when their L1 change falls to ε;
* with ``stop: topk`` as soon as the bound proves that no node outside the
  current top-k can beat one inside by more than max(ε, τ·L), L the k-th
  score and τ the model's ``tie_tolerance`` (or once converged).

``max_steps`` does not apply (push has no steps: it computes the fixed point,
as the step kernels do once T is large enough).  Other models are refused
with a ModelError that names the parameter in the way.  The derivation of the
bounds is in docs/kernels.md.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pspread.engine._topk import rank_divisor
from pspread.engine.graph import Graph
from pspread.engine.kernels import _push_jit as jit
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.model import SpreadModel
from pspread.errors import ModelError

#: residual threshold of the first round, per unit of out-degree and of seed mass.
#: (1e-3 with ``stable_rounds=1`` made ba100k 2.4x faster, but that pair lost
#: recall on a 2-D grid, so the stability stop is off by default and 1e-4 stays)
FIRST_EPS = 1e-4
#: the threshold falls by this factor from one round to the next
EPS_STEP = 4.0
#: below this threshold (relative to the seed mass) rounding dominates: stop
MIN_EPS = 1e-15
#: ``stable_rounds`` stops only once the unplaced mass (Σ res, a share of the
#: seeds') is at most this: a set that stays put while most mass is still in
#: flight proves little
STABLE_MASS = 0.5


class PushKernel(Kernel):
    name = "push"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1) -> None:
        reason = model.push_refusal()
        if reason:
            raise ModelError(
                f"the push kernel cannot run this model: {reason}. It computes the fixed point of "
                "personalised-PageRank-like models (threshold=0, suppress=0, inhibition=0, retention=0, "
                "restart>0, decay>0); use kernel dense, frontier or auto"
            )
        super().__init__(graph, model, threads)
        n = graph.num_nodes
        self.alpha = 1.0 - float(model.decay)
        self.scale = float(model.restart) / float(model.decay)  # a* = (β/δ) · est
        self._graph = (np.asarray(graph.indptr), np.asarray(graph.indices), np.asarray(graph.p_data),
                       np.asarray(graph.sink_mask))
        d = np.asarray(graph.out_weight, dtype=np.float64)
        unit = np.where(d > 0, d, 1.0)
        self._est = np.zeros(n, dtype=np.float64)
        self._res = np.zeros((n, 2), dtype=np.float64)
        self._res[:, 1] = unit
        self._flags = np.zeros(n, dtype=np.uint8)
        ids = graph.indices.dtype
        self._touched = np.zeros(n, dtype=ids)
        self._queue = np.zeros(n, dtype=ids)
        self._out_nodes = np.zeros(n, dtype=np.int64)
        self._out_vals = np.zeros(n, dtype=np.float32)
        div = rank_divisor(d, model.degree_penalty)
        self._use_div = div is not None
        self._inv_div = (1.0 / div) if div is not None else np.ones(1)
        # bound for a node no residual reached, per unit of the total / of rho
        max_inv = float(self._inv_div.max()) if self._use_div else 1.0
        self._untouched_total = max_inv
        self._untouched_rho = float((unit * self._inv_div).max()) if (self._use_div and n) else float(
            unit.max(initial=0.0))
        # per-node bounds hold on undirected graphs (P symmetric up to degrees)
        self._undirected = not graph.directed
        #: arcs followed by the last query (work, shown by ``bench``)
        self.last_arcs = 0
        #: arc budget past which ``_run`` gives a query up (auto sets it; -1: none)
        self.budget_arcs = -1
        if n:  # compile (or load from numba's cache) for these array types now, on a tiny budget
            self.budget_arcs = 0
            if self._run(SeedSet(np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.float32))) is None:
                self.take_state()
            self.budget_arcs = -1

    def spread(self, seeds: SeedSet) -> Activation:
        act = self._run(seeds)
        assert act is not None  # no give-up without a budget
        return act

    def spread_batch(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        return [self.spread(s) for s in seeds]

    # ------------------------------------------------------------------
    def _run(self, seeds: SeedSet) -> Activation | None:
        """One query; None when it went past ``budget_arcs`` (state kept for ``take_state``)."""
        m = self.model
        indptr, indices, p, sink = self._graph
        vals = seeds.values.astype(np.float64)
        mass = float(vals.sum())
        share = vals / mass
        nodes = seeds.nodes.astype(np.int64)
        n_touched = jit.push_start(nodes, vals, m.exclude_seeds, self._res, self._flags, self._touched)
        # per-node bounds need symmetry; a sink seed sends its mass to the seeds, breaking it
        per_node = self._undirected and not bool(np.any(self._graph[3][nodes]))
        target = m.tolerance * self.alpha / (1.0 - self.alpha) if self.alpha < 1.0 else 0.0
        k = max(1, int(self.answer_k))
        eps = FIRST_EPS * mass
        arcs = 0
        rounds = 0
        converged = False
        previous: np.ndarray | None = None
        same = 0
        while True:
            budget = self.budget_arcs - arcs if self.budget_arcs >= 0 else -1
            n_touched, done_arcs, finished = jit.push_round(
                indptr, indices, p, sink, nodes, share, self.alpha, m.sinks == "restart", eps,
                self._est, self._res, self._flags, self._touched, n_touched, self._queue, budget)
            arcs += done_arcs
            rounds += 1
            if not finished:
                self._pending = (n_touched, rounds, arcs)
                self.last_arcs = arcs
                return None
            total, rho = jit.residuals(self._res, self._touched, n_touched)
            bound = self.scale * total
            if bound <= target:
                converged = True
                break
            if m.stop == "topk" and self._certified(n_touched, k, total, rho, per_node):
                break
            if m.stop == "topk" and m.stable_rounds > 0:
                current = np.sort(jit.top_set(self._est, self._flags, self._touched, n_touched, k,
                                              self._inv_div, self._use_div))
                same = same + 1 if previous is not None and np.array_equal(current, previous) else 0
                previous = current
                if same >= m.stable_rounds and total <= STABLE_MASS * mass:
                    break
            if eps < MIN_EPS * mass:
                break
            eps /= EPS_STEP
        self.last_arcs = arcs
        count = jit.collect_and_reset(self._est, self._res, self._flags, self._touched, n_touched, self.scale,
                                      self._out_nodes, self._out_vals)
        return Activation(self._out_nodes[:count].copy(), self._out_vals[:count].copy(), rounds, converged,
                          int(n_touched), error_bound=bound)

    def _certified(self, n_touched: int, k: int, total: float, rho: float, per_node: bool) -> bool:
        """True when no node outside the top-k can beat one inside by more than max(ε, τ·L).

        L is the k-th score's lower bound (the estimate); τ = ``tie_tolerance``.
        """
        lower, upper, size = jit.certify(self._est, self._res, self._flags, self._touched, n_touched, k,
                                         self._inv_div, self._use_div, per_node, total, rho)
        if n_touched < self.graph.num_nodes:  # nodes never reached: estimate 0, same bound
            upper = max(upper, rho * self._untouched_rho if per_node else total * self._untouched_total)
        if size < k and upper == 0.0:  # every node that can have activation is in the answer
            return True
        allowed = max(self.model.tolerance, self.model.tie_tolerance * lower * self.scale)
        return (upper - lower) * self.scale <= allowed

    def take_state(self) -> tuple[np.ndarray, int, int]:
        """After a give-up: a warm start for a step kernel (n-vector), rounds done, nodes touched; resets the pool."""
        n_touched, rounds, _ = self._pending
        out = np.zeros(self.graph.num_nodes, dtype=np.float32)
        jit.state_and_reset(self._est, self._res, self._flags, self._touched, n_touched, self.scale, out)
        return out, rounds, int(n_touched)

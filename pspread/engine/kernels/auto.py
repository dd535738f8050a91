"""The auto kernel: push, frontier or dense, chosen from the model and, per query, from the work.

Under ``stop: topk`` (the ``ppr`` preset's default), for the models the push
kernel computes (personalised PageRank and its rescalings, see
``PushKernel``) every query starts on push with a work budget
of ``PUSH_BUDGET_SHARE`` x the graph's arcs; a query that runs past it (a
fast-mixing graph, where push would touch most of the graph many times) is
finished by dense steps, warm-started from the state push reached.  Under
``stop: topk`` a model push cannot run goes straight to dense steps with the
top-k stop.  Every other model, and every model under ``stop: converged``,
takes the frontier-then-dense path below, which computes exactly the
reference's T-step answer (push computes the fixed point instead).

This is the direction-optimising switch of breadth-first search applied to
spreading: following the out-arcs of a few firing nodes (a scatter) is cheap
while they are few, but once a step's firing nodes own a large share of all
arcs, one streaming pull over the whole in-edge CSR is cheaper than scattering
along most of them.  The frontier kernel hands its state over mid-query and the
dense kernel finishes the remaining steps.

In a batch, once one query has needed the dense kernel the rest of the batch
goes to the dense kernel directly (as one block product): queries of one batch
share a model, so they tend to spread alike.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pspread.engine._topk import rank_divisor
from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.kernels.dense import DenseKernel
from pspread.engine.kernels.frontier import FrontierKernel
from pspread.engine.kernels.push import PushKernel
from pspread.engine.kernels.stepstop import iterate_topk
from pspread.engine.model import SpreadModel

#: hand over to the dense kernel when one step's firing nodes own more than
#: this share of all arcs.  A scattered arc costs several times a pulled one,
#: but a thresholded spread often widens for a step and then thins out again,
#: and once handed over every remaining step pays for all arcs.  Measured on
#: BA graphs of 10k and 100k nodes: 0.3 matches the frontier kernel on the
#: threshold preset (0.1 was 2.6x slower at 10k) and the dense one on ppr.
SWITCH_SHARE = 0.30

#: arcs a push query may follow, as a share of the graph's arcs, before dense
#: steps finish it.  Measured on ba100k (ppr, 20 queries, budgets 0.05-1000):
#: below 0.3 every query went to dense (~110-125 ms each); 0.3-0.5 handed over
#: 6 of 20 (the near-tied ones) and was best on the mean; 2 and more kept the
#: slow queries on push and doubled the mean.  On ws265k no query reaches it.
PUSH_BUDGET_SHARE = 0.5


class AutoKernel(Kernel):
    name = "auto"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1) -> None:
        super().__init__(graph, model, threads)
        self.push: PushKernel | None = None
        self.frontier: FrontierKernel | None = None
        if model.stop == "topk" and not model.push_refusal():
            self.push = PushKernel(graph, model, threads)
            self.push.budget_arcs = max(1, int(PUSH_BUDGET_SHARE * graph.num_arcs))
        elif model.stop != "topk":
            self.frontier = FrontierKernel(graph, model, threads)
            self.frontier.switch_arcs = max(1, int(SWITCH_SHARE * graph.num_arcs))
        self._dense: DenseKernel | None = None
        div = rank_divisor(graph.out_weight, model.degree_penalty)
        self._inv_div = None if div is None else 1.0 / div
        #: how many queries the dense kernel finished (shown by ``bench kernels``)
        self.handoffs = 0

    @property
    def dense(self) -> DenseKernel:
        if self._dense is None:  # built on first need: small-frontier workloads never pay for it
            self._dense = DenseKernel(self.graph, self.model, self.threads)
        return self._dense

    def spread(self, seeds: SeedSet) -> Activation:
        if self.push is not None:
            return self._spread_push(seeds)
        if self.frontier is None:  # stop: topk on a model push cannot run
            start = np.zeros(self.graph.num_nodes, dtype=np.float32)
            start[seeds.nodes] = seeds.values
            self.handoffs += 1
            return iterate_topk(self.dense, seeds, start, max(1, int(self.answer_k)), self._inv_div)
        act = self.frontier._run(seeds)
        if act is not None:
            return act
        self.handoffs += 1
        vector, steps, touched = self.frontier.take_state()
        s = np.zeros((self.graph.num_nodes, 1), dtype=np.float32)
        s[seeds.nodes, 0] = seeds.values
        mask = np.zeros((self.graph.num_nodes, 1), dtype=bool)
        mask[vector > 0, 0] = True
        result = self.dense.iterate(vector.reshape(-1, 1), s, self.model.max_steps, steps_done=steps, touched=mask)[0]
        result.touched = max(result.touched, touched)
        return result

    def _spread_push(self, seeds: SeedSet) -> Activation:
        assert self.push is not None
        self.push.answer_k = self.answer_k
        act = self.push._run(seeds)
        if act is not None:
            return act
        self.handoffs += 1
        start, _, touched = self.push.take_state()
        if self.model.stop == "topk":
            return iterate_topk(self.dense, seeds, start, max(1, int(self.answer_k)), self._inv_div,
                                touched=touched)
        s = np.zeros((self.graph.num_nodes, 1), dtype=np.float32)
        s[seeds.nodes, 0] = seeds.values
        result = self.dense.iterate(start.reshape(-1, 1), s, self.model.max_steps)[0]
        result.touched = max(result.touched, touched)
        return result

    def spread_batch(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        if self.frontier is None:
            return [self.spread(s) for s in seeds]
        out: list[Activation] = []
        for k, ss in enumerate(seeds):
            before = self.handoffs
            out.append(self.spread(ss))
            if self.handoffs > before and k + 1 < len(seeds):
                self.handoffs += len(seeds) - k - 1
                out.extend(self.dense.spread_batch(seeds[k + 1:]))
                break
        return out

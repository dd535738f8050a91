"""The auto kernel: frontier while the frontier is small, dense once it is not.

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

from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.kernels.dense import DenseKernel
from pspread.engine.kernels.frontier import FrontierKernel
from pspread.engine.model import SpreadModel

#: hand over to the dense kernel when one step's firing nodes own more than
#: this share of all arcs.  A scattered arc costs several times a pulled one,
#: but a thresholded spread often widens for a step and then thins out again,
#: and once handed over every remaining step pays for all arcs.  Measured on
#: BA graphs of 10k and 100k nodes: 0.3 matches the frontier kernel on the
#: threshold preset (0.1 was 2.6x slower at 10k) and the dense one on ppr.
SWITCH_SHARE = 0.30


class AutoKernel(Kernel):
    name = "auto"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1) -> None:
        super().__init__(graph, model, threads)
        self.frontier = FrontierKernel(graph, model, threads)
        self.frontier.switch_arcs = max(1, int(SWITCH_SHARE * graph.num_arcs))
        self._dense: DenseKernel | None = None
        #: how many queries the dense kernel finished (shown by ``bench kernels``)
        self.handoffs = 0

    @property
    def dense(self) -> DenseKernel:
        if self._dense is None:  # built on first need: small-frontier workloads never pay for it
            self._dense = DenseKernel(self.graph, self.model, self.threads)
        return self._dense

    def spread(self, seeds: SeedSet) -> Activation:
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

    def spread_batch(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        out: list[Activation] = []
        for k, ss in enumerate(seeds):
            before = self.handoffs
            out.append(self.spread(ss))
            if self.handoffs > before and k + 1 < len(seeds):
                self.handoffs += len(seeds) - k - 1
                out.extend(self.dense.spread_batch(seeds[k + 1:]))
                break
        return out

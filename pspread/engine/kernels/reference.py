"""The reference kernel: the spreading rule in plain Python, node by node.

It is deliberately naive -- float64, Python loops, no numpy in the update -- so
it can be read against the rule in docs/architecture.md line by line.  It is the correctness oracle
every other kernel is tested against and the "sequential, no vectorisation"
baseline that speedups are measured from.  Do not optimise it.
"""

from __future__ import annotations

import numpy as np

from pspread.engine.kernels.base import Activation, Kernel, SeedSet


class ReferenceKernel(Kernel):
    name = "reference"

    def __init__(self, graph, model, threads: int = 1) -> None:  # type: ignore[no-untyped-def]
        super().__init__(graph, model, threads)
        g = graph
        indptr = g.indptr.tolist()
        idx = g.indices.tolist()
        p = g.p_data.astype(np.float64).tolist()
        self._out = [
            [(idx[k], p[k]) for k in range(indptr[i], indptr[i + 1])] for i in range(g.num_nodes)
        ]
        self._sink = g.sink_mask.tolist()
        #: smallest |activation - θ| and |b - σ| in the last spread, and smallest
        #: |L1 change - ε|: how close the run came to a knife-edge decision (fire or
        #: not, suppress or not, stop or go on), where float32 kernels may rightly differ
        self.last_margin = float("inf")
        self.last_change_margin = float("inf")

    def spread(self, seeds: SeedSet) -> Activation:
        m = self.model
        n = self.graph.num_nodes
        s = [0.0] * n
        for node, val in zip(seeds.nodes.tolist(), seeds.values.tolist()):
            s[node] = float(val)
        s_total = sum(s)
        a = list(s)
        touched = {i for i in range(n) if a[i] != 0.0}
        margin = change_margin = float("inf")
        steps, converged = 0, False
        for _ in range(m.max_steps):
            # firing nodes
            f = [0.0] * n
            for i in range(n):
                if m.threshold > 0:
                    margin = min(margin, abs(a[i] - m.threshold) if a[i] > 0 else margin)
                if a[i] >= m.threshold:
                    f[i] = a[i]
            # retain r, spread 1-r; sinks keep all (or restart to the seeds)
            b = [0.0] * n
            dangling = 0.0
            for i in range(n):
                b[i] += a[i] - f[i]  # non-firing nodes stay
                if self._sink[i]:
                    if m.sinks == "keep":
                        b[i] += f[i]
                    else:
                        b[i] += m.retention * f[i]
                        dangling += (1.0 - m.retention) * f[i]
                    continue
                b[i] += m.retention * f[i]
                out = (1.0 - m.retention) * f[i]
                for j, pij in self._out[i]:
                    b[j] += pij * out
            if dangling and s_total > 0:
                for i in range(n):
                    b[i] += dangling * s[i] / s_total
            # decay and restart
            for i in range(n):
                b[i] = (1.0 - m.decay) * b[i] + m.restart * s[i]
            # lateral inhibition by the mean of the out-neighbours
            if m.inhibition > 0:
                inhibited = list(b)
                for i in range(n):
                    nbrs = self._out[i]
                    if nbrs:
                        mean = sum(b[j] for j, _ in nbrs) / len(nbrs)
                        inhibited[i] = max(0.0, b[i] - m.inhibition * mean)
                b = inhibited
            # suppress
            new = [0.0] * n
            for i in range(n):
                if m.suppress > 0 and b[i] > 0:
                    margin = min(margin, abs(b[i] - m.suppress))
                new[i] = b[i] if b[i] >= m.suppress else 0.0
            change = sum(abs(new[i] - a[i]) for i in range(n))
            a = new
            change_margin = min(change_margin, abs(change - m.tolerance))
            steps += 1
            touched.update(i for i in range(n) if a[i] != 0.0)
            if change <= m.tolerance:
                converged = True
                break
        self.last_margin = margin
        self.last_change_margin = change_margin
        nodes = [i for i in range(n) if a[i] > 0]
        return Activation(
            np.asarray(nodes, dtype=np.int64), np.asarray([a[i] for i in nodes], dtype=np.float64),
            steps, converged, len(touched),
        )

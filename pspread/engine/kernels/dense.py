"""The dense kernel: whole-graph sparse products plus in-place element-wise steps.

Each step is one product ``P^T @ G`` over the in-edge CSR (a "pull": row j sums
what flows into j), where ``G`` holds the spreading mass of a block of B queries
side by side (n x B), so a batch of queries costs one pass over the edges per
step instead of B.  The element-wise parts run as in-place numpy operations on
buffers reused across steps.  (numexpr was measured here for the same two
expressions on float32 and was 3-6x slower than in-place numpy at every size
from 10^5 to 3x10^6 elements, on 1 and on 2 threads, so it is not used.)

One large query can use several cores: the product is split into row blocks run
on threads (scipy releases the GIL inside the product).  ``threads=1`` keeps a
worker of the multi-process executor on its own core.

The cost is O(arcs x steps) whatever the query touches: this is the kernel for
wide spreads (PageRank-like, θ = 0), not for thresholded local ones.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet, node_retention
from pspread.engine.model import SpreadModel

#: queries per block product.  Wider blocks stream the arcs fewer times, but an
#: n x B block must stay cache-sized: each arc reads one B-wide row at random.
#: Measured on BA graphs (10 steps, threshold preset): 32 single queries vs one
#: batch gained 2.1x at 10k nodes for B = 16 or 32, but at 100k nodes 1.95x
#: for B = 16 against 1.2x for B = 32 (a 12.8 MB block).
MAX_BLOCK = 16


class DenseKernel(Kernel):
    name = "dense"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1) -> None:
        super().__init__(graph, model, threads)
        n = graph.num_nodes
        in_indptr, in_indices, in_data = graph.transpose_csr
        self._blocks = _row_blocks(in_indptr, in_indices, in_data, n, self.threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="pspread-dense") if self.threads > 1 else None
        self._spread_share = (1.0 - node_retention(graph, model)).reshape(-1, 1)  # 1 - r_i
        self._restart_sinks = (
            graph.sink_mask.astype(np.float32).reshape(-1, 1) if model.sinks == "restart" else None
        )
        if model.inhibition > 0:
            deg = np.diff(graph.indptr)
            adj = sp.csr_array((np.ones(graph.num_arcs, np.float32), graph.indices, graph.indptr), shape=(n, n))
            inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0).astype(np.float32)
            self._mean_nbrs = sp.diags_array(inv) @ adj  # row i: mean over out-neighbours
            self._has_nbrs = (deg > 0).reshape(-1, 1)
        else:
            self._mean_nbrs = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    # ------------------------------------------------------------------
    def spread(self, seeds: SeedSet) -> Activation:
        return self.spread_batch([seeds])[0]

    def spread_batch(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        out: list[Activation] = []
        for lo in range(0, len(seeds), MAX_BLOCK):
            out.extend(self._spread_block(seeds[lo:lo + MAX_BLOCK]))
        return out

    def _pull(self, g: np.ndarray, out: np.ndarray) -> None:
        """out = P^T @ g, by row blocks on threads when there are several."""
        if self._pool is None:
            _product(self._blocks[0][1], g, out)
            return

        def work(block: tuple[int, sp.csr_array, int]) -> None:
            lo, mat, hi = block
            _product(mat, g, out[lo:hi])

        list(self._pool.map(work, self._blocks))

    def _spread_block(self, seeds: Sequence[SeedSet]) -> list[Activation]:
        n, B = self.graph.num_nodes, len(seeds)
        s = np.zeros((n, B), dtype=np.float32)
        for j, ss in enumerate(seeds):
            s[ss.nodes, j] = ss.values
        return self.iterate(s.copy(), s, self.model.max_steps)

    def iterate(self, a: np.ndarray, s: np.ndarray, max_steps: int, steps_done: int = 0,
                touched: np.ndarray | None = None) -> list[Activation]:
        """Apply up to ``max_steps - steps_done`` updates to the n x B block ``a``.

        The ``auto`` kernel enters here mid-query with the state the frontier
        kernel reached, so both kernels share one definition of a dense step.
        """
        m, B = self.model, a.shape[1]
        s_norm = s / s.sum(axis=0, keepdims=True)
        # with no suppression, inhibition or full decay a positive activation never
        # returns to 0, so "touched" is simply "positive at the end": no per-step pass
        track_touched = m.suppress > 0 or m.inhibition > 0 or m.decay >= 1.0
        touched = (a > 0) if touched is None else touched
        pulled, g, b = np.empty_like(a), np.empty_like(a), np.empty_like(a)
        fire = np.empty(a.shape, dtype=bool)
        keep_r = self._spread_share
        stay, boost = np.float32(1.0 - m.decay), np.float32(m.restart)
        done = np.zeros(B, dtype=bool)
        steps = np.full(B, steps_done, dtype=np.int64)
        for _ in range(max_steps - steps_done):
            # mass that spreads: g = (1 - r_i) a where a >= θ
            np.multiply(a, keep_r, out=g)
            if m.threshold > 0:
                np.less(a, np.float32(m.threshold), out=fire)
                g[fire] = 0
            self._pull(g, pulled)
            if self._restart_sinks is not None:
                dangling = (g * self._restart_sinks).sum(axis=0, keepdims=True)
                pulled += dangling * s_norm
            # b = (1 - δ)(a - g + P^T g) + β s
            np.subtract(a, g, out=b)
            b += pulled
            b *= stay
            if boost:
                b += boost * s
            if self._mean_nbrs is not None:
                mean = self._mean_nbrs @ b
                b = np.where(self._has_nbrs, np.maximum(b - np.float32(m.inhibition) * mean, 0), b)
            if m.suppress > 0:
                b[b < np.float32(m.suppress)] = 0
            steps[~done] += 1
            if m.tolerance > 0:
                # (with ε = 0 the L1 change is not computed: only an exact fixed point
                # would stop the run, and going on from one changes nothing)
                change = np.abs(b - a).sum(axis=0, dtype=np.float64)
                if done.any():  # queries that already converged keep their answer
                    b[:, done] = a[:, done]
                done |= change <= m.tolerance
            a, b = b, a
            if track_touched:
                touched |= a > 0
            if done.all():
                break
        if not track_touched:
            touched |= a > 0
        results = []
        for j in range(B):
            col = np.ascontiguousarray(a[:, j])
            nodes = np.flatnonzero(col)
            results.append(Activation(nodes, col[nodes], int(steps[j]), bool(done[j]), int(touched[:, j].sum())))
        return results


def _product(mat: sp.csr_array, g: np.ndarray, out: np.ndarray) -> None:
    """out = mat @ g; one column goes through scipy's vector product, which is
    faster than its multi-vector one."""
    if g.shape[1] == 1:
        out[:, 0] = mat @ g[:, 0]
    else:
        out[:] = mat @ g


def _row_blocks(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int, parts: int
) -> list[tuple[int, sp.csr_array, int]]:
    """Split a CSR matrix into ``parts`` row blocks of about equal arc counts.

    The blocks are views on the same indices/data (only the small indptr is
    rebased), so threading costs no copy of the graph.
    """
    m = int(indptr[-1])
    cuts = [0] + [int(np.searchsorted(indptr, m * k // parts)) for k in range(1, parts)] + [n]
    cuts = sorted(set(min(max(c, 0), n) for c in cuts))
    idx_dtype = np.int32 if m <= np.iinfo(np.int32).max else np.int64
    blocks = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        a0, a1 = int(indptr[lo]), int(indptr[hi])
        local_ptr = (np.asarray(indptr[lo:hi + 1]) - a0).astype(idx_dtype)
        mat = sp.csr_array(
            (data[a0:a1], indices[a0:a1].astype(idx_dtype, copy=False), local_ptr), shape=(hi - lo, n), copy=False
        )
        blocks.append((lo, mat, hi))
    if not blocks:
        blocks.append((0, sp.csr_array((n, n), dtype=np.float32), n))
    return blocks

"""The dense kernel: whole-graph sparse products plus in-place element-wise steps.

Each step is one product ``P^T @ G`` over the in-edge CSR (a "pull": row j sums
what flows into j), where ``G`` holds the spreading mass of a block of B queries
side by side (n x B), so a batch of queries costs one pass over the edges per
step instead of B.  The element-wise half of a step (threshold, retention,
decay, restart, suppression) runs on buffers reused across steps, either as
in-place numpy operations or as fused numexpr expressions (``ElementwiseStep``).
numexpr makes one pass where numpy makes several, but its interpreter costs
more per element than numpy's SIMD loops, so it only pays once the block is out
of cache: ``auto`` takes it for blocks of ``NUMEXPR_MIN_ELEMENTS`` or more
(figures in docs/bundles.md; ``pspread bench kernels`` measures both paths).

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
from pspread.errors import ModelError

#: queries per block product.  Wider blocks stream the arcs fewer times, but an
#: n x B block must stay cache-sized: each arc reads one B-wide row at random.
#: Measured on BA graphs (10 steps, threshold preset): 32 single queries vs one
#: batch gained 2.1x at 10k nodes for B = 16 or 32, but at 100k nodes 1.95x
#: for B = 16 against 1.2x for B = 32 (a 12.8 MB block).
MAX_BLOCK = 16

ELEMENTWISE_PATHS = ("auto", "numpy", "numexpr")
#: blocks of at least this many elements take numexpr.  Measured (bench_elementwise,
#: threshold preset, shared 2-core machine): numpy wins at 10^5 (0.64 vs 1.16 ms on
#: 2 threads) and 10^6 (9.4 vs 10.9 ms), numexpr at 4x10^6 (32.8 vs 36.3 ms on
#: 2 threads, 35.1 vs 36.4 on 1): once the block is far out of cache, one fused
#: pass beats several SIMD ones.
NUMEXPR_MIN_ELEMENTS = 4_000_000


class DenseKernel(Kernel):
    name = "dense"

    def __init__(self, graph: Graph, model: SpreadModel, threads: int = 1, elementwise: str = "auto") -> None:
        super().__init__(graph, model, threads)
        if elementwise not in ELEMENTWISE_PATHS:
            raise ModelError(f"elementwise must be one of {', '.join(ELEMENTWISE_PATHS)}, got {elementwise!r}")
        #: "auto" (by block size and threads), "numpy" or "numexpr"
        self.elementwise = elementwise
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

    def elementwise_path(self, elements: int) -> str:
        """"numpy" or "numexpr" for a block of ``elements`` (see ``NUMEXPR_MIN_ELEMENTS``)."""
        if self.elementwise != "auto":
            return self.elementwise
        return "numexpr" if elements >= NUMEXPR_MIN_ELEMENTS else "numpy"

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
        step = ElementwiseStep(self.elementwise_path(a.size), a, s, self._spread_share, m, self.threads)
        done = np.zeros(B, dtype=bool)
        steps = np.full(B, steps_done, dtype=np.int64)
        for _ in range(max_steps - steps_done):
            step.spreading_mass(a, g)  # g = (1 - r_i) a where a >= θ
            self._pull(g, pulled)
            if self._restart_sinks is not None:
                dangling = (g * self._restart_sinks).sum(axis=0, keepdims=True)
                pulled += dangling * s_norm
            # b = (1 - δ)(a - g + P^T g) + β s, then σ unless inhibition comes first
            step.update(a, g, pulled, b, suppress=self._mean_nbrs is None)
            if self._mean_nbrs is not None:
                mean = self._mean_nbrs @ b
                b = np.where(self._has_nbrs, np.maximum(b - np.float32(m.inhibition) * mean, 0), b)
            if self._mean_nbrs is not None and m.suppress > 0:
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


class ElementwiseStep:
    """The element-wise half of a dense step, on numpy or on numexpr.

    numpy runs each operation as its own pass over the n x B block (the threshold
    alone is three: multiply, compare, masked store); numexpr evaluates each
    expression in one pass, block by block in cache, on ``threads`` threads.
    Both compute the same float32 values (numexpr is given float32 constants, so
    nothing is widened): the same products and sums in the same order.
    """

    def __init__(self, path: str, a: np.ndarray, s: np.ndarray, spread_share: np.ndarray, model: SpreadModel,
                 threads: int = 1) -> None:
        self.path = path
        self.threads = threads
        f32 = np.float32
        self._theta, self._sigma = f32(model.threshold), f32(model.suppress)
        self._stay, self._boost = f32(1.0 - model.decay), f32(model.restart)
        self._keep = spread_share
        self._s = s
        if path == "numexpr":
            fire = "where(a >= theta, a * keep, zero)" if model.threshold > 0 else "a * keep"
            upd = "(a - g + pulled) * stay" + (" + boost * s" if model.restart else "")
            self._fire_expr, self._update_expr = fire, upd
            # every operand flat and of one length: numexpr then streams whole
            # blocks, where an n x 1 (or n x B with an n x 1 operand to broadcast)
            # array makes it step a few elements at a time (measured 2-3x slower)
            keep = np.ascontiguousarray(np.broadcast_to(spread_share, a.shape), dtype=np.float32)
            self._consts = {"theta": self._theta, "sigma": self._sigma, "stay": self._stay, "boost": self._boost,
                            "zero": f32(0.0), "keep": _flat(keep), "s": _flat(np.ascontiguousarray(s))}
        else:
            self._fire = np.empty(a.shape, dtype=bool)

    def spreading_mass(self, a: np.ndarray, g: np.ndarray) -> None:
        """g = (1 - r_i) a where a >= θ, else 0."""
        if self.path == "numexpr":
            _ne_eval(self._fire_expr, {**self._consts, "a": _flat(a)}, _flat(g), self.threads)
            return
        np.multiply(a, self._keep, out=g)
        if self._theta > 0:
            np.less(a, self._theta, out=self._fire)
            g[self._fire] = 0

    def update(self, a: np.ndarray, g: np.ndarray, pulled: np.ndarray, b: np.ndarray, suppress: bool) -> None:
        """b = (1 - δ)(a - g + pulled) + β s; then b = 0 where b < σ (when ``suppress``)."""
        if self.path == "numexpr":
            out = _flat(b)
            _ne_eval(self._update_expr, {**self._consts, "a": _flat(a), "g": _flat(g), "pulled": _flat(pulled)}, out,
                     self.threads)
            if suppress and self._sigma > 0:
                _ne_eval("where(b >= sigma, b, zero)", {**self._consts, "b": out}, out, self.threads)
            return
        np.subtract(a, g, out=b)
        b += pulled
        b *= self._stay
        if self._boost:
            b += self._boost * self._s
        if suppress and self._sigma > 0:
            b[b < self._sigma] = 0


def _flat(x: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous block (never a copy: results are written through it)."""
    if not x.flags.c_contiguous:
        raise ValueError("element-wise block is not C-contiguous")  # pragma: no cover - the kernel's own buffers
    return x.reshape(-1)


def _ne_eval(expr: str, names: dict[str, object], out: np.ndarray, threads: int) -> None:
    """numexpr.evaluate into ``out`` on ``threads`` threads.

    numexpr's thread count is one setting for the whole process, so it is set
    for each call and put back after: a kernel never leaves its setting behind
    for other numexpr users (two kernels evaluating at the same moment in one
    process may run on each other's count; the values are the same either way).
    """
    import numexpr

    before = numexpr.set_num_threads(threads)
    try:
        numexpr.evaluate(expr, local_dict=names, out=out, casting="no")
    finally:
        if before != threads:
            numexpr.set_num_threads(before)


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

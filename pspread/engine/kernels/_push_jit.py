"""The compiled loops of the push kernel (numba).

Forward push (Andersen, Chung and Lang 2006; the first phase of FORA) keeps an
estimate ``est`` and a residual ``res`` with the invariant

    a* = (β/δ) · (est + δ (I − α A)⁻¹ res),        α = 1 − δ,

where ``A`` is the column-stochastic spread operator (``A e_u`` is row u of P;
for a sink, ``s / Σs`` with ``sinks: restart`` or ``e_u`` with ``sinks: keep``).
Pushing u moves ``δ·res_u`` into ``est_u`` and spreads ``α·res_u`` along
``A e_u``.  Every term stays nonnegative, so the L1 error of ``(β/δ)·est`` is
exactly ``(β/δ)·Σ res`` (docs/kernels.md has the derivation).

Layout, chosen for the one random access per arc that push cannot avoid:
``res`` is an (n, 2) float64 array whose row j holds the residual and the
node's push unit D_j (weighted out-degree, 1 for a sink), so the residual
update and the threshold test ``res_j >= eps·D_j`` touch one cache line.
Buffers are preallocated and reset sparsely (only the nodes a query touched).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

#: node ids and arc offsets (int32 or int64), float arrays (float32 or float64), the ``flags`` bytes
Ids = NDArray[np.integer[Any]]
Floats = NDArray[np.floating[Any]]
Flags = NDArray[np.uint8]
#: ``res``: row j is (residual, push unit D_j)
Residual = NDArray[np.float64]

INQ = 1  # in the push queue
SEEN = 2  # in the touched list
EXCL = 4  # not a candidate for the answer (an excluded seed)
TOP = 8  # in the current top-k (during ``certify`` only)


@njit(cache=True, nogil=True)
def push_start(  # pragma: no cover - compiled
    seed_nodes: Ids, seed_vals: Floats, exclude: bool, res: Residual, flags: Flags, touched: Ids,
) -> int:
    """Load the seeds as the initial residual; returns the number of touched nodes."""
    n = 0
    for k in range(seed_nodes.shape[0]):
        i = seed_nodes[k]
        res[i, 0] += seed_vals[k]
        if not flags[i] & SEEN:
            flags[i] |= SEEN
            touched[n] = i
            n += 1
        if exclude:
            flags[i] |= EXCL
    return n


@njit(cache=True, nogil=True)
def push_round(
    indptr: Ids, indices: Ids, p: Floats, sink: NDArray[np.bool_], seed_nodes: Ids, s_share: Floats, alpha: float,
    restart_sinks: bool, eps: float, est: NDArray[np.float64], res: Residual, flags: Flags, touched: Ids,
    n_touched: int, queue: Ids, budget: int,
) -> tuple[int, int, bool]:  # pragma: no cover - compiled
    """Push every node whose residual is >= eps x D until none is.

    Continues from the state earlier rounds left (a smaller ``eps`` refines
    it).  Stops early, with the state consistent, once more than ``budget``
    arcs were followed (budget < 0: no limit).  Returns (n_touched, arcs, done).
    """
    delta = 1.0 - alpha
    n_nodes = res.shape[0]
    head = 0
    tail = 0
    size = 0
    for k in range(n_touched):
        i = touched[k]
        if res[i, 0] > 0 and res[i, 0] >= eps * res[i, 1]:
            flags[i] |= INQ
            queue[tail] = i
            tail += 1
            size += 1
    if tail == n_nodes:
        tail = 0
    arcs = 0
    while size > 0:
        if budget >= 0 and arcs > budget:
            for q in range(size):  # leave no queue flag behind
                flags[queue[(head + q) % n_nodes]] &= ~INQ
            return n_touched, arcs, False
        u = queue[head]
        head += 1
        if head == n_nodes:
            head = 0
        size -= 1
        flags[u] &= ~INQ
        r = res[u, 0]
        res[u, 0] = 0.0
        if sink[u]:
            if not restart_sinks:  # a sink that keeps all: its residual is final as it stands
                est[u] += r
                continue
            est[u] += delta * r
            m = alpha * r
            for q in range(seed_nodes.shape[0]):
                j = seed_nodes[q]
                v = res[j, 0] + m * s_share[q]
                res[j, 0] = v
                if not flags[j] & INQ and v >= eps * res[j, 1]:
                    flags[j] |= INQ
                    queue[tail] = j
                    tail += 1
                    if tail == n_nodes:
                        tail = 0
                    size += 1
            arcs += 1
            continue
        est[u] += delta * r
        m = alpha * r
        lo = indptr[u]
        hi = indptr[u + 1]
        for e in range(lo, hi):
            j = indices[e]
            v = res[j, 0] + m * p[e]
            res[j, 0] = v
            f = flags[j]
            if not f & SEEN:
                f |= SEEN
                touched[n_touched] = j
                n_touched += 1
            if not f & INQ and v >= eps * res[j, 1]:
                f |= INQ
                queue[tail] = j
                tail += 1
                if tail == n_nodes:
                    tail = 0
                size += 1
            flags[j] = f
        arcs += hi - lo
    return n_touched, arcs, True


@njit(cache=True, nogil=True)
def residuals(res: Residual, touched: Ids, n_touched: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """(Σ res, max res_j / D_j) over the touched nodes."""
    total = 0.0
    rho = 0.0
    for k in range(n_touched):
        i = touched[k]
        r = res[i, 0]
        total += r
        if r > rho * res[i, 1]:
            rho = r / res[i, 1]
    return total, rho


@njit(cache=True, nogil=True)
def _top_heap(  # pragma: no cover - compiled
    est: NDArray[np.float64], flags: Flags, touched: Ids, n_touched: int, k: int, inv_div: Floats, use_div: bool,
    heap: NDArray[np.int64], hval: NDArray[np.float64],
) -> int:
    """Fill the min-heap (heap, hval) with the k best positive scores; returns how many."""
    size = 0
    for t in range(n_touched):
        i = touched[t]
        if flags[i] & EXCL:
            continue
        v = est[i] * inv_div[i] if use_div else est[i]
        if v <= 0:
            continue
        if size < k:
            j = size
            size += 1
            while j > 0:
                par = (j - 1) // 2
                if hval[par] > v:
                    heap[j] = heap[par]
                    hval[j] = hval[par]
                    j = par
                else:
                    break
            heap[j] = i
            hval[j] = v
        elif v > hval[0]:
            j = 0
            while True:
                c = 2 * j + 1
                if c >= size:
                    break
                if c + 1 < size and hval[c + 1] < hval[c]:
                    c += 1
                if hval[c] < v:
                    heap[j] = heap[c]
                    hval[j] = hval[c]
                    j = c
                else:
                    break
            heap[j] = i
            hval[j] = v
    return size


@njit(cache=True, nogil=True)
def certify(  # pragma: no cover - compiled
    est: NDArray[np.float64], res: Residual, flags: Flags, touched: Ids, n_touched: int, k: int, inv_div: Floats,
    use_div: bool, per_node: bool, total: float, rho: float,
) -> tuple[float, float, int]:
    """Lower score bound of the current top-k and upper bound of every other touched node.

    Score = est_i (x inv_div_i with a degree penalty).  A node's estimate is at
    most ``b_i`` below its true value: ``b_i = total`` (Σ res) in general, or
    ``rho·D_i`` when ``per_node`` (undirected graphs, see docs/kernels.md).
    Returns (lowest score in the top-k, highest upper bound outside it, size of
    the top-k found); the first is 0 when fewer than k nodes have a score.
    """
    heap = np.empty(k, dtype=np.int64)
    hval = np.empty(k, dtype=np.float64)
    size = _top_heap(est, flags, touched, n_touched, k, inv_div, use_div, heap, hval)
    lower = hval[0] if size == k else 0.0
    for t in range(size):
        flags[heap[t]] |= TOP
    upper = 0.0
    for t in range(n_touched):
        i = touched[t]
        f = flags[i]
        if f & (EXCL | TOP):
            continue
        b = rho * res[i, 1] if per_node else total
        v = est[i] + b
        if use_div:
            v *= inv_div[i]
        if v > upper:
            upper = v
    for t in range(size):
        flags[heap[t]] &= ~TOP
    return lower, upper, size


@njit(cache=True, nogil=True)
def top_set(  # pragma: no cover - compiled
    est: NDArray[np.float64], flags: Flags, touched: Ids, n_touched: int, k: int, inv_div: Floats, use_div: bool,
) -> NDArray[np.int64]:
    """The nodes of the current top-k by score (unordered; fewer when fewer have a score)."""
    heap = np.empty(k, dtype=np.int64)
    hval = np.empty(k, dtype=np.float64)
    size = _top_heap(est, flags, touched, n_touched, k, inv_div, use_div, heap, hval)
    top: NDArray[np.int64] = heap[:size].copy()
    return top


@njit(cache=True, nogil=True)
def collect_and_reset(  # pragma: no cover - compiled
    est: NDArray[np.float64], res: Residual, flags: Flags, touched: Ids, n_touched: int, scale: float,
    out_nodes: NDArray[np.int64], out_vals: Floats,
) -> int:
    """Copy the positive estimates (x ``scale``) out and zero the pool; returns how many."""
    m = 0
    for k in range(n_touched):
        i = touched[k]
        v = est[i] * scale
        if v > 0:
            out_nodes[m] = i
            out_vals[m] = v
            m += 1
        est[i] = 0.0
        res[i, 0] = 0.0
        flags[i] = 0
    return m


@njit(cache=True, nogil=True)
def state_and_reset(  # pragma: no cover - compiled
    est: NDArray[np.float64], res: Residual, flags: Flags, touched: Ids, n_touched: int, scale: float, out: Floats,
) -> None:
    """Write (est + res) x ``scale`` into the zeroed full vector ``out`` and zero the pool.

    The warm start a step kernel continues from when push hands a query over:
    it holds the same mass as the seeds and is within 2·scale·Σ res of the answer.
    """
    for k in range(n_touched):
        i = touched[k]
        out[i] = (est[i] + res[i, 0]) * scale
        est[i] = 0.0
        res[i, 0] = 0.0
        flags[i] = 0

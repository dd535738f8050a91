"""The compiled inner loop of the frontier kernel (numba).

Kept apart from ``frontier.py`` so the Python side stays readable and this file
holds only the loop that needs compiling.  The loop is the spreading rule (the
one ``reference.py`` spells out) restricted to the active set:

* ``active[:n_active]`` lists every node that holds (or held) activation;
* ``act`` is a full-length float32 buffer, zero outside the active set
  (arithmetic on it is done in float64);
* ``old`` holds the activations at the start of the step, aligned with ``active``.

Compiled with ``cache=True`` so worker processes load machine code from disk
instead of compiling again.
"""

from __future__ import annotations

from typing import Any, Callable, cast

import numpy as np
from llvmlite import binding as _llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.typing.templates import Signature
from numba.extending import intrinsic
from numpy.typing import NDArray

#: node ids and arc offsets (int32 or int64), and float arrays (float32 or float64)
Ids = NDArray[np.integer[Any]]
Floats = NDArray[np.floating[Any]]
Flags = NDArray[np.uint8]
Mask = NDArray[np.bool_]

#: how many firing nodes ahead the loop asks for their out-arc rows
PREFETCH_AHEAD = 4
_PREFETCH = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(  # pragma: no cover - compiled
    typingctx: Any, arr: types.Array, idx: types.Integer,
) -> tuple[Signature, Callable[..., Any]]:
    """Ask the CPU to start loading ``arr[idx]`` into cache (no fault, no result).

    The loop's cost is memory latency: each firing node's row sits somewhere in
    80 MB of arcs and each arc's target somewhere in the 4 MB activation buffer.
    A row is requested a few firing nodes before it is needed, and a row's
    targets before the row is scattered, so the misses overlap instead of
    following each other (measured 2x on random rows of a 1M-node graph).
    """
    sig = types.void(arr, idx)

    def codegen(context: Any, builder: Any, signature: Signature, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = _get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False,
                                       boundscheck=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = _get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _PREFETCH)
        # read, keep in all cache levels, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# cgutils has no annotations: name what these two return (an llvmlite pointer value and function)
_get_item_pointer = cast(Callable[..., Any], cgutils.get_item_pointer)
_get_or_insert_function = cast(Callable[..., Any], cgutils.get_or_insert_function)

#: ``prefetch(arr, idx)`` as compiled code calls it; the intrinsic object's own signature
#: starts with the typing context, and it cannot be called from Python at all
prefetch = cast(Callable[[NDArray[Any], int], None], _prefetch)

#: return codes of ``spread_one``
DONE = 0
HANDOFF = 1  # the frontier grew past ``switch_arcs``: continue on the dense kernel

#: bits of the per-node ``flags`` byte (one byte, so one cache miss per arc, not three)
SEEN = 1  # in the active list
MARK = 2  # visited this step (its old value is recorded)
CAND = 4  # may fire next step


@njit(cache=True, nogil=True)
def spread_one(
    indptr: Ids, indices: Ids, p: Floats, share: Floats, sink: Mask,  # graph: CSR, P_ij, 1 - r_i, sink mask
    seed_nodes: Ids, seed_vals: Floats, s_share: Floats,  # seeds, their activations, s / sum(s)
    theta: float, stay: float, beta: float, lam: float, sigma: float, tol: float, max_steps: int,
    restart_sinks: bool, switch_arcs: int,
    act: Floats, seen: Flags, active: Ids, old: Floats, scratch: Floats,  # the pool: zero on entry
) -> tuple[int, int, int, bool, int]:  # pragma: no cover - compiled
    """Run one query; returns (code, n_active, steps, converged, arcs)."""
    n_seeds = seed_nodes.shape[0]
    n_active = 0
    for k in range(n_seeds):
        i = seed_nodes[k]
        act[i] = seed_vals[k]
        seen[i] = True
        active[n_active] = i
        n_active += 1
    steps = 0
    arcs = 0
    converged = False
    for _ in range(max_steps):
        for k in range(n_active):
            old[k] = act[active[k]]
        n_start = n_active
        if switch_arcs >= 0:
            due = 0
            for k in range(n_start):
                if old[k] >= theta and old[k] > 0:
                    i = active[k]
                    due += indptr[i + 1] - indptr[i]
            if due > switch_arcs:
                return HANDOFF, n_active, steps, False, arcs
        # fire: retain r_i, spread 1 - r_i along the out-arcs; non-firing nodes stay
        dangling = 0.0
        for k in range(n_start):
            v = old[k]
            if v < theta or v <= 0:
                continue
            i = active[k]
            g = v * share[i]
            if g == 0:
                continue
            act[i] -= g
            if sink[i]:
                dangling += g
                continue
            for e in range(indptr[i], indptr[i + 1]):
                j = indices[e]
                act[j] += g * p[e]
                if not seen[j]:
                    seen[j] = True
                    active[n_active] = j
                    old[n_active] = 0.0
                    n_active += 1
            arcs += indptr[i + 1] - indptr[i]
        if restart_sinks and dangling > 0:
            for k in range(n_seeds):
                act[seed_nodes[k]] += dangling * s_share[k]
        # decay and restart
        for k in range(n_active):
            act[active[k]] *= stay
        if beta > 0:
            for k in range(n_seeds):
                act[seed_nodes[k]] += beta * seed_vals[k]
        # lateral inhibition: every b_k is read before any is changed
        if lam > 0:
            for k in range(n_active):
                i = active[k]
                deg = indptr[i + 1] - indptr[i]
                b = act[i]
                if deg > 0:
                    total = 0.0
                    for e in range(indptr[i], indptr[i + 1]):
                        total += act[indices[e]]
                    b = b - lam * total / deg
                    if b < 0:
                        b = 0.0
                scratch[k] = b
            for k in range(n_active):
                act[active[k]] = scratch[k]
        # suppress, and the L1 change
        change = 0.0
        for k in range(n_active):
            i = active[k]
            b = act[i]
            if b < sigma:
                b = 0.0
                act[i] = 0.0
            change += abs(b - old[k])
        steps += 1
        if change <= tol:
            converged = True
            break
    return DONE, n_active, steps, converged, arcs


@njit(cache=True, nogil=True)
def spread_lazy(
    indptr: Ids, indices: Ids, p: Floats, share: Floats, sink: Mask,
    seed_nodes: Ids, seed_vals: Floats, s_share: Floats,
    theta: float, stay: float, beta: float, tol: float, max_steps: int, restart_sinks: bool, switch_arcs: int,
    act: Floats, flags: Flags, active: Ids, cand: Ids, slist: Ids, sold: Floats, fire: Ids, fval: Floats,
    out_nodes: Ids, out_vals: Floats,
) -> tuple[int, int, int, bool, int, int]:  # pragma: no cover - compiled
    """Run one query without suppression or inhibition.

    Returns (code, n, steps, converged, arcs, touched).  DONE: the answer is
    already in ``out_nodes[:n]``/``out_vals[:n]`` and the pool is reset (one
    pass over the active set does both).  HANDOFF: n = touched and the state
    stays in the pool for the dense kernel.

    Decay is applied lazily: ``act`` stores activation / c, and multiplying the
    scale c by (1 - δ) decays every node at once.  Then only nodes that can
    change need visiting each step: a node whose activation only decays cannot
    start firing.  So the candidates of the next step are this step's firing
    nodes, the seeds (restart) and the nodes whose activation *crossed* θ while
    mass arrived (mass only arrives during the scatter, so the last arrival
    sees the final value).  On a thresholded query most reached nodes never
    cross θ and are touched exactly once, by the arc that reaches them.

    With a tolerance ε > 0 the L1 change is computed exactly: visited nodes are
    summed, and the rest changed by δ times their mass, which is the total mass
    M (conserved by spreading, scaled by decay, raised by restart) less the
    visited nodes' mass.  With ε = 0 only an exact fixed point stops a run:
    nothing fired, no decay, no restart -- checked without any bookkeeping.
    """
    n_seeds = seed_nodes.shape[0]
    track = tol > 0
    n_active = 0
    n_cand = 0
    s_total = 0.0
    for k in range(n_seeds):
        i = seed_nodes[k]
        act[i] = seed_vals[k]
        flags[i] |= SEEN | CAND
        active[n_active] = i
        n_active += 1
        cand[n_cand] = i
        n_cand += 1
        s_total += seed_vals[k]
    c = 1.0
    mass = s_total
    steps = 0
    arcs = 0
    converged = False
    for _ in range(max_steps):
        # which candidates fire (true activation = stored * c)
        n_fire = 0
        due = 0
        for k in range(n_cand):
            if k + 4 * PREFETCH_AHEAD < n_cand:
                prefetch(act, cand[k + 4 * PREFETCH_AHEAD])
                prefetch(flags, cand[k + 4 * PREFETCH_AHEAD])
            i = cand[k]
            flags[i] &= ~CAND
            v = act[i] * c
            if v >= theta and v > 0:
                fire[n_fire] = i
                fval[n_fire] = v
                n_fire += 1
                due += indptr[i + 1] - indptr[i]
        n_cand = 0
        if switch_arcs >= 0 and due > switch_arcs:
            for k in range(n_active):
                act[active[k]] *= c
            return HANDOFF, n_active, steps, False, arcs, n_active
        n_s = 0
        if track:
            for k in range(n_seeds):  # seeds: restart and dangling mass land here
                i = seed_nodes[k]
                flags[i] |= MARK
                slist[n_s] = i
                sold[n_s] = act[i] * c
                n_s += 1
        dangling = 0.0
        moved = False
        inv_c = 1.0 / c
        # stored value past which a node will fire next step (after this step's decay)
        cross = theta * inv_c / stay if stay > 0 else np.inf
        for f in range(n_fire):
            if f + 2 * PREFETCH_AHEAD < n_fire:
                prefetch(indptr, fire[f + 2 * PREFETCH_AHEAD])
            if f + PREFETCH_AHEAD < n_fire:
                ahead = fire[f + PREFETCH_AHEAD]
                prefetch(indices, indptr[ahead])
                prefetch(p, indptr[ahead])
                prefetch(share, ahead)
            i = fire[f]
            if track and not flags[i] & MARK:
                flags[i] |= MARK
                slist[n_s] = i
                sold[n_s] = fval[f]
                n_s += 1
            if not flags[i] & CAND:
                flags[i] |= CAND
                cand[n_cand] = i
                n_cand += 1
            g = fval[f] * share[i]
            if g == 0:
                continue
            moved = True
            act[i] -= g * inv_c
            if sink[i]:
                dangling += g
                continue
            gs = g * inv_c
            for e in range(indptr[i], indptr[i + 1]):
                prefetch(act, indices[e])
                prefetch(flags, indices[e])
            for e in range(indptr[i], indptr[i + 1]):
                j = indices[e]
                old = act[j]
                if track and not flags[j] & MARK:
                    flags[j] |= MARK
                    slist[n_s] = j
                    sold[n_s] = old * c
                    n_s += 1
                if old == 0 and not flags[j] & SEEN:
                    flags[j] |= SEEN
                    active[n_active] = j
                    n_active += 1
                new = old + gs * p[e]
                act[j] = new
                if new >= cross and not flags[j] & CAND:
                    flags[j] |= CAND
                    cand[n_cand] = j
                    n_cand += 1
            arcs += indptr[i + 1] - indptr[i]
        if restart_sinks and dangling > 0:
            for k in range(n_seeds):
                act[seed_nodes[k]] += dangling * s_share[k] * inv_c
        # decay everything at once, then restart the seeds
        c *= stay
        if c == 0.0:  # δ = 1: everything but the restart is gone
            for k in range(n_active):
                act[active[k]] = 0.0
            c = 1.0
        if beta > 0:
            for k in range(n_seeds):
                act[seed_nodes[k]] += beta * seed_vals[k] / c
        if beta > 0 or restart_sinks:
            for k in range(n_seeds):
                i = seed_nodes[k]
                if not flags[i] & CAND:
                    flags[i] |= CAND
                    cand[n_cand] = i
                    n_cand += 1
        if track:
            # exact L1 change: visited nodes, plus δ x the mass of the rest
            visited_old = 0.0
            change = 0.0
            for k in range(n_s):
                i = slist[k]
                flags[i] &= ~MARK
                visited_old += sold[k]
                change += abs(act[i] * c - sold[k])
            rest = mass - visited_old
            if rest > 0:
                change += (1.0 - stay) * rest
            mass = stay * mass + beta * s_total
        else:
            change = 0.0 if not moved and stay == 1.0 and beta == 0 else np.inf
        if c < 1e-30:  # keep the stored values finite in float32
            for k in range(n_active):
                act[active[k]] *= c
            c = 1.0
        steps += 1
        if change <= tol:
            converged = True
            break
    for k in range(n_cand):
        flags[cand[k]] &= ~CAND
    # collect the answer and reset the pool in the same pass over the active set
    m = collect_and_reset(act, flags, active, n_active, out_nodes, out_vals, c)
    return DONE, m, steps, converged, arcs, n_active


@njit(cache=True, nogil=True)
def collect_and_reset(  # pragma: no cover - compiled
    act: Floats, seen: Flags, active: Ids, n_active: int, out_nodes: Ids, out_vals: Floats, scale: float,
) -> int:
    """Copy the positive activations (stored value x ``scale``) out and zero the pool; returns how many."""
    m = 0
    for k in range(n_active):
        if k + 4 * PREFETCH_AHEAD < n_active:
            prefetch(act, active[k + 4 * PREFETCH_AHEAD])
            prefetch(seen, active[k + 4 * PREFETCH_AHEAD])
        i = active[k]
        v = act[i] * scale
        if v > 0:
            out_nodes[m] = i
            out_vals[m] = v
            m += 1
        act[i] = 0.0
        seen[i] = 0
    return m

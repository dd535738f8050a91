"""The compiled passes of bundle validation (numba).

Each pass reads its arrays once, front to back, and returns where the first
problem is, so a 20M-arc bundle is checked without building any arc-sized
temporary (a numpy version needs the expanded row index -- 80 MB -- and a sort
of 20M pairs for the transpose).  The
messages are written in ``bundle_check``; here only codes and positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

#: node ids and arc offsets (int32 or int64), and float arrays (float32 or float64)
Ids = NDArray[np.integer[Any]]
Floats = NDArray[np.floating[Any]]

OK = 0

#: codes of ``check_indptr``
PTR_START = 1  # indptr[0] != 0
PTR_DECREASES = 2  # indptr[k+1] < indptr[k]
PTR_END = 3  # indptr[n] != the arc count

#: codes of ``check_out``
ID_RANGE = 1  # indices[e] outside [0, n)
WEIGHT_BAD = 2  # weights[e] not finite or < 0
OUT_WEIGHT_BAD = 3  # out_weight[i] not finite or < 0
OUT_WEIGHT_SUM = 4  # out_weight[i] != sum of the row's weights
P_BAD = 5  # p_data[e] not finite or outside [0, 1]
P_RATIO = 6  # p_data[e] != weights[e] / out_weight[i]

#: codes of ``check_in``
IN_ID_RANGE = 1  # in_indices[c] outside [0, n)
IN_P_BAD = 2  # in_p_data[c] not finite or outside [0, 1]

#: relative tolerance of the derived-array checks: both sides are the same
#: float64 arithmetic, so only a float32 rounding step can separate them
REL_TOL = 1e-6


@njit(cache=True, nogil=True)
def check_indptr(indptr: Ids, m: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """(code, k): offsets start at 0, never decrease, end at ``m``."""
    n = indptr.shape[0] - 1
    if indptr[0] != 0:
        return PTR_START, 0
    for k in range(n):
        if indptr[k + 1] < indptr[k]:
            return PTR_DECREASES, k + 1
    if indptr[n] != m:
        return PTR_END, n
    return OK, -1


_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64's finaliser: a bijective, thoroughly nonlinear 64-bit mix."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


@njit(cache=True, nogil=True, inline="always")
def arc_hash(i: int, j: int, pbits: int) -> np.uint64:  # pragma: no cover - compiled
    """Hash of one arc i -> j with the bits of its float32 P_ij.

    ``i << 32 | j`` is exact for ids below 2**32; the P bits are spread by a
    multiply before the one nonlinear mix.
    """
    return _mix(((np.uint64(i) << np.uint64(32)) | np.uint64(j)) ^ (np.uint64(pbits) * _K1))


@njit(cache=True, nogil=True)
def check_out(  # pragma: no cover - compiled
    indptr: Ids, indices: Ids, weights: Floats, out_weight: Floats, p_data: Floats, p_bits: NDArray[np.uint32],
    n: int, with_derived: bool,
) -> tuple[int, int, np.uint64]:
    """(code, position, fingerprint) of the out-arc CSR and its derived arrays.

    ``indptr`` has been checked already.  Position is an arc for arc-level codes
    and a node for ``OUT_WEIGHT_*``; the fingerprint (see ``check_in``) is only
    meaningful with code OK.  ``p_data`` is compared as ``p * d`` against ``w``
    (a multiply, where the division costs several times more per arc).
    """
    inf = np.inf
    acc = np.uint64(0)
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        total = 0.0
        for e in range(lo, hi):
            j = indices[e]
            if j < 0 or j >= n:
                return ID_RANGE, e, acc
            w = weights[e]
            if not (w >= 0 and w < inf):
                return WEIGHT_BAD, e, acc
            total += w
        if not with_derived:
            continue
        d = out_weight[i]
        if not (d >= 0 and d < inf):
            return OUT_WEIGHT_BAD, i, acc
        if abs(total - d) > REL_TOL * max(total, d):
            return OUT_WEIGHT_SUM, i, acc
        for e in range(lo, hi):
            q = p_data[e]
            if not (q >= 0 and q <= 1.0):
                return P_BAD, e, acc
            w = weights[e]
            if abs(q * d - w) > REL_TOL * w + 1e-30 * d:
                return P_RATIO, e, acc
            acc += arc_hash(i, indices[e], p_bits[e])
    return OK, -1, acc


@njit(cache=True, nogil=True)
def check_in(
    in_indptr: Ids, in_indices: Ids, in_p: Floats, in_p_bits: NDArray[np.uint32],
) -> tuple[int, int, np.uint64]:  # pragma: no cover - compiled
    """(code, position, fingerprint) of the in-arc CSR: ids in range, P in [0, 1], and
    the sum of its arcs' hashes, which equals the out-arcs' sum exactly when both
    hold the same arcs with the same P_ij (a multiset hash: sequential on both
    sides, where a cursor walk from one CSR into the other costs a cache miss an
    arc -- measured 2.7 s against ~0.1 s on 20M arcs)."""
    n = in_indptr.shape[0] - 1
    acc = np.uint64(0)
    for j in range(n):
        for c in range(in_indptr[j], in_indptr[j + 1]):
            i = in_indices[c]
            if i < 0 or i >= n:
                return IN_ID_RANGE, c, acc
            q = in_p[c]
            if not (q >= 0 and q <= 1.0):
                return IN_P_BAD, c, acc
            acc += arc_hash(i, j, in_p_bits[c])
    return OK, -1, acc

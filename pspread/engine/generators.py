"""Synthetic graphs for benchmarks and tests, deterministic by seed and vectorised.

Benchmarks need graphs of a known shape at any size (uniform random, power-law,
small world, lattice) without waiting minutes for them, so every generator here
is a handful of numpy operations -- no Python loop over nodes or edges -- and a
1M-node / 10M-edge graph takes seconds.  The same ``seed`` gives the same graph
on every machine (numpy's ``Generator`` with PCG64).

All generators return undirected graphs (each edge two arcs) without self-loops
or parallel edges, except Erdos-Renyi with ``directed=True``.  Nodes are labelled
``n0``, ``n1``, ... (``PrefixLabels``), so text queries work on them.  With
``weights="uniform"`` every edge gets a weight drawn uniformly from (0, 1], the
same in both directions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pspread.engine.graph import Graph, csr_from_arcs, index_dtype
from pspread.engine.memory import require_memory
from pspread.errors import GraphError

KINDS = ("erdos-renyi", "barabasi-albert", "watts-strogatz", "grid")
_ALIASES = {"er": "erdos-renyi", "ba": "barabasi-albert", "ws": "watts-strogatz", "grid-2d": "grid", "lattice": "grid"}
WEIGHT_KINDS = ("uniform",)


# ----------------------------------------------------------------- helpers
def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise GraphError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise GraphError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_weights(weights: str | None) -> str | None:
    if weights is None or weights == "none":
        return None
    if weights not in WEIGHT_KINDS:
        raise GraphError(f"weights must be one of {', '.join(WEIGHT_KINDS)} (or omitted), got {weights!r}")
    return weights


def _unique_edges(lo: np.ndarray, hi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct edges, self-loops removed (a CSR counting sort, linear time)."""
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    indptr, indices, _ = csr_from_arcs(lo, hi, np.ones(len(lo), dtype=np.float32), n)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    return rows, indices.astype(np.int64)


def _build(
    src: np.ndarray, dst: np.ndarray, n: int, rng: np.random.Generator, weights: str | None,
    directed: bool, source: str,
) -> Graph:
    """Drop loops and duplicates, draw weights, and build the Graph."""
    if weights is None:  # one CSR pass: duplicates merge, then every arc weighs 1 again
        keep = src != dst
        idx = index_dtype(n)  # int32 halves the peak memory of the doubled arc arrays
        src, dst = src[keep].astype(idx), dst[keep].astype(idx)
        del keep
        if not directed:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        indptr, indices, data = csr_from_arcs(src, dst, np.ones(len(src), dtype=np.float32), n)
        data[:] = 1.0
        return Graph(indptr, indices, data, directed=directed, source=source, validate=False)
    if directed:
        src, dst = _unique_edges(src, dst, n)
    else:
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        src, dst = _unique_edges(lo, hi, n)
    w = None
    if weights == "uniform":
        w = (1.0 - rng.random(len(src), dtype=np.float64)).astype(np.float32)  # (0, 1]
    return Graph.from_edges(src, dst, w, num_nodes=n, directed=directed, source=source)


def _suffix(seed: int | None, weights: str | None) -> str:
    parts = [f"seed={seed}"]
    if weights:
        parts.append(f"weights={weights}")
    return ", ".join(parts)


# -------------------------------------------------------------- generators
def erdos_renyi(
    n: int, avg_degree: float | None = None, p: float | None = None, seed: int | None = 0,
    directed: bool = False, weights: str | None = None,
) -> Graph:
    """Uniform random graph G(n, m) with m drawn as in G(n, p).

    Give either ``avg_degree`` (mean number of neighbours; out-neighbours when
    directed) or the edge probability ``p``.  Edges are sampled as random pairs
    and duplicates redrawn, which is exact G(n, m) and linear in m -- unlike the
    O(n^2) coin-flip definition.
    """
    n = _check_int("nodes", n, 1)
    weights = _check_weights(weights)
    if (avg_degree is None) == (p is None):
        raise GraphError("erdos-renyi needs exactly one of degree (average degree) or p (edge probability)")
    pairs = n * (n - 1) if directed else n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    if p is not None:
        if not 0.0 <= float(p) <= 1.0:
            raise GraphError(f"p must lie in [0, 1], got {p}")
        m = int(rng.binomial(pairs, float(p))) if pairs else 0
    else:
        d = float(avg_degree)  # type: ignore[arg-type]
        if not np.isfinite(d) or d < 0 or d > n - 1:
            raise GraphError(f"degree must lie in [0, nodes-1] = [0, {n - 1}], got {avg_degree}")
        m = int(round(n * d if directed else n * d / 2))
    m = min(m, pairs)
    src = np.empty(0, dtype=np.int64)
    dst = np.empty(0, dtype=np.int64)
    for _ in range(64):  # each round redraws only the shortfall; a few rounds suffice
        need = m - len(src)
        if need <= 0:
            break
        u = rng.integers(0, n, size=need, dtype=np.int64)
        v = rng.integers(0, n - 1, size=need, dtype=np.int64)
        v += v >= u  # never a self-loop
        if not directed:
            u, v = np.minimum(u, v), np.maximum(u, v)
        src, dst = _unique_edges(np.concatenate([src, u]), np.concatenate([dst, v]), n)
        if len(src) > m:  # cannot happen, but keep the count exact
            src, dst = src[:m], dst[:m]
    # the CSR dedupe sorts edges; shuffle nothing further -- order does not matter to Graph
    kind = "directed" if directed else "undirected"
    source = f"erdos-renyi(n={n}, m={m}, {kind}, {_suffix(seed, weights)})"
    w = None
    if weights == "uniform":
        w = (1.0 - rng.random(len(src))).astype(np.float32)
    return Graph.from_edges(src, dst, w, num_nodes=n, directed=directed, source=source)


def barabasi_albert(n: int, m: int, seed: int | None = 0, weights: str | None = None) -> Graph:
    """Preferential attachment (power-law degrees): each new node links to ``m`` others.

    Batagelj & Brandes (2005): an array M holds every edge end; slot 2k is the
    new node and slot 2k+1 copies a uniformly chosen earlier slot M[r], r in
    [0, 2k] -- choosing a slot uniformly is choosing a node in proportion to its
    degree.  Copies of copies are resolved by pointer chasing over the whole
    array at once; since r < 2k+1 every chain ends, after O(log(nm)) rounds.
    Self-loops and repeated edges this produces are dropped, so a node may have
    slightly fewer than ``m`` new edges.
    """
    n = _check_int("nodes", n, 1)
    m = _check_int("degree", m, 1)
    weights = _check_weights(weights)
    rng = np.random.default_rng(seed)
    k_total = n * m
    k = np.arange(k_total, dtype=np.int64)
    ref = rng.integers(0, 2 * k + 1)  # uniform in [0, 2k]
    odd = np.flatnonzero(ref & 1)
    while len(odd):  # follow copies: slot 2j+1 holds whatever ref[j] points to
        ref[odd] = ref[(ref[odd] - 1) >> 1]
        odd = odd[(ref[odd] & 1).astype(bool)]
    src = k // m  # slot 2k belongs to node k // m
    del k
    dst = (ref >> 1) // m
    del ref, odd
    source = f"barabasi-albert(n={n}, m={m}, {_suffix(seed, weights)})"
    return _build(src, dst, n, rng, weights, False, source)


def watts_strogatz(n: int, k: int, p: float, seed: int | None = 0, weights: str | None = None) -> Graph:
    """Small world: a ring where each node links to its ``k`` nearest neighbours,
    then each edge's far end is rewired to a uniform random node with probability ``p``.
    """
    n = _check_int("nodes", n, 3)
    k = _check_int("degree", k, 2)
    weights = _check_weights(weights)
    if k % 2 or k >= n:
        raise GraphError(f"watts-strogatz degree must be even and < nodes ({n}), got {k}")
    if not 0.0 <= float(p) <= 1.0:
        raise GraphError(f"rewire must lie in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    nodes = np.arange(n, dtype=np.int64)
    src = np.repeat(nodes, k // 2)
    dst = (src + np.tile(np.arange(1, k // 2 + 1, dtype=np.int64), n)) % n
    rewire = np.flatnonzero(rng.random(len(src)) < float(p))
    new = rng.integers(0, n - 1, size=len(rewire), dtype=np.int64)
    new += new >= src[rewire]  # never a self-loop
    dst[rewire] = new
    source = f"watts-strogatz(n={n}, k={k}, p={p}, {_suffix(seed, weights)})"
    return _build(src, dst, n, rng, weights, False, source)


def grid_2d(rows: int, cols: int, seed: int | None = 0, weights: str | None = None) -> Graph:
    """A rows x cols lattice, each node linked to its 4 neighbours (node = r * cols + c)."""
    rows = _check_int("rows", rows, 1)
    cols = _check_int("cols", cols, 1)
    weights = _check_weights(weights)
    rng = np.random.default_rng(seed)
    ids = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    src = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    dst = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    seed_txt = f", {_suffix(seed, weights)}" if weights else ""
    return _build(src, dst, rows * cols, rng, weights, False, f"grid(rows={rows}, cols={cols}{seed_txt})")


# ------------------------------------------------------------ size check
#: peak bytes while building, per edge (int64 endpoints, both arc directions, the CSR sort) and per node
_BYTES_PER_EDGE = 64
_BYTES_PER_NODE = 24
MAX_NODES = 2**31 - 1  # node ids are int32 in a bundle's index arrays


def _planned_size(key: str, given: dict[str, Any]) -> tuple[float, float]:
    """(nodes, edges) a generator call would build, from its parameters alone (nothing allocated)."""
    if key == "grid":
        rows, cols = float(given["rows"]), float(given["cols"])
        return rows * cols, 2.0 * rows * cols
    n = float(given["nodes"])
    if key == "erdos-renyi":
        if given.get("degree") is not None:
            return n, n * float(given["degree"])
        return n, float(given["p"]) * n * max(n - 1, 0)
    return n, n * float(given["degree"])


def _check_size(key: str, given: dict[str, Any]) -> None:
    """Refuse a graph whose ids overflow int32 or whose build would not fit in memory, before building it."""
    try:
        nodes, edges = _planned_size(key, given)
    except (TypeError, ValueError):
        return  # malformed parameters: the generator's own checks name them
    if nodes > MAX_NODES:
        raise GraphError(f"{key}: {nodes:,.0f} nodes is more than the {MAX_NODES:,} a bundle holds "
                         "(node ids are int32); ask for a smaller graph")
    require_memory(edges * _BYTES_PER_EDGE + nodes * _BYTES_PER_NODE,
                   f"{key} with {nodes:,.0f} nodes and about {edges:,.0f} edges",
                   "ask for fewer nodes or a lower degree")


# -------------------------------------------------------------- dispatcher
def normalise_kind(kind: str) -> str:
    """``Barabasi_Albert`` -> ``barabasi-albert``; aliases ``er``, ``ba``, ``ws``."""
    key = kind.strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in KINDS:
        raise GraphError(f"unknown graph kind {kind!r}; choose one of {', '.join(KINDS)}")
    return key


_PARAMS = {
    "erdos-renyi": {"nodes", "degree", "p", "seed", "directed", "weights"},
    "barabasi-albert": {"nodes", "degree", "seed", "weights"},
    "watts-strogatz": {"nodes", "degree", "rewire", "seed", "weights"},
    "grid": {"rows", "cols", "seed", "weights"},
}
_REQUIRED = {
    "erdos-renyi": ("nodes",),
    "barabasi-albert": ("nodes", "degree"),
    "watts-strogatz": ("nodes", "degree"),
    "grid": ("rows", "cols"),
}


def generate_graph(kind: str, **params: Any) -> Graph:
    """Generate a graph by kind name, with the parameter names the CLI uses.

    ``generate_graph("barabasi-albert", nodes=1000, degree=5, seed=7)``;
    parameters: ``nodes``, ``degree`` (ER: average degree, BA: edges per new
    node, WS: ring neighbours), ``p`` (ER), ``rewire`` (WS, default 0.1),
    ``rows``/``cols`` (grid), ``seed`` (default 0), ``weights`` ("uniform"),
    ``directed`` (ER only).  ``n``/``m``/``k`` are accepted for nodes/degree.
    """
    key = normalise_kind(kind)
    for short, full in (("n", "nodes"), ("m", "degree"), ("k", "degree"), ("avg_degree", "degree")):
        if short in params:
            if full in params:
                raise GraphError(f"give either {short} or {full}, not both")
            params[full] = params.pop(short)
    given = {name: v for name, v in params.items() if v is not None}
    unknown = sorted(set(given) - _PARAMS[key])
    if unknown:
        raise GraphError(
            f"{key} does not take {', '.join(unknown)}; its parameters are {', '.join(sorted(_PARAMS[key]))}"
        )
    missing = [name for name in _REQUIRED[key] if name not in given]
    if key == "erdos-renyi" and "degree" not in given and "p" not in given:
        missing.append("degree (or p)")
    if missing:
        raise GraphError(f"{key} needs {', '.join(missing)}")
    seed = given.get("seed", 0)
    weights = given.get("weights")
    _check_size(key, given)
    if key == "erdos-renyi":
        return erdos_renyi(given["nodes"], given.get("degree"), given.get("p"), seed,
                           bool(given.get("directed", False)), weights)
    if key == "barabasi-albert":
        return barabasi_albert(given["nodes"], given["degree"], seed, weights)
    if key == "watts-strogatz":
        return watts_strogatz(given["nodes"], given["degree"], given.get("rewire", 0.1), seed, weights)
    return grid_2d(given["rows"], given["cols"], seed, weights)


__all__ = ["KINDS", "erdos_renyi", "barabasi_albert", "watts_strogatz", "grid_2d", "generate_graph", "normalise_kind"]

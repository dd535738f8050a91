"""The graph substrate: a weighted directed graph as CSR out-edges plus labels.

A ``Graph`` owns the out-edge CSR (``indptr`` int64, ``indices`` int32 where the
node count fits, ``weights`` float32) and derives, once, what the kernels need:
the weighted out-degree ``d``, the transition weights ``P_ij = w_ij / d_i``, the
sink mask and the in-edge CSR (the transpose, for dense "pull" products).  The
derived arrays are cached on the object and written into bundles, so worker
processes that mmap a bundle never recompute or copy them.

Arcs of weight 0 are dropped when a graph is built (they carry nothing), parallel
arcs add their weights, and an undirected edge becomes two arcs.
"""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from pspread.engine.labels import ArrayLabels, Labels, PrefixLabels
from pspread.errors import GraphError

INDEX_DTYPE_LIMIT = np.iinfo(np.int32).max


def index_dtype(num_nodes: int) -> type:
    """int32 node ids while they fit (half the memory traffic), int64 beyond."""
    return np.int32 if num_nodes <= INDEX_DTYPE_LIMIT else np.int64


class Graph:
    """A weighted directed graph in CSR form; immutable once built.

    Build one with :meth:`from_edges` (validated) or :meth:`from_csr`; load and
    save with :func:`pspread.load_graph` / :func:`pspread.save_graph`.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        labels: Labels | None = None,
        directed: bool = True,
        source: str = "memory",
        derived: dict[str, np.ndarray] | None = None,
        validate: bool = True,
    ) -> None:
        self.indptr = indptr
        self.indices = indices
        self.weights = weights
        self.directed = bool(directed)
        self.source = source
        n = len(indptr) - 1
        self.labels: Labels = labels if labels is not None else PrefixLabels(n)
        if validate:
            self._validate()
        # precomputed arrays (from a bundle) win over recomputation
        for name, arr in (derived or {}).items():
            self.__dict__[name] = arr

    # ------------------------------------------------------------------ build
    @classmethod
    def from_edges(
        cls,
        src: Sequence[int] | np.ndarray,
        dst: Sequence[int] | np.ndarray,
        weights: Sequence[float] | np.ndarray | None = None,
        num_nodes: int | None = None,
        labels: Sequence[str] | Labels | None = None,
        directed: bool = True,
        source: str = "memory",
    ) -> "Graph":
        """Build a graph from parallel arrays of arc sources, targets and weights.

        Ids must be integers in ``[0, num_nodes)``; weights finite and >= 0
        (default 1.0).  ``directed=False`` turns every edge into two arcs.
        """
        src_a = _as_ids(src, "src")
        dst_a = _as_ids(dst, "dst")
        if len(src_a) != len(dst_a):
            raise GraphError(f"from_edges: src has {len(src_a)} entries but dst has {len(dst_a)}; they must be equal")
        if weights is None:
            w = np.ones(len(src_a), dtype=np.float32)
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.ndim != 1 or len(w) != len(src_a):
                raise GraphError(f"from_edges: weights has shape {w.shape} but there are {len(src_a)} edges")
            bad = ~np.isfinite(w) | (w < 0)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise GraphError(
                    f"from_edges: weight of edge {k} ({src_a[k]}->{dst_a[k]}) is {w[k]!r}; "
                    "weights must be finite and >= 0"
                )
            w = w.astype(np.float32)
        if isinstance(labels, Labels):
            lab_obj: Labels | None = labels
        elif labels is not None:
            lab_obj = ArrayLabels.from_strings(list(labels))
        else:
            lab_obj = None
        max_id = int(max(src_a.max(initial=-1), dst_a.max(initial=-1)))
        if num_nodes is None:
            num_nodes = len(lab_obj) if lab_obj is not None else max_id + 1
        num_nodes = int(num_nodes)
        if num_nodes < 0:
            raise GraphError(f"from_edges: num_nodes must be >= 0, got {num_nodes}")
        if max_id >= num_nodes:
            k = int(np.flatnonzero((src_a >= num_nodes) | (dst_a >= num_nodes))[0])
            raise GraphError(
                f"from_edges: edge {k} ({src_a[k]}->{dst_a[k]}) names a node id >= num_nodes ({num_nodes}); "
                "raise num_nodes or fix the ids"
            )
        if lab_obj is not None and len(lab_obj) != num_nodes:
            raise GraphError(f"from_edges: {len(lab_obj)} labels for {num_nodes} nodes; give one label per node")
        if not directed:
            loop = src_a == dst_a
            src_a, dst_a, w = (
                np.concatenate([src_a, dst_a[~loop]]),
                np.concatenate([dst_a, src_a[~loop]]),
                np.concatenate([w, w[~loop]]),
            )
        indptr, indices, data = csr_from_arcs(src_a, dst_a, w, num_nodes)
        return cls(indptr, indices, data, labels=lab_obj, directed=directed, source=source, validate=False)

    @classmethod
    def from_csr(cls, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, **kw: object) -> "Graph":
        """Wrap existing CSR arrays (validated: sorted, in range, finite, >= 0)."""
        return cls(indptr, indices, weights, **kw)  # type: ignore[arg-type]

    # ------------------------------------------------------------- validation
    def _validate(self) -> None:
        indptr, indices, weights = self.indptr, self.indices, self.weights
        if indptr.ndim != 1 or len(indptr) < 1:
            raise GraphError("indptr must be a 1-D array of num_nodes + 1 offsets")
        n = len(indptr) - 1
        m = len(indices)
        if int(indptr[0]) != 0 or int(indptr[-1]) != m:
            raise GraphError(
                f"indptr must start at 0 and end at the arc count ({m}); it runs {int(indptr[0])}..{int(indptr[-1])} "
                "-- the arrays are truncated or mismatched"
            )
        if len(weights) != m:
            raise GraphError(f"weights has {len(weights)} entries but indices has {m}; they must match")
        if m and np.any(np.diff(indptr) < 0):
            raise GraphError("indptr must be non-decreasing")
        if m and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise GraphError(f"indices must lie in [0, {n}); found {int(indices.min())}..{int(indices.max())}")
        if m and not (np.isfinite(weights).all() and float(weights.min()) >= 0):
            raise GraphError("weights must be finite and >= 0")
        if len(self.labels) != n:
            raise GraphError(f"{len(self.labels)} labels for {n} nodes")

    # --------------------------------------------------------------- shape
    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_arcs(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        kind = "directed" if self.directed else "undirected"
        return f"Graph({self.num_nodes} nodes, {self.num_arcs} arcs, {kind}, source={self.source!r})"

    def out_degree(self) -> np.ndarray:
        """Number of out-neighbours per node (distinct, since parallel arcs are merged)."""
        return np.diff(self.indptr)

    # ------------------------------------------------------------ derived
    def arc_rows(self) -> np.ndarray:
        """The source node of every arc (the CSR row index expanded)."""
        return np.repeat(np.arange(self.num_nodes, dtype=self.indices.dtype), np.diff(self.indptr))

    @cached_property
    def out_weight(self) -> np.ndarray:
        """Weighted out-degree d_i = sum_j w_ij (float64 for an exact sum)."""
        # (astype: with no arcs at all bincount returns int64 zeros)
        return np.bincount(self.arc_rows(), weights=self.weights, minlength=self.num_nodes).astype(np.float64)

    @cached_property
    def sink_mask(self) -> np.ndarray:
        """True where d_i == 0: the node has no (positively weighted) out-arc."""
        return self.out_weight <= 0

    @cached_property
    def p_data(self) -> np.ndarray:
        """Transition weights P_ij = w_ij / d_i, aligned with ``indices`` (float32)."""
        p: np.ndarray = (self.weights / self.out_weight[self.arc_rows()]).astype(np.float32)
        return p

    @cached_property
    def transpose_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-edge CSR of P (row j lists i with P_ij): what P^T @ x pulls from."""
        pt = sp.csr_array((self.p_data, self.indices, self.indptr), shape=(self.num_nodes,) * 2).T.tocsr()
        pt.sort_indices()
        return (pt.indptr.astype(np.int64), pt.indices.astype(index_dtype(self.num_nodes)), pt.data.astype(np.float32))

    def nbytes(self) -> int:
        """Bytes of the out-edge CSR (what every kernel touches)."""
        return int(self.indptr.nbytes + self.indices.nbytes + self.weights.nbytes)

    def to_scipy(self) -> sp.csr_array:
        """The weighted adjacency as a scipy CSR array (shares memory where it can)."""
        return sp.csr_array((self.weights, self.indices, self.indptr), shape=(self.num_nodes,) * 2)


def _as_ids(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise GraphError(f"from_edges: {name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise GraphError(f"from_edges: {name} must hold integer node ids, got dtype {arr.dtype}")
    if int(arr.min()) < 0:
        k = int(np.flatnonzero(arr < 0)[0])
        raise GraphError(f"from_edges: {name}[{k}] is {int(arr[k])}; node ids must be >= 0")
    return arr.astype(np.int64, copy=False)


def csr_from_arcs(
    src: np.ndarray, dst: np.ndarray, w: np.ndarray, num_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted CSR from arc arrays: parallel arcs summed, zero-weight arcs dropped.

    scipy's COO->CSR conversion is a linear-time counting sort plus a per-row
    sort in C++, much faster than a global ``lexsort`` at 10M+ arcs.
    """
    mat = sp.csr_array((w.astype(np.float32, copy=False), (src, dst)), shape=(num_nodes, num_nodes))
    mat.sum_duplicates()
    mat.eliminate_zeros()
    return (
        mat.indptr.astype(np.int64),
        mat.indices.astype(index_dtype(num_nodes)),
        mat.data.astype(np.float32, copy=False),
    )

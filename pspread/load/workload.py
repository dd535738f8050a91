"""Which queries a run sends: a deterministic, seeded stream of ``pspread.Query``.

Everything random is drawn up front, vectorised in numpy: the seed nodes of a
block of queries (uniform over the graph, or a Zipf "hot set"), the query type
of each (a weighted mix, each type with its own spreading model), or lines of a
query file.  The driver then only indexes into ready Python lists, so building
a query costs one small object on the hot path.  The block repeats when a run
asks for more queries than it holds, which keeps memory bounded for long runs.

The same ``seed`` gives the same queries, so two runs (1 worker and W workers,
a baseline and a candidate) answer exactly the same questions.

The load driver reads the stream as arrays (``groups``): the seeds of a run of
queries as one ``SeedBlock`` per query type, text queries mapped to node ids
once, when the workload is built -- no ``Query`` object on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pspread.engine.labels import Labels, split_terms
from pspread.engine.model import SpreadModel
from pspread.errors import ScenarioError
from pspread.execution.answers import SeedBlock
from pspread.execution.query import Query
from pspread.scenario.workload import QueryType

if TYPE_CHECKING:
    from pspread.scenario.spec import Scenario

DISTRIBUTIONS = ("uniform", "zipf")
DEFAULT_BLOCK = 1 << 16


@dataclass
class Group:
    """Queries of one type among a run of the stream: their positions in the run, and their seeds."""

    positions: np.ndarray  # offsets within the run, ascending
    seeds: SeedBlock | list  # a block of ids, or seeds as a caller gave them
    kind: str
    model: SpreadModel | None
    top_k: int | None
    timeout_s: float | None


def sample_nodes(
    rng: np.random.Generator, num_nodes: int, size: int | tuple[int, ...], distribution: str = "uniform",
    zipf_s: float = 1.0, hot_set: int | None = None,
) -> np.ndarray:
    """Node ids drawn uniformly, or from a Zipf law over a random permutation of the nodes.

    The Zipf "hot set": rank r (1-based, up to ``hot_set`` ranks, default every
    node) has probability proportional to ``1 / r**zipf_s``; ranks map to nodes
    through a seeded permutation, so the hot nodes are spread over the graph
    rather than being the lowest ids.
    """
    if num_nodes < 1:
        raise ScenarioError("the graph has no nodes to draw query seeds from")
    if distribution == "uniform":
        return rng.integers(0, num_nodes, size=size, dtype=np.int64)
    if distribution == "zipf":
        if not np.isfinite(zipf_s) or zipf_s <= 0:
            raise ScenarioError(f"workload.zipf_s must be > 0, got {zipf_s!r}")
        hot = num_nodes if hot_set is None else max(1, min(int(hot_set), num_nodes))
        cdf = np.cumsum(np.arange(1, hot + 1, dtype=np.float64) ** -float(zipf_s))
        cdf /= cdf[-1]
        ranks = np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), hot - 1)
        return rng.permutation(num_nodes)[ranks]
    raise ScenarioError(f"workload.distribution must be one of {', '.join(DISTRIBUTIONS)}; got {distribution!r}")


def read_query_file(path: str | Path, labels: Labels | None = None) -> list[str]:
    """The non-empty lines of a text query file (``#`` starts a comment line).

    With ``labels``, at least one line must name a known node, so a wrong file
    fails before the run rather than as 100% invalid queries.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"workload.query_file: {p} does not exist; "
                            "give a file with one text query per line") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"workload.query_file: {p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ScenarioError(f"workload.query_file: {p} holds no queries; write one text query per line")
    if labels is not None:
        known = any(labels.lookup(t) is not None for ln in lines[:1000] for t in split_terms(ln, labels))
        if not known:
            raise ScenarioError(
                f"workload.query_file: no term of the first {min(len(lines), 1000)} lines of {p} matches a node "
                "label of the graph; check the file belongs to this graph"
            )
    return lines


class Workload:
    """A seeded, repeating block of queries; ``query(k)`` is the k-th of the stream.

    ``kinds``: the mix (weights need not sum to 1).  ``distribution``,
    ``zipf_s``, ``hot_set``: how seeds are drawn (see :func:`sample_nodes`).  ``texts``: text queries to
    draw from instead of node ids (a query file), mapped to ids with ``labels``
    for the array path (a text with no known term becomes an empty, invalid query).  ``block``: how many distinct
    queries to pre-generate before the stream repeats.
    """

    def __init__(
        self,
        num_nodes: int,
        kinds: Sequence[QueryType] = (QueryType(),),
        seeds_per_query: int = 1,
        distribution: str = "uniform",
        zipf_s: float = 1.0,
        hot_set: int | None = None,
        top_k: int | None = None,
        timeout_s: float | None = None,
        texts: Sequence[str] | None = None,
        seed: int = 0,
        block: int = DEFAULT_BLOCK,
        labels: Labels | None = None,
    ) -> None:
        if not kinds:
            raise ScenarioError("workload.mix needs at least one query type")
        weights = np.asarray([k.weight for k in kinds], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ScenarioError("workload.mix weights must be >= 0 and not all 0")
        if seeds_per_query < 1 or any((k.seeds_per_query or 1) < 1 for k in kinds):
            raise ScenarioError("workload.seeds_per_query must be >= 1")
        self.kinds = tuple(kinds)
        self.block = max(1, int(block))
        rng = np.random.default_rng(seed)
        self.kind_index = rng.choice(len(kinds), size=self.block, p=weights / weights.sum())
        self._sampling = (distribution, zipf_s, hot_set)
        self.seeds = self._draw_seeds(rng, num_nodes, seeds_per_query, texts)
        # per-kind constants, resolved once: (top_k, timeout, model, name)
        self._consts = [(k.top_k or top_k, timeout_s, k.model, k.name) for k in kinds]
        self._kind_list = self.kind_index.tolist()
        self.seed_ids = self._id_array(labels)

    def _id_array(self, labels: Labels | None) -> np.ndarray:
        """Every query's seed ids as one (block, width) array, -1 for padding (texts mapped once)."""
        rows: list[list[int]] = []
        for s in self.seeds:
            if isinstance(s, str):
                terms = split_terms(s, labels) if labels is not None else []
                ids = [labels.lookup(t) for t in terms] if labels is not None else []
                rows.append(sorted({i for i in ids if i is not None}))
            else:
                rows.append(list(s))
        width = max(1, max((len(r) for r in rows), default=1))
        out = np.full((len(rows), width), -1, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out

    def groups(self, k0: int, k1: int) -> list[Group]:
        """Queries ``k0:k1`` of the stream, one group per query type, seeds as id blocks."""
        if len(self.kinds) == 1:  # the common case: one type, and rows k0:k1 are one slice of the block
            a = k0 % self.block
            rows = self.seed_ids[a:a + (k1 - k0)] if a + (k1 - k0) <= self.block else \
                self.seed_ids[np.arange(k0, k1) % self.block]
            top, timeout, model, name = self._consts[0]
            return [Group(np.arange(k1 - k0), SeedBlock.of(rows), name, model, top, timeout)]
        j = np.arange(k0, k1) % self.block
        codes = self.kind_index[j]
        out = []
        for c in np.unique(codes).tolist():
            pos = np.flatnonzero(codes == c) if len(self.kinds) > 1 else np.arange(len(j))
            top, timeout, model, name = self._consts[c]
            out.append(Group(pos, SeedBlock.of(self.seed_ids[j[pos]]), name, model, top, timeout))
        return out

    def _draw_seeds(self, rng: np.random.Generator, num_nodes: int, spq: int, texts: Sequence[str] | None) -> list:
        if texts is not None:
            if not texts:
                raise ScenarioError("workload.query_file holds no queries")
            picks = sample_nodes(rng, len(texts), self.block, *self._sampling)
            return [texts[i] for i in picks.tolist()]
        per_kind = np.asarray([k.seeds_per_query or spq for k in self.kinds])
        width = int(per_kind.max())
        ids = sample_nodes(rng, num_nodes, (self.block, width), *self._sampling)
        out: list = [None] * self.block
        for code, k in enumerate(per_kind.tolist()):
            rows = np.flatnonzero(self.kind_index == code)
            for r, seeds in zip(rows.tolist(), ids[rows, :k].tolist()):
                out[r] = seeds
        return out

    def __len__(self) -> int:
        return self.block

    def query(self, k: int) -> Query:
        """The k-th query of the stream (the block repeats)."""
        j = k % self.block
        top, timeout, model, name = self._consts[self._kind_list[j]]
        return Query(self.seeds[j], top_k=top, timeout_s=timeout, model=model, kind=name)

    __call__ = query

    def queries(self, n: int, offset: int = 0) -> list[Query]:
        """``n`` queries of the stream from ``offset`` (a fixed set, e.g. for speedup runs)."""
        return [self.query(offset + k) for k in range(n)]


def workload_for(scenario: "Scenario", num_nodes: int, labels: Labels | None = None,
                 base_dir: Path | None = None) -> Workload:
    """The scenario's workload section as a ``Workload`` over a graph of ``num_nodes``.

    A mix of one type keeps ``Query.model`` None (the executor's model, set to
    that type's) so nothing extra travels with each query.
    """
    spec = scenario.workload
    types = scenario.query_types()
    single = len(types) == 1
    kinds = [replace(t, model=None) if single else t for t in types]
    texts = None
    if spec.seeds.query_file is not None:
        path = Path(spec.seeds.query_file)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        texts = read_query_file(path, labels)
    return Workload(
        num_nodes, kinds=kinds, seeds_per_query=spec.seeds_per_query, distribution=spec.seeds.sampling,
        zipf_s=spec.seeds.zipf_s, hot_set=spec.seeds.hot_set, top_k=spec.top_k, timeout_s=spec.timeout_s,
        texts=texts, seed=spec.random_seed, labels=labels,
    )

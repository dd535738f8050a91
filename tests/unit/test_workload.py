"""Workload: seeded, vectorised query streams."""

from collections import Counter

import numpy as np
import pytest

from pspread.engine.model import SpreadModel
from pspread.errors import ScenarioError
from pspread.load.workload import Workload, read_query_file, sample_nodes
from pspread.scenario.workload import QueryType


def test_same_seed_same_queries() -> None:
    a = Workload(500, seeds_per_query=3, seed=1, block=100).queries(100)
    b = Workload(500, seeds_per_query=3, seed=1, block=100).queries(100)
    c = Workload(500, seeds_per_query=3, seed=2, block=100).queries(100)
    assert [q.seeds for q in a] == [q.seeds for q in b]
    assert [q.seeds for q in a] != [q.seeds for q in c]
    assert all(len(q.seeds) == 3 and all(0 <= s < 500 for s in q.seeds) for q in a)


def test_stream_repeats_its_block() -> None:
    w = Workload(50, block=10, seed=0)
    assert w.query(3).seeds == w.query(13).seeds
    assert w.query(3).query_id != w.query(13).query_id


def test_zipf_concentrates_on_a_hot_set() -> None:
    rng = np.random.default_rng(0)
    ids = sample_nodes(rng, 10_000, 50_000, "zipf", zipf_s=1.2)
    counts = np.sort(np.bincount(ids, minlength=10_000))[::-1]
    assert counts[:10].sum() > 0.3 * len(ids)          # a few nodes take a large share
    uniform = np.bincount(sample_nodes(rng, 10_000, 50_000, "uniform"), minlength=10_000)
    assert np.sort(uniform)[::-1][:10].sum() < 0.01 * len(ids)


def test_zipf_hot_set_is_a_permutation() -> None:
    hot = [int(np.argmax(np.bincount(sample_nodes(np.random.default_rng(s), 1000, 5000, "zipf", 1.5))))
           for s in range(5)]
    assert len(set(hot)) > 1  # the hottest node depends on the seed, not always id 0


def test_mix_weights_models_and_overrides() -> None:
    ppr = SpreadModel.preset("ppr")
    kinds = [QueryType("local", 3), QueryType("rank", 1, model=ppr, seeds_per_query=4, top_k=5)]
    qs = Workload(1000, kinds=kinds, seeds_per_query=2, top_k=10, timeout_s=0.5, seed=3, block=4000).queries(4000)
    share = Counter(q.kind for q in qs)
    assert share["rank"] / 4000 == pytest.approx(0.25, abs=0.03)
    for q in qs:
        if q.kind == "rank":
            assert q.model is ppr and len(q.seeds) == 4 and q.top_k == 5
        else:
            assert q.model is None and len(q.seeds) == 2 and q.top_k == 10
        assert q.timeout_s == 0.5


def test_query_file(tmp_path) -> None:
    f = tmp_path / "q.txt"
    f.write_text("# comment\ncat dog\n\nice cream\n")
    lines = read_query_file(f)
    assert lines == ["cat dog", "ice cream"]
    qs = Workload(0, texts=lines, seed=0, block=50).queries(50)
    assert {q.seeds for q in qs} <= set(lines)


def test_query_file_errors(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        read_query_file(tmp_path / "missing.txt")
    empty = tmp_path / "e.txt"
    empty.write_text("\n# nothing\n")
    with pytest.raises(ScenarioError, match="no queries"):
        read_query_file(empty)


def test_bad_mix_is_refused() -> None:
    with pytest.raises(ScenarioError):
        Workload(10, kinds=[QueryType("a", 0)])
    with pytest.raises(ScenarioError):
        Workload(10, distribution="pareto")

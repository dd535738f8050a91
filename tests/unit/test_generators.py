"""Generators: deterministic by seed, the promised sizes and degree shapes."""

from __future__ import annotations

import numpy as np
import pytest

from pspread.engine.generators import barabasi_albert, erdos_renyi, generate_graph, grid_2d, watts_strogatz
from pspread.engine.labels import PrefixLabels
from pspread.errors import GraphError


def _symmetric(g) -> bool:
    a = g.to_scipy()
    return (abs(a - a.T)).nnz == 0


def _no_loops(g) -> bool:
    return not np.any(g.arc_rows() == np.asarray(g.indices))


@pytest.mark.parametrize("kind, params", [
    ("erdos-renyi", {"nodes": 500, "degree": 6}),
    ("barabasi-albert", {"nodes": 500, "degree": 3}),
    ("watts-strogatz", {"nodes": 500, "degree": 6, "rewire": 0.3}),
    ("grid", {"rows": 10, "cols": 12, "weights": "uniform"}),
])
def test_same_seed_same_graph_other_seed_other_graph(kind, params):
    a = generate_graph(kind, seed=3, **params)
    b = generate_graph(kind, seed=3, **params)
    c = generate_graph(kind, seed=4, **params)
    for x, y in ((a.indptr, b.indptr), (a.indices, b.indices), (a.weights, b.weights)):
        np.testing.assert_array_equal(x, y)
    if kind != "grid":  # the grid's structure has no randomness
        assert not (np.array_equal(a.indices, c.indices) and np.array_equal(a.indptr, c.indptr))
    else:
        assert not np.array_equal(a.weights, c.weights)
    assert _symmetric(a) and _no_loops(a) and not a.directed


def test_erdos_renyi_counts():
    g = erdos_renyi(1000, avg_degree=10, seed=1)
    assert g.num_nodes == 1000 and g.num_arcs == 10_000  # 5000 edges, two arcs each
    d = erdos_renyi(1000, avg_degree=10, seed=1, directed=True)
    assert d.directed and d.num_arcs == 10_000 and _no_loops(d)
    p = erdos_renyi(400, p=0.05, seed=2)
    expected = 0.05 * 400 * 399 / 2
    assert abs(p.num_arcs / 2 - expected) < 5 * np.sqrt(expected)


def test_barabasi_albert_is_heavy_tailed():
    g = barabasi_albert(5000, 4, seed=7)
    deg = g.out_degree()
    edges = g.num_arcs // 2
    assert g.num_nodes == 5000
    assert 0.97 * 5000 * 4 <= edges <= 5000 * 4
    assert deg.max() > 8 * deg.mean()  # hubs: a power law, unlike ER or WS
    assert np.median(deg) < deg.mean()
    assert _symmetric(g) and _no_loops(g)


def test_watts_strogatz_ring_and_rewiring():
    ring = watts_strogatz(100, 4, 0.0, seed=1)
    assert np.all(ring.out_degree() == 4) and ring.num_arcs == 400
    assert set(np.asarray(ring.indices[ring.indptr[0]:ring.indptr[1]]).tolist()) == {1, 2, 98, 99}
    small = watts_strogatz(2000, 10, 0.2, seed=1)
    assert 0.98 * 10_000 <= small.num_arcs / 2 <= 10_000
    assert small.out_degree().max() < 25  # rewiring does not create hubs


def test_grid_degrees():
    g = grid_2d(3, 4)
    assert g.num_nodes == 12 and g.num_arcs == 2 * (3 * 3 + 2 * 4)
    deg = g.out_degree().reshape(3, 4)
    assert deg[0, 0] == 2 and deg[1, 1] == 4 and deg[0, 1] == 3
    assert np.all(np.asarray(g.weights) == 1.0)


def test_uniform_weights_are_symmetric_and_in_range():
    g = generate_graph("ba", nodes=300, degree=2, seed=5, weights="uniform")
    w = np.asarray(g.weights)
    assert np.all(w > 0) and np.all(w <= 1) and len(np.unique(w)) > 100
    assert _symmetric(g)


def test_prefix_labels_for_text_queries():
    g = generate_graph("grid", rows=2, cols=3)
    assert isinstance(g.labels, PrefixLabels)
    assert g.labels.label(5) == "n5" and g.labels.lookup("N4") == 4 and g.labels.lookup("n6") is None


def test_dispatcher_names_and_aliases():
    a = generate_graph("Barabasi_Albert", nodes=50, degree=2, seed=1)
    b = generate_graph("ba", n=50, m=2, seed=1)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert generate_graph("watts_strogatz", nodes=20, degree=4).num_nodes == 20


@pytest.mark.parametrize("kind, params, needle", [
    ("small-world", {"nodes": 10}, "unknown graph kind"),
    ("ba", {"nodes": 10}, "needs degree"),
    ("ba", {"nodes": 10, "degree": 2, "rewire": 0.1}, "does not take rewire"),
    ("ba", {"nodes": -5, "degree": 2}, "nodes must be an integer >= 1"),
    ("ba", {"nodes": 10, "degree": 2.5}, "degree must be an integer"),
    ("ws", {"nodes": 10, "degree": 3}, "even"),
    ("ws", {"nodes": 10, "degree": 4, "rewire": 1.5}, "rewire must lie in [0, 1]"),
    ("er", {"nodes": 10}, "degree (or p)"),
    ("er", {"nodes": 10, "degree": 3, "p": 0.1}, "exactly one"),
    ("er", {"nodes": 10, "degree": 20}, "degree must lie"),
    ("grid", {"rows": 0, "cols": 3}, "rows must be"),
    ("grid", {"rows": 2, "cols": 3, "weights": "normal"}, "weights must be one of"),
])
def test_bad_parameters_name_the_parameter(kind, params, needle):
    with pytest.raises(GraphError) as err:
        generate_graph(kind, **params)
    assert needle in str(err.value)

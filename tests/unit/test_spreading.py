"""Spreading semantics on graphs with known answers: every kernel, exactly."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from conftest import random_graph

import pspread
from pspread.engine.kernels import KERNELS

# the step kernels (push computes only the fixed point of PPR-like models: tests/unit/test_push.py)
ALL = [k for k in KERNELS if k != "push"]


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize(
    "steps, expected",
    [(1, [0, 10, 0, 0, 10]), (2, [0, 0, 0, 5, 15]), (3, [5 / 3, 5 / 3, 5 / 3, 0, 15])],
)
def test_spreadr_published_case_retention_0(spreadr_graph, kernel, steps, expected):
    model = pspread.SpreadModel.preset("spreadr", retention=0.0, max_steps=steps)
    result = pspread.Spreader(spreadr_graph, model, kernel=kernel).query({0: 20.0})
    np.testing.assert_allclose(result.activation(), expected, rtol=1e-6)
    assert result.steps == steps


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("steps, expected", [(1, [5, 5]), (2, [1.25, 3.75]), (3, [0.3125, 2.1875])])
def test_spreadr_published_case_decay(kernel, steps, expected):
    g = pspread.Graph.from_edges([0], [1])
    model = pspread.SpreadModel.preset("spreadr", retention=0.5, decay=0.5, max_steps=steps)
    result = pspread.Spreader(g, model, kernel=kernel).query({0: 20})
    np.testing.assert_allclose(result.activation(), expected, rtol=1e-6)


@pytest.mark.parametrize("kernel", ALL)
def test_star_by_hand(kernel):
    # centre 0 -> leaves 1..4 (sinks keep); r = 0.5, no decay
    g = pspread.Graph.from_edges([0, 0, 0, 0], [1, 2, 3, 4])
    model = pspread.SpreadModel(retention=0.5, max_steps=2)
    act = pspread.Spreader(g, model, kernel=kernel).query([0]).activation()
    # step 1: centre keeps 0.5, each leaf 0.125; step 2: centre keeps 0.25, leaves +0.0625
    np.testing.assert_allclose(act, [0.25, 0.1875, 0.1875, 0.1875, 0.1875], rtol=1e-6)


@pytest.mark.parametrize("kernel", ALL)
def test_chain_threshold_blocks_spreading(kernel):
    # 0 -> 1 -> 2 -> 3, r = 0, decay 0.2, θ = 0.7: 0.8 fires, 0.64 does not
    g = pspread.Graph.from_edges([0, 1, 2], [1, 2, 3])
    model = pspread.SpreadModel(retention=0.0, decay=0.2, threshold=0.7, max_steps=3)
    act = pspread.Spreader(g, model, kernel=kernel).query([0]).activation()
    np.testing.assert_allclose(act, [0, 0, 0.512, 0], rtol=1e-6)


@pytest.mark.parametrize("kernel", ALL)
def test_sinks_restart_returns_mass_to_seeds(kernel):
    # 0 -> 1, 1 is a sink; r = 0: all of 1's mass goes back to seed 0
    g = pspread.Graph.from_edges([0], [1])
    model = pspread.SpreadModel(retention=0.0, sinks="restart", max_steps=2)
    act = pspread.Spreader(g, model, kernel=kernel).query([0]).activation()
    np.testing.assert_allclose(act, [1.0, 0.0], atol=1e-7)


@pytest.mark.parametrize("kernel", ALL)
def test_inhibition_and_suppress(kernel):
    # 0 -> 1, 0 -> 2, 1 -> 0; after one step (r = 0.5): a = [0.5, .25, .25]
    g = pspread.Graph.from_edges([0, 0, 1], [1, 2, 0])
    model = pspread.SpreadModel(retention=0.5, inhibition=0.4, suppress=0.3, max_steps=1)
    act = pspread.Spreader(g, model, kernel=kernel).query([0]).activation()
    # inhibition: node0 - 0.4*mean(.25,.25) = 0.4; node1 - 0.4*0.5 = 0.05; node2 (sink) stays 0.25
    # suppress 0.3: only node 0 survives
    np.testing.assert_allclose(act, [0.4, 0, 0], atol=1e-7)


@pytest.mark.parametrize("kernel", ALL)
def test_tolerance_stops_early(kernel):
    g = pspread.Graph.from_edges([0, 1], [1, 0])
    model = pspread.SpreadModel(retention=0.5, max_steps=50, tolerance=1e-9)
    result = pspread.Spreader(g, model, kernel=kernel).query([0])
    assert result.converged and result.steps < 50
    np.testing.assert_allclose(result.activation(), [0.5, 0.5], atol=1e-6)


def _networkx_ppr(g: pspread.Graph, seeds: list[int], alpha: float) -> np.ndarray:
    G = nx.DiGraph()
    G.add_nodes_from(range(g.num_nodes))
    rows = g.arc_rows()
    G.add_weighted_edges_from(zip(rows.tolist(), g.indices.tolist(), g.weights.astype(float).tolist()))
    pers = {s: 1.0 for s in seeds}
    pr = nx.pagerank(G, alpha=alpha, personalization=pers, weight="weight", tol=1e-13, max_iter=10_000)
    return np.array([pr[i] for i in range(g.num_nodes)])


@pytest.mark.parametrize("kernel, bound", [("reference", 1e-6), ("frontier", 1e-6), ("auto", 1e-6), ("dense", 1e-5),
                                           ("push", 1e-6)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ppr_agrees_with_networkx(kernel, bound, seed):
    g = random_graph(n=60, m=150, seed=seed)
    assert g.sink_mask.any(), "the test graph should have sinks (dangling nodes)"
    seeds = [0, 7, 11]
    expected = _networkx_ppr(g, seeds, alpha=0.85)
    # the preset's default stops on the top-k; the whole vector needs stop: converged
    model = pspread.SpreadModel.preset("ppr", alpha=0.85, max_steps=2000, tolerance=1e-12, stop="converged")
    act = pspread.Spreader(g, model, kernel=kernel).query(seeds).activation().astype(np.float64)
    got = act / act.sum()
    assert np.abs(got - expected).sum() <= bound


@pytest.mark.parametrize("kernel", ALL)
def test_mass_bounces_back_to_a_seed(kernel):
    # 0 <-> 1, r = 0: the unit of mass alternates; after 3 steps it sits on 1.
    # (Regression: the frontier kernel once forgot that a seed reached again may fire.)
    g = pspread.Graph.from_edges([0], [1], directed=False)
    model = pspread.SpreadModel(retention=0.0, max_steps=3)
    act = pspread.Spreader(g, model, kernel=kernel).query([0]).activation()
    np.testing.assert_allclose(act, [0.0, 1.0], atol=1e-7)


def test_top_k_orders_by_activation_then_node_id():
    from pspread.engine.spreader import top_k

    rng = np.random.default_rng(5)
    nodes = rng.permutation(500)
    values = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=500).astype(np.float32)  # many ties
    for k in (1, 3, 10, 499, 600):
        got_nodes, got_vals = top_k(nodes, values, k)
        order = sorted((-v, n) for n, v in zip(nodes.tolist(), values.tolist()) if v > 0)[:k]
        assert list(zip(got_nodes.tolist(), got_vals.tolist())) == [(n, -v) for v, n in order]
    got_nodes, _ = top_k(nodes, values, 5, exclude=nodes[values == 1.0])
    assert all(values[nodes == n][0] < 1.0 for n in got_nodes)


@pytest.mark.parametrize("kernel", ALL)
def test_mass_from_two_sources_makes_a_node_fire(kernel):
    # 0 -> {2, 4}, 1 -> {2, 5}, 2 -> 3; r = 0, θ = 0.6, seeds 0.7 each.
    # Node 2 gets 0.35 + 0.35 = 0.7: neither arrival alone crosses θ, together they do.
    g = pspread.Graph.from_edges([0, 0, 1, 1, 2], [2, 4, 2, 5, 3])
    model = pspread.SpreadModel(retention=0.0, threshold=0.6, max_steps=2)
    act = pspread.Spreader(g, model, kernel=kernel).query({0: 0.7, 1: 0.7}).activation()
    np.testing.assert_allclose(act, [0, 0, 0, 0.7, 0.35, 0.35], atol=1e-6)

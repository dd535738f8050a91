"""The push kernel, the top-k stop and the ranking options, against the converged reference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_graph

import pspread
from pspread.engine._topk import rank_divisor
from pspread.engine.generators import barabasi_albert, watts_strogatz
from pspread.engine.kernels import make_kernel
from pspread.errors import ModelError

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

CONVERGED = dict(max_steps=5000, tolerance=1e-13, stop="converged")


def converged(g: pspread.Graph, model: pspread.SpreadModel, seeds) -> np.ndarray:
    """The fixed point, from the reference kernel run until nothing changes."""
    ref = model.with_(**CONVERGED, exclude_seeds=False, degree_penalty=0.0)
    return pspread.Spreader(g, ref, kernel="reference").query(seeds).activation().astype(np.float64)


def rounding(act: np.ndarray) -> float:
    """Slack for float32 answers (p_data and the output values are float32)."""
    return 1e-6 * max(1.0, float(np.abs(act).sum()))


@pytest.mark.parametrize("sinks", ["restart", "keep"])
@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("decay, restart", [(0.15, 0.15), (0.3, 0.1)])
def test_push_error_is_within_its_bound(sinks, directed, decay, restart):
    g = random_graph(n=80, m=160, seed=4)
    if not directed:
        rows = g.arc_rows()
        g = pspread.Graph.from_edges(rows, g.indices, g.weights, num_nodes=g.num_nodes, directed=False)
    model = pspread.SpreadModel(retention=0.0, decay=decay, restart=restart, sinks=sinks, tolerance=1e-4)
    seeds = {0: 1.0, 5: 2.0, 9: 0.5}
    expected = converged(g, model, seeds)
    result = pspread.Spreader(g, model, kernel="push").query(seeds)
    err = np.abs(result.activation() - expected).sum()
    assert result.error_bound is not None and result.converged
    assert err <= result.error_bound + rounding(expected)
    # stop: converged promises the step kernels' guarantee at the same ε
    assert result.error_bound <= model.tolerance * (1 - decay) / decay
    # the estimate is from below: push never overshoots a node
    assert (result.activation() <= expected + 1e-6).all()


def test_push_sink_seed_mass_returns_to_the_seeds():
    # 0 -> 1, 1 is a sink: with sinks=restart its spread mass goes back to seed 0
    g = pspread.Graph.from_edges([0], [1])
    model = pspread.SpreadModel.preset("ppr", stop="converged", tolerance=1e-9)
    act = pspread.Spreader(g, model, kernel="push").query([0]).activation()
    # fixed point: a0 = .15 + .85 (a1), a1 = .85 a0  ->  a0 = .15 / (1 - .7225)
    a0 = 0.15 / (1 - 0.85 ** 2)
    np.testing.assert_allclose(act, [a0, 0.85 * a0], rtol=1e-6)


@pytest.mark.parametrize(
    "change, name",
    [(dict(threshold=0.01), "threshold"), (dict(retention=0.5), "retention"), (dict(suppress=0.01), "suppress"),
     (dict(inhibition=0.1), "inhibition"), (dict(restart=0.0), "restart"),
     (dict(stop="converged", tolerance=0.0), "tolerance")],
)
def test_push_refuses_other_models_naming_the_parameter(change, name):
    model = pspread.SpreadModel.preset("ppr", **{"stop": "converged", **change})
    with pytest.raises(ModelError, match=name):
        make_kernel("push", random_graph(10, 20, 1), model)


def test_topk_stop_needs_a_linear_model():
    with pytest.raises(ModelError, match="threshold"):
        pspread.SpreadModel(threshold=0.1, decay=0.1, stop="topk")
    with pytest.raises(ModelError, match="decay"):
        pspread.SpreadModel(retention=0.0, restart=0.1, stop="topk")
    with pytest.raises(ModelError, match="frontier"):
        make_kernel("frontier", random_graph(10, 20, 1), pspread.SpreadModel.preset("ppr"))


@pytest.mark.parametrize("kernel", ["push", "dense", "auto"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("gamma, exclude", [(0.0, False), (0.7, True)])
def test_topk_stop_answer_is_proven(kernel, seed, gamma, exclude):
    """Strict mode: no node outside the answer beats one inside by more than ε (the stop's promise)."""
    g = random_graph(n=120, m=400, seed=seed)
    if seed % 2:
        g = pspread.Graph.from_edges(g.arc_rows(), g.indices, g.weights, num_nodes=g.num_nodes, directed=False)
    k = 8
    model = pspread.SpreadModel.preset("ppr", top_k=k, degree_penalty=gamma, exclude_seeds=exclude,
                                       tie_tolerance=0.0, stable_rounds=0)
    seeds = [3, 50, 77]
    truth = converged(g, model, seeds)
    div = rank_divisor(g.out_weight, gamma)
    score = truth if div is None else truth / div
    if exclude:
        score[seeds] = -np.inf
    result = pspread.Spreader(g, model, kernel=kernel).query(seeds)
    inside = [n for n, _, _ in result.top]
    assert len(inside) == k
    outside = np.setdiff1d(np.flatnonzero(np.isfinite(score)), inside)
    assert score[inside].min() >= score[outside].max() - model.tolerance - 1e-6


@pytest.mark.parametrize("kernel", ["push", "dense"])
@pytest.mark.parametrize("seed", [1, 2])
def test_tie_tolerance_bounds_the_swap(kernel, seed):
    """With τ > 0 (and no stability stop) an outside node beats an inside one by at most max(ε, τ·L)."""
    g = random_graph(n=150, m=600, seed=seed)
    k, tie = 8, 0.05
    model = pspread.SpreadModel.preset("ppr", top_k=k, tie_tolerance=tie, stable_rounds=0)
    seeds = [3, 50, 77]
    truth = converged(g, model, seeds)
    inside = [n for n, _, _ in pspread.Spreader(g, model, kernel=kernel).query(seeds).top]
    outside = np.setdiff1d(np.arange(g.num_nodes), inside)
    low = truth[inside].min()
    assert low >= truth[outside].max() - max(model.tolerance, tie * low) - 1e-6


def test_tie_tolerance_and_stable_rounds_are_validated():
    with pytest.raises(ModelError, match="tie_tolerance"):
        pspread.SpreadModel.preset("ppr", tie_tolerance=1.5)
    with pytest.raises(ModelError, match="stable_rounds"):
        pspread.SpreadModel.preset("ppr", stable_rounds=-1)


@pytest.mark.parametrize("name", ["ba", "ws"])
def test_ppr_default_recall_at_20(name):
    """The preset's defaults (approximate by design) find the converged top-20 on each graph family."""
    g = barabasi_albert(3000, 4, seed=3) if name == "ba" else watts_strogatz(4000, 4, 0.02, seed=3)
    model = pspread.SpreadModel.preset("ppr", top_k=20)
    assert model.tie_tolerance > 0 or model.stable_rounds > 0  # the defaults under test are the approximate ones
    fast = pspread.Spreader(g, model)  # auto
    full = pspread.Spreader(g, model.with_(stop="converged", tolerance=1e-10, max_steps=500), kernel="dense")
    rng = np.random.default_rng(1)
    recalls = []
    for _ in range(30):
        seeds = rng.choice(g.num_nodes, 3, replace=False).tolist()
        want = {n for n, _, _ in full.query(seeds).top}
        got = {n for n, _, _ in fast.query(seeds).top}
        recalls.append(len(want & got) / 20)
    assert np.mean(recalls) >= 0.99


# ------------------------------------------------------------------ ranking
def _ranked(g: pspread.Graph, gamma: float, **kw) -> list[int]:
    model = pspread.SpreadModel(retention=0.0, max_steps=1, degree_penalty=gamma, **kw)
    return [n for n, _, _ in pspread.Spreader(g, model, kernel="reference").query([0]).top]


def test_degree_penalty_by_hand():
    # one step from 0 (r = 0): a = [0, .25, .25, .5] over 0->1 (w 1), 0->2 (w 1), 0->3 (w 2).
    # weighted out-degrees: d1 = 1, d2 = 1 + 3 = 4, d3 = 4 (node 4 is a sink, a4 = 0)
    g = pspread.Graph.from_edges([0, 0, 0, 1, 2, 2, 3], [1, 2, 3, 0, 0, 4, 0], [1, 1, 2, 1, 1, 3, 4])
    assert _ranked(g, 0.0) == [3, 1, 2]          # by activation, tie 1/2 by id
    assert _ranked(g, 1.0) == [1, 3, 2]          # .25/1, .5/4, .25/4
    assert _ranked(g, 0.5) == [1, 3, 2]          # .25, .25 (tie: smaller id), .125
    activations = {n: a for n, _, a in pspread.Spreader(g, pspread.SpreadModel(
        retention=0.0, max_steps=1, degree_penalty=1.0), kernel="reference").query([0]).top}
    assert activations[3] == pytest.approx(0.5)  # the answer reports activations, not scores


def test_degree_penalty_sink_counts_as_the_smallest_positive_degree():
    # 0 -> 1 (w 1), 0 -> 2 (w 3), 2 -> 0 (w 8): a = [0, .25, .75]; node 1 is a sink.
    # d0 = 4, d2 = 8, so the sink counts as d = 4: scores .25/4 = .0625 < .75/8 = .09375
    g = pspread.Graph.from_edges([0, 0, 2], [1, 2, 0], [1, 3, 8])
    np.testing.assert_allclose(rank_divisor(g.out_weight, 1.0), [4, 4, 8])
    assert _ranked(g, 1.0) == [2, 1]
    # with γ = 2 the sink's .25/16 beats .75/64
    assert _ranked(g, 2.0) == [1, 2]
    assert rank_divisor(g.out_weight, 0.0) is None


@pytest.mark.parametrize("kernel", ["reference", "dense", "frontier", "auto"])
def test_exclude_seeds_leaves_seeds_out(kernel):
    # triangle, r = 0, two steps from 0: a = [.5, .25, .25]; the seed leads unless excluded
    g = pspread.Graph.from_edges([0, 1, 2], [1, 2, 0], directed=False)
    for exclude, want in ((False, [0, 1, 2]), (True, [1, 2])):
        model = pspread.SpreadModel(retention=0.0, max_steps=2, exclude_seeds=exclude)
        assert [n for n, _, _ in pspread.Spreader(g, model, kernel=kernel).query([0]).top] == want

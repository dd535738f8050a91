"""Property tests: every kernel computes the reference's vector on random graphs.

"The same" means within 1e-5 of the largest activation (the kernels work in
float32 where the reference works in float64).  A run whose reference came
within a hair of a threshold, the suppression level or the tolerance (a
knife-edge decision that float32 rounding may rightly flip) is discarded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pspread
from pspread.engine.kernels import make_kernel
from pspread.engine.kernels.reference import ReferenceKernel

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

FAST = ("dense", "frontier", "auto")


@st.composite
def graphs(draw: st.DrawFn) -> pspread.Graph:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(0, 30))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    weights = draw(st.lists(st.floats(0.0, 3.0, allow_subnormal=False), min_size=m, max_size=m))
    directed = draw(st.booleans())
    return pspread.Graph.from_edges(src, dst, weights, num_nodes=n, directed=directed)


def optional(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(st.just(0.0), strategy)


models = st.builds(
    pspread.SpreadModel,
    retention=st.floats(0, 1),
    decay=st.floats(0, 1),
    threshold=optional(st.floats(1e-3, 0.5)),
    restart=optional(st.floats(0, 0.5)),
    inhibition=optional(st.floats(0, 0.5)),
    suppress=optional(st.floats(1e-4, 0.05)),
    max_steps=st.integers(1, 8),
    tolerance=optional(st.floats(1e-4, 1e-2)),
    sinks=st.sampled_from(["keep", "restart"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=graphs(), model=models, data=st.data())
def test_every_kernel_matches_reference(g: pspread.Graph, model: pspread.SpreadModel, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, min(3, g.num_nodes)))
    nodes = data.draw(st.lists(st.integers(0, g.num_nodes - 1), min_size=k, max_size=k, unique=True))
    values = data.draw(st.lists(st.floats(0.1, 5.0), min_size=k, max_size=k))
    seeds = dict(zip(nodes, values))
    ref = ReferenceKernel(g, model)
    spreader = pspread.Spreader(g, model, kernel="reference")
    seed_set, _ = spreader.seeds(seeds)
    expected_act = ref.spread(seed_set)
    expected = np.zeros(g.num_nodes)
    expected[expected_act.nodes] = expected_act.values
    scale = max(float(seed_set.values.max()), float(np.abs(expected).max()), 1e-12)
    assume(ref.last_margin > 1e-4 * scale)
    stops_clearly = ref.last_change_margin > 1e-4 * scale
    assume(stops_clearly or model.tolerance == 0)  # with ε = 0 only a fixed point stops early
    for name in FAST:
        got_act = make_kernel(name, g, model).spread(seed_set)
        got = np.zeros(g.num_nodes)
        got[got_act.nodes] = got_act.values
        err = np.abs(got - expected).max()
        assert err <= 1e-5 * scale, f"{name}: max error {err:.3g} (scale {scale:.3g})\n{got}\n{expected}"
        if name == "frontier" and stops_clearly:  # float64 sums: it stops on the same step
            assert got_act.steps == expected_act.steps


@settings(max_examples=50, deadline=None)
@given(g=graphs(), data=st.data())
def test_batches_equal_single_queries(g: pspread.Graph, data: st.DataObject) -> None:
    model = pspread.SpreadModel.preset("threshold", threshold=0.01)
    seeds = st.lists(st.integers(0, g.num_nodes - 1), min_size=1, max_size=3)
    queries = data.draw(st.lists(seeds, min_size=1, max_size=5))
    for name in FAST:
        s = pspread.Spreader(g, model, kernel=name)
        batch = s.query_batch(queries)
        for q, r in zip(queries, batch):
            np.testing.assert_allclose(r.activation(), s.query(q).activation(), atol=1e-6)


ppr_like = st.builds(
    pspread.SpreadModel,
    retention=st.just(0.0),
    decay=st.floats(0.05, 1.0),
    restart=st.floats(0.01, 1.0),
    tolerance=st.floats(1e-6, 1e-2),
    sinks=st.sampled_from(["keep", "restart"]),
    stop=st.just("converged"),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=graphs(), model=ppr_like, data=st.data())
def test_push_is_within_its_bound_of_the_fixed_point(g: pspread.Graph, model: pspread.SpreadModel,
                                                     data: st.DataObject) -> None:
    """Push's L1 distance from the converged reference is at most the bound it reports."""
    k = data.draw(st.integers(1, min(3, g.num_nodes)))
    nodes = data.draw(st.lists(st.integers(0, g.num_nodes - 1), min_size=k, max_size=k, unique=True))
    values = data.draw(st.lists(st.floats(0.1, 5.0), min_size=k, max_size=k))
    spreader = pspread.Spreader(g, model.with_(max_steps=20_000, tolerance=1e-13), kernel="reference")
    seed_set, _ = spreader.seeds(dict(zip(nodes, values)))
    ref = spreader.kernel.spread(seed_set)
    assert ref.converged
    expected = np.zeros(g.num_nodes)
    expected[ref.nodes] = ref.values
    got_act = make_kernel("push", g, model).spread(seed_set)
    got = np.zeros(g.num_nodes)
    got[got_act.nodes] = got_act.values
    err = np.abs(got - expected).sum()
    slack = 1e-6 * max(1.0, expected.sum())  # float32 transition weights and answers
    assert got_act.error_bound is not None
    assert err <= got_act.error_bound + slack, f"L1 {err:.3g} > bound {got_act.error_bound:.3g}"
    assert got_act.error_bound <= model.tolerance * (1 - model.decay) / model.decay + 1e-12

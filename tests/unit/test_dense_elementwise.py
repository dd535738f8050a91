"""The dense kernel's element-wise step: numexpr and numpy compute the same block."""

from __future__ import annotations

import numexpr
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kernels_agree import graphs, models

import pspread
from pspread.engine.kernels.dense import NUMEXPR_MIN_ELEMENTS, DenseKernel
from pspread.engine.kernels.reference import ReferenceKernel
from pspread.errors import ModelError

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=graphs(), model=models, threads=st.sampled_from([1, 2]), data=st.data())
def test_numexpr_path_equals_numpy_path(g, model, threads, data):
    queries = data.draw(st.lists(st.lists(st.integers(0, g.num_nodes - 1), min_size=1, max_size=3, unique=True),
                                 min_size=1, max_size=4))
    seeds = [pspread.Spreader(g, model, kernel="reference").seeds(q)[0] for q in queries]
    kernels = [DenseKernel(g, model, threads=threads, elementwise=path) for path in ("numexpr", "numpy")]
    fast, slow = (k.spread_batch(seeds) for k in kernels)
    for k in kernels:
        k.close()
    for x, y in zip(fast, slow):
        np.testing.assert_array_equal(x.nodes, y.nodes)
        np.testing.assert_allclose(x.values, y.values, rtol=1e-6, atol=1e-12)
        assert (x.steps, x.converged) == (y.steps, y.converged)


def test_numexpr_path_matches_the_reference_on_a_real_graph():
    g = pspread.generate_graph("ba", nodes=400, degree=3, seed=3, weights="uniform")
    for model in (pspread.SpreadModel.preset("threshold"), pspread.SpreadModel.preset("ppr"),
                  pspread.SpreadModel(retention=0.3, decay=0.05, restart=0.1, suppress=1e-3, max_steps=6)):
        seeds = pspread.Spreader(g, model, kernel="reference").seeds([1, 50, 300])[0]
        want = ReferenceKernel(g, model).spread(seeds)
        kernel = DenseKernel(g, model, threads=2, elementwise="numexpr")
        got = kernel.spread(seeds)
        kernel.close()
        w, v = np.zeros(g.num_nodes), np.zeros(g.num_nodes)
        w[want.nodes], v[got.nodes] = want.values, got.values
        assert np.abs(w - v).max() <= 1e-5 * max(1.0, float(w.max()))


def test_numexpr_thread_setting_is_put_back():
    g = pspread.generate_graph("ba", nodes=200, degree=2, seed=1)
    before = numexpr.set_num_threads(1)
    try:
        kernel = DenseKernel(g, pspread.SpreadModel.preset("threshold"), threads=2, elementwise="numexpr")
        kernel.spread(pspread.Spreader(g).seeds([3])[0])
        kernel.close()
        assert numexpr.set_num_threads(before) == 1
    finally:
        numexpr.set_num_threads(before)


def test_auto_path_follows_block_size():
    g = pspread.generate_graph("ba", nodes=50, degree=2, seed=1)
    model = pspread.SpreadModel()
    for threads in (1, 2):
        kernel = DenseKernel(g, model, threads=threads)
        assert kernel.elementwise_path(NUMEXPR_MIN_ELEMENTS) == "numexpr"
        assert kernel.elementwise_path(NUMEXPR_MIN_ELEMENTS - 1) == "numpy"
        kernel.close()
    assert DenseKernel(g, model, elementwise="numexpr").elementwise_path(10) == "numexpr"
    with pytest.raises(ModelError, match="elementwise must be one of"):
        DenseKernel(g, model, elementwise="fortran")

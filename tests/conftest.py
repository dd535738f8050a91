"""Shared fixtures: small graphs with known answers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI runs the property tests on a fixed example sequence (a red build must be
# reproducible); locally each run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

import pspread  # noqa: E402 (after the hypothesis profile is chosen)

HERE = Path(__file__).resolve().parent
#: the kinds of test, one folder each; tests in these two start processes or run on the wall clock
SLOW_FOLDERS = ("contract", "integration")
# shared test code (the test kernel, synthetic results) and the modules other tests import helpers from;
# spawned worker processes inherit sys.path, so they find the test kernel too
for folder in ("support", "unit", "contract", "cli", "integration"):
    if str(HERE / folder) not in sys.path:
        sys.path.insert(0, str(HERE / folder))


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ANN201 - pytest's hook signature
    """Everything in contract/ and integration/ is ``slow``: ``pytest -m "not slow"`` is the fast loop."""
    for item in items:
        if Path(str(item.fspath)).resolve().parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def app():
    """The real ``pspread`` command, for CLI tests through Typer's runner."""
    from pspread.cli.app import app as cli

    return cli


@pytest.fixture
def spreadr_graph() -> "pspread.Graph":
    """spreadr's published example: arcs 1→2, 1→5, 2→4, 2→5, 4→1, 4→2, 4→3 (0-based here)."""
    src = np.array([1, 1, 2, 2, 4, 4, 4]) - 1
    dst = np.array([2, 5, 4, 5, 1, 2, 3]) - 1
    return pspread.Graph.from_edges(src, dst)


def random_graph(n: int, m: int, seed: int, weighted: bool = True) -> "pspread.Graph":
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    w = rng.uniform(0.1, 1.0, m) if weighted else None
    return pspread.Graph.from_edges(src, dst, w, num_nodes=n)


@pytest.fixture(autouse=True, scope="session")
def _verdict_cache(tmp_path_factory):
    """Bundle verdicts of the test run go to a throw-away folder, not the user's cache."""
    from pspread.engine.bundle_check import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("verdicts"))
    yield
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old

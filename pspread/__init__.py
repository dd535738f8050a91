"""pspread: fast, parallel spreading-activation queries over graphs.

The public names are imported lazily, so ``import pspread`` stays cheap for
worker processes and the CLI's ``--help``.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Graph": "pspread.engine.graph",
    "SpreadModel": "pspread.engine.model",
    "Spreader": "pspread.engine.spreader",
    "SpreadResult": "pspread.engine.spreader",
    "load_graph": "pspread.engine.io",
    "save_graph": "pspread.engine.io",
    "generate_graph": "pspread.engine.generators",
    "sink_warning": "pspread.engine.direction",
    "Query": "pspread.execution.query",
    "QueryResult": "pspread.execution.query",
    "Outcome": "pspread.execution.query",
    "Executor": "pspread.execution.base",
    "InlineExecutor": "pspread.execution.inline",
    "ProcessExecutor": "pspread.execution.process",
    "DaskExecutor": "pspread.execution.dask",
    "PspreadError": "pspread.errors",
    "GraphError": "pspread.errors",
    "ModelError": "pspread.errors",
    "QueryError": "pspread.errors",
    "ScenarioError": "pspread.errors",
    "ExitCode": "pspread.errors",
    "run_scenario": "pspread.session.run",
    "stress_scenario": "pspread.session.run",
    "speedup_scenario": "pspread.session.run",
    "Results": "pspread.results.run",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def _writable(folder: str) -> bool:
    """Whether ``folder`` (or, if missing, its nearest existing parent) can be written."""
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return bool(folder) and os.access(folder, os.W_OK | os.X_OK)


def numba_cache_fallback(environ: Any = os.environ) -> str | None:
    """Point numba's cache at a writable folder when neither of its own choices is writable.

    The compiled kernels cache their machine code (``cache=True``) next to the
    source, or else under ``~/.cache``; with a read-only install and no
    writable HOME numba refuses at import, so even ``pspread --help`` would
    fail.  Then ``NUMBA_CACHE_DIR`` is set to a per-user folder in the temp
    directory (the returned path; None when nothing had to change).  Set
    before numba is imported, and inherited by worker processes.
    """
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    home_cache = os.path.join(os.path.expanduser("~"), ".cache")
    if _writable(os.path.join(here, "engine", "__pycache__")) or _writable(home_cache):
        return None
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = os.path.join(tempfile.gettempdir(), f"pspread-numba-cache-{uid}")
    environ["NUMBA_CACHE_DIR"] = folder
    return folder


numba_cache_fallback()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pspread' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

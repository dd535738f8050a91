"""pspread: fast, parallel spreading-activation queries over graphs.

The public names are imported lazily, so ``import pspread`` stays cheap for
worker processes and the CLI's ``--help``.
"""

from __future__ import annotations

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
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pspread' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

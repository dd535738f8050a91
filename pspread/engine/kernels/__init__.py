"""Spreading kernels: one update rule (DESIGN.md), several ways to compute it.

``reference`` (plain Python, the oracle), ``dense`` (scipy sparse products,
batched), ``frontier`` (touches only active nodes) and ``auto`` (frontier while
the frontier is small, dense past that).
"""

from __future__ import annotations

from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.model import SpreadModel
from pspread.errors import ModelError

KERNELS = ("reference", "dense", "frontier", "auto")


def make_kernel(name: str, graph: Graph, model: SpreadModel, threads: int = 1) -> Kernel:
    """The kernel called ``name`` for this graph and model."""
    key = name.strip().lower()
    if key == "reference":
        from pspread.engine.kernels.reference import ReferenceKernel as cls
    elif key == "dense":
        from pspread.engine.kernels.dense import DenseKernel as cls
    elif key == "frontier":
        from pspread.engine.kernels.frontier import FrontierKernel as cls
    elif key == "auto":
        from pspread.engine.kernels.auto import AutoKernel as cls
    else:
        raise ModelError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return cls(graph, model, threads=threads)


__all__ = ["KERNELS", "Activation", "Kernel", "SeedSet", "make_kernel"]

"""Spreading kernels: one update rule (docs/architecture.md, "Spreading semantics"), several ways to compute it.

``reference`` (plain Python, the oracle), ``dense`` (scipy sparse products,
batched), ``frontier`` (touches only active nodes), ``push`` (forward push for
personalised-PageRank-like models, with an error bound) and ``auto`` (push for
the models it computes while its work stays local; frontier while the frontier
is small; dense past that).
"""

from __future__ import annotations

from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.model import SpreadModel
from pspread.errors import ModelError

KERNELS = ("reference", "dense", "frontier", "push", "auto")


def make_kernel(name: str, graph: Graph, model: SpreadModel, threads: int = 1) -> Kernel:
    """The kernel called ``name`` for this graph and model."""
    key = name.strip().lower()
    if key == "reference":
        from pspread.engine.kernels.reference import ReferenceKernel as cls
    elif key == "dense":
        if model.stop == "topk":
            from pspread.engine.kernels.stepstop import TopkDenseKernel as cls
        else:
            from pspread.engine.kernels.dense import DenseKernel as cls
    elif key == "frontier":
        if model.stop == "topk":
            raise ModelError("the frontier kernel has no top-k stop; use stop: converged, "
                             "or kernel push, dense or auto")
        from pspread.engine.kernels.frontier import FrontierKernel as cls
    elif key == "push":
        from pspread.engine.kernels.push import PushKernel as cls
    elif key == "auto":
        from pspread.engine.kernels.auto import AutoKernel as cls
    else:
        raise ModelError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return cls(graph, model, threads=threads)


__all__ = ["KERNELS", "Activation", "Kernel", "SeedSet", "make_kernel"]

"""Spreading kernels: one update rule (docs/architecture.md, "Spreading semantics"), several ways to compute it.

``reference`` (plain Python, the oracle), ``dense`` (scipy sparse products,
batched), ``frontier`` (touches only active nodes), ``push`` (forward push for
personalised-PageRank-like models, with an error bound) and ``auto`` (push for
the models it computes while its work stays local; frontier while the frontier
is small; dense past that).

``register_kernel`` adds a kernel of one's own under a new name: every
``Spreader`` (and so every executor's workers) can then use it by that name.
A worker process registers it from the ``worker_init`` its executor was given.
"""

from __future__ import annotations

from typing import Callable

from pspread.engine.graph import Graph
from pspread.engine.kernels.base import Activation, Kernel, SeedSet
from pspread.engine.model import SpreadModel
from pspread.errors import ModelError

KERNELS = ("reference", "dense", "frontier", "push", "auto")

#: builds a kernel: ``factory(graph, model, threads=...)``, as a ``Kernel`` subclass does
KernelFactory = Callable[..., Kernel]
_REGISTERED: dict[str, KernelFactory] = {}


def register_kernel(name: str, factory: KernelFactory) -> None:
    """Make ``factory`` the kernel called ``name`` in this process (a built-in name cannot be taken)."""
    key = name.strip().lower()
    if not key or key in KERNELS:
        raise ModelError(f"kernel name {name!r} is empty or built in ({', '.join(KERNELS)}); choose another")
    _REGISTERED[key] = factory


def make_kernel(name: str, graph: Graph, model: SpreadModel, threads: int = 1) -> Kernel:
    """The kernel called ``name`` for this graph and model."""
    key = name.strip().lower()
    cls: type[Kernel]
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
    elif key in _REGISTERED:
        return _REGISTERED[key](graph, model, threads=threads)
    else:
        known = ", ".join(KERNELS + tuple(sorted(_REGISTERED)))
        raise ModelError(f"unknown kernel {name!r}; choose one of {known}")
    return cls(graph, model, threads=threads)


__all__ = ["KERNELS", "Activation", "Kernel", "SeedSet", "make_kernel", "register_kernel"]

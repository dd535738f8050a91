"""A kernel for the tests of real worker processes: it sleeps, or fails, as a query's seeds say.

Workers register it through the executors' ``worker_init`` extension point
(``worker_init=INIT``): pytest puts this folder on ``sys.path`` and spawned
workers inherit the parent's ``sys.path``, so they can import it by name.

A query's largest seed activation above 1 is read as milliseconds to sleep
before answering (``Query(seeds={1: 400.0})`` takes 0.4 s; a plain query,
activation 1, does not sleep); an activation of ``FAIL`` makes the kernel
raise, as a kernel bug would; one of ``GROW`` makes the worker hold
``GROW_MB`` more memory, past a memory limit.
"""

from __future__ import annotations

import time

from pspread.engine.kernels import register_kernel
from pspread.engine.kernels.base import Activation, SeedSet
from pspread.engine.kernels.reference import ReferenceKernel

NAME = "test-sleepy"
INIT = "sleepy_kernel:install"
FAIL = 0.5
#: an activation of GROW makes the worker hold GROW_MB more resident memory (the memory guard's tests)
GROW = 0.25
GROW_MB = 700
_HELD: list[bytes] = []


class SleepyKernel(ReferenceKernel):
    """The reference kernel, after sleeping (or raising) as the seeds ask."""

    name = NAME

    def spread(self, seeds: SeedSet) -> Activation:
        top = float(seeds.values.max())
        if top == FAIL:
            raise RuntimeError("simulated kernel failure")
        if top == GROW:
            _HELD.append(b"\1" * (GROW_MB * 2**20))
        if top > 1.0:
            time.sleep(top / 1000.0)
        return super().spread(seeds)


def install() -> None:
    """``worker_init`` entry point: make ``NAME`` a kernel in this process."""
    register_kernel(NAME, SleepyKernel)

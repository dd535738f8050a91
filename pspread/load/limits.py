"""The checks a run makes on its scenario against this machine, before anything starts.

A scenario is validated on its own (``pspread scenarios validate``); whether
its worker count fits *this* machine is known only here.  Checking it before
the graph is built or a results file is opened means a refused count costs
nothing but the one-line message.
"""

from __future__ import annotations

from pspread.execution.limits import check_worker_count
from pspread.scenario.spec import Scenario


def check_runnable(scenario: Scenario, workers: int | None = None) -> None:
    """Refuse a scenario whose local worker processes would exceed this machine's limit.

    ``workers`` overrides the scenario's count.  The inline executor starts no
    process, and a remote Dask scheduler's workers are not started here.
    """
    spec = scenario.executor
    if spec.kind == "inline" or (spec.kind == "dask" and spec.scheduler is not None):
        return
    check_worker_count(workers or spec.resolved_workers())


__all__ = ["check_runnable"]

"""How many worker processes an executor may start on this machine.

A typo such as ``--workers 100000`` used to start that many processes (each
importing numpy and opening the graph) and brought the machine down; the
orphans outlived the parent for over a minute.  So every executor that starts
local processes refuses a count past ``MAX_WORKERS`` (a hard limit) or past
``OVERSUBSCRIPTION`` × the cores this process may use (its CPU affinity): more
workers than that only queue on the same cores.
"""

from __future__ import annotations

import os

from pspread.errors import ExecutorError

#: the most worker processes any executor starts, whatever the machine
MAX_WORKERS = 1024
#: workers per usable core beyond which a count is refused
OVERSUBSCRIPTION = 4


class WorkerLimitError(ExecutorError):
    """A worker count past the limits (exit 2: ask for fewer)."""

    exit_code = 2


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which a container may limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_limit(cores: int | None = None) -> int:
    """The largest worker count allowed here: ``min(MAX_WORKERS, OVERSUBSCRIPTION × usable cores)``."""
    return min(MAX_WORKERS, OVERSUBSCRIPTION * max(1, cores if cores is not None else usable_cores()))


def check_worker_count(workers: int, cores: int | None = None) -> None:
    """Raise ``WorkerLimitError`` for a count past ``worker_limit``, giving the figures and the fix."""
    have = max(1, cores if cores is not None else usable_cores())
    limit = worker_limit(have)
    if workers > limit:
        why = (f"the hard limit is {MAX_WORKERS}" if limit == MAX_WORKERS else
               f"this machine has {have} usable cores and more than {OVERSUBSCRIPTION} workers a core only queue")
        raise WorkerLimitError(f"{workers} workers is more than the {limit} allowed here ({why}); "
                               f"ask for at most {limit} (or workers: auto, one per core)")


__all__ = ["MAX_WORKERS", "OVERSUBSCRIPTION", "WorkerLimitError", "check_worker_count", "worker_limit",
           "usable_cores"]

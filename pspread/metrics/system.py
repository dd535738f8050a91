"""Facts about the machine this process runs on: CPU model, cores, memory.

The scenario model needs them to resolve ``workers: auto``, the scaling run to
skip worker counts the machine cannot run in parallel, and the results file to
record where a run happened.  Each probe tolerates failure (no /proc, no
psutil answer) and gives None instead, because a results file must be written
even on odd machines.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's marketing name from ``/proc/cpuinfo``, else ``platform.processor()``."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def memory_total_mb() -> float | None:
    """Physical memory in MiB (psutil), None when it cannot be read."""
    try:
        import psutil

        return round(float(psutil.virtual_memory().total) / 2**20, 1)
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return None


def physical_cores() -> int | None:
    """Physical cores (psutil), None when it cannot tell."""
    try:
        import psutil

        cores: int | None = psutil.cpu_count(logical=False)
        return cores
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return None


def logical_cores() -> int | None:
    """Logical CPUs of the machine (``os.cpu_count``), which may exceed the cores this process may use."""
    return os.cpu_count()


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), which a container may limit."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

"""Where a run happened: CPU, cores, memory, platform, library versions, git revision.

A latency figure without the machine behind it cannot be compared; every
results file records this, and ``compare`` warns when two runs differ in it.
Each probe tolerates failure (no /proc, no git, a missing library) and records
None instead, because a results file must be written even on odd machines.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: distributions whose versions are recorded (missing ones as None)
LIBRARIES = ("pspread", "numpy", "scipy", "numba", "pydantic", "psutil", "pyyaml", "typer", "rich",
             "dask", "distributed")
#: fields that must match for two runs' numbers to be comparable
COMPARABLE_KEYS = ("cpu_model", "cores_logical", "cores_physical", "python")


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


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    """Installed versions via ``importlib.metadata``; None for what is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(path: str | Path | None = None) -> dict[str, Any] | None:
    """``{"revision": sha, "dirty": bool}`` of the git checkout holding ``path``; None outside one."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5, check=False)
        if rev.returncode != 0 or not rev.stdout.strip():
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=5, check=False)
        dirty = status.returncode == 0 and bool(status.stdout.strip())
        return {"revision": rev.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return None


def memory_total_mb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**20, 1)
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return None


def physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001
        return None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), which a container may limit."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def collect_environment() -> dict[str, Any]:
    """Everything above, as one JSON-ready dict."""
    return {
        "cpu_model": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": physical_cores(),
        "cores_usable": usable_cores(),
        "memory_total_mb": memory_total_mb(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "libraries": library_versions(),
        "git": git_revision(),
    }


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human lines for environment fields that differ between two runs (for ``compare``)."""
    lines = []
    for key in COMPARABLE_KEYS:
        if a.get(key) != b.get(key):
            lines.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return lines

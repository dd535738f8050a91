"""Where a run happened: CPU, cores, memory, platform, library versions, git revision.

A latency figure without the machine behind it cannot be compared; every
results file records this, and ``compare`` warns when two runs differ in it.
The machine's facts come from ``pspread.metrics.system``; this module adds what
the record needs beyond them (library versions, the git revision).  Each probe
tolerates failure (no git, a missing library) and records None instead,
because a results file must be written even on odd machines.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pspread.metrics.system import cpu_model, logical_cores, memory_total_mb, physical_cores, usable_cores

#: distributions whose versions are recorded (missing ones as None)
LIBRARIES = ("pspread", "numpy", "scipy", "numba", "pydantic", "psutil", "pyyaml", "typer", "rich",
             "dask", "distributed")
#: fields that must match for two runs' numbers to be comparable
COMPARABLE_KEYS = ("cpu_model", "cores_logical", "cores_physical", "python")


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


def collect_environment() -> dict[str, Any]:
    """The machine's facts, the platform, library versions and git revision, as one JSON-ready dict."""
    return {
        "cpu_model": cpu_model(),
        "cores_logical": logical_cores(),
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

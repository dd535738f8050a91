"""Temp folders that name their owner, so the next run can remove what a killed one left behind.

A process ended by SIGKILL (or the OOM killer) runs no cleanup, so its temp
folders -- a generated graph, a Dask cluster's scratch, a half-written bundle
-- would stay forever.  Every such folder is created as
``<prefix><pid>-<random>``; creating one first removes the siblings with the
same prefix whose owner process no longer exists (``psutil.pid_exists``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil


def sweep_stale(prefix: str, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove ``<prefix><pid>-*`` folders in ``folder`` (default: the temp dir) whose owner is gone; returns them."""
    where = Path(folder if folder is not None else tempfile.gettempdir())
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed: list[Path] = []
    try:
        entries = list(where.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or int(match.group(1)) == os.getpid() or psutil.pid_exists(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError:
            pass  # another user's folder, or already gone: not ours to fight over
    return removed


def owned_tempdir(prefix: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """A new private folder ``<prefix><this pid>-<random>`` in ``folder``, after sweeping stale siblings."""
    sweep_stale(prefix, folder)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=folder))


__all__ = ["owned_tempdir", "sweep_stale"]

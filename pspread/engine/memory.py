"""Refuse an allocation that cannot fit before making it, naming the figures.

numpy raises ``MemoryError`` (or, worse, the kernel's OOM killer ends the
process) only after a large array was asked for; a typo such as ``--nodes
1e12`` should instead end at once with one line saying how much was asked,
how much is free and what to change.  ``psutil.virtual_memory().available``
is the figure: memory the system can give without swapping.
"""

from __future__ import annotations

import psutil

from pspread.errors import PspreadError


class NotEnoughMemory(PspreadError):
    """An operation would need more memory than the machine has available (exit 2: change the input)."""


def gib(nbytes: float) -> str:
    """``12.3 GiB`` (or MiB below one GiB), for messages."""
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def available_bytes() -> int:
    """Memory the system can hand out now without swapping."""
    return int(psutil.virtual_memory().available)


def require_memory(nbytes: float, what: str, fix: str) -> None:
    """Raise ``NotEnoughMemory`` when ``what`` would need more than the memory available now.

    ``nbytes`` is an estimate of the peak; ``fix`` says what the user can change.
    """
    free = available_bytes()
    if nbytes > free:
        raise NotEnoughMemory(f"{what} needs about {gib(nbytes)} of memory, more than the {gib(free)} available; "
                              f"{fix}")


__all__ = ["NotEnoughMemory", "require_memory", "available_bytes", "gib"]

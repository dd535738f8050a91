"""The driver's time source: ``now`` and ``sleep``, real by default, simulated in tests.

Every stamp pspread compares is ``time.perf_counter()`` (CLOCK_MONOTONIC on
Linux, shared by every process), so the real clock is that plus
``time.sleep``.  A test that pairs a scripted executor with a simulated clock
runs a ten-second phase in milliseconds and gets exact, repeatable figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Clock:
    """``now()`` in seconds and ``sleep(seconds)``; one object so the two can never disagree."""

    now: Callable[[], float] = time.perf_counter
    sleep: Callable[[float], None] = time.sleep


SYSTEM_CLOCK = Clock()

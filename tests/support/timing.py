"""Time for tests: a simulated clock, and a bounded wait for something real processes do."""

from __future__ import annotations

import time
from typing import Callable


class FakeClock:
    """Time that only moves when someone sleeps or works: pass ``now`` and ``sleep`` to the driver
    and a scripted executor, and a ten-second phase runs in milliseconds with exact figures."""

    def __init__(self, start: float = 100.0) -> None:
        self.t = start
        self.slept: list[float] = []  # every sleep asked for, in order

    def now(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.slept.append(dt)
        self.t += max(0.0, dt)


def wait_until(cond: Callable[[], object], timeout: float = 20.0, step: float = 0.02) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass (a deadline, never an endless loop)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())

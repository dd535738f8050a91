"""Balancing strategies: which worker gets the next query.

Each strategy sees only the live, accepting workers' in-flight counts, so it
is a few integer comparisons per query (the parent's CPU per query is the
executor's overhead).  ``least-loaded`` rotates where it starts looking, so
ties -- every worker idle at low load -- still spread work over all workers.
"""

from __future__ import annotations

import random
from typing import Protocol, Sequence

from pspread.errors import ExecutorError

BALANCES = ("least-loaded", "round-robin", "power-of-two")


class Slot(Protocol):
    """What a strategy reads from a worker: how many of its queries are outstanding."""

    @property
    def inflight_n(self) -> int: ...


class Balancer:
    """Picks one of ``slots`` (never empty) for the next query."""

    name = "base"

    def pick(self, slots: Sequence[Slot]) -> int:  # pragma: no cover - interface
        raise NotImplementedError


class RoundRobin(Balancer):
    name = "round-robin"

    def __init__(self) -> None:
        self._next = 0

    def pick(self, slots: Sequence[Slot]) -> int:
        i = self._next % len(slots)
        self._next = i + 1
        return i


class LeastLoaded(Balancer):
    """Fewest queries outstanding; ties broken by a rotating start."""

    name = "least-loaded"

    def __init__(self) -> None:
        self._start = 0

    def pick(self, slots: Sequence[Slot]) -> int:
        n = len(slots)
        if n == 1:
            return 0
        start = self._start = (self._start + 1) % n
        best, best_load = start, slots[start].inflight_n
        for k in range(1, n):
            i = (start + k) % n
            load = slots[i].inflight_n
            if load < best_load:
                best, best_load = i, load
        return best


class PowerOfTwo(Balancer):
    """Two workers at random, the less loaded wins: near least-loaded at O(1)."""

    name = "power-of-two"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def pick(self, slots: Sequence[Slot]) -> int:
        n = len(slots)
        if n == 1:
            return 0
        a, b = self._rng.sample(range(n), 2)
        return a if slots[a].inflight_n <= slots[b].inflight_n else b


def make_balancer(name: str) -> Balancer:
    """The strategy called ``name``; an ``ExecutorError`` naming the choices otherwise."""
    key = name.strip().lower().replace("_", "-")
    if key in ("least-loaded", "leastloaded"):
        return LeastLoaded()
    if key in ("round-robin", "roundrobin"):
        return RoundRobin()
    if key in ("power-of-two", "p2c", "power-of-two-choices"):
        return PowerOfTwo()
    raise ExecutorError(f"unknown balance strategy {name!r}; choose one of {', '.join(BALANCES)}")


__all__ = ["BALANCES", "Balancer", "LeastLoaded", "PowerOfTwo", "RoundRobin", "make_balancer"]

"""Durations written the way people write them: ``30s``, ``2m``, ``500ms``, ``1h30m``, ``1.5``.

One parser serves the scenario files, the ``PSPREAD_*`` environment variables
and the CLI flags, so ``--duration 2m`` and ``duration_s: 2m`` can never mean
different things.  A bare number is in the unit the field's name carries
(seconds for ``*_s``, milliseconds for ``*_ms``); a suffixed string is
converted to that unit.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|min|s|m|h)", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_duration(value: object, unit: str = "s") -> float:
    """A duration in ``unit`` ("s" or "ms") from a number or a string like ``"1m30s"``.

    Raises ``ValueError`` with a message that shows the accepted forms; the
    scenario model turns it into an error at the right key path.
    """
    if unit not in ("s", "ms"):
        raise ValueError(f"unit must be 's' or 'ms', not {unit!r}")
    scale = 1.0 if unit == "s" else 1e3
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 2m, 500ms or a number, got {value!r}")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            result = float(text)
        else:
            result = _parse_suffixed(text, value) * scale
    else:
        raise ValueError(f"expected a duration like 30s, 2m, 500ms or a number, got {value!r}")
    if not math.isfinite(result):
        raise ValueError(f"duration must be finite, got {value!r}")
    if result < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return result


def _parse_suffixed(text: str, original: str) -> float:
    """Seconds from ``1h2m3s``-style text; every character must belong to a part."""
    pos, total, parts = 0, 0.0, 0
    compact = text.replace(" ", "")
    while pos < len(compact):
        match = _PART.match(compact, pos)
        if match is None:
            raise ValueError(
                f"cannot read {original!r} as a duration; write e.g. 30s, 2m, 1m30s, 500ms or a number"
            )
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        pos = match.end()
        parts += 1
    if parts == 0:
        raise ValueError(f"empty duration {original!r}; write e.g. 30s, 2m or 500ms")
    return total


def format_duration(seconds: float) -> str:
    """A short human form (``1m30s``, ``2.5s``, ``250ms``) for tables and messages."""
    if seconds < 1:
        return f"{seconds * 1e3:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:g}s" if rest else f"{int(minutes)}m"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes)}m" if minutes else f"{int(hours)}h"

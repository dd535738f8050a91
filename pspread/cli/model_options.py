"""The model a command's ``--preset`` and ``--set name=value`` options describe (query, bench).

The options themselves are defined once in options.py; this is the one
parser of their values, so every command reads model parameters the same way.
"""

from __future__ import annotations

from typing import Optional

from pspread.engine.model import SpreadModel
from pspread.errors import ModelError


def parse_value(text: str) -> object:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, anything else stays text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def build_model(preset: str, overrides: Optional[list[str]], top: Optional[int] = None) -> SpreadModel:
    """The model of a preset with ``name=value`` overrides (ModelError names a bad one)."""
    params: dict[str, object] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ModelError(f"--set {item!r}: write name=value, e.g. --set retention=0.3")
        name, value = item.split("=", 1)
        params[name.strip()] = parse_value(value)
    if top is not None:
        params["top_k"] = top
    return SpreadModel.preset(preset, **params)

"""Help screens that speak the command line's language, not Python's.

Typer 0.2x labels a value by its Python annotation (``<str>``, ``<bool>``,
``<list[str]>``, ``<int range> [x>=1]``) and writes required arguments as
``{graph}``.  pspread's options carry their own metavars (``N``, ``DURATION``,
``FILE|-``; see options.py); for every value without one, this module makes
Typer print click's plain names instead (TEXT, INTEGER, NUMBER, PATH, the
choices as ``a|b``), nothing for on/off flags, ranges as ``>= 1``, and
arguments as ``GRAPH`` / ``[SCENARIO]``.  It changes only how help is drawn,
never what is parsed, and it does nothing on a Typer without these hooks
(older releases already print click's names).

:func:`install` runs when pspread.cli.app is imported, before any help is drawn.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional, get_args, get_origin

import typer.core

_NAMES = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}


def _label(annotation: Any) -> Optional[str]:
    """The click-style name of a value annotated ``annotation`` (None: a flag, show nothing)."""
    if get_origin(annotation) in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return _label(args[0]) if args else "TEXT"
    if annotation is bool:
        return None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "|".join(str(m.value) for m in annotation)
    if isinstance(annotation, type):
        for kind, name in _NAMES.items():
            if issubclass(annotation, kind):
                return name
    return "TEXT"


def _display_type(self: Any, ctx: Any) -> str:
    if self.metavar is not None:
        return str(self.metavar)
    return _label(self.type_descriptor.annotation) or ""


def _option_type_rich(self: Any, ctx: Any) -> Optional[str]:
    if self.metavar is not None:
        return str(self.metavar)
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    label = _display_type(self, ctx)
    return label or None


def _range(self: Any) -> Optional[str]:
    low, high = getattr(self, "min", None), getattr(self, "max", None)
    if low is None and high is None:
        return None
    if high is None:
        return f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{low} to {high}"


def _usage_name(self: Any) -> str:
    name = self.metavar or self.name.upper()
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return str(name) if self.required else f"[{name}]"


def _rich_name(self: Any) -> str:
    name = self.metavar or self.name.upper()
    return str(name) + ("..." if self.metavar is None and self.nargs != 1 else "")


def install() -> bool:
    """Patch Typer's help labels once; False where this Typer has no such hooks (nothing to fix)."""
    param = getattr(typer.core, "_TyperParameter", None)
    option, argument = typer.core.TyperOption, typer.core.TyperArgument
    needed = (hasattr(param, "display_type"), hasattr(argument, "_usage_display_name"),
              hasattr(argument, "_rich_display_name"), hasattr(option, "_get_number_range_help_str"))
    if param is None or not all(needed):
        return False
    if getattr(param, "_pspread_style", False):
        return True
    patches: list[tuple[type, str, Any]] = [
        (param, "display_type", _display_type),
        (option, "display_type_rich", _option_type_rich),
        (argument, "display_type_rich", lambda self, ctx: None),  # the name column already says what it is
        (option, "_get_number_range_help_str", _range),
        (argument, "_get_number_range_help_str", _range),
        (argument, "_usage_display_name", _usage_name),
        (argument, "display_name_raw", property(lambda self: str(self.metavar or self.name.upper()))),
        (argument, "_rich_display_name", _rich_name),
        (param, "_pspread_style", True),
    ]
    for cls, name, value in patches:
        setattr(cls, name, value)
    return True

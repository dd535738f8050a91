"""A problem in a scenario, located: file, line and key path -- and the error that lists them all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from pspread.errors import ScenarioError

#: a key path into a scenario's data, e.g. ``("phases", 1, "rate_qps")``
Loc = tuple[Union[str, int], ...]


def dotted(loc: Loc) -> str:
    """``("phases", 1, "rate_qps")`` -> ``"phases.1.rate_qps"``."""
    return ".".join(str(p) for p in loc)


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as precisely as the source allows."""

    where: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        place = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{place}: {self.path}: {self.message}" if self.path else f"{place}: {self.message}"


class ScenarioValidationError(ScenarioError):
    """A scenario with one or more problems; ``problems`` holds them, the message lists them."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid scenario {source} ({len(problems)} {noun}):\n{lines}")

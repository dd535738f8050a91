"""Scenario YAML read safely: line numbers kept, duplicate keys found, hostile files refused.

A scenario is a few kB written by hand, so anything far past that -- a file
over ``MAX_SCENARIO_BYTES``, nesting deeper than ``MAX_DEPTH``, more than
``MAX_NODES`` values once aliases are expanded (a "billion laughs" bomb), an
alias that contains itself, bytes that are not UTF-8 -- is refused with one
located problem, before it can cost seconds or gigabytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pspread.errors import ScenarioError
from pspread.scenario.problems import Loc, Problem, ScenarioValidationError, dotted

#: limits on a scenario file: a real one is a few kB, a few levels deep, with a handful of aliases
MAX_SCENARIO_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 100_000


class LineLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that records the line of every mapping key and list item.

    ``lines`` maps a key path (``("phases", 1, "rate_qps")``) to its 1-based
    line; ``duplicates`` lists keys written twice in one mapping, which plain
    YAML loaders silently collapse.  The walk counts every node it visits with
    aliases expanded, so an alias bomb (a billion laughs) is refused after
    ``MAX_NODES`` instead of being expanded, and it refuses an alias that
    contains itself and nesting deeper than ``MAX_DEPTH``.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int]] = []
        self.visited = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        """Refuse ``[[[[...`` while scanning, before the composer recurses into it."""
        if self.flow_level >= MAX_DEPTH:
            raise _TooBig(self.line + 1, f"nested more than {MAX_DEPTH} levels deep; a scenario needs a few")
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]

    def record(self, node: yaml.Node, path: Loc = (), open_: tuple[int, ...] = ()) -> None:
        self.visited += 1
        line = node.start_mark.line + 1
        if self.visited > MAX_NODES:
            raise _TooBig(line, f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?); "
                                "write the values out, or use fewer nested aliases")
        if id(node) in open_:
            raise _TooBig(line, "an alias refers to a value that contains it (a recursive alias); remove it")
        if len(path) > MAX_DEPTH:
            raise _TooBig(line, f"nested more than {MAX_DEPTH} levels deep; a scenario needs a few")
        inner = open_ + (id(node),)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
                child = path + (key,)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self.record(value_node, child, inner)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                self.record(item, path + (index,), inner)


class _TooBig(Exception):
    """The YAML walk met a structure no scenario needs (raised with its line)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def read_yaml(text: str, where: str) -> tuple[dict[str, Any], dict[Loc, int], list[Problem]]:
    """Parse scenario text safely: the data, the line map and any structural problems.

    Empty text (or only comments) is a problem too: a file meant as a scenario
    that holds nothing is almost certainly the wrong file.
    """
    loader = LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioValidationError(where, [Problem(where, None, "", "the scenario is empty (or only comments); "
                                                  "write at least one key, e.g. name: smoke")])
        loader.record(node)
        data = loader.construct_document(node)
    except _TooBig as exc:
        raise ScenarioValidationError(where, [Problem(where, exc.line, "", str(exc))]) from None
    except RecursionError:
        message = f"nested too deeply to read; a scenario needs a few levels, at most {MAX_DEPTH}"
        raise ScenarioValidationError(where, [Problem(where, None, "", message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ScenarioValidationError(where, [Problem(where, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioValidationError(where, [Problem(where, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioValidationError(
            where, [Problem(where, 1, "", f"a scenario is a mapping of keys (name:, graph:, phases: ...), "
                                         f"not a {type(data).__name__}")]
        )
    problems = [Problem(where, line, dotted(loc), "key written twice; keep one")
                for loc, line in loader.duplicates]
    return data, loader.lines, problems


def read_scenario_file(path: Path) -> str:
    """A scenario file's text: refused past ``MAX_SCENARIO_BYTES`` or when it is not UTF-8, naming the byte."""
    size = path.stat().st_size
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: {size:,} bytes is too large for a scenario (at most {MAX_SCENARIO_BYTES:,}); "
                            "is it the right file?")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                            "save the file as UTF-8") from None



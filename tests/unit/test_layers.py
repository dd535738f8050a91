"""Layering rules a refactor could silently break: which package may import which.

Every module's imports are read from its source (``ast``, function-level and
``TYPE_CHECKING`` imports included, ``import_module("...")`` with a literal
name too), so an arrow that only appears inside a function still counts.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "pspread"

#: pspread's packages and the packages each may import (``pspread.errors`` is open to all).
#: ``pspread`` is the top-level package itself (its lazy public API); nothing inside may lean on it.
ALLOWED: dict[str, frozenset[str]] = {
    "pspread": frozenset(),
    "__main__": frozenset({"cli"}),
    "errors": frozenset(),
    "engine": frozenset(),
    "metrics": frozenset(),
    "execution": frozenset({"engine"}),
    "scenario": frozenset({"engine", "metrics"}),
    "results": frozenset({"metrics"}),
    "report": frozenset({"results"}),
    "load": frozenset({"engine", "execution", "metrics", "results", "scenario"}),
    "session": frozenset({"execution", "load", "metrics", "results", "scenario"}),
    "ui": frozenset({"load", "metrics", "results", "scenario"}),
    "bench": frozenset({"engine", "execution", "load"}),
    "cli": frozenset({"bench", "engine", "report", "results", "scenario", "session", "ui"}),
}
OPEN_TO_ALL = "errors"

#: user-interface and configuration libraries, and the only packages that may import them
UI_LIBRARIES: dict[str, frozenset[str]] = {
    "typer": frozenset({"cli"}),
    "click": frozenset({"cli"}),
    "rich": frozenset({"cli", "ui"}),
    "yaml": frozenset({"cli", "scenario"}),
    "pydantic": frozenset({"cli", "results", "scenario"}),
}


def _layer(path: pathlib.Path) -> str:
    """The package a source file belongs to: ``load/driver.py`` -> ``load``, ``errors.py`` -> ``errors``.

    The top-level ``__init__.py`` is ``pspread`` (the lazy public API).
    """
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return "pspread" if rel.stem == "__init__" else rel.stem


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: pathlib.Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``path`` (or ``source`` as if it were there) imports."""
    own = _module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "pspread":  # from pspread import errors / load / Graph
                for alias in node.names:
                    yield node.lineno, f"pspread.{alias.name}"
            else:
                yield node.lineno, module
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"):
            yield node.lineno, node.args[0].value


def _target_layer(name: str) -> str | None:
    """The pspread package ``name`` lands in, None outside pspread."""
    parts = name.split(".")
    if parts[0] != "pspread":
        return None
    if len(parts) == 1:
        return "pspread"
    if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file():
        return parts[1]
    return "pspread"  # a name of the lazy top-level API, e.g. ``from pspread import Graph``


def _sources() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_layer():
    unknown = sorted({_layer(p) for p in _sources()} - set(ALLOWED))
    assert not unknown, f"packages missing from the layer table: {unknown}"


def test_the_layer_table_has_no_cycles():
    state: dict[str, str] = {}

    def visit(layer: str, trail: list[str]) -> None:
        if state.get(layer) == "done":
            return
        assert state.get(layer) != "open", f"cycle in the layer table: {' -> '.join([*trail, layer])}"
        state[layer] = "open"
        for nxt in sorted(ALLOWED[layer] | ({OPEN_TO_ALL} - {layer})):
            visit(nxt, [*trail, layer])
        state[layer] = "done"

    for layer in ALLOWED:
        visit(layer, [])


def test_packages_import_only_the_layers_below_them():
    offenders = []
    for path in _sources():
        src = _layer(path)
        for line, name in _imports(path):
            dst = _target_layer(name)
            if dst is None or dst == src or dst == OPEN_TO_ALL or dst in ALLOWED[src]:
                continue
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} -> {dst} ({name})")
    assert not offenders, "imports against the layer table:\n" + "\n".join(offenders)


def test_every_allowed_arrow_is_used():
    # the table stays as strict as the code allows: an arrow nothing needs is removed
    used: dict[str, set[str]] = {layer: set() for layer in ALLOWED}
    for path in _sources():
        for _, name in _imports(path):
            dst = _target_layer(name)
            if dst is not None:
                used[_layer(path)].add(dst)
    unused = sorted(f"{src} -> {dst}" for src, dsts in ALLOWED.items() for dst in dsts if dst not in used[src])
    assert not unused, f"arrows in the layer table that no import needs (remove them from ALLOWED): {unused}"


def test_ui_and_config_libraries_stay_in_their_packages():
    # in particular the engine never imports typer, rich, yaml or pydantic
    offenders = []
    for path in _sources():
        src = _layer(path)
        for line, name in _imports(path):
            lib = name.split(".")[0]
            if lib in UI_LIBRARIES and src not in UI_LIBRARIES[lib]:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} -> {lib}")
    assert not offenders, "UI/config library imported outside the CLI, UI or scenario:\n" + "\n".join(offenders)


def test_the_checker_sees_function_level_and_relative_imports():
    # the rules above are only as good as the parser: make sure it does not miss nested imports
    fake = PACKAGE / "load" / "driver.py"
    source = (
        "import os\n"
        "def f():\n"
        "    from pspread.results.run import Results\n"
        "    from ..ui import live\n"
        "    from pspread import cli\n"
        "    if TYPE_CHECKING:\n"
        "        import pspread.ui.summary\n"
        "    import_module('pspread.bench.kernels')\n"
    )
    found = sorted(_imports(fake, source))
    assert found == [(1, "os"), (3, "pspread.results.run"), (4, "pspread.ui"), (5, "pspread.cli"),
                     (7, "pspread.ui.summary"), (8, "pspread.bench.kernels")]
    assert [_target_layer(n) for _, n in found] == [None, "results", "ui", "cli", "ui", "bench"]


def test_importing_the_engine_loads_no_ui_library():
    # (yaml is not checked here: numba reads its own YAML config when imported)
    code = (
        "import sys, pspread\n"
        "from pspread.engine import graph, io, edgelist, generators, model, spreader, labels\n"
        "from pspread.engine.kernels import reference, dense, frontier, auto\n"
        "bad = sorted(m for m in ('typer', 'rich', 'pydantic', 'click') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the engine pulled in: {out.stdout.strip()}"


def test_only_the_cli_and_ui_print():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("cli/", "ui/")):
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*print\(", line):
                offenders.append(f"{rel}:{no}")
    assert not offenders, f"print() below the CLI: {offenders}"

"""Layering rules of DESIGN.md that a refactor could silently break."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "pspread"


FORBIDDEN = {"typer", "rich", "yaml", "pydantic", "click"}


def test_engine_source_imports_no_ui_or_config_libraries():
    offenders = []
    for path in (PACKAGE / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders


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

"""The ``pspread`` command registers its subcommands lazily: same help screens, no heavy imports at start."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

import pytest
import typer
from typer.testing import CliRunner

from pspread.cli.app import COMMANDS, SETTINGS, module_commands
from pspread.cli.errors import ErrorHandlingGroup

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

runner = CliRunner()

#: every command module, in the order they were registered before registration became lazy
MODULES = ["pspread.cli.graph_cmd", "pspread.cli.query_cmd", "pspread.cli.bench_cmd", "pspread.cli.scenarios_cmd",
           "pspread.cli.compare_cmd", "pspread.cli.report_cmd", "pspread.cli.run_cmd"]


def _eager() -> typer.Typer:
    """The ``pspread`` command with every module imported and registered up front (the reference)."""
    eager = typer.Typer(**SETTINGS, cls=ErrorHandlingGroup)
    for module in MODULES:
        import_module(module).register(eager)
    return eager


def _command_paths() -> list[list[str]]:
    """Every command and subcommand of the eager build, as argument lists."""
    paths: list[list[str]] = [[]]

    def walk(group: typer.core.TyperGroup, prefix: list[str]) -> None:
        for name, cmd in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(cmd, typer.core.TyperGroup):
                walk(cmd, [*prefix, name])

    walk(typer.main.get_group(_eager()), [])
    return paths


def test_starting_the_cli_imports_no_numba_scipy_or_pydantic():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pspread.cli.app"],
                         capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert "typer" in imported, "the -X importtime output was not read"  # the check below can fail
    assert not imported & {"numba", "scipy", "pydantic"}, sorted(imported & {"numba", "scipy", "pydantic"})


def test_the_table_names_exactly_the_commands_the_modules_register():
    registered = {name: module for module in MODULES for name in module_commands(module)}
    assert {name: module for name, (module, _) in COMMANDS.items()} == registered


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "pspread")
def test_every_help_screen_is_the_same_as_with_every_module_imported(app: typer.Typer, path: list[str]):
    lazy = runner.invoke(app, [*path, "--help"])
    eager = runner.invoke(_eager(), [*path, "--help"])
    assert lazy.exit_code == eager.exit_code == 0, lazy.output
    assert lazy.output == eager.output


def test_an_unknown_command_is_reported_as_before(app: typer.Typer):
    lazy = runner.invoke(app, ["scenario"])
    eager = runner.invoke(_eager(), ["scenario"])
    assert lazy.exit_code == eager.exit_code == 2
    assert lazy.output == eager.output and "scenarios" in lazy.output

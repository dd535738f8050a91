"""The ``pspread`` command: every subcommand is registered here.

Each command lives in its own module with a ``register(app)`` function, so
this file is only the table of contents.
"""

from __future__ import annotations

import typer

from pspread.cli.errors import ErrorHandlingGroup

app = typer.Typer(
    name="pspread",
    cls=ErrorHandlingGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help=(
        "Fast parallel spreading-activation queries over graphs, and the tool that "
        "benchmarks and stresses them.\n\n"
        "Start with `pspread run` (a built-in scenario, no files needed), or build a graph with "
        "`pspread graph generate` and ask it something with `pspread query`."
    ),
)

# Command modules, each with a register(app) function; add new ones here.
_COMMAND_MODULES = [
    "pspread.cli.graph_cmd",
    "pspread.cli.query_cmd",
    "pspread.cli.bench_cmd",
    "pspread.cli.scenarios_cmd",
    "pspread.cli.compare_cmd",
    "pspread.cli.run_cmd",
]


def _register_all() -> None:
    from importlib import import_module

    for name in _COMMAND_MODULES:
        import_module(name).register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()

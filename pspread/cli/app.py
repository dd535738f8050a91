"""The ``pspread`` command: every subcommand is registered here, and imported only when it runs.

Each command lives in its own module with a ``register(app)`` function, so
this file is only the table of contents.  The command modules import the
engine, numba, scipy and pydantic; importing them all to print ``pspread
--help`` took seconds.  So the table below also carries each command's
one-line help: ``pspread --help`` lists the commands from it, and a command's
module is imported (and registered for real) only when that command is
resolved -- to run it or to print its own ``--help``.  tests/cli/test_cli_app.py
checks that every help screen is the same as with every module imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import typer
from typing_extensions import Annotated

from pspread.cli.errors import ErrorHandlingGroup
from pspread.cli.help_style import install as _install_help_style

_install_help_style()

#: command name -> (the module whose ``register(app)`` adds it, the line ``pspread --help`` shows for it),
#: in the order ``pspread --help`` lists them (single commands first, then groups, as Typer orders them)
COMMANDS: dict[str, tuple[str, str]] = {
    "query": ("pspread.cli.query_cmd", "Spread activation from the seeds and print the top-k nodes."),
    "compare": ("pspread.cli.compare_cmd",
                "Compare a run with a baseline; exit 1 only on a change beyond tolerance that is also significant."),
    "report": ("pspread.cli.report_cmd",
               "Write one self-contained HTML report (plots, gates, environment) of results files; works offline."),
    "run": ("pspread.cli.run_cmd",
            "Run a scenario's phases with a live view; gate on its thresholds (exit 0 pass, 1 fail)."),
    "stress": ("pspread.cli.run_cmd",
               "Find the capacity knee (the highest rate that meets the latency and error gates), or soak."),
    "speedup": ("pspread.cli.run_cmd", "Speedup and efficiency of W workers over 1 on one fixed query set; "
                "counts above the cores are SKIPPED."),
    "graph": ("pspread.cli.graph_cmd",
              "Make, import and inspect graph bundles (folders of .npy arrays opened with mmap)."),
    "bench": ("pspread.cli.bench_cmd", "Micro-benchmarks of kernels and executors."),
    "scenarios": ("pspread.cli.scenarios_cmd", "Validate, list and show benchmark scenarios (YAML files)."),
}

def version_text() -> str:
    """``pspread 0.1.0``: the version of the installed distribution (importlib.metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"pspread {version('pspread')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "pspread (not installed: no version recorded; pip install -e . records it)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    # The group's own options: only --version (each command has its own).
    pass


#: the settings of the ``pspread`` command (also those a command module registers onto)
SETTINGS: dict[str, Any] = {
    "name": "pspread",
    "no_args_is_help": True,
    "add_completion": True,
    "callback": _root,
    "pretty_exceptions_enable": False,
    "help": (
        "Fast parallel spreading-activation queries over graphs, and the tool that "
        "benchmarks and stresses them.\n\n"
        "Start with `pspread run` (a built-in scenario, no files needed), or build a graph with "
        "`pspread graph generate` and ask it something with `pspread query`."
    ),
}


def module_commands(module: str) -> dict[str, Any]:
    """The click commands ``module.register`` adds, built exactly as on the ``pspread`` command itself."""
    holder = typer.Typer(**SETTINGS, cls=ErrorHandlingGroup)
    import_module(module).register(holder)
    return dict(typer.main.get_group(holder).commands)


def bare_json_means_stdout(args: list[str]) -> list[str]:
    """``--json`` with no value (last, or before another option) is ``--json -``: JSON on stdout.

    Every output option takes a path and ``-`` means stdout; this keeps the
    short habit ``pspread query g 1 --json`` working on top of that one rule.
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(arg)
        if arg == "--json":
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or (following.startswith("-") and following != "-"):
                out.append("-")
    return out


class _Listed(typer.core.TyperCommand):
    """A command as ``pspread --help`` lists it, before its module is imported."""

    def __init__(self, name: str, summary: str) -> None:
        super().__init__(name, help=summary)


class LazyGroup(ErrorHandlingGroup):
    """The ``pspread`` group: commands from ``COMMANDS``, each module imported when one of its commands is resolved."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (_, summary) in COMMANDS.items():
            self.commands.setdefault(name, _Listed(name, summary))

    def _load(self, name: str) -> None:
        if name in COMMANDS and isinstance(self.commands.get(name), _Listed):
            self.commands.update(module_commands(COMMANDS[name][0]))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, bare_json_means_stdout(args))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args:
            self._load(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(**SETTINGS, cls=LazyGroup)


def main() -> None:
    """The command line with its signal handling and last safety net (``pspread.cli.entry.main``)."""
    from pspread.cli.entry import main as entry_main

    entry_main()

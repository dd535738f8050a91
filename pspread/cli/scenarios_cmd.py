"""``pspread scenarios validate|list|show``: check scenario files before anything runs.

``validate`` is the command to put in a pre-commit hook or a CI step: it reads
each file with the same loader ``pspread run`` uses and prints every problem
with its ``file:line: key.path``, exiting 2 if any file has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer
import yaml
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from typing_extensions import Annotated

from pspread.cli.errors import EXIT_USAGE
from pspread.cli.options import JsonOpt, epilog, is_stdout, write_output
from pspread.errors import ScenarioError
from pspread.scenario import Scenario, format_duration
from pspread.scenario.loader import (
    ScenarioValidationError,
    default_scenario_text,
    find_scenarios,
    load_scenario,
    read_scenario_file,
    resolve_scenario,
)

scenarios_app = typer.Typer(
    name="scenarios",
    no_args_is_help=True,
    help="Validate, list and show benchmark scenarios (YAML files).",
)


def _console() -> Console:
    return Console(highlight=False)


def _describe(s: Scenario) -> str:
    gates = len(s.parsed_thresholds())
    return (f"{len(s.phases)} phase{'s' if len(s.phases) != 1 else ''}, "
            f"{format_duration(s.total_duration_s())}, {gates} threshold{'s' if gates != 1 else ''}")


@scenarios_app.command("validate", epilog=epilog([
    "pspread scenarios validate scenarios/*.yaml",
    "PSPREAD_WORKERS=4 pspread scenarios validate my.yaml --env --json -",
]))
def validate(
    files: Annotated[List[str], typer.Argument(metavar="SCENARIO...",
                                               help="Scenario files (or names of shipped scenarios).")],
    json_out: JsonOpt = None,
    env: Annotated[bool, typer.Option("--env/--no-env",
                                      help="Also apply PSPREAD_* environment variables, as `run` does.")] = False,
) -> None:
    """Check scenario files; print OK or every problem as file:line: key.path: message (exit 2 on any)."""
    report: list[dict[str, Any]] = []
    for name in files:
        entry: dict[str, Any] = {"file": name}
        try:
            source = resolve_scenario(name)
            scenario = load_scenario(source, environ=None if env else {})
            entry.update(ok=True, name=scenario.name, summary=_describe(scenario), problems=[])
        except ScenarioValidationError as exc:
            entry.update(ok=False, problems=[str(p) for p in exc.problems])
        except ScenarioError as exc:
            entry.update(ok=False, problems=[str(exc)])
        report.append(entry)
    bad = [e for e in report if not e["ok"]]
    if json_out is not None:
        write_output(json_out, json.dumps({"ok": not bad, "files": report}, indent=2), inputs=files)
    if not is_stdout(json_out):
        for entry in report:
            if entry["ok"]:
                typer.echo(f"OK    {entry['file']}: {entry['name']} ({entry['summary']})")
            else:
                count = len(entry["problems"])
                typer.echo(f"FAIL  {entry['file']}: {count} problem{'s' if count != 1 else ''}")
                for problem in entry["problems"]:
                    typer.echo(f"  {problem}")
    if bad:
        raise typer.Exit(EXIT_USAGE)


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return head + ("." if sep else "")


@scenarios_app.command("list", epilog=epilog(["pspread scenarios list", "pspread scenarios list --json -"]))
def list_scenarios(
    json_out: JsonOpt = None,
) -> None:
    """The shipped scenarios: name, length, gates and what each is for."""
    rows = []
    for name, path in find_scenarios().items():
        try:
            s = load_scenario(path, environ={})
            rows.append({"name": name, "path": str(path) if path else "(built in)", "summary": _describe(s),
                         "description": " ".join(s.description.split())})
        except ScenarioError as exc:
            rows.append({"name": name, "path": str(path), "summary": "invalid",
                         "description": str(exc).splitlines()[0]})
    if json_out is not None:
        write_output(json_out, json.dumps(rows, indent=2))
        if is_stdout(json_out):
            return
    table = Table(title="scenarios", title_justify="left")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("length", no_wrap=True)
    table.add_column("description", ratio=1)
    for row in rows:
        table.add_row(row["name"], row["summary"].replace(", ", "\n"), _first_sentence(row["description"]))
    _console().print(table)
    _console().print("Run one with `pspread run NAME` or `pspread run FILE`; check a file with "
                     "`pspread scenarios validate FILE`.")


@scenarios_app.command("show", epilog=epilog([
    "pspread scenarios show quickstart", "pspread scenarios show seed-targets --resolved",
    "pspread scenarios show my.yaml --json resolved.json",
]))
def show(
    name: Annotated[str, typer.Argument(metavar="SCENARIO", help="A shipped scenario's name (see `list`) or a file.")],
    resolved: Annotated[bool, typer.Option("--resolved",
                                           help="Show every setting with its default filled in.")] = False,
    json_out: Annotated[Optional[str], typer.Option(
        "--json", metavar="FILE|-", help="Write the resolved scenario as JSON here; - is stdout.")] = None,
) -> None:
    """Print a scenario's YAML (or, with --resolved, every setting after defaults)."""
    source = resolve_scenario(name)
    if resolved or json_out is not None:
        scenario = load_scenario(source, environ={})
        if json_out is not None:
            write_output(json_out, json.dumps(scenario.to_dict(), indent=2), inputs=[name])
            if is_stdout(json_out) or not resolved:
                return
        text = yaml.safe_dump(scenario.to_dict(), sort_keys=False, allow_unicode=True)
    elif source is None:
        text = default_scenario_text()
    elif isinstance(source, Path) or Path(str(source)).is_file():
        text = read_scenario_file(Path(source))
    else:
        text = str(source)
    _console().print(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))


@scenarios_app.command("schema", epilog=epilog([
    "pspread scenarios schema > pspread-scenario.schema.json",
    "pspread scenarios schema -o pspread-scenario.schema.json",
]))
def schema(
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE|-",
        help="Where to write it; - is stdout.")] = "-",
) -> None:
    """Print the scenario JSON Schema (point an editor's YAML support at it for completion)."""
    document = Scenario.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "pspread scenario"
    write_output(output, json.dumps(document, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(scenarios_app, name="scenarios")

"""One option vocabulary: the same flags, choices, help labels and output rule in every command."""

from __future__ import annotations

import json
import typing
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import pspread
from pspread.cli.app import bare_json_means_stdout
from pspread.cli.options import (
    Balance,
    Delimiter,
    ExecutorKind,
    GraphKind,
    Kernel,
    Preset,
    UsageError,
    Weights,
    parse_workers,
    write_output,
)
from pspread.engine.direction import sink_warning
from pspread.engine.generators import KINDS, WEIGHT_KINDS
from pspread.engine.kernels import KERNELS
from pspread.engine.model import PRESETS
from pspread.scenario import fields

#: property sweeps, subprocesses or every help screen: seconds, so the slow loop
pytestmark = pytest.mark.slow

runner = CliRunner()
#: commands exempt from the vocabulary checks (none)
RUN_FAMILY: set[str] = set()  # the run family uses options.py too


def _commands(app: typer.Typer) -> dict[str, typer.core.TyperCommand]:
    """Every leaf command, by its path ("graph generate"), outside the run family."""
    from test_cli_app import _eager

    found: dict[str, typer.core.TyperCommand] = {}

    def walk(group: typer.core.TyperGroup, prefix: str) -> None:
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if isinstance(cmd, typer.core.TyperGroup):
                walk(cmd, path)
            elif name not in RUN_FAMILY:
                found[path] = cmd

    walk(typer.main.get_group(_eager()), "")
    return found


def test_the_choices_are_the_engines_and_the_scenarios_own():
    assert [k.value for k in Kernel] == list(KERNELS)
    assert {p.value for p in Preset} == set(PRESETS)
    assert {k.value for k in GraphKind} >= set(KINDS)
    assert [w.value for w in Weights] == list(WEIGHT_KINDS)
    assert {e.value for e in ExecutorKind} == set(typing.get_args(fields.ExecutorKind))
    assert {b.value for b in Balance} == set(typing.get_args(fields.BalanceName))
    assert {k.value for k in Kernel} == set(typing.get_args(fields.KernelName))


def test_every_delimiter_choice_is_one_the_reader_takes(tmp_path: Path):
    from pspread.engine.edgelist import read_edge_list

    seps = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "whitespace": "  "}
    assert set(seps) == {d.value for d in Delimiter}
    for d in Delimiter:
        path = tmp_path / f"{d.value}.txt"
        path.write_text(f"a{seps[d.value]}b\nb{seps[d.value]}c\n")
        assert read_edge_list(path, delimiter=d.engine_value).num_nodes == 3


def test_a_short_flag_means_one_thing_in_every_command(app: typer.Typer):
    meaning: dict[str, set[str]] = {}
    for cmd in _commands(app).values():
        for param in cmd.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if len(o) == 2 and o != "--"):
                meaning.setdefault(short, set()).update(longs)
    assert meaning, "no short flags were found (the walk is broken)"
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}


@pytest.mark.parametrize("words", ["<str>", "<int", "<float", "<bool>", "<list", "<path", "range>", "x>=", "{"])
def test_no_help_screen_shows_python_type_names(app: typer.Typer, words: str):
    from test_cli_app import _command_paths

    for path in _command_paths():
        out = runner.invoke(app, [*path, "--help"]).output
        assert "Usage:" in out and words not in out, (path, words)


def test_every_command_shows_examples_and_exit_codes(app: typer.Typer):
    commands = _commands(app)
    assert "graph generate" in commands and "bench driver" in commands
    for path in commands:
        out = runner.invoke(app, [*path.split(), "--help"], terminal_width=200).output
        assert "Examples:" in out and "$ pspread " in out and "Exit codes: 0 success" in out, path


def test_fixed_choices_are_refused_by_the_parser_with_the_valid_ones(app: typer.Typer, tmp_path: Path):
    edges = tmp_path / "e.tsv"
    edges.write_text("0\t1\n1\t2\n")
    res = runner.invoke(app, ["query", str(edges), "0", "--kernel", "fronteir"])
    assert res.exit_code == 2 and "frontier" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["graph", "convert", str(edges), "--delimiter", "colon", "-o", str(tmp_path / "g")])
    assert res.exit_code == 2 and "semicolon" in res.output and not (tmp_path / "g").exists()


def test_version_is_the_installed_distributions(app: typer.Typer):
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"pspread {version('pspread')}"


def test_shell_completion_is_offered_and_reaches_lazily_loaded_commands(app: typer.Typer):
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    res = runner.invoke(app, [], prog_name="pspread",
                        env={"_PSPREAD_COMPLETE": "complete_bash", "COMP_WORDS": "pspread query g --kernel ",
                             "COMP_CWORD": "4"})
    assert res.output.split() == [k.value for k in Kernel]


def test_dash_is_stdout_and_no_file_named_dash_is_made(app: typer.Typer, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("e.tsv").write_text("a\tb\nb\tc\n")
    for args in (["--json", "-"], ["--json"]):
        res = runner.invoke(app, ["query", "e.tsv", "a", *args])
        assert res.exit_code == 0, res.output
        assert {row["label"] for row in json.loads(res.stdout)["top"]} == {"a", "b", "c"}
    assert not Path("-").exists()
    res = runner.invoke(app, ["query", "e.tsv", "a", "--json", "out/a.json"])
    assert res.exit_code == 0 and "rank" in res.stdout  # a file: the table still shows
    assert json.loads(Path("out/a.json").read_text())["graph"] == "e.tsv"


def test_an_input_file_is_never_taken_for_the_json_output(app: typer.Typer, tmp_path: Path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\n")
    res = runner.invoke(app, ["scenarios", "validate", str(scenario), "--json", str(scenario)])
    assert res.exit_code == 2 and "is an input of this command" in res.output
    assert scenario.read_text() == "name: s\n"
    with pytest.raises(UsageError):
        write_output(scenario, "{}", inputs=[str(scenario)])


def test_a_bare_json_flag_becomes_stdout_only_where_no_value_follows():
    assert bare_json_means_stdout(["q", "g", "1", "--json"]) == ["q", "g", "1", "--json", "-"]
    assert bare_json_means_stdout(["q", "--json", "--top", "3"]) == ["q", "--json", "-", "--top", "3"]
    assert bare_json_means_stdout(["q", "--json", "a.json"]) == ["q", "--json", "a.json"]
    assert bare_json_means_stdout(["q", "--", "--json"]) == ["q", "--", "--json"]


def test_bench_driver_takes_the_one_duration_syntax(app: typer.Typer):
    res = runner.invoke(app, ["bench", "driver", "--duration", "200ms", "--rate", "200", "--clients", "1",
                              "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["open_rate_asked"] == 200
    res = runner.invoke(app, ["bench", "driver", "--duration", "1 fortnight"])
    assert res.exit_code == 2 and "30s" in res.output


def test_workers_have_one_syntax():
    assert parse_workers("4") == [4] and parse_workers("auto") == ["auto"]
    assert parse_workers("4, 1,2,2") == [1, 2, 4]
    for bad in ("0", "two", "", "1,auto"):
        with pytest.raises(UsageError):
            parse_workers(bad)
    with pytest.raises(UsageError, match="speedup"):
        parse_workers("1,2", many=False)


def test_model_set_suggests_the_parameter_meant(app: typer.Typer, tmp_path: Path):
    edges = tmp_path / "e.tsv"
    edges.write_text("0\t1\n")
    res = runner.invoke(app, ["query", str(edges), "0", "--set", "max_stepz=3"])
    assert res.exit_code == 2 and "did you mean max_steps?" in res.stderr


def test_a_directed_graph_of_sinks_is_warned_about(app: typer.Typer, tmp_path: Path):
    star = pspread.Graph.from_edges([0, 0, 0, 0], [1, 2, 3, 4], directed=True)
    assert "80% of the nodes" in (sink_warning(star) or "")
    assert sink_warning(pspread.Graph.from_edges([0, 0], [1, 2], directed=False)) is None
    ring = pspread.Graph.from_edges([0, 1, 2], [1, 2, 0], directed=True)
    assert sink_warning(ring) is None
    edges = tmp_path / "cues.tsv"
    edges.write_text("dog\tcat\ndog\tbone\ndog\tleash\n")
    directed = runner.invoke(app, ["query", str(edges), "dog", "--directed"])
    assert directed.exit_code == 0 and "warning: 75% of the nodes" in directed.stderr
    undirected = runner.invoke(app, ["query", str(edges), "dog"])
    assert undirected.exit_code == 0 and "warning" not in undirected.stderr


def test_scenario_set_takes_lists_and_suggests_the_key_meant(tmp_path: Path):
    from pspread.scenario.loader import ScenarioValidationError, load_scenario
    from pspread.scenario.overrides import parse_set_option

    path = tmp_path / "s.yaml"
    path.write_text("name: s\n")
    key, value = parse_set_option("speedup.workers=[1,2]")
    assert load_scenario(path, {key: value}, environ={}).speedup.workers == [1, 2]
    for override, hint in (("model.max_stepz=3", "model.overrides.max_steps"), ("worker=3", "'workers'"),
                           ("max_steps=3", "model.overrides.max_steps"), ("executor.workerz=3", "'workers'")):
        key, value = parse_set_option(override)
        with pytest.raises(ScenarioValidationError) as err:
            load_scenario(path, {key: value}, environ={})
        assert hint in str(err.value), (override, str(err.value))


def test_usage_lines_read_like_click_s(app: typer.Typer):
    usage = runner.invoke(app, ["query", "--help"]).output.splitlines()[1].split()
    assert usage[-2:] == ["GRAPH", "SEEDS..."]
    assert runner.invoke(app, ["run", "--help"]).output.splitlines()[1].split()[-1] == "[SCENARIO]"


def test_no_help_text_is_swallowed_as_markup():
    """Rich reads ``[default: x]`` in a help string as a style tag and drops it; none may be written so."""
    import re

    for module in ("graph_cmd", "query_cmd", "bench_cmd", "compare_cmd", "scenarios_cmd", "options"):
        source = (Path(pspread.__file__).parent / "cli" / f"{module}.py").read_text()
        assert not re.findall(r'help=[^\n]*?(?<!\\)\[[a-z][^\]]*\]', source), module

"""The one option vocabulary of the ``pspread`` command.

Every command spells a knob the same way: the same long name, the same short
flag (each short flag has one meaning everywhere), the same value syntax and
the same help.  Fixed choices are str Enums, so ``--help`` lists them and a
typo is refused by the parser with the valid values.  Commands import the
``Annotated`` aliases below instead of writing their own ``typer.Option``.

Short flags (one meaning each):

  -w --workers   -d --duration   -r --rate     -e --executor   -p --preset
  -k --top       -o --output     -s --seed     -n --nodes      -q --queries
  -f --force

Value syntax: a duration is ``30s``, ``2m``, ``500ms``, ``1m30s`` or a number of
seconds (:func:`parse_duration_option`); workers are ``N``, ``auto`` or a
comma list ``1,2,4`` where a command runs several counts
(:func:`parse_workers`); an output path ``-`` is stdout (:func:`open_output`).

The run family (run, stress, speedup) takes ScenarioArg, WorkersOpt (run,
stress: ``parse_workers(text, many=False)[0]``) or WorkersListOpt (speedup:
``parse_workers(text)``), DurationOpt (``parse_duration_option``), RateOpt,
ExecutorOpt (``.value`` for the scenario), SchedulerOpt, JsonOpt and
MarkdownOpt (``open_output``/``write_output``; ``-`` is stdout),
ResultsDirOpt, PlainOpt, ScenarioSetOpt, QueriesOpt (speedup's query set:
``-q``, since ``-n`` is ``--nodes``), RepeatsOpt, ProbeOpt and SoakOpt.

This module is imported by the command modules only (never by ``pspread
--help``), and it imports nothing heavy: the choices are checked against the
engine's own tables by tests/cli/test_cli_options.py.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence, Union

import typer
from typing_extensions import Annotated

from pspread.errors import PspreadError


class UsageError(PspreadError):
    """A command-line value that cannot be read (exit 2)."""


# ------------------------------------------------------------------ choices
class ExecutorKind(str, Enum):
    """Where queries run: worker processes, this process, or Dask distributed."""

    process = "process"
    inline = "inline"
    dask = "dask"


class Preset(str, Enum):
    """Model presets (pspread.engine.model.PRESETS)."""

    threshold = "threshold"
    spreadr = "spreadr"
    ppr = "ppr"


class Kernel(str, Enum):
    """Spreading kernels (pspread.engine.kernels.KERNELS)."""

    reference = "reference"
    dense = "dense"
    frontier = "frontier"
    push = "push"
    auto = "auto"


class Weights(str, Enum):
    """Random edge weights of generated graphs (pspread.engine.generators.WEIGHT_KINDS)."""

    uniform = "uniform"


class Delimiter(str, Enum):
    """Edge-list delimiters; ``pipe`` is ``|``."""

    tab = "tab"
    comma = "comma"
    semicolon = "semicolon"
    pipe = "pipe"
    whitespace = "whitespace"

    @property
    def engine_value(self) -> str:
        """The name ``read_edge_list`` takes."""
        return "|" if self is Delimiter.pipe else self.value


class GraphKind(str, Enum):
    """Generated graph kinds, with their short aliases."""

    erdos_renyi = "erdos-renyi"
    barabasi_albert = "barabasi-albert"
    watts_strogatz = "watts-strogatz"
    grid = "grid"
    er = "er"
    ba = "ba"
    ws = "ws"


class Balance(str, Enum):
    """How the process executor picks a worker for a query."""

    round_robin = "round-robin"
    least_loaded = "least-loaded"
    power_of_two = "power-of-two"


def choices(enum: type[Enum]) -> str:
    """``a|b|c``: the metavar of an option with a few short fixed choices."""
    return "|".join(str(member.value) for member in enum)


def listed(enum: type[Enum]) -> str:
    """``a, b or c``: the choices in an option's help, where ``a|b|c`` would be too wide a metavar."""
    names = [str(member.value) for member in enum]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


# --------------------------------------------------------------- parsers
def parse_duration_option(text: str, flag: str = "--duration") -> float:
    """Seconds from ``30s``/``2m``/``500ms``/``1m30s``/a number, the syntax of scenario files too."""
    from pspread.scenario.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}") from None


def parse_workers(text: str, flag: str = "--workers", many: bool = True) -> List[Union[int, str]]:
    """``4`` -> [4]; ``auto`` -> ["auto"]; ``1,2,4`` -> [1, 2, 4] (sorted, no repeats) when ``many``.

    One syntax for run, stress and speedup: run and stress take one count (or
    auto), speedup a list (a single count is a one-item list).
    """
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if parts == ["auto"]:
        return ["auto"]
    try:
        counts = sorted({int(p) for p in parts})
    except ValueError:
        raise UsageError(f"{flag} {text!r}: give a worker count (e.g. 4), auto"
                         + (", or counts separated by commas (1,2,4)" if many else "")) from None
    if not counts or counts[0] < 1:
        raise UsageError(f"{flag} {text!r}: worker counts must be whole numbers >= 1")
    if not many and len(counts) > 1:
        raise UsageError(f"{flag} {text!r}: this command runs one worker count; "
                         "`pspread speedup --workers 1,2,4` compares several")
    return list(counts)


# ---------------------------------------------------------------- output
STDOUT = "-"


def is_stdout(path: Union[str, Path, None]) -> bool:
    """True for ``-``, the name of stdout for every output option."""
    return path is not None and str(path) == STDOUT


@contextmanager
def open_output(path: Union[str, Path]) -> Iterator[IO[str]]:
    """A text stream for an output option: stdout for ``-`` (left open), else the file (UTF-8, folders made)."""
    if is_stdout(path):
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target}: is a folder; give a file name (or - for stdout)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as stream:
        yield stream


def write_output(path: Union[str, Path], text: str, inputs: Sequence[Union[str, Path, None]] = ()) -> None:
    """Write ``text`` (a newline added) to an output option's file or to stdout.

    ``inputs`` are the files the command read: ``--json data.yaml`` (a file
    name taken as the output path) is refused rather than overwriting one.
    """
    if not is_stdout(path):
        target = Path(path).resolve()
        if any(p is not None and Path(p).resolve() == target for p in inputs):
            raise UsageError(f"{path}: is an input of this command, not an output; give a new file name after "
                             "--json (or - for stdout), or put --json last")
    with open_output(path) as stream:
        stream.write(text if text.endswith("\n") else text + "\n")


def warn_if_sinks(graph: object) -> None:
    """Print the engine's warning about a directed graph full of sinks (pspread.engine.direction) on stderr."""
    from pspread.engine.direction import sink_warning

    warning = sink_warning(graph)  # type: ignore[arg-type]
    if warning:
        typer.echo(f"warning: {warning}", err=True)


# ---------------------------------------------------------------- epilog
#: what each exit code means, as every command's help states it
EXIT_MEANINGS = {
    0: "success",
    1: "a gate failed or a regression was found",
    2: "bad input (usage, scenario, graph or model error)",
    3: "the run was aborted",
    130: "interrupted (Ctrl-C)",
}


def epilog(examples: List[str], exits: tuple[int, ...] = (0, 2, 130)) -> str:
    """The end of a command's help: its examples, one a line, and the exit codes it can return."""
    lines = ["Examples:"] + [f"  $ {example}" for example in examples]
    codes = "; ".join(f"{code} {EXIT_MEANINGS[code]}" for code in exits)
    return "\n\n".join(lines + [f"Exit codes: {codes}."])


# ------------------------------------------------------ shared definitions
PRESET_HELP = "Model preset: threshold (local, fast), spreadr, or ppr (personalised PageRank, stops on the top-k)."
BALANCE_HELP = f"How the process executor picks a worker: {listed(Balance)}."
SET_HELP = ("Override a model parameter: --set retention=0.3 --set max_steps=20 --set stop=converged "
            "(repeatable; a list is --set key=\\[a,b]).")
SCENARIO_SET_HELP = ("Override any scenario key: --set executor.balance=round-robin, --set phases.1.rate_qps=200, "
                     "--set speedup.workers=\\[1,2] (repeatable).")
JSON_HELP = "Write the JSON here; - is stdout (then nothing else is printed there)."

GraphArg = Annotated[str, typer.Argument(
    metavar="GRAPH", help="Graph bundle folder, edge-list file, or a shipped example (karate).")]
ScenarioArg = Annotated[Optional[str], typer.Argument(
    metavar="SCENARIO", show_default=False,
    help="Scenario file or a shipped scenario's name (pspread scenarios list); none: the built-in default.")]
WorkersOpt = Annotated[Optional[str], typer.Option(
    "--workers", "-w", metavar="N|auto", help="Worker processes: a count or auto (one per core).")]
WorkersListOpt = Annotated[Optional[str], typer.Option(
    "--workers", "-w", metavar="N[,N...]", help="Worker counts, e.g. 1,2,4 (1 is always added).")]
DurationOpt = Annotated[Optional[str], typer.Option(
    "--duration", "-d", metavar="DURATION", help="How long, e.g. 30s, 2m, 500ms, 1m30s (a bare number is seconds).")]
RateOpt = Annotated[Optional[float], typer.Option(
    "--rate", "-r", metavar="QPS", min=0.001, help="Arrival rate in queries a second.")]
ExecutorOpt = Annotated[Optional[ExecutorKind], typer.Option(
    "--executor", "-e", metavar="KIND", help=f"Where queries run: {listed(ExecutorKind)}.")]
SchedulerOpt = Annotated[Optional[str], typer.Option(
    "--scheduler", metavar="ADDRESS",
    help="Dask scheduler address, e.g. tcp://host:8786 (implies --executor dask).")]
JsonOpt = Annotated[Optional[str], typer.Option("--json", metavar="FILE|-", help=JSON_HELP)]
MarkdownOpt = Annotated[Optional[str], typer.Option(
    "--markdown", metavar="FILE|-", help="Write a Markdown summary here (for CI job pages); - is stdout.")]
ResultsDirOpt = Annotated[Path, typer.Option(
    "--results-dir", metavar="DIR", help="Folder for the results file (never overwritten).")]
RepeatsOpt = Annotated[int, typer.Option(
    "--repeats", metavar="N", min=1, help="Time each worker count this often; the median counts.")]
ProbeOpt = Annotated[str, typer.Option(
    "--probe", metavar="DURATION", help="Length of each capacity probe, e.g. 3s.")]
SoakOpt = Annotated[Optional[str], typer.Option(
    "--soak", metavar="DURATION",
    help="Hold a steady load this long (e.g. 10m) and report drift, instead of the capacity search.")]
PlainOpt = Annotated[bool, typer.Option(
    "--plain", help="One line a second instead of the live table (automatic when stdout is not a terminal).")]
SetOpt = Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE", help=SET_HELP)]
ScenarioSetOpt = Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE", help=SCENARIO_SET_HELP)]
PresetOpt = Annotated[Preset, typer.Option("--preset", "-p", metavar="PRESET", help=PRESET_HELP)]
KernelOpt = Annotated[Kernel, typer.Option("--kernel", metavar="KERNEL",
                                           help=f"Spreading kernel: {listed(Kernel)} (docs/kernels.md).")]
BalanceOpt = Annotated[Optional[Balance], typer.Option("--balance", metavar="POLICY", help=BALANCE_HELP)]
TopOpt = Annotated[int, typer.Option("--top", "-k", metavar="K", min=1, help="How many nodes an answer holds.")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", metavar="INTEGER", help="Random seed (same seed, same result).")]
QueriesOpt = Annotated[int, typer.Option("--queries", "-q", metavar="N", min=1, help="Number of queries.")]
SeedsPerQueryOpt = Annotated[int, typer.Option("--seeds", metavar="N", min=1, help="Seed nodes per query.")]
ThreadsOpt = Annotated[int, typer.Option("--threads", metavar="N", min=1, help="Threads one query may use.")]
RoundsOpt = Annotated[int, typer.Option(
    "--rounds", metavar="N", min=1, help="Interleaved rounds (the figures show their spread).")]
ExcludeSeedsOpt = Annotated[bool, typer.Option("--exclude-seeds", help="Leave the seeds out of the answers.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Replace an existing bundle at the output path.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", metavar="DIR", help="Output bundle folder.")]

__all__ = [
    "Balance", "Delimiter", "ExecutorKind", "GraphKind", "Kernel", "Preset", "UsageError", "Weights", "choices",
    "listed",
    "epilog", "is_stdout", "open_output", "warn_if_sinks", "parse_duration_option", "parse_workers",
    "write_output", "STDOUT",
]

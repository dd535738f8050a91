"""The exception hierarchy of pspread.

Everything below the CLI raises one of these; the CLI turns them into one clear
line on stderr and an exit code in a single place (``pspread.cli.errors``).
``ModelError`` also derives from ``ValueError`` so that plain-Python callers
can catch bad parameters the way they would anywhere else.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Every exit status pspread's commands end with; a run's is also recorded in its results file."""

    OK = 0  #: every gate passed (or there were none)
    GATE_FAILED = 1  #: the run completed and a gate failed
    USAGE = 2  #: bad input: scenario, graph, flag, results file; nothing was run
    ABORTED = 3  #: the run could not go on (workers keep dying, scheduler unreachable)
    INTERRUPTED = 130  #: Ctrl-C (what was measured is written first)


class PspreadError(Exception):
    """Base class of every error pspread raises on purpose."""

    #: exit code the CLI uses for this kind of error
    exit_code: int = ExitCode.USAGE


class GraphError(PspreadError):
    """A graph file, bundle or array is malformed; the message names where and how to fix it."""


class ModelError(PspreadError, ValueError):
    """A spreading-model parameter is out of range; the message names the parameter."""


class QueryError(PspreadError, ValueError):
    """A query cannot be answered: unknown node ids, no known terms, bad seeds."""


class ScenarioError(PspreadError):
    """A scenario file is invalid; the message lists every problem with its key path."""


class ExecutorError(PspreadError):
    """The executor cannot start or was used after it was closed."""

    exit_code: int = ExitCode.ABORTED


class RunAborted(PspreadError):
    """A run could not go on (scheduler unreachable, every worker lost, ...)."""

    exit_code: int = ExitCode.ABORTED

"""The one place where exceptions become messages and exit codes.

Every command runs inside :class:`ErrorHandlingGroup`, so a ``PspreadError``
raised anywhere below the CLI ends as one line on stderr and the error's exit
code (2 for bad input, 3 for an aborted run), never a traceback; Ctrl-C ends
with 130.
"""

from __future__ import annotations

import sys

import typer
import typer.core

from pspread.errors import PspreadError

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


class ErrorHandlingGroup(typer.core.TyperGroup):
    """A command group that translates pspread's errors for every subcommand."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except PspreadError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except FileNotFoundError as exc:
            raise fail(f"{exc.filename}: no such file or folder", EXIT_USAGE) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            if exc.errno is not None and getattr(exc, "filename", None):
                raise fail(f"{exc.filename}: {exc.strerror}", EXIT_USAGE) from None
            raise
        except MemoryError:
            raise fail("out of memory; the input asks for more than this machine has -- use a smaller graph, "
                       "rate or duration", EXIT_USAGE) from None
        except ValueError as exc:
            if type(exc).__name__ == "ValidationError":  # pydantic's, from a model built below the CLI
                raise fail(_validation_line(exc), EXIT_USAGE) from None
            raise


def _validation_line(exc: ValueError) -> str:
    """One line from a pydantic ``ValidationError``: ``key: message`` of each error."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {str(e['msg']).removeprefix('Value error, ')}"
             for e in errors()]
    return "; ".join(parts)


def exit_code_of(exc: BaseException) -> int:
    """The exit code for an exception that escaped the group (used by ``main``)."""
    if isinstance(exc, PspreadError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return 1


__all__ = ["ErrorHandlingGroup", "fail", "exit_code_of", "EXIT_OK", "EXIT_GATE_FAILED", "EXIT_USAGE",
           "EXIT_ABORTED", "EXIT_INTERRUPTED", "sys"]

"""The process entry of the ``pspread`` command: signals, Ctrl-C during start-up, and the last safety net.

Kept free of heavy imports so that it is in place before Typer, numpy or
numba load:

* **SIGTERM and SIGHUP** are handled like Ctrl-C: the handler raises
  :class:`Terminated` (a ``KeyboardInterrupt``), so every cleanup that Ctrl-C
  runs (executor shutdown, temp folders, the results file marked
  ``interrupted``) runs for them too.  The exit code is ``128 + signal``:
  130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
* **Ctrl-C while importing** (before any command runs) ends with 130 and one line.
* Anything that still escapes as an exception becomes one line and exit 70
  (set ``PSPREAD_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
#: the signals handled like Ctrl-C, and whether one arrived (its number), for the exit code
HANDLED_SIGNALS = ("SIGTERM", "SIGHUP")
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives, so Ctrl-C's cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Handle SIGTERM and SIGHUP like Ctrl-C in this process (a no-op where a signal does not exist)."""
    for name in HANDLED_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _on_signal)


def exit_code(code: int) -> int:
    """``code``, except that an interrupted run ends ``128 + signal`` when SIGTERM/SIGHUP caused it."""
    if code == EXIT_INTERRUPTED and _received:
        return 128 + _received[0]
    return code


def _code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def main() -> None:
    """Console-script entry point: ``pspread ...`` and ``python -m pspread ...``."""
    install_signal_handlers()
    try:
        from pspread.cli.app import app

        app(prog_name="pspread")  # also `python -m pspread`: the same name and completion variable
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        sys.exit(exit_code(_code_of(exc)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(exit_code(EXIT_INTERRUPTED))
    except Exception as exc:  # noqa: BLE001 - the last safety net: one line, never a traceback
        if os.environ.get("PSPREAD_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); run again with PSPREAD_DEBUG=1 for the "
              "traceback, and please report it", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)


__all__ = ["main", "Terminated", "install_signal_handlers", "exit_code", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

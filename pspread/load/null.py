"""``NullExecutor``: answers every query at once without computing anything.

It measures the load driver itself (``pspread bench driver``): whatever rate the
driver sustains against it is the most any run could ever ask of a real
executor, so the driver is never the limit.  It is a ``ScriptedExecutor`` with
an empty script: the real admission path (one chunk per batch), no work.
"""

from __future__ import annotations

from pspread.execution.scripted import ScriptedExecutor, Step


class NullExecutor(ScriptedExecutor):
    """Completes each batch synchronously, in the caller's thread, with empty OK answers."""

    def __init__(self) -> None:
        super().__init__(Step())

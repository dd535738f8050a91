"""The spreading model: its parameters, their validation, and the named presets.

The update rule every kernel implements is written out in ``DESIGN.md``
("Spreading semantics"); this module only holds the numbers.  A model is
validated when it is built, so a bad parameter is refused before any work
starts, with the parameter's name in the message.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pspread.errors import ModelError

SINK_MODES = ("keep", "restart")


@dataclass(frozen=True)
class SpreadModel:
    """Parameters of one spreading-activation process.

    retention r: share of a firing node's activation it keeps (the rest spreads).
    decay δ: share of all activation lost each step.
    threshold θ: a node fires (spreads) only when its activation is >= θ.
    restart β: each step, β × the seed vector is injected again.
    inhibition λ: lateral inhibition by the mean activation of out-neighbours.
    suppress σ: activations below σ are set to 0 after each step.
    max_steps T, tolerance ε: stop after T steps or when the L1 change is <= ε.
    top_k: how many nodes an answer holds; exclude_seeds drops the seeds from it.
    sinks: "keep" (a node without out-arcs keeps its activation) or "restart"
    (its spreading mass returns to the seeds, as PageRank does with dangling nodes).
    """

    retention: float = 0.5
    decay: float = 0.0
    threshold: float = 0.0
    restart: float = 0.0
    inhibition: float = 0.0
    suppress: float = 0.0
    max_steps: int = 10
    tolerance: float = 0.0
    top_k: int = 10
    sinks: str = "keep"
    exclude_seeds: bool = False

    def __post_init__(self) -> None:
        unit = ("retention", "decay")
        nonneg = ("threshold", "restart", "inhibition", "suppress", "tolerance")
        for name in unit + nonneg:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ModelError(f"{name} must be a finite number, got {value!r}")
            if name in unit and not 0.0 <= value <= 1.0:
                raise ModelError(f"{name} must lie in [0, 1], got {value!r}")
            if name in nonneg and value < 0:
                raise ModelError(f"{name} must be >= 0, got {value!r}")
        for name in ("max_steps", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be an integer >= 1, got {value!r}")
        if self.sinks not in SINK_MODES:
            raise ModelError(f"sinks must be one of {', '.join(SINK_MODES)}; got {self.sinks!r}")
        if not isinstance(self.exclude_seeds, bool):
            raise ModelError(f"exclude_seeds must be true or false, got {self.exclude_seeds!r}")

    # ---------------------------------------------------------------- presets
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "SpreadModel":
        """A named preset with optional overrides.

        ``spreadr``: the update of the R package spreadr (r=0.5, T=10).
        ``ppr``: personalised PageRank with continue probability ``alpha``
        (default 0.85): r=0, δ=β=1-α, sinks restart, run to convergence.
        ``threshold``: θ=1e-3, r=0.5, δ=0.1, T=10 -- local, fast, the common
        production setting.
        """
        key = name.strip().lower()
        if key not in PRESETS:
            raise ModelError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
        params = dict(PRESETS[key])
        if key == "ppr":
            alpha = overrides.pop("alpha", 0.85)
            if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
                raise ModelError(f"alpha must lie in [0, 1), got {alpha!r}")
            params.update(decay=1.0 - alpha, restart=1.0 - alpha)
        elif "alpha" in overrides:
            raise ModelError(f"alpha only applies to the ppr preset, not {key!r}")
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ModelError(f"unknown model parameter(s): {', '.join(sorted(unknown))}")
        params.update(overrides)
        return cls(**params)

    def with_(self, **changes: Any) -> "SpreadModel":
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "spreadr": dict(retention=0.5, decay=0.0, threshold=0.0, restart=0.0, max_steps=10),
    "ppr": dict(retention=0.0, threshold=0.0, suppress=0.0, sinks="restart", max_steps=100, tolerance=1e-6),
    "threshold": dict(retention=0.5, decay=0.1, threshold=1e-3, max_steps=10),
}

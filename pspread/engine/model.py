"""The spreading model: its parameters, their validation, and the named presets.

The update rule every kernel implements is written out in ``docs/architecture.md`` ("Spreading semantics")
("Spreading semantics"); this module only holds the numbers.  A model is
validated when it is built, so a bad parameter is refused before any work
starts, with the parameter's name in the message.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pspread.errors import ModelError

SINK_MODES = ("keep", "restart")
STOP_MODES = ("converged", "topk")


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
    stop: "converged" (the rule above) or "topk": a query may stop as soon as its
    error bound proves that no node outside its top-k can beat one inside by
    more than max(ε, τ·L), L the k-th score (linear models only: θ = σ = λ = 0,
    δ > 0; see docs/kernels.md).
    tie_tolerance τ: under stop: topk, scores within τ·L of the k-th score L count
    as tied, so the stop need not prove which of them ranks k-th (near-ties on
    hub-heavy graphs otherwise cost tens of extra steps); 0 = the strict, proven set.
    stable_rounds s: under stop: topk, the push kernel also stops once its top-k set
    came out the same after s rounds in a row and the mass still unplaced is at most
    ``STABLE_MASS`` of the seeds' (an empirical stop, not a proof; 0 = off).
    degree_penalty γ: rank the answer by a_i / d_i^γ (d the weighted out-degree;
    0 = rank by activation); it changes the order of the answer, not activations.
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
    stop: str = "converged"
    degree_penalty: float = 0.0
    tie_tolerance: float = 0.0
    stable_rounds: int = 0

    def __post_init__(self) -> None:
        unit = ("retention", "decay")
        nonneg = ("threshold", "restart", "inhibition", "suppress", "tolerance", "degree_penalty",
                  "tie_tolerance")
        for name in unit + nonneg:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ModelError(f"{name} must be a finite number, got {value!r}")
            if name in unit and not 0.0 <= value <= 1.0:
                raise ModelError(f"{name} must lie in [0, 1], got {value!r}")
            if name in nonneg and value < 0:
                raise ModelError(f"{name} must be >= 0, got {value!r}")
        if isinstance(self.stable_rounds, bool) or not isinstance(self.stable_rounds, int) or self.stable_rounds < 0:
            raise ModelError(f"stable_rounds must be an integer >= 0, got {self.stable_rounds!r}")
        for name in ("max_steps", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be an integer >= 1, got {value!r}")
        if self.sinks not in SINK_MODES:
            raise ModelError(f"sinks must be one of {', '.join(SINK_MODES)}; got {self.sinks!r}")
        if not isinstance(self.exclude_seeds, bool):
            raise ModelError(f"exclude_seeds must be true or false, got {self.exclude_seeds!r}")
        if self.tie_tolerance >= 1:
            raise ModelError(f"tie_tolerance must be < 1 (a share of the k-th score), got {self.tie_tolerance!r}")
        if self.stop not in STOP_MODES:
            raise ModelError(f"stop must be one of {', '.join(STOP_MODES)}; got {self.stop!r}")
        if self.stop == "topk" and not self.is_linear:
            raise ModelError(
                "stop: topk needs a model with an error bound (threshold=0, suppress=0, inhibition=0, "
                f"decay>0); this one has {self._nonlinear_reason()}; use stop: converged"
            )

    # ------------------------------------------------------------ structure
    @property
    def is_linear(self) -> bool:
        """True when a step is an affine map contracting by (1 - δ) in L1.

        Then the steps converge to one fixed point whatever the start, and
        ``‖a^t - a*‖₁ <= (1-δ)/δ · ‖a^t - a^(t-1)‖₁`` bounds the remaining error:
        what ``stop: topk`` and the push kernel rely on.
        """
        return self._nonlinear_reason() == ""

    def _nonlinear_reason(self) -> str:
        for name in ("threshold", "suppress", "inhibition"):
            if getattr(self, name) > 0:
                return f"{name}={getattr(self, name)}"
        if self.decay <= 0:
            return "decay=0 (no contraction)"
        return ""

    def push_refusal(self) -> str:
        """Why the push kernel cannot compute this model ('' when it can).

        Push computes the fixed point of a linear model with r = 0 and a restart:
        personalised PageRank and its rescalings (δ ≠ β scales the answer by β/δ).
        """
        reason = self._nonlinear_reason()
        if reason:
            return reason
        if self.retention != 0:
            return f"retention={self.retention} (push needs retention=0)"
        if self.restart <= 0:
            return "restart=0 (the fixed point is 0; push needs restart>0)"
        if self.stop == "converged" and self.tolerance <= 0:
            return "tolerance=0 with stop: converged (push has no steps to run out; give a tolerance > 0)"
        return ""

    # ---------------------------------------------------------------- presets
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "SpreadModel":
        """A named preset with optional overrides.

        ``spreadr``: the update of the R package spreadr (r=0.5, T=10).
        ``ppr``: personalised PageRank with continue probability ``alpha``
        (default 0.85): r=0, δ=β=1-α, sinks restart, stopping once the top-k
        set is settled (``stop: topk``: ties within max(ε = 3e-5, 5% of the k-th
        score); ``stable_rounds=1`` adds a faster, unproven stop);
        ``tie_tolerance=0`` for the proven set,
        ``stop="converged", tolerance=1e-6`` for the whole vector.
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
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ModelError(f"unknown model parameter(s): {', '.join(_with_guess(u, known) for u in unknown)}")
        params.update(overrides)
        return cls(**params)

    def with_(self, **changes: Any) -> "SpreadModel":
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "spreadr": dict(retention=0.5, decay=0.0, threshold=0.0, restart=0.0, max_steps=10),
    "ppr": dict(retention=0.0, threshold=0.0, suppress=0.0, sinks="restart", max_steps=100, tolerance=3e-5,
                stop="topk", tie_tolerance=0.05, stable_rounds=0),
    "threshold": dict(retention=0.5, decay=0.1, threshold=1e-3, max_steps=10),
}


def _with_guess(name: str, known: list[str]) -> str:
    """``max_stepz (did you mean max_steps?)``: an unknown parameter with the closest known one."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"{name} (did you mean {close[0]}?)" if close else name

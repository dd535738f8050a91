"""Scenario overrides: ``PSPREAD_*`` variables and ``--set key=value`` on top of a scenario's data.

Precedence is defaults < file < environment < CLI.  An override is a dotted
key path (``executor.balance``, ``phases.1.rate_qps``) or one of the
shortcuts (``workers``, ``duration``, ``rate``, ``clients``) that reach into
every phase.  Each override returns the key paths it set, so a validation
error can say which override (not which file line) it came from.
"""

from __future__ import annotations

import copy
import difflib
import os
from typing import Any, Mapping

import yaml

from pspread.errors import ScenarioError
from pspread.scenario.problems import Loc, Problem, dotted
from pspread.scenario.spec import _default_phases
from pspread.scenario.units import parse_duration

#: environment variable -> override key (a dotted path or a shortcut)
ENV_VARS: dict[str, str] = {
    "PSPREAD_WORKERS": "workers",
    "PSPREAD_DURATION": "duration",
    "PSPREAD_RATE": "rate",
    "PSPREAD_CLIENTS": "clients",
    "PSPREAD_EXECUTOR": "executor.kind",
    "PSPREAD_SCHEDULER": "executor.scheduler",
    "PSPREAD_BALANCE": "executor.balance",
    "PSPREAD_KERNEL": "model.kernel",
    "PSPREAD_PRESET": "model.preset",
    "PSPREAD_NODES": "graph.generate.nodes",
}
#: override keys that are not plain paths (see ``_apply_shortcut``)
SHORTCUTS = ("workers", "duration", "rate", "clients")



def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``PSPREAD_*`` variables as overrides, values read as YAML scalars (``4`` -> 4)."""
    env = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if var in env and env[var].strip() != "":
            result[key] = parse_scalar(env[var])
    return result


def parse_scalar(text: str) -> Any:
    """A command-line or environment value as YAML reads it: numbers, booleans, lists, else the string.

    ``[1,2,4]`` and ``[a, b]`` are lists (YAML's flow form), so ``--set
    speedup.workers=[1,2]`` sets a list; anything else that is not a scalar
    (a mapping, a list of lists) stays the text it was.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, list) and all(_is_scalar(item) for item in value):
        return value
    return value if _is_scalar(value) else text


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, bool, str)) or value is None


def parse_set_option(option: str) -> tuple[str, Any]:
    """``"executor.workers=4"`` -> ``("executor.workers", 4)`` (for ``--set`` style flags)."""
    key, sep, value = option.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"override {option!r} must look like key.path=value, e.g. executor.workers=4")
    return key.strip(), parse_scalar(value.strip())


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any], label: str,
                    origins: dict[Loc, str]) -> list[Problem]:
    """Write overrides into ``data`` (in place); note which paths they set in ``origins``."""
    problems: list[Problem] = []
    for key, value in overrides.items():
        where = f"{label} {key}" if label.startswith("override") else label_for(label, key)
        hint = misplaced_key_hint(key)
        if hint:
            problems.append(Problem(where, None, key, hint))
            continue
        try:
            paths = _apply_shortcut(data, key, value) if key in SHORTCUTS else _set_path(data, key, value)
        except ValueError as exc:
            problems.append(Problem(where, None, key, str(exc)))
            continue
        for path in paths:
            origins[path] = where
    return problems


def misplaced_key_hint(key: str) -> str | None:
    """Why ``key`` cannot be right, with the key meant, for the slips the schema's own hints miss.

    ``model.max_steps`` (a model parameter lives under ``model.overrides``)
    and a near-miss of a shortcut (``worker`` for ``workers``).  Other unknown
    keys get the loader's "did you mean" from the scenario schema.
    """
    parts = key.split(".")
    if len(parts) == 1:
        close = difflib.get_close_matches(key, SHORTCUTS, n=1, cutoff=0.75)
        if key in SHORTCUTS or key in _TOP_LEVEL_KEYS():
            return None
        if close:
            return f"unknown key; did you mean {close[0]!r}?"
        if key in _model_parameters():
            return f"{key!r} is a model parameter; write model.overrides.{key}=..."
        return None
    if parts[0] == "model" and len(parts) == 2 and parts[1] not in _MODEL_SECTION_KEYS():
        params = _model_parameters()
        name = parts[1] if parts[1] in params else next(iter(difflib.get_close_matches(parts[1], params, n=1)), None)
        if name is not None:
            return (f"{parts[1]!r} is not a key of the model section; model parameters go under "
                    f"model.overrides: write model.overrides.{name}=...")
    return None


def _model_parameters() -> list[str]:
    from dataclasses import fields

    from pspread.engine.model import SpreadModel

    return [f.name for f in fields(SpreadModel)]


def _MODEL_SECTION_KEYS() -> list[str]:
    from pspread.scenario.spec import Scenario

    return list(Scenario.model_fields["model"].annotation.model_fields)  # type: ignore[union-attr]


def _TOP_LEVEL_KEYS() -> list[str]:
    from pspread.scenario.spec import Scenario

    return list(Scenario.model_fields)


def label_for(label: str, key: str) -> str:
    """The environment variable that carries ``key`` (for messages), else ``label``."""
    if label == "environment":
        for var, mapped in ENV_VARS.items():
            if mapped == key:
                return var
    return label


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> list[Loc]:
    parts: list[str] = [p for p in dotted.split(".")]
    if not all(parts):
        raise ValueError(f"bad key path {dotted!r}; write e.g. executor.workers or phases.1.rate_qps")
    return _set(data, parts, value, ())


def _set(node: Any, parts: list[str], value: Any, done: Loc) -> list[Loc]:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        targets = range(len(node)) if head == "*" else [_index(head, len(node), done)]
        paths: list[Loc] = []
        for i in targets:
            if rest:
                if not isinstance(node[i], (dict, list)):
                    node[i] = {}
                paths += _set(node[i], rest, value, done + (i,))
            else:
                node[i] = copy.deepcopy(value)
                paths.append(done + (i,))
        return paths
    if not isinstance(node, dict):
        raise ValueError(f"{dotted(done)} is a value, not a section; cannot set {'.'.join(parts)} inside it")
    if not rest:
        node[head] = copy.deepcopy(value)
        return [done + (head,)]
    if head not in node or not isinstance(node[head], (dict, list)):
        if head == "phases":
            node[head] = _default_phase_dicts()
        else:
            node[head] = {}
    return _set(node[head], rest, value, done + (head,))


def _index(text: str, size: int, done: Loc) -> int:
    if not text.lstrip("-").isdigit():
        raise ValueError(f"{dotted(done)} is a list; use an index (0..{size - 1}) or * instead of {text!r}")
    i = int(text)
    if not -size <= i < size:
        raise ValueError(f"{dotted(done)} has {size} items; index {i} is out of range")
    return i % size


def _default_phase_dicts() -> list[dict[str, Any]]:
    return [p.model_dump(exclude_unset=True) for p in _default_phases()]


def _apply_shortcut(data: dict[str, Any], key: str, value: Any) -> list[Loc]:
    """``workers``, ``duration``, ``rate``, ``clients``: the knobs ``pspread run`` exposes as flags.

    duration: every measured phase lasts this long (stage ramps are scaled);
    rate: constant phases run at it, ramps are scaled so their peak equals it;
    clients: closed-loop phases use this many clients.
    """
    if key == "workers":
        return _set_path(data, "executor.workers", value)
    phases = data.get("phases")
    if not isinstance(phases, list):
        phases = data["phases"] = _default_phase_dicts()
    paths: list[Loc] = []
    for i, phase in enumerate(phases):
        if not isinstance(phase, dict):
            continue
        kind = phase.get("kind", "constant")
        if key == "duration" and kind != "warmup":
            paths += _shortcut_duration(phase, value, i)
        elif key == "rate" and kind in ("constant", "ramp"):
            paths += _shortcut_rate(phase, value, i)
        elif key == "clients" and (kind == "closed" or (kind == "warmup" and "rate_qps" not in phase)):
            phase["clients"] = value
            paths.append(("phases", i, "clients"))
    if not paths:
        wanted = {"duration": "a measured phase", "rate": "a constant or ramp phase",
                  "clients": "a closed-loop phase"}[key]
        raise ValueError(f"this scenario has no {wanted} to apply {key} to")
    return paths


def _shortcut_duration(phase: dict[str, Any], value: Any, i: int) -> list[Loc]:
    stages = phase.get("stages")
    if isinstance(stages, list) and stages:
        total = parse_duration(value)
        old = [parse_duration(s.get("duration_s", 0)) if isinstance(s, dict) else 0.0 for s in stages]
        scale = total / sum(old) if sum(old) > 0 else 0.0
        for stage, seconds in zip(stages, old):
            if isinstance(stage, dict):
                stage["duration_s"] = seconds * scale
        phase.pop("duration_s", None)
        return [("phases", i, "stages")]
    phase["duration_s"] = value
    return [("phases", i, "duration_s")]


def _shortcut_rate(phase: dict[str, Any], value: Any, i: int) -> list[Loc]:
    if phase.get("kind", "constant") == "constant":
        phase["rate_qps"] = value
        return [("phases", i, "rate_qps")]
    rate = float(value)
    keys = [k for k in ("start_rate_qps", "end_rate_qps") if isinstance(phase.get(k), (int, float))]
    stages = [s for s in phase.get("stages") or []
              if isinstance(s, dict) and isinstance(s.get("target_qps"), (int, float))]
    peak = max([phase[k] for k in keys] + [s["target_qps"] for s in stages] + [0])
    scale = rate / peak if peak > 0 else 0.0
    for k in keys:
        phase[k] = phase[k] * scale
    for stage in stages:
        stage["target_qps"] = stage["target_qps"] * scale
    return [("phases", i)]



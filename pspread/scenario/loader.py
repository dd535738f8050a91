"""Reading scenarios: YAML (safe loader, line numbers kept) -> merged overrides -> ``Scenario``.

Precedence is defaults < file < environment (``PSPREAD_*``) < CLI overrides.
Every problem is reported at once, in one ``ScenarioValidationError`` whose
message has one line per problem, ``file:line: key.path: message``, so a user
fixes a scenario in one round trip instead of one error per run.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from pspread.errors import ScenarioError
from pspread.scenario.model import Scenario, _default_phases
from pspread.scenario.units import parse_duration

Loc = tuple[Union[str, int], ...]

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


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as precisely as the source allows."""

    where: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        place = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{place}: {self.path}: {self.message}" if self.path else f"{place}: {self.message}"


class ScenarioValidationError(ScenarioError):
    """A scenario with one or more problems; ``problems`` holds them, the message lists them."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid scenario {source} ({len(problems)} {noun}):\n{lines}")


# ------------------------------------------------------------------ YAML in
class LineLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that records the line of every mapping key and list item.

    ``lines`` maps a key path (``("phases", 1, "rate_qps")``) to its 1-based
    line; ``duplicates`` lists keys written twice in one mapping, which plain
    YAML loaders silently collapse.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int]] = []

    def record(self, node: yaml.Node, path: Loc = ()) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = path + (key,)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self.record(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                self.record(item, path + (index,))


def read_yaml(text: str, where: str) -> tuple[dict[str, Any], dict[Loc, int], list[Problem]]:
    """Parse scenario text safely: the data, the line map and any structural problems."""
    loader = LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}, []
        loader.record(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ScenarioValidationError(where, [Problem(where, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioValidationError(where, [Problem(where, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioValidationError(
            where, [Problem(where, 1, "", f"a scenario is a mapping of keys (name:, graph:, phases: ...), "
                                         f"not a {type(data).__name__}")]
        )
    problems = [Problem(where, line, _dotted(loc), "key written twice; keep one")
                for loc, line in loader.duplicates]
    return data, loader.lines, problems


# ----------------------------------------------------------------- overrides
def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``PSPREAD_*`` variables as overrides, values read as YAML scalars (``4`` -> 4)."""
    env = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if var in env and env[var].strip() != "":
            result[key] = parse_scalar(env[var])
    return result


def parse_scalar(text: str) -> Any:
    """A command-line or environment value as YAML reads it: numbers, booleans, else the string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str)) or value is None else text


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
        try:
            paths = _apply_shortcut(data, key, value) if key in SHORTCUTS else _set_path(data, key, value)
        except ValueError as exc:
            problems.append(Problem(where, None, key, str(exc)))
            continue
        for path in paths:
            origins[path] = where
    return problems


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
        raise ValueError(f"{_dotted(done)} is a value, not a section; cannot set {'.'.join(parts)} inside it")
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
        raise ValueError(f"{_dotted(done)} is a list; use an index (0..{size - 1}) or * instead of {text!r}")
    i = int(text)
    if not -size <= i < size:
        raise ValueError(f"{_dotted(done)} has {size} items; index {i} is out of range")
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


# ---------------------------------------------------------------- validation
def validate_data(data: dict[str, Any], where: str, lines: Mapping[Loc, int] | None = None,
                  origins: Mapping[Loc, str] | None = None, problems: list[Problem] | None = None) -> Scenario:
    """Build the ``Scenario``; every pydantic error becomes a located ``Problem``, raised together."""
    found = list(problems or [])
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            found.append(_problem(err, where, lines or {}, origins or {}))
    if found or scenario is None:
        found.sort(key=lambda p: (p.where != where, p.line if p.line is not None else 10**9))
        raise ScenarioValidationError(where, found)
    return scenario


_PATH_PREFIX = re.compile(r"^([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*): (.*)$", re.DOTALL)


def _refine(loc: Loc, message: str) -> tuple[Loc, str]:
    """Move a ``key.path: `` prefix of a cross-field message into the location (``model`` -> ``model.overrides``)."""
    while (match := _PATH_PREFIX.match(message)) is not None:
        parts = match.group(1).split(".")
        if not parts[0].isdigit() and parts[0] not in allowed_keys(loc):
            break
        loc = loc + tuple(int(p) if p.isdigit() else p for p in parts)
        message = match.group(2)
    return loc, message


def _problem(err: Mapping[str, Any], where: str, lines: Mapping[Loc, int], origins: Mapping[Loc, str]) -> Problem:
    loc, message = _refine(tuple(err["loc"]), _message(err, tuple(err["loc"])))
    path = _dotted(loc)
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return Problem(origins[loc[:n]], None, path, message)
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return Problem(where, lines[loc[:n]], path, message)
    return Problem(where, None, path, message)


def _message(err: Mapping[str, Any], loc: Loc) -> str:
    kind, msg = err["type"], str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key; {hint}"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        close = difflib.get_close_matches(str(err.get("input")), expected, n=1, cutoff=0.6)
        if close:
            return f"{msg} (did you mean {close[0]!r}?)"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "dict_type"):
        allowed = allowed_keys(loc)
        hint = f" (keys: {', '.join(allowed)})" if allowed else ""
        if loc == ("thresholds",):
            hint = ", e.g. latency_ms: ['p(99)<50']"
        return f"expected a section of key: value pairs, got {type(err.get('input')).__name__}{hint}"
    if kind == "list_type":
        return f"expected a list (one '- item' per entry), got {type(err.get('input')).__name__}"
    return msg


def allowed_keys(loc: Loc) -> list[str]:
    """The keys a section at ``loc`` accepts (for "did you mean" hints)."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        model = _unwrap(model)
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = model.model_fields[part].annotation
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``Optional[...]`` / ``list[...]`` annotations."""
    for _ in range(4):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        args = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) is None or not args:
            return annotation
        annotation = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
    return annotation


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


# ------------------------------------------------------------------ public
def load_scenario(source: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Scenario:
    """Read a scenario from a file path, YAML text, or (``None``) the built-in default.

    ``overrides``: dotted key paths (``executor.workers``, ``phases.1.rate_qps``,
    ``phases.*.poisson``) or the shortcuts ``workers``, ``duration``, ``rate``,
    ``clients``, applied over the file and the ``PSPREAD_*`` environment
    (``environ``; default ``os.environ``).  Raises ``ScenarioValidationError``
    (a ``ScenarioError``) listing every problem.
    """
    if source is None:
        text, where = default_scenario_text(), "default scenario"
    elif isinstance(source, Path) or not _looks_like_text(source):
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(f"{path}: no such scenario file (see `pspread scenarios list`)")
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        text, where = source, "<scenario text>"
    data, lines, problems = read_yaml(text, where)
    origins: dict[Loc, str] = {}
    problems += apply_overrides(data, env_overrides(environ), "environment", origins)
    problems += apply_overrides(data, dict(overrides or {}), "override", origins)
    return validate_data(data, where, lines, origins, problems)


def _looks_like_text(source: str) -> bool:
    return "\n" in source or (":" in source and not Path(source).exists())


#: the package folder holding the shipped scenarios (and the built-in default), as package data
SHIPPED_PACKAGE, SHIPPED_FOLDER = "pspread", "scenarios"


def shipped_dir() -> Path:
    """The folder of shipped scenarios inside the installed package (a checkout's ``pspread/scenarios``).

    Found through ``importlib.resources``, so an installed pspread finds the
    same files as a checkout does; pspread is installed as plain files (not a
    zip), so the folder is a real path.
    """
    return Path(str(resources.files(SHIPPED_PACKAGE).joinpath(SHIPPED_FOLDER)))


def default_scenario_text() -> str:
    """The YAML of the built-in default scenario (shipped as package data)."""
    return resources.files(SHIPPED_PACKAGE).joinpath(SHIPPED_FOLDER, "default.yaml").read_text(encoding="utf-8")


def default_scenario() -> Scenario:
    """The built-in scenario ``pspread run`` uses with no file: a few seconds, small BA graph.

    Environment variables and overrides are not applied here; use
    ``load_scenario(None, overrides)`` for that.
    """
    return load_scenario(None, environ={})


def scenario_dirs() -> list[Path]:
    """Where scenarios are found by name: ``./scenarios`` (a user's own) and the shipped ones in the package."""
    candidates = [Path.cwd() / "scenarios", shipped_dir()]
    seen: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in [s.resolve() for s in seen]:
            seen.append(folder)
    return seen


def find_scenarios() -> dict[str, Path | None]:
    """Scenarios by name, ``./scenarios`` first, then the shipped ones (``default`` is built in and has no path)."""
    found: dict[str, Path | None] = {"default": None}
    for folder in scenario_dirs():
        for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            found.setdefault(path.stem, path)
    return found


def _shipped_by_checkout_path(path: Path) -> Path | None:
    """``scenarios/ci-gate.yaml`` (where the shipped scenarios lived in a checkout) -> the shipped file.

    Only that exact relative form, and only when no such file exists, so a
    user's own ``scenarios/`` folder always wins.
    """
    if path.is_absolute() or len(path.parts) != 2 or path.parts[0] != SHIPPED_FOLDER:
        return None
    if path.suffix not in (".yaml", ".yml") or path.stem == "default":
        return None
    shipped = shipped_dir() / path.name
    return shipped if shipped.is_file() else None


def resolve_scenario(name_or_path: str | Path | None) -> str | Path | None:
    """A file path as given, or a shipped scenario's path by name (``seed-targets``).

    ``scenarios/seed-targets.yaml`` also finds the shipped scenario when there
    is no such file here: the shipped scenarios used to live in a checkout's
    top-level ``scenarios/`` folder, and commands written for it keep working.
    """
    if name_or_path is None or Path(name_or_path).is_file():
        return name_or_path
    shipped = _shipped_by_checkout_path(Path(name_or_path))
    if shipped is not None:
        return shipped
    known = find_scenarios()
    name = str(name_or_path)
    if name in known:
        return known[name]
    if isinstance(name_or_path, str) and _looks_like_text(name_or_path):
        return name_or_path
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; shipped scenarios: {', '.join(known)}"
    raise ScenarioError(f"{name}: no such scenario file or shipped scenario{hint}")


__all__ = ["load_scenario", "default_scenario", "default_scenario_text", "ScenarioValidationError", "Problem",
           "LineLoader", "env_overrides", "parse_scalar", "parse_set_option", "find_scenarios", "resolve_scenario",
           "scenario_dirs", "shipped_dir", "allowed_keys", "ENV_VARS", "SHORTCUTS"]

"""Reading scenarios: YAML (safe loader, line numbers kept) -> merged overrides -> ``Scenario``.

Precedence is defaults < file < environment (``PSPREAD_*``) < CLI overrides.
Every problem is reported at once, in one ``ScenarioValidationError`` whose
message has one line per problem, ``file:line: key.path: message``, so a user
fixes a scenario in one round trip instead of one error per run.
"""

from __future__ import annotations

import copy
import difflib
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, get_args, get_origin

from pydantic import BaseModel, ValidationError

from pspread.errors import ScenarioError
from pspread.scenario.overrides import apply_overrides, env_overrides
from pspread.scenario.problems import Loc, Problem, ScenarioValidationError, dotted
from pspread.scenario.spec import Scenario
from pspread.scenario.yaml_text import (
    MAX_SCENARIO_BYTES,
    LineLoader,
    read_scenario_file,
    read_yaml,
)


# ---------------------------------------------------------------- validation
def validate_data(data: dict[str, Any], where: str, lines: Mapping[Loc, int] | None = None,
                  origins: Mapping[Loc, str] | None = None, problems: list[Problem] | None = None) -> Scenario:
    """Build the ``Scenario``; every pydantic error becomes a located ``Problem``, raised together.

    Pydantic runs the checks that span fields (a constant phase needs a rate,
    the query mix must build) only once every field is valid, so those would
    surface one round trip later.  So each bad value is dropped (its default
    takes its place) and the data validated again, up to a few rounds, and the
    cross-field problems found then are reported too -- except those about the
    very keys that were dropped.
    """
    found = list(problems or [])
    scenario, current, dropped = None, copy.deepcopy(data), set[Loc]()
    for round_ in range(_ROUNDS):
        try:
            scenario = Scenario.model_validate(current)
            break
        except ValidationError as exc:
            errors = [e for e in (err if round_ == 0 else _without_dropped(err, dropped) for err in exc.errors())
                      if e is not None]
            found += [p for p in (_problem(e, where, lines or {}, origins or {}) for e in errors) if p not in found]
            gone = {loc for loc in sorted({tuple(e["loc"]) for e in exc.errors()}, key=len, reverse=True)
                    if _drop(current, loc)}
            if not gone:
                break
            dropped |= gone
    if found or scenario is None:
        found.sort(key=lambda p: (p.where != where, p.line if p.line is not None else 10**9))
        raise ScenarioValidationError(where, found)
    return scenario


_ROUNDS = 4


def _drop(data: Any, loc: Loc) -> bool:
    """Remove the value at ``loc`` so its default applies next round (a phase becomes a valid placeholder).

    False when it cannot be removed (not found, or a list item other than a phase).
    """
    if not loc:
        return False
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = loc[-1]
    if isinstance(data, dict) and last in data:
        del data[last]
        return True
    if loc[:1] == ("phases",) and len(loc) == 2 and isinstance(data, list) and isinstance(last, int):
        name = data[last].get("name") if isinstance(data[last], dict) else None
        data[last] = {"name": str(name) if name is not None else f"phase-{last + 1}", "kind": "warmup",
                      "duration_s": 1}
        return True
    return False


def _without_dropped(err: Mapping[str, Any], dropped: set[Loc]) -> Mapping[str, Any] | None:
    """A later round's error minus the parts about keys already reported and dropped (None: nothing left)."""
    loc = tuple(err["loc"])
    if loc in dropped:
        return None
    names = {gone[-1] for gone in dropped if len(gone) == len(loc) + 1 and gone[: len(loc)] == loc
             and isinstance(gone[-1], str)}
    parts = [part for part in str(err["msg"]).split("; ")
             if not any(re.search(rf"\b{re.escape(name)}\b", re.sub(r"\([^)]*\)", "", part)) for name in names)]
    return {**err, "msg": "; ".join(parts)} if parts else None


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
    path = dotted(loc)
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
        text, where = read_scenario_file(path), str(path)
    else:
        text, where = source, "<scenario text>"
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{where}: {len(text):,} characters is too large for a scenario "
                            f"(at most {MAX_SCENARIO_BYTES:,})")
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
           "LineLoader", "find_scenarios", "resolve_scenario", "scenario_dirs", "shipped_dir", "allowed_keys"]

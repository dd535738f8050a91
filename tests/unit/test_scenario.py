"""Scenario files: strict model, every error at once with key paths and lines, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from pspread.errors import ScenarioError
from pspread.load.schedule import ArrivalSchedule, expected_arrivals, rate_at
from pspread.scenario import PhaseSpec, Scenario, parse_duration
from pspread.scenario.loader import (
    ScenarioValidationError,
    default_scenario,
    find_scenarios,
    load_scenario,
    resolve_scenario,
    shipped_dir,
)
from pspread.scenario.overrides import parse_set_option

REPO = Path(__file__).resolve().parents[2]
NO_ENV: dict[str, str] = {}


def _problems(text: str, **kw: object) -> list[str]:
    with pytest.raises(ScenarioValidationError) as info:
        load_scenario(text, environ=kw.pop("environ", NO_ENV), **kw)  # type: ignore[arg-type]
    assert isinstance(info.value, ScenarioError)
    return [str(p) for p in info.value.problems]


def test_tiny_yaml_gets_sensible_defaults() -> None:
    s = load_scenario("name: tiny\n", environ=NO_ENV)
    assert s.name == "tiny"
    assert s.graph.generate is not None and s.graph.path is None
    assert s.model.preset == "threshold" and s.executor.workers == "auto"
    assert [p.kind for p in s.phases] == ["warmup", "constant"]
    assert s.parsed_thresholds() == []
    assert s.executor.resolved_workers(cores=3) == 3


def test_full_file_round_trips(tmp_path: Path) -> None:
    text = """
name: full
graph: {path: data/g.tsv, directed: true}
model: {preset: ppr, overrides: {alpha: 0.9}, kernel: dense}
executor: {kind: dask, workers: 3, scheduler: "tcp://127.0.0.1:8786", memory_limit_mb: 512}
workload:
  seeds: {sampling: zipf, zipf_s: 1.3, hot_set: 100}
  mix:
    - {name: a, weight: 3}
    - {name: b, preset: spreadr, seeds_per_query: 4}
phases:
  - {kind: warmup, duration_s: 500ms}
  - {kind: ramp, start_rate_qps: 10, stages: [{duration_s: 1m, target_qps: 50}, {duration_s: 30s, target_qps: 20}]}
  - {kind: closed, duration_s: 1m30s, clients: 4, think_time_ms: 0.25s}
thresholds:
  latency_ms: p(99.9)<=100
  efficiency: ['value>0.5']
"""
    path = tmp_path / "full.yaml"
    path.write_text(text)
    s = load_scenario(path, environ=NO_ENV)
    assert s.graph.path == "data/g.tsv" and s.graph.directed
    assert s.spread_model().decay == pytest.approx(0.1)
    assert s.phases[0].duration_s == 0.5
    ramp = s.phases[1].ramp_segments()
    assert s.phases[1].duration_s == 90.0 and rate_at(ramp, 30) == pytest.approx(30.0)
    assert rate_at(ramp, 75) == pytest.approx(35.0) and rate_at(ramp, 90) == 0.0
    assert expected_arrivals(ramp) == pytest.approx(60 * 30 + 30 * 35)
    assert ArrivalSchedule.from_segments(ramp).expected_arrivals() == pytest.approx(expected_arrivals(ramp))
    assert s.phases[2].ramp_segments() == []  # a closed phase has no rate curve
    assert s.phases[2].think_time_ms == 250.0 and s.phases[2].duration_s == 90.0
    assert [q.name for q in s.query_types()] == ["a", "b"]
    assert s.query_types()[1].seeds_per_query == 4 and s.query_types()[1].model.retention == 0.5
    assert s.thresholds.latency_ms == ["p(99.9)<=100"]
    assert s.speedup is not None and s.speedup.max_workers == 4  # added for the efficiency gate
    assert Scenario.model_validate(s.to_dict()) == s


def test_every_error_at_once_with_paths_and_lines() -> None:
    text = """name: bad
graph:
  generate:
    kind: barabasi-albrt
    nodez: 5
executor:
  workers: 0
phases:
  - kind: constant
    duration_s: 5x
  - kind: closed
    duration_s: 3s
thresholds:
  latency_ms: ['p(99)<50', 'rate<1']
  error_rate: ['value<0.1']
"""
    problems = _problems(text)
    expected = [
        "<scenario text>:4: graph.generate.kind:",
        "<scenario text>:5: graph.generate.nodez: unknown key; did you mean 'nodes'?",
        "<scenario text>:7: executor.workers:",
        "<scenario text>:9: phases.0: rate_qps is required",  # a cross-field check, found in the same pass
        "<scenario text>:10: phases.0.duration_s: cannot read '5x'",
        "<scenario text>:11: phases.1: clients is required",
        "<scenario text>:14: thresholds.latency_ms.1: 'rate<1': rate does not apply to latency_ms",
        "<scenario text>:15: thresholds.error_rate.0:",
    ]
    assert len(problems) == len(expected), problems
    for got, want in zip(problems, expected):
        assert got.startswith(want), (got, want)
    assert "did you mean 'barabasi-albert'" in problems[0]


def test_unknown_key_is_refused_with_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: t\nexecutor:\n  max_inflight: 4\nthreshold:\n  latency_ms: []\n")
    with pytest.raises(ScenarioValidationError) as info:
        load_scenario(path, environ=NO_ENV)
    message = str(info.value)
    assert f"{path}:3: executor.max_inflight: unknown key; did you mean 'max_in_flight'?" in message
    assert f"{path}:4: threshold: unknown key; did you mean 'thresholds'?" in message
    assert "2 problems" in message


def test_yaml_syntax_and_duplicate_keys() -> None:
    assert _problems("name: [oops\n")[0].startswith("<scenario text>:2: YAML syntax error")
    dup = _problems("name: a\nexecutor: {workers: 2}\nname: b\n")
    assert dup == ["<scenario text>:3: name: key written twice; keep one"]
    assert "mapping" in _problems("- a\n- b\n")[0]


def test_phase_kind_rules() -> None:
    with pytest.raises(ValueError, match="clients does not apply to a constant phase"):
        PhaseSpec(kind="constant", duration_s=1, rate_qps=5, clients=3)
    with pytest.raises(ValueError, match="ramp phase needs"):
        PhaseSpec(kind="ramp", duration_s=1, start_rate_qps=1)
    with pytest.raises(ValueError, match="differs from the sum"):
        PhaseSpec(kind="ramp", duration_s=5, stages=[{"duration_s": 2, "target_qps": 1}])
    warm = PhaseSpec(kind="warmup", duration_s="1s")
    assert not warm.is_open and not warm.measured and warm.name == "warmup"


def test_phase_names_default_to_kind_and_must_be_unique() -> None:
    s = load_scenario("phases:\n  - {kind: constant, duration_s: 1, rate_qps: 1}\n"
                      "  - {kind: constant, duration_s: 1, rate_qps: 2}\n"
                      "  - {name: steady, kind: closed, duration_s: 1, clients: 1}\n", environ=NO_ENV)
    assert [p.name for p in s.phases] == ["constant", "constant-2", "steady"]
    problems = _problems("phases:\n  - {name: a, kind: warmup, duration_s: 1}\n"
                         "  - {name: a, kind: constant, duration_s: 1, rate_qps: 1}\n")
    assert problems == ["<scenario text>:3: phases.1.name: 'a' is already used by an earlier phase; "
                        "phase names must be unique"]


def test_model_overrides_are_checked() -> None:
    problems = _problems("model: {overrides: {retention: 2}}\nworkload: {mix: [{name: a, overrides: {foo: 1}}]}\n")
    assert "<scenario text>:1: model.overrides: retention must lie in [0, 1], got 2" in problems
    assert any(p.startswith("<scenario text>:2: workload.mix.0.overrides:") and "foo" in p for p in problems)
    # cross-field checks on the mix (valid names, invalid values) point at the entry's overrides too
    mix = _problems("workload:\n  mix:\n    - name: a\n      overrides: {decay: 3}\n")
    assert mix == ["<scenario text>:4: workload.mix.0.overrides: decay must lie in [0, 1], got 3"]


def test_precedence_defaults_file_env_cli(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nexecutor: {workers: 2, kind: inline}\n"
                    "phases:\n  - {kind: constant, duration_s: 10s, rate_qps: 5}\n")
    assert load_scenario(path, environ=NO_ENV).executor.workers == 2          # file over default
    env = {"PSPREAD_WORKERS": "3", "PSPREAD_RATE": "7", "PSPREAD_DURATION": "20s"}
    s = load_scenario(path, environ=env)
    assert (s.executor.workers, s.phases[0].rate_qps, s.phases[0].duration_s) == (3, 7.0, 20.0)
    assert s.executor.kind == "inline" and s.executor.balance == "least-loaded"
    s = load_scenario(path, environ=env, overrides={"workers": 4, "phases.0.poisson": True, "duration": "1m"})
    assert (s.executor.workers, s.phases[0].rate_qps, s.phases[0].duration_s) == (4, 7.0, 60.0)
    assert s.phases[0].poisson


def test_override_errors_name_their_origin() -> None:
    problems = _problems("name: o\n", environ={"PSPREAD_WORKERS": "zero"}, overrides={"rate": -1})
    assert any(p.startswith("PSPREAD_WORKERS: executor.workers:") for p in problems)
    assert any(p.startswith("override rate: phases.1.rate_qps:") for p in problems)
    bad_path = _problems("name: o\n", overrides={"phases.9.rate_qps": 3})
    assert "out of range" in bad_path[0]
    assert parse_set_option("executor.workers=4") == ("executor.workers", 4)
    with pytest.raises(ScenarioError):
        parse_set_option("no-equals")


def test_shortcuts_scale_ramps() -> None:
    text = "phases:\n  - {kind: ramp, stages: [{duration_s: 2, target_qps: 10}, {duration_s: 6, target_qps: 40}]}\n"
    s = load_scenario(text, environ=NO_ENV, overrides={"duration": "4s", "rate": 20})
    assert [st.duration_s for st in s.phases[0].stages or []] == [1.0, 3.0]
    assert [st.target_qps for st in s.phases[0].stages or []] == [5.0, 20.0]


def test_durations() -> None:
    assert parse_duration("2m") == 120 and parse_duration("500ms") == 0.5
    assert parse_duration("1h30m") == 5400 and parse_duration(3) == 3.0
    assert parse_duration("250ms", unit="ms") == 250 and parse_duration("1s", unit="ms") == 1000
    for bad in ("fast", "5 parsecs", True, -1, "", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_default_scenario_is_short_and_gated() -> None:
    s = default_scenario()
    assert s.total_duration_s() <= 10
    assert s.graph.generate is not None and s.graph.generate.nodes == 20_000
    assert s.model.preset == "threshold" and len(s.phases) == 2
    assert {t.metric for t in s.parsed_thresholds()} >= {"error_rate", "latency_ms"}


SHIPPED = sorted((REPO / "pspread" / "scenarios").glob("*.yaml"))


def test_shipped_scenarios_exist() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"quickstart", "seed-targets", "ci-gate", "large-graph", "mixed-queries", "soak", "default"} <= names
    assert set(names) <= set(find_scenarios())
    assert shipped_dir().resolve() == (REPO / "pspread" / "scenarios").resolve()


def test_shipped_scenarios_have_one_home() -> None:
    # the top-level folder keeps only its README (the reference); the files are package data
    assert not sorted((REPO / "scenarios").glob("*.y*ml"))
    assert (REPO / "scenarios" / "README.md").is_file()


def test_checkout_paths_of_shipped_scenarios_still_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("scenarios/ci-gate.yaml") == shipped_dir() / "ci-gate.yaml"
    assert resolve_scenario("seed-targets") == shipped_dir() / "seed-targets.yaml"
    with pytest.raises(ScenarioError, match="no such scenario file"):
        resolve_scenario("scenarios/no-such.yaml")
    with pytest.raises(ScenarioError):
        resolve_scenario("elsewhere/ci-gate.yaml")  # only the old checkout form is redirected
    own = tmp_path / "scenarios" / "ci-gate.yaml"  # a user's own file of that name wins
    own.parent.mkdir()
    own.write_text("name: ci-gate\n")
    assert resolve_scenario("scenarios/ci-gate.yaml") == "scenarios/ci-gate.yaml"
    assert resolve_scenario("ci-gate") == Path.cwd() / "scenarios" / "ci-gate.yaml"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    s = load_scenario(path, environ=NO_ENV)
    assert s.name == path.stem
    assert s.parsed_thresholds()


def test_seed_targets_and_ci_gate_contents() -> None:
    seed = load_scenario(shipped_dir() / "seed-targets.yaml", environ=NO_ENV)
    gates = {(t.metric, t.source) for t in seed.parsed_thresholds()}
    assert {("throughput_qps", "value>=100"), ("latency_ms", "p(99)<50"), ("speedup", "value>=4"),
            ("coordination_overhead", "value<0.02")} <= gates
    assert seed.speedup is not None and seed.speedup.max_workers == 4
    ci = load_scenario(shipped_dir() / "ci-gate.yaml", environ=NO_ENV)
    assert 20 <= ci.total_duration_s() <= 40
    assert ci.speedup is not None and ci.speedup.max_workers == 2


def test_resolve_by_name() -> None:
    assert resolve_scenario("quickstart") is not None
    with pytest.raises(ScenarioError, match="did you mean 'quickstart'"):
        resolve_scenario("quikstart")


def test_reference_example_in_readme_validates() -> None:
    text = (REPO / "scenarios" / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    s = load_scenario(block, environ=NO_ENV)
    assert s.name == "my-bench" and len(s.phases) == 5 and len(s.parsed_thresholds()) == 11
    assert s.speedup is not None and [q.name for q in s.query_types()] == ["local", "rank"]

"""compare: tolerance AND significance, so noise alone never fails."""

from __future__ import annotations

import numpy as np
import pytest

from pspread.load.figures import latency_sample
from pspread.metrics.stats import per_second, summarize
from pspread.results import PhaseResult, Results, utc_now
from pspread.results.compare import CompareError, compare, parse_fail_on


def synthetic(scale: float = 1.0, seed: int = 0, seconds: float = 30, rate: int = 100,
              env: dict | None = None, kind: str = "closed", errors: int = 0,
              scenario: dict | None = None) -> Results:
    """A run whose latencies are lognormal × ``scale`` at ``rate`` queries per second."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, seconds, int(seconds * rate)))
    lat = rng.lognormal(1.5, 0.4, t.size) * scale
    phase = PhaseResult(name="steady", kind=kind, measured=True, latency_ms=summarize(lat),
                        series=per_second(t, lat, duration_s=seconds), total=int(t.size) + errors, errors=errors,
                        throughput_qps=t.size / seconds, planned_s=seconds, latency_sample_ms=latency_sample(lat))
    sc = scenario if scenario is not None else {"graph": {"generate": {"kind": "ba", "nodes": 1000}},
                                                "phases": [{"name": "steady", "kind": kind}]}
    return Results(scenario_name="synthetic", scenario=sc, started_utc=utc_now(), phases=[phase],
                   environment=env or {"cpu_model": "x", "cores_logical": 2},
                   summary={"throughput_qps": t.size / seconds, "latency_ms": phase.latency_ms.to_dict()},
                   ).finished("complete", 0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_same_distribution_passes(seed: int) -> None:
    result = compare(synthetic(seed=0), synthetic(seed=seed), parse_fail_on(["p50:+5%", "p95:+5%", "p99:+5%"]))
    assert not result.regressed, [m.to_dict() for m in result.metrics]


def test_shift_by_30_percent_fails() -> None:
    result = compare(synthetic(seed=0), synthetic(scale=1.3, seed=1), parse_fail_on(["p99:+10%", "p50:+10%"]))
    assert result.regressed
    by_metric = {m.metric: m for m in result.metrics}
    assert by_metric["p99"].status == "regression" and by_metric["p50"].status == "regression"
    assert by_metric["p99"].p_value is not None and by_metric["p99"].p_value < 0.01
    assert by_metric["p50"].change_pct == pytest.approx(30, abs=5)


def test_shift_within_tolerance_passes() -> None:
    result = compare(synthetic(seed=0), synthetic(scale=1.05, seed=1), parse_fail_on(["p99:+20%", "p50:+20%"]))
    assert not result.regressed


def test_improvement_never_fails() -> None:
    result = compare(synthetic(scale=1.5, seed=0), synthetic(seed=1), parse_fail_on(["p99:+1%"]))
    assert not result.regressed
    assert {m.metric: m.status for m in result.metrics}["p99"] == "improved"


def test_big_change_without_enough_samples_is_not_a_regression() -> None:
    # ten queries each: a 30% shift is beyond tolerance but cannot be shown significant
    result = compare(synthetic(seed=0, seconds=0.1), synthetic(scale=1.3, seed=1, seconds=0.1),
                     parse_fail_on(["p50:+10%"]))
    p50 = {m.metric: m for m in result.metrics}["p50"]
    assert p50.change_pct is not None and p50.change_pct > 10
    assert p50.status == "not significant" and not result.regressed
    assert "too few per-query samples" in p50.note


def test_throughput_drop_fails() -> None:
    result = compare(synthetic(rate=100), synthetic(rate=60, seed=1), parse_fail_on(["qps:-10%"]))
    assert {m.metric: m.status for m in result.metrics}["qps"] == "regression"


def test_environment_differences_are_warned() -> None:
    result = compare(synthetic(), synthetic(seed=1, env={"cpu_model": "y", "cores_logical": 2}))
    assert any("cpu_model" in w for w in result.warnings)


@pytest.mark.parametrize(
    "rule, fragment",
    [
        ("p99", "write <metric>"),
        ("p99:10%", "write <metric>"),
        ("p99:-10%", "write p99:+10%"),
        ("qps:+10%", "write qps:-10%"),
        ("knee:+10%", "write knee:-10%"),
        ("error_rate:+5ms", "not a unit of error_rate"),
        ("p42:+1%", "unknown metric"),
        ("qps:-5ms", "not a unit of qps"),
    ],
)
def test_bad_fail_on_rules(rule: str, fragment: str) -> None:
    with pytest.raises(CompareError) as info:
        parse_fail_on([rule])
    assert fragment in str(info.value)


def test_fail_on_rules_reported_together_and_parsed() -> None:
    with pytest.raises(CompareError) as info:
        parse_fail_on(["bad", "p99:-1%", "p95:+5ms"])
    assert str(info.value).count("--fail-on") == 2
    (rule,) = parse_fail_on(["median:+5ms"])
    assert rule.metric == "p50" and not rule.relative and rule.exceeded(10.0, 15.1) and not rule.exceeded(10, 14)


def _rows(result, scope: str = "run") -> dict:
    return {m.metric: m for m in result.metrics if m.scope == scope}


def test_noise_between_two_runs_of_one_scenario_passes_19_of_20() -> None:
    # the goal: two runs of one scenario exit 0 in at least 19 of 20 cases (default rules, 4 s at 100 q/s)
    passes = sum(not compare(synthetic(seed=2 * i, seconds=4), synthetic(seed=2 * i + 1, seconds=4)).regressed
                 for i in range(20))
    assert passes >= 19


def test_a_1_2x_shift_over_4_seconds_at_100_qps_is_a_regression() -> None:
    failures = sum(compare(synthetic(seed=2 * i, seconds=4), synthetic(scale=1.2, seed=2 * i + 1, seconds=4)).regressed
                   for i in range(10))
    assert failures >= 9
    p99 = _rows(compare(synthetic(seconds=4), synthetic(scale=1.2, seed=1, seconds=4)))["p99"]
    assert p99.status == "regression" and p99.p_value is not None and p99.p_value < 0.01


def test_a_1500x_worse_p99_fails_on_a_short_run() -> None:
    # the defect this replaces: four one-second samples could never reach p < 0.01
    assert compare(synthetic(seconds=4), synthetic(scale=1500, seed=1, seconds=4)).regressed


def test_open_model_throughput_is_reported_not_gated() -> None:
    result = compare(synthetic(kind="constant"), synthetic(kind="constant", rate=60, seed=1))
    qps = _rows(result)["qps"]
    assert qps.status == "not gated" and "offered rate" in qps.note and not result.regressed


def test_error_rate_rise_fails_and_a_tiny_one_is_noise() -> None:
    assert _rows(compare(synthetic(), synthetic(seed=1, errors=300)))["error_rate"].status == "regression"
    assert _rows(compare(synthetic(), synthetic(seed=1, errors=3)))["error_rate"].status == "ok"


def test_different_setups_are_refused_unless_allowed() -> None:
    other = synthetic(seed=1, scenario={"graph": {"generate": {"kind": "ba", "nodes": 5000}},
                                        "phases": [{"name": "steady", "kind": "closed", "rate_qps": 300}]})
    with pytest.raises(CompareError) as info:
        compare(synthetic(), other)
    assert "graph.generate.nodes" in str(info.value) and "phases.0.rate_qps" in str(info.value)
    assert "--allow-mismatch" in str(info.value)
    result = compare(synthetic(), other, allow_mismatch=True)
    assert any("different setups" in w for w in result.warnings)


def test_incomplete_runs_are_refused() -> None:
    running = synthetic(seed=1).model_copy(update={"status": "running"})
    with pytest.raises(CompareError, match="incomplete"):
        compare(synthetic(), running)


def test_phases_are_compared_by_name() -> None:
    def two_phases(scale: float, seed: int) -> Results:
        a, b = synthetic(seed=seed, seconds=4), synthetic(scale=scale, seed=seed + 100, seconds=4)
        pb = b.phases[0].model_copy(update={"name": "spike"})
        sc = {"phases": [{"name": "steady", "kind": "closed"}, {"name": "spike", "kind": "closed"}]}
        return a.model_copy(update={"phases": [a.phases[0], pb], "scenario": sc})

    result = compare(two_phases(1.0, 0), two_phases(2.0, 1))
    assert _rows(result, "phase spike")["p99"].status == "regression"
    assert _rows(result, "phase steady")["p99"].status in ("ok", "improved", "not significant")


def test_baseline_of_several_runs_uses_their_median() -> None:
    bases = [synthetic(scale=s, seed=i) for i, s in enumerate((1.0, 1.02, 5.0))]
    result = compare(bases, synthetic(seed=9))
    p50 = _rows(result)["p50"]
    assert result.baselines == 3 and p50.base == pytest.approx(bases[1].summary.latency_ms.med)
    assert not result.regressed


def test_capacity_knees_are_compared_when_the_brackets_disagree() -> None:
    from pspread.results.records import CapacityRecord

    def stressed(knee: float, failing: float) -> Results:
        cap = CapacityRecord(latency_gate="p(99)<50", error_gate="rate<0.01", knee_qps=knee,
                             first_failing_qps=failing)
        return synthetic().model_copy(update={"phases": [], "capacity": cap})

    assert _rows(compare(stressed(640, 670), stressed(400, 420)))["knee"].status == "regression"
    close = _rows(compare(stressed(640, 670), stressed(560, 660)))["knee"]
    assert close.status == "not significant" and "overlap" in close.note

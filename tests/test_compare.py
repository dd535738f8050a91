"""compare: tolerance AND significance, so noise alone never fails."""

from __future__ import annotations

import numpy as np
import pytest

from pspread.metrics.stats import per_second, summarize
from pspread.results import PhaseResult, Results, utc_now
from pspread.results.compare import CompareError, compare, parse_fail_on


def synthetic(scale: float = 1.0, seed: int = 0, seconds: int = 30, rate: int = 100,
              env: dict | None = None) -> Results:
    """A run whose latencies are lognormal × ``scale`` at ``rate`` queries per second."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, seconds, seconds * rate))
    lat = rng.lognormal(1.5, 0.4, t.size) * scale
    phase = PhaseResult(name="steady", kind="constant", measured=True, latency_ms=summarize(lat),
                        series=per_second(t, lat, duration_s=seconds), total=int(t.size),
                        throughput_qps=t.size / seconds, planned_s=seconds)
    return Results(scenario_name="synthetic", scenario={}, started_utc=utc_now(), phases=(phase,),
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
    # two seconds each: a 30% shift is beyond tolerance but cannot be shown significant
    result = compare(synthetic(seed=0, seconds=2), synthetic(scale=1.3, seed=1, seconds=2),
                     parse_fail_on(["p50:+10%"]))
    p50 = {m.metric: m for m in result.metrics}["p50"]
    assert p50.change_pct is not None and p50.change_pct > 10
    assert p50.status == "not significant" and not result.regressed


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

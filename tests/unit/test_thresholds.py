"""k6 threshold grammar: parsing, metric/stat checks, evaluation and SKIPPED gates."""

from __future__ import annotations

import numpy as np
import pytest

from pspread.errors import ScenarioError
from pspread.metrics.thresholds import (
    Observed,
    VerdictStatus,
    evaluate,
    evaluate_all,
    overall_status,
    parse_threshold,
    parse_thresholds,
)


@pytest.mark.parametrize(
    "metric, text, stat, op, value",
    [
        ("latency_ms", "p(99)<50", "p(99)", "<", 50.0),
        ("latency_ms", "p(99.9)<=100", "p(99.9)", "<=", 100.0),
        ("latency_ms", " p( 95 ) < 7.5 ", "p(95)", "<", 7.5),
        ("latency_ms", "avg<20", "avg", "<", 20.0),
        ("latency_ms", "med<10", "med", "<", 10.0),
        ("latency_ms", "min>0", "min", ">", 0.0),
        ("latency_ms", "max<200", "max", "<", 200.0),
        ("latency_ms", "count>=100", "count", ">=", 100.0),
        ("throughput_qps", "value>100", "value", ">", 100.0),
        ("speedup", "value>=4", "value", ">=", 4.0),
        ("error_rate", "rate<0.01", "rate", "<", 0.01),
        ("error_rate", "count<10", "count", "<", 10.0),
        ("coordination_overhead", "value<2e-2", "value", "<", 0.02),
        ("efficiency", "value==1", "value", "==", 1.0),
        ("rss_growth", "value!=3", "value", "!=", 3.0),
    ],
)
def test_valid_expressions(metric: str, text: str, stat: str, op: str, value: float) -> None:
    t = parse_threshold(metric, text)
    assert (t.metric, t.stat, t.op, t.value) == (metric, stat, op, value)
    assert t.source == text.strip()


@pytest.mark.parametrize(
    "metric, text, fragment",
    [
        ("latency_ms", "rate<0.1", "rate does not apply to latency_ms"),
        ("error_rate", "p(99)<5", "p(N) does not apply to error_rate"),
        ("speedup", "avg>2", "avg does not apply to speedup"),
        ("latency_ms", "p99<50", "p(99)"),
        ("latency_ms", "p(101)<50", "[0, 100]"),
        ("latency_ms", "mean<3", "unknown statistic 'mean'"),
        ("speedup", "value=>4", "cannot read"),
        ("speedup", "value>=", "cannot read"),
        ("speedup", "value>=four", "cannot read"),
        ("latency_ms", "", "cannot read"),
        ("bogus", "value<1", "unknown metric"),
    ],
)
def test_invalid_expressions(metric: str, text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_threshold(metric, text)
    assert fragment in str(info.value)


def test_parse_thresholds_reports_every_problem_at_once() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_thresholds({"latency_ms": ["p(99)<50", "rate<1", "avg<<2"], "error_rate": "value<1", "nope": []})
    message = str(info.value)
    for path in ("thresholds.latency_ms.1", "thresholds.latency_ms.2", "thresholds.error_rate.0", "thresholds.nope"):
        assert path in message
    assert "thresholds.latency_ms.0" not in message


def test_evaluate_latency_from_samples_matches_numpy() -> None:
    samples = np.arange(1, 101, dtype=float)
    obs = Observed(latency_ms=samples)
    v = evaluate(parse_threshold("latency_ms", "p(99)<99.5"), obs)
    assert v.observed == pytest.approx(np.percentile(samples, 99))
    assert v.status is VerdictStatus.PASS
    assert evaluate(parse_threshold("latency_ms", "p(99)<99"), obs).status is VerdictStatus.FAIL
    assert evaluate(parse_threshold("latency_ms", "max<=100"), obs).passed
    assert evaluate(parse_threshold("latency_ms", "avg==50.5"), obs).passed
    assert evaluate(parse_threshold("latency_ms", "count==100"), obs).passed


def test_evaluate_from_summary_and_missing_stat_is_skipped() -> None:
    obs = Observed(latency_summary={"p(99)": 40.0, "avg": 10.0})
    assert evaluate(parse_threshold("latency_ms", "p(99)<50"), obs).passed
    skipped = evaluate(parse_threshold("latency_ms", "p(97)<50"), obs)
    assert skipped.status is VerdictStatus.SKIPPED and "p(97)" in skipped.reason


def test_error_rate_and_scalars() -> None:
    obs = Observed(errors=2, total=100, values={"throughput_qps": 120.0})
    assert evaluate(parse_threshold("error_rate", "rate<0.01"), obs).failed
    assert evaluate(parse_threshold("error_rate", "rate<0.05"), obs).passed
    assert evaluate(parse_threshold("error_rate", "count<=2"), obs).passed
    assert evaluate(parse_threshold("throughput_qps", "value>100"), obs).passed
    missing = evaluate(parse_threshold("coordination_overhead", "value<0.02"), obs)
    assert missing.status is VerdictStatus.SKIPPED and "not measured" in missing.reason


def test_speedup_needing_more_cores_is_skipped_with_reason() -> None:
    obs = Observed(values={"speedup": 1.9, "efficiency": 0.47}, cores=2, speedup_workers=4)
    verdicts = evaluate_all([parse_threshold("speedup", "value>=4"), parse_threshold("efficiency", "value>0.9")], obs)
    assert all(v.status is VerdictStatus.SKIPPED for v in verdicts)
    assert verdicts[0].reason == "needs 4 cores, this machine has 2"
    # a skipped gate never fails the run, but never counts as passed either
    assert overall_status(verdicts) is VerdictStatus.PASS
    assert not any(v.passed for v in verdicts)
    enough = Observed(values={"speedup": 1.9}, cores=8, speedup_workers=4)
    assert evaluate(parse_threshold("speedup", "value>=4"), enough).failed


def test_unavailable_metric_reason_is_kept_and_nan_never_passes() -> None:
    obs = Observed(unavailable={"rss_growth": "psutil could not read worker memory"},
                   values={"throughput_qps": float("nan")})
    v = evaluate(parse_threshold("rss_growth", "value<1.5"), obs)
    assert v.status is VerdictStatus.SKIPPED and "psutil" in v.reason
    assert evaluate(parse_threshold("throughput_qps", "value!=1"), obs).failed
    assert overall_status([v, evaluate(parse_threshold("throughput_qps", "value>0"), obs)]) is VerdictStatus.FAIL


@pytest.mark.parametrize("q, need", [(50, 2), (90, 10), (95, 20), (99, 100), (99.9, 1000)])
def test_percentile_gates_need_enough_samples_or_are_skipped(q: float, need: int) -> None:
    from pspread.metrics.thresholds import min_samples

    assert min_samples(q) == need
    gate = parse_threshold("latency_ms", f"p({q:g})<1e9")
    few = evaluate(gate, Observed(latency_ms=np.ones(need - 1)))
    assert few.status is VerdictStatus.SKIPPED and f"needs at least {need}" in few.reason
    assert evaluate(gate, Observed(latency_ms=np.ones(need))).status is VerdictStatus.PASS

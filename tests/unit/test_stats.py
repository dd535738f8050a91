"""Percentile maths against numpy, per-second series, error rate and the USL fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pspread.metrics.stats import (
    Series,
    coordination_overhead,
    efficiency,
    error_rate,
    fit_usl,
    per_second,
    percentile,
    speedup,
    summarize,
    usl,
)


def test_percentiles_on_known_samples() -> None:
    samples = [1.0, 2.0, 3.0, 4.0]
    # numpy's linear method: rank = q/100 * (n-1)
    assert percentile(samples, 50) == 2.5
    assert percentile(samples, 90) == pytest.approx(3.7)
    assert percentile(samples, 0) == 1.0 and percentile(samples, 100) == 4.0
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_summary_equals_numpy(seed: int) -> None:
    data = np.random.default_rng(seed).lognormal(1.0, 0.7, size=5001)
    s = summarize(data)
    assert s.count == data.size
    assert s.min == data.min() and s.max == data.max()
    assert s.avg == pytest.approx(data.mean())
    assert s.med == np.percentile(data, 50)
    for got, q in ((s.p90, 90), (s.p95, 95), (s.p99, 99), (s.p999, 99.9)):
        assert got == np.percentile(data, q)
    d = s.to_dict()
    assert d["p(99.9)"] == s.p999 and d["med"] == s.med


def test_empty_summary_has_no_numbers() -> None:
    s = summarize([])
    assert s.count == 0 and s.p99 is None and s.to_dict()["max"] is None


def test_per_second_buckets() -> None:
    times = [0.1, 0.5, 0.9, 1.2, 3.7, 3.9]
    lat = [1.0, 2.0, 3.0, 10.0, 5.0, 100.0]
    ok = [True, True, True, True, True, False]
    s = per_second(times, lat, ok, duration_s=5)
    assert s.second.tolist() == [0, 1, 2, 3, 4]
    assert s.count.tolist() == [3, 1, 0, 2, 0]  # errors count as ended queries
    assert s.errors.tolist() == [0, 0, 0, 1, 0]
    assert s.p50_ms[0] == 2.0 and s.max_ms[0] == 3.0
    assert s.p99_ms[1] == 10.0
    assert math.isnan(s.p50_ms[2])
    assert s.p99_ms[3] == 5.0  # the failed query's latency is left out
    round_trip = Series.from_dict(s.to_dict())
    assert round_trip.count.tolist() == s.count.tolist()
    assert np.allclose(round_trip.p95_ms, s.p95_ms, equal_nan=True)
    assert s.to_dict()["p50_ms"][2] is None


def test_per_second_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        per_second([0.1, 0.2], [1.0])


def test_per_second_matches_numpy_per_bucket() -> None:
    rng = np.random.default_rng(7)
    t = rng.uniform(0, 10, 4000)
    lat = rng.exponential(3.0, 4000)
    s = per_second(t, lat)
    for second in range(10):
        chunk = lat[(t >= second) & (t < second + 1)]
        assert s.count[second] == chunk.size
        assert s.p95_ms[second] == pytest.approx(np.percentile(chunk, 95))


def test_rates_and_ratios() -> None:
    assert error_rate(1, 100) == 0.01
    assert error_rate(0, 0) == 0.0
    with pytest.raises(ValueError):
        error_rate(3, 2)
    assert speedup(8.0, 2.0) == 4.0
    assert efficiency(3.0, 4) == 0.75
    assert coordination_overhead(1.0, 50.0) == 0.02


def test_usl_fit_recovers_known_parameters() -> None:
    n = np.array([1, 2, 4, 8, 12, 16, 24, 32], dtype=float)
    lam, sigma, kappa = 250.0, 0.04, 0.0015
    rng = np.random.default_rng(3)
    x = usl(n, lam, sigma, kappa) * (1 + rng.normal(0, 0.003, n.size))
    fit, reason = fit_usl(n, x)
    assert fit is not None, reason
    assert fit.lambda_ == pytest.approx(lam, rel=0.02)
    assert fit.sigma == pytest.approx(sigma, abs=0.01)
    assert fit.kappa == pytest.approx(kappa, rel=0.2)
    assert fit.peak_workers == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.15)
    assert fit.predict(4) == pytest.approx(usl(np.array(4.0), lam, sigma, kappa), rel=0.02)


def test_usl_fit_refuses_fewer_than_three_worker_counts() -> None:
    for workers, qps in (([1, 4], [100.0, 250.0]), ([2], [100.0]), ([1, 1, 2, 2], [99.0, 101.0, 180.0, 182.0])):
        none, reason = fit_usl(workers, qps)
        assert none is None and "at least 3 distinct worker counts" in reason
    fit, _ = fit_usl([1, 2, 4], [100.0, 190.0, 340.0])
    assert fit is not None and fit.points == 3 and fit.predict(2) == pytest.approx(190.0, rel=0.05)

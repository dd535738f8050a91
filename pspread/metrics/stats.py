"""The numbers a run reports: exact percentiles, per-second series, rates, scaling fits.

Percentiles are computed from every sample with numpy's default ("linear")
method -- the one k6 uses -- never from histograms or reservoirs, so a p99
here is the p99 of what happened.  The Universal Scalability Law fit turns a
handful of (workers, throughput) points into contention (sigma) and coherency
(kappa) costs and the worker count where throughput peaks.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

#: the percentiles every latency summary carries (k6 stat names are built from them)
SUMMARY_PERCENTILES = (90.0, 95.0, 99.0, 99.9)
#: the percentile spectrum a summary also keeps (HDR-style: each step divides the distance to 100% by
#: sqrt(2), so 50, 75, 87.5, 93.75 ... % are among them, up to 99.999%),
#: enough to draw the distribution of a run without keeping every sample in the results file
SPECTRUM_PERCENTILES = (0.0, *(round(100.0 * (1.0 - 0.5 ** (k / 2.0)), 5) for k in range(1, 35)), 100.0)
#: seconds of the sliding window behind the ``*_sliding_ms`` columns of a per-second series
SLIDING_WINDOW_S = 10


def percentile(samples: Sequence[float] | np.ndarray, q: float) -> float:
    """The exact ``q``-th percentile (0..100) with linear interpolation; NaN for no samples."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    return float(np.percentile(arr, q))


def stat_name(q: float) -> str:
    """k6's name for a percentile: ``p(99)``, ``p(99.9)``."""
    return f"p({q:g})"


@dataclass(frozen=True)
class LatencySummary:
    """Summary of a latency sample in milliseconds (None where there were no samples)."""

    count: int
    min: float | None
    avg: float | None
    med: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    #: ``(percentile, ms)`` pairs at ``SPECTRUM_PERCENTILES`` (those the sample size resolves); the report's
    #: distribution plot.  Empty in summaries read from files written before it was recorded.
    spectrum: tuple[tuple[float, float], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """k6-style keys (``p(99)``), which thresholds on summaries look up directly."""
        out: dict[str, Any] = {
            "count": self.count, "min": self.min, "avg": self.avg, "med": self.med,
            "p(90)": self.p90, "p(95)": self.p95, "p(99)": self.p99, "p(99.9)": self.p999, "max": self.max,
        }
        if self.spectrum:
            out["spectrum"] = [[q, v] for q, v in self.spectrum]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencySummary":
        spectrum = tuple((float(q), float(v)) for q, v in data.get("spectrum") or ())
        return cls(count=int(data["count"]), min=data.get("min"), avg=data.get("avg"), med=data.get("med"),
                   p90=data.get("p(90)"), p95=data.get("p(95)"), p99=data.get("p(99)"),
                   p999=data.get("p(99.9)"), max=data.get("max"), spectrum=spectrum)


def summarize(latencies_ms: Sequence[float] | np.ndarray) -> LatencySummary:
    """Count, min, avg, median, p90, p95, p99, p99.9 and max of every sample."""
    arr = np.asarray(latencies_ms, dtype=np.float64)
    if arr.size == 0:
        return LatencySummary(0, None, None, None, None, None, None, None, None)
    p50, p90, p95, p99, p999 = (float(v) for v in np.percentile(arr, [50.0, *SUMMARY_PERCENTILES]))
    # a percentile q is resolved when at least one sample lies above it: 1 / (1 - q) <= count
    resolved = [q for q in SPECTRUM_PERCENTILES if q == 100.0 or 1.0 / (1.0 - q / 100.0) <= arr.size]
    spectrum = tuple(zip(resolved, (float(v) for v in np.percentile(arr, resolved))))
    return LatencySummary(
        count=int(arr.size), min=float(arr.min()), avg=float(arr.mean()), med=p50,
        p90=p90, p95=p95, p99=p99, p999=p999, max=float(arr.max()), spectrum=spectrum,
    )


def error_rate(errors: int, total: int) -> float:
    """Failed ÷ all queries; 0 when nothing was sent (nothing failed)."""
    if errors < 0 or total < 0 or errors > total:
        raise ValueError(f"error_rate needs 0 <= errors <= total, got {errors} of {total}")
    return errors / total if total else 0.0


# ------------------------------------------------------------ per-second series
_SERIES_COLUMNS = ("second", "count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms")
#: percentiles over the last ``SLIDING_WINDOW_S`` seconds at each second (the report plots them); a series
#: read from a file written before they were recorded has them empty
_SLIDING_COLUMNS = ("p50_sliding_ms", "p95_sliding_ms", "p99_sliding_ms")


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Series:
    """One row per whole second of a phase: queries ended, errors, latency percentiles.

    ``second[i]`` is the bucket's start (seconds from the phase start); empty
    seconds are kept with zero counts and NaN latencies so plots show gaps.
    ``p*_sliding_ms[i]``: the percentile of every OK sample of seconds
    ``i - SLIDING_WINDOW_S + 1`` to ``i`` (one second alone is noisy; the
    window shows the trend without hiding a spike the per-second max shows).
    """

    second: np.ndarray
    count: np.ndarray
    errors: np.ndarray
    p50_ms: np.ndarray
    p95_ms: np.ndarray
    p99_ms: np.ndarray
    max_ms: np.ndarray
    p50_sliding_ms: np.ndarray = field(default_factory=_empty)
    p95_sliding_ms: np.ndarray = field(default_factory=_empty)
    p99_sliding_ms: np.ndarray = field(default_factory=_empty)

    def __len__(self) -> int:
        return int(self.second.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Series):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
                   for k in _SERIES_COLUMNS + _SLIDING_COLUMNS)

    __hash__ = None  # type: ignore[assignment]

    @property
    def qps(self) -> np.ndarray:
        """Completed queries per second, bucket by bucket (errors included)."""
        return self.count.astype(np.float64)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns as plain lists; NaN becomes None so the result is valid JSON."""
        out: dict[str, list[Any]] = {}
        for name in _SERIES_COLUMNS + _SLIDING_COLUMNS:
            if name in _SLIDING_COLUMNS and not getattr(self, name).size:
                continue
            values = getattr(self, name).tolist()
            out[name] = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, list[Any]]) -> "Series":
        def floats(name: str) -> np.ndarray:
            return np.array([math.nan if v is None else v for v in data.get(name, [])], dtype=np.float64)

        return cls(
            second=np.asarray(data.get("second", []), dtype=np.int64),
            count=np.asarray(data.get("count", []), dtype=np.int64),
            errors=np.asarray(data.get("errors", []), dtype=np.int64),
            p50_ms=floats("p50_ms"), p95_ms=floats("p95_ms"), p99_ms=floats("p99_ms"), max_ms=floats("max_ms"),
            **{name: floats(name) for name in _SLIDING_COLUMNS},
        )


def per_second(times_s: Sequence[float] | np.ndarray, latencies_ms: Sequence[float] | np.ndarray,
               ok: Sequence[bool] | np.ndarray | None = None, duration_s: float | None = None) -> Series:
    """Bucket samples by the whole second they fall in.

    ``times_s``: when each query ended, in seconds from the phase start.
    ``ok``: which queries succeeded (errors are counted, their latencies left
    out of the percentiles); None means all did.  ``duration_s``: the phase
    length, so trailing empty seconds still appear.
    """
    times = np.asarray(times_s, dtype=np.float64)
    lat = np.asarray(latencies_ms, dtype=np.float64)
    good = np.ones(times.shape, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    if not (times.shape == lat.shape == good.shape):
        raise ValueError(f"times, latencies and ok must have one entry per query, got "
                         f"{times.shape}, {lat.shape}, {good.shape}")
    bucket = np.floor(np.clip(times, 0.0, None)).astype(np.int64)
    n = int(bucket.max()) + 1 if bucket.size else 0
    if duration_s is not None:
        n = max(n, int(math.ceil(duration_s - 1e-9)))
    count = np.bincount(bucket, minlength=n)[:n] if n else np.zeros(0, np.int64)
    errors = np.bincount(bucket[~good], minlength=n)[:n] if n else np.zeros(0, np.int64)
    cols = np.full((7, n), np.nan)
    ok_bucket, ok_lat = bucket[good], lat[good]
    order = np.argsort(ok_bucket, kind="stable")
    ok_bucket, ok_lat = ok_bucket[order], ok_lat[order]
    edges = np.searchsorted(ok_bucket, np.arange(n + 1))
    for second in range(n):
        chunk = ok_lat[edges[second]:edges[second + 1]]
        if chunk.size:
            cols[:3, second] = np.percentile(chunk, [50.0, 95.0, 99.0])
            cols[3, second] = chunk.max()
        window = ok_lat[edges[max(0, second - SLIDING_WINDOW_S + 1)]:edges[second + 1]]
        if window.size:
            cols[4:, second] = np.percentile(window, [50.0, 95.0, 99.0])
    return Series(second=np.arange(n, dtype=np.int64), count=count.astype(np.int64),
                  errors=errors.astype(np.int64), p50_ms=cols[0], p95_ms=cols[1], p99_ms=cols[2], max_ms=cols[3],
                  p50_sliding_ms=cols[4], p95_sliding_ms=cols[5], p99_sliding_ms=cols[6])


# ------------------------------------------------------------- scaling figures
def speedup(time_one_worker_s: float, time_w_workers_s: float) -> float:
    """Time on one worker ÷ time on W workers, for the same fixed query set."""
    if time_one_worker_s <= 0 or time_w_workers_s <= 0:
        raise ValueError("speedup needs positive times")
    return time_one_worker_s / time_w_workers_s


def efficiency(speedup_value: float, workers: int) -> float:
    """Speedup ÷ workers: 1.0 is perfect scaling."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return speedup_value / workers


def coordination_overhead(parent_cpu_s: float, all_cpu_s: float) -> float:
    """CPU time of the parent ÷ CPU time of all processes (parent and workers)."""
    if all_cpu_s <= 0:
        return 0.0
    return parent_cpu_s / all_cpu_s


@dataclass(frozen=True)
class UslFit:
    """Universal Scalability Law ``X(N) = λN / (1 + σ(N−1) + κN(N−1))`` fitted to measurements.

    ``sigma``: contention (serial share); ``kappa``: coherency (crosstalk).
    ``peak_workers``: N where throughput peaks, ``sqrt((1−σ)/κ)``; None when κ
    is 0 (throughput keeps rising).  ``note`` says what was simplified (e.g.
    κ fixed at 0 with only two points).
    """

    lambda_: float
    sigma: float
    kappa: float
    peak_workers: float | None
    points: int
    note: str = ""

    def predict(self, workers: float | np.ndarray) -> float | np.ndarray:
        return usl(np.asarray(workers, dtype=np.float64), self.lambda_, self.sigma, self.kappa)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lambda"] = data.pop("lambda_")
        return data


def usl(n: np.ndarray, lam: float, sigma: float, kappa: float) -> np.ndarray:
    """Throughput the USL predicts on ``n`` workers."""
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def fit_usl(workers: Sequence[float], throughput: Sequence[float]) -> tuple[UslFit | None, str]:
    """Fit the USL to (workers, throughput) points: ``(fit, "")`` or ``(None, reason)``.

    Three or more distinct worker counts fit λ, σ and κ.  Fewer are refused:
    two points determine a curve of two parameters exactly, so the "fit" would
    say nothing about contention that the two speedups do not already say.
    """
    from scipy.optimize import curve_fit

    n = np.asarray(workers, dtype=np.float64)
    x = np.asarray(throughput, dtype=np.float64)
    if n.shape != x.shape:
        raise ValueError("workers and throughput must have one entry per point")
    keep = np.isfinite(n) & np.isfinite(x) & (n >= 1) & (x > 0)
    n, x = n[keep], x[keep]
    distinct = np.unique(n).size
    if distinct < 3:
        return None, (f"a scalability-law fit needs at least 3 distinct worker counts, got {distinct}; "
                      "measure more counts, e.g. --workers 1,2,4")
    lam0 = float(np.max(x[n == n.min()]) / n.min())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = curve_fit(usl, n, x, p0=[lam0, 0.05, 0.001],
                                  bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, np.inf]), maxfev=20_000)
            lam, sigma, kappa = (float(p) for p in params)
            note = ""
        except (RuntimeError, ValueError) as exc:
            return None, f"the scaling fit did not converge: {exc}"
    peak = math.sqrt((1.0 - sigma) / kappa) if kappa > 1e-12 else None
    return UslFit(lambda_=lam, sigma=sigma, kappa=kappa, peak_workers=peak, points=int(n.size), note=note), ""

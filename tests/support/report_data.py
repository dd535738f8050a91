"""Synthetic results records for the report's tests: a soak, a stress search, a speedup run.

Built with the real producers (``per_second``, ``summarize``) from random
latencies, then passed through ``Results.from_dict`` / ``to_dict`` exactly as
a results file is, so the report reads what a run would write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pspread.metrics.stats import per_second, summarize
from pspread.results.run import SCHEMA_VERSION, Results

ENVIRONMENT = {"cpu_model": "Test CPU", "cores_logical": 2, "cores_physical": 2, "cores_usable": 2,
               "memory_total_mb": 24000.0, "platform": "Linux-test", "python": "3.11.7",
               "python_implementation": "CPython", "libraries": {"pspread": "0.1.0", "numpy": "2.0"},
               "git": {"revision": "0123456789abcdef0123", "dirty": True}}


def phase_record(name: str, kind: str, seconds: int, rate: float, seed: int, *, start: float,
                 per_kind: bool = False, spike_at: int | None = None) -> dict[str, Any]:
    """One phase as the runner writes it: series, latency summary, driver, workers, resources."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.sort(rng.uniform(0, seconds, n))
    lat = rng.lognormal(0.5, 0.4, n)
    if spike_at is not None:
        lat[(t >= spike_at) & (t < spike_at + 1)] *= 40.0
    ok = rng.random(n) > 0.01
    worker = rng.integers(0, 2, n)
    samples = np.arange(0.0, seconds, 0.5) + 0.5
    record: dict[str, Any] = {
        "name": name, "kind": kind, "measured": kind != "warmup", "planned_s": float(seconds),
        "total": n, "errors": int((~ok).sum()), "throughput_qps": float(ok.sum() / seconds),
        "latency_ms": summarize(lat[ok]).to_dict(), "series": per_second(t, lat, ok, seconds).to_dict(),
        "outcomes": {"ok": int(ok.sum()), "timed_out": int((~ok).sum() - 2), "overloaded": 2},
        "per_worker": {str(w): int((worker == w).sum()) for w in (0, 1)},
        "per_worker_latency_ms": {str(w): {"count": int((worker == w).sum()), "med": float(np.median(lat[worker == w])),
                                           "p99": float(np.percentile(lat[worker == w], 99)),
                                           "max": float(lat[worker == w].max())} for w in (0, 1)},
        "planned_rate_qps": rate,
        "driver": {"model": "open", "planned": n, "submitted": n - 3, "completed": n - 3, "late_starts": 7,
                   "dropped": 3, "started_at": start, "submitted_until": start + seconds,
                   "ended_at": start + seconds, "drained": True, "stopped": False, "duration_s": float(seconds)},
        "resources": {
            "cpu": {"all_s": 3.0 * seconds / 10, "kernel_s": 2.0 * seconds / 10, "executor_s": 0.6 * seconds / 10,
                    "load_s": 0.4 * seconds / 10, "parent_s": 1.0 * seconds / 10, "workers_s": 2.0 * seconds / 10},
            "series": [[float(s), 500_000_000 + int(s) * 1000, 20.0, 80.0] for s in samples],
            "process_series": {role: [[float(s), cpu + (s % 3), int(base + s * 100)] for s in samples]
                               for role, cpu, base in (("parent", 20.0, 150e6), ("worker 0", 40.0, 170e6),
                                                       ("worker 1", 41.0, 171e6))},
        },
    }
    if per_kind:
        kinds = rng.integers(0, 2, n)
        record["per_kind"] = {
            name_: {"total": int((kinds == k).sum()), "errors": int(((kinds == k) & ~ok).sum()),
                    "error_rate": float(((kinds == k) & ~ok).sum() / max(1, (kinds == k).sum())),
                    "latency_ms": summarize(lat[(kinds == k) & ok]).to_dict(),
                    "throughput_qps": float(((kinds == k) & ok).sum() / seconds)}
            for k, name_ in enumerate(("lookup", "expand"))}
    return record


def _results(name: str, phases: list[dict[str, Any]], **extra: Any) -> Results:
    measured = [p for p in phases if p["measured"]]
    summary: dict[str, Any] = {"total": sum(p["total"] for p in measured), "errors": sum(p["errors"] for p in measured),
                               "error_rate": 0.01,
                               "throughput_qps": measured[0]["throughput_qps"] if measured else 0.0,
                               "latency_ms": measured[0]["latency_ms"] if measured else summarize([]).to_dict()}
    summary.update(extra.pop("summary", {}))
    data = {"schema_version": SCHEMA_VERSION, "scenario_name": name, "status": "complete", "exit_status": 0,
            "started_utc": "2026-12-01T10:00:00.000000Z", "finished_utc": "2026-12-01T10:10:20.000000Z",
            "environment": ENVIRONMENT, "scenario": {"name": name, "phases": extra.pop("specs", [])},
            "summary": summary, "phases": phases, "workers": [],
            "thresholds": [{"metric": "latency_ms", "threshold": "p(99)<50", "status": "pass", "observed": 6.5,
                            "reason": ""},
                           {"metric": "speedup", "threshold": "value>=4", "status": "skipped", "observed": None,
                            "reason": "needs 4 cores, this machine has 2"}]}
    data.update(extra)
    return Results.from_dict(data)


def soak(seconds: int = 600, seed: int = 0, per_kind: bool = True) -> Results:
    """A warm-up of 5 s, then a soak of ``seconds`` at 100 q/s with a latency spike at second 300."""
    phases = [phase_record("warmup", "warmup", 5, 50.0, seed, start=1000.0),
              phase_record("soak", "constant", seconds, 100.0, seed + 1, start=1005.2, per_kind=per_kind,
                           spike_at=min(300, seconds // 2))]
    return _results("soak", phases, specs=[{"name": "soak", "kind": "constant", "rate_qps": 100.0}])


def ramp() -> Results:
    """One ramp phase through two stages (0 -> 50 q/s over 10 s, then 50 -> 20 over 10 s)."""
    phase = phase_record("ramp", "ramp", 20, 30.0, 5, start=0.0)
    phase["planned_rate_qps"] = None
    spec = {"name": "ramp", "kind": "ramp", "start_rate_qps": 0.0,
            "stages": [{"duration_s": 10.0, "target_qps": 50.0}, {"duration_s": 10.0, "target_qps": 20.0}]}
    return _results("ramp", [phase], specs=[spec])


PROBES = [(100.0, 100.4, 6.3, 0.0, True), (200.0, 200.1, 6.4, 0.0, True), (400.0, 398.0, 9.0, 0.0, True),
          (800.0, 700.0, 340.0, 0.02, False), (560.0, 556.0, 30.0, 0.001, True), (680.0, 640.0, 260.0, 0.0, False)]


def stress() -> Results:
    """A capacity search: six probes, knee at 560 q/s."""
    phases = [phase_record(f"probe-{k + 1}", "constant", 2, rate, 10 + k, start=float(2 * k))
              for k, (rate, *_rest) in enumerate(PROBES)]
    capacity = {"latency_gate": "latency_ms: p(99)<250", "error_gate": "error_rate: rate<0.01", "knee_qps": 560.0,
                "first_failing_qps": 680.0, "precision": 0.1, "elapsed_s": 12.0, "note": "",
                "probes": [{"rate_qps": r, "achieved_qps": a, "latency_ms": lat, "error_rate": e, "passed": ok,
                            "reason": "" if ok else "latency_ms: p(99)<250 observed"} for r, a, lat, e, ok in PROBES]}
    return _results("stress", phases, capacity=capacity)


def speedup() -> Results:
    """A scaling run on 1, 2 and 4 workers (4 skipped above the cores) with a USL fit."""
    points = [{"workers": 1, "time_s": 1.0, "qps": 2000.0, "speedup": 1.0, "efficiency": 1.0, "skipped": None},
              {"workers": 2, "time_s": 0.55, "qps": 3636.0, "speedup": 1.82, "efficiency": 0.91, "skipped": None},
              {"workers": 4, "time_s": None, "qps": None, "speedup": None, "efficiency": None,
               "skipped": "needs 4 cores"}]
    scaling = {"queries": 2000, "cores": 2, "workers": [1, 2, 4], "points": points, "speedup": [1.0, 1.82, None],
               "time_s": [1.0, 0.55, None], "efficiency": [1.0, 0.91, None],
               "usl": {"sigma": 0.0989, "kappa": 0.0, "peak_workers": None, "points": 3, "note": "",
                       "lambda": 2000.0}}
    return _results("speedup", [], scaling=scaling)

"""The numbers behind every plot of ``pspread report``, checked against the results record they come from."""

from __future__ import annotations

import math

import numpy as np
import pytest
import report_data as rd

from pspread.report import build_figures, build_tables, capacity, figures
from pspread.report.figure import MAX_POINTS, coarsen, num, phase_offsets
from pspread.results.compare import compare


def runs_of(*results):
    from pspread.report import run_labels

    return [(name, r.to_dict()) for name, r in zip(run_labels(len(results)), results)]


def by_name(fig):
    return {t.name: t for t in fig.traces}


@pytest.fixture(scope="module")
def soak():
    return rd.soak(seconds=60)


def test_latency_over_time_is_the_per_second_series_on_the_run_clock(soak):
    record = soak.to_dict()
    fig = figures.latency_over_time([("run", record)])
    traces = by_name(fig)
    assert set(traces) == {"p50", "p95", "p99", "max", "p50 (10 s window)", "p95 (10 s window)", "p99 (10 s window)"}
    warm, main = record["phases"]
    assert phase_offsets(record) == pytest.approx([0.0, 5.2])
    p99 = traces["p99"]
    # the warm-up's seconds, one gap (None) so no line joins the phases, then the soak's seconds from 5.2 s on
    n_warm = len(warm["series"]["second"])
    assert p99.x[:n_warm] == [float(s) for s in warm["series"]["second"]]
    assert p99.y[n_warm] is None
    assert p99.x[n_warm + 1:] == [num(5.2 + s) for s in main["series"]["second"]]
    assert p99.y[n_warm + 1:] == [num(v) for v in main["series"]["p99_ms"]]
    # the spike at second 30 of the soak is in the per-second max
    spike = main["series"]["max_ms"][30]
    assert max(v for v in traces["max"].y if v is not None) == num(max(main["series"]["max_ms"])) == num(spike)
    assert [b.label for b in fig.bands] == ["warmup", "soak"] and fig.bands[1].x0 == pytest.approx(5.2)
    assert not fig.bands[0].measured and fig.bands[1].measured


def test_sliding_window_is_the_percentile_of_the_last_ten_seconds():
    from pspread.metrics.stats import SLIDING_WINDOW_S, per_second

    rng = np.random.default_rng(1)
    t = rng.uniform(0, 30, 3000)
    lat = rng.lognormal(0, 1, t.size)
    s = per_second(t, lat, duration_s=30)
    for second in (0, 5, 9, 10, 29):
        window = lat[(t >= second - SLIDING_WINDOW_S + 1) & (t < second + 1)]
        assert s.p99_sliding_ms[second] == pytest.approx(np.percentile(window, 99))
        assert s.p50_sliding_ms[second] == pytest.approx(np.percentile(window, 50))
    again = type(s).from_dict(s.to_dict())
    assert again == s


def test_old_files_without_sliding_columns_plot_without_them(soak):
    record = soak.to_dict()
    for phase in record["phases"]:
        for col in ("p50_sliding_ms", "p95_sliding_ms", "p99_sliding_ms"):
            phase["series"].pop(col)
    fig = figures.latency_over_time([("run", record)])
    assert set(by_name(fig)) == {"p50", "p95", "p99", "max"}


def test_offered_rate_follows_the_schedule():
    record = rd.ramp().to_dict()
    phase = record["phases"][0]
    rates = figures.offered_rate(phase, record["scenario"]["phases"][0])
    assert rates[0] == pytest.approx(2.5)            # 0 -> 50 over 10 s, at t = 0.5
    assert rates[9] == pytest.approx(47.5)
    assert rates[10] == pytest.approx(48.5)          # 50 -> 20 over the next 10 s, at t = 10.5
    assert rates[19] == pytest.approx(21.5)
    constant = rd.soak(seconds=10).to_dict()["phases"][1]
    assert set(figures.offered_rate(constant, None)) == {100.0}
    constant["driver"]["model"] = "closed"
    assert figures.offered_rate(constant, None) is None


def test_rate_figure_offers_answers_and_errors(soak):
    record = soak.to_dict()
    traces = by_name(figures.rate_over_time([("run", record)]))
    main = record["phases"][1]
    answered = traces["answered (q/s)"].y
    assert sum(v for v in answered if v is not None) == sum(p["series"]["count"][i] for p in record["phases"]
                                                              for i in range(len(p["series"]["count"])))
    assert sum(v for v in traces["errors (/s)"].y if v) == sum(sum(p["series"]["errors"]) for p in record["phases"])
    assert traces["offered (q/s)"].y[-1] == main["planned_rate_qps"]


def test_anomalies_count_late_dropped_overloaded_per_phase(soak):
    traces = by_name(figures.anomalies([("run", soak.to_dict())]))
    assert traces["late starts"].x == ["warmup", "soak"]
    assert traces["late starts"].y == [7, 7] and traces["dropped"].y == [3, 3] and traces["overloaded"].y == [2, 2]


def test_distribution_is_the_recorded_spectrum_on_hdr_axes(soak):
    record = soak.to_dict()
    fig = figures.distribution([("run", record)])
    overall = by_name(fig)["all measured"]
    spectrum = record["summary"]["latency_ms"]["spectrum"]
    assert len(overall.x) == len(spectrum) > 20
    for x, y, (q, v) in zip(overall.x, overall.y, spectrum):
        assert y == num(v)
        expected = record["summary"]["latency_ms"]["count"] if q == 100 else 1 / (1 - q / 100)
        assert x == pytest.approx(expected, rel=1e-3)
    assert overall.y[-1] == num(record["summary"]["latency_ms"]["max"])
    assert fig.x_type == "log" and fig.y_type == "log"


def test_distribution_without_a_spectrum_uses_the_named_percentiles():
    latency = {"count": 10, "min": 1.0, "med": 2.0, "p(90)": 3.0, "p(95)": 4.0, "p(99)": 5.0, "p(99.9)": 6.0,
               "max": 7.0}
    assert figures.spectrum(latency) == [(0.0, 1.0), (50.0, 2.0), (90.0, 3.0), (95.0, 4.0), (99.0, 5.0),
                                         (99.9, 6.0), (100.0, 7.0)]


def test_spectrum_stops_where_the_sample_cannot_resolve_it():
    from pspread.metrics.stats import LatencySummary, summarize

    s = summarize(np.arange(1, 101, dtype=float))
    qs = [q for q, _ in s.spectrum]
    assert qs[0] == 0.0 and qs[-1] == 100.0
    assert all(1 / (1 - q / 100) <= 100 for q in qs[:-1])
    assert dict(s.spectrum)[50.0] == pytest.approx(50.5)
    assert LatencySummary.from_dict(s.to_dict()) == s


def test_worker_figures(soak):
    record = soak.to_dict()
    load = figures.worker_load([("run", record)])
    main = record["phases"][1]
    assert by_name(load)["soak"].y == [main["per_worker"]["0"], main["per_worker"]["1"]]
    assert load.stacked
    lat = by_name(figures.worker_latency([("run", record)]))
    assert lat["soak p99"].y == [num(main["per_worker_latency_ms"][w]["p99"]) for w in ("0", "1")]


def test_per_kind_figures_only_when_recorded(soak):
    record = soak.to_dict()
    per_kind = record["phases"][1]["per_kind"]
    lat = by_name(figures.kind_latency([("run", record)]))
    assert lat["soak p99"].x == ["expand", "lookup"]
    assert lat["soak p99"].y == [num(per_kind[k]["latency_ms"]["p(99)"]) for k in ("expand", "lookup")]
    load = by_name(figures.kind_load([("run", record)]))
    assert load["queries"].y == [per_kind[k]["total"] for k in ("expand", "lookup")]
    bare = rd.soak(seconds=10, per_kind=False).to_dict()
    assert figures.kind_latency([("run", bare)]) is None and figures.kind_load([("run", bare)]) is None
    assert {f.key for f in build_figures([("run", bare)])}.isdisjoint({"kind-latency", "kind-load"})


def test_capacity_figures_mark_pass_fail_and_the_knee():
    record = rd.stress().to_dict()
    fig = capacity.capacity_latency([("run", record)])
    traces = by_name(fig)
    assert traces["latency, passed"].x == [100.0, 200.0, 400.0, 560.0]
    assert traces["latency, failed"].x == [680.0, 800.0] and traces["latency, failed"].y == [260.0, 340.0]
    assert traces["error rate (%)"].y == [0.0, 0.0, 0.0, 0.1, 0.0, 2.0] and traces["error rate (%)"].axis == "y2"
    assert fig.vlines == [(560.0, "knee 560 q/s")]
    rate = by_name(capacity.capacity_throughput([("run", record)]))
    assert rate["answered"].y == [100.4, 200.1, 398.0, 556.0, 640.0, 700.0]
    assert capacity.capacity_latency([("run", rd.soak(seconds=5).to_dict())]) is None


def test_speedup_figure_has_the_points_the_ideal_and_the_usl_fit():
    record = rd.speedup().to_dict()
    fig = capacity.speedup([("run", record)])
    traces = by_name(fig)
    assert traces["speedup"].x == [1.0, 2.0] and traces["speedup"].y == [1.0, 1.82]   # 4 workers: skipped
    assert traces["efficiency"].y == [1.0, 0.91]
    fit = next(t for name, t in traces.items() if name.startswith("USL fit"))
    assert fit.y[0] == 1.0
    n = fit.x[10]
    assert fit.y[10] == pytest.approx(n / (1 + 0.0989 * (n - 1)), rel=1e-3)
    assert traces["ideal (speedup = workers)"].y == [1.0, 4.0]
    assert {f.key for f in build_figures([("run", record)])} == {"speedup"}


def test_cpu_split_and_process_series(soak):
    record = soak.to_dict()
    split = by_name(capacity.cpu_split([("run", record)]))
    assert split["kernel (query work)"].y == [num(p["resources"]["cpu"]["kernel_s"]) for p in record["phases"]]
    assert split["coordination"].y == [num(p["resources"]["cpu"]["executor_s"]) for p in record["phases"]]
    mem = by_name(capacity.memory_over_time([("run", record)]))
    rows = record["phases"][0]["resources"]["process_series"]["worker 0"]
    assert set(mem) == {"parent", "worker 0", "worker 1"}
    assert mem["worker 0"].y[0] == num(rows[0][2] / capacity.MB)
    assert mem["worker 0"].x[len(rows)] == pytest.approx(5.2 + 0.5)   # the soak's first sample on the run clock
    cpu = by_name(capacity.cpu_over_time([("run", record)]))
    assert cpu["parent"].y[0] == num(record["phases"][0]["resources"]["process_series"]["parent"][0][1])
    for phase in record["phases"]:
        phase["resources"].pop("process_series")
    totals = by_name(capacity.memory_over_time([("run", record)]))
    assert set(totals) == {"all processes"}
    assert totals["all processes"].y[0] == num(record["phases"][0]["resources"]["series"][0][1] / capacity.MB)


def test_long_series_are_coarsened_and_keep_their_spikes():
    x = [float(i) for i in range(3600)]
    y = [1.0] * 3600
    y[1234] = 99.0
    cx, cy = coarsen(x, y, "max")
    assert len(cx) <= MAX_POINTS and max(cy) == 99.0
    rx, ry = coarsen(x, [10.0] * 3600, "mean")
    assert set(ry) == {10.0}
    assert coarsen(x[:100], y[:100], "max") == (x[:100], y[:100])


def test_numbers_keep_four_significant_digits():
    assert num(1.23456789) == 1.235 and num(123456.7) == 123500.0 and num(0.000123456) == 0.0001235
    assert num(None) is None and num(math.nan) is None and num(math.inf) is None and num(True) is None


def test_overlay_names_runs_and_tables_carry_the_comparison():
    base, new = rd.soak(seconds=30), rd.soak(seconds=30, seed=7)
    runs = runs_of(base, new)
    fig = figures.latency_over_time(runs)
    names = {t.name for t in fig.traces}
    assert {"base: p99", "new: p99"} <= names
    result = compare(base, new).to_dict()
    tables = build_tables(runs, [result])
    verdict = {t.key: t for t in tables["verdict"]}
    rows = {r[0]: r for r in verdict["compare"].rows}
    assert set(rows) >= {"p50", "p95", "p99", "qps"}
    p99 = next(m for m in result["metrics"] if m["metric"] == "p99")
    assert rows["p99"][6] == p99["status"]
    gates = verdict["verdicts"]
    assert [r[0] for r in gates.rows] == ["base", "base", "new", "new"]
    assert gates.classes == ["pass", "skipped", "pass", "skipped"]
    env = {t.key: t for t in tables["context"]}["environment"]
    assert "0123456789ab (dirty)" in env.rows[0]


def test_every_figure_of_a_soak_has_points(soak):
    figs = build_figures(runs_of(soak))
    assert {f.key for f in figs} == {"latency", "rate", "anomalies", "distribution", "worker-load", "worker-latency",
                                     "kind-latency", "kind-load", "cpu-split", "cpu-time", "memory-time"}
    assert all(f.points > 0 for f in figs)


def test_the_sampler_records_each_process_over_time():
    import os

    from pspread.load.resources import ResourceSampler

    sampler = ResourceSampler(lambda: [os.getpid()], interval_s=60.0)   # no thread: samples taken by hand
    sampler.begin_phase()
    sampler.sample()
    sampler.sample()
    phase = sampler.end_phase()                                         # takes a third sample
    rows = phase.to_dict()["process_series"]
    assert list(rows) == ["parent"]                                     # this process is not also a worker
    assert len(rows["parent"]) == 3
    times = [r[0] for r in rows["parent"]]
    assert times == sorted(times) and all(r[2] > 0 for r in rows["parent"])
    assert [r[1] for r in phase.series] == [r[2] for r in rows["parent"]]   # total RSS = the one process's RSS


def test_a_stress_run_per_worker_count_plots_each_search():
    record = rd.stress().to_dict()
    other = dict(record["capacity"], workers=2, knee_qps=900.0)
    record["capacity_by_workers"] = [dict(record["capacity"], workers=1), other]
    fig = capacity.capacity_latency([("run", record)])
    names = {t.name for t in fig.traces}
    assert {"1 workers, latency, passed", "2 workers, latency, passed"} <= names
    assert [x for x, _ in fig.vlines] == [560.0, 900.0]


def test_a_soak_record_gets_its_drift_table(soak):
    record = soak.to_dict()
    record["soak"] = {"rate_qps": 100.0, "duration_s": 600.0, "p99_first_ms": 5.0, "p99_last_ms": 5.5,
                      "rss_first_mb": 500.0, "rss_last_mb": 505.0, "rss_growth": 0.01, "latency_drift": 0.1}
    table = {t.key: t for t in build_tables([("run", record)])["load"]}["soak"]
    assert table.rows == [["run", "100.0", "600", "5.00", "5.50", "+10.0%", "500.0", "505.0", "+1.00%"]]
    assert "soak" not in {t.key for t in build_tables([("run", soak.to_dict())])["load"]}

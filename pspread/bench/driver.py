"""``pspread bench driver``: how fast the load driver itself goes, against an executor that does no work.

Whatever rate the driver sustains against ``NullExecutor`` is the most any run
could ask of a real executor, so this says the driver is never the limit.
"""

from __future__ import annotations

import time

from pspread.load.null import NullExecutor


def bench_driver(rate: float = 50_000.0, duration_s: float = 2.0, closed_clients: int = 4) -> dict[str, float]:
    """How fast the driver itself goes against ``NullExecutor`` (for ``pspread bench driver``).

    Open model: the schedule asks for ``rate`` arrivals a second; the figure is
    the rate actually submitted and how many started late.  Closed model: as
    fast as ``closed_clients`` clients can go.  Every sample is recorded, as in
    a real run, so this is the driver's whole per-query cost.
    """
    from pspread.load.driver import Driver
    from pspread.load.recorder import Recorder
    from pspread.load.schedule import ArrivalSchedule
    from pspread.load.workload import Workload

    workload = Workload(100_000, seeds_per_query=3, seed=0)
    driver = Driver(NullExecutor())
    rec = Recorder(capacity=int(rate * duration_s) + 1024)
    cpu0 = time.process_time()
    report = driver.run_open(workload.query, ArrivalSchedule.constant(rate, duration_s).intended_times(), rec)
    cpu = time.process_time() - cpu0
    span = max(report.submitted_until - report.started_at, 1e-9)
    closed = Recorder(capacity=1 << 16)
    creport = driver.run_closed(workload.query, closed, clients=closed_clients, duration_s=duration_s)
    return {
        "open_rate_asked": rate, "open_rate_sustained": report.submitted / span,
        "open_late_starts": float(report.late_starts), "open_recorded": float(len(rec)),
        "cpu_us_per_arrival": 1e6 * cpu / max(report.submitted, 1),
        "closed_rate": creport.completed / max(creport.duration_s, 1e-9),
    }

"""Load generation and measurement: workloads, arrival schedules, the driver, stats and gates."""

"""Load generation: workloads, arrival schedules, the driver, the recorder and the runs built on them."""

"""Runs as one object: ``run_scenario``, ``stress_scenario`` and ``speedup_scenario`` return ``Results``."""

from pspread.session.run import resolve, run_scenario, speedup_scenario, stress_scenario

__all__ = ["resolve", "run_scenario", "speedup_scenario", "stress_scenario"]

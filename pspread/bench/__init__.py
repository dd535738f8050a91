"""Micro-benchmarks of the engine and the executor (figures, not pass/fail)."""

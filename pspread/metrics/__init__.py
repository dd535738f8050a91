"""Measurements and gates: exact statistics, thresholds, the CPU split and facts about this machine.

A leaf: it imports nothing of pspread but ``pspread.errors``, so the load
generator, the scenario model, the results and the UI can all depend on it
without depending on each other (tests/unit/test_layers.py enforces it).
"""

"""Terminal output of runs: the live view while a run goes and the summary at its end.

Only this package and ``pspread.cli`` print; everything below hands them data.
"""

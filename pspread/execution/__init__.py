"""Execution: running many independent queries at once.

``Executor`` is the one interface; ``InlineExecutor`` runs queries in this
process (tests, the one-worker sequential baseline), ``ProcessExecutor`` on
worker processes that share the graph by mmap, ``DaskExecutor`` on Dask
distributed.
"""

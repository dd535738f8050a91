"""The engine: graphs, the spreading model, kernels and the Spreader.

Free of CLI, Rich, YAML and pydantic imports (a test enforces it), so it can be
embedded anywhere and imported cheaply by worker processes.
"""

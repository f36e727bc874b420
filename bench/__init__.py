"""Benchmarks. Run each from the repository root as a module, e.g. ``.venv/bin/python -m bench.latency``;
its docstring says what it measures and BENCHMARKS.md has the results."""

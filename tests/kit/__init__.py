"""Helpers shared by the tests and the benchmarks: processes, Redis, stacks, test audio, fakes.

Import them as ``tests.kit.support`` and so on from the repository root (pytest's
``pythonpath`` setting, or ``python -m bench.x``); nothing here edits ``sys.path``.
"""

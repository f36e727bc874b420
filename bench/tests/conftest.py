"""The benchmarks' own tests: their scoring and statistics, pure as tests/unit's (the same guard
refuses process starts and socket connects). They live beside the benchmarks so that nothing in
tests/ imports bench/; both share tests.kit."""

from __future__ import annotations

from tests.kit.guard import (  # noqa: F401 (the guard's hooks)
    pytest_runtest_call, pytest_runtest_setup, pytest_runtest_teardown)

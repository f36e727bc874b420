"""The benchmarks' own tests: their scoring and statistics, pure as tests/unit's (the same guard
refuses process starts and socket connects). They live beside the benchmarks so that nothing in
tests/ imports bench/; both share tests.kit."""

from __future__ import annotations

import pytest

from tests.kit.guard import guard


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with guard(item.config).armed():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with guard(item.config).armed():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with guard(item.config).armed():
        return (yield)

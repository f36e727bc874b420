"""The unit layer's rule, enforced: a unit test starts no process and opens no connection.

Each test's setup, call and teardown run with process starts and socket connects refused,
so a test (or a fixture) that needs Redis, a server or a child process fails here and
belongs in tests/e2e. Fetching the LibriVox clips on a new machine is the one exception.
"""

from __future__ import annotations

import pytest

from tests.kit.guard import guard
from tests.kit.testdata import librivox_clips


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


@pytest.fixture(scope="session")
def clips(request):
    """The LibriVox clips; a new machine downloads them once (pip), which the guard lets through."""
    with guard(request.config).lifted():
        return librivox_clips()

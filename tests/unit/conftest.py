"""The unit layer's rule, enforced: a unit test starts no process and opens no connection.

Each test's setup, call and teardown run with process starts and socket connects refused,
so a test (or a fixture) that needs Redis, a server or a child process fails here and
belongs in tests/e2e. Fetching the LibriVox clips on a new machine is the one exception.
"""

from __future__ import annotations

import pytest

from tests.kit.guard import guard
from tests.kit.guard import (  # noqa: F401 (the guard's hooks)
    pytest_runtest_call, pytest_runtest_setup, pytest_runtest_teardown)
from tests.kit.testdata import librivox_clips


@pytest.fixture(scope="session")
def clips(request):
    """The LibriVox clips; a new machine downloads them once (pip), which the guard lets through."""
    with guard(request.config).lifted():
        return librivox_clips()

"""The unit layer's rule, enforced: a unit test starts no process and opens no connection.

Each test's setup, call and teardown run with process starts and socket connects refused,
so a test (or a fixture) that needs Redis, a server or a child process fails here and
belongs in tests/e2e. Fetching the LibriVox clips on a new machine is the one exception.
"""

from __future__ import annotations

import contextlib
import multiprocessing.process
import os
import socket
import subprocess

import pytest

from tests.kit.testdata import librivox_clips


class NotAUnitTest(AssertionError):
    """Raised where a unit test starts a process or opens a connection."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise NotAUnitTest(f"a unit test {what}; tests that need this belong in tests/e2e")
    return refuse


class Guard:
    """Refuses process starts and socket connects while armed."""

    def __init__(self) -> None:
        self._patch: pytest.MonkeyPatch | None = None

    def arm(self) -> None:
        patch = pytest.MonkeyPatch()
        patch.setattr(subprocess.Popen, "__init__", _refuse("starts a process"))
        patch.setattr(os, "fork", _refuse("forks"))
        patch.setattr(os, "posix_spawn", _refuse("spawns a process"))
        patch.setattr(os, "posix_spawnp", _refuse("spawns a process"))
        patch.setattr(multiprocessing.process.BaseProcess, "start", _refuse("starts a process"))
        patch.setattr(socket.socket, "connect", _refuse("opens a connection"))
        patch.setattr(socket.socket, "connect_ex", _refuse("opens a connection"))
        self._patch = patch

    def disarm(self) -> None:
        if self._patch is not None:
            self._patch.undo()
            self._patch = None

    @contextlib.contextmanager
    def armed(self):
        self.arm()
        try:
            yield
        finally:
            self.disarm()

    @contextlib.contextmanager
    def lifted(self):
        was_armed = self._patch is not None
        self.disarm()
        try:
            yield
        finally:
            if was_armed:
                self.arm()


GUARD = pytest.StashKey[Guard]()


def guard(config: pytest.Config) -> Guard:
    return config.stash.setdefault(GUARD, Guard())


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

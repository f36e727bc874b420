"""A guard that refuses process starts and socket connects: the rule of pure tests, enforced.

tests/unit's conftest (and bench/tests', for the benchmarks' own pure tests) arm it around each
test's setup, call and teardown; a fixture that must fetch data lifts it.
"""

from __future__ import annotations

import contextlib
import multiprocessing.process
import os
import socket
import subprocess

import pytest


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


# The hooks a pure layer's conftest imports: each test's setup, call and teardown run guarded.
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

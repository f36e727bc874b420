"""tests.kit.support.close_all: every closer runs, the first failure is raised after them."""

from __future__ import annotations

import pytest

from tests.kit.support import close_all


def test_close_all_runs_every_closer_then_raises_the_first_failure() -> None:
    called = []

    def fail(name: str) -> None:
        called.append(name)
        raise RuntimeError(name)

    with pytest.raises(RuntimeError, match="first"):
        close_all([lambda: fail("first"), lambda: called.append("ok"), lambda: fail("second")])
    assert called == ["first", "ok", "second"]


def test_close_all_without_failure_returns() -> None:
    called: list[int] = []
    close_all(lambda i=i: called.append(i) for i in range(3))
    assert called == [0, 1, 2]

"""The decode policy's list (asr_worker/steps.py): the page that shows it, and each step's tests."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from asr_worker import digits
from asr_worker.engines import fallback, loop_guard
from asr_worker.steps import ENGINE, POLICY

ROOT = Path(__file__).resolve().parents[2]


def page_steps() -> list[tuple[str, str]]:
    """(name, where) of each row of docs/architecture.md's "Decode steps" table, in order."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page.split("## Decode steps", 1)[1].split("\n## ", 1)[0]
    return [(name, at) for name, at in re.findall(r"^\| \d+ \| `([^`]+)` \| (\w+) \|", section, re.M)]


def test_the_architecture_page_shows_the_steps_in_their_order():
    assert page_steps() == [(step.name, step.at) for step in POLICY]


def test_the_steps_the_engine_reports_are_the_engines_steps_of_the_list():
    engine = [step.name for step in POLICY if step.at == ENGINE]
    assert engine == [fallback.STEP, digits.STEP, loop_guard.STEP]  # the order the whisper decoder runs them


def test_each_decision_is_a_plain_function_that_its_steps_tests_name():
    for step in POLICY:
        assert step.decides, step.name
        tests = " ".join((ROOT / "tests" / "unit" / name).read_text() for name in step.tests)
        for decide in step.decides:
            assert inspect.isfunction(decide), (step.name, decide)  # no bound method: no state of its own
            # A module's function, not a class's (Core's methods read the session's state; the
            # decision gets what it needs as arguments).
            assert "." not in decide.__qualname__, (step.name, decide.__qualname__)
            assert re.search(rf"\b{decide.__name__}\b", tests), (step.name, decide.__name__, step.tests)

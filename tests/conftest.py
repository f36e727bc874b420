"""Fixtures of every layer. The end-to-end fixtures (Redis, stacks) are in tests/e2e/conftest.py."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.kit.extras import require
from tests.kit.testdata import librivox_clips, librivox_samples

DURATIONS = Path(__file__).with_name("durations.json")
"""Seconds each test file took (its tests' setup, call and teardown), for the order of files;
``scripts/test --store-durations`` writes it."""

UNKNOWN_SLOW = 60.0
"""The seconds assumed for a file not in DURATIONS with a test marked ``slow``: early, behind
the long files measured; one without takes 0 s, and goes with the short files."""


def pytest_addoption(parser):
    parser.addoption("--store-durations", action="store_true",
                     help=f"write the seconds each test file took to {DURATIONS.name} (keeps the files not run)")
    parser.addoption("--cpu-profile", metavar="FILE", type=Path,
                     help="append the CPU seconds of each test file, per kind of process, to FILE as JSON lines "
                          "(tests/kit/cpu_profile.py; python -m bench.suite_cpu FILE sums them)")


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    """The longest files first, by their seconds in DURATIONS. scripts/test gives each test
    process whole files, in this order, as processes come free: the long files then start first
    and short ones fill in after them, instead of a run ending on one process still working
    through a long file that started last (longest first, as a scheduler of jobs does). The
    sort is stable: a file's tests keep their order."""
    measured = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    slow = {file_of(item.nodeid) for item in items if item.get_closest_marker("slow")}

    def seconds(item) -> float:
        name = file_of(item.nodeid)
        return measured.get(name, UNKNOWN_SLOW if name in slow else 0.0)

    items.sort(key=lambda item: -seconds(item))


class FileDurations:
    """Sums each file's test reports (in the controller under xdist, which receives them all) and
    writes them to DURATIONS at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session) -> None:
        stored = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
        stored.update({name: round(seconds, 1) for name, seconds in self.seconds.items()})
        # A file under a second sorts with the unmeasured ones (as 0 s): it need not be listed.
        kept = sorted(((name, seconds) for name, seconds in stored.items() if seconds >= 1), key=lambda kv: -kv[1])
        DURATIONS.write_text(json.dumps(dict(kept), indent=1) + "\n")


def pytest_configure(config):
    config.addinivalue_line("markers", "extra(name): needs the optional extra name: skips without it, fails "
                                       "in CI (tests/kit/extras.py)")
    if config.getoption("store_durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileDurations(), "file-durations")
    # In each process that runs tests: xdist's workers, or this one without them (the controller's
    # descendants are the workers, whose time they count themselves).
    runs_tests = hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)
    if config.getoption("cpu_profile") and runs_tests:
        from tests.kit.cpu_profile import CpuProfile

        config.pluginmanager.register(CpuProfile(config.getoption("cpu_profile")), "cpu-profile")


def pytest_runtest_setup(item):
    """A test marked ``extra(name)`` skips without that optional extra (fails in CI: tests/kit/extras.py)."""
    for mark in item.iter_markers("extra"):
        require(*mark.args)


@pytest.fixture(scope="session")
def clips(pytestconfig):
    """The LibriVox clips as (wav path, reference transcript); a first run without
    ../shared/testdata downloads them once per machine, saying so on the terminal."""
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        return librivox_clips()


@pytest.fixture(scope="session")
def clip_samples(clips):
    """The clips as (float32 samples at 16 kHz, reference transcript)."""
    return librivox_samples()

"""Fixtures of every layer. The end-to-end fixtures (Redis, stacks) are in tests/e2e/conftest.py."""

from __future__ import annotations

import pytest

from tests.kit.testdata import librivox_clips, librivox_samples


def pytest_collection_modifyitems(items):
    """Files with a test marked ``slow`` first, in their order. scripts/test gives each test
    process whole files, in this order, as processes come free: the long files then start first
    and short ones fill in after them, instead of a run ending on one process still working
    through a long file that started last (longest first, as a scheduler of jobs does)."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


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

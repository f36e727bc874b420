"""Fixtures of every layer. The end-to-end fixtures (Redis, stacks) are in tests/e2e/conftest.py."""

from __future__ import annotations

import pytest

from tests.kit.testdata import librivox_clips, librivox_samples


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

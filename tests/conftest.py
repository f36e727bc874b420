"""Fixtures of every layer. The end-to-end fixtures (Redis, stacks) are in tests/e2e/conftest.py."""

from __future__ import annotations

import pytest

from tests.kit.testdata import librivox_clips


@pytest.fixture(scope="session")
def clips():
    """The LibriVox clips as (wav path, reference transcript), fetched once per machine."""
    return librivox_clips()

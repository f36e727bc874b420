"""tests/kit/extras.py: which extras the tests know, and a missing one skipping (failing in CI)."""

from __future__ import annotations

import tomllib

import pytest

from tests.kit import extras
from tests.kit.support import ROOT

# The GPU engines' extras (their tests import what they need) and the tools' (every test needs it).
NOT_FEATURES = {"vllm", "transformers", "qwen3-tiny", "dev"}  # engines and tools, not features


def test_every_optional_extra_of_a_feature_is_known():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.MODULES) == set(declared) - NOT_FEATURES


@pytest.fixture
def absent(monkeypatch):
    monkeypatch.setitem(extras.MODULES, "absent", ("json", "no_such_module_here"))
    return "absent"


def test_a_missing_extra_skips_with_its_name_and_what_is_missing(absent, monkeypatch):
    monkeypatch.setattr(extras, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match=r"the absent extra is not installed \(no_such_module_here "
                                                    r"missing\): scripts/bootstrap installs it \(EXTRAS=absent\)"):
        extras.require("absent")


def test_a_missing_extra_fails_in_ci(absent, monkeypatch):
    monkeypatch.setattr(extras, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="the absent extra is not installed .* CI must install every extra"):
        extras.require("absent")


def test_an_installed_extra_runs(monkeypatch):
    monkeypatch.setitem(extras.MODULES, "present", ("json",))
    extras.require("present")

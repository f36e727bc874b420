"""When a call idles, on timestamps: too little audio, keep-alives, and time the gateway held back reading.

The same rules with a real gateway are in tests/e2e/test_idle.py.
"""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from gateway.calls.connection import ConnectionOptions
from gateway.core.idle import IdleClock, ReadyClock

BYTE_OF_MULAW = 1 / 8000  # seconds of audio in one byte of 8 kHz mu-law


def clock(*, idle_timeout=10.0, min_audio_share=0.1, audio_share_window=30.0, max_keepalive_idle=60.0):
    ready = ReadyClock(0.0)
    return ready, IdleClock(ready, 0.0, idle_timeout=idle_timeout, min_audio_share=min_audio_share,
                            audio_share_window=audio_share_window, max_keepalive_idle=max_keepalive_idle)


def first_idle(idle: IdleClock, until: float, step: float = 0.1) -> tuple[float, str] | None:
    """The first time (on a ``step`` grid, up to ``until``) at which ``idle`` says the call idled, and why."""
    for tick in range(int(until / step) + 1):
        now = tick * step
        if (why := idle.idle(now)) is not None:
            return now, why
    return None


def test_the_ready_clock_stands_still_while_held():
    ready = ReadyClock(100.0)
    assert ready.read(103.0) == 3.0 and ready.wall(5.0, 103.0) == 105.0
    ready.hold(103.0)
    ready.hold(104.0)  # idempotent: the first hold counts
    assert ready.held and ready.read(110.0) == 3.0
    assert ready.wall(5.0, 110.0) is None  # it would never get there while held
    ready.release(110.0)
    ready.release(111.0)  # idempotent
    assert not ready.held and ready.read(111.0) == 4.0
    assert ready.wall(5.0, 111.0) == 112.0 and ready.wall(1.0, 111.0) == 111.0  # past: now


def test_silence_ends_a_call_after_the_idle_timeout():
    _, idle = clock()
    assert idle.deadline() == 10.0 and idle.idle(9.9) is None
    assert idle.idle(10.0) == "no audio or keep-alive for 10 s; the session ends"


def test_a_trickle_of_bytes_ends_one_window_after_the_start():
    """The finding: one mu-law byte every 8 s never let the idle timeout run out."""
    _, idle = clock()
    for now in range(0, 80, 8):
        if idle.idle(now) is not None:
            break
        idle.audio(now, BYTE_OF_MULAW)
    ended = first_idle(idle, 80)
    assert ended is not None
    at, why = ended
    assert at == pytest.approx(30.0, abs=0.2)  # the bytes covered a few ms
    assert why == "audio below 10% of real time for 30 s; the session ends"


def test_audio_at_real_time_never_idles():
    _, idle = clock()
    for tick in range(10_000):  # 1000 s of 100 ms frames
        now = tick / 10
        assert idle.idle(now) is None, now
        idle.audio(now, 0.1)
    assert idle.deadline() == pytest.approx(999.9 + 10.0)


@pytest.mark.parametrize(("rate", "ends"), [(0.2, None), (0.1, None), (0.05, 60.0), (0.0, 30.0)])
def test_a_steady_share_below_the_minimum_ends_once_a_window_behind(rate, ends):
    _, idle = clock()
    at = None
    for tick in range(3000):  # a frame each second for 300 s
        if idle.idle(tick) is not None:
            at = tick
            break
        if rate:
            idle.audio(tick, rate)
        else:
            idle.audio(tick, BYTE_OF_MULAW)
    if ends is None:
        assert at is None
    else:
        assert at == pytest.approx(ends, abs=1.0)


def test_keepalives_hold_a_call_without_audio_for_the_keepalive_limit_only():
    _, idle = clock()
    idle.audio(0.0, 5.0)  # five seconds of speech, sent at once
    now = 0.0
    while idle.idle(now) is None:
        if now % 5 == 0:
            idle.keepalive(now)  # every 5 s, as Deepgram's clients do
        now = round(now + 0.1, 1)
    # Not at the window (30 s): keep-alives excuse missing audio. At the keep-alive limit after
    # the last audio, as before the audio share.
    assert now == pytest.approx(60.0)
    assert idle.idle(now) == "only keep-alives and too little audio for 60 s; the session ends"


def test_keepalives_end_a_call_at_their_limit_when_it_is_shorter_than_the_window():
    _, idle = clock(idle_timeout=2.0, max_keepalive_idle=8.0)
    now = 0.0
    while idle.idle(now) is None:
        if now % 0.5 == 0:
            idle.keepalive(now)
        now = round(now + 0.1, 1)
    assert now == pytest.approx(8.0)
    assert idle.idle(now).startswith("only keep-alives")


def test_keepalives_and_a_trickle_of_bytes_end_at_the_keepalive_limit():
    _, idle = clock()
    now = 0.0
    while idle.idle(now) is None and now < 300:
        if now % 5 == 0:
            idle.keepalive(now)
            idle.audio(now, BYTE_OF_MULAW)
        now = round(now + 0.1, 1)
    assert now == pytest.approx(60.0, abs=0.2)  # the bytes covered a few ms


def test_audio_after_a_pause_with_keepalives_catches_up_at_once():
    _, idle = clock()
    idle.audio(0.0, 2.0)
    for now in range(5, 60, 5):
        idle.keepalive(now)
    now = 59.0
    for tick in range(100):  # speech again at 59 s, in 100 ms frames: the 60 s limit must not end it
        assert idle.idle(now) is None, now
        idle.audio(now, 0.1)
        now += 0.1
    assert idle.idle(now) is None


def test_a_keepalive_excuses_missing_audio_for_the_idle_timeout_after_it():
    _, idle = clock()
    for now in range(0, 32, 8):  # a trickle: short of audio from 30 s on
        idle.audio(now, BYTE_OF_MULAW)
    idle.keepalive(28.0)
    idle.audio(32.0, BYTE_OF_MULAW)
    assert idle.idle(35.0) is None
    assert idle.idle(38.0) == "audio below 10% of real time for 30 s; the session ends"


def test_time_held_back_by_pacing_is_not_idle():
    """The finding: a 1 MiB frame paced for longer than the idle timeout was closed as idle."""
    ready, idle = clock()
    idle.audio(0.0, 62.5)  # one 1,000,000-byte chunk of 8 kHz linear16
    ready.hold(0.0)  # the gateway paces it: it does not read the client
    assert idle.idle(100.0) is None and ready.wall(idle.deadline(), 100.0) is None
    ready.release(100.0)
    assert idle.idle(109.9) is None
    assert idle.idle(110.0) == "no audio or keep-alive for 10 s; the session ends"
    assert ready.wall(idle.deadline(), 100.0) == pytest.approx(110.0)


def test_the_window_is_never_shorter_than_the_idle_timeout():
    """Bytes may not end a call sooner than silence would."""
    _, idle = clock(idle_timeout=120.0)
    assert idle.idle(119.0) is None and idle.idle(120.0).startswith("no audio or keep-alive for 120 s")
    idle.audio(100.0, BYTE_OF_MULAW)
    assert idle.idle(119.9) is None
    assert idle.idle(120.1) == "audio below 10% of real time for 120 s; the session ends"


def test_a_zero_share_makes_any_byte_audio():
    _, idle = clock(min_audio_share=0.0)
    for now in range(0, 200, 8):
        assert idle.idle(now) is None
        idle.audio(now, BYTE_OF_MULAW)


def test_the_audio_share_is_a_fraction():  # the flag's: tests/unit/test_config_options.py
    with pytest.raises(ConfigError, match="between 0 and 1"):
        ConnectionOptions(min_audio_share=2.0)

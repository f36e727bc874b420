"""What the telephony doors (Twilio, AudioHook) share: μ-law silence, track clocks, language tags.

Phone platforms say where each piece of audio belongs in time (Twilio's
``timestamp``, AudioHook's ``position``). When they skip audio (a lost packet,
a pause whose audio was discarded), :class:`TrackClock` fills the gap with
silence, so that every result's audio time stays the call's time and the
endpointer hears the pause it was.
"""

from __future__ import annotations

import re

from common.errors import ErrorCode, ProtocolError

MULAW_SILENCE = b"\xff"  # μ-law code of a zero sample
MAX_GAP_MS = 60_000  # longest gap filled with silence; a longer jump is an error, not minutes of zeros
GAP_TOLERANCE_MS = 10  # timestamps jitter by a few ms; smaller gaps are not filled
# ASCII digits, bounded: 400 nines would be infinity, and rounding it to samples an OverflowError.
_DURATION = re.compile(r"PT([0-9]{1,10}(?:\.[0-9]{1,9})?)S")


class TrackClock:
    """Audio time of one track (all its channels), in samples at the platform's rate."""

    def __init__(self, *, rate: int, channels: int = 1, name: str = "audio", max_gap_ms: int = MAX_GAP_MS) -> None:
        self.rate = rate
        self.name = name
        self.samples = 0  # received or filled so far
        self._silence = MULAW_SILENCE * channels
        self._tolerance = rate * GAP_TOLERANCE_MS // 1000
        self._max_gap = rate * max_gap_ms // 1000
        self.max_gap_ms = max_gap_ms

    def fill_to(self, at: int) -> bytes:
        """Silence to send before audio that the platform places at sample ``at`` (``b""`` when none is missing).

        A gap longer than ``max_gap_ms`` raises :class:`ProtocolError`; the clock then
        jumps to ``at`` without silence, so the call goes on with later times shifted.
        """
        gap = at - self.samples
        if gap <= self._tolerance:
            return b""
        self.samples = at
        if gap > self._max_gap:
            raise ProtocolError(ErrorCode.BAD_AUDIO,
                                f"{self.name} jumps {gap * 1000 // self.rate} ms ahead; gaps of up to "
                                f"{self.max_gap_ms} ms are filled with silence, so later times are shifted")
        return self._silence * gap

    def advance(self, samples: int) -> None:
        self.samples += samples


def parse_duration(value: object, name: str) -> float:
    """Seconds of an ISO 8601 duration as AudioHook writes it (``PT1.25S``)."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ProtocolError(ErrorCode.PROTOCOL, f"{name} must be a duration like 'PT1.5S', not {value!r:.40}")
    return float(match.group(1))


def format_duration(ms: int) -> str:
    """``PT1.25S`` for 1250 ms."""
    seconds, rest = divmod(max(0, ms), 1000)
    return f"PT{seconds}.{rest:03d}".rstrip("0").rstrip(".") + "S"


def language_of(tag: object, name: str) -> str | None:
    """The language of a BCP 47 tag (``en-US`` -> ``en``), as the ASR engines take it; None for none."""
    if tag is None or tag == "":
        return None
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*", tag):
        raise ProtocolError(ErrorCode.BAD_CONFIG, f"{name} must be a language tag like 'en-US', not {tag!r}")
    return re.split(r"[-_]", tag)[0].lower()

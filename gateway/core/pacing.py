"""Pacing a client's audio: how far ahead of real time a session may run.

A live call sends audio at real time; a client replaying its buffer after a
reconnect, or uploading a file, sends faster. Without a bound, an unpaced
sender fills Redis with audio the workers have not reached yet (seen: ten
clients at 20x real time grew Redis from 3 to 202 MB in 40 s). The pacer is a
token bucket counted in seconds of audio: it holds ``max_lead`` seconds and
refills at ``max_realtime_factor`` seconds per second. When it runs dry the
connection waits before reading the socket again, so the client feels TCP
backpressure instead of the service buffering for it.

A batch session (a recording, ``priority: batch``) is not paced: it goes as
fast as its pipeline takes it, held back by its input backlog
(``max_backlog_records``) and, between stages, by the next stage's backlog
(common/lead.py), never by the wall clock.

Pure arithmetic over a clock; the connection does the waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.config import option, positive
from common.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingOptions:
    max_lead: float = field(default=10.0, metadata=option(
        "seconds of audio a session may send ahead of real time in one burst",
        flag="--max-audio-lead", parse=positive(float)))
    max_realtime_factor: float = field(default=4.0, metadata=option(
        "sustained audio seconds per second a session may send (>= 1); "
        "beyond it the gateway stops reading the socket", parse=positive(float)))

    def __post_init__(self) -> None:
        if not self.max_lead > 0:
            raise ConfigError("max audio lead must be positive")
        if not self.max_realtime_factor >= 1:
            raise ConfigError("max realtime factor must be at least 1 (real time)")


class AudioPacer:
    """A token bucket of audio seconds for one session."""

    def __init__(self, options: PacingOptions, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self._clock = clock
        self._budget = options.max_lead
        self._at = clock()

    def spend(self, seconds: float) -> float:
        """Account for ``seconds`` of audio just accepted; return how long to wait before the next."""
        now = self._clock()
        rate = self.options.max_realtime_factor
        self._budget = min(self.options.max_lead, self._budget + (now - self._at) * rate)
        self._at = now
        self._budget -= seconds
        return -self._budget / rate if self._budget < 0 else 0.0

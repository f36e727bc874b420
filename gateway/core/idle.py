"""When a call is idle: too little audio, not merely no bytes, and never while the gateway waits.

Two clocks, pure arithmetic over timestamps the connection passes in:

:class:`ReadyClock` counts the time the gateway is ready to read a client's
next message. It stands still while the gateway holds back reading (pacing
a fast sender, waiting for room in a stage's backlog): the client cannot send
then, so that time must not count against it, neither as idleness nor as a
late pong.

:class:`IdleClock` says when one call has idled too long, on a ready clock:

- *silence*: no audio and no keep-alive for ``idle_timeout``;
- *too little audio*: a call must send at least ``min_audio_share`` of real
  time in audio (10 % by default). Each second of audio covers
  ``1 / min_audio_share`` seconds of the call (10 s), up to now at most (no
  credit is saved up); a call whose audio falls ``audio_share_window`` seconds
  (at least ``idle_timeout``) behind (30 s: a trickle of bytes after 30 s, a
  steady 5 % after 60 s) ends;
- *keep-alives alone*: keep-alives say "no audio for now, I am still here"
  (a client that sends no silence). Each excuses missing audio for the idle
  timeout after it, and while they do, a call ends once its audio falls
  ``max_keepalive_idle`` behind its share instead (as long after its last
  audio as before the audio share).

So a trickle of bytes is not audio: it holds a call for one window at most,
and with keep-alives for ``max_keepalive_idle``.
"""

from __future__ import annotations

import math


class ReadyClock:
    """Monotonic seconds that stand still while the gateway holds back reading."""

    def __init__(self, now: float) -> None:
        self._origin = now
        self._held_for = 0.0  # seconds held, before the current hold
        self._held_since: float | None = None

    @property
    def held(self) -> bool:
        return self._held_since is not None

    def hold(self, now: float) -> None:
        """The gateway stops reading the client (it paces, or waits for the pipeline); idempotent."""
        if self._held_since is None:
            self._held_since = now

    def release(self, now: float) -> None:
        """The gateway is ready to read again; idempotent."""
        if self._held_since is not None:
            self._held_for += now - self._held_since
            self._held_since = None

    def read(self, now: float) -> float:
        """Ready seconds since the clock started."""
        held = self._held_for + (now - self._held_since if self._held_since is not None else 0.0)
        return now - self._origin - held

    def wall(self, ready: float, now: float) -> float | None:
        """The monotonic time at which :meth:`read` reaches ``ready``; None while held (it stands still)."""
        if self._held_since is not None:
            return None
        return now + max(0.0, ready - self.read(now))


class IdleClock:
    """Whether one call has idled too long (see the module's docstring), in ready time."""

    def __init__(self, ready: ReadyClock, now: float, *, idle_timeout: float, min_audio_share: float,
                 audio_share_window: float, max_keepalive_idle: float) -> None:
        self.ready = ready
        self.idle_timeout = idle_timeout
        self.min_audio_share = min_audio_share
        # A trickle of bytes may not end a call sooner than silence would.
        self.audio_share_window = max(audio_share_window, idle_timeout)
        self.max_keepalive_idle = max_keepalive_idle
        start = ready.read(now)
        self._last_input = start  # the last audio or keep-alive
        self._last_keepalive = -math.inf
        self._covered = start  # the ready time up to which the call's audio met its share

    def audio(self, now: float, seconds: float) -> None:
        """``seconds`` of audio came in."""
        at = self.ready.read(now)
        self._last_input = at
        gained = seconds / self.min_audio_share if self.min_audio_share > 0 else math.inf
        self._covered = min(at, self._covered + gained)

    def keepalive(self, now: float) -> None:
        at = self.ready.read(now)
        self._last_input = self._last_keepalive = at

    def _short(self) -> tuple[float, bool]:
        """When the call's audio is too far behind its share: (ready time, whether keep-alives held it until then).

        Keep-alives excuse missing audio until ``idle_timeout`` after the last one, and
        while they do the call may fall ``max_keepalive_idle`` behind; else ``audio_share_window``.
        """
        excused_until = self._last_keepalive + self.idle_timeout
        if self._covered + self.max_keepalive_idle < excused_until:
            return self._covered + self.max_keepalive_idle, True
        return max(excused_until, self._covered + self.audio_share_window), False

    def deadline(self) -> float:
        """The ready time at which the call has idled too long, if nothing more comes."""
        return min(self._last_input + self.idle_timeout, self._short()[0])

    def idle(self, now: float) -> str | None:
        """Why the call has idled too long at ``now`` (a message for the client), or None."""
        at = self.ready.read(now)
        short, kept_alive = self._short()
        if at >= self._last_input + self.idle_timeout:
            return f"no audio or keep-alive for {self.idle_timeout:g} s; the session ends"
        if at < short:
            return None
        if kept_alive:
            return f"only keep-alives and too little audio for {self.max_keepalive_idle:g} s; the session ends"
        return (f"audio below {self.min_audio_share * 100:g}% of real time for {self.audio_share_window:g} s; "
                "the session ends")

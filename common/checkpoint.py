"""When a write carries a checkpoint: at markers, and at most every ``interval`` seconds otherwise.

A checkpoint bounds the replay after a takeover (the new owner replays the input
after it) and lets the input stream be trimmed, but costs a snapshot of the
stage's state in every write that carries one. One is forced where the state is
smallest or a client waits on it (utterance ends, flushes); in between, one per
``interval`` keeps replays short. The runner decides (:mod:`.commits`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    interval: float = 1.0  # seconds

    def due(self, last: float, *, force: bool = False, now: float | None = None) -> bool:
        """True if a checkpoint should be written now, the last one having been at ``last``.

        Times are ``time.monotonic()`` seconds; a session that never wrote one has ``last`` 0.
        """
        if force:
            return True
        return (time.monotonic() if now is None else now) - last >= self.interval

"""A live mono call's speakers: each final's words get theirs before the final goes out.

The call hands over its converted audio (16 kHz mono int16, as published) and each final;
the last :data:`KEEP_SEC` seconds of audio are kept (a final's speech is at most the
pipeline's longest utterance, 30 s, and arrives within seconds of its audio). The final's
speech (its first word's start to its last word's end) goes to the gateway's diarizer
process with the call's window history (:mod:`gateway.diarization.online`); its words come
back with ``speaker`` and ``speaker_confidence``, and the final with its first word's.

The diarizer's process is started with the gateway (``--diarize-preload``) or as the call opens
(if no call or recording started it before). A final first waits for the process to have loaded
its model, ``load_wait`` seconds at most (a one-off of seconds: torch's import; a final must not
lose its speakers to the gateway's own start-up), then ``wait`` seconds at most for its speakers
(the diarizer's queue and work). Then, or if the diarizer fails, or its audio is no longer kept,
it goes out as it came, without speakers, counted by
``streamscribe_gateway_diarize_unlabelled_total`` (by reason); a late answer is dropped, and the
call's history does not gain that final's windows. A final is never lost or held past the two
bounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import numpy as np

from common.metrics import GatewayMetrics

from ..calls.call import Call, Plug
from ..calls.feature import Chunks, Feature
from ..core import events
from ..diarization import online
from ..diarization import pool as diarization
from ..diarization.words import spoken
from .shared import Shared

log = logging.getLogger(__name__)

RATE = 16_000
KEEP_SEC = 60


class LiveSpeakers(Feature):
    """One live mono call's diarization: its recent audio, its window history, its finals labelled."""

    def __init__(self, diarizer: diarization.Diarizer, *, metrics: GatewayMetrics, wait: float,
                 load_wait: float = 30.0, keep_sec: int = KEEP_SEC) -> None:
        self.diarizer = diarizer
        self.metrics = metrics
        self.wait = wait
        self.load_wait = load_wait
        self.history = online.History.empty()
        self._ring = np.zeros(keep_sec * RATE, np.int16)
        self._end = 0  # samples received: the ring holds [_end - len(_ring), _end)
        diarizer.warm()

    def audio(self, channel: int, chunks: Chunks) -> None:
        """The call's converted chunks (offset, int16 samples), in order (of its one channel)."""
        size = len(self._ring)
        for offset, pcm in chunks:
            if len(pcm) > size:
                offset, pcm = offset + len(pcm) - size, pcm[-size:]
            start = offset % size
            first = min(len(pcm), size - start)
            self._ring[start:start + first] = pcm[:first]
            self._ring[:len(pcm) - first] = pcm[first:]
            self._end = max(self._end, offset + len(pcm))

    def clip(self, start: int, end: int) -> np.ndarray | None:
        """Samples ``start``..``end`` of the call, or None if they are no longer (or not yet) kept."""
        size = len(self._ring)
        if end <= start or start < self._end - size or end > self._end:
            return None
        index = np.arange(start, end) % size
        return self._ring[index]

    async def final(self, final: events.Final) -> events.Final:
        """``final`` with its words' speakers, or as it came (counted) when they cannot be had in time."""
        if not final.words:
            return final
        start_ms, end_ms = spoken(final.start_ms, final.end_ms, [(w.start_ms, w.end_ms) for w in final.words])
        start, end = start_ms * RATE // 1000, max(end_ms * RATE // 1000, start_ms * RATE // 1000 + 1)
        audio = self.clip(start, end)
        if audio is None:
            self.metrics.diarize_unlabelled.labels(reason="audio_gone").inc()
            return final
        words = [(max(0, w.start_ms * RATE // 1000 - start), max(0, w.end_ms * RATE // 1000 - start))
                 for w in final.words]
        began = time.monotonic()
        waited_for = "loading"  # the unlabelled reason of a timeout: the load's bound, then the final's
        try:
            # The load's own bound: the final's wait counts from a loaded model.
            await self.diarizer.loaded(self.load_wait)
            waited_for = "timeout"
            # The deadline lets the process skip a request this final gave up on (one process serves
            # every call: stale work would make the requests behind it miss their waits too).
            labelled = await asyncio.wait_for(
                self.diarizer.live(self.history, audio, words, deadline=time.time() + self.wait), self.wait)
        except TimeoutError:
            self.metrics.diarize_unlabelled.labels(reason=waited_for).inc()
            return final
        except diarization.DiarizationFailed as exc:
            log.warning("live diarization failed: %s", exc)
            self.metrics.diarize_unlabelled.labels(reason="failed").inc()
            return final
        if labelled is None:  # started past its deadline (a clock step between here and there)
            self.metrics.diarize_unlabelled.labels(reason="timeout").inc()
            return final
        self.metrics.diarize_wait.observe(time.monotonic() - began)
        if len(labelled.speakers) != len(final.words):
            self.metrics.diarize_unlabelled.labels(reason="failed").inc()
            return final
        self.history = labelled.history
        said = tuple(dataclasses.replace(w, speaker=s, speaker_confidence=c)
                     for w, s, c in zip(final.words, labelled.speakers, labelled.confidences))
        return dataclasses.replace(final, words=said, speaker=said[0].speaker)


def plug(shared: Shared) -> Plug:
    """Speakers for a live mono call that asks (``diarize``): a recording is diarized whole at its end
    (gateway/http/prerecorded.py)."""
    def speakers(call: Call) -> LiveSpeakers | None:
        if shared.diarizer is None or not call.config.diarize or call.batch or len(call.sessions) != 1:
            return None
        options = shared.diarizer.options
        return LiveSpeakers(shared.diarizer, metrics=call.hub.metrics, wait=options.wait, load_wait=options.load_wait)
    return speakers

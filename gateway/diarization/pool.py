"""The diarizer's process, and the gateway's handle on it.

Where the model runs, and why: a recording's windows must be clustered all together, at
its end, and the gateway is what holds the whole recording (its decoded PCM) and its
finals then. The ASR worker sees one utterance at a time and would have to ship every
window's embedding through Redis for the gateway to cluster anyway. But the gateway's
event loop carries every live call's audio, so the model runs in a process of its own
(one per gateway, started on the first ``diarize=true`` request, spawned so that it
shares nothing with the loop's process): the encoder is loaded there once, torch stays
out of the gateway's process, and its CPU work (one torch thread: it shares the box with
the live calls) never holds the loop's GIL. Requests queue for that one process; how many
can wait is bounded by the keys' session slots, which every pre-recorded request holds.
Live calls (:func:`label_live`) use the same process: the gateway is where a live call's
audio is too (each call keeps its last seconds, 16 kHz mono), and the model stays loaded once
per gateway. The ASR worker holds each utterance's audio as well, but would have to carry every
call's window history across utterances that different workers decode; here a call's history
(:class:`.online.History`, capped) travels with each request, so the process keeps no per-call
state and a restarted process loses nothing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from common.errors import ConfigError

from . import MISSING, cluster, online

_encoder = None  # the diarizer process's one Encoder (built by _load)


class DiarizationFailed(Exception):
    """The diarizer's process died or raised; the message says what happened."""


def available() -> None:
    """Raise :class:`ConfigError` naming the extra when the encoder's wheel or scipy is not installed.

    Checked in the gateway before a request is transcribed, without importing either.
    """
    if importlib.util.find_spec("resemblyzer") is None or importlib.util.find_spec("scipy") is None:
        raise ConfigError(MISSING)


def _load() -> None:
    """The diarizer process's initializer: one torch thread, the encoder loaded once."""
    global _encoder
    import torch  # only this process imports torch

    from . import encoder

    torch.set_num_threads(1)
    _encoder = encoder.Encoder(encoder.weights_path())


def diarize(pcm: np.ndarray, sample_rate: int, regions_ms: list[tuple[int, int]], *,
            max_speakers: int = cluster.MAX_SPEAKERS) -> cluster.Labels:
    """Speaker labels per 10 ms frame of ``pcm`` (int16 [frames, channels], mixed down to mono, at 16 kHz).

    ``regions_ms``: the speech to diarize, (start, end) in ms of audio time. Runs in the
    diarizer's process (or anywhere :func:`_load` ran).
    """
    import soxr

    mono = pcm.astype(np.float32).mean(axis=1) / 32768.0
    if sample_rate != cluster.RATE:
        mono = soxr.resample(mono, sample_rate, cluster.RATE).astype(np.float32)
    regions = _merged([(max(0, a * cluster.RATE // 1000), min(len(mono), b * cluster.RATE // 1000))
                       for a, b in regions_ms])
    spans = cluster.windows(regions)
    if _encoder is None:
        raise RuntimeError("the diarizer's encoder is not loaded (the process's initializer, _load, loads it)")
    embeddings = _encoder.embed([mono[a:b] for a, b in spans])
    clusters = cluster.cluster(embeddings, max_speakers=max_speakers)
    return cluster.frame_labels(spans, clusters, regions, len(mono))


def label_live(history: online.History, audio: np.ndarray, words: list[tuple[int, int]],
               deadline: float) -> online.Labelled | None:
    """A live final's words labelled (:func:`.online.label`): ``audio`` the speech it holds (int16, mono,
    16 kHz), ``words`` each word's (start, end) samples in it. Runs in the diarizer's process.

    None, at once, when it starts past ``deadline`` (``time.time()``): the final waiting for it went
    out without speakers already, and work for it would only delay the requests queued behind."""
    if time.time() > deadline:
        return None
    mono = audio.astype(np.float32) / 32768.0
    spans = cluster.windows([(0, len(mono))])
    if _encoder is None:
        raise RuntimeError("the diarizer's encoder is not loaded (the process's initializer, _load, loads it)")
    embeddings = _encoder.embed([mono[a:b] for a, b in spans]) if spans else np.zeros((0, 0), np.float32)
    return online.label(history, embeddings, spans, words)


def _ready() -> None:
    """Nothing: submitted to start the process (and so load the model) ahead of use."""


def _merged(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping ones joined (finals of one channel may touch)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in regions if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class Diarizer:
    """The gateway's handle on its diarizer process (started on first use, restarted if it dies)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def labels(self, pcm: np.ndarray, sample_rate: int, regions_ms: list[tuple[int, int]]) -> cluster.Labels:
        """:func:`diarize` in the diarizer's process; :class:`DiarizationFailed` if that process fails."""
        return await self._run(diarize, pcm, sample_rate, regions_ms)

    async def live(self, history: online.History, audio: np.ndarray, words: list[tuple[int, int]], *,
                   deadline: float) -> online.Labelled | None:
        """:func:`label_live` in the diarizer's process; :class:`DiarizationFailed` if that process fails."""
        return await self._run(label_live, history, audio, words, deadline)

    def warm(self) -> None:
        """Start the process now, if it is not running, so that its model loads (seconds: torch's import)
        before the first request needs it: a live call's first final waits a bounded time only."""
        self._started().submit(_ready)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_load)
        return self._pool

    async def _run(self, function, *args):
        pool = self._started()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the next request starts a new process
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise DiarizationFailed(f"the diarizer's process died: {exc}") from exc
        except Exception as exc:  # whatever the diarizer raised, the transcript goes out with a warning
            raise DiarizationFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the process (work in it is abandoned; the gateway is shutting down)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

"""The diarizer's process, and the gateway's handle on it.

Where the model runs, and why: a recording's windows must be clustered all together, at
its end, and the gateway is what holds the whole recording (its decoded PCM) and its
finals then. The ASR worker sees one utterance at a time and would have to ship every
window's embedding through Redis for the gateway to cluster anyway. But the gateway's
event loop carries every live call's audio, so the model runs in a process of its own
(one per gateway, started with the gateway (``--diarize-preload``) or by the first ``diarize=true``
request, spawned so that it
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
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from common.config import option, positive
from common.errors import ConfigError
from common.metrics import GatewayMetrics

from . import MISSING, cluster, online, sound

log = logging.getLogger(__name__)

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
    return sound.snapped(cluster.frame_labels(spans, clusters, regions, len(mono)), sound.levels(mono))


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
    return online.label(history, embeddings, spans, words, sound.levels(mono))


def _ready() -> None:
    """Nothing: submitted to start the process (and so load the model) ahead of use."""


def _failure(done: Future) -> str | None:
    """Why a finished future did not succeed (None when it did)."""
    if done.cancelled():
        return "cancelled (the gateway is shutting down)"
    exc = done.exception()
    return None if exc is None else f"{type(exc).__name__}: {exc}"


def _merged(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping ones joined (finals of one channel may touch)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(r for r in regions if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DiarizeOptions:
    """When the diarizer's process starts, and how long a diarized live call's final waits for it
    (gateway/features/speakers.py)."""

    # A diarized live call's final waits this long for its speakers, then goes without.
    wait: float = field(default=2.0, metadata=option(
        "seconds a diarized live call's final waits for its speakers before it goes without them (counted from "
        "the diarizer's model loaded)", flag="--diarize-wait", parse=positive(float)))
    # ... after waiting this long at most for the diarizer's process to load its model (a one-off per process).
    load_wait: float = field(default=30.0, metadata=option(
        "seconds a diarized live call's final waits for the diarizer's process to load its model (the first "
        "diarized call after the gateway starts, or after that process died) before --diarize-wait begins",
        flag="--diarize-load-wait", parse=positive(float)))
    # Start the process (torch, ~1 s of CPU and a few hundred MB) with the gateway, not at the first
    # diarize=true: where diarized calls are expected.
    preload: bool = field(default=False, metadata=option(
        "start the diarizer's process (and load its speaker model) as the gateway starts, not at the first "
        "diarize=true request; nothing when the diarize extra is not installed", flag="--diarize-preload"))


class Diarizer:
    """The gateway's handle on its diarizer process (started on first use or by :meth:`warm`, restarted if
    it dies).

    ``options``: when it starts, how long live calls wait for it. ``initializer``: what the process runs
    before any request (:func:`_load`, the model; tests give another). ``metrics``: where the load's
    seconds go (``diarizer_load_seconds``).
    """

    def __init__(self, *, options: DiarizeOptions = DiarizeOptions(), initializer: Callable[[], None] = _load,
                 metrics: GatewayMetrics | None = None) -> None:
        self.options = options
        self._initializer = initializer
        self._metrics = metrics
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future | None = None  # the started process's _ready: done once its initializer ran

    async def labels(self, pcm: np.ndarray, sample_rate: int, regions_ms: list[tuple[int, int]]) -> cluster.Labels:
        """:func:`diarize` in the diarizer's process; :class:`DiarizationFailed` if that process fails."""
        return await self._run(diarize, pcm, sample_rate, regions_ms)

    async def live(self, history: online.History, audio: np.ndarray, words: list[tuple[int, int]], *,
                   deadline: float) -> online.Labelled | None:
        """:func:`label_live` in the diarizer's process; :class:`DiarizationFailed` if that process fails."""
        return await self._run(label_live, history, audio, words, deadline)

    def warm(self) -> None:
        """Start the process now, if it is not running, so that its model loads (seconds: torch's import)
        before the first request needs it."""
        self._started()

    def preload(self) -> None:
        """``--diarize-preload``: :meth:`warm` as the gateway starts (readiness does not wait for the load:
        a final waits for it, bounded by ``--diarize-load-wait``), or say why not."""
        try:
            available()
        except ConfigError as exc:
            log.warning("--diarize-preload: nothing to start: %s", exc)
            return
        self.warm()

    @property
    def is_loaded(self) -> bool:
        """True when the running process has loaded its model (False before it started or while it loads)."""
        return self._ready is not None and self._ready.done() and _failure(self._ready) is None

    async def loaded(self, timeout: float) -> None:
        """Return once the process (started now if it is not running) has loaded its model: at once when it
        has. ``TimeoutError`` after ``timeout`` seconds (the load goes on, for whoever asks next);
        :class:`DiarizationFailed` if the load failed (the next request starts a new process).

        Why apart from a request's own wait: a live final's wait for its speakers (``--diarize-wait``)
        bounds the diarizer's work and its queue, which take a fraction of a second; the load is a
        one-off of seconds (torch's import), and a final must not lose its speakers to it."""
        pool = self._started()
        ready = self._ready
        assert ready is not None
        if not ready.done():
            # asyncio.wait, not wait_for: a final that gives up must not cancel the process's _ready
            # (still queued, it could be), which every later final waits on.
            waiter = asyncio.wrap_future(ready)
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())  # read here: no "never retrieved"
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            if not done:
                raise TimeoutError(f"the diarizer's process did not load its model within {timeout:g} s")
        failure = _failure(ready)
        if failure is not None:
            self._broken(pool)
            raise DiarizationFailed(f"the diarizer's process could not load its model: {failure}")

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            began = time.monotonic()
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=self._initializer)
            # The one process runs its initializer before any task, so this is done once it has loaded.
            self._ready = self._pool.submit(_ready)
            self._ready.add_done_callback(lambda ready: self._on_ready(ready, began))
        return self._pool

    def _on_ready(self, ready: Future, began: float) -> None:
        """The load's outcome, logged and measured (in the pool's management thread: logging and
        prometheus_client are thread-safe)."""
        failure = _failure(ready)
        if failure is not None:
            log.warning("the diarizer's process did not load its model: %s", failure)
            return
        seconds = time.monotonic() - began
        log.info("the diarizer's process loaded its model in %.1f s", seconds)
        if self._metrics is not None:
            self._metrics.diarizer_load_seconds.set(seconds)

    def _broken(self, pool: ProcessPoolExecutor) -> None:
        """``pool`` failed: the next request starts a new process (unless one did already)."""
        if self._pool is pool:
            self._pool = None
            self._ready = None
            pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function, *args):
        pool = self._started()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool as exc:
            self._broken(pool)
            raise DiarizationFailed(f"the diarizer's process died: {exc}") from exc
        except Exception as exc:  # whatever the diarizer raised, the transcript goes out with a warning
            raise DiarizationFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the process (work in it is abandoned; the gateway is shutting down)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._ready = None

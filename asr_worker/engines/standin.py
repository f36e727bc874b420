"""The ``standin-sleep`` engine: a STAND-IN for benchmarks, not a recogniser.

It recognises nothing. Given reference clips with their transcripts
(``--standin-clips``: a folder of 16 kHz mono PCM16 WAV files, each with a
``.txt`` beside it), it finds where an utterance's audio lies in them by its
samples, sleeps as long as a whisper decode of that much audio was measured to
take, and returns the words of the clip that the audio covers (all of them
when it covers the whole clip, a proportional share of a part). So
``bench/capacity.py`` can load the spine (gateway, VAD, Redis, the ASR stage)
with hundreds of real-time calls on a box that decodes a handful with
whisper, and tell what the spine adds to "end of speech -> final" apart from
the decode.

It is never a default: ``--engine standin-sleep`` is refused unless
``--allow-standin-engine`` (``STREAMSCRIBE_ASR_ALLOW_STANDIN_ENGINE``) is given
too; it logs a warning saying it is a stand-in when it loads, and a worker
running it names ``standin-sleep`` as its engine on ``/healthz`` and
``/readyz``. Audio that is not from its clips gets no words (no final).

The sleep is ``standin_final_sec`` (finals) or ``standin_partial_sec``
(partials) plus ``standin_sec_per_audio_sec`` per second of the request's
audio: whisper's decode time on the box that ``bench/capacity.py`` measured,
as a line fitted to its decodes. Decodes do not queue: the stand-in is a
recogniser with room for every session, as a GPU fleet sized for the load
would be. :meth:`abort` ends a sleeping decode at once (as vLLM stops a
request), its :meth:`transcribe` raising ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.config import non_negative, option
from common.errors import ConfigError, ModelError
from common.records import SAMPLE_RATE

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis

log = logging.getLogger(__name__)

NAME = "standin-sleep"
WINDOW = 320  # samples hashed to find where audio lies in a clip (20 ms: no two windows of speech alike)
STRIDE = 64  # clip windows are indexed every STRIDE samples; a lookup tries STRIDE offsets
LEAD = 2 * SAMPLE_RATE  # digital silence an utterance may start with (the VAD's pre-roll is at most 2 s)


@dataclass(frozen=True, slots=True, kw_only=True)
class StandinOptions(EngineOptions):
    """The stand-in's flags; the sleep's defaults are whisper tiny.en's on the development box
    (BENCHMARKS.md, "Capacity")."""

    allow_standin_engine: bool = field(default=False, metadata=option(
        "let --engine standin-sleep run: a STAND-IN that recognises nothing, sleeps and returns "
        "the known text of reference clips (benchmarks only)"))
    standin_clips: str | None = field(default=None, metadata=option(
        "standin-sleep: folder of 16 kHz mono WAV clips, each with its transcript in a .txt beside it"))
    standin_final_sec: float = field(default=0.16, metadata=option(
        "standin-sleep: seconds a final decode sleeps, plus --standin-sec-per-audio-sec", parse=non_negative(float)))
    standin_partial_sec: float = field(default=0.1, metadata=option(
        "standin-sleep: seconds a partial decode sleeps, plus --standin-sec-per-audio-sec", parse=non_negative(float)))
    standin_sec_per_audio_sec: float = field(default=0.035, metadata=option(
        "standin-sleep: seconds of sleep added per second of the request's audio", parse=non_negative(float)))


@dataclass(frozen=True, slots=True)
class Clip:
    """A reference clip: its samples (int16) and its transcript's words."""

    samples: np.ndarray
    words: tuple[str, ...]


class StandinEngine(Engine):
    """The stand-in (see the module's docstring); ``sleep`` is injectable for tests."""

    name = NAME

    def __init__(self, options: StandinOptions, clips: Sequence[tuple[np.ndarray, str]], *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        refuse_unless_allowed(options)
        if not clips:
            raise ModelError(f"the {NAME} engine has no reference clips (--standin-clips)")
        self._options = options
        self._sleep = sleep
        self._clips = [Clip(np.asarray(samples, np.int16), tuple(text.split())) for samples, text in clips]
        self._index = _index(self._clips)
        self._words = list(dict.fromkeys(word for clip in self._clips for word in clip.words))
        self._vocabulary = {word: token for token, word in enumerate(self._words)}
        self._sleeping: dict[str, asyncio.Task] = {}
        self._unknown = 0  # requests whose audio is from no clip
        log.warning("STAND-IN engine %s loaded: it recognises nothing; it sleeps %.3f s (final) / %.3f s "
                    "(partial) + %.3f s per audio second and returns the known text of %d reference clips "
                    "(benchmarks only)", NAME, options.standin_final_sec, options.standin_partial_sec,
                    options.standin_sec_per_audio_sec, len(self._clips))

    def delay(self, request: DecodeRequest) -> float:
        """Seconds the decode of ``request`` sleeps."""
        options = self._options
        base = options.standin_final_sec if request.final else options.standin_partial_sec
        return base + options.standin_sec_per_audio_sec * len(request.audio) / SAMPLE_RATE

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        # The sleep is a task of its own: abort() cancels it, and the caller sees CancelledError
        # without its own task being cancelled (as a whisper decode dropped from the queue).
        sleeper = asyncio.ensure_future(self._sleep(self.delay(request)))
        self._sleeping[request.request_id] = sleeper
        try:
            await sleeper
        finally:
            if self._sleeping.get(request.request_id) is sleeper:
                del self._sleeping[request.request_id]
        return self._hypothesis(request.audio)

    async def abort(self, request_id: str) -> None:
        sleeper = self._sleeping.get(request_id)
        if sleeper is not None:
            sleeper.cancel()

    def _hypothesis(self, audio: np.ndarray) -> Hypothesis:
        words = self.words_of(audio)
        if words is None:
            self._unknown += 1
            if self._unknown == 1:
                log.warning("%s: audio from none of its reference clips: no words (stand-in)", NAME)
            words = ()
        text = " ".join(words)
        return Hypothesis(text=text, language="en", no_speech=not words, tokens=len(words),
                          token_ids=tuple(self.tokenize(text)), confidence=1.0 if words else None)

    def words_of(self, audio: np.ndarray) -> tuple[str, ...] | None:
        """The words of the clip that ``audio`` (float32, as the stage sends) covers; None: from no clip."""
        sound = np.flatnonzero(audio[:LEAD])
        if not len(sound):
            return None if len(audio) > LEAD else ()
        first = int(sound[0])
        head = audio[first:first + STRIDE + WINDOW - 1]
        pcm = np.clip(np.round(head * 32768.0), -32768, 32767).astype(np.int16)
        for at in range(len(pcm) - WINDOW + 1):
            found = self._index.get(pcm[at:at + WINDOW].tobytes())
            if found is None:
                continue
            clip_number, clip_at = found
            clip = self._clips[clip_number]
            start = clip_at - first - at  # where the audio's first sample lies in the clip (< 0: before it)
            covered = (max(0, start), min(len(clip.samples), start + len(audio)))
            count = len(clip.words)
            first_word, end_word = (round(count * sample / len(clip.samples)) for sample in covered)
            return clip.words[first_word:end_word]
        return None

    def tokenize(self, text: str) -> list[int]:
        """One token per word of the reference transcripts (a word they lack: none)."""
        return [self._vocabulary[word] for word in text.split() if word in self._vocabulary]

    def detokenize(self, token_ids: list[int]) -> str:
        return " ".join(self._words[i] for i in token_ids)

    async def close(self) -> None:
        for sleeper in list(self._sleeping.values()):
            sleeper.cancel()


def _index(clips: list[Clip]) -> dict[bytes, tuple[int, int]]:
    """(clip, sample) of each clip window at a multiple of STRIDE, by its bytes; windows of
    digital silence and windows found twice (which could not tell where audio lies) left out."""
    index: dict[bytes, tuple[int, int]] = {}
    twice: set[bytes] = set()
    for number, clip in enumerate(clips):
        for at in range(0, len(clip.samples) - WINDOW + 1, STRIDE):
            window = clip.samples[at:at + WINDOW]
            if not window.any():
                continue
            key = window.tobytes()
            if key in index:
                twice.add(key)
            index[key] = (number, at)
    for key in twice:
        del index[key]
    return index


def read_clips(folder: str) -> list[tuple[np.ndarray, str]]:
    """The WAV files of ``folder`` that have a transcript (``NAME.txt``), as (int16 samples, text)."""
    import soundfile

    path = Path(folder)
    if not path.is_dir():
        raise ModelError(f"--standin-clips {folder} is not a folder")
    clips = []
    for wav in sorted(path.glob("*.wav")):
        text = wav.with_suffix(".txt")
        if not text.exists():
            continue
        samples, rate = soundfile.read(str(wav), dtype="int16")
        if rate != SAMPLE_RATE or samples.ndim != 1:
            raise ModelError(f"{wav}: the stand-in's clips must be 16 kHz mono")
        clips.append((samples, text.read_text().strip()))
    return clips


OPTIONS = StandinOptions


def refuse_unless_allowed(options: StandinOptions) -> None:
    """Raise ConfigError unless the options opt in to the stand-in."""
    if not options.allow_standin_engine:
        raise ConfigError(f"--engine {NAME} is a stand-in that recognises nothing (benchmarks only); "
                          "give --allow-standin-engine (STREAMSCRIBE_ASR_ALLOW_STANDIN_ENGINE=true) to run it")


def load(options: StandinOptions) -> Engine:
    refuse_unless_allowed(options)  # before reading anything
    if not options.standin_clips:
        raise ConfigError(f"--engine {NAME} needs --standin-clips: a folder of WAV clips with .txt transcripts")
    return StandinEngine(options, read_clips(options.standin_clips))

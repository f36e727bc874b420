"""The ``whisper`` engine: faster-whisper (CTranslate2) on the CPU or a GPU.

``--model`` names the model (:mod:`.whisper_models`: ``tiny.en``, shipped, English only;
``base``, multilingual, the ``whisper-base`` extra; or a CTranslate2 directory); an English-only
model refuses another language. Decodes are greedy; a live final that looks poor is decoded
again with beams (:mod:`.fallback`), one whose request has a retry (:class:`~.base.Retry`: a redacting
session's digits prompt) again with its prompt, and every result goes through the loop guard (:mod:`.loop_guard`).
The encoder sees a window fitted to the audio plus a margin (whisper drops words at the edge of a
window cut flush with the audio), not a fixed 30 s, because its cost grows with the window; after
telephone audio the window is padded with the log-mel of silence, as whisper was trained.
Decodes run on a :class:`~.scheduler.DecodeScheduler`. Recordings decode in a child process with
its own model (loaded at the worker's priority, then at nice 19), stopped while live decodes wait (:mod:`.batch_pause`), so live calls
keep the CPU first; the child dies with the worker however it ends (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import multiprocessing
import os
import re
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from common.config import non_negative, option, positive
from common.errors import ConfigError, ModelError
from common.languages import language_code
from common.records import SAMPLE_RATE

from ..language import restricted
from .base import DecodeRequest, Engine, EngineOptions, Hypothesis, Retry, Word
from .batch_pause import ChildPauser
from .fallback import STEP as FALLBACK, Decoded, FallbackPolicy, needs_beam, pick
from .loop_guard import GuardOptions, LoopGuard
from .repetition import LoopLimits
from .scheduler import FINAL, FIRST_WORDS, PARTIAL, DecodeScheduler, StaleCollector
from .whisper_models import ResolvedModel, resolve_model

log = logging.getLogger(__name__)

# A segment counts as silence when whisper is this sure of it (and unsure of its words): faster-whisper's rule.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
# ... and whatever its words' scores when it is this sure: tiny.en writes "you" on a breath through
# 8 kHz mu-law at a no-speech probability of 0.92-0.98 and a log-probability of -0.5 to -1.0, where
# the turn set's short replies reach 0.54 (tiny.en) and 0.38 (base).
SURE_NO_SPEECH_PROB = 0.85


def silence(text: str, *, avg_logprob: float, no_speech_prob: float) -> bool:
    """Whether whisper's decode of ``text`` is of silence or noise, not speech (:data:`NO_SPEECH_PROB`,
    :data:`SURE_NO_SPEECH_PROB`). A decode that writes a number is speech unless whisper is sure of
    silence: its no-speech probability runs highest on numbers said alone (0.50-0.63 for "Three.",
    "Forty two." in the turn set), and a number the caller said is the last thing to drop."""
    if no_speech_prob > SURE_NO_SPEECH_PROB:
        return True
    if any(character.isdigit() for character in text):
        return False
    return no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB

CLOSE_TIMEOUT = 30.0  # seconds close() waits for the decode in progress
PR_SET_PDEATHSIG = 1  # prctl(2)

FRAMES_PER_SECOND = 100  # mel frames
HOP = SAMPLE_RATE // FRAMES_PER_SECOND  # samples per mel frame
FULL_WINDOW = 3000  # whisper's 30 s
WINDOW_STEP = 500  # fitted windows come in steps of 5 s: fewer distinct shapes
TOKENS_PER_SECOND = 10  # cap on new tokens per second of audio (speech is 3-6): bounds a looping decode
TOKEN_SLACK = 20  # and on top of it (a short decode)
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


def window_margin(text: str) -> float | None:
    """``full`` (None: whisper's 30 s window) or seconds 0..30."""
    if text.strip().lower() == "full":
        return None
    value = float(text)
    if not 0.0 <= value <= 30.0:
        raise ValueError(f"window margin {value} is not 0..30 s or 'full'")
    return value


def nice_value(text: str) -> int:
    """A nice increment a process may take without privileges: 0 to 19."""
    value = int(text)
    if not 0 <= value <= 19:
        raise ValueError(f"{value} is not a nice value from 0 to 19")
    return value


# The live decodes that stop the batch child, by --batch-pause-for.
PAUSE_KINDS = {"finals": frozenset({FINAL}), "all": frozenset({FINAL, FIRST_WORDS, PARTIAL})}


def pause_for(text: str) -> str:
    """``--batch-pause-for``: finals or all."""
    if text not in PAUSE_KINDS:
        raise ValueError(f"{text!r} is not 'finals' or 'all'")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class WhisperOptions(EngineOptions):
    compute_type: str = field(default="int8", metadata=option("CTranslate2 compute type (whisper)"))
    model_cache_dir: str | None = field(default=None, metadata=option(
        "whisper: where a packaged model shipped in parts (base) is joined and kept "
        "(default $XDG_CACHE_HOME/streamscribe/models, else ~/.cache/streamscribe/models)"))
    cpu_threads: int = field(default=0, metadata=option("threads per decode (whisper; 0: default)"))
    num_workers: int = field(default=2, metadata=option("concurrent decodes (whisper)", parse=positive(int)))
    max_batch: int = field(default=1, metadata=option(
        "whisper: requests waiting for a decode thread decoded together in one batch "
        "(1: none; batches pay on a GPU, not on a small CPU)", parse=positive(int)))
    first_words_grace_sec: float = field(default=0.0, metadata=option(
        "whisper: a first partial (an utterance without words yet) is decoded before finals that have "
        "waited less than this; more: earlier first partials under load, later finals (16 modelled calls "
        "on 2 cores, 0.8: first partial p95 2.6-2.9 -> 1.4-2.0 s, finals p50 +30 %%, p95 +20 %%; BENCHMARKS.md); "
        "0: finals always first", parse=non_negative(float)))
    batch_max_batch: int = field(default=8, metadata=option(
        "whisper: the same for the batch sessions' (recordings') thread: their packs waiting "
        "decoded together, one decoder loop and one alignment pass for all (cheaper per pack "
        "on the CPU too; 1: one by one)", parse=positive(int)))
    # Padding after the audio in the encoder window; None: whisper's full 30 s window. Partials
    # take a narrower one: a third cheaper, their words as good (bench/whisper_window.py).
    window_margin_sec: float | None = field(default=10.0, metadata=option(
        "whisper: seconds of padding after the audio in the encoder window, "
        "'full' for whisper's fixed 30 s window", parse=window_margin))
    partial_window_margin_sec: float | None = field(default=5.0, metadata=option(
        "whisper: the same for partial decodes (narrower: cheaper, as good for partials)", parse=window_margin))
    final_beam_size: int = field(default=5, metadata=option(
        "whisper: beams of the second decode of a live final whose greedy decode looks poor "
        "(--final-beam-logprob, --final-beam-compression-ratio; offline transcribe()'s fallback); "
        "1: finals greedy only. Partials stay greedy", parse=positive(int)))
    final_beam_logprob: float = field(default=-0.5, metadata=option(
        "whisper: a live final whose greedy decode's average token log-probability is under this is "
        "decoded again with beam search (0: every final; faster-whisper's fallback uses -1.0; the "
        "trade-off between WER and CPU is measured in BENCHMARKS.md)"))
    final_beam_compression_ratio: float = field(default=2.4, metadata=option(
        "whisper: the same for a greedy final whose text compresses more than this (zlib; a loop)",
        parse=positive(float)))
    batch_process: bool = field(default=True, metadata=option(
        "whisper on the CPU: decode batch sessions (recordings) in a child process at nice 19, so that "
        "live decodes get the cores first (--no-batch-process: in this process, at the same priority)"))
    batch_child_at_start: bool = field(default=True, metadata=option(
        "whisper on the CPU: start that child process and load its copy of the model when the worker "
        "starts, so that a child that cannot start fails the worker's start, not a recording, and no "
        "recording waits for it (--no-batch-child-at-start: at the first recording; a worker that never "
        "gets one then never holds the second copy)"))
    batch_cpu_threads: int = field(default=1, metadata=option(
        "whisper: threads per decode of a batch session in that child process", parse=positive(int)))
    batch_nice: int = field(default=19, metadata=option(
        "whisper: the CPU priority (nice, 0-19) of that child process and of its scheduling group; "
        "19 yields to everything else on the host", parse=nice_value))
    batch_pause: bool = field(default=True, metadata=option(
        "whisper on the CPU: stop that child process (SIGSTOP) while a live decode (--batch-pause-for) is "
        "queued or running, so it never shares the cores with a recording (--no-batch-pause: nice alone)"))
    batch_pause_for: str = field(default="all", metadata=option(
        "whisper: with --batch-pause, the live decodes that stop the child: 'all' (any live decode) or "
        "'finals' (a final queued or running; partials then share the cores with the child at nice 19: "
        "a recording moves faster beside busy live calls, and their finals wait longer: +14 %% p95 "
        "against +7-11 %% with 'all' beside 8 calls, BENCHMARKS.md)", parse=pause_for))
    batch_pause_min_run_sec: float = field(default=0.1, metadata=option(
        "whisper: with --batch-pause, seconds the child runs anyway once stopped for the rest of "
        "--batch-pause-period-sec, so a recording progresses under sustained live load; never beside a live "
        "final, which ends such a run (0: no floor; more: a recording moves faster under load, live partials "
        "meanwhile pay what nice alone costs)",
        parse=non_negative(float)))
    batch_pause_period_sec: float = field(default=2.0, metadata=option(
        "whisper: the period of that floor (the child is never stopped longer than this minus the run)",
        parse=positive(float)))
    batch_pause_resume_after_sec: float = field(default=0.3, metadata=option(
        "whisper: with --batch-pause, seconds without a live decode (queued or running) before the child "
        "is continued: keeps it out of the short gaps within a burst of live decodes, where what it leaves "
        "in the caches slows the next live decode (0: at once; BENCHMARKS.md)",
        parse=non_negative(float)))

    def __post_init__(self) -> None:
        if self.batch_pause_min_run_sec >= self.batch_pause_period_sec:
            raise ConfigError(f"--batch-pause-min-run-sec ({self.batch_pause_min_run_sec}) must be under "
                             f"--batch-pause-period-sec ({self.batch_pause_period_sec})")


NARROWBAND_BIN = 62  # whisper's first mel bin (of 80) centred over 4 kHz: 8 kHz audio holds nothing there
NARROWBAND_SLACK = 0.05  # over the floor, normalised log-mel (0.2 in log10: 2 dB)


def fitted_windows(features: list[np.ndarray], contents: list[int], frames: int) -> np.ndarray:
    """The encoder's input: each request's first ``contents`` mel frames of ``features`` (its
    normalised log-mel), padded to ``frames``: with zeros, as faster-whisper's ``pad_or_trim``
    pads, except after narrowband audio (:func:`narrowband`), padded with the log-mel of silence.

    Zeros in the normalised log-mel are a faint noise in every band, the bands over 4 kHz
    included: after 8 kHz audio (the telephone doors, resampled up), whose bands there sit at the
    extractor's floor throughout, that noise starts where the speech stops, and whisper writes
    worse (English call scripts through μ-law 34.6 -> 31.8 % WER with silence, Spanish 41.1 ->
    37.8 %). Silence is what whisper trained on (audio padded with zero samples, whose log-mel is
    the floor: 8 under the loudest frame in log10, ``max - 2`` normalised; openai/whisper pads the
    audio for it since 2023-03). After wideband audio it is worse (English call scripts at
    16 kHz 13.0 -> 16.6 %), so wideband keeps zeros. BENCHMARKS.md, "Spanish"."""
    windows = np.zeros((len(features), features[0].shape[0], frames), np.float32)
    for window, feature, content in zip(windows, features, contents):
        window[:, :content] = feature[:, :content]
        if narrowband(feature[:, :content]):
            window[:, content:] = feature.max() - 2.0
    return windows


def narrowband(feature: np.ndarray) -> bool:
    """Whether the normalised log-mel ``feature`` holds nothing over 4 kHz: nine tenths of its
    values there at the floor (``max - 2``; the bin at the band's edge leaks a little). On the
    accuracy set the 90th percentile is at the floor through μ-law and 0.75-1.0 over it at 16 kHz."""
    if not feature.size:
        return False
    return bool(np.percentile(feature[NARROWBAND_BIN:], 90) <= feature.max() - 2.0 + NARROWBAND_SLACK)


def detected(found: list[tuple[str, float]], *, language: str | None,
             allowed: tuple[str, ...]) -> tuple[str, tuple[tuple[str, float], ...]]:
    """The language of a decode and the ``allowed`` languages' probabilities (:func:`~asr_worker.language.restricted`)
    from whisper's detection ``found`` (every language's, most probable first): ``language`` when the request
    names one, else the most probable allowed one (any, with none allowed)."""
    probabilities = restricted(found, allowed) if allowed else ()
    if language:
        return language, probabilities
    return (probabilities or found)[0][0], probabilities


def encoder_frames(content: int, *, margin: int, step: int = WINDOW_STEP) -> int:
    """Mel frames the encoder sees for ``content`` frames of audio: at least ``margin``
    frames of padding after it, rounded up to ``step``, at most whisper's 30 s."""
    return min(FULL_WINDOW, max(step, -(-(content + margin) // step) * step))


class WhisperDecoder:
    """The model and its decodes, blocking: what a decode thread (or the batch child) calls."""

    def __init__(self, options: WhisperOptions, resolved: ResolvedModel | None = None) -> None:
        """``resolved``: the model :func:`~.whisper_models.resolve_model` found (the batch child is
        handed its parent's); None: resolve ``options.model`` here."""
        try:
            from faster_whisper import WhisperModel
        except ModuleNotFoundError:
            raise ModelError("the whisper engine needs faster-whisper: pip install 'streamscribe[whisper]'") from None
        self.resolved = resolved or resolve_model(options.model, cache_dir=options.model_cache_dir)
        path = self.resolved.path
        self.device = "cpu" if options.device == "auto" else options.device
        self.model = WhisperModel(path, device=self.device, compute_type=options.compute_type,
                                  cpu_threads=options.cpu_threads, num_workers=options.num_workers)
        self._multilingual = self.model.model.is_multilingual
        # The languages it decodes, as whisper's codes (faster-whisper's list; "en" alone for a .en model).
        self.languages: tuple[str, ...] = tuple(self.model.supported_languages)
        self._margins = {final: None if seconds is None else round(seconds * FRAMES_PER_SECOND)
                         for final, seconds in ((True, options.window_margin_sec),
                                                (False, options.partial_window_margin_sec))}
        self._tokenizer = self.model.hf_tokenizer
        self.fallback = FallbackPolicy(beam_size=options.final_beam_size, logprob=options.final_beam_logprob,
                                       compression_ratio=options.final_beam_compression_ratio)
        # The loop test's length cap is the decode's own (see _decode_windows).
        self._guard = LoopGuard(self._decode, tokenize=self.tokenize, detokenize=self.detokenize,
                                options=GuardOptions(limits=LoopLimits(tokens_per_sec=TOKENS_PER_SECOND,
                                                                       token_slack=TOKEN_SLACK)))
        log.info("whisper model %s loaded (%s, %s)", path, self.device, options.compute_type)

    def decode(self, requests: list[DecodeRequest]) -> list[Hypothesis]:
        """Decode what a scheduler thread took: greedily, live finals that look poor again with beam
        search (:mod:`.fallback`), then through the loop guard (:mod:`.loop_guard`: no text on
        non-speech; a looping partial cut, a looping final decoded again in pieces)."""
        return self._guard.apply(requests, self._decode(requests, fallback=True))

    def _falls_back(self, request: DecodeRequest) -> bool:
        """Whether the beam fallback may decode ``request`` again: a live final (recordings' packs
        stay greedy: the batch lane's throughput is measured greedy, and a pack has no one waiting)."""
        return self.fallback.enabled and request.final and not request.batch

    def _decode(self, requests: list[DecodeRequest], *, fallback: bool = False, beam_size: int = 1) -> list[Hypothesis]:
        """Decode ``requests`` as they are (:meth:`decode_scored`, without the scores)."""
        return [hypothesis for hypothesis, _ in self.decode_scored(requests, fallback=fallback, beam_size=beam_size)]

    def decode_scored(self, requests: list[DecodeRequest], *, fallback: bool = False,
                      beam_size: int = 1) -> list[tuple[Hypothesis, Decoded]]:
        """Decode ``requests`` as they are: fitted windows in one batch, those with word
        timings in batches of one window size each (one encode, one decoder loop and one
        alignment pass for all: a recording's packs, taken together by the batch thread); audio
        over 30 s alone. ``beam_size``: greedy (1) or beam search for all; ``fallback``: live
        finals that look poor decoded again with beam search (:mod:`.fallback`). Requests whose
        retry the decode calls for are decoded again with its prompt (:class:`~.base.Retry`).
        Each with whisper's scores of the decode kept (what :mod:`.fallback` reads; the tools that
        record or compare decodes read them here: they are no part of the engine's :class:`Hypothesis`)."""
        results: list[tuple[Hypothesis, Decoded] | None] = [None] * len(requests)
        groups: dict[tuple[bool, int, int], list[int]] = {}
        for index, request in enumerate(requests):
            margin = self._margins[request.final]
            if margin is None or len(request.audio) > FULL_WINDOW * HOP:
                hypothesis, scores = self._decode_long(request, beam_size=beam_size, fallback=fallback)
                retry = request.retry
                if retry is not None and retry.wanted(hypothesis.text):
                    again, again_scores = self._decode_long(replace(request, context=retry.context(request.context)),
                                                            beam_size=beam_size, fallback=fallback)
                    came = retry.judge(hypothesis.text, again.text)
                    if came == "kept":
                        hypothesis, scores = again, again_scores
                    else:
                        hypothesis = replace(hypothesis, retried=again.text)
                    hypothesis = hypothesis.with_step(retry.name, came)
                results[index] = hypothesis, scores
            elif request.word_timestamps:
                # Those of one window size together: a pack decoded with others has the words it
                # has alone (a short live final is not encoded in a pack's 30 s window either).
                key = (True, self._previous_tokens(request), encoder_frames(len(request.audio) // HOP, margin=margin))
                groups.setdefault(key, []).append(index)
            else:
                groups.setdefault((False, self._previous_tokens(request), 0), []).append(index)
        for batched in groups.values():
            for index, decoded in zip(batched, self._decode_windows([requests[i] for i in batched],
                                                                    beam_size=beam_size, fallback=fallback)):
                results[index] = decoded
        done = [decoded for decoded in results if decoded is not None]
        assert len(done) == len(requests)  # every request went one way or the other
        return done

    def _decode_long(self, request: DecodeRequest, *, beam_size: int, fallback: bool) -> tuple[Hypothesis, Decoded]:
        """Audio over one window: faster-whisper's windowed transcription; with ``fallback``, a live
        final that looks poor decoded again with beam search (:mod:`.fallback`)."""
        hypothesis, scores = self._transcribe_windows(request, beam_size=beam_size)
        if fallback and self._falls_back(request) and needs_beam(scores, self.fallback):
            beam, beam_scores = self._transcribe_windows(request, beam_size=self.fallback.beam_size)
            chosen = pick(scores, beam_scores)
            if chosen == "beam":
                hypothesis, scores = beam, beam_scores
            hypothesis = hypothesis.with_step(FALLBACK, chosen)
        return hypothesis, scores

    def _previous_tokens(self, request: DecodeRequest) -> int:
        """Tokens of the request's context in its prompt: CTranslate2 decodes a batch only when
        the start of the transcript is at the same place in every prompt, so only requests with
        as many go together (a recording's packs closed together share their prompt)."""
        if not request.context:
            return 0
        return min(len(self.tokenize(request.context)), self.model.max_length // 2 - 1)

    def _decode_windows(self, requests: list[DecodeRequest], *, beam_size: int = 1,
                        fallback: bool = False) -> list[tuple[Hypothesis, Decoded]]:
        """One decode of each request (greedy, or ``beam_size`` beams), batched, in an encoder
        window fitted to the longest; with ``fallback``, live finals whose decode looks poor decoded
        again with the fallback's beams on the same encoder output, the better scored kept (where
        every final takes beam search, those are decoded with beams alone); then those whose retry the
        decode calls for, again with its prompt on the same encoder output (:class:`~.base.Retry`)."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations

        model = self.model
        features = [model.feature_extractor(r.audio) for r in requests]
        contents = [min(f.shape[-1], len(r.audio) // HOP) for f, r in zip(features, requests)]
        # (`or 0` only for the checker: a request without a margin is decoded window by window.)
        frames = max(encoder_frames(content, margin=self._margins[request.final] or 0)
                     for content, request in zip(contents, requests))
        windows = fitted_windows(features, contents, frames)
        encoded = model.encode(windows)
        languages = [r.language if self._multilingual else "en" for r in requests]
        probabilities: list[tuple[tuple[str, float], ...]] = [()] * len(requests)
        if self._multilingual and any(not language or r.languages for language, r in zip(languages, requests)):
            for index, found in enumerate(model.model.detect_language(encoded)):
                languages[index], probabilities[index] = detected(
                    [(token[2:-2], p) for token, p in found], language=languages[index],  # <|en|>
                    allowed=requests[index].languages)
        tokenizers = [Tokenizer(self._tokenizer, self._multilingual, task="transcribe", language=language)
                      for language in languages]

        def prompt(index: int, context: str) -> tuple[list[int], int]:
            """The request's prompt with ``context`` as its previous text, and how many of its tokens
            are the forced prefix: CTranslate2 scores them 0 and counts them in the length it divides
            by, so they are taken out of the average (a continued final's score is that of the speech
            after the prefix, not diluted by the finals before it)."""
            tokenizer, prefix = tokenizers[index], requests[index].prefix
            previous = tokenizer.encode(" " + context.strip()) if context else []
            tokens = model.get_prompt(tokenizer, previous, without_timestamps=True, prefix=prefix or None)
            return tokens, len(tokens) - len(model.get_prompt(tokenizer, previous, without_timestamps=True)) if prefix else 0

        prompts = {i: prompt(i, r.context) for i, r in enumerate(requests)}
        suppress = get_suppressed_tokens(tokenizers[0], [-1])

        def generate(indices: list[int], beams: int, given: dict[int, tuple[list[int], int]] = prompts,
                     ) -> dict[int, tuple[list[int], float, float]]:
            """Each request's (tokens, average log-probability, no-speech probability) decoded with
            ``beams`` and its prompt of ``given``."""
            if not indices:
                return {}
            rows = encoded if len(indices) == len(requests) else self._rows(encoded, windows, indices)
            # In a batch the longest request's cap holds for all (a recording's packs: all about 28 s).
            max_length = min(model.max_length, max(
                len(given[i][0]) + TOKENS_PER_SECOND * len(requests[i].audio) // SAMPLE_RATE + TOKEN_SLACK
                for i in indices))
            found = model.model.generate(
                rows, [given[i][0] for i in indices], beam_size=beams, max_length=max_length, return_scores=True,
                return_no_speech_prob=True, suppress_blank=True, suppress_tokens=suppress)
            out = {}
            for index, result in zip(indices, found):
                # CTranslate2 returns the forced prefix as part of the output: no join needed.
                tokens = [t for t in result.sequences_ids[0] if t < tokenizers[index].eot]
                forced = given[index][1]
                out[index] = (tokens, result.scores[0] * len(tokens) / (max(0, len(tokens) - forced) + 1),
                              result.no_speech_prob)
            return out

        def scored(index: int, decode: tuple[list[int], float, float]) -> Decoded:
            return Decoded(text=tokenizers[index].decode(decode[0]).strip(), avg_logprob=decode[1],
                           no_speech_prob=decode[2])

        def decode(indices: list[int], given: dict[int, tuple[list[int], int]] = prompts,
                   ) -> tuple[dict[int, tuple[list[int], float, float]], dict[int, str]]:
            """Each request's decode with ``beam_size`` and its prompt of ``given``; with ``fallback``,
            live finals that look poor again with the fallback's beams (and the decode kept of each)."""
            eligible = [i for i in indices if fallback and beam_size == 1 and self._falls_back(requests[i])]
            every = self.fallback.every_final
            decodes = generate([i for i in indices if not (every and i in eligible)], beam_size, given)
            again = eligible if every else [i for i in eligible if needs_beam(scored(i, decodes[i]), self.fallback)]
            fell_back: dict[int, str] = {}
            for index, beam in generate(again, self.fallback.beam_size, given).items():
                chosen = "beam" if every else pick(scored(index, decodes[index]), scored(index, beam))
                fell_back[index] = chosen
                if chosen == "beam":
                    decodes[index] = beam
            return decodes, fell_back

        decodes, fell_back = decode(list(range(len(requests))))
        # Requests whose retry the first decode calls for (a number passage's digits prompt): again
        # with its prompt, the beam fallback included, one by one (CTranslate2 batches only prompts
        # whose previous text is of one length).
        retried: dict[int, str] = {}
        refused: dict[int, str] = {}  # the retry's text where it was not kept
        for index, request in enumerate(requests):
            first, retry = scored(index, decodes[index]).text, request.retry
            if retry is not None and retry.wanted(first):
                again, beamed = decode([index], {index: prompt(index, retry.context(request.context))})
                second = scored(index, again[index]).text
                retried[index] = retry.judge(first, second)
                if retried[index] == "kept":
                    decodes[index] = again[index]
                    fell_back.pop(index, None)
                    fell_back.update(beamed)
                else:
                    refused[index] = second
        sequences = [decodes[i][0] for i in range(len(requests))]
        aligned = self._align(encoded, windows, tokenizers, sequences, contents,
                              [r.word_timestamps for r in requests])
        hypotheses = []
        for index, (tokenizer, language, timed) in enumerate(zip(tokenizers, languages, aligned)):
            tokens, avg_logprob, no_speech_prob = decodes[index]
            text = tokenizer.decode(tokens).strip()
            silent = silence(text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)
            words: tuple[Word, ...] = ()
            if timed is not None:
                merge_punctuations(timed, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
                words = join_split_words((w["word"], w["start"], w["end"], w["probability"]) for w in timed)
            confidence = _confidence(words, [(avg_logprob, len(tokens))])
            hypotheses.append((Hypothesis(text=text, language=language or "", no_speech=silent or not text,
                                          tokens=len(tokens), token_ids=tuple(self.tokenize(text)), words=words,
                                          confidence=confidence, language_probs=probabilities[index],
                                          steps=steps(fell_back.get(index, ""), requests[index].retry,
                                                      retried.get(index, "")),
                                          retried=refused.get(index, "")),
                               Decoded(text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)))
        return hypotheses

    def _align(self, encoded, windows: np.ndarray, tokenizers: list, sequences: list[list[int]],
               contents: list[int], wanted: list[bool]) -> list[list[dict] | None]:
        """faster-whisper's word alignment of each decode that wants word timings and has tokens
        (None for the others): one pass for all that share a start sequence (a language), over
        their rows of the encoder output."""
        aligned: list[list[dict] | None] = [None] * len(sequences)
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, (tokenizer, tokens, want) in enumerate(zip(tokenizers, sequences, wanted)):
            if want and tokens:
                groups.setdefault(tuple(tokenizer.sot_sequence), []).append(index)
        for indices in groups.values():
            rows = encoded if len(indices) == len(sequences) else self._rows(encoded, windows, indices)
            try:
                found = self.model.find_alignment(tokenizers[indices[0]], [sequences[i] for i in indices], rows,
                                                  [contents[i] for i in indices])
            except IndexError:
                # faster-whisper fails a whole pass on one empty alignment ("boolean index did not
                # match": SYSTRAN/faster-whisper#1460); the decodes keep their text: each is aligned
                # alone, and one that fails alone has no word timings.
                found = [self._align_alone(tokenizers[i], sequences[i], self._rows(encoded, windows, [i]), contents[i])
                         for i in indices]
            for index, words in zip(indices, found):
                aligned[index] = words
        return aligned

    def _align_alone(self, tokenizer, tokens: list[int], rows, content: int) -> list[dict] | None:
        try:
            return self.model.find_alignment(tokenizer, [tokens], rows, [content])[0]
        except IndexError:
            log.warning("no word timings for a decode of %d tokens: faster-whisper's alignment failed", len(tokens))
            return None

    def _rows(self, encoded, windows: np.ndarray, indices: list[int]):
        """The encoder output of the windows at ``indices`` (on a GPU: encoded again)."""
        import ctranslate2

        if self.device == "cpu":
            return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[indices]))
        return self.model.encode(windows[indices])

    def _transcribe_windows(self, request: DecodeRequest, *, beam_size: int = 1) -> tuple[Hypothesis, Decoded]:
        """faster-whisper's transcription in 30 s windows (audio longer than one window), and whisper's
        scores of it for :mod:`.fallback` (a decode without segments counts as sure)."""
        language = request.language if self._multilingual else "en"
        probabilities: tuple[tuple[str, float], ...] = ()
        if self._multilingual and request.languages:  # detected on the first window, as transcribe() would
            language, probabilities = detected(self.model.detect_language(request.audio)[2], language=language,
                                               allowed=request.languages)
        segments, info = self.model.transcribe(
            request.audio, language=language, beam_size=beam_size, vad_filter=False,
            # With word timings, faster-whisper seeks to the last word's end unless the model
            # closes the window with a timestamp token, and decodes the trailing silence again
            # (hallucinated words): timestamp tokens stay on when words are asked for.
            condition_on_previous_text=False, without_timestamps=not request.word_timestamps,
            word_timestamps=request.word_timestamps,
            initial_prompt=request.context or None, prefix=request.prefix or None,
        )
        segments = list(segments)
        timed = words_of(segments)
        words = " ".join(s.text.strip() for s in segments).strip()
        silent = bool(segments) and all(
            silence(s.text, avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob) for s in segments)
        # CTranslate2 returns the forced prefix as part of the output: no join needed.
        text = words
        token_ids = self.tokenize(text)
        scored = [(s.avg_logprob, len(s.tokens)) for s in segments]
        confidence = _confidence(timed, scored)
        weights = sum(n + 1 for _, n in scored)
        hypothesis = Hypothesis(text=text, language=info.language or "", no_speech=silent or not text,
                                tokens=sum(len(s.tokens) for s in segments), token_ids=tuple(token_ids),
                                words=timed, confidence=confidence, language_probs=probabilities)
        scores = Decoded(text=text, avg_logprob=sum(lp * (n + 1) for lp, n in scored) / weights if weights else 0.0,
                         no_speech_prob=min((s.no_speech_prob for s in segments), default=0.0) or 0.0)
        return hypothesis, scores

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids if text else []

    def detokenize(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(token_ids).strip()


class WhisperEngine(Engine):
    name = "whisper"
    times_words = True
    continues_prefix = True

    def __init__(self, options: WhisperOptions) -> None:
        decoder = WhisperDecoder(options)
        self.decoder: WhisperDecoder | None = decoder  # None once closed
        self.resolved = decoder.resolved
        self.model_name = decoder.resolved.name
        self.languages: tuple[str, ...] = decoder.languages
        self._options = options
        self._batch_child: ProcessPoolExecutor | None = None
        self._lifeline: multiprocessing.connection.Connection | None = None  # the write end of the batch child's lifeline (see _start_batch_child)
        self._child_lock = threading.Lock()  # the child is made once, never after close
        self._child_gone = threading.Event()  # ends the thread that started the child (see _start_child)
        self.batch_child_pid: int | None = None  # once it has started
        in_child = self._in_child = options.batch_process and self.decoder.device == "cpu"
        run_batch = self._decode_in_child if in_child else None
        # Stops the child while live decodes are queued or running (None: nice alone).
        self.pauser = ChildPauser(min_run=options.batch_pause_min_run_sec, period=options.batch_pause_period_sec,
                                  resume_after=options.batch_pause_resume_after_sec) \
            if in_child and options.batch_pause else None
        # Finals go ahead of queued partials, first words (longest-waiting utterance first: its audio
        # so far, which came at real time) ahead of next partials; those that waited too long are
        # dropped; recordings have a thread of their own.
        self._scheduler = DecodeScheduler(self.decoder.decode, workers=options.num_workers,
                                          max_batch=options.max_batch, run_batch=run_batch, name="whisper",
                                          batch_max_batch=options.batch_max_batch,
                                          on_live=self.pauser.live if self.pauser else None,
                                          on_live_kinds=PAUSE_KINDS[options.batch_pause_for],
                                          waited=lambda request: len(request.audio) / SAMPLE_RATE,
                                          final_grace=options.first_words_grace_sec)
        self._queued: dict[str, Future] = {}  # decodes submitted to the scheduler, by request id
        self._closed = False

    async def start(self) -> None:
        if self._in_child and self._options.batch_child_at_start:
            await asyncio.to_thread(self._start_child, at_start=True)

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        if request.language is not None:
            # Whisper takes codes: es-MX asks for es. A language the model lacks is refused, never
            # decoded as another (an English-only model would write Spanish as English words): the
            # ASR stage refuses such a session first; this guards the callers that bypass it (bench/).
            code = language_code(request.language)
            if code not in self.languages:
                raise ModelError(f"language {request.language!r} is not one the loaded model ({self.model_name}) "
                                 f"recognises")
            request = replace(request, language=code)
        future = self._scheduler.submit(request, final=request.final, first_words=request.first_words,
                                        batch=request.batch)
        self._queued[request.request_id] = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if self._queued.get(request.request_id) is future:
                del self._queued[request.request_id]

    async def abort(self, request_id: str) -> None:
        """Drop a decode that waits for a thread (its :meth:`transcribe` raises ``CancelledError``);
        one already running cannot be stopped and finishes normally."""
        future = self._queued.get(request_id)
        if future is not None:
            future.cancel()

    def _decode_in_child(self, requests: list[DecodeRequest]) -> list[Hypothesis]:
        """Decode a recording's requests in the nice-19 child (started here unless :meth:`start` did; on
        the scheduler's one batch thread, so never twice at once)."""
        child = self._batch_child or self._start_child()
        return child.submit(_decode_in_batch_child, requests).result()

    def _start_child(self, *, at_start: bool = False) -> ProcessPoolExecutor:
        """Start the batch child and wait for its model; hand its pid to the pauser. ``at_start``: before
        the worker serves, so the child loads its model before it takes its low priority.

        The process is spawned by a thread of its own that lives until the child is gone:
        ``PR_SET_PDEATHSIG`` (see :func:`_start_batch_child`) fires when the *thread* that
        started the child ends, not only when this process does.
        """
        with self._child_lock:
            if self._closed:
                raise RuntimeError("the whisper engine is closed")
            options = replace(self._options, cpu_threads=self._options.batch_cpu_threads, num_workers=1)
            # spawn: a fork would copy this process's threads' locks mid-use (CTranslate2, the loop).
            context = multiprocessing.get_context("spawn")
            lifeline, self._lifeline = context.Pipe(duplex=False)
            executor = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_batch_child,
                                           initargs=(options, self.resolved, lifeline, os.getpid(), at_start))
            self._batch_child = executor
            spawned: Future = Future()

            def spawn() -> None:
                try:
                    spawned.set_result(executor.submit(os.getpid))  # the pool starts its process here
                except BaseException as exc:  # handed to the batch thread
                    spawned.set_exception(exc)
                    return
                self._child_gone.wait()

            threading.Thread(target=spawn, name="whisper-batch-child", daemon=True).start()
        pid = self.batch_child_pid = spawned.result().result()  # once the child has loaded its model
        lifeline.close()  # the child's end: the child holds it now
        if self.pauser is not None:
            self.pauser.attach(pid)
        log.info("whisper batch child %s started (nice %s, pause %s)", pid, options.batch_nice,
                 "on" if self.pauser else "off")
        return executor

    def collectors(self) -> list:
        """Prometheus collectors of the partials dropped as stale and of the batch child's pauses
        (none of those where it is not paused)."""
        return [StaleCollector(self._scheduler), *([_PauseCollector(self.pauser)] if self.pauser is not None else [])]

    def tokenize(self, text: str) -> list[int]:
        assert self.decoder is not None, "the engine is closed"
        return self.decoder.tokenize(text)

    def detokenize(self, token_ids: list[int]) -> str:
        assert self.decoder is not None, "the engine is closed"
        return self.decoder.detokenize(token_ids)

    async def close(self) -> None:
        if not self._closed:
            with self._child_lock:
                self._closed = True  # no child is started after this
            self._scheduler.close()
            if self.pauser is not None:
                self.pauser.close()  # continued for good: a stopped child would never read the pool's exit
            if self._batch_child is not None:
                # Its decode in progress ends the batch thread's wait with an error.
                await asyncio.to_thread(self._batch_child.shutdown, wait=True, cancel_futures=True)
                assert self._lifeline is not None  # made with the child
                self._lifeline.close()
                self._child_gone.set()
            # Let the decode threads finish before the model goes: a CTranslate2 model torn down at
            # interpreter exit under a running thread aborts the process ("terminate called").
            if not await asyncio.to_thread(self._scheduler.join, CLOSE_TIMEOUT):
                log.warning("a whisper decode still running %.0f s after close", CLOSE_TIMEOUT)
                return
            self.decoder = None


class _PauseCollector:
    """``streamscribe_asr_batch_child_*``: the pauses of the batch child (counters, base units)."""

    def __init__(self, pauser: ChildPauser) -> None:
        self._pauser = pauser

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        paused, pauses, shares = self._pauser.stats()
        p = "streamscribe_asr_batch_child_"
        yield CounterMetricFamily(p + "paused_seconds", "Seconds the batch child (recordings' decodes) was "
                                  "stopped while live decodes (--batch-pause-for) were queued or running.", value=paused)
        yield CounterMetricFamily(p + "pauses", "Times the batch child was stopped for live decodes.", value=pauses)
        yield CounterMetricFamily(p + "share_runs", "Runs of --batch-pause-min-run-sec the batch child was "
                                  "given under sustained live load.", value=shares)

    def describe(self):
        return list(self.collect())


# The batch child's decoder: a process pool's initializer can hand its worker state only this way.
_batch_decoder: WhisperDecoder | None = None


def _start_batch_child(options: WhisperOptions, resolved: ResolvedModel, lifeline, parent: int,
                       load_first: bool) -> None:
    """In the child: an end with the parent, the model, the lowest CPU priority (``batch_nice``).

    ``load_first`` (a child started with the worker, before it serves): the model loads at the
    parent's priority, then the child takes its own. Loaded at nice 19, the load waited for
    whatever else the host ran: on a busy 2-core box the worker said ready 40-70 s after its own
    model, the child's threads on the run queue for all but about a second of it
    (``bench.service_start --busy``). Started at a first recording, beside live calls, it loads
    at its own priority.

    Where the kernel groups processes by session for scheduling (autogroup, the default
    on desktop and many server kernels outside containers), a nice value ranks a process
    only within its session: the child then takes a session of its own and gives that
    group the lowest priority, so it yields to the VAD and the gateway too, not only to
    the live decodes of its parent. In a container's cgroup the nice value does it.

    A pool's worker outlives a parent killed with SIGKILL (it holds both ends of its own
    task queue); ``lifeline`` is the read end of a pipe only the parent writes to, so a
    thread reading it sees the end of file when the parent is gone, however it went. A child
    the parent has stopped (``--batch-pause``) runs no thread, and in a session of its own
    it gets no ``SIGHUP``/``SIGCONT`` from the kernel when it is orphaned (that goes only to
    process groups of the parent's session): the kernel's parent-death signal, ``SIGKILL``,
    ends it stopped or not (``parent`` is the pid it must have, or the parent died first).
    """
    global _batch_decoder
    _die_with_parent(parent)
    os.setsid()
    threading.Thread(target=_exit_with_parent, args=(lifeline,), name="lifeline", daemon=True).start()
    if load_first:
        _batch_decoder = WhisperDecoder(options, resolved)
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(options.batch_nice))
    except OSError:
        pass  # no autogroups here (another system, or a container's cgroup): the nice value does it
    os.nice(options.batch_nice)
    if not load_first:
        _batch_decoder = WhisperDecoder(options, resolved)


def _die_with_parent(parent: int) -> None:
    """Ask Linux for ``SIGKILL`` when the parent ends; exit now if it already has."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the lifeline alone
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(0)


def _exit_with_parent(lifeline) -> None:
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(0)


def _decode_in_batch_child(requests: list[DecodeRequest]) -> list[Hypothesis]:
    assert _batch_decoder is not None  # made by the child's initializer
    return _batch_decoder.decode(requests)


def steps(fell_back: str, retry: Retry | None, retried: str) -> tuple[tuple[str, str], ...]:
    """:attr:`Hypothesis.steps` of a decode: the beam fallback's outcome, then the retry's."""
    done = ((FALLBACK, fell_back), (retry.name if retry is not None else "", retried))
    return tuple((step, outcome) for step, outcome in done if outcome)


def words_of(segments: list) -> tuple[Word, ...]:
    """faster-whisper's words of its segments, words its alignment split joined back."""
    return join_split_words((w.word, w.start, w.end, w.probability) for s in segments for w in s.words or ())


# A piece that whisper's alignment starts a word with where the text has none: a written number's
# separator and digits after a digit (",111"), an apostrophe and letters after a letter ("'clock").
_NUMBER_PIECE = re.compile(r"^[,.:/]\d")
_WORD_PIECE = re.compile(r"^'[^\W\d_]")


def join_split_words(aligned) -> tuple[Word, ...]:
    """Words from (text, start, end, probability), with the words whisper's alignment split joined
    back, so that the words say what the text says: hyphenated words (``cold`` ``-hearted``) and
    written numbers (``4`` ``,111`` ``,111`` for ``4,111,111``; ``05`` ``/27``, ``3`` ``:30``,
    ``$25`` ``.50``) and words with an apostrophe (``o`` ``'clock``): its word splitting starts a
    new word at each punctuation token."""
    words: list[Word] = []
    for raw, start, end, probability in aligned:
        text = raw.strip()
        if not text:
            continue
        tail = words[-1].text[-1:] if words else ""
        piece = bool(_NUMBER_PIECE.match(text)) and tail.isdigit() or bool(_WORD_PIECE.match(text)) and tail.isalpha()
        if words and (text.startswith("-") or piece) and not raw[:1].isspace():
            last = words[-1]
            words[-1] = Word(text=last.text + text, start=last.start, end=max(last.end, float(end)),
                             probability=(last.probability + float(probability)) / 2)
        else:
            words.append(Word(text=text, start=float(start), end=float(end), probability=float(probability)))
    return tuple(words)


def _confidence(words: tuple[Word, ...], decoded: list[tuple[float, int]]) -> float | None:
    """Mean word probability, or without words the geometric mean token probability of the
    ``decoded`` pieces, each (average log-probability, tokens)."""
    if words:
        return sum(w.probability for w in words) / len(words)
    # An average log-probability is the summed token log-probability over (its tokens + end of text).
    counts = [tokens + 1 for _, tokens in decoded]
    if not decoded:
        return None
    return math.exp(sum(logprob * n for (logprob, _), n in zip(decoded, counts)) / sum(counts))


OPTIONS = WhisperOptions


def load(options: WhisperOptions) -> Engine:
    return WhisperEngine(options)

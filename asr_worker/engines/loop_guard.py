"""The whisper engine's guard: no repetition loop, and no text on non-speech, leaves the engine.

Every decode's result goes through :meth:`LoopGuard.apply` (:mod:`.repetition` finds the loops).
Text with no word in it, or what whisper itself calls silence, never becomes a final. A looping
partial is cut after the loop's first n-gram: the next partial decodes the audio again, and its
tokens must not carry the loop forward as a prefix. A looping final is decoded again in pieces cut
at quiet points and joined; a piece that still loops is cut and the final flagged ``truncated``
with the span in ``lost``. A loop of a phrase whose copies differ in tokens (case, accents, marks)
is cut after its first copy's words. The outcome is the hypothesis's step :data:`STEP`. Why pieces
and not faster-whisper's beam or temperature fallback: a loop that starts in a card number eats
every sentence after it, beams and sampling over the whole audio did not bring those back, and a
short window holds too few repeats to lose its place in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from common.records import SAMPLE_RATE

from .base import DecodeRequest, Hypothesis, Word
from .repetition import Loop, LoopLimits, cut_loop, cut_text, cut_words, find_loop, non_speech

STEP = "loop"  # the name of the guard's outcome in Hypothesis.steps: RECOVERED or TRUNCATED
RECOVERED = "recovered"
TRUNCATED = "truncated"

FRAME = SAMPLE_RATE // 100  # 10 ms: energy frames of the splitter
SMOOTH = 10  # frames averaged: the quietest 100 ms, a pause rather than a stop consonant


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardOptions:
    limits: LoopLimits = LoopLimits()
    piece_sec: float = 6.0  # longest piece a looping final is decoded again in
    min_piece_sec: float = 2.0  # a looping piece shorter than twice this is cut, not split again


def quiet_cuts(audio: np.ndarray, *, max_samples: int) -> list[int]:
    """Boundaries (sample indices, 0 and ``len(audio)`` included) of pieces of at most
    ``max_samples``: each cut at the quietest 100 ms of the second half of its piece's span."""
    count = len(audio)
    cuts = [0]
    if count <= max_samples:
        return [0, count]
    frames = count // FRAME
    energy = (np.asarray(audio[:frames * FRAME], np.float64).reshape(frames, FRAME) ** 2).mean(axis=1)
    smooth = np.convolve(energy, np.ones(SMOOTH) / SMOOTH, mode="same")
    while count - cuts[-1] > max_samples:
        low = (cuts[-1] + max_samples // 2) // FRAME
        high = max(low + 1, (cuts[-1] + max_samples) // FRAME)
        cuts.append(int(low + np.argmin(smooth[low:high])) * FRAME + FRAME // 2)
    return cuts + [count]


class LoopGuard:
    """Checks decodes and decodes looping finals again in pieces (see the module's docstring).

    ``decode`` decodes requests without the guard (blocking: the guard runs on the engine's
    decode thread, or in its batch child); ``tokenize``/``detokenize`` are the engine's.
    """

    def __init__(self, decode: Callable[[list[DecodeRequest]], list[Hypothesis]], *,
                 tokenize: Callable[[str], list[int]], detokenize: Callable[[list[int]], str],
                 options: GuardOptions = GuardOptions(),
                 split: Callable[..., list[int]] = quiet_cuts) -> None:
        self._decode = decode
        self._tokenize = tokenize
        self._detokenize = detokenize
        self.options = options
        self._split = split

    def apply(self, requests: Sequence[DecodeRequest], hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
        """``hypotheses`` (of ``requests``, in order) with non-speech marked and loops cut or decoded again."""
        return self._apply(requests, hypotheses, paused=[request.final for request in requests])

    def _apply(self, requests: Sequence[DecodeRequest], hypotheses: Sequence[Hypothesis], *,
               paused: Sequence[bool]) -> list[Hypothesis]:
        """:meth:`apply`; ``paused`` says of each request whether its audio ends where the speaker
        paused (a final's), not at one of the guard's own cuts (a piece before the last): only there
        may a decode not end inside a run (the ``tail`` test of :func:`.repetition.find_loop`)."""
        results = list(hypotheses)
        again: dict[int, list[int]] = {}  # index -> piece boundaries
        for index, (request, hypothesis) in enumerate(zip(requests, hypotheses)):
            if hypothesis.no_speech or non_speech(hypothesis.text):
                results[index] = replace(hypothesis, no_speech=True)
                continue
            seconds = len(request.audio) / SAMPLE_RATE
            loop = find_loop(hypothesis.text, hypothesis.token_ids, seconds, final=paused[index],
                             limits=self.options.limits)
            if loop is None:
                continue
            if request.final and seconds >= 2 * self.options.min_piece_sec:
                piece = max(self.options.min_piece_sec, min(self.options.piece_sec, seconds / 2))
                again[index] = self._split(request.audio, max_samples=round(piece * SAMPLE_RATE))
            else:
                results[index] = self._cut(hypothesis, loop, seconds)
        if again:
            # The pieces keep the language the whole was decoded in (each alone could detect another).
            pieces = [replace(requests[index], audio=requests[index].audio[start:end],
                              prefix=requests[index].prefix if start == 0 else "",
                              language=requests[index].language or results[index].language or None)
                      for index, cuts in again.items() for start, end in zip(cuts, cuts[1:])]
            ends = [paused[index] and end == cuts[-1] for index, cuts in again.items() for end in cuts[1:]]
            decoded = iter(self._apply(pieces, self._decode(pieces), paused=ends))
            for index, cuts in again.items():
                parts = [(start / SAMPLE_RATE, next(decoded)) for start in cuts[:-1]]
                results[index] = replace(self._join(parts), language_probs=results[index].language_probs)
        return results

    def _cut(self, hypothesis: Hypothesis, loop: Loop, seconds: float) -> Hypothesis:
        """``hypothesis`` cut after the first occurrence of its loop's n-gram, flagged."""
        kept = cut_text(hypothesis.text, loop)
        if kept is not None:  # a phrase's copies differ in tokens: cut by its words, tokenized again
            text, token_ids = kept, self._tokenize(kept)
        else:
            token_ids = cut_loop(hypothesis.token_ids, loop)
            text = self._detokenize(token_ids) if len(token_ids) < len(hypothesis.token_ids) else hypothesis.text
        if non_speech(text):  # nothing but the loop's punctuation is left
            text, token_ids = "", []
        words = cut_words(hypothesis.words, text)
        lost_from = words[-1].end if words else 0.0
        return replace(hypothesis, text=text, token_ids=tuple(token_ids), tokens=len(token_ids), words=words,
                       no_speech=not text, lost=((min(lost_from, seconds), seconds),)).with_step(STEP, TRUNCATED)

    def _join(self, parts: list[tuple[float, Hypothesis]]) -> Hypothesis:
        """One hypothesis of pieces decoded apart, each (its start in seconds, its hypothesis)."""
        spoken = [(offset, h) for offset, h in parts if not h.no_speech and h.text]
        text = " ".join(h.text for _, h in spoken)
        words = tuple(Word(text=w.text, start=w.start + offset, end=w.end + offset, probability=w.probability)
                      for offset, h in spoken for w in h.words)
        lost = tuple((start + offset, end + offset) for offset, h in parts for start, end in h.lost)
        tokens = sum(h.tokens for _, h in spoken)
        confidence: float | None = None
        if words:
            confidence = sum(w.probability for w in words) / len(words)
        else:  # token-weighted geometric mean, as the engine's figure without words
            weighted = [(h.confidence, h.tokens + 1) for _, h in spoken if h.confidence]
            if weighted:
                confidence = math.exp(sum(math.log(c) * n for c, n in weighted) / sum(n for _, n in weighted))
        language = next((h.language for _, h in parts if h.language), "")
        return Hypothesis(text=text, language=language, no_speech=not text, tokens=tokens,
                          token_ids=tuple(self._tokenize(text)), words=words, confidence=confidence,
                          lost=lost, steps=((STEP, TRUNCATED if lost else RECOVERED),))

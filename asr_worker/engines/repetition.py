"""Whisper's repetition loops and non-speech text, told from a decode's output alone (pure).

A decoder that loses its place repeats itself ("4-1-1-1-1-...") and drops everything said after
the loop's start. :func:`find_loop` says whether a decode looped and where, by any of four tests:
``compression`` (zlib ratio over 2.4, as whisper's own threshold; short texts are left to the next
test), ``repeats`` (one n-gram repeated faster than speech allows), ``tail`` (a final that ends
unfinished inside a run of a short unit: a caller's pause ends a sentence or a number, a looping
decoder does not) and ``length`` (more tokens or words than the audio holds). :func:`cut_loop`
and :func:`cut_words` keep what came before the loop; :func:`non_speech` tells text with no word
in it, what whisper writes for noise.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Word

SENTENCE_ENDS = ".?!。？！"  # marks that end a sentence in whisper's text (ASCII and full-width)

# faster-whisper's transcribe() defaults (and Whisper's).
COMPRESSION_RATIO_THRESHOLD = 2.4
MAX_UNIT = 12  # tokens in the longest repeated n-gram looked for


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopLimits:
    """What a decode may hold before it counts as a loop (see the module's docstring)."""

    compression_ratio: float = COMPRESSION_RATIO_THRESHOLD
    compression_min_bytes: int = 50
    repeats_per_sec: float = 3.0
    min_repeats: int = 5
    max_unit: int = MAX_UNIT  # tokens in the longest n-gram looked for
    tokens_per_sec: float = 10.0
    token_slack: int = 20
    words_per_sec: float = 6.0
    word_slack: int = 4
    tail_repeats: int = 6  # copies of a short unit a final may not end inside
    tail_max_unit: int = 4  # tokens in the longest such unit ("0", "-", "1", "-")


@dataclass(frozen=True, slots=True)
class Run:
    """``repeats`` back-to-back copies of the ``unit`` tokens at ``tokens[start:start + unit]``."""

    start: int
    unit: int
    repeats: int

    @property
    def end(self) -> int:
        return self.start + self.unit * self.repeats


@dataclass(frozen=True, slots=True)
class Loop:
    """Why a decode counts as a loop, and its longest repeated run (None if it has none)."""

    reason: str  # compression, repeats, tail or length
    run: Run | None


def compression_ratio(text: str) -> float:
    """UTF-8 bytes of ``text`` over those of its zlib compression, as faster-whisper computes it."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def longest_run(tokens: Sequence[int], *, max_unit: int = MAX_UNIT) -> Run | None:
    """The run of one n-gram repeated back to back (at least twice) that covers the most tokens;
    of equal ones the earliest, then the shortest unit. None if no n-gram repeats."""
    best: Run | None = None
    count = len(tokens)
    for unit in range(1, min(max_unit, count // 2) + 1):
        # tokens[j] == tokens[j + unit] along a stretch: the n-gram at its start repeats over it.
        j = 0
        while j + unit < count:
            if tokens[j] != tokens[j + unit]:
                j += 1
                continue
            start = j
            while j + unit < count and tokens[j] == tokens[j + unit]:
                j += 1
            repeats = (j - start + unit) // unit
            if repeats >= 2:
                run = Run(start, unit, repeats)
                if best is None or _better(run, best):
                    best = run
    return best


def tail_run(tokens: Sequence[int], *, max_unit: int = MAX_UNIT) -> Run | None:
    """The run of one n-gram repeated back to back (at least twice) that ends ``tokens``,
    in whatever phase it stops (``... 0 - 1 - 0 - 1 -`` or ``... 0 - 1 - 0``); of the units
    up to ``max_unit`` tokens, the one whose run covers the most tokens, then the shortest.
    None if the tokens do not end in one."""
    best: Run | None = None
    count = len(tokens)
    for unit in range(1, min(max_unit, count // 2) + 1):
        start = count - unit  # tokens[start:] repeat with period ``unit`` from here on
        while start > 0 and tokens[start - 1] == tokens[start - 1 + unit]:
            start -= 1
        repeats = (count - start) // unit
        if repeats >= 2 and (best is None or repeats * unit > best.repeats * best.unit):
            best = Run(count - repeats * unit, unit, repeats)
    return best


def finished(text: str) -> bool:
    """True when ``text`` ends as a decode that stopped does: a sentence mark (:data:`SENTENCE_ENDS`)
    or an ellipsis. Unlike ``asr_worker.core.ends_sentence``, whisper's trailing off counts: the
    ``tail`` test asks whether the decoder left the run, not whether the speaker ended a sentence."""
    return text.rstrip().endswith((*SENTENCE_ENDS, "…"))


def _better(run: Run, than: Run) -> bool:
    covered, other = run.unit * run.repeats, than.unit * than.repeats
    return covered > other or covered == other and (run.start, run.unit) < (than.start, than.unit)


def find_loop(text: str, tokens: Sequence[int], seconds: float, *, final: bool = False,
              limits: LoopLimits = LoopLimits()) -> Loop | None:
    """Whether the decode of ``seconds`` of audio to ``text`` (``tokens``) looped, and why; None if not.
    ``final``: the audio ended where the speaker paused (a final's), which adds the ``tail`` test."""
    run = longest_run(tokens, max_unit=limits.max_unit)
    if len(text.encode("utf-8")) >= limits.compression_min_bytes and compression_ratio(text) > limits.compression_ratio:
        return Loop("compression", run)
    if run is not None and run.repeats >= limits.min_repeats and run.repeats > limits.repeats_per_sec * seconds:
        return Loop("repeats", run)
    if final and not finished(text):
        tail = tail_run(tokens, max_unit=limits.tail_max_unit)
        if tail is not None and tail.repeats >= limits.tail_repeats:
            return Loop("tail", tail)
    if (len(tokens) >= math.floor(limits.tokens_per_sec * seconds) + limits.token_slack
            or len(text.split()) > limits.words_per_sec * seconds + limits.word_slack):
        return Loop("length", run)
    return None


def cut_loop(tokens: Sequence[int], loop: Loop) -> list[int]:
    """``tokens`` up to the end of the first occurrence of the loop's repeated n-gram; all of them
    when the loop has no run to cut (a ``length`` loop of varied text)."""
    if loop.run is None:
        return list(tokens)
    return list(tokens[:loop.run.start + loop.run.unit])


def cut_words(words: Sequence[Word], text: str) -> tuple[Word, ...]:
    """The leading ``words`` that spell ``text`` (spaces aside), the last one clipped to it: the word
    timings of a decode whose text was cut (:func:`cut_loop`)."""
    left = "".join(text.split())
    kept: list[Word] = []
    for word in words:
        spelled = "".join(word.text.split())
        if not left or not spelled:
            break
        if left.startswith(spelled):
            kept.append(word)
            left = left[len(spelled):]
            continue
        common = 0
        while common < min(len(left), len(spelled)) and left[common] == spelled[common]:
            common += 1
        if common:
            kept.append(Word(text=word.text.strip()[:common], start=word.start, end=word.end,
                             probability=word.probability))
        break
    return tuple(kept)


def non_speech(text: str) -> bool:
    """True when ``text`` holds no letter or digit: whisper's "." or ". . . ." for noise or music."""
    return not any(character.isalnum() for character in text)

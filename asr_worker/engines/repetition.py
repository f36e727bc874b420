"""Whisper's repetition loops and non-speech text, told from a decode's output alone (pure).

A decoder that loses its place repeats itself ("4-1-1-1-1-...") and drops everything said after
the loop's start. :func:`find_loop` says whether a decode looped and where, by any of six tests:
``compression`` (zlib ratio over 2.4, as whisper's own threshold; short texts are left to the next
test), ``repeats`` (one n-gram repeated faster than speech allows), ``tail`` (a final that ends
unfinished inside a run of a short unit: a caller's pause ends a sentence or a number, a looping
decoder does not), ``phrase`` (a phrase of a few words three times back to back, compared as words:
whisper's copies of one phrase differ in case, accents and marks, so no token run shows them),
``length`` (more tokens or words than the audio holds) and ``digits`` (one digit more times back
to back than any number a caller reads holds). :func:`cut_loop`, :func:`cut_text` and
:func:`cut_words` keep what came before the loop and its first copy; :func:`non_speech` tells text
with no word in it, what whisper writes for noise.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

from common.contract import ADJACENT_REPEAT_WORDS

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
    # A phrase of this many words or more, said this many times back to back, is a loop: callers
    # repeat a word ("no, no, no"), two ("thank you, thank you, thank you") or a phrase twice, hardly
    # a phrase three times; base looped an 8-word Spanish phrase three times in 5 s of audio.
    phrase_min_words: int = 3
    phrase_max_words: int = 12
    phrase_repeats: int = 3
    # A phrase this long said twice back to back is a loop as well: the transcript contract's own
    # rule (natural speech hardly repeats five words back to back). Base, under load, wrote a
    # 7-word Spanish phrase twice and began a third copy (the contract soak, 2026-11-25).
    phrase_twice_min_words: int = ADJACENT_REPEAT_WORDS
    # One digit this many times back to back (spaces and hyphens between them ignored) is a loop: no
    # number a caller reads holds more ("4111 1111 1111 1111" has 15 ones). Slow enough for the tests
    # above: tiny.en wrote a 12 s card read as "My card number is 41-1-1-...-1." with 28 ones (CI).
    digit_run: int = 17


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

    reason: str  # compression, repeats, tail, phrase, length or digits
    run: Run | None
    # Characters of the text a cut keeps: up to the end of a repeated phrase's first copy (its
    # sentence mark kept). None: the loop is cut by its token run (:func:`cut_loop`).
    keep: int | None = None


def compression_ratio(text: str) -> float:
    """UTF-8 bytes of ``text`` over those of its zlib compression, as faster-whisper computes it."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def longest_run(tokens: Sequence[int], *, max_unit: int = MAX_UNIT) -> Run | None:
    """The run of one n-gram repeated back to back (at least twice) that covers the most tokens;
    of equal ones the earliest, then the shortest unit. None if no n-gram repeats."""
    best: Run | None = None
    for unit in range(1, min(max_unit, len(tokens) // 2) + 1):
        for start, repeats in _stretches(tokens, unit):
            if repeats >= 2:
                run = Run(start, unit, repeats)
                if best is None or _better(run, best):
                    best = run
    return best


def _stretches(items: Sequence[Hashable], unit: int) -> Iterator[tuple[int, int]]:
    """Each stretch along which ``items[j] == items[j + unit]``, in order: the ``unit`` items at its
    start repeat over it; (its start, how many copies of them back to back it holds)."""
    count = len(items)
    j = 0
    while j + unit < count:
        if items[j] != items[j + unit]:
            j += 1
            continue
        start = j
        while j + unit < count and items[j] == items[j + unit]:
            j += 1
        yield start, (j - start + unit) // unit


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


_WORD = re.compile(r"\w+(?:['’]\w+)*")


def _plain(word: str) -> str:
    """A word as copies of a phrase are compared: case and accents aside ("Aquí" is "aqui")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def phrase_run(text: str, *, min_words: int, max_words: int, min_repeats: int) -> int | None:
    """Where the first copy of ``text``'s longest run of one phrase (``min_words``..``max_words``
    words, at least ``min_repeats`` copies back to back, compared by :func:`_plain`) ends: the
    character after its last word, and after the sentence marks that follow it. Of runs covering as
    many words, the earliest. None if no phrase repeats so."""
    spans = [(match.end(), _plain(match.group())) for match in _WORD.finditer(text)]
    words = [word for _, word in spans]
    count = len(words)
    best: tuple[int, int, int] | None = None  # (words covered, -start, unit)
    for unit in range(min_words, min(max_words, count // min_repeats) + 1):
        for start, repeats in _stretches(words, unit):
            covered = repeats * unit
            if (repeats >= min_repeats and (best is None or (covered, -start) > best[:2])
                    and _a_phrase(words[start:start + unit])):
                best = (covered, -start, unit)
    if best is None:
        return None
    end = spans[-best[1] + best[2] - 1][0]
    while end < len(text) and text[end] in SENTENCE_ENDS + "…":
        end += 1
    return end


def _a_phrase(unit: list[str]) -> bool:
    """Whether ``unit`` is a phrase of its own: not a shorter unit again ("1 1 1", "4 2 4 2": the
    other tests judge those) and not digits alone (numbers read out repeat: the other tests')."""
    size = len(unit)
    if all(word.isdigit() for word in unit):
        return False
    return not any(size % part == 0 and unit == unit[:part] * (size // part) for part in range(1, size))


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
    phrase = phrase_run(text, min_words=limits.phrase_min_words, max_words=limits.phrase_max_words,
                        min_repeats=limits.phrase_repeats)
    if phrase is None and limits.phrase_twice_min_words <= limits.phrase_max_words:
        phrase = phrase_run(text, min_words=limits.phrase_twice_min_words, max_words=limits.phrase_max_words,
                            min_repeats=2)
    # Where a loop with no token run is cut: after a phrase said twice, if it has one.
    keep = phrase if phrase is not None or run is not None else phrase_run(
        text, min_words=limits.phrase_min_words, max_words=limits.phrase_max_words, min_repeats=2)
    if len(text.encode("utf-8")) >= limits.compression_min_bytes and compression_ratio(text) > limits.compression_ratio:
        return Loop("compression", run, keep)
    if run is not None and run.repeats >= limits.min_repeats and run.repeats > limits.repeats_per_sec * seconds:
        return Loop("repeats", run, keep)
    if final and not finished(text):
        tail = tail_run(tokens, max_unit=limits.tail_max_unit)
        if tail is not None and tail.repeats >= limits.tail_repeats:
            return Loop("tail", tail, keep)
    if phrase is not None:
        return Loop("phrase", run, phrase)
    if same_digit_run(text) >= limits.digit_run:
        return Loop("digits", run, keep)
    if (len(tokens) >= math.floor(limits.tokens_per_sec * seconds) + limits.token_slack
            or len(text.split()) > limits.words_per_sec * seconds + limits.word_slack):
        return Loop("length", run, keep)
    return None


_SAME_DIGITS = re.compile(r"(\d)(?:[\s\-]*\1)+")


def same_digit_run(text: str) -> int:
    """The most times one digit is written back to back in ``text``, with spaces or hyphens between
    them or none ("1-1-1", "1111 1111"); not across commas, which whisper writes in a number it
    groups by thousands ("4,111,111,111,111,111,111" for a card read: no loop)."""
    return max((sum(ch.isdigit() for ch in m.group()) for m in _SAME_DIGITS.finditer(text)), default=0)


def cut_loop(tokens: Sequence[int], loop: Loop) -> list[int]:
    """``tokens`` up to the end of the first occurrence of the loop's repeated n-gram; all of them
    when the loop has no run to cut (a ``length`` loop of varied text)."""
    if loop.run is None:
        return list(tokens)
    return list(tokens[:loop.run.start + loop.run.unit])


def cut_text(text: str, loop: Loop) -> str | None:
    """``text`` up to the end of the first copy of the loop's repeated phrase; None when the loop is
    cut by its tokens (:func:`cut_loop`)."""
    return None if loop.keep is None else text[:loop.keep].strip()


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

"""Packs of a recording's utterances: one whisper window for several ended utterances.

A batch session (a recording) needs no final before the next utterance begins,
so the ASR stage gathers its ended utterances, a short silence between each two,
into a *pack* of up to about 28 s and decodes the pack in one whisper window
with word timings, instead of each utterance alone in a window of its length
plus a margin (about three times the encoder work per second of speech, and
worse words: whisper trained on full 30 s windows). The words are then dealt
back to the utterances by where their midpoint falls in the pack, and an
utterance with a pause in it is split there when the words before the pause end
a sentence, as a live session's sentence endpoint splits it at that pause.

This module is the pure part: the layout of a pack, its audio, dealing the
words out, and the sentence splits. The stage (``asr_worker/recording.py``) does
the rest (when to close a pack, the decode, the commits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .engines import Word

# Languages whisper writes without spaces between words (its word timings split them by
# character runs, as faster-whisper's alignment does for these).
UNSPACED = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


@dataclass(frozen=True, slots=True)
class UtteranceSpan:
    """An ended utterance in a pack: where it starts (session samples), its length in samples,
    and the ends of the pauses inside it (session samples) where a sentence end may split it."""

    start: int
    samples: int
    pauses: tuple[int, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.samples


@dataclass(frozen=True, slots=True)
class Segment:
    """What becomes one final: ``start``..``end`` in session samples, its words in seconds from
    ``start``, and whether a sentence end at a pause ended it (``split``: then the rest of the
    utterance is a segment of its own, starting at ``end``)."""

    start: int
    end: int
    words: tuple[Word, ...]
    split: bool = False

    @property
    def text(self) -> str:
        return join_words(self.words)

    def text_in(self, language: str) -> str:
        """The segment's text, its words joined as ``language`` writes them."""
        return join_words(self.words, language=language)

    @property
    def confidence(self) -> float | None:
        """The mean word probability (the whisper engine's confidence with word timings)."""
        return sum(w.probability for w in self.words) / len(self.words) if self.words else None


def join_words(words: Sequence[Word], *, language: str = "") -> str:
    """The words as text: with spaces between them, except in languages written without."""
    return ("" if language in UNSPACED else " ").join(word.text for word in words)


def pack_length(lengths: Sequence[int], *, gap: int) -> int:
    """Samples of a pack of utterances of ``lengths`` samples, ``gap`` samples between each two."""
    return sum(lengths) + gap * max(0, len(lengths) - 1)


def offsets(lengths: Sequence[int], *, gap: int) -> list[int]:
    """Where each utterance begins in the pack (samples)."""
    found, cursor = [], 0
    for length in lengths:
        found.append(cursor)
        cursor += length + gap
    return found


def pack_audio(chunks: Sequence[np.ndarray], *, gap: int) -> np.ndarray:
    """The utterances' int16 samples as one float32 pack, ``gap`` samples of silence between each two."""
    silence = np.zeros(gap, np.int16)
    parts: list[np.ndarray] = []
    for index, chunk in enumerate(chunks):
        if index:
            parts.append(silence)
        parts.append(chunk)
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return pcm.astype(np.float32) / 32768.0


def deal_words(words: Sequence[Word], lengths: Sequence[int], *, gap: int, rate: int) -> list[list[Word]]:
    """The pack's ``words`` (seconds from the pack's start) dealt to its utterances: each to the
    utterance its midpoint falls in (one in a gap to the nearer utterance, split halfway), its
    times moved to seconds from that utterance's start and kept inside it."""
    starts = offsets(lengths, gap=gap)
    # Utterance i owns the pack from halfway through the gap before it to halfway through the gap after.
    bounds = [start + length + gap / 2 for start, length in zip(starts, lengths)]
    dealt: list[list[Word]] = [[] for _ in lengths]
    if not dealt:
        return dealt
    index = 0
    for word in words:
        middle = (word.start + word.end) / 2 * rate
        while index < len(bounds) - 1 and middle >= bounds[index]:
            index += 1  # words come in order: never back to an earlier utterance
        start, length = starts[index] / rate, lengths[index] / rate
        first = min(max(word.start - start, 0.0), length)
        last = min(max(word.end - start, first), length)
        dealt[index].append(Word(text=word.text, start=first, end=last, probability=word.probability))
    return dealt


def spanned_by_numbers(words: Sequence[Word], lengths: Sequence[int], *, gap: int, rate: int,
                       share: float = 0.5) -> list[bool]:
    """Whether words of the pack that hold a digit (``words`` in seconds from the pack's start, their
    times as the engine gave them, before dealing) overlap at least ``share`` of each utterance.

    A number read in groups, one utterance a group, is sometimes written by the pack as one word
    (``40128888888888881``) timed across the groups' utterances: it is dealt to the one its midpoint
    falls in, and the others get no words although what was spoken there is written. Such an
    utterance is not decoded again alone (its digits would be written twice). Only numbers count:
    whisper's alignment may stretch an ordinary last word over the audio after it, where a dropped
    utterance is still to be recovered."""
    found = []
    for start, length in zip(offsets(lengths, gap=gap), lengths):
        begin, end = start / rate, (start + length) / rate
        overlap = sum(max(0.0, min(w.end, end) - max(w.start, begin)) for w in words
                      if any(c.isdigit() for c in w.text))
        found.append(length > 0 and overlap >= share * (end - begin))
    return found


# A person reads a card number at 2-3 digits a second (the redaction set's voices at most 2.75):
# a final with more digits than this for each second of its own audio holds digits spoken beside it.
MAX_DIGITS_PER_SEC = 4.0


def beside_surplus(dealt: Sequence[Sequence[Word]], lengths: Sequence[int], *, rate: int,
                   per_second: float = MAX_DIGITS_PER_SEC) -> list[bool]:
    """Whether the nearest utterance with words before or after each utterance (in the pack) holds
    more digits than ``per_second`` for each second of its own audio.

    The pack sometimes writes a number read in groups, one utterance a group, in one utterance
    (``4242 4242`` for a "four two four two." of 1.6 s) with times that deal it there whole: the
    utterances beside it with no words were where the rest was spoken (the timing rule,
    :func:`spanned_by_numbers`, does not see it)."""
    over = [sum(c.isdigit() for w in words for c in w.text) > per_second * length / rate
            for words, length in zip(dealt, lengths)]
    found = []
    for index in range(len(dealt)):
        before = next((i for i in range(index - 1, -1, -1) if dealt[i]), None)
        after = next((i for i in range(index + 1, len(dealt)) if dealt[i]), None)
        found.append(any(i is not None and over[i] for i in (before, after)))
    return found


ALONE, SPANNED = "alone", "spanned"


def unworded(dealt: Sequence[Sequence[Word]], lost: Sequence[Sequence[tuple[float, float]]],
             spanned: Sequence[bool]) -> list[str]:
    """What becomes of each utterance of a pack given its words (``dealt``), where the engine cut a
    loop out (``lost``) and whether a number the pack wrote covers it (:func:`spanned_by_numbers`,
    :func:`beside_surplus`):
    "" (its finals as dealt: it has words, or a loop was cut out and its final says so),
    :data:`SPANNED` (no words of its own, but its digits are written in a neighbour's final) or
    :data:`ALONE` (speech the pack wrote nothing of: decode it alone, as a live final is)."""
    return ["" if words or cut else SPANNED if span else ALONE for words, cut, span in zip(dealt, lost, spanned)]


def deal_spans(spans: Sequence[tuple[float, float]], lengths: Sequence[int], *, gap: int,
               rate: int) -> list[list[tuple[float, float]]]:
    """Spans of the pack (seconds from its start: where the engine cut a loop out) dealt to the
    utterances they overlap, clipped to each and moved to seconds from its start."""
    dealt: list[list[tuple[float, float]]] = [[] for _ in lengths]
    for index, (start, length) in enumerate(zip(offsets(lengths, gap=gap), lengths)):
        begin, end = start / rate, (start + length) / rate
        for first, last in spans:
            if first < end and last > begin or first == last and begin <= first <= end:
                dealt[index].append((max(first, begin) - begin, min(last, end) - begin))
    return dealt


def split_at_sentences(piece: UtteranceSpan, words: Sequence[Word], *, rate: int,
                       ends_sentence: Callable[[str], bool]) -> list[Segment]:
    """The finals of one utterance, ``words`` in seconds from its start: split at each pause inside
    it where the words so far (since the last split) end a sentence, as a live session's sentence
    endpoint does; a pause with no words before it since the last split does not split."""
    segments: list[Segment] = []
    start, taken = piece.start, 0
    for pause in sorted(p for p in piece.pauses if piece.start < p < piece.end):
        if pause <= start:
            continue
        cut = (pause - piece.start) / rate
        before = taken
        while before < len(words) and (words[before].start + words[before].end) / 2 < cut:
            before += 1
        if before == taken or not ends_sentence(join_words(words[taken:before])):
            continue
        segments.append(Segment(start, pause, _shift(words[taken:before], (start - piece.start) / rate),
                                split=True))
        start, taken = pause, before
    segments.append(Segment(start, piece.end, _shift(words[taken:], (start - piece.start) / rate)))
    return segments


def _shift(words: Sequence[Word], seconds: float) -> tuple[Word, ...]:
    """``words`` with ``seconds`` taken off their times (not below 0)."""
    return tuple(Word(text=w.text, start=max(0.0, w.start - seconds), end=max(0.0, w.end - seconds),
                      probability=w.probability) for w in words)

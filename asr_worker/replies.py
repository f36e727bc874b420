"""A short reply inside a final: "42. Thanks for calling the store." said by two parties on one channel.

The VAD pauses an utterance at 0.2 s of silence; a reply answered sooner ("Forty two." and the
other party 0.32 s later: Silero's probability holds about 0.1 s past the last word) makes no
pause, and a pause whose decode wrote nothing ("David." opening a call, base) ends no turn. Either
way the reply comes back inside the next sentence's final. A shorter pause cannot tell a reply from
a sentence's first words ("Thanks." then "for contacting the store" was split so, issue 47); the
final's decode can, because it heard both sides: whisper writes a sentence mark after "42" and
none inside "Thanks for contacting". So a final whose text begins or ends with a sentence of at
most :data:`MAX_WORDS` words, where its audio has a gap of silence, is sent as two finals split in
that gap, each with its own words (a reply between two sentences: three, at the gaps around it).
The recogniser may also join a reply to the sentence before it with a comma ("... for nearly an
hour, Sarah."): a last clause of at most :data:`MAX_WORDS` words after a longer one is parted too,
but only at a gap longer than a comma's own pause (:data:`MIN_COMMA_GAP`).
Pure: the same text and audio split the same on a replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from common.records import SAMPLE_RATE

from .span import FRAME, loud_frames

MAX_WORDS = 3  # a reply: "Hi.", "Thank you.", "Forty two.", "Robert Brown."
# Silence that parts two turns, not the closure of a stop consonant inside a word (30-80 ms) nor
# the catch between two words of one breath.
MIN_GAP = int(0.12 * SAMPLE_RATE)
# A reply after a comma: a gap longer than the pause a speaker makes at a comma (0.16-0.24 s by
# level in every voice of the turn set; the replies' gaps are 0.3-0.7 s of silence).
MIN_COMMA_GAP = int(0.28 * SAMPLE_RATE)
MIN_SPEECH = int(0.1 * SAMPLE_RATE)  # each side of the gap holds at least this much speech
# How long a reply of n words may run before its gap: REPLY_BASE + n * REPLY_PER_WORD s.
REPLY_BASE = 0.6
REPLY_PER_WORD = 0.5
# A reply between two sentences is looked for this near where its place among the words puts it:
# MIDDLE_TOLERANCE s and MIDDLE_SHARE of the final's speech (speech rates differ within a final).
MIDDLE_TOLERANCE = 0.6
MIDDLE_SHARE = 0.1
# A full stop that ends no sentence.
ABBREVIATIONS = frozenset("mr mrs ms dr st mt jr sr vs etc prof sgt capt lt col gen rev".split())
# A sentence mark, then a space and a letter (the next sentence's, when it is no lower-case one).
_BOUNDARY = re.compile(r"(?<=[.?!])[\"'”’)\]]*\s+(?=[¿¡\"'“‘(]?[^\W\d_])")
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_LAST_CLAUSE = re.compile(r",\s+(?P<clause>[^,]+)$")


@dataclass(frozen=True, slots=True)
class Part:
    """One final of a decode parted at its replies: its text, and its first sample in the decode's audio."""

    text: str
    at: int


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence mark that a capitalised word follows (not after "Mr.")."""
    parts: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        words = _WORD.findall(text[start:match.start()].lower())
        following = text[match.end():].lstrip("¿¡\"'“‘(")
        if not words or words[-1].rstrip(".") in ABBREVIATIONS or following[:1].islower():
            continue
        parts.append(text[start:match.start()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def gaps(pcm: np.ndarray) -> list[tuple[int, int]]:
    """The runs of silence (by level, as :mod:`.span` judges speech) of at least :data:`MIN_GAP`
    between speech in ``pcm`` (int16), as (first, end) samples."""
    return _gaps(loud_frames(pcm))


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def split_replies(text: str, pcm: np.ndarray) -> list[Part]:
    """The finals that a final of ``text`` decoded from ``pcm`` (int16, the final's audio) is: one, or
    more where a sentence of at most :data:`MAX_WORDS` words at its start, its end or between two
    others is parted from its neighbours by gaps of silence where its words can be."""
    parts = sentences(text)
    loud = loud_frames(pcm)
    found, end = _gaps(loud), len(loud) * FRAME
    cuts = _cuts([word_count(part) for part in parts], found, loud, 0, end)
    if not cuts:  # (one part cuts nothing: _cuts returns at once)
        parts = _comma_reply(text)
        long_gaps = [gap for gap in found if gap[1] - gap[0] >= MIN_COMMA_GAP]
        cuts = _cuts([word_count(part) for part in parts], long_gaps, loud, 0, end)
        if not cuts:
            return [Part(text, 0)]
    firsts, ats = [0, *(k for k, _ in cuts), len(parts)], [0, *(at for _, at in cuts)]
    return [Part(" ".join(parts[firsts[i]:firsts[i + 1]]), at) for i, at in enumerate(ats)]


def _comma_reply(text: str) -> list[str]:
    """``text`` as its words before its last comma (a full stop for the comma) and the short clause
    after it, when that clause is a reply's length and what comes before is longer; else whole."""
    stripped = text.strip()
    match = _LAST_CLAUSE.search(stripped)
    if match is None:
        return [text]
    head, clause = stripped[:match.start()], match.group("clause")
    if not head or not 0 < word_count(clause) <= MAX_WORDS < word_count(sentences(head)[-1]):
        return [text]
    return [f"{head}.", clause]


def _gaps(loud: np.ndarray) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    run = None
    seen_speech = False
    for index, is_loud in enumerate(loud):
        if is_loud:
            if run is not None and seen_speech and (index - run) * FRAME >= MIN_GAP:
                found.append((run * FRAME, index * FRAME))
            run, seen_speech = None, True
        elif run is None:
            run = index
    return found


def _reply_samples(words: int) -> int:
    return int((REPLY_BASE + REPLY_PER_WORD * words) * SAMPLE_RATE)


def _middle(gap: tuple[int, int]) -> int:
    return (gap[0] + gap[1]) // 2


def _cuts(counts: list[int], found: list[tuple[int, int]], loud: np.ndarray, lo: int, hi: int,
          base: int = 0) -> list[tuple[int, int]]:
    """Where to part sentences of ``counts`` words said in samples ``lo``..``hi``: (index of the
    sentence a final starts with, its first sample), in order. A reply at the start is parted at the
    longest gap its words can reach, one at the end likewise, one in between at the two gaps that
    bracket about its words' time (its place among the words, by their count) and its length."""
    if len(counts) < 2:
        return []
    speech = np.flatnonzero(loud[lo // FRAME:hi // FRAME])
    if speech.size == 0:
        return []
    first, last = lo + int(speech[0]) * FRAME, lo + (int(speech[-1]) + 1) * FRAME
    inside = [g for g in found if g[0] - first >= MIN_SPEECH and last - g[1] >= MIN_SPEECH]
    if not inside:
        return []
    n = len(counts)
    if counts[0] <= MAX_WORDS and (near := [g for g in inside if g[0] <= first + _reply_samples(counts[0])]):
        gap = max(near, key=lambda g: g[1] - g[0])
        return [(base + 1, _middle(gap)), *_cuts(counts[1:], found, loud, gap[1], hi, base + 1)]
    if counts[-1] <= MAX_WORDS and (near := [g for g in inside if g[1] >= last - _reply_samples(counts[-1])]):
        gap = max(near, key=lambda g: g[1] - g[0])
        return [*_cuts(counts[:-1], found, loud, lo, gap[0], base), (base + n - 1, _middle(gap))]
    best = None
    total, length = sum(counts), last - first
    tolerance = int(MIDDLE_TOLERANCE * SAMPLE_RATE + MIDDLE_SHARE * length)
    for k in range(1, n - 1):
        if counts[k] > MAX_WORDS:
            continue
        expected = first + length * sum(counts[:k]) // total
        for before, after in zip(inside, inside[1:]):
            said = after[0] - before[1]
            off = abs(before[1] - expected)
            if MIN_SPEECH <= said <= _reply_samples(counts[k]) and off <= tolerance and (best is None or off < best[0]):
                best = (off, k, before, after)
    if best is None:
        return []
    _, k, before, after = best
    return [*_cuts(counts[:k], found, loud, lo, before[0], base), (base + k, _middle(before)),
            (base + k + 1, _middle(after)), *_cuts(counts[k + 1:], found, loud, after[1], hi, base + k + 1)]

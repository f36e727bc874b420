"""A short reply inside a final: "42. Thanks for calling the store." said by two parties on one channel.

The VAD pauses an utterance at 0.2 s of silence; a reply answered sooner ("Forty two." and the
other party 0.32 s later: Silero's probability holds about 0.1 s past the last word) makes no
pause, and a pause whose decode wrote nothing ("David." opening a call, base) ends no turn. Either
way the reply comes back inside the next sentence's final. A shorter pause cannot tell a reply from
a sentence's first words ("Thanks." then "for contacting the store" was split so, issue 47); the
final's decode can, because it heard both sides: whisper writes a sentence mark after "42" and
none inside "Thanks for contacting". So a final whose text begins (or ends) with a sentence of at
most :data:`MAX_WORDS` words, where its audio has a gap of silence, is sent as two finals split in
that gap, each with its own words. Pure: the same text and audio split the same on a replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from common.records import SAMPLE_RATE

from .span import FLOOR, FRAME, LOUD_PERCENTILE, RELATIVE, speech_extent

MAX_WORDS = 3  # a reply: "Hi.", "Thank you.", "Forty two.", "Robert Brown."
# Silence that parts two turns, not the closure of a stop consonant inside a word (30-80 ms) nor
# the catch between two words of one breath.
MIN_GAP = int(0.12 * SAMPLE_RATE)
MIN_SPEECH = int(0.1 * SAMPLE_RATE)  # each side of the gap holds at least this much speech
# How long a reply of n words may run before its gap: REPLY_BASE + n * REPLY_PER_WORD s.
REPLY_BASE = 0.6
REPLY_PER_WORD = 0.5
# A full stop that ends no sentence.
ABBREVIATIONS = frozenset("mr mrs ms dr st mt jr sr vs etc prof sgt capt lt col gen rev".split())
# A sentence mark, then a space and a letter (the next sentence's, when it is no lower-case one).
_BOUNDARY = re.compile(r"(?<=[.?!])[\"'”’)\]]*\s+(?=[¿¡\"'“‘(]?[^\W\d_])")
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class Split:
    """A final's text and audio parted in two: ``before`` said up to sample ``at`` of its audio
    (the middle of the gap), ``after`` from there."""

    before: str
    after: str
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
    count = len(pcm) // FRAME
    if count < 3:
        return []
    frames = pcm[:count * FRAME].astype(np.float32).reshape(count, FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = rms >= max(FLOOR, RELATIVE * float(np.percentile(rms, LOUD_PERCENTILE)))
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


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def split_reply(text: str, pcm: np.ndarray) -> Split | None:
    """Where a final of ``text`` decoded from ``pcm`` (int16, the final's audio) begins or ends with a
    reply of at most :data:`MAX_WORDS` words that a gap of silence parts from the rest: the two
    finals it is (the first reply taken if both ends are one); else None."""
    parts = sentences(text)
    if len(parts) < 2:
        return None
    found = gaps(pcm)
    if not found:
        return None
    extent = speech_extent(pcm)
    if extent is None:
        return None
    first, last = extent
    head = word_count(parts[0])
    if head <= MAX_WORDS:
        limit = first + int((REPLY_BASE + REPLY_PER_WORD * head) * SAMPLE_RATE)
        near = [gap for gap in found if gap[0] - first >= MIN_SPEECH and gap[0] <= limit
                and last - gap[1] >= MIN_SPEECH]
        if near:
            gap = max(near, key=lambda g: g[1] - g[0])
            return Split(parts[0], " ".join(parts[1:]), (gap[0] + gap[1]) // 2)
    tail = word_count(parts[-1])
    if tail <= MAX_WORDS:
        limit = last - int((REPLY_BASE + REPLY_PER_WORD * tail) * SAMPLE_RATE)
        near = [gap for gap in found if last - gap[1] >= MIN_SPEECH and gap[1] >= limit
                and gap[0] - first >= MIN_SPEECH]
        if near:
            gap = max(near, key=lambda g: g[1] - g[0])
            return Split(" ".join(parts[:-1]), parts[-1], (gap[0] + gap[1]) // 2)
    return None


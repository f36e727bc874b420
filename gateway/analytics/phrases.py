"""Phrase spotting in finals: which of a call's phrases were said, by which channel, when, how surely.

Matching is on words, not on characters: a phrase and a final are both cut into
lower-case tokens of letters, digits and inner apostrophes (``"Cancel my
account!"`` -> ``cancel my account``), and a phrase matches a run of the
final's consecutive tokens. A final with word timings times each match by its
words and gives it their mean probability as its confidence; a final without
them times the match by the whole final and gives the final's confidence.
This is spotting in the transcript: a phrase the recogniser misheard is not
found (Deepgram's own ``search`` matches sounds instead; see docs/analytics.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..policy.analytics import normalise_phrase, tokens

@dataclass(frozen=True, slots=True)
class TimedToken:
    text: str
    start_ms: int
    end_ms: int
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PhraseMatch:
    phrase: str
    channel: int
    start_ms: int
    end_ms: int
    confidence: float
    utterance_id: str

    def as_dict(self) -> dict:
        return {"phrase": self.phrase, "channel": self.channel, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "confidence": round(self.confidence, 4), "utterance_id": self.utterance_id}


class PhraseSpotter:
    """Finds a fixed list of phrases in finals; built once per call."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for phrase in phrases:
            key = normalise_phrase(phrase)
            if key:
                self._by_first.setdefault(key[0], []).append((key, phrase))

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def spot(self, timed: Sequence[TimedToken], *, channel: int, utterance_id: str) -> list[PhraseMatch]:
        """Every match of a phrase in the final's tokens, in order (overlapping matches of different phrases too)."""
        found = []
        texts = [token.text for token in timed]
        for index, token in enumerate(texts):
            for key, phrase in self._by_first.get(token, ()):
                end = index + len(key)
                if tuple(texts[index:end]) == key:
                    run = timed[index:end]
                    found.append(PhraseMatch(phrase=phrase, channel=channel, start_ms=run[0].start_ms,
                                             end_ms=run[-1].end_ms,
                                             confidence=sum(t.confidence for t in run) / len(run),
                                             utterance_id=utterance_id))
        return found


def timed_tokens(*, text: str, words: Sequence[tuple[str, int, int, float]], start_ms: int, end_ms: int,
                 confidence: float | None) -> list[TimedToken]:
    """A final's tokens with times: each word's (a word may hold several tokens), else the final's."""
    if words:
        return [TimedToken(token, start, end, probability)
                for word, start, end, probability in words for token in tokens(word)]
    fallback = 1.0 if confidence is None else confidence
    return [TimedToken(token, start_ms, end_ms, fallback) for token in tokens(text)]

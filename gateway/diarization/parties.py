"""A diarized recording's call analytics by speaker, not by channel (sans I/O).

A mono recording is one channel, so the call's own analytics (:mod:`gateway.features.analytics`)
see one party. With ``diarize=true`` its summary is made again here with the diarized
speakers as the parties: each final is cut into runs of one speaker's words (as the
response's utterances are: :func:`.words.apply`), each run fed to a
:class:`~gateway.analytics.tracker.CallTracker` of one party per speaker as a final of that
party. Talk time, overtalk, interruptions, monologues, response times, loudness and
sentiment come out per speaker; ``party`` names the agent (``results.agent``'s speaker) and,
on a two-speaker call, the other speaker the customer (with three or more, only the agent is
known).

Each party's entry carries ``speaker`` (its index) where a channel's carries ``channel``,
and the summary's ``parties_by`` says which (``"speaker"``); an interruption's ``by`` and
``of`` are speakers. Overtalk needs two runs at once, and one speaker is given per word: two
people speaking at once shows as overtalk only where their words' runs overlap in time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..analytics.sentiment import Sentiment
from ..analytics.tracker import CallTracker
from ..policy.analytics import AnalyticsSettings
from .cluster import Labels
from .words import word_speaker

TimedWord = tuple[str, int, int, float]  # text, start ms, end ms, probability


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """One final of the recording: what :meth:`CallTracker.final` takes."""

    utterance_id: str
    text: str
    start_ms: int
    end_ms: int
    words: tuple[TimedWord, ...] = ()
    confidence: float | None = None


def runs(said: Said, labels: Labels) -> list[tuple[int, Said]]:
    """``said`` cut into runs of one speaker's words: (speaker, the run as a final of its own).

    A run's id is derived from the final's (as the response's split utterances' are); a final
    without word timings is one run, of the speaker of its span.
    """
    if not said.words:
        found = word_speaker(labels, said.start_ms / 1000, said.end_ms / 1000)
        return [(found[0] if found else 0, said)]
    parts: list[tuple[int, list[TimedWord]]] = []
    for word in said.words:
        found = word_speaker(labels, word[1] / 1000, word[2] / 1000)
        speaker = found[0] if found else (parts[-1][0] if parts else 0)
        if parts and parts[-1][0] == speaker:
            parts[-1][1].append(word)
        else:
            parts.append((speaker, [word]))
    if len(parts) == 1:
        return [(parts[0][0], said)]
    return [(speaker, Said(utterance_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{said.utterance_id}/speaker/{index}")),
                           text=" ".join(w[0] for w in words), start_ms=max(said.start_ms, words[0][1]),
                           end_ms=min(said.end_ms, words[-1][2]), words=tuple(words),
                           confidence=sum(w[3] for w in words) / len(words)))
            for index, (speaker, words) in enumerate(parts)]


def names(speakers: int, agent: int | None) -> tuple[str | None, ...]:
    """Each speaker's party: ``agent``'s is "agent"; the other of two, "customer"; else unknown (None)."""
    if agent is None or not 0 <= agent < speakers:
        return (None,) * speakers
    return tuple("agent" if k == agent else "customer" if speakers == 2 else None for k in range(speakers))


def summary(finals: Iterable[Said], labels: Labels, *, settings: AnalyticsSettings, scorer: Sentiment | None,
            duration_ms: int, agent: int | None = None,
            level: Callable[[int, int], float | None] | None = None) -> dict:
    """The call's analytics summary with its diarized speakers as parties.

    ``agent``: the agent's speaker, if known; ``level``: the recording's level (dBFS) of a span
    (start, end ms), if measured.
    """
    cut = sorted((run for said in finals if said.text.strip() for run in runs(said, labels)),
                 key=lambda run: (run[1].start_ms, run[0]))
    speakers = max(labels.speakers, max((speaker for speaker, _ in cut), default=-1) + 1, 1)
    tracker = CallTracker(channels=speakers, settings=settings, scorer=scorer, parties=names(speakers, agent))
    for speaker, said in cut:
        tracker.final(channel=speaker, utterance_id=said.utterance_id, text=said.text, start_ms=said.start_ms,
                      end_ms=said.end_ms, words=said.words, confidence=said.confidence,
                      level_dbfs=level(said.start_ms, said.end_ms) if level is not None else None)
    out = tracker.summary(duration_ms)
    out["parties_by"] = "speaker"
    out["parties"] = [{"speaker": party.pop("channel"), **party} for party in out["parties"]]
    return out

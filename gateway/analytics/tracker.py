"""One call's analytics as a state machine: fed speech starts, finals and the audio clock; gives events and a summary.

No I/O: :mod:`gateway.calls.analyzer` feeds it from the call's records, off the
path of the finals, and sends what it returns. Every method returns the
analytics events it produced, as JSON-ready dicts with an ``event`` field:

- ``utterance``: a final's figures (channel, speech span, words, words per
  minute, level in dBFS, sentiment);
- ``phrase``: a phrase of the call's list, spotted in a final;
- ``interruption``: a party cut in on another (:func:`talk.interruption`);
- ``alert``: a threshold of :class:`~gateway.analytics.options.AlertRules` passed:
  ``dead_air``, ``overtalk``, ``fast``, ``loud``.

Live alerts from the clock (:meth:`CallTracker.tick`) judge the audio up to
:data:`LIVE_LAG_MS` before the newest the call received: the VAD reports a
speech start some hundreds of milliseconds after the speech, so a newer
stretch cannot be called silent yet. A party counts as speaking from its speech
start until the final of that utterance arrives; so dead air is only called
once every utterance has its final, and overtalk while two parties' utterances
are both under way. What a final shows afterwards is judged again with its
exact span, so an overlap or a silence the clock did not see still alerts,
once (when it is over).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import talk
from .options import Settings
from .phrases import PhraseSpotter, timed_tokens, tokens
from .sentiment import Sentiment, label

LIVE_LAG_MS = 1000
FAST_MIN_WORDS = 6  # an utterance shorter than this is not judged fast (one quick "yes, yes" is not)
WPM_MIN_MS = 1000  # nor given a talk speed
KEPT = 200  # phrase matches and interruptions listed in the summary (all are counted)
ALERTS = ("dead_air", "overtalk", "fast", "loud")


@dataclass(slots=True)
class _Party:
    spans: list[talk.Span] = field(default_factory=list)
    open_since: int | None = None  # a speech start without its final yet
    words: int = 0
    utterances: int = 0
    level_sum: float = 0.0  # of utterances' levels (dBFS), weighted by their speech ms
    level_ms: int = 0
    sentiment_sum: float = 0.0  # of utterances' scores, weighted by their words
    sentiment_words: int = 0


class CallTracker:
    """The analytics of one call of ``channels`` parties."""

    def __init__(self, *, channels: int, settings: Settings, scorer: Sentiment | None = None,
                 parties: Sequence[str | None] = ()) -> None:
        """``scorer``: the sentiment model (None: no sentiment); ``parties``: each channel's name, if any."""
        self.settings = settings
        self.rules = settings.alerts
        self.scorer = scorer if settings.sentiment else None
        self.parties = tuple(parties)
        self._party = [_Party() for _ in range(channels)]
        self._spotter = PhraseSpotter(settings.phrases)
        self._last_speech = 0  # end of the latest speech span known (ms)
        self._dead_air_from: int | None = None  # the latest silence alerted began there
        self._overtalk_to = 0  # overlaps that began before this were alerted
        self._interruptions: list[talk.Interruption] = []
        self._interruption_count = 0
        self._phrases: list[dict] = []
        self._phrase_count = 0
        self.alerts = dict.fromkeys(ALERTS, 0)

    # -- input ------------------------------------------------------------------------------

    def speech_started(self, channel: int, start_ms: int) -> list[dict]:
        """The VAD heard ``channel`` start speaking at ``start_ms``."""
        party = self._party[channel]
        out: list[dict] = []
        if not any(p.open_since is not None for p in self._party):
            out += self._dead_air(self._last_speech, start_ms)  # the silence is over
        party.open_since = start_ms
        return out

    def final(self, *, channel: int, utterance_id: str, text: str, start_ms: int, end_ms: int,
              words: Sequence[tuple[str, int, int, float]] = (), confidence: float | None = None,
              level_dbfs: float | None = None) -> list[dict]:
        """A final of ``channel`` (``words``: (text, start ms, end ms, probability) each); its events."""
        party = self._party[channel]
        party.open_since = None
        count = len(words) if words else len(tokens(text))
        if not text.strip() or not count:
            return []
        if words:  # the words' span, inside the final's
            first = max(start_ms, words[0][1])
            span = (first, max(first, min(end_ms, words[-1][2])))
        else:
            span = (start_ms, end_ms)
        length = span[1] - span[0]
        out: list[dict] = []
        # The silence before this span, unless a party whose final is still to come spoke in it.
        if not any(p.open_since is not None and p.open_since < span[0] for p in self._party):
            before = max((end for p in self._party for _, end in p.spans[-8:] if end <= span[0]), default=0)
            out += self._dead_air(before, span[0])
        out += self._overlaps(channel, span)
        party.spans.append(span)
        self._last_speech = max(self._last_speech, span[1])
        party.words += count
        party.utterances += 1
        wpm = round(count * 60_000 / length, 1) if length >= WPM_MIN_MS else None
        if level_dbfs is not None and length > 0:
            party.level_sum += level_dbfs * length
            party.level_ms += length
        score = self.scorer.score(text) if self.scorer is not None else None
        if score is not None:
            party.sentiment_sum += score.score * count
            party.sentiment_words += count
        utterance = {"event": "utterance", "channel": channel, "utterance_id": utterance_id, "start_ms": span[0],
                     "end_ms": span[1], "words": count, "wpm": wpm, "level_dbfs": level_dbfs}
        if score is not None:
            utterance["sentiment"] = score.label
            utterance["sentiment_score"] = round(score.score, 4)
        out.insert(0, utterance)
        rules = self.rules
        if rules.fast_wpm is not None and wpm is not None and count >= FAST_MIN_WORDS and wpm > rules.fast_wpm:
            out.append(self._alert("fast", channel=channel, start_ms=span[0], duration_ms=length, value=wpm,
                                   threshold=rules.fast_wpm))
        if rules.loud_dbfs is not None and level_dbfs is not None and level_dbfs > rules.loud_dbfs:
            out.append(self._alert("loud", channel=channel, start_ms=span[0], duration_ms=length, value=level_dbfs,
                                   threshold=rules.loud_dbfs))
        if self._spotter:
            for match in self._spotter.spot(timed_tokens(text=text, words=words, start_ms=span[0], end_ms=span[1],
                                                         confidence=confidence),
                                            channel=channel, utterance_id=utterance_id):
                event = {"event": "phrase", **match.as_dict()}
                self._phrase_count += 1
                if len(self._phrases) < KEPT:
                    self._phrases.append(event)
                out.append(event)
        return out

    def tick(self, now_ms: int) -> list[dict]:
        """The call's audio reached ``now_ms``: alerts for what is going on (dead air, overtalk)."""
        judged = now_ms - LIVE_LAG_MS
        speaking = [p.open_since for p in self._party if p.open_since is not None]
        if not speaking:
            return self._dead_air(self._last_speech, judged, ongoing=True)
        if len(speaking) >= 2 and self.rules.overtalk_sec is not None:
            since = sorted(speaking)[1]  # the second party's start: from then on two speak
            if since >= self._overtalk_to and judged - since >= self.rules.overtalk_sec * 1000:
                self._overtalk_to = judged
                return [self._alert("overtalk", start_ms=since, duration_ms=judged - since,
                                    threshold=self.rules.overtalk_sec, ongoing=True)]
        return []

    # -- judging ----------------------------------------------------------------------------

    def _dead_air(self, since: int, until: int, *, ongoing: bool = False) -> list[dict]:
        limit = self.rules.dead_air_sec
        if limit is None or until - since < limit * 1000 or (self._dead_air_from or -1) >= since:
            return []
        self._dead_air_from = since
        return [self._alert("dead_air", start_ms=since, duration_ms=until - since, threshold=limit,
                            ongoing=ongoing)]

    def _overlaps(self, channel: int, span: talk.Span) -> list[dict]:
        """Interruptions and overtalk between ``span`` and the other parties' spans before it."""
        out = []
        for other, party in enumerate(self._party):
            if other == channel:
                continue
            for spoken in reversed(party.spans[-8:]):  # the latest few: older ones end before this starts
                if spoken[1] <= span[0] or spoken[0] >= span[1]:
                    continue
                for found in (talk.interruption(span, channel, spoken, other),
                              talk.interruption(spoken, other, span, channel)):
                    if found is not None:
                        self._interruption_count += 1
                        if len(self._interruptions) < KEPT:
                            self._interruptions.append(found)
                        out.append({"event": "interruption", **found.as_dict()})
                start, end = max(span[0], spoken[0]), min(span[1], spoken[1])
                limit = self.rules.overtalk_sec
                if limit is not None and end - start >= limit * 1000 and start >= self._overtalk_to:
                    self._overtalk_to = end
                    out.append(self._alert("overtalk", start_ms=start, duration_ms=end - start, threshold=limit))
        return out

    def _alert(self, kind: str, *, start_ms: int, duration_ms: int, threshold: float, channel: int | None = None,
               value: float | None = None, ongoing: bool = False) -> dict:
        self.alerts[kind] += 1
        alert = {"event": "alert", "alert": kind, "start_ms": start_ms, "duration_ms": duration_ms,
                 "threshold": threshold}
        if channel is not None:
            alert["channel"] = channel
        if value is not None:
            alert["value"] = value
        if ongoing:
            alert["ongoing"] = True  # still going on when it was raised: duration_ms so far
        return alert

    # -- the end ----------------------------------------------------------------------------

    def summary(self, duration_ms: int) -> dict:
        """The whole call's figures (``duration_ms``: its audio's length)."""
        spans = {channel: talk.merged(p.spans) for channel, p in enumerate(self._party)}
        duration = max(duration_ms, max((s[-1][1] for s in spans.values() if s), default=0))
        anyone, overtalk = talk.coverage(spans)
        monologues = talk.monologues(spans)
        responses = talk.response_times(spans)
        cut_ins = talk.interruptions(spans)
        ratio = (lambda ms: round(ms / duration, 4)) if duration else (lambda ms: 0.0)
        parties = []
        for channel, party in enumerate(self._party):
            talked = talk.total(spans[channel])
            waits = responses[channel]
            entry = {"channel": channel, "party": self.parties[channel] if channel < len(self.parties) else None,
                     "talk_ms": talked, "talk_ratio": ratio(talked), "utterances": party.utterances,
                     "words": party.words,
                     "wpm": round(party.words * 60_000 / talked, 1) if talked >= WPM_MIN_MS else None,
                     "level_dbfs": round(party.level_sum / party.level_ms, 2) if party.level_ms else None,
                     "longest_monologue_ms": monologues[channel],
                     "interrupted_others": sum(1 for i in cut_ins if i.by == channel),
                     "interrupted_by_others": sum(1 for i in cut_ins if i.of == channel),
                     "response_ms": {"count": len(waits),
                                     "mean": round(sum(waits) / len(waits)) if waits else None,
                                     "max": max(waits) if waits else None}}
            if self.scorer is not None:
                entry["sentiment"] = _average(party.sentiment_sum, party.sentiment_words)
            parties.append(entry)
        silent = talk.silences(spans, duration, longer_than_ms=int((self.rules.dead_air_sec or 0) * 1000)) \
            if self.rules.dead_air_sec is not None else []
        summary = {"duration_ms": duration, "talk_ms": anyone, "non_talk_ms": duration - anyone,
                   "non_talk_ratio": ratio(duration - anyone), "overtalk_ms": overtalk,
                   "overtalk_ratio": ratio(overtalk),
                   "parties_by": "channel", "parties": parties,
                   "interruptions": {"count": len(cut_ins), "items": [i.as_dict() for i in cut_ins[:KEPT]]},
                   "dead_air": {"count": len(silent), "longest_ms": max((e - s for s, e in silent), default=0)},
                   "alerts": dict(self.alerts),
                   "phrases": {"count": self._phrase_count, "items": list(self._phrases)},
                   "thresholds": self.rules.as_dict()}
        if self.scorer is not None:
            summary["sentiment"] = _average(sum(p.sentiment_sum for p in self._party),
                                            sum(p.sentiment_words for p in self._party))
        return summary


def _average(total: float, words: int) -> dict:
    score = total / words if words else 0.0
    return {"sentiment": label(score), "sentiment_score": round(score, 4)}


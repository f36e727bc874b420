"""One call's analytics as a state machine: fed the VAD's speech starts and ends, finals and the audio clock; gives events and a summary.

No I/O: :mod:`gateway.features.analytics` feeds it from the call's records, off the
path of the finals, and sends what it returns. Every method returns the
analytics events it produced, as JSON-ready dicts with an ``event`` field:

- ``utterance``: a final's figures (channel, speech span, words, words per
  minute, level in dBFS, sentiment);
- ``phrase``: a phrase of the call's list, spotted in a final;
- ``interruption``: a party cut in on another (:func:`talk.interruption`);
- ``alert``: a threshold of :class:`~gateway.policy.analytics.AlertRules` passed:
  ``dead_air``, ``overtalk``, ``fast``, ``loud``.

Dead air and overtalk, live and in the summary, come from one set of facts in
audio time: where the VAD heard each party speak. A party speaks from its
speech start to the VAD's end of that utterance (a final's audio span is speech
too); an utterance in progress is speech, however long its final takes and
whatever early finals it had. Dead air is a stretch in which no party speaks,
overtalk one in which two parties or more do; never the gap between finals.
The live judgement (:meth:`CallTracker.tick`) looks at the audio up to the
pipeline's lag before the newest the call received: the lag is how late the
latest speech start or end arrived (:data:`LIVE_LAG_MS` at least), as a newer
stretch cannot be called silent yet. Facts that arrive later still may change a
stretch: every dead-air and overtalk alert has an ``id``, and a later ``alert``
event with the same id ends it (``ended``: its whole stretch), moves it, or
withdraws it (``retracted``). :meth:`CallTracker.settle`, at the end, ends
every alert and raises those the call's end showed, so that the summary's
stretches and the standing alerts are the same
(:func:`common.contract.alert_problems` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..policy.analytics import AnalyticsSettings, tokens
from . import talk
from .phrases import PhraseSpotter, timed_tokens
from .sentiment import Sentiment, label

LIVE_LAG_MS = 1000  # the least lag of the live judgement (the VAD reports a start some hundreds of ms late)
LAG_MARGIN_MS = 500  # over the lag measured: the clock the tracker knows moves in ticks
RECENT = 16  # a party's latest facts that the live judgement looks at (older stretches: at the end)
FOREVER = 2**62  # the end of an utterance in progress
FAST_MIN_WORDS = 6  # an utterance shorter than this is not judged fast (one quick "yes, yes" is not)
WPM_MIN_MS = 1000  # nor given a talk speed
KEPT = 200  # phrase matches and interruptions listed in the summary (all are counted)
ALERTS = ("dead_air", "overtalk", "fast", "loud")
STRETCHES = ("dead_air", "overtalk")  # the alerts of stretches of the call, kept and settled


@dataclass(slots=True)
class _Party:
    spans: list[talk.Span] = field(default_factory=list)  # its finals' speech spans (first word to last)
    spoken: list[talk.Span] = field(default_factory=list)  # its finals' words, pauses left out: talk time
    heard: list[talk.Span] = field(default_factory=list)  # the VAD's utterances and finals' audio: speech
    open_since: int | None = None  # a speech start without its end yet
    final_end: int = 0  # where its latest final's audio ends
    words: int = 0
    utterances: int = 0
    level_sum: float = 0.0  # of utterances' levels (dBFS), weighted by their speech ms
    level_ms: int = 0
    sentiment_sum: float = 0.0  # of utterances' scores, weighted by their words
    sentiment_words: int = 0


@dataclass(slots=True)
class _Raised:
    """A dead-air or overtalk alert raised: the stretch it says now."""

    kind: str
    id: int
    start: int
    end: int
    threshold: float
    going: bool  # raised while it went on, not ended yet
    standing: bool = True  # not withdrawn


class CallTracker:
    """The analytics of one call of ``channels`` parties."""

    def __init__(self, *, channels: int, settings: AnalyticsSettings, scorer: Sentiment | None = None,
                 parties: Sequence[str | None] = ()) -> None:
        """``scorer``: the sentiment model (None: no sentiment); ``parties``: each channel's name, if any."""
        self.settings = settings
        self.rules = settings.alerts
        self.scorer = scorer if settings.sentiment else None
        self.parties = tuple(parties)
        self._party = [_Party() for _ in range(channels)]
        self._spotter = PhraseSpotter(settings.phrases)
        self._now: int | None = None  # the audio clock (None: not live, a recording)
        self._lag = LIVE_LAG_MS
        self._raised: list[_Raised] = []  # dead-air and overtalk alerts, in the order raised
        self._ids = 0
        self._settled = False
        self._interruptions: list[talk.Interruption] = []
        self._interruption_count = 0
        self._phrases: list[dict] = []
        self._phrase_count = 0
        self.alerts = dict.fromkeys(ALERTS, 0)

    # -- input ------------------------------------------------------------------------------

    def speech_started(self, channel: int, start_ms: int) -> list[dict]:
        """The VAD heard ``channel`` start speaking at ``start_ms``."""
        self._observe(start_ms)
        party = self._party[channel]
        self._close(party, start_ms)  # an utterance the VAD did not end (the pipeline lost its end): over by now
        party.open_since = start_ms
        return self._judge()

    def speech_ended(self, channel: int, start_ms: int, end_ms: int) -> list[dict]:
        """The VAD ended ``channel``'s utterance that began at ``start_ms`` at ``end_ms``."""
        self._observe(end_ms)
        party = self._party[channel]
        if end_ms > start_ms:
            party.heard.append((start_ms, end_ms))
        if party.open_since is not None and party.open_since <= end_ms:  # not a newer utterance's
            if party.open_since < start_ms:  # an earlier one that lost its end: it ran into this one
                party.heard.append((party.open_since, start_ms))
            party.open_since = None
        return self._judge()

    def final(self, *, channel: int, utterance_id: str, text: str, start_ms: int, end_ms: int,
              words: Sequence[tuple[str, int, int, float]] = (), confidence: float | None = None,
              level_dbfs: float | None = None) -> list[dict]:
        """A final of ``channel`` (``words``: (text, start ms, end ms, probability) each); its events."""
        party = self._party[channel]
        if end_ms > start_ms:  # its audio is the VAD's speech (an empty final's too); it ends no utterance
            party.heard.append((start_ms, end_ms))
            party.final_end = max(party.final_end, end_ms)
        count = len(words) if words else len(tokens(text))
        if not text.strip() or not count:
            return self._judge()
        if words:  # the words' span, inside the final's
            first = max(start_ms, words[0][1])
            span = (first, max(first, min(end_ms, words[-1][2])))
        else:
            span = (start_ms, end_ms)
        length = span[1] - span[0]
        out = self._interruptions_of(channel, span)
        party.spans.append(span)
        party.spoken += talk.spoken((max(span[0], word[1]), min(span[1], word[2])) for word in words) if words \
            else [span]
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
        return out + self._judge()

    def tick(self, now_ms: int) -> list[dict]:
        """The call's audio reached ``now_ms``: alerts for what is going on (dead air, overtalk)."""
        self._now = max(now_ms, self._now or 0)
        return self._judge()

    def settle(self, duration_ms: int) -> list[dict]:
        """The call is over at ``duration_ms``: every stretch judged on all the facts, once.

        Ends the alerts still going on, moves or withdraws those the later facts changed, raises
        those nobody saw live (a silence at the end of the call); the summary then agrees with
        the standing alerts. An utterance without its VAD end ends where its last final does, or
        with the call if it has none.
        """
        if self._settled:
            return []
        self._settled = True
        duration = self._duration(duration_ms)
        for party in self._party:
            self._close(party, duration)
        out = []
        for kind, found in self._stretches(duration).items():
            out += self._reconcile(kind, [(start, end, True) for start, end in found], window=0, judged=None)
        return out

    def _stretches(self, duration: int) -> dict[str, list[talk.Span]]:
        """The call's silences and overtalk, all of them, on all the facts (utterances closed)."""
        channels = {channel: party.heard for channel, party in enumerate(self._party)}
        return {"dead_air": talk.gaps((span for spans in channels.values() for span in spans), 0, duration),
                "overtalk": talk.overlaps(channels)}

    # -- judging ----------------------------------------------------------------------------

    def _observe(self, position_ms: int) -> None:
        """A speech start or end at ``position_ms`` arrived now: the pipeline is this late."""
        if self._now is not None:
            self._lag = max(LIVE_LAG_MS, self._now - position_ms + LAG_MARGIN_MS)

    def _close(self, party: _Party, at: int) -> None:
        """End the party's utterance in progress, whose VAD end is lost: where its last final ends, or
        at ``at`` (the next start, the call's end) if none ended after its start (it went on)."""
        if party.open_since is not None:
            end = party.final_end if party.final_end > party.open_since else at
            party.heard.append((party.open_since, max(party.open_since, end)))
            party.open_since = None

    def _duration(self, duration_ms: int) -> int:
        return max(duration_ms, max((end for p in self._party for _, end in p.spans[-1:]), default=0),
                   max((end for p in self._party for _, end in p.heard), default=0))

    def _judge(self) -> list[dict]:
        """Dead air and overtalk in the parties' latest facts, up to the audio the lag lets judge."""
        if self._settled:
            return []
        judged = self._now - self._lag if self._now is not None else None
        window = 0  # where every party's facts are complete
        channels = {}
        for channel, party in enumerate(self._party):
            recent = party.heard[-RECENT:]
            if len(party.heard) > RECENT:
                window = max(window, min(start for start, _ in recent))
            if party.open_since is not None:
                recent = [*recent, (party.open_since, FOREVER)]
            channels[channel] = recent
        # Stretches bounded by facts are over, whatever the clock (later facts only cut them shorter);
        # the one after the last fact goes on up to the judged audio (none without a clock).
        until = judged if judged is not None else window
        silent = [(start, end, True) for start, end in talk.gaps(
            (span for spans in channels.values() for span in spans), window, FOREVER) if end < FOREVER]
        last = max((end for spans in channels.values() for _, end in spans), default=0)
        if last < until:
            silent.append((last, until, False))
        if window:  # what went before the window is not known here: judged at the end
            silent = [gap for gap in silent if gap[0] > window]
        both = [(start, end, True) if end < FOREVER else (start, until, False)
                for start, end in talk.overlaps(channels) if start >= window and (end < FOREVER or start < until)]
        return self._reconcile("dead_air", silent, window=window, judged=judged) + \
            self._reconcile("overtalk", both, window=window, judged=judged)

    def _reconcile(self, kind: str, stretches: list[tuple[int, int, bool]], *, window: int,
                   judged: int | None) -> list[dict]:
        """Bring the alerts of ``kind`` in line with ``stretches`` (start, end, over) found from ``window``
        on: end, move or withdraw those raised, raise one for each long stretch without one."""
        limit = self.rules.dead_air_sec if kind == "dead_air" else self.rules.overtalk_sec
        if limit is None:
            return []
        least = limit * 1000
        if judged is None:  # no clock: nothing is known to go on
            stretches = [s for s in stretches if s[2]]
        # A stretch still going may be short of the limit now (the lag grew): it may go on.
        long = [s for s in stretches if s[1] - s[0] >= least or not s[2]]
        taken: set[int] = set()
        out = []
        for raised in self._raised:
            if raised.kind != kind or not raised.standing or raised.start < window:
                continue
            index = next((i for i, (start, end, _) in enumerate(long)
                          if i not in taken and start < max(raised.end, raised.start + 1) and end > raised.start),
                         None)
            if index is None:  # the facts that came since show no such stretch
                if raised.start >= window and (judged is None or raised.start < judged):
                    raised.standing = raised.going = False
                    self.alerts[kind] -= 1
                    out.append(self._event(raised, retracted=True))
                continue
            taken.add(index)
            start, end, over = long[index]
            if over and (raised.going or (raised.start, raised.end) != (start, end)):
                raised.start, raised.end, raised.going = start, end, False
                out.append(self._event(raised, ended=True))
            elif not over and raised.start != start:  # still going, from later than it said
                raised.start, raised.end = start, max(end, start)
                out.append(self._event(raised, ongoing=True))
        for index, (start, end, over) in enumerate(long):
            if index in taken or end - start < least or over and judged is not None and end > judged:
                continue  # a stretch over since the newest judged audio: other parties' facts may still come
            raised = _Raised(kind, self._next_id(), start, end, limit, going=not over)
            self._raised.append(raised)
            self.alerts[kind] += 1
            out.append(self._event(raised, ongoing=not over))
        return out

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _event(self, raised: _Raised, **flag: bool) -> dict:
        event = {"event": "alert", "alert": raised.kind, "id": raised.id, "start_ms": raised.start,
                 "duration_ms": raised.end - raised.start, "threshold": raised.threshold}
        event.update({name: True for name, value in flag.items() if value})
        return event

    def _interruptions_of(self, channel: int, span: talk.Span) -> list[dict]:
        """Interruptions between ``span`` and the other parties' spans before it."""
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
        return out

    def _alert(self, kind: str, *, start_ms: int, duration_ms: int, threshold: float, channel: int | None = None,
               value: float | None = None) -> dict:
        self.alerts[kind] += 1
        alert = {"event": "alert", "alert": kind, "id": self._next_id(), "start_ms": start_ms,
                 "duration_ms": duration_ms, "threshold": threshold}
        if channel is not None:
            alert["channel"] = channel
        if value is not None:
            alert["value"] = value
        return alert

    # -- the end ----------------------------------------------------------------------------

    def summary(self, duration_ms: int) -> dict:
        """The whole call's figures (``duration_ms``: its audio's length); settles the call first."""
        self.settle(duration_ms)
        spans = {channel: talk.merged(p.spans) for channel, p in enumerate(self._party)}
        talked_by = {channel: talk.merged(p.spoken) for channel, p in enumerate(self._party)}
        duration = self._duration(duration_ms)
        anyone, overtalk = talk.coverage(talked_by)
        monologues = talk.monologues(spans)
        responses = talk.response_times(spans)
        cut_ins = talk.interruptions(spans)
        ratio = (lambda ms: round(ms / duration, 4)) if duration else (lambda ms: 0.0)
        parties = []
        for channel, party in enumerate(self._party):
            talked = talk.total(talked_by[channel])
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
        stretches = self._stretches(duration)
        summary = {"duration_ms": duration, "talk_ms": anyone, "non_talk_ms": duration - anyone,
                   "non_talk_ratio": ratio(duration - anyone), "overtalk_ms": overtalk,
                   "overtalk_ratio": ratio(overtalk),
                   "parties_by": "channel", "parties": parties,
                   "interruptions": {"count": len(cut_ins), "items": [i.as_dict() for i in cut_ins[:KEPT]]},
                   "dead_air": _stretches(stretches["dead_air"], self.rules.dead_air_sec),
                   "overtalk": _stretches(stretches["overtalk"], self.rules.overtalk_sec),
                   "alerts": dict(self.alerts),
                   "phrases": {"count": self._phrase_count, "items": list(self._phrases)},
                   "thresholds": self.rules.as_dict()}
        if self.scorer is not None:
            summary["sentiment"] = _average(sum(p.sentiment_sum for p in self._party),
                                            sum(p.sentiment_words for p in self._party))
        return summary


def _stretches(found: list[talk.Span], limit: float | None) -> dict:
    """The summary of the stretches at least ``limit`` seconds long (none: the alert is off)."""
    long = [(start, end) for start, end in found if limit is not None and end - start >= limit * 1000]
    return {"count": len(long), "longest_ms": max((end - start for start, end in long), default=0),
            "total_ms": sum(end - start for start, end in long),
            "items": [{"start_ms": start, "end_ms": end} for start, end in long[:KEPT]]}


def _average(total: float, words: int) -> dict:
    score = total / words if words else 0.0
    return {"sentiment": label(score), "sentiment_score": round(score, 4)}


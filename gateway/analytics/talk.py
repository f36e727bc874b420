"""Who talked when: per-party talk time, silence, overtalk, interruptions, monologues, response times.

Pure functions over each channel's spans (start, end in ms). A final's *speech
span* runs from its first word's start to its last word's end (the VAD's segment
of the utterance when it has no word timings), so the VAD's pre-roll and
trailing padding are in no span. Its *talk* is its words' own timings, those
less than :data:`TALK_GAP_MS` apart joined (:func:`spoken`): a pause inside an
utterance is not talk, the short gaps between words of one phrase are.

Definitions (docs/analytics.md):

- *talk*: the union of a party's words (as :func:`spoken` joins them); *non-talk*: the
  call's time in nobody's talk; *overtalk*: time in the talk of two parties or more.
- the rest are over speech spans: *interruption*: a party's span that starts while another party's span is under
  way (started at least :data:`MIN_LEAD_MS` before) and overlaps it by at least
  :data:`MIN_OVERLAP_MS`: who cut in (``by``) on whom (``of``), when, and for how
  long both spoke.
- *monologue*: a run of one party's spans with no other party's span starting in
  between; its length runs from the first span's start to the last one's end.
- *response time*: when a party starts speaking after another party's span ended
  and nobody spoke in between, the gap.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MIN_OVERLAP_MS = 300  # shorter overlaps are backchannels ("mm-hm"), not interruptions
MIN_LEAD_MS = 300  # a span that starts within this of the other's start is a joint start, not a cut-in
# Words closer than this are one stretch of talk: the gaps inside a phrase (a stop's closure, a breath,
# the aligner's misplaced boundaries) are, a pause is not. A talk-time measure bridges gaps of a
# few hundred ms; the VAD's silence_threshold (0.8 s), which the spans bridge, counted pauses as talk
# (+20-25 % over Silero VAD's speech on a two-party recording, issue 45).
TALK_GAP_MS = 300

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Interruption:
    by: int  # the channel that cut in
    of: int  # the channel that was speaking
    at_ms: int
    duration_ms: int  # how long both spoke

    def as_dict(self) -> dict:
        return {"by": self.by, "of": self.of, "at_ms": self.at_ms, "duration_ms": self.duration_ms}


def merged(spans: Iterable[Span]) -> list[Span]:
    """``spans`` sorted, overlapping or touching ones joined."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(start, end) for start, end in out]


def spoken(words: Iterable[Span], *, gap_ms: int = TALK_GAP_MS) -> list[Span]:
    """Where ``words`` (each one's start and end) were spoken: sorted, overlapping ones and those less
    than ``gap_ms`` apart joined, empty ones dropped."""
    out: list[list[int]] = []
    for start, end in sorted(words):
        if end <= start:
            continue
        if out and start - out[-1][1] < gap_ms:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(start, end) for start, end in out]


def total(spans: Sequence[Span]) -> int:
    return sum(end - start for start, end in spans)


def coverage(channels: Mapping[int, Sequence[Span]]) -> tuple[int, int]:
    """(time anyone speaks, time two or more speak) over merged spans of each channel."""
    edges = sorted((t, d) for spans in channels.values() for start, end in spans for t, d in ((start, 1), (end, -1)))
    anyone = several = 0
    active = 0
    previous = None
    for t, delta in edges:
        if previous is not None:
            if active >= 1:
                anyone += t - previous
            if active >= 2:
                several += t - previous
        active += delta
        previous = t
    return anyone, several


def interruption(cut: Span, cut_channel: int, spoken: Span, spoken_channel: int) -> Interruption | None:
    """``cut`` (of ``cut_channel``) cutting in on ``spoken``, if it does."""
    if cut_channel == spoken_channel or cut[0] - spoken[0] < MIN_LEAD_MS or cut[0] >= spoken[1]:
        return None
    overlap = min(cut[1], spoken[1]) - cut[0]
    if overlap < MIN_OVERLAP_MS:
        return None
    return Interruption(by=cut_channel, of=spoken_channel, at_ms=cut[0], duration_ms=overlap)


def interruptions(channels: Mapping[int, Sequence[Span]]) -> list[Interruption]:
    """Every interruption, in time order, over each channel's merged (disjoint, sorted) spans."""
    found = []
    starts = {channel: [start for start, _ in spans] for channel, spans in channels.items()}
    for by, spans in channels.items():
        for of, others in channels.items():
            if by == of or not others:
                continue
            for cut in spans:
                # Disjoint spans: only the last one to start before the cut can be under way at it.
                index = bisect.bisect_left(starts[of], cut[0]) - 1
                if index >= 0 and (found_one := interruption(cut, by, others[index], of)) is not None:
                    found.append(found_one)
    return sorted(found, key=lambda i: (i.at_ms, i.by))


def _timeline(channels: Mapping[int, Sequence[Span]]) -> list[tuple[int, int, int]]:
    return sorted((start, end, channel) for channel, spans in channels.items() for start, end in spans)


def monologues(channels: Mapping[int, Sequence[Span]]) -> dict[int, int]:
    """Each channel's longest monologue (ms)."""
    longest = {channel: 0 for channel in channels}
    run_channel, run_start, run_end = None, 0, 0
    for start, end, channel in _timeline(channels):
        if channel != run_channel:
            if run_channel is not None:
                longest[run_channel] = max(longest[run_channel], run_end - run_start)
            run_channel, run_start, run_end = channel, start, end
        else:
            run_end = max(run_end, end)
    if run_channel is not None:
        longest[run_channel] = max(longest[run_channel], run_end - run_start)
    return longest


def response_times(channels: Mapping[int, Sequence[Span]]) -> dict[int, list[int]]:
    """Each channel's response times (ms): the gaps before its turns that answer another party."""
    found: dict[int, list[int]] = {channel: [] for channel in channels}
    last_end: int = 0
    last_channel: int | None = None
    for start, end, channel in _timeline(channels):
        if last_channel is not None and channel != last_channel and start >= last_end:
            found[channel].append(start - last_end)
        if last_channel is None or end >= last_end:
            last_end, last_channel = end, channel
    return found


def silences(channels: Mapping[int, Sequence[Span]], duration_ms: int, *, longer_than_ms: int) -> list[Span]:
    """Stretches of the call longer than ``longer_than_ms`` in which nobody spoke."""
    return [gap for gap in gaps((span for spans in channels.values() for span in spans), 0, duration_ms)
            if gap[1] - gap[0] > longer_than_ms]


def gaps(spans: Iterable[Span], start: int, end: int) -> list[Span]:
    """The stretches of ``start``..``end`` that none of ``spans`` covers, in order."""
    found, previous = [], start
    for begin, finish in merged(spans) + [(end, end)]:
        if begin > previous and previous < end:
            found.append((previous, min(begin, end)))
        previous = max(previous, finish)
    return found


def overlaps(channels: Mapping[int, Sequence[Span]]) -> list[Span]:
    """The stretches in which two channels or more speak (each channel's spans may overlap each other)."""
    edges = sorted((t, d) for spans in channels.values() for start, end in merged(spans)
                   for t, d in ((start, 1), (end, -1)))
    found: list[list[int]] = []
    active = 0
    for t, delta in edges:
        was = active
        active += delta
        if was < 2 <= active:
            if found and found[-1][1] == t:  # touching: one stretch
                continue
            found.append([t, t])
        elif was >= 2 > active:
            found[-1][1] = t
    return [(start, end) for start, end in found]

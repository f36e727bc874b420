"""CPU cost of call analytics per call (gateway/analytics), in process.

A two-party call of ``--minutes`` of audio is built from the LibriVox clips: the
parties take turns, one clip a turn with ``--gap`` s between turns, and every
``--overlap-every``-th turn starts 1.5 s before the previous one ends (overtalk,
an interruption). Each clip's words come from its reference transcript, spread
evenly over the clip (the analytics only read their count and times). The call
is fed to the gateway's analytics as the gateway does: each channel's converted
audio in 100 ms chunks to its level meter (zeros while the party is silent), a
speech start and a final per turn, a clock tick every 500 ms of audio, the
summary at the end; with ``--phrases`` phrases to spot (a few of them said).

Printed, the median of ``--repeats`` runs (thread CPU time): the level meters,
the tracker (with and without VADER sentiment), the summary; per call-minute
and per final. Then a diarized recording's summary by speaker
(:func:`gateway.diarization.parties.summary`, as ``diarize=true&analytics=true`` makes it
after the call): the same call mixed to mono, the turns as its finals, the speaker labels
taken from the turns (the diarizer itself is ``bench/diarization.py``'s), the mono mix's
level meter and the summary with sentiment. The analyzer's queue and task (asyncio) are left out: a put and
a get per record, a few microseconds.

Usage (from the repository root)::

    .venv/bin/python -m bench.analytics_cost [--minutes 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gateway.analytics.loudness import LevelMeter
from gateway.policy.analytics import AnalyticsSettings
from gateway.analytics.sentiment import sentiment
from gateway.analytics.tracker import CallTracker
from gateway.diarization import parties
from gateway.diarization.cluster import Labels
from tests.kit.testdata import librivox_samples

RATE = 16_000
CHUNK = RATE // 10


def build_call(minutes: float, gap: float, overlap_every: int) -> tuple[np.ndarray, list[dict]]:
    """Two channels of int16 audio and the turns: channel, start/end ms, text, words."""
    clips = librivox_samples()
    total = int(minutes * 60 * RATE)
    audio = np.zeros((2, total), np.int16)
    turns, cursor, index = [], RATE // 2, 0
    while True:
        samples, text = clips[index % len(clips)]
        channel = index % 2
        if index and overlap_every and index % overlap_every == 0:
            cursor = max(0, cursor - int((gap + 1.5) * RATE))
        if cursor + len(samples) > total:
            break
        audio[channel, cursor:cursor + len(samples)] = (samples * 32767).astype(np.int16)
        words = text.split()
        start_ms, end_ms = cursor * 1000 // RATE, (cursor + len(samples)) * 1000 // RATE
        step = (end_ms - start_ms) / len(words)
        timed = [(word, int(start_ms + i * step), int(start_ms + (i + 1) * step), 0.9) for i, word in enumerate(words)]
        turns.append({"channel": channel, "start_ms": start_ms, "end_ms": end_ms, "text": text, "words": timed,
                      "id": f"u{index}"})
        cursor += len(samples) + int(gap * RATE)
        index += 1
    return audio, turns


def run(audio: np.ndarray, turns: list[dict], *, phrases: tuple[str, ...], with_sentiment: bool) -> dict[str, float]:
    scorer = sentiment() if with_sentiment else None
    tracker = CallTracker(channels=2, settings=AnalyticsSettings(phrases=phrases, sentiment=with_sentiment),
                          scorer=scorer)
    meters = [LevelMeter(), LevelMeter()]
    spent = {"meters": 0.0, "tracker": 0.0, "summary": 0.0}
    pending = sorted(turns, key=lambda t: t["end_ms"] + 900)  # a final comes ~0.9 s after its speech ends
    starts = sorted(turns, key=lambda t: t["start_ms"])
    chunks = audio.shape[1] // CHUNK
    clock = time.thread_time
    for i in range(chunks):
        began = clock()
        for channel in (0, 1):
            meters[channel].push(audio[channel, i * CHUNK:(i + 1) * CHUNK])
        spent["meters"] += clock() - began
        now = (i + 1) * 100
        began = clock()
        while starts and starts[0]["start_ms"] + 300 <= now:  # the VAD's speech start, 0.3 s in
            turn = starts.pop(0)
            tracker.speech_started(turn["channel"], turn["start_ms"])
        while pending and pending[0]["end_ms"] + 900 <= now:
            turn = pending.pop(0)
            meter = meters[turn["channel"]]
            level = meter.level(turn["start_ms"], turn["end_ms"])
            meter.forget_before(turn["start_ms"])
            tracker.final(channel=turn["channel"], utterance_id=turn["id"], text=turn["text"],
                          start_ms=turn["start_ms"], end_ms=turn["end_ms"], words=turn["words"], level_dbfs=level)
            tracker.speech_ended(turn["channel"], turn["start_ms"], turn["end_ms"])  # the VAD's end, with the final
        if now % 500 == 0:
            tracker.tick(now)
        spent["tracker"] += clock() - began
    began = clock()
    summary = tracker.summary(chunks * 100)
    spent["summary"] = clock() - began
    spent["finals"] = len(turns)
    spent["interruptions"] = summary["interruptions"]["count"]
    spent["phrases"] = summary["phrases"]["count"]
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--gap", type=float, default=0.7, help="seconds between turns")
    parser.add_argument("--overlap-every", type=int, default=4)
    parser.add_argument("--phrases", type=int, default=20, help="phrases to spot (3 of them said)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    audio, turns = build_call(args.minutes, args.gap, args.overlap_every)
    said = ("john dashwood", "ill disposed", "rather selfish")
    phrases = said + tuple(f"absent phrase number {i}" for i in range(max(0, args.phrases - len(said))))
    sentiment()  # loaded once per process, not counted
    print(f"call: {args.minutes:g} min of two-channel audio, {len(turns)} finals, {len(phrases)} phrases")
    for with_sentiment in (True, False):
        runs = [run(audio, turns, phrases=phrases, with_sentiment=with_sentiment) for _ in range(args.repeats)]
        med = {key: statistics.median(r[key] for r in runs) for key in ("meters", "tracker", "summary")}
        total = sum(med.values())
        first = runs[0]
        print(f"\nsentiment {'on' if with_sentiment else 'off'} (median of {args.repeats}; "
              f"{first['interruptions']} interruptions, {first['phrases']} phrases spotted):")
        for key, value in med.items():
            print(f"  {key:8} {value * 1000:8.1f} ms per call = {value * 1000 / args.minutes:6.2f} ms per call-minute")
        print(f"  total    {total * 1000:8.1f} ms per call = {total * 1000 / args.minutes:6.2f} ms per call-minute "
              f"= {total * 1000 / (args.minutes * 60):.3f} ms CPU per call-second; "
              f"tracker {med['tracker'] * 1e6 / len(turns):.0f} us per final")
    cut = [diarized(audio, turns) for _ in range(args.repeats)]
    meter, summary = (statistics.median(c[key] for c in cut) for key in ("meter", "summary"))
    print(f"\ndiarized recording's summary by speaker (median of {args.repeats}): mono meter {meter * 1000:.1f} ms, "
          f"summary {summary * 1000:.1f} ms per call = {(meter + summary) * 1000 / args.minutes:.2f} ms per call-minute")


def diarized(audio: np.ndarray, turns: list[dict]) -> dict[str, float]:
    """CPU of a diarized recording's summary by speaker: the mono mix's meter, then the summary."""
    clock = time.thread_time
    mono = audio.T  # [samples, channels], as a recording's PCM
    speaker = -np.ones(audio.shape[1] // (RATE // 100), int)
    for turn in turns:
        speaker[turn["start_ms"] // 10:turn["end_ms"] // 10] = turn["channel"]
    labels = Labels(speaker, np.ones(len(speaker), np.float32))
    said = [parties.Said(utterance_id=t["id"], text=t["text"], start_ms=t["start_ms"], end_ms=t["end_ms"],
                         words=tuple(t["words"])) for t in turns]
    began = clock()
    meter = LevelMeter()
    for start in range(0, len(mono), RATE * 10):  # as gateway/http/prerecorded.py does
        meter.push(mono[start:start + RATE * 10].mean(axis=1))
    metered = clock()
    parties.summary(said, labels, settings=AnalyticsSettings(), scorer=sentiment(),
                    duration_ms=audio.shape[1] * 1000 // RATE, agent=0, level=meter.level)
    return {"meter": metered - began, "summary": clock() - metered}


if __name__ == "__main__":
    main()

"""Short turns through the doors: does each one-word reply come back as a final of its own?

    .venv/bin/python -m bench.turns                       # tune part, tiny.en, every door
    .venv/bin/python -m bench.turns --models tiny.en base --doors native,deepgram --count 6
    .venv/bin/python -m bench.turns --part heldout        # only for the final figures (tests/kit/turns.py)

Streams the turn-taking set (:mod:`tests.kit.turns`) at real time through a private stack's doors
(``native``, ``deepgram``: mono 16 kHz; ``twilio``: mono μ-law; ``twilio-stereo``, ``audiohook``:
each party on its own channel), ``--concurrency`` sessions at a time. A final "takes in" a turn
when its span overlaps the turn's speech by more than :data:`TAKES_IN` s. Per short reply:
``own <= 0.3 s`` (a final takes in it alone and starts and ends within :data:`SLACK` of its
speech: issue 47's test), ``own``, ``merged`` (every final taking it in takes another turn too)
or ``lost``; over the finals, those that overlap or repeat an earlier one, and the WER.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.latency import Heard, OwnStack, contract_counts, load_average, some_of
from common import aio
from tests.kit import turns
from tests.kit.stack import Stack
from tests.kit.support import normalise

DOORS = ("native", "deepgram", "twilio", "twilio-stereo", "audiohook")
STEREO = ("twilio-stereo", "audiohook")  # doors given each party on its own channel
SLACK = 0.3  # s: how far a reply's final may start or end from its speech (issue 47)
TAKES_IN = 0.2  # s: overlap of a final's span with a turn's speech that puts the turn in the final
TIMEOUT = 120.0  # s a session may take past its audio


@dataclass(frozen=True)
class Final:
    channel: int
    start: float  # s of the call's audio
    end: float
    text: str


@dataclass
class Tally:
    """The figures of one door and model."""

    sessions: int = 0
    replies: int = 0
    own_close: int = 0  # own, within SLACK at both ends
    own: int = 0
    merged: int = 0
    lost: int = 0
    finals: int = 0
    overlapping: int = 0
    repeated: int = 0
    errors: float = 0.0
    words: int = 0
    failed: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # "item: reply (merged|lost)", for --show

    def add(self, other: Tally) -> None:
        for name in ("sessions", "replies", "own_close", "own", "merged", "lost", "finals", "overlapping",
                     "repeated", "errors", "words"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed += other.failed
        self.missed += other.missed


# -- scoring (pure: bench/tests/test_turns.py) -------------------------------------------------------


def takes_in(final: Final, start: float, end: float) -> bool:
    """Whether ``final``'s span overlaps the speech ``start``-``end`` by more than :data:`TAKES_IN`
    (or covers all of it, for a reply shorter than that)."""
    overlap = min(final.end, end) - max(final.start, start)
    return overlap > min(TAKES_IN, (end - start) / 2)


def score(item: turns.Item, finals: Sequence[Final], *, stereo: bool) -> Tally:
    """One session's figures: each reply of ``item`` against the ``finals`` it got (with ``stereo``,
    a party's replies against its own channel's finals)."""
    from bench.accuracy import errors

    tally = Tally(sessions=1)
    spoken = [final for final in finals if normalise(final.text)]
    tally.finals = len(spoken)

    def heard_by(party: int) -> tuple[list[Final], list[turns.Turn]]:
        if not stereo:
            return spoken, list(item.turns)
        return [f for f in spoken if f.channel == party], [t for t in item.turns if t.party == party]

    for reply in item.replies:
        mine, said = heard_by(reply.party)
        start, end = reply.seconds(item.rate)
        others = [turn.seconds(item.rate) for turn in said if turn is not reply]
        taking = [final for final in mine if takes_in(final, start, end)]
        alone = [final for final in taking if not any(takes_in(final, *other) for other in others)]
        tally.replies += 1
        if any(abs(f.start - start) <= SLACK and abs(f.end - end) <= SLACK for f in alone):
            tally.own_close += 1
        if alone:
            tally.own += 1
        elif taking:
            tally.merged += 1
            tally.missed.append(f"{item.name}: {reply.text!r} at {start:.2f}-{end:.2f} s merged")
        else:
            tally.lost += 1
            tally.missed.append(f"{item.name}: {reply.text!r} at {start:.2f}-{end:.2f} s lost")
    for channel in sorted({final.channel for final in spoken}):
        overlapping, repeated = contract_counts([Heard(0.0, True, f.start, f.end, f.text)
                                                 for f in spoken if f.channel == channel])
        tally.overlapping += overlapping
        tally.repeated += repeated
    parties = (0, 1) if stereo else (None,)
    for party in parties:
        reference = item.transcript if party is None else item.party_transcript(party)
        text = " ".join(f.text for f in spoken if party is None or f.channel == party)
        wrong, said_words, _ = errors(reference, text)
        tally.errors += wrong
        tally.words += said_words
    return tally


def parse_duration(value: str) -> float:
    """Seconds of an AudioHook ISO 8601 duration as the gateway writes them (``PT1.25S``)."""
    if not (value.startswith("PT") and value.endswith("S")):
        raise ValueError(f"not a duration in seconds: {value!r}")
    return float(value[2:-1])


# -- the doors --------------------------------------------------------------------------------------


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def native(url: str, item: turns.Item) -> list[Final]:
    from streamscribe_client import file_frames, stream

    assert isinstance(item.audio, np.ndarray)
    messages = await stream(url, file_frames(item.audio, item.rate, chunk_ms=100, speed=1.0),
                            sample_rate=item.rate, config={"language": "en"}, timeout=TIMEOUT)
    return [Final(m.get("channel", 0), m["start_ms"] / 1000, m["end_ms"] / 1000, m["text"])
            for m in messages if m["type"] == "final"]


async def deepgram(port: int, item: turns.Item) -> list[Final]:
    from websockets.asyncio.client import connect

    from tests.kit.support import converse, paced

    assert isinstance(item.audio, np.ndarray)
    step = item.rate // 10
    chunks = [pcm16(item.audio[i:i + step]) for i in range(0, len(item.audio), step)]
    finals: list[Final] = []
    url = f"ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate={item.rate}&channels=1&language=en"
    async with connect(url) as websocket:
        async def send() -> None:
            async for chunk in paced(chunks, 100):
                await websocket.send(chunk)
            await websocket.send(json.dumps({"type": "CloseStream"}))

        def on_text(text: str) -> None:
            message = json.loads(text)
            if message.get("type") == "Results" and message.get("is_final"):
                start = float(message["start"])
                final = Final(message.get("channel_index", [0])[0], start, start + float(message["duration"]),
                              message["channel"]["alternatives"][0]["transcript"])
                finals.append(final)

        await converse(websocket, send, on_text, timeout=len(chunks) / 10 + TIMEOUT)
    return finals


async def twilio(port: int, item: turns.Item) -> list[Final]:
    """Mono ``item``: the ``inbound`` track; stereo: party ``k`` as track ``k`` (inbound, outbound)."""
    from websockets.asyncio.client import connect

    from tests.kit.support import converse, paced
    from tests.kit.telephony import CALL_SID, STREAM_SID, mulaw_encode, twilio_media, twilio_start

    assert isinstance(item.audio, np.ndarray) and item.rate == turns.PHONE_RATE
    tracks = ("inbound", "outbound") if item.audio.ndim == 2 else ("inbound",)
    channels = item.audio.reshape(len(item.audio), -1)
    encoded = [mulaw_encode(channels[:, k]) for k in range(len(tracks))]
    frame = turns.PHONE_RATE // 50  # 20 ms, as Twilio sends
    finals: list[Final] = []
    async with connect(f"ws://127.0.0.1:{port}/twilio") as websocket:
        async def send() -> None:
            await websocket.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await websocket.send(twilio_start(tracks=tracks, language="en"))
            sequence = 3
            async for index in paced(range(len(encoded[0]) // frame), 20):
                for track, payload in zip(tracks, encoded):
                    await websocket.send(twilio_media(track, index + 1, index * 20,
                                                      payload[index * frame:(index + 1) * frame], sequence))
                    sequence += 1
            await websocket.send(json.dumps({"event": "stop", "sequenceNumber": str(sequence), "streamSid": STREAM_SID,
                                             "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef",
                                                      "callSid": CALL_SID}}))

        def on_text(text: str) -> None:
            message = json.loads(text)
            if message.get("event") == "final":
                finals.append(Final(message.get("channel", 0), message["start_ms"] / 1000, message["end_ms"] / 1000,
                                    message["text"]))
            elif message.get("event") == "error":
                raise RuntimeError(f"twilio error: {message}")

        await converse(websocket, send, on_text, timeout=len(encoded[0]) / turns.PHONE_RATE + TIMEOUT)
    return finals


async def audiohook(port: int, item: turns.Item) -> list[Final]:
    """Stereo ``item`` as an AudioHook call: party 0 ``external``, party 1 ``internal``, PCMU."""
    from websockets.asyncio.client import connect

    from tests.kit.support import converse, paced
    from tests.kit.telephony import AudioHookClient, mulaw_encode

    assert isinstance(item.audio, np.ndarray) and item.audio.ndim == 2 and item.rate == turns.PHONE_RATE
    frame = turns.PHONE_RATE // 50
    frames = [mulaw_encode(item.audio[i:i + frame].reshape(-1)) for i in range(0, len(item.audio) - frame + 1, frame)]
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Organization-Id": str(uuid.uuid4()), "Audiohook-Correlation-Id": str(uuid.uuid4()),
               "Audiohook-Session-Id": client.id}
    finals: list[Final] = []
    async with connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=headers) as websocket:
        media = [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}]
        await websocket.send(client.open(media=media))
        opened = client.seen(await websocket.recv())
        if opened.get("type") != "opened":
            raise RuntimeError(f"audiohook open answered by {opened}")

        async def send() -> None:
            async for index, data in paced(list(enumerate(frames)), 20):
                await websocket.send(data)
                client.position = (index + 1) * frame / turns.PHONE_RATE
            await websocket.send(client.message("close", {"reason": "end"}))

        def on_text(text: str) -> None:
            message = client.seen(text)
            if message.get("type") == "disconnect":
                raise RuntimeError(f"audiohook disconnect: {message.get('parameters')}")
            for entity in message.get("parameters", {}).get("entities", []):
                data = entity.get("data", {})
                if entity.get("type") == "transcript" and data.get("isFinal"):
                    start = parse_duration(data["offset"])
                    finals.append(Final(int(data.get("channelId", 0)), start, start + parse_duration(data["duration"]),
                                        data["alternatives"][0]["interpretations"][0]["transcript"]))

        await converse(websocket, send, on_text, timeout=len(frames) / 50 + TIMEOUT)
    return finals


def rendering(door: str, item: turns.Item, *, crosstalk: float = turns.CROSSTALK) -> turns.Item:
    """``item`` as ``door`` takes it (``crosstalk``: the stereo doors' leak of the other party)."""
    if door in ("native", "deepgram"):
        return turns.render(item.seed, form="mono", rate=turns.RATE)
    if door == "twilio":
        return turns.render(item.seed, form="mono", rate=turns.PHONE_RATE)
    return turns.render(item.seed, form="stereo", rate=turns.PHONE_RATE, crosstalk=crosstalk)


async def session(door: str, stack: Stack, item: turns.Item) -> list[Final]:
    """``item`` through ``door`` of ``stack`` (tests.kit.stack.Stack: a benchmark's own, or a test's)."""
    if door == "native":
        return await native(stack.url, item)
    if door == "deepgram":
        return await deepgram(stack.port, item)
    if door in ("twilio", "twilio-stereo"):
        return await twilio(stack.port, item)
    return await audiohook(stack.port, item)


# -- the run ------------------------------------------------------------------------------------------


HEADER = ("| model | door | sessions | short replies | own final <= 0.3 s | own final | merged | lost | finals "
          "| overlapping finals | repeated finals | WER |\n" + "|---" * 12 + "|")


def row(model: str, door: str, tally: Tally) -> str:
    wer = f"{100 * tally.errors / tally.words:.1f} %" if tally.words else "n/a"
    return (f"| {model} | {door} | {tally.sessions} | {tally.replies} | {tally.own_close} | {tally.own} | {tally.merged} "
            f"| {tally.lost} | {tally.finals} | {tally.overlapping} | {tally.repeated} | {wer} |")


async def run_model(model: str, doors: list[str], chosen: list[turns.Item], args) -> dict[str, Tally]:
    from tests.kit.support import wait_for_workers

    own = OwnStack({"STREAMSCRIBE_ASR_MODEL": model, "STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "false"})
    tallies = {door: Tally() for door in doors}
    try:
        wait_for_workers(own.stack.http, ("vad", "asr"), timeout=120)
        gate = asyncio.Semaphore(args.concurrency)

        async def one(door: str, item: turns.Item) -> None:
            rendered = rendering(door, item, crosstalk=args.crosstalk)
            async with gate:
                try:
                    finals = await session(door, own.stack, rendered)
                except Exception as exc:  # a session that failed (a busy box, a refusal), not the run
                    tallies[door].failed.append(f"{item.name}: {type(exc).__name__}: {exc}")
                    return
            tallies[door].add(score(rendered, finals, stereo=door in STEREO))
            if args.show:
                lines = [f"  {f.channel} {f.start:6.2f}-{f.end:6.2f} {f.text}" for f in finals]
                print(f"# {model} {door} {item.name}\n" + "\n".join(lines), flush=True)

        await asyncio.gather(*(one(door, item) for item in chosen for door in doors))
    finally:
        own.close()
    return tallies


def door_list(value: str) -> list[str]:
    return some_of(value, DOORS, "--doors")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=turns.PARTS, default="tune",
                        help="the set's part: tune, or heldout (only for the final figures)")
    parser.add_argument("--count", type=int, default=turns.ITEMS, help="items of the part")
    parser.add_argument("--models", nargs="+", default=["tiny.en"], help="the ASR worker's --model, one stack each")
    parser.add_argument("--doors", type=door_list, default=list(DOORS),
                        help=f"comma-separated: {', '.join(DOORS)}, or all")
    parser.add_argument("--crosstalk", type=float, default=turns.CROSSTALK,
                        help="the other party's level on a party's channel, stereo doors (0: none)")
    parser.add_argument("--concurrency", type=int, default=3, help="sessions streamed at a time")
    parser.add_argument("--show", action="store_true", help="print each session's finals and each reply missed")
    args = parser.parse_args()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, aio.current_task().cancel)
    chosen = turns.items(args.part, count=args.count)
    replies = sum(len(item.replies) for item in chosen)
    seconds = sum(len(item.audio) / item.rate for item in chosen)
    print(f"# turn set {args.part}: {len(chosen)} items, {replies} short replies, {seconds:.0f} s of audio; "
          f"doors {', '.join(args.doors)}; cross-talk {args.crosstalk}; {args.concurrency} at a time; load average at start {load_average()}",
          flush=True)
    results = {}
    for model in args.models:
        started = time.monotonic()
        results[model] = await run_model(model, args.doors, chosen, args)
        print(f"# {model}: {time.monotonic() - started:.0f} s; load average {load_average()}", flush=True)
    print(HEADER)
    for model, tallies in results.items():
        for door, tally in tallies.items():
            print(row(model, door, tally), flush=True)
    for model, tallies in results.items():
        for door, tally in tallies.items():
            for failure in tally.failed:
                print(f"#   {model} {door}: failed: {failure}")
            if args.show:
                for missed in tally.missed:
                    print(f"#   {model} {door}: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

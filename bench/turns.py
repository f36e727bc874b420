"""Short turns through the doors: does each one-word reply come back as a final of its own?

    .venv/bin/python -m bench.turns                       # tune part, tiny.en, every door
    .venv/bin/python -m bench.turns --models tiny.en base --doors native,deepgram --count 6
    .venv/bin/python -m bench.turns --part fresh          # only for the final figures (tests/kit/turns.py)

Streams the turn-taking set (:mod:`tests.kit.turns`) at real time through a private stack's doors
(:mod:`tests.kit.turn_doors`: ``native``, ``deepgram``: mono 16 kHz; ``twilio``: mono μ-law;
``twilio-stereo``, ``audiohook``: each party on its own channel), ``--concurrency`` sessions at a
time. A final "takes in" a turn when its span overlaps the turn's speech by more than
``tests.kit.turns.TAKES_IN`` s. Per short reply (:func:`tests.kit.turns.replies`): ``own <= 0.3 s``
(a final takes in it alone and starts and ends within ``SLACK`` of its speech: issue 47's test),
``own``, ``merged`` (every final taking it in takes another turn too) or ``lost``; over the
finals, those that overlap or repeat an earlier one, and the WER.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.latency import Heard, OwnStack, contract_counts, load_average, some_of
from common import aio
from tests.kit import turns
from tests.kit.turn_doors import DOORS, STEREO, rendering, session
from tests.kit.turns import Final


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


def score(item: turns.Item, finals: Sequence[Final], *, stereo: bool) -> Tally:
    """One session's figures: each reply of ``item`` against the ``finals`` it got (with ``stereo``,
    a party's replies against its own channel's finals)."""
    from bench.accuracy import errors

    heard = turns.replies(item, finals, stereo=stereo)
    tally = Tally(sessions=1, replies=heard.replies, own_close=heard.own_close, own=heard.own, merged=heard.merged,
                  lost=heard.lost, missed=heard.missed)
    spoken = turns.spoken(finals)
    tally.finals = len(spoken)
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
                        help="the set's part: tune (to tune on), or a later one (held back until measured once: "
                             "see tests/kit/turns.py for which have been)")
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

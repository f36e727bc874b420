"""Whisper's no-speech rule on what the VAD hands it: short replies it must keep, breaths it must drop.

    .venv/bin/python -m bench.no_speech --models tiny.en base --part tune [--count 12] [--show]

Each short reply of the turn set's items (:mod:`tests.kit.turns`, ``--part``: tune, heldout or fresh),
cut from its party's track with 0.25 s either side (about the VAD's margins), and as many
breath-like bursts (the contract soak's :func:`~bench.contract_soak.breath`, 0.1-0.3 s, drawn
apart per part), each at 16 kHz and through 8 kHz mu-law (:func:`bench.accuracy.telephone`), are decoded
as a live final (language ``en``) by the whisper decoder. A reply is **lost** when its decode is
judged silence (:func:`asr_worker.engines.whisper.silence`) or writes nothing; a breath gives a
**filler** when its decode is taken as speech with a letter or digit in it. The table puts the rule
in the engine beside faster-whisper's own (no-speech probability over 0.6 and log-probability
under -1), on the same decodes; ``--show`` prints every decode either rule would change.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from asr_worker.engines import DecodeRequest
from asr_worker.engines.whisper import LOW_LOGPROB, NO_SPEECH_PROB, WhisperDecoder, WhisperOptions, silence
from bench.accuracy import telephone
from bench.contract_soak import breath
from tests.kit import turns

RATE = 16_000
MARGIN = int(0.25 * RATE)
BREATH_SEED = 7  # the breaths of a part are drawn from its first seed plus this


@dataclass(frozen=True, slots=True)
class Decode:
    kind: str  # "reply" or "breath"
    form: str  # "16k" or "mulaw"
    said: str
    text: str
    logprob: float
    no_speech: float

    def faster_whisper(self) -> bool:
        return self.no_speech > NO_SPEECH_PROB and self.logprob < LOW_LOGPROB

    def ours(self) -> bool:
        return silence(self.text, avg_logprob=self.logprob, no_speech_prob=self.no_speech)


def clips(part: str, count: int) -> Iterator[tuple[str, str, np.ndarray]]:
    """(kind, what was said, 16 kHz samples): the part's short replies, then as many breaths."""
    replies = 0
    for seed in turns.seeds(part, count=count):
        both, timeline, _ = turns.tracks(seed)
        for turn in timeline:
            if turn.short:
                replies += 1
                yield "reply", turn.text, both[max(0, turn.start - MARGIN):turn.end + MARGIN, turn.party]
    rng = np.random.default_rng(turns.SEEDS[part].start + BREATH_SEED)
    quiet = np.zeros(MARGIN, np.float32)
    for _ in range(replies):
        yield "breath", "", np.concatenate([quiet, breath(rng, float(rng.uniform(0.1, 0.3))), quiet])


def decodes(model: str, part: str, count: int) -> list[Decode]:
    decoder = WhisperDecoder(WhisperOptions(model=model))
    out = []
    for kind, said, samples in clips(part, count):
        for form, audio in (("16k", samples.astype(np.float32)), ("mulaw", telephone(samples)[0])):
            ((_, scores),) = decoder.decode_scored([DecodeRequest(request_id="n", audio=audio, final=True,
                                                                  language="en")])
            out.append(Decode(kind, form, said, scores.text, scores.avg_logprob, scores.no_speech_prob))
    return out


def _worded(row: Decode) -> bool:
    return any(c.isalnum() for c in row.text)


def lost(row: Decode, rule: Callable[[Decode], bool]) -> bool:
    """A reply that ``rule`` (a Decode -> silence predicate) judges silence, or whose decode wrote nothing."""
    return row.kind == "reply" and (rule(row) or not _worded(row))


def counts(rows: list[Decode], rule: Callable[[Decode], bool]) -> tuple[int, int]:
    """(replies lost, breaths that gave a filler) under ``rule`` (a Decode -> silence predicate)."""
    return (sum(lost(row, rule) for row in rows),
            sum(row.kind == "breath" and not rule(row) and _worded(row) for row in rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--part", choices=turns.PARTS, default="tune")
    parser.add_argument("--count", type=int, default=turns.ITEMS, help="items of the turn set")
    parser.add_argument("--show", action="store_true",
                        help="print the decodes the two rules judge apart, and every reply lost under ours")
    args = parser.parse_args(argv)
    print(f"# part {args.part}, {args.count} items")
    print("| model | audio | replies | breaths | faster-whisper's rule: lost / fillers | ours: lost / fillers |")
    print("|---|---|---|---|---|---|")
    for model in args.models:
        rows = decodes(model, args.part, args.count)
        for form in ("16k", "mulaw"):
            some = [row for row in rows if row.form == form]
            theirs, ours = counts(some, Decode.faster_whisper), counts(some, Decode.ours)
            print(f"| {model} | {form} | {sum(r.kind == 'reply' for r in some)} | {sum(r.kind == 'breath' for r in some)} "
                  f"| {theirs[0]} / {theirs[1]} | {ours[0]} / {ours[1]} |")
        if args.show:
            for row in rows:
                if row.faster_whisper() != row.ours() or lost(row, Decode.ours):
                    print(f"  {model} {row.form} {row.kind} {row.said!r} -> {row.text!r} logprob {row.logprob:.2f} "
                          f"no-speech {row.no_speech:.2f}: silence {row.faster_whisper()} -> {row.ours()}")


if __name__ == "__main__":
    main()

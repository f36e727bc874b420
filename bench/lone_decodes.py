"""Recording WER with and without the decode alone of an utterance its pack wrote no words of.

The recording path (``POST /v1/listen``) decodes a recording's utterances in packs
(:mod:`asr_worker.recording`); an utterance the pack's decode wrote no words of is decoded
again alone. That can only change such utterances' finals (the others are the pack's words as
before), so the question is whether what the decodes alone write is the speech or made up:

* ``--calls``: the accuracy set's English call scripts (bench/accuracy_set/calls.txt), one
  utterance a sentence (0.8 s between), each voice at 16 kHz and through 8 kHz mu-law, decoded
  in packs in process (as ``bench.redaction --packs`` does) twice: with the decodes alone and
  with them stubbed out (as before them); WER of each way (bench.accuracy's normalisation);
* ``--finals BEFORE AFTER``: the recording finals that ``bench.redaction --packs --finals DIR``
  kept, before the change and after (the redaction set's calls: one reference text a piece);
  WER of each (each call's finals against its pieces' text), and each piece whose final differs.

Usage::

    .venv/bin/python -m bench.lone_decodes [--models tiny.en base] [--voices en-us en-gb] [--calls]
        [--finals /tmp/before /tmp/after]
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from asr_worker.engines import load_engine
from asr_worker.engines.whisper import WhisperOptions
from asr_worker.stage import AsrStage
from bench.accuracy import errors, read_lines
from bench.redaction import packed_finals, read_finals
from tests.kit.redaction import CALLS, Piece

CALL_SCRIPTS = Path(__file__).parent / "accuracy_set" / "calls.txt"


async def _before(self, session, asr, pack, request, dealt, lost, fates) -> set[int]:
    """:meth:`~asr_worker.recording.Recordings._decode_alone` as it was before it: nothing decoded."""
    return set()


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


async def calls(models: list[str], voices: list[str]) -> None:
    scripts = [(name, text) for name, language, text in read_lines(CALL_SCRIPTS) if language == "en"]
    alone = AsrStage._decode_alone
    for model in models:
        engine = load_engine("whisper", WhisperOptions(model=None if model == "tiny.en" else model, num_workers=1,
                                                       batch_process=False))
        await engine.start()
        try:
            for way, decode_alone in (("with", alone), ("without", _before)):
                AsrStage._decode_alone = decode_alone  # type: ignore[method-assign]
                wrong = total = 0
                for voice in voices:
                    for line in ("16k", "8k-mulaw"):
                        for name, text in scripts:
                            pieces = [Piece(s, pause=0.8) for s in sentences(text)]
                            finals, _ = await packed_finals(pieces, f"{voice}/{line}", engine, "")
                            said = " ".join(f.text for f in finals)
                            e, n, _ = errors(text, said)
                            wrong, total = wrong + e, total + n
                            print(f"== {model} {way} {voice}/{line} {name}: {e}/{n} {said!r}")
                print(f"== {model}: recording WER {way} the decodes alone {wrong}/{total} = {wrong / total:.2%}")
        finally:
            AsrStage._decode_alone = alone  # type: ignore[method-assign]
            await engine.close()


def compare(before: Path, after: Path) -> None:
    pieces = dict(CALLS)
    for model in ("tiny.en", "base"):
        sums = {"before": [0, 0], "after": [0, 0]}
        for path in sorted(after.glob(f"{model}-*-packs.json")):
            old = before / path.name
            if not old.exists():
                continue
            name = next(n for n in pieces if re.search(rf"-{re.escape(n)}-[0-9a-f]{{8}}-", path.name))
            said, was_finals, now_finals = pieces[name], read_finals(old), read_finals(path)
            for way, finals in (("before", was_finals), ("after", now_finals)):
                # The whole call: a pack may deal a piece's words to its neighbour.
                e, n, _ = errors(" ".join(p.text for p in said), " ".join(f.text for f in finals))
                sums[way][0] += e
                sums[way][1] += n
            for piece, was, now in zip(said, was_finals, now_finals):
                if was.text != now.text or was.no_words != now.no_words:
                    print(f"  {path.name}: {piece.text!r}: {was.text!r} -> {now.text!r}"
                          + (" (no_words)" if now.no_words else ""))
        for way, (e, n) in sums.items():
            if n:
                print(f"== {model} redaction set's recordings, {way}: WER {e}/{n} = {e / n:.2%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--voices", nargs="+", default=["en-us", "en-gb"])
    parser.add_argument("--calls", action="store_true", help="the accuracy set's call scripts, decoded both ways")
    parser.add_argument("--finals", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="bench.redaction --packs --finals directories, before the change and after")
    args = parser.parse_args(argv)
    if args.finals:
        compare(*args.finals)
    if args.calls:
        asyncio.run(calls(args.models, args.voices))


if __name__ == "__main__":
    main()

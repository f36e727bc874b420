"""Which difference between the live decode of an utterance and offline ``transcribe()`` of the
whole clip costs WER: each variant of the decode on the same draws, paired against offline.

    .venv/bin/python -m bench.decode_variants --sets spanish --spanish-voices es es-419 --telephone \
        --shifts 0 10 20 30 [--variants offline engine engine-beam engine-beam-full ...] [--json FILE]

For each item of ``bench/accuracy.py``'s set (after ``--shifts`` ms more silence before it, and
through 8 kHz μ-law with ``--telephone``), the VAD worker's model and segmenter cut the
utterances as the live path does (``bench/early_final_replay.py``); each variant then decodes
every cut and the texts are joined, except ``offline``, which is faster-whisper's ``transcribe()``
of the whole clip (bench/accuracy.py's offline way: the reference of the issue's target).

* ``engine``: the ASR worker's decode of a final (greedy, fitted window with
  ``--window-margin`` 10 s, beam search again for a poor decode: asr_worker/engines/fallback.py);
* ``engine-beam``: the same with beam search on every final (``--final-beam-logprob 0``);
* ``engine-full``, ``engine-beam-full``: those two with whisper's full 30 s window
  (``--window-margin full``); ``engine-beam-m20``: beam search, a 20 s margin;
* ``engine-zeros``, ``engine-silence``: the engine with its window padded with zeros (as before
  it told narrowband audio apart) or with the log-mel of silence after any audio;
* ``cut-offline``: ``transcribe()`` of the cut (beam 5, temperature fallback, timestamps);
  ``cut-offline-nots``: the same without timestamps, as the engine decodes.

No early finals (``early_final_replay`` has those): each cut decoded whole. It prints WER per
variant, its difference from ``offline`` with a 90 % interval by bootstrap over the items (the
draws of one item go together: a few ms of shift flip one phrase of it), and the process time of
each variant's decodes. Decodes are deterministic on one box; another CPU's int8 kernels can move
a draw, so compare variants within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from asr_worker.engines.base import DecodeRequest
from asr_worker.engines import whisper
from asr_worker.engines.whisper import FRAMES_PER_SECOND, WhisperDecoder, WhisperOptions
from bench.accuracy import build_set, errors, interval, shifted, transcribed, wer
from bench.early_final_replay import OFFLINE, utterances
from vad_worker.model import SileroVad

# Engine variants: (beam search on every final, encoder window margin in seconds or None: full).
ENGINE = {"engine": (False, 10.0), "engine-beam": (True, 10.0), "engine-full": (False, None),
          "engine-beam-full": (True, None), "engine-beam-m20": (True, 20.0)}
# The engine with its window padded one way whatever the audio (it pads with the log-mel of silence
# after narrowband audio only, zeros after wideband: whisper.fitted_windows).
PADDING = {"engine-zeros": False, "engine-silence": True}
CUT_OFFLINE = {"cut-offline": {}, "cut-offline-nots": {"without_timestamps": True}}
VARIANTS = (OFFLINE, *ENGINE, *PADDING, *CUT_OFFLINE)


def decoders(decoder: WhisperDecoder, names: list[str]) -> dict[str, Callable[[np.ndarray, str], str]]:
    """Each named variant as a function of (a cut, its language) -> text, on the one loaded model."""
    policy = decoder.fallback
    margins = dict(decoder._margins)

    def engine(every: bool, margin: float | None) -> Callable[[np.ndarray, str], str]:
        def decode(cut: np.ndarray, language: str) -> str:
            decoder.fallback = replace(policy, logprob=0.0) if every else policy
            decoder._margins = {**margins, True: None if margin is None else round(margin * FRAMES_PER_SECOND)}
            try:
                return decoder.decode([DecodeRequest("cut", cut, True, language=language)])[0].text
            finally:
                decoder.fallback, decoder._margins = policy, dict(margins)
        return decode

    def offline(**options) -> Callable[[np.ndarray, str], str]:
        def decode(audio: np.ndarray, language: str) -> str:
            return transcribed(decoder.model, audio, language, **options)[0]
        return decode

    made: dict[str, Callable[[np.ndarray, str], str]] = {OFFLINE: offline()}
    made |= {name: engine(*spec) for name, spec in ENGINE.items()}
    made |= {name: padded(made["engine"], silence) for name, silence in PADDING.items()}
    made |= {name: offline(**options) for name, options in CUT_OFFLINE.items()}
    return {name: made[name] for name in names}


def padded(decode: Callable[[np.ndarray, str], str], silence: bool) -> Callable[[np.ndarray, str], str]:
    """``decode`` with the encoder window padded with silence (True) or zeros (False) after any audio."""
    def decode_padded(cut: np.ndarray, language: str) -> str:
        told = whisper.narrowband
        whisper.narrowband = lambda feature: silence
        try:
            return decode(cut, language)
        finally:
            whisper.narrowband = told
    return decode_padded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--sets", nargs="+", default=["spanish"], choices=["librivox", "calls", "spanish"])
    parser.add_argument("--voices", nargs="+", default=["en-us", "en-gb"], help="espeak-ng voices of the call scripts")
    parser.add_argument("--spanish-voices", nargs="+", default=["es", "es-419"], metavar="VOICE")
    parser.add_argument("--items", nargs="+", metavar="PATTERN", help="only the items whose name matches one")
    parser.add_argument("--telephone", action="store_true", help="through 8 kHz mu-law, as the Twilio door hands it on")
    parser.add_argument("--shifts", nargs="+", type=int, default=[0], metavar="MS")
    parser.add_argument("--variants", nargs="+", default=[OFFLINE, "engine", "engine-beam", "cut-offline"],
                        choices=VARIANTS)
    parser.add_argument("--json", metavar="FILE", help="write every draw's texts and errors")
    args = parser.parse_args(argv)
    names = [OFFLINE] + [name for name in args.variants if name != OFFLINE]
    decoder = WhisperDecoder(WhisperOptions(model=args.model, batch_process=False))
    ways = decoders(decoder, names)
    vad = SileroVad()
    cpu = dict.fromkeys(names, 0.0)
    rows: list[dict] = []
    for item in build_set(args.sets, args.voices, args.spanish_voices, args.items):
        if item.language not in decoder.languages:
            continue
        for shift in args.shifts:
            audio = shifted(item.samples, shift, phone=args.telephone)
            cuts = [samples for samples, _, _ in utterances(vad, audio)]
            row: dict = {"item": item.name, "shift": shift}
            for name, decode in ways.items():
                started = time.process_time()
                text = decode(audio, item.language) if name == OFFLINE else " ".join(
                    decode(cut, item.language) for cut in cuts)
                cpu[name] += time.process_time() - started
                wrong, total, _ = errors(item.reference, text, language=item.language)
                row[name] = {"errors": wrong, "words": total, "text": text}
            rows.append(row)
            print(f"{item.name} +{shift} ms: " + " ".join(f"{name} {row[name]['errors']}" for name in names),
                  flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"command": "python -m bench.decode_variants " + " ".join(argv or sys.argv[1:]),
                       "model": args.model, "draws": rows}, out, indent=1, ensure_ascii=False)
            out.write("\n")
    print(f"\n{len(rows)} draws; WER, against offline (90 % interval over items), process time:")
    for name in names:
        low, high = interval(rows, name, OFFLINE) if name != OFFLINE else (0.0, 0.0)
        print(f"  {name:18} {wer(rows, name):5.1f} %  {wer(rows, name) - wer(rows, OFFLINE):+5.1f} "
              f"({low:+.1f} .. {high:+.1f})  {cpu[name]:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

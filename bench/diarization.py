"""DER of ``diarize=true``'s diarizer on two- and three-speaker mono mixes, with and without overlap.

The mixes (tests/kit/mixes.py): the LibriVox reader and one or two espeak-ng voices taking
turns, 6 turns each, 0.4-1.0 s apart or overlapping by ``--overlap`` s. Speech regions come
from Silero VAD (the pipeline's VAD, with its 0.8 s end-of-speech silence and 0.3 s of pre-roll
and padding), as the finals' spans would; then the product's code runs as the gateway's
diarizer process does (:func:`gateway.diarization.pool.diarize`, one torch thread). DER:
bench/der.py (10 ms frames, no collar, overlap scored). The VAD's regions hold its padding and
the pauses under 0.8 s between turns, which DER counts as false alarm although no word is
there to be labelled; ``oracle regions`` runs the same diarizer on the truth's speech spans
(the speaker error alone). ``one cluster`` is the floor to beat: everything one speaker on the
VAD's regions.

    PYTHONPATH=$PWD .venv/bin/python -m bench.diarization
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from silero_vad import get_speech_timestamps, load_silero_vad

from bench.der import der, reference_frames
from gateway.diarization import pool
from tests.kit import mixes


def regions_ms(mix: np.ndarray) -> list[tuple[int, int]]:
    """Silero's speech in ms, with the pipeline's end-of-speech silence and padding."""
    stamps = get_speech_timestamps(torch.from_numpy(mix), load_silero_vad(), sampling_rate=mixes.RATE,
                                   min_silence_duration_ms=800, speech_pad_ms=300, min_speech_duration_ms=300)
    return [(s["start"] * 1000 // mixes.RATE, s["end"] * 1000 // mixes.RATE) for s in stamps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5], help="seconds turns overlap")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool._load()
    print("| mix | overlap | DER | missed | false alarm | confusion | speakers found | DER, oracle regions "
          "| one cluster | audio | CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for speakers in (2, 3):
        for overlap in args.overlap:
            mix, truth = mixes.build(speakers, overlap=overlap, seed=args.seed)
            pcm = (np.clip(mix, -1, 1) * 32767).astype(np.int16)[:, None]
            regions = regions_ms(mix)
            began = time.process_time()
            labels = pool.diarize(pcm, mixes.RATE, regions)
            spent = time.process_time() - began
            reference = reference_frames([(t.speaker, t.start, t.end) for t in truth], len(labels.speaker))
            result = der(reference, labels.speaker)
            floor = der(reference, np.where(labels.speaker >= 0, 0, -1))
            oracle = pool.diarize(pcm, mixes.RATE, [(int(t.start * 1000), int(t.end * 1000)) for t in truth])
            exact = der(reference, oracle.speaker)
            print(f"| {speakers} speakers | {overlap:g} s | {result.total:.1%} | {result.missed:.1%} | "
                  f"{result.false_alarm:.1%} | {result.confusion:.1%} | {labels.speakers} | "
                  f"{exact.total:.1%} ({oracle.speakers}) | {floor.total:.1%} | {len(mix) / mixes.RATE:.0f} s | {spent:.1f} s |")


if __name__ == "__main__":
    main()

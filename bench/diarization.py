"""DER of ``diarize=true``'s diarizer on two- and three-speaker mono mixes, with and without overlap.

The mixes (tests/kit/mixes.py): the LibriVox reader and one or two espeak-ng voices taking
turns, 6 turns each, 0.4-1.0 s apart or overlapping by ``--overlap`` s. Speech regions come
from Silero VAD (the pipeline's VAD, with its 0.8 s end-of-speech silence and 0.3 s of
pre-roll and padding), as the finals' spans would; then the product's code runs as the
gateway's diarizer process does (:func:`gateway.diarization.pool.diarize`, one torch
thread). DER: bench/der.py (10 ms frames, overlap scored; without a collar, and with NIST's
0.25 s). Columns:

- ``VAD regions``: every frame of the regions with its label. The regions hold the VAD's
  padding and the pauses under 0.8 s between turns, which DER counts as false alarm though
  no word is there to label.
- ``words``: what the response carries: each region transcribed by whisper tiny.en
  (faster-whisper, the packaged model, word timings), its words given speakers by the
  product's code (:func:`gateway.diarization.words.apply`); the hypothesis is the words'
  spans with their speakers (the gaps between words and whisper's coarse word timings show
  as missed speech and false alarm).
- ``oracle regions``: the same diarizer on the truth's speech spans: the speaker error alone.
- ``one cluster``: the floor to beat: everything one speaker on the VAD's regions.
- ``CPU``: the diarizer's process time (embeddings and clustering) on the VAD regions.

    PYTHONPATH=$PWD .venv/bin/python -m bench.diarization
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from silero_vad import get_speech_timestamps, load_silero_vad

from bench.der import der, reference_frames
from asr_worker.engines.whisper import bundled_model_path
from gateway.diarization import pool, words
from gateway.diarization.cluster import Labels
from tests.kit import mixes


def regions_ms(mix: np.ndarray) -> list[tuple[int, int]]:
    """Silero's speech in ms, with the pipeline's end-of-speech silence and padding."""
    stamps = get_speech_timestamps(torch.from_numpy(mix), load_silero_vad(), sampling_rate=mixes.RATE,
                                   min_silence_duration_ms=800, speech_pad_ms=300, min_speech_duration_ms=300)
    return [(s["start"] * 1000 // mixes.RATE, s["end"] * 1000 // mixes.RATE) for s in stamps]


def words_hypothesis(model, mix: np.ndarray, regions: list[tuple[int, int]], labels: Labels) -> np.ndarray:
    """Speaker per 10 ms frame from the words a response would carry (whisper tiny.en on each region)."""
    said = []
    for start_ms, end_ms in regions:
        segments, _ = model.transcribe(mix[start_ms * 16:end_ms * 16], language="en", word_timestamps=True,
                                       beam_size=1, vad_filter=False)
        said += [{"word": w.word.strip(), "start": start_ms / 1000 + w.start, "end": start_ms / 1000 + w.end,
                  "confidence": w.probability, "punctuated_word": w.word.strip()}
                 for segment in segments for w in segment.words]
    body = {"metadata": {}, "results": {"channels": [{"alternatives": [{"words": said}]}]}}
    words.apply(body, labels)
    out = -np.ones(len(labels.speaker), int)
    for word in said:
        if "speaker" in word:
            out[int(round(word["start"] * 100)):int(round(word["end"] * 100))] = word["speaker"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5], help="seconds turns overlap")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool._load()
    from faster_whisper import WhisperModel  # noqa: PLC0415 (its import is slow; only main needs it)

    model = WhisperModel(bundled_model_path(), device="cpu", compute_type="int8", cpu_threads=1)
    print("| mix | overlap | speakers found | DER, VAD regions (missed / false alarm / confusion) | same, collar "
          "0.25 s | DER, words | same, collar 0.25 s | DER, oracle regions | one cluster | audio | CPU |")
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
            collared = der(reference, labels.speaker, collar=0.25)
            floor = der(reference, np.where(labels.speaker >= 0, 0, -1))
            oracle = pool.diarize(pcm, mixes.RATE, [(int(t.start * 1000), int(t.end * 1000)) for t in truth])
            exact = der(reference, oracle.speaker)
            said = words_hypothesis(model, mix, regions, labels)
            print(f"| {speakers} speakers | {overlap:g} s | {labels.speakers} | {result.total:.1%} ({result.missed:.1%} "
                  f"/ {result.false_alarm:.1%} / {result.confusion:.1%}) | {collared.total:.1%} | "
                  f"{der(reference, said).total:.1%} | {der(reference, said, collar=0.25).total:.1%} | "
                  f"{exact.total:.1%} ({oracle.speakers}) | {floor.total:.1%} | {len(mix) / mixes.RATE:.0f} s "
                  f"| {spent:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

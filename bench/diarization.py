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
- ``online``: a streaming variant, as a live call would run it: each region (a final) in
  turn, its windows assigned to the nearest speaker so far when within cosine distance
  :data:`ONLINE_THRESHOLD` of its centre, else a new speaker (at most 8); a speaker's centre
  is the running mean of its windows. No speaker is re-labelled later, as a live final
  cannot be. (0.4, the offline cut, merged everyone into one speaker on three of the four
  mixes; 0.15, 0.2 and 0.25 found 5-8 speakers; 0.3 did best.)
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

from asr_worker.engines.whisper_models import resolve_model
from bench.der import der, reference_frames
from gateway.diarization import cluster, encoder, pool, words
from gateway.diarization.cluster import Labels
from tests.kit import mixes


def regions_ms(mix: np.ndarray) -> list[tuple[int, int]]:
    """Silero's speech in ms, with the pipeline's end-of-speech silence and padding."""
    stamps = get_speech_timestamps(torch.from_numpy(mix), load_silero_vad(), sampling_rate=mixes.RATE,
                                   min_silence_duration_ms=800, speech_pad_ms=300, min_speech_duration_ms=300)
    return [(s["start"] * 1000 // mixes.RATE, s["end"] * 1000 // mixes.RATE) for s in stamps]


ONLINE_THRESHOLD = 0.3


def online(model: encoder.Encoder, mix: np.ndarray, regions_ms_: list[tuple[int, int]]) -> np.ndarray:
    """Speaker per 10 ms frame, labelled one region at a time with no look-back (a live call's view)."""
    centres: list[np.ndarray] = []
    counts: list[int] = []
    out = -np.ones(-(-len(mix) // cluster.FRAME), int)
    for start_ms, end_ms in regions_ms_:
        region = [(start_ms * 16, min(len(mix), end_ms * 16))]
        spans = cluster.windows(region)
        if not spans:
            continue
        found = []
        for embedding in model.embed([mix[a:b] for a, b in spans]):
            similar = [float(embedding @ c / np.linalg.norm(c)) for c in centres]
            if similar and (1 - max(similar) < ONLINE_THRESHOLD or len(centres) == cluster.MAX_SPEAKERS):
                k = int(np.argmax(similar))
                centres[k] = centres[k] + (embedding - centres[k]) / (counts[k] + 1)
                counts[k] += 1
            else:
                k = len(centres)
                centres.append(embedding.copy())
                counts.append(1)
            found.append(k)
        first, last = region[0][0] // cluster.FRAME, -(-region[0][1] // cluster.FRAME)
        votes = np.zeros((last - first, len(centres)))
        for (a, b), k in zip(spans, found):
            votes[a // cluster.FRAME - first:-(-b // cluster.FRAME) - first, k] += 1
        out[first:last] = votes.argmax(axis=1)
    return out


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
            out[round(word["start"] * 100):round(word["end"] * 100)] = word["speaker"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5], help="seconds turns overlap")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool._load()  # for pool.diarize, as the diarizer's process does
    speakers_model = encoder.Encoder(encoder.weights_path())  # for the online variant
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8", cpu_threads=1)
    print("| mix | overlap | speakers found | DER, VAD regions (missed / false alarm / confusion) | same, collar "
          "0.25 s | DER, words | same, collar 0.25 s | DER, oracle regions | DER, online (speakers) | one cluster "
          "| audio | CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
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
            streamed = online(speakers_model, mix, regions)
            print(f"| {speakers} speakers | {overlap:g} s | {labels.speakers} | {result.total:.1%} ({result.missed:.1%} "
                  f"/ {result.false_alarm:.1%} / {result.confusion:.1%}) | {collared.total:.1%} | "
                  f"{der(reference, said).total:.1%} | {der(reference, said, collar=0.25).total:.1%} | "
                  f"{exact.total:.1%} ({oracle.speakers}) | "
                  f"{der(reference, streamed).total:.1%} ({streamed.max() + 1}) | {floor.total:.1%} | {len(mix) / mixes.RATE:.0f} s "
                  f"| {spent:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

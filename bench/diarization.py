"""DER of ``diarize=true``'s diarizer on two- and three-speaker mono mixes, with and without overlap.

    PYTHONPATH=$PWD .venv/bin/python -m bench.diarization [--mix NAME ...] [--overlap 0 0.5] [--noise-db -45]

The mixes (:data:`MIXES`, built by tests/kit/mixes.py) join the LibriVox reader and espeak-ng
voices, 6 turns each. Speech regions come from Silero with the pipeline's settings, each
transcribed by whisper tiny.en as a final; then the product's diarizer runs on them as the
gateway's diarizer process does, and the response is made as the gateway makes it. DER
(tests/kit/der.py) of the labels, the response's utterances and its words; ``oracle`` on the
truth's spans (the speaker error alone); ``online``, ``re-clustered`` and ``live words`` /
``live turns`` score streaming labelling on the same finals, the last as a live call's is
(:func:`gateway.diarization.pool.label_live`). ``--noise-db`` adds white noise under the speech.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from silero_vad import get_speech_timestamps, load_silero_vad

from asr_worker.engines.whisper_models import resolve_model
from tests.kit.der import der, reference_frames
from gateway.core import events
from gateway.diarization import cluster, encoder, pool, words
from gateway.diarization.online import History
from gateway.doors import deepgram_prerecorded
from tests.kit import mixes

M3, F3 = mixes.VOICES
# name: each speaker's voice (speaker 1 greets first). Pitches: espeak-ng's -p, 0-99 (50 its default).
MIXES = {
    "reader+m3": (mixes.READER, M3),
    "reader+m3+f3": (mixes.READER, M3, F3),
    "m1+f2": ("en-us+m1/p40", "en-us+f2"),
    "m1+m7 (two male, pitch 35 / 65)": ("en-us+m1/p35", "en-gb+m7/p65"),
    "reader+m1+m7": (mixes.READER, "en-us+m1/p35", "en-gb+m7/p65"),
}


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


def reclustered(model: encoder.Encoder, mix: np.ndarray, regions: list[tuple[int, int]]) -> tuple[np.ndarray, int]:
    """Speaker per 10 ms frame as delivered live: each final labelled once, after all windows so far are
    re-clustered and their clusters mapped onto the speakers delivered before; and the speakers delivered."""
    out = -np.ones(-(-len(mix) // cluster.FRAME), int)
    embedded: list[np.ndarray] = []
    delivered: list[int] = []  # the speaker each earlier window was delivered with
    speakers = 0
    for start_ms, end_ms in regions:
        spans = cluster.windows([(start_ms * 16, min(len(mix), end_ms * 16))])
        if not spans:
            continue
        embedded.append(model.embed([mix[a:b] for a, b in spans]))
        found = cluster.cluster(np.concatenate(embedded))
        old = np.array(delivered, int)
        mapping: dict[int, int] = {}
        if len(old):
            shared = np.zeros((int(found.max()) + 1, speakers))
            np.add.at(shared, (found[:len(old)], old), 1)
            rows, cols = linear_sum_assignment(-shared)
            mapping = {int(r): int(c) for r, c in zip(rows, cols) if shared[r, c] > 0}
        for k in range(int(found.max()) + 1):
            if k not in mapping:
                mapping[k] = speakers
                speakers += 1
        labels = [mapping[int(k)] for k in found[len(old):]]
        delivered += labels
        first, last = start_ms // 10, -(-end_ms // 10)
        votes = np.zeros((last - first, speakers))
        for (a, b), k in zip(spans, labels):
            votes[a // cluster.FRAME - first:-(-b // cluster.FRAME) - first, k] += 1
        out[first:last] = votes.argmax(axis=1)
    return out, speakers


def live(pcm: np.ndarray, finals: list[events.Final], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Speaker per 10 ms frame of the finals labelled as a live call's (its words', its turns'): each final's
    speech (first word to last) and its words' samples in it, as gateway/features/speakers.py sends them."""
    from bench.live_diarization import hypotheses  # that module imports this one's MIXES

    history = History.empty()
    delivered = []
    for final in finals:
        if not final.words:
            continue
        start_ms, end_ms = words.spoken(final.start_ms, final.end_ms, [(w.start_ms, w.end_ms) for w in final.words])
        start, end = start_ms * 16, max(end_ms * 16, start_ms * 16 + 1)
        said = [(max(0, w.start_ms * 16 - start), max(0, w.end_ms * 16 - start)) for w in final.words]
        labelled = pool.label_live(history, pcm[start:end, 0], said, deadline=math.inf)
        assert labelled is not None
        history = labelled.history
        delivered.append({"words": [{"start_ms": w.start_ms, "end_ms": w.end_ms, "speaker": k}
                                    for w, k in zip(final.words, labelled.speakers)]})
    return hypotheses(delivered, frames)


def transcribe(model, mix: np.ndarray, regions: list[tuple[int, int]]) -> list[events.Final]:
    """Each region as the pipeline's final: whisper tiny.en's words, in ms of the mix."""
    finals = []
    for index, (start_ms, end_ms) in enumerate(regions):
        segments, _ = model.transcribe(mix[start_ms * 16:end_ms * 16], language="en", word_timestamps=True,
                                       beam_size=1, vad_filter=False)
        said = [events.Word(text=w.word.strip(), start_ms=start_ms + round(w.start * 1000),
                            end_ms=start_ms + round(w.end * 1000), confidence=w.probability)
                for segment in segments for w in segment.words]
        finals.append(events.Final(channel=0, session_id="bench", utterance_id=f"u{index}",
                                   text=" ".join(w.text for w in said), start_ms=start_ms, end_ms=end_ms,
                                   language="en", words=tuple(said), speech_final=True))
    return finals


def spans_hypothesis(spans: list[tuple[float, float, int]], frames: int) -> np.ndarray:
    """Speaker per 10 ms frame of (start s, end s, speaker) spans."""
    out = -np.ones(frames, int)
    for start, end, speaker in spans:
        out[round(start * 100):round(end * 100)] = speaker
    return out


def _der(reference: np.ndarray, hypothesis: np.ndarray, *, parts: bool = False) -> str:
    plain, collared = der(reference, hypothesis), der(reference, hypothesis, collar=0.25)
    detail = f" ({plain.missed:.1%} / {plain.false_alarm:.1%} / {plain.confusion:.1%})" if parts else ""
    return f"{plain.total:.1%}{detail} | {collared.total:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", nargs="+", choices=list(MIXES), default=list(MIXES))
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5], help="seconds turns overlap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-db", type=float, default=None,
                        help="white noise of this level (dBFS) added to every mix (a line's noise floor)")
    args = parser.parse_args()
    pool._load()  # for pool.diarize, as the diarizer's process does
    speakers_model = encoder.Encoder(encoder.weights_path())  # for the streaming variants
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8", cpu_threads=1)
    settings = deepgram_prerecorded.PrerecordedSettings.from_query([("utterances", "true"), ("diarize", "true")])
    print("| mix | overlap | speakers found | labels, VAD regions | collar 0.25 s | labels (missed / false alarm / "
          "confusion) | collar 0.25 s | utterances (missed / false alarm / confusion) | collar 0.25 s | words "
          "| collar 0.25 s | oracle | online (speakers) | re-clustered (speakers) | live words | live turns (missed / false alarm / confusion) "
          "| collar 0.25 s | one cluster | audio | CPU |")
    print("|---" * 20 + "|")
    for name in args.mix:
        for overlap in args.overlap:
            mix, truth = mixes.build(MIXES[name], overlap=overlap, seed=args.seed)
            if args.noise_db is not None:  # the truth stays the clean turns' speech
                noise = np.random.default_rng(args.seed).normal(scale=10 ** (args.noise_db / 20), size=len(mix))
                mix = mix + noise.astype(np.float32)
            pcm = (np.clip(mix, -1, 1) * 32767).astype(np.int16)[:, None]
            vad = regions_ms(mix)
            finals = transcribe(model, mix, vad)
            regions = [words.spoken(f.start_ms, f.end_ms, [(w.start_ms, w.end_ms) for w in f.words])
                       for f in finals if f.text.strip()]
            began = time.process_time()
            labels = pool.diarize(pcm, mixes.RATE, regions)
            spent = time.process_time() - began
            frames = len(labels.speaker)
            reference = reference_frames([(t.speaker, t.start, t.end) for t in truth], frames)
            padded = pool.diarize(pcm, mixes.RATE, vad)
            body = deepgram_prerecorded.response(settings, finals, request_id="bench", created="", sha256="",
                                                 duration=len(mix) / mixes.RATE, channels=1)
            words.apply(body, labels)
            turns = spans_hypothesis([(u["start"], u["end"], u["speaker"]) for u in body["results"]["utterances"]],
                                     frames)
            said = spans_hypothesis([(w["start"], w["end"], w["speaker"])
                                     for w in body["results"]["channels"][0]["alternatives"][0]["words"]
                                     if "speaker" in w], frames)
            oracle = pool.diarize(pcm, mixes.RATE, [(int(t.start * 1000), int(t.end * 1000)) for t in truth])
            streamed = online(speakers_model, mix, regions)
            reclustered_, live_speakers = reclustered(speakers_model, mix, regions)
            live_said, live_turns = live(pcm, finals, frames)
            floor = der(reference, np.where(labels.speaker >= 0, 0, -1))
            print(f"| {name} | {overlap:g} s | {labels.speakers} of {len(MIXES[name])} | {_der(reference, padded.speaker)} "
                  f"| {_der(reference, labels.speaker, parts=True)} | {_der(reference, turns, parts=True)} "
                  f"| {_der(reference, said)} | {der(reference, oracle.speaker).total:.1%} ({oracle.speakers}) "
                  f"| {der(reference, streamed).total:.1%} ({streamed.max() + 1}) "
                  f"| {der(reference, reclustered_).total:.1%} ({live_speakers}) | {der(reference, live_said).total:.1%} "
                  f"| {_der(reference, live_turns, parts=True)} | {floor.total:.1%} "
                  f"| {len(mix) / mixes.RATE:.0f} s | {spent:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

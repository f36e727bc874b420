"""What the whisper engine's loop guard and the 15 s utterance limit cost and gain.

    PYTHONPATH=$PWD .venv/bin/python -m bench.loop_guard

With the bundled tiny.en (int8, the engine's defaults), one decode at a time, in
this process (wall time and this process's CPU time, all threads):

1. the guard on decodes that do not loop: the five LibriVox clips as finals and
   every 1 s prefix of them as partials, each decoded with the guard and without;
   and the detector's own time per decode;
2. the regression set (tests/kit/loop_clips.py) as one final each: without the
   guard, with it; whether the content words after the card number survive;
3. what faster-whisper's remedies do instead, on the clips that loop: the whole
   clip decoded with beam 5, and sampled at 0.2 and 0.6 (best of 5), each as
   ``generate_with_fallback`` runs them: still a loop, or the content kept;
4. the utterance limit: the five clips joined with 0.4 s pauses, segmented by
   Silero and the segmenter (``silence_threshold`` 3 s: a speaker who never
   pauses that long, as the clips' own silences would end utterances) with
   ``max_utterance_sec`` 30 and 15, each utterance decoded as a final: WER,
   decode CPU, and the decode time of the last final (the wait after the speaker
   stops).

5. with ``--finals RUN.json`` (a ``bench.accuracy --json`` file) and nothing else:
   no decode, the detector alone on every streamed final in it, each tokenized
   with its model's tokenizer, as a partial and as a final (the ``tail`` test
   tests finals alone): how many it calls loops, and which.

Figures compare within one run: the box may be busy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from asr_worker.engines import DecodeRequest
from asr_worker.engines.loop_guard import STEP as LOOP
from asr_worker.engines.repetition import find_loop
from asr_worker.engines.whisper import (HOP, TOKEN_SLACK, TOKENS_PER_SECOND, WhisperDecoder, WhisperOptions,
                                        encoder_frames)
from common.endpointing import FRAME, EndpointOptions
from tests.kit.loop_clips import CONTENT, SPEECH, speech
from tests.kit.support import word_errors
from tests.kit.testdata import librivox_samples

RATE = 16000


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def guard_overhead(decoder: WhisperDecoder, clips) -> dict:
    out = {}
    for kind, requests in (
            ("final", [DecodeRequest("f", audio, final=True) for audio, _ in clips]),
            ("partial", [DecodeRequest("p", audio[:end], final=False) for audio, _ in clips
                         for end in range(RATE, len(audio), RATE)])):
        raw = [timed(lambda r=r: decoder._decode([r])) for r in requests]
        guarded = [timed(lambda r=r: decoder.decode([r])) for r in requests]
        detector = []
        for request, (found, _, _) in zip(requests, raw):
            started = time.perf_counter()
            find_loop(found[0].text, found[0].token_ids, len(request.audio) / RATE, final=request.final)
            detector.append(time.perf_counter() - started)
        changed = sum(a[0][0].text != b[0][0].text for a, b in zip(raw, guarded))
        out[kind] = {"decodes": len(requests), "changed_by_guard": changed,
                     "raw_wall_median_s": round(statistics.median(t for _, t, _ in raw), 4),
                     "guarded_wall_median_s": round(statistics.median(t for _, t, _ in guarded), 4),
                     "raw_cpu_total_s": round(sum(c for _, _, c in raw), 2),
                     "guarded_cpu_total_s": round(sum(c for _, _, c in guarded), 2),
                     "detector_median_us": round(statistics.median(detector) * 1e6, 1)}
    return out


def regression_set(decoder: WhisperDecoder) -> dict:
    out = {}
    for name in SPEECH:
        audio = speech(name)
        request = DecodeRequest(name, audio, final=True)
        (raw,), raw_wall, raw_cpu = timed(lambda r=request: decoder._decode([r]))
        (guarded,), wall, cpu = timed(lambda r=request: decoder.decode([r]))
        out[name] = {"seconds": round(len(audio) / RATE, 1),
                     "raw_loop": bool(find_loop(raw.text, raw.token_ids, len(audio) / RATE)),
                     "raw_kept": all(w in raw.text.lower() for w in CONTENT[name]),
                     "guarded": guarded.step(LOOP) or "no loop",
                     "guarded_kept": all(w in guarded.text.lower() for w in CONTENT[name]),
                     "raw_wall_s": round(raw_wall, 2), "guarded_wall_s": round(wall, 2),
                     "raw_cpu_s": round(raw_cpu, 2), "guarded_cpu_s": round(cpu, 2)}
    return out


def remedies(decoder: WhisperDecoder) -> dict:
    """faster-whisper's fallback decodes, on the whole clip in the engine's fitted window."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    model = decoder.model
    tokenizer = Tokenizer(decoder._tokenizer, False, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    out = {}
    for name in SPEECH:
        audio = speech(name)
        (raw,) = decoder._decode([DecodeRequest(name, audio, final=True)])
        if not find_loop(raw.text, raw.token_ids, len(audio) / RATE):
            continue
        features = model.feature_extractor(audio)
        content = min(features.shape[-1], len(audio) // HOP)
        window = np.zeros((1, features.shape[0], encoder_frames(content, margin=1000)), np.float32)
        window[0, :, :content] = features[:, :content]
        encoded = model.encode(window)
        max_length = len(prompt) + TOKENS_PER_SECOND * len(audio) // RATE + TOKEN_SLACK
        for label, options in (("beam5", {"beam_size": 5}),
                               ("t0.2", {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0,
                                         "sampling_temperature": 0.2}),
                               ("t0.6", {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0,
                                         "sampling_temperature": 0.6})):
            result, wall, cpu = timed(lambda e=encoded, n=max_length, o=options: model.model.generate(
                e, [prompt], max_length=n, return_scores=True, suppress_blank=True,
                suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), **o)[0])
            text = tokenizer.decode([t for t in result.sequences_ids[0] if t < tokenizer.eot]).strip()
            out[f"{name} {label}"] = {"loop": bool(find_loop(text, decoder.tokenize(text), len(audio) / RATE)),
                                      "kept": all(w in text.lower() for w in CONTENT[name]),
                                      "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    return out


def utterance_limit(decoder: WhisperDecoder, clips) -> dict:
    from vad_worker.model import CONTEXT, SileroVad
    from vad_worker.segmenter import Segmenter, SpeechAudio, SpeechEnded

    pause = np.zeros(round(0.4 * RATE), np.float32)
    parts = [np.zeros(RATE, np.float32)]
    for audio, _ in clips:
        parts += [audio, pause]
    audio = np.concatenate(parts + [np.zeros(RATE, np.float32)])
    reference = " ".join(text for _, text in clips)
    model = SileroVad(sequence=False)
    state = np.zeros((2, 1, 128), np.float32)
    padded = np.concatenate([np.zeros(CONTEXT, np.float32), audio])
    probs = []
    for start in range(0, len(audio) // FRAME * FRAME, FRAME):
        prob, state = model(padded[start:start + FRAME + CONTEXT][None], state)
        probs.append(float(prob[0]))
    pcm = (audio * 32767).astype(np.int16)
    out = {}
    for limit in (30.0, 15.0):
        # The clips' own silences run past 0.8 s: a 3 s silence threshold makes them one monologue.
        segmenter = Segmenter(EndpointOptions(max_utterance_sec=limit, silence_threshold=3.0))
        utterances, current = [], {}
        events = [e for index, prob in enumerate(probs)
                  for e in segmenter.push(index * FRAME, pcm[index * FRAME:(index + 1) * FRAME], prob)]
        for event in events + segmenter.flush("end"):
                if isinstance(event, SpeechAudio):
                    current[event.offset] = event.pcm
                elif isinstance(event, SpeechEnded):
                    chunks = [current[o] for o in sorted(current) if o < event.end]
                    joined = np.concatenate(chunks)[:event.end - event.start]
                    utterances.append(joined.astype(np.float32) / 32768.0)
                    current = {}  # a split re-sends the audio after its cut
        texts, walls, cpus = [], [], []
        for utterance in utterances:
            (found,), wall, cpu = timed(lambda u=utterance: decoder.decode([DecodeRequest("u", u, final=True)]))
            texts.append("" if found.no_speech else found.text)
            walls.append(wall)
            cpus.append(cpu)
        errors, words = word_errors(reference, " ".join(texts))
        out[f"max {limit:.0f} s"] = {"utterances": [round(len(u) / RATE, 1) for u in utterances],
                                     "wer": round(errors / words, 4), "texts": texts, "decode_cpu_s": round(sum(cpus), 2),
                                     "last_final_decode_s": round(walls[-1], 2),
                                     "longest_final_decode_s": round(max(walls), 2)}
    return out


PARTS = {"guard_overhead": lambda decoder, clips: guard_overhead(decoder, clips),
         "regression_set": lambda decoder, clips: regression_set(decoder),
         "remedies": lambda decoder, clips: remedies(decoder),
         "utterance_limit": lambda decoder, clips: utterance_limit(decoder, clips)}


def recorded_finals(path: str) -> dict:
    """The detector on every streamed final of a ``bench.accuracy --json`` run (see the docstring).
    A final decoded after earlier pieces of its utterance (a continued final) was tested whole in
    the engine, its prefix's text and audio with it; here it is its own text and span."""
    from tokenizers import Tokenizer

    from asr_worker.engines.whisper_models import resolve_model

    run = json.loads(open(path).read())
    tokenizers: dict[str, Tokenizer] = {}
    finals = 0
    flagged: dict[str, list] = {"as partial": [], "as final": []}
    for item in run["items"]:
        for model, ways in item.get("finals", {}).items():
            if model not in tokenizers:
                tokenizers[model] = Tokenizer.from_file(f"{resolve_model(model).path}/tokenizer.json")
            for way, streamed in ways.items():
                for final in streamed:
                    text = final["text"]
                    tokens = tokenizers[model].encode(" " + text.strip(), add_special_tokens=False).ids
                    seconds = (final["end_ms"] - final["start_ms"]) / 1000
                    finals += 1
                    for label, is_final in (("as partial", False), ("as final", True)):
                        loop = find_loop(text, tokens, seconds, final=is_final)
                        if loop:
                            flagged[label].append({"item": item["name"], "model": model, "way": way,
                                                   "reason": loop.reason, "seconds": seconds, "text": text})
    return {"finals": finals, **{label: {"loops": len(found), "which": found} for label, found in flagged.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--finals", metavar="RUN.json",
                        help="only the detector on the streamed finals of a bench.accuracy --json run")
    args = parser.parse_args()
    if args.finals:
        print(json.dumps({"recorded_finals": recorded_finals(args.finals)}, indent=1))
        return
    decoder = WhisperDecoder(WhisperOptions(batch_process=False))
    clips = librivox_samples()
    decoder.decode([DecodeRequest("warm", clips[0][0], final=True)])
    for part in args.parts.split(","):
        print(json.dumps({part: PARTS[part](decoder, clips)}, indent=1), flush=True)


if __name__ == "__main__":
    main()

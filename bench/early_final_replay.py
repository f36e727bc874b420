"""Early finals replayed in process: what each way of decoding the speech after one costs in WER.

    .venv/bin/python -m bench.early_final_replay [--model base] [--sets calls spanish] [--telephone]

For each item of the accuracy set, the VAD worker's Silero model and segmenter cut the
utterances and pauses, and the ASR worker's whisper decoder decodes them as the live path does
with the sentence endpoint on; no stack, so the splits do not depend on the box's load. Ways
(``--ways``): ``whole`` (no split), ``alone`` (each piece after an early final on its own),
``continued`` (after every earlier piece, their text forced), ``bounded`` (the live path:
asr_worker/continuation.py). Per item the pieces and WER per way, and the CPU of the final
decodes. ``--offline`` adds ``transcribe()``, ``--shifts`` moves the cuts, ``--final-beam-*``
set the beam fallback, ``--digits`` the redaction's second decode, ``--record`` writes
tests/data/whisper_fallback.json for tests/unit/test_fallback.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import numpy as np

from asr_worker.continuation import Piece, context, continued, decode_rest
from asr_worker.core import DIGITS_PROMPT, StreamingOptions, ends_sentence, ends_turn
from asr_worker.digits import STEP as DIGITS
from asr_worker.digits import retry as digits_retry
from asr_worker.engines.base import DecodeRequest, Hypothesis
from asr_worker.engines.fallback import STEP as FALLBACK
from asr_worker.engines.whisper import WhisperDecoder, WhisperOptions
from bench.accuracy import RATE, build_set, interval, mean_errors, shifted, transcribed, wer
from common.endpointing import FRAME, EndpointOptions
from common.records import Transcript
from common.redaction.redactor import Redactor
from gateway.core.audio import to_pcm16
from vad_worker.model import CONTEXT, STATE_SHAPE, SileroVad
from vad_worker.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechPaused, SpeechStarted

WAYS = ("whole", "alone", "continued", "bounded")
OLD_CONTEXT_SEC = 20.0  # the continued way's earlier audio with the piece, at most (the live path's until 2026-11)
OFFLINE = "offline"  # faster-whisper's transcribe() of the whole item (--offline)


def utterances(vad: SileroVad, audio: np.ndarray) -> list[tuple[np.ndarray, list[int], int]]:
    """The VAD's utterances of ``audio``: each one's samples (float32), its pauses' ends in it and
    its first sample."""
    pcm = to_pcm16(audio)  # as the gateway hands audio on: a sample off flips a hard decode
    count = len(pcm) // FRAME
    frames = pcm[:count * FRAME].reshape(count, FRAME)
    context = np.zeros(CONTEXT, np.float32)
    state = np.zeros((STATE_SHAPE[0], 1, STATE_SHAPE[1]), np.float32)
    probs = []
    for frame in frames.astype(np.float32) / 32768:
        scored = np.concatenate([context, frame])[None]
        prob, state = vad(scored, state)
        probs.append(float(prob[0]))
        context = scored[0, -CONTEXT:]
    segmenter = Segmenter(EndpointOptions())
    out: list[tuple[np.ndarray, list[int], int]] = []
    chunks: list[np.ndarray] = []
    pauses: list[int] = []
    start = 0
    for event in segmenter.push_frames(0, frames, probs) + segmenter.flush("end"):
        if isinstance(event, SpeechStarted):
            chunks, pauses, start = [], [], event.start
        elif isinstance(event, SpeechAudio):
            chunks.append(event.pcm)
        elif isinstance(event, SpeechPaused):
            pauses.append(event.end - start)
        elif isinstance(event, SpeechEnded):
            out.append((np.concatenate(chunks).astype(np.float32) / 32768, pauses, start))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--sets", nargs="+", default=["calls", "spanish"], choices=["librivox", "calls", "spanish"])
    parser.add_argument("--context", default="", help="whisper's prompt for every decode (as a session's "
                        "context or the ASR worker's --redact-prompt gives it)")
    parser.add_argument("--digits", action="store_true", help="the whole way: a final of a card-number passage "
                        "(a redactor with pci, ssn and pii fed the finals so far decides, as the ASR stage's does) "
                        "carries the ASR worker's default --redact-digits-prompt (asr_worker/digits.py)")
    parser.add_argument("--sentence-confidence", type=float, default=StreamingOptions().sentence_confidence,
                        help="an early final only where the decode's confidence is at least this (the ASR "
                        "worker's --sentence-confidence; 0: every sentence end)")
    parser.add_argument("--sentence-confidence-skip", nargs="*", default=StreamingOptions().sentence_confidence_skip,
                        metavar="LANGUAGE", help="languages whose sentences end a turn whatever the confidence")
    parser.add_argument("--short-words", type=int, default=StreamingOptions().sentence_short_words,
                        help="a sentence of at most this many words is an early final whatever its confidence "
                        "(the ASR worker's --sentence-short-words)")
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=WAYS, help="which ways to decode")
    parser.add_argument("--telephone", action="store_true", help="through 8 kHz mu-law, as the Twilio door hands it on")
    parser.add_argument("--spanish-voices", nargs="+", default=["es"], metavar="VOICE",
                        help="espeak-ng voices of the Spanish set (es-419: Latin American)")
    parser.add_argument("--items", nargs="+", metavar="PATTERN", help="only the items whose name matches one")
    parser.add_argument("--shifts", nargs="+", type=int, default=[0], metavar="MS",
                        help="decode each item after this many ms of extra silence before it (each one in turn)")
    parser.add_argument("--offline", action="store_true",
                        help="also faster-whisper's offline transcribe() (beam 5, temperature fallback) of each item")
    parser.add_argument("--offline-runs", type=int, default=3, metavar="N",
                        help="runs of offline transcribe() where it samples; its WER is their mean (bench.accuracy)")
    defaults = WhisperOptions()
    parser.add_argument("--final-beam-size", type=int, default=defaults.final_beam_size)
    parser.add_argument("--final-beam-logprob", type=float, default=defaults.final_beam_logprob)
    parser.add_argument("--final-beam-compression-ratio", type=float, default=defaults.final_beam_compression_ratio)
    parser.add_argument("--record", metavar="FILE", help="write each final decode's greedy and beam results (JSON)")
    parser.add_argument("--record-beam-size", type=int, default=defaults.final_beam_size)
    args = parser.parse_args(argv)
    recorded: list[dict] = []
    redecoded: list[str] = []  # --digits: the finals decoded again with the digits prompt
    ways = [way for way in WAYS if way in args.ways] + ([OFFLINE] if args.offline else [])
    decoder = WhisperDecoder(WhisperOptions(model=args.model, batch_process=False, final_beam_size=args.final_beam_size,
                                            final_beam_logprob=args.final_beam_logprob,
                                            final_beam_compression_ratio=args.final_beam_compression_ratio))
    if args.offline:
        import ctranslate2

        ctranslate2.set_random_seed(1)  # offline's sampling runs repeat in another process (bench.accuracy.offline)
    vad = SileroVad()
    totals = {way: [0.0, 0] for way in ways}
    draws: list[dict] = []  # each item and shift: errors and words per way (--offline: the paired interval)
    cpu = dict.fromkeys(ways, 0.0)
    counts = {way: [0, 0] for way in ways if way != OFFLINE}  # final decodes, of them decoded again with beam search
    early: dict[str, list[float | None]] = {way: [] for way in ways}  # confidence of each piece that ends a sentence

    def decode(way: str, audio: np.ndarray, language: str, prefix: str = "", *, digits: bool = False,
               context: str = "") -> Hypothesis:
        request = DecodeRequest(way, audio, True, language=language, prefix=prefix, context=context or args.context,
                                retry=digits_retry(DIGITS_PROMPT) if digits else None)
        started = time.process_time()
        hypothesis = decoder.decode([request])[0]
        cpu[way] += time.process_time() - started
        if args.record:  # (recorded with --final-beam-size 1: the decode above is the greedy one)
            ((_, greedy),), ((_, beam),) = (decoder.decode_scored([request], beam_size=beams)
                                            for beams in (1, args.record_beam_size))
            recorded.append({"item": item.name, "way": way, "seconds": round(len(audio) / RATE, 2), "prefix": prefix,
                             **{name: {"text": text, "avg_logprob": scores.avg_logprob,
                                       "no_speech_prob": scores.no_speech_prob}
                                for name, text, scores in (("greedy", hypothesis.text, greedy),
                                                           ("beam", beam.text, beam))}})
        counts[way][0] += 1
        counts[way][1] += bool(hypothesis.step(FALLBACK))
        if hypothesis.step(DIGITS):
            redecoded.append(f"{item.name}: {hypothesis.step(DIGITS)}: {hypothesis.text!r}")
        return hypothesis

    def rest_decoder(way: str):
        async def decoded(request: DecodeRequest) -> Hypothesis:
            return decode(way, request.audio, request.language or "", request.prefix, context=request.context)
        return decoded

    for item, shift in ((item, shift) for item in build_set(args.sets, ["en-us", "en-gb"], args.spanish_voices, args.items)
                        for shift in args.shifts):
        if item.language not in decoder.languages:
            continue
        audio = shifted(item.samples, shift, phone=args.telephone)
        texts: dict[str, list[str]] = {way: [] for way in ways}
        if OFFLINE in ways:  # each run's whole text (where it samples, --offline-runs), not pieces
            started = time.process_time()
            texts[OFFLINE] = transcribed(decoder.model, audio, item.language, runs=args.offline_runs)
            cpu[OFFLINE] += time.process_time() - started
        passages = Redactor(("pci", "ssn", "pii"), hold_gap=round(StreamingOptions().redact_hold_sec * RATE))
        for samples, pauses, start in utterances(vad, audio):
            if "whole" in ways:
                digits = args.digits and passages.number_passage(start)
                text = decode("whole", samples, item.language, digits=digits).text
                texts["whole"].append(text)
                passages.speech_start(start)
                passages.final(Transcript(utterance_id=str(start), start=start, end=start + len(samples), text=text,
                                          final=True))
            for way in [name for name in ways if name in ("alone", "continued", "bounded")]:
                begin = 0
                before: tuple[Piece, ...] = ()
                for end in [*pauses, len(samples)]:
                    if end <= begin:
                        continue
                    piece = samples[begin:end]
                    earlier = (context(before, max_samples=int(OLD_CONTEXT_SEC * RATE) - len(piece))
                               if way == "continued" else ())
                    got = None
                    if earlier:  # as the live path did until 2026-11
                        prefix = " ".join(p.text.strip() for p in earlier)
                        left = np.concatenate([p.pcm for p in earlier]).astype(np.float32) / 32768
                        got = continued(decode(way, np.concatenate([left, piece]), item.language, prefix),
                                        prefix=prefix, offset=len(left) / RATE, tokenize=decoder.tokenize)
                    if way == "bounded" and before:  # as LiveSessions._decode does
                        got = asyncio.run(decode_rest(
                            DecodeRequest(way, piece, True, language=item.language, context=args.context),
                            rest_decoder(way), heard=context(before),
                            earlier=[p.text for p in before], tokenize=decoder.tokenize))[0]
                    decoded = got or decode(way, piece, item.language)
                    text = decoded.text
                    if end < len(samples) and ends_sentence(text):
                        early[way].append(decoded.confidence)
                    if end == len(samples) or ends_turn(decoded, confidence=args.sentence_confidence,
                                                        ungated=args.sentence_confidence_skip,
                                                        short_words=args.short_words):
                        if args.record:
                            recorded[-1]["final"] = text
                        texts[way].append(text + " /")
                        before = (*before, Piece(to_pcm16(piece), text))
                        begin = end
        print(f"== {item.name}" + (f", {shift} ms later" if shift else ""))
        draws.append({"item": item.name})
        for way in ways:
            runs = texts[way] if way == OFFLINE else [" ".join(texts[way])]
            wrong, total, _ = mean_errors(item.reference, runs, language=item.language)  # offline: the runs' mean
            totals[way][0] += wrong
            totals[way][1] += total
            draws[-1][way] = {"errors": wrong, "words": total}
            print(f"  {way:10} {100 * wrong / total:5.1f} %  " + "\n             ".join(runs))
    if args.record:
        with open(args.record, "w") as out:
            json.dump({"command": "python -m bench.early_final_replay " + " ".join(argv or sys.argv[1:]),
                       "model": args.model, "decodes": recorded}, out, indent=1, ensure_ascii=False)
            out.write("\n")
    if args.digits:
        print(f"\nDecoded again with the digits prompt: {len(redecoded)}" + "".join(f"\n  {r}" for r in redecoded))
    for way, found in early.items():
        if found:
            scores = np.array([c for c in found if c is not None])
            print(f"{way}: {len(found)} pieces end a sentence before their utterance does; confidence p10/p50/p90 "
                  f"{np.percentile(scores, 10):.2f}/{np.percentile(scores, 50):.2f}/{np.percentile(scores, 90):.2f}, "
                  f"{sum(c is not None and c < args.sentence_confidence for c in found)} under "
                  f"--sentence-confidence {args.sentence_confidence}")
    print("\nWER: " + ", ".join(f"{way} {100 * w / n:.1f} %" for way, (w, n) in totals.items()))
    if OFFLINE in ways:
        print("Against offline, 90 % interval over items: " + ", ".join(
            "{} {:+.1f} ({:+.1f} .. {:+.1f})".format(way, wer(draws, way) - wer(draws, OFFLINE),
                                                    *interval(draws, way, OFFLINE))
            for way in ways if way != OFFLINE))
    print("CPU of the final decodes (process time): " + ", ".join(f"{way} {s:.1f} s" for way, s in cpu.items()))
    print("Final decodes (decoded again with beam search), CPU per decode: " + ", ".join(
        f"{way} {n} ({again}), {1000 * cpu[way] / max(n, 1):.0f} ms" for way, (n, again) in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

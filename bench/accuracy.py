"""Word error rate per whisper model: streamed through the live doors beside offline ``transcribe()``.

    .venv/bin/python -m bench.accuracy [--models tiny.en base] [--sets librivox calls spanish]
        [--concurrency 3] [--denoise] [--shifts 0 10 20 30] [--offline-runs 3] [--json out.json]
    .venv/bin/python -m bench.accuracy --models base --sets spanish --items 'factura/*' --doors native --show

Each item of the set (the LibriVox clips; the call scripts and Spanish lines of
``tests/data/accuracy_set`` read by espeak-ng) goes four ways per model: faster-whisper's offline
``transcribe()`` at 16 kHz and through 8 kHz μ-law, and streamed at real time through a private
stack's native door (16 kHz) and Twilio door (μ-law); ``--denoise`` adds both doors through a
denoising stack. Text is compared with numbers as digits. ``--shifts`` moves every item by a few
ms (another draw of the VAD's cuts) and ``--offline-runs`` averages offline where it samples, so
that a 1-point difference can be judged; the report gives streamed against offline with a 90 %
interval over items, and the items whose streamed result lost content.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import random
import re
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.kit.testdata import accuracy_lines, espeak

RATE = 16000
PHONE_RATE = 8000
WAYS = ("offline 16k", "offline 8k mu-law", "native 16k", "twilio 8k mu-law")
FAILED = "\x00failed"  # a streamed session that failed (overloaded box): not a transcript
DENOISED = " denoise"  # the streamed ways through the denoising stack
STREAMED = {"native 16k": "offline 16k", "twilio 8k mu-law": "offline 8k mu-law"}  # and the offline way each matches
DOORS = {"native 16k": "native", "twilio 8k mu-law": "twilio"}  # --doors' name of each streamed way
DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
          "seven": "7", "eight": "8", "nine": "9",
          # Spanish (the spanish set reads account and phone numbers one digit a word)
          "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6",
          "siete": "7", "ocho": "8", "nueve": "9"}


@dataclass
class Item:
    name: str
    set: str
    language: str
    reference: str
    samples: np.ndarray  # float32 at 16 kHz, with 0.5 s of silence before and 1 s after
    results: dict[str, dict[str, str | None]] = field(default_factory=dict)  # model -> way -> text (None: refused)
    # model -> offline way -> the text of each run of transcribe() (--offline-runs; results holds the first)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    source: str = ""  # the item this one is a shifted copy of (--shifts), whose draws go together; "": itself
    finals: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # model -> streamed way -> each final


def words(text: str, language: str = "en") -> list[str]:
    """Lower case, no accents or punctuation, numbers as digits, one digit a word. Spoken numbers
    become digits with text2num's ``alpha2digit`` in the item's ``language`` first ("doscientos
    treinta y cinco" and "235" are the same words: whisper writes either, and which it writes
    says nothing of what it heard), then the digit words left (a lone "four", "oh")."""
    from text_to_num import alpha2digit

    plain = unicodedata.normalize("NFKD", alpha2digit(text, language).lower()).encode("ascii", "ignore").decode()
    plain = plain.replace("-", " ").replace("mr.", "mister").replace("mrs.", "missus")
    out = []
    for word in re.findall(r"[a-z0-9']+", plain):
        word = DIGITS.get(word, word)
        out += list(word) if word.isdigit() else [word.strip("'")]
    return [w for w in out if w]


def alignment(reference: list[str], hypothesis: list[str]) -> list[str]:
    """The edit operations turning ``reference`` into ``hypothesis``: ok, sub, del, ins."""
    n, m = len(reference), len(hypothesis)
    cost = np.zeros((n + 1, m + 1), np.int32)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1,
                             cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]))
    ops, i, j = [], n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            ops.append("ok" if reference[i - 1] == hypothesis[j - 1] else "sub")
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            ops.append("del")
            i -= 1
        else:
            ops.append("ins")
            j -= 1
    return ops[::-1]


def errors(reference: str, hypothesis: str, *, language: str = "en") -> tuple[int, int, int]:
    """(word errors, reference words, longest run of reference words deleted), compared as
    :func:`words` in ``language``."""
    said = words(reference, language)
    ops = alignment(said, words(hypothesis, language))
    run = longest = 0
    for op in ops:
        run = run + 1 if op == "del" else 0 if op != "ins" else run
        longest = max(longest, run)
    return sum(op != "ok" for op in ops), len(said), longest


def mean_errors(reference: str, texts: list[str], *, language: str = "en") -> tuple[float, int, int]:
    """:func:`errors` of several runs' ``texts`` of one item: the mean of their errors, the
    reference's words, and the first run's longest deleted run (offline ``--offline-runs``)."""
    each = [errors(reference, text, language=language) for text in texts]
    return sum(wrong for wrong, _, _ in each) / len(each), each[0][1], each[0][2]


def wer(draws: list[dict], way: str) -> float:
    """WER in % of ``way`` over ``draws`` (each a dict with ``way`` -> {"errors", "words"})."""
    return 100 * sum(draw[way]["errors"] for draw in draws) / sum(draw[way]["words"] for draw in draws)


def interval(draws: list[dict], way: str, against: str, *, samples: int = 2000, seed: int = 1) -> tuple[float, float]:
    """90 % bootstrap interval of ``way``'s WER minus ``against``'s on the same ``draws``, drawing
    items (``draw["item"]``) with replacement: the draws of one item (its shifts) go together,
    since a few ms of shift flip one phrase of it. Seeded: the same draws give the same interval."""
    items = sorted({draw["item"] for draw in draws})
    by_item = {item: [draw for draw in draws if draw["item"] == item] for item in items}
    rng = random.Random(seed)
    differences = sorted(wer(drawn, way) - wer(drawn, against) for drawn in (
        [draw for item in rng.choices(items, k=len(items)) for draw in by_item[item]] for _ in range(samples)))
    return differences[int(0.05 * samples)], differences[int(0.95 * samples)]


# -- the set ------------------------------------------------------------------------------------


def padded(samples: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(RATE // 2, np.float32), samples.astype(np.float32), np.zeros(RATE, np.float32)])


def build_set(sets: list[str], voices: list[str], spanish_voices: list[str],
              patterns: list[str] | None = None) -> list[Item]:
    """The items of ``sets``; with ``patterns``, those whose name matches one (shell-style: ``factura/*``)."""
    from tests.kit.testdata import librivox_samples

    items = []
    if "librivox" in sets:
        for index, (samples, reference) in enumerate(librivox_samples()):
            items.append(Item(f"librivox{index}", "librivox", "en", reference, padded(samples)))
    if shutil.which("espeak-ng") is None and {"calls", "spanish"} & set(sets):
        raise SystemExit("espeak-ng is not installed (Debian package espeak-ng): needed for the calls and spanish sets")
    for name, file, chosen in (("calls", "calls.txt", voices), ("spanish", "spanish.txt", spanish_voices)):
        if name in sets:
            for script, language, text in accuracy_lines(file):
                for voice in chosen:
                    if chosen_name(f"{script}/{voice}", patterns):
                        items.append(Item(f"{script}/{voice}", name, language, text,
                                          padded(espeak(text, voice=voice))))
    return [item for item in items if chosen_name(item.name, patterns)]


def chosen_name(name: str, patterns: list[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def shifted(samples: np.ndarray, shift_ms: int, *, phone: bool = False) -> np.ndarray:
    """``samples`` after ``shift_ms`` more silence before them (``--shifts``: every VAD frame moves,
    so the cuts move with them), through 8 kHz μ-law with ``phone``."""
    audio = np.concatenate([np.zeros(shift_ms * RATE // 1000, np.float32), samples])
    return telephone(audio)[0] if phone else audio


def with_shifts(items: list[Item], shifts: list[int]) -> list[Item]:
    """Each item at each of ``shifts`` (ms of silence more before it), named ``name@10ms`` past the
    first; a copy's ``source`` is the item's name, so its draws go together in :func:`interval`."""
    return [Item(f"{item.name}@{shift}ms" if shift else item.name, item.set, item.language, item.reference,
                 shifted(item.samples, shift) if shift else item.samples, source=item.name)
            for item in items for shift in shifts]


def telephone(samples: np.ndarray) -> tuple[np.ndarray, bytes]:
    """The audio as the Twilio door gets it (8 kHz μ-law bytes) and as it hands it on (16 kHz)."""
    import soxr

    from gateway.core.audio import decode_frame
    from tests.kit.telephony import mulaw_encode

    narrow = soxr.resample(samples, RATE, PHONE_RATE).astype(np.float32)
    mulaw = mulaw_encode(narrow)
    decoded = decode_frame(mulaw, "mulaw")[:, 0]
    return soxr.resample(decoded, PHONE_RATE, RATE).astype(np.float32), mulaw


# -- the four ways --------------------------------------------------------------------------------


def transcribed(whisper, audio: np.ndarray, language: str, *, runs: int = 1, **options) -> list[str]:
    """faster-whisper's ``transcribe()`` (its defaults, or ``options``) of ``audio``: the text of each
    of up to ``runs`` runs. Past the first only where it sampled: a segment whose beam decode (temperature 0) failed
    its thresholds is decoded again at a temperature over 0 (its fallback), so the same audio gives
    another text call to call, and one run is one draw of offline's WER. Where every segment kept
    temperature 0, beam search gave it, and every run would repeat it."""
    texts = []
    for _ in range(runs):
        segments = list(whisper.transcribe(audio, language=language, **options)[0])
        texts.append(" ".join(segment.text.strip() for segment in segments))
        if all(segment.temperature == 0 for segment in segments):
            break
    return texts


def offline(model: str, whisper, items: list[Item], *, runs: int = 1, seed: int = 1) -> float:
    """:func:`transcribed` with ``whisper`` (a ``WhisperModel`` of ``model``) on each item, 16 kHz and
    through μ-law, ``runs`` times where it samples; CPU seconds. ``ctranslate2.set_random_seed``
    first: it seeds each decoding thread's generator once, so the run's sequence of calls repeats
    in another process (not one call alone)."""
    import ctranslate2

    ctranslate2.set_random_seed(seed)
    languages = whisper.supported_languages
    started = time.process_time()
    for item in items:
        item.runs[model] = {}
        for way, audio in (("offline 16k", item.samples), ("offline 8k mu-law", telephone(item.samples)[0])):
            if item.language not in languages:
                item.results[model][way] = None  # the model cannot: what the doors refuse
                continue
            item.runs[model][way] = transcribed(whisper, audio, item.language, runs=runs)
            item.results[model][way] = item.runs[model][way][0]
    return time.process_time() - started


# What the JSON keeps of each streamed final: where the utterance was cut, and what it was decoded as.
FINAL_FIELDS = ("text", "start_ms", "end_ms", "language", "is_speech_final", "confidence")


def final_of(message: dict) -> dict:
    return {key: message.get(key) for key in FINAL_FIELDS}


async def native(url: str, item: Item) -> list[dict] | None:
    from streamscribe_client import StreamClosed, file_frames, stream

    try:
        messages = await stream(url, file_frames(item.samples, RATE, chunk_ms=100, speed=1.0), sample_rate=RATE,
                                config={"language": item.language}, timeout=180)
    except StreamClosed as exc:
        if any(m.get("code") == "bad_config" for m in exc.messages):
            return None
        raise  # overloaded (1013: the denoise worker behind; 1011: results late): the session failed
    return [final_of(m) for m in messages if m["type"] == "final"]


async def twilio(port: int, item: Item) -> list[dict] | None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from tests.kit.telephony import CALL_SID, STREAM_SID, twilio_media, twilio_start

    mulaw = telephone(item.samples)[1]
    frame = PHONE_RATE // 50  # 20 ms, as Twilio sends
    finals, refused, errors_seen = [], False, []
    async with connect(f"ws://127.0.0.1:{port}/twilio") as ws:
        async def receive() -> None:
            nonlocal refused
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("event") == "final":
                        finals.append(final_of(message))
                    elif message.get("event") == "error":
                        refused = refused or message.get("code") == "bad_config"
                        errors_seen.append(message)
            except ConnectionClosed:
                pass  # closed with an error code: the error message came first

        receiver = asyncio.create_task(receive())
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(twilio_start(tracks=("inbound",), language=item.language))
        start = time.monotonic()
        try:
            for index in range(len(mulaw) // frame):
                await ws.send(twilio_media("inbound", index + 1, index * 20,
                                           mulaw[index * frame:(index + 1) * frame], sequence=index + 3))
                await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - time.monotonic()))  # real-time pacing
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": "0", "streamSid": STREAM_SID,
                                      "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef",
                                               "callSid": CALL_SID}}))
        except ConnectionClosed:
            pass  # refused (a language the model lacks): the receiver saw why
        await asyncio.wait_for(receiver, 180)
    if refused:
        return None
    if errors_seen:  # overloaded on a busy box: the session failed
        raise RuntimeError(f"errors: {errors_seen}")
    return finals


async def streamed(model: str, items: list[Item], concurrency: int, doors: list[str], *,
                   denoise: bool = False) -> None:
    from bench.latency import OwnStack
    from tests.kit.support import wait_for_workers

    # No recordings here: the batch child (a second copy of the model) is not started.
    env = {"STREAMSCRIBE_ASR_MODEL": model, "STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "false"}
    if denoise:
        env["STREAMSCRIBE_GATEWAY_ENABLE_NOISE_SUPPRESSION"] = "true"
    own = OwnStack(extra_env=env)
    try:
        stages: tuple[str, ...] = ("vad", "asr")
        if denoise:
            own.stack.add_worker("denoise", env=own.stack.env).wait_for_line(r"\bready\b", 120)
            stages += ("denoise",)
        wait_for_workers(own.stack.http, stages, timeout=120)
        gate = asyncio.Semaphore(concurrency)

        async def run(item: Item, way: str) -> None:
            way_name = way + (DENOISED if denoise else "")
            async with gate:
                try:
                    finals = await (native(own.url, item) if way == "native 16k" else twilio(own.stack.port, item))
                except Exception as exc:  # a session of a busy box (refused, late, cut), not the run
                    print(f"  {item.name} {way}: failed: {exc!r}", file=sys.stderr)
                    item.results[model][way_name] = FAILED
                    return
            item.results[model][way_name] = None if finals is None else " ".join(f["text"] for f in finals)
            item.finals.setdefault(model, {})[way_name] = finals or []

        await asyncio.gather(*(run(item, way) for item in items for way in STREAMED if DOORS[way] in doors))
    finally:
        own.close()


# -- the report ---------------------------------------------------------------------------------


def report(items: list[Item], models: list[str], lost_words: int, *, show: bool = False) -> dict:
    summary: dict = {}
    every = WAYS + tuple(way + DENOISED for way in STREAMED)
    ways = tuple(way for way in every if any(way in i.results[m] for i in items for m in models))  # those run
    # Each streamed way (denoised too) and the offline way it is compared with.
    pairs = [*STREAMED.items(), *((way + DENOISED, offline) for way, offline in STREAMED.items())]
    sets = sorted({item.set for item in items}, key=["librivox", "calls", "spanish"].index)
    scores: dict[tuple[str, str, str], tuple[float, int, int]] = {}

    def scored(model: str, item: Item, way: str) -> tuple[float, int, int]:
        """:func:`errors` of ``item``'s text of ``way``, computed once (the table, the intervals, the
        items and the lost content all read it); an offline way run more than once
        (``--offline-runs``): its errors are the runs' mean, the rest the first run's."""
        key = (model, item.name, way)
        if key not in scores:
            texts = item.runs.get(model, {}).get(way) or [item.results[model][way] or ""]
            scores[key] = mean_errors(item.reference, texts, language=item.language)
        return scores[key]

    print(f"\n{'model':8} {'set':9} " + " ".join(f"{way:>18}" for way in ways))
    for model in models:
        for name in sets:
            row = []
            for way in ways:
                chosen = [i for i in items if i.set == name]
                if any(i.results[model][way] is None for i in chosen):
                    row.append("refused")
                    continue
                if failed := sum(i.results[model][way] == FAILED for i in chosen):
                    row.append(f"{failed} failed")
                    continue
                counts = [scored(model, i, way) for i in chosen]
                row.append(f"{100 * sum(c[0] for c in counts) / sum(c[1] for c in counts):.1f} %")
            summary[f"{model} {name}"] = dict(zip(ways, row))
            print(f"{model:8} {name:9} " + " ".join(f"{cell:>18}" for cell in row))
    print("\nStreamed against offline on the same audio, 90 % interval over items (the target: at most +1):")
    against: dict[str, tuple[float, float, float]] = {}
    for model in models:
        for name in sets:
            chosen = [i for i in items if i.set == name]
            for way, offline_way in pairs:
                if way not in ways or any(i.results[model][w] in (None, FAILED) for i in chosen
                                          for w in (way, offline_way)):
                    continue
                draws = [{"item": i.source or i.name, **{w: dict(zip(("errors", "words"), scored(model, i, w)[:2]))
                                             for w in (way, offline_way)}} for i in chosen]
                difference = wer(draws, way) - wer(draws, offline_way)
                low, high = interval(draws, way, offline_way)
                against[f"{model} {name} {way}"] = (round(difference, 1), round(low, 1), round(high, 1))
                print(f"  {model:8} {name:9} {way:26} {difference:+5.1f} ({low:+.1f} .. {high:+.1f})")
    if show:
        print("\nEach item, each way (WER, then the text; streamed: one final a line, its span and language):")
        for model in models:
            for item in items:
                print(f"  {model} {item.name}: {item.reference}")
                for way in ways:
                    text = item.results[model][way]
                    if text is None or text == FAILED:
                        print(f"    {way:24} {'refused' if text is None else 'failed'}")
                        continue
                    wrong, total, _ = scored(model, item, way)
                    print(f"    {way:24} {100 * wrong / total:5.1f} %"
                          + ("" if way in item.finals.get(model, {}) else f"  {text}"))
                    for other in item.runs.get(model, {}).get(way, [])[1:]:
                        print(f"    {'':24} {'':7}  {other}")  # offline's further runs, whose mean is its WER
                    for final in item.finals.get(model, {}).get(way, []):
                        print(f"      {final['start_ms']:>6}-{final['end_ms']:<6} {final['language']}  {final['text']}")
    print("\nUtterances that lost content when streamed (a run of deleted reference words, or WER over "
          "offline's by more than 10 points):")
    lost = []
    for model in models:
        for item in items:
            for way, offline_way in pairs:
                if way not in ways:
                    continue
                text, reference_text = item.results[model][way], item.results[model][offline_way]
                if text is None or reference_text is None or text == FAILED:
                    continue
                wrong, total, run = scored(model, item, way)
                offline_wrong, _, _ = scored(model, item, offline_way)
                if run >= lost_words or (wrong - offline_wrong) / total > 0.10:
                    lost.append({"model": model, "item": item.name, "way": way, "wer": round(100 * wrong / total, 1),
                                 "offline_wer": round(100 * offline_wrong / total, 1), "deleted_run": run,
                                 "text": text, "offline": reference_text})
                    print(f"  {model} {item.name} {way}: WER {100 * wrong / total:.0f} % (offline "
                          f"{100 * offline_wrong / total:.0f} %), {run} words deleted in a row\n"
                          f"    streamed: {text}\n    offline:  {reference_text}\n    reference: {item.reference}")
    if not lost:
        print("  none")
    return {"wer": summary, "against_offline": against, "lost": lost}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--sets", nargs="+", default=["librivox", "calls", "spanish"],
                        choices=["librivox", "calls", "spanish"])
    parser.add_argument("--voices", nargs="+", default=["en-us", "en-gb"], help="espeak-ng voices of the call scripts")
    parser.add_argument("--spanish-voices", nargs="+", default=["es"], help="espeak-ng voices of the Spanish set")
    parser.add_argument("--concurrency", type=int, default=3, help="sessions streamed at once")
    parser.add_argument("--lost-words", type=int, default=3, help="deleted words in a row that count as lost content")
    parser.add_argument("--denoise", action="store_true",
                        help="stream both doors a second time through a stack that denoises (DeepFilterNet3)")
    parser.add_argument("--denoise-concurrency", type=int, default=1,
                        help="sessions streamed at once through the denoising stack (DeepFilterNet3 on a small "
                             "CPU keeps up with few: the gateway refuses sessions when it falls behind)")
    parser.add_argument("--items", nargs="+", metavar="PATTERN",
                        help="only the items whose name matches one of these (shell-style: librivox1 factura/* "
                             "'*/en-gb'): the quick way to look at a few again")
    parser.add_argument("--doors", nargs="+", default=["native", "twilio"], choices=["native", "twilio"],
                        help="the doors to stream through (the offline ways are decoded either way)")
    parser.add_argument("--shifts", nargs="+", type=int, default=[0], metavar="MS",
                        help="each item again after this much more silence before it (a few ms move every VAD "
                             "frame, so the cuts move with them): several draws of an item's streamed WER")
    parser.add_argument("--offline-runs", type=int, default=3, metavar="N",
                        help="runs of offline transcribe() where it samples (its temperature fallback); its WER "
                             "is their mean")
    parser.add_argument("--show", action="store_true",
                        help="print every item's transcripts, and each streamed final's span and language")
    parser.add_argument("--json", help="write the figures and every transcript (each streamed final too) here")
    args = parser.parse_args(argv)

    from faster_whisper import WhisperModel

    from asr_worker.engines.whisper_models import resolve_model

    items = with_shifts(build_set(args.sets, args.voices, args.spanish_voices, args.items), args.shifts)
    if not items:
        raise SystemExit(f"no item of {args.sets} matches {args.items}")
    audio = sum(len(i.samples) for i in items) / RATE
    print(f"{len(items)} items, {audio:.0f} s of audio: {', '.join(i.name for i in items)}")
    timings = {}
    for model in args.models:
        whisper = WhisperModel(resolve_model(model).path, device="cpu", compute_type="int8")
        for item in items:
            item.results[model] = {}
        started = time.monotonic()
        cpu = offline(model, whisper, items, runs=args.offline_runs)
        del whisper  # the stack's worker loads its own
        timings[f"{model} offline"] = {"wall_s": round(time.monotonic() - started, 1), "cpu_s": round(cpu, 1)}
        started = time.monotonic()
        asyncio.run(streamed(model, items, args.concurrency, args.doors))
        timings[f"{model} streamed"] = {"wall_s": round(time.monotonic() - started, 1)}
        if args.denoise:
            started = time.monotonic()
            asyncio.run(streamed(model, items, args.denoise_concurrency, args.doors, denoise=True))
            timings[f"{model} streamed denoise"] = {"wall_s": round(time.monotonic() - started, 1)}
        print(f"{model}: offline {timings[f'{model} offline']}, streamed {timings[f'{model} streamed']}",
              file=sys.stderr)
    figures = report(items, args.models, args.lost_words, show=args.show)
    figures["timings"] = timings
    figures["audio_s"] = round(audio, 1)
    if args.json:
        Path(args.json).write_text(json.dumps({**figures, "items": [
            {"name": i.name, "set": i.set, "reference": i.reference, "results": i.results, "offline_runs": i.runs,
             "finals": i.finals}
            for i in items]},
            indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

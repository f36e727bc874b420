"""Redaction on the labelled set of tests/kit/redaction.py: entity recall, leaks and false redactions.

    .venv/bin/python -m bench.redaction [--set tuning|held-out|held-out-2..held-out-56|spanish|spanish-2|spanish-3] [--model base] [--voices en-us,en-gb]
        [--mulaw] [--digits] [--packs] [--finals DIR] [--unsure P]
    .venv/bin/python -m bench.redaction --audio [--repeats 20]

Each call's pieces are spoken by espeak-ng, decoded one utterance each by the whisper engine
(16 kHz, and through 8 kHz μ-law with ``--mulaw``) and fed in order to the session's redactor
(``pci,ssn,pii``; names with the ``names`` extra), as the ASR stage does; the ``text`` pass feeds
the pieces' own words. ``--digits`` adds the second decode of number passages, ``--packs`` runs
each call as a recording decoded in packs by an in-process ASR stage, ``--finals DIR`` keeps the
decodes so that a rule change is scored on the same text. Scored per entity (a number read in
groups is one): redacted, digits left in clear, negatives falsely redacted (and ``plain``: the lines that
read no number, an agent's question or a keyword's sentence, given a placeholder; :func:`plain_line`); and the redactor's
time per final and how long held finals wait. ``--audio`` times a recording's redacted audio.
"""

from __future__ import annotations

import argparse
import asyncio
import audioop
import hashlib
import json
import pathlib
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import soxr
from prometheus_client import CollectorRegistry

from asr_worker.digits import STEP as DIGITS
from asr_worker.digits import needs_digits
from asr_worker.digits import retry as digits_retry
from asr_worker.engines import Engine, load_engine
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.whisper import WhisperOptions
from asr_worker.core import DIGITS_PROMPT, StreamingOptions, session_words
from asr_worker.stage import AsrStage
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common import records
from common.records import SAMPLE_RATE, Audio, End, Record, SpeechEnd, SpeechStart, Transcript, utterance_id
from common.redaction.audio import MODES, Span, mute, wav
from common.redaction import names as name_model
from common.redaction.names import persons_in
from common.redaction.itn import (DIGIT_NAMES, DIGIT_SPELLINGS, HOMOPHONES, MONTH_NAMES, ORDINAL_DAYS, SPANISH_DIGITS,
                                  core, digit_word, runs)
from common.redaction.redactor import Redactor, words_of
from tests.kit.redaction import CALLS, SETS, CallPiece, speak
from tests.kit.support import RecordingRunner

KINDS = ("pci", "ssn", "pii")
HOLD_SEC = 3.0  # the ASR worker's --redact-hold-sec default
PLACEHOLDER = re.compile(r"\[[A-Z_]+_[0-9]+\]")
SECRET_WORDS = {"email": ("example", "smith"), "address": ("elm",)}


def leaks(piece: CallPiece, text: str) -> bool:
    """What ``piece`` must hide survives in ``text`` (a redacted final)."""
    rest = PLACEHOLDER.sub("", text).lower()
    words = piece.secret or SECRET_WORDS.get(piece.label)
    if words:
        return any(word in rest for word in words)
    return clear_digits(text, plain=plain_words([piece])) > 0


def plain_words(pieces) -> frozenset[str]:
    """The words ``pieces`` say that are no number ("to" in "I would like to pay"; not a date's day said as an
    ordinal, :func:`days_said`): a recogniser's word that is one of them is taken as said, not as a digit."""
    plain: set[str] = set()
    for piece in pieces:
        said = piece.text.split()
        number = {i for run in runs(said) for i in range(run.first, run.last + 1)} | days_said(said)
        plain.update(core(w) for i, w in enumerate(said) if i not in number)
    return frozenset(plain)


# A day of a month said as an ordinal's word, and how many digits it stands for ("fourteenth": 2).
DAY_DIGITS = {word: len(str(day)) for word, day in ORDINAL_DAYS.items() if day <= 31}
MONTHS = frozenset(MONTH_NAMES)


def days_said(tokens: list[str]) -> set[int]:
    """Which of ``tokens`` are a date's day said as an ordinal's word, its month beside it ("the fourteenth of
    July", "July fourth"; "on" for "of", as the recogniser hears it): a date of birth's digits in words."""
    cores = [core(t) for t in tokens]
    return {i for i, word in enumerate(cores) if word in DAY_DIGITS and (
        cores[i + 1:i + 2] and cores[i + 1] in MONTHS or i > 0 and cores[i - 1] in MONTHS
        or cores[i + 1:i + 2] in (["of"], ["on"]) and cores[i + 2:i + 3] and cores[i + 2] in MONTHS)}


COUNTED = re.compile(r"\S+(?= digits?\b)", re.IGNORECASE)  # the word that counts digits ("the sixteen digits")
LAST_COUNT = re.compile(r"(?<=\blast )\S+", re.IGNORECASE)  # "the last four", where the script asks for them so


def clear_digits(text: str, *, plain: frozenset[str] = frozenset()) -> int:
    """How many digits ``text`` (a redacted final) says in clear, outside its placeholders, in any
    spelling: written (``3-1``), spoken (``four one one one``, ``double five``), or one digit's word
    alone that no rule reads as a number (``four.``, ``oh``, a homophone: ``for``, ``far``, ``too``, ``free``),
    unless the script says that word, or the number word it sounds like, or the digit's word a lone
    digit stands for, as a word (``plain``: "like to pay", "the last four are"). Words joined by
    hyphens count one by one (``two-eight-one``, ``One-Ein``: whisper joins digits' words so). A count of digits
    ("the sixteen digits on the front", "the 3 digit code") is none of them; "the last 4" is none where the script
    says "four" as a word (``plain``), and so is the word after "last" where the script says "last" and a count
    ("the last one on your social" heard for "the last four of your social"). A date's day said as an ordinal's word
    beside its month counts its digits ("the fourteenth of July": 2, :func:`days_said`)."""
    text = PLACEHOLDER.sub(" ", text)
    if "last" in plain and not plain.isdisjoint(DIGIT_NAMES):
        text = LAST_COUNT.sub(" ", text)
    tokens = [part for token in COUNTED.sub(" ", text).split()
              for part in (token.split("-") if "-" in token and not any(ch.isdigit() for ch in token)
                           and core(token) not in DAY_DIGITS else [token])
              if part]
    found = runs(tokens)
    days = days_said(tokens)
    inside = {i for run in found for i in range(run.first, run.last + 1)} | days
    alone = [t for i, t in enumerate(tokens) if i not in inside]
    return sum(DAY_DIGITS[core(tokens[i])] for i in days if core(tokens[i]) not in plain) + sum(
        len(run.digits) for run in found
               if not (run.first == run.last and _plain_digit(core(tokens[run.first]), plain))) + sum(
        ch.isdigit() for t in alone if not _plain_digit(core(t), plain) for ch in t) + sum(
        core(t) in DIGIT_SPELLINGS and core(t) not in plain and digit_word(core(t)) not in plain for t in alone)


def _plain_digit(word: str, plain: frozenset[str]) -> bool:
    """``word`` is one digit written (``4``) that the script says as a word, in English or Spanish ("the last four
    are", written "the last 4 hours" by tiny.en; "Los tres de atrás son" written "Los 3 de la razón"): no digit of a
    number."""
    return len(word) == 1 and word.isdigit() and bool(SAID_AS[int(word)] & plain)


# Words of other meanings that :func:`clear_digits` counts as a digit said in clear: a homophone ("to",
# "won") or a Spanish digit ("dos").
SOUNDALIKES = HOMOPHONES | frozenset(SPANISH_DIGITS)
# A digit's words in the sets' languages, by its value (3: "three", "tres").
SAID_AS = tuple(frozenset({word} | {es for es, en in SPANISH_DIGITS.items() if en == word}) for word in DIGIT_NAMES)
EDGE_WORDS = 1  # a recording's pack may deal a number's first word to the utterance before it
SPOKEN_DIGITS = frozenset(DIGIT_NAMES) | {"oh", "o", "double", "triple"}


def plain_line(piece: CallPiece) -> bool:
    """``piece`` is a line of no secret and no negative that reads no number: an agent's question, a keyword's
    sentence, "That one's for the savings."; not digits the script gives no label ("Okay. Six two one.", "My card
    number is four one one one, no wait.": masked or not, unscored); a count is no number ("Three digits on the
    back?")."""
    return not piece.entity and not runs(piece.text.split())


def says_a_number(piece: CallPiece) -> bool:
    """``piece``'s script reads a digit: written, a number word, "oh", "double"."""
    said = piece.text.split()
    return bool(runs(said)) or any(core(w) in SPOKEN_DIGITS or any(c.isdigit() for c in w) for w in said)


def heard_alike(text: str) -> str:
    """``text``, the final of a piece whose script reads no digit ("My cart numb is"), without the
    words that are digits only by their sound ("My car to home is": that "to" is no digit of anything
    said), but at its end, where a recording's pack may have dealt the next piece's first digit."""
    tokens = text.split()
    keep = len(tokens) - EDGE_WORDS
    return " ".join(t for n, t in enumerate(tokens) if n >= keep or core(t) not in SOUNDALIKES)


@dataclass(frozen=True)
class Entity:
    """One entity of a call: ``members``, the indices of its pieces; ``stretch``, the pieces whose
    output may hold it (its own and the unlabelled ones right around them)."""

    members: tuple[int, ...]
    stretch: range

    def piece(self, pieces) -> CallPiece:
        return pieces[self.members[0]]


def entities(pieces) -> list[Entity]:
    """The entities (of ``pci``, ``ssn``, ``pii``) of a call's ``pieces``, in order; a piece marked
    ``part`` goes on with the one before."""
    groups: list[list[int]] = []
    for n, piece in enumerate(pieces):
        if piece.entity not in KINDS:
            continue
        if piece.part and groups and groups[-1][-1] == n - 1:
            groups[-1].append(n)
        else:
            groups.append([n])
    found = []
    for members in groups:
        first, last = members[0], members[-1]
        while first > 0 and not pieces[first - 1].label:
            first -= 1
        while last + 1 < len(pieces) and not pieces[last + 1].label:
            last += 1
        found.append(Entity(tuple(members), range(first, last + 1)))
    return found


def entity_score(pieces, entity: Entity, texts: list[str]) -> tuple[bool, int]:
    """Whether ``entity`` is redacted in ``texts`` (each piece's redacted final, "" for a piece with
    no final of its own), and how many digits of its stretch are in clear (in the final of a piece
    that reads no digit, a word that is a digit only by its sound is not counted: :func:`heard_alike`)."""
    stretch = [texts[i] for i in entity.stretch]
    piece = entity.piece(pieces)
    plain = plain_words([pieces[i] for i in entity.stretch])
    # (A name's secret is its words: a digit's word beside it, "Thank you for", is none of it.)
    leaked = 0 if piece.secret else sum(
        clear_digits(text if says_a_number(pieces[i]) else heard_alike(text), plain=plain)
        for i, text in zip(entity.stretch, stretch))
    words = piece.secret or SECRET_WORDS.get(piece.label, ())
    said = any(word in PLACEHOLDER.sub("", text).lower() for text in stretch for word in words)
    covered = any(PLACEHOLDER.search(text) for text in stretch) and all(
        PLACEHOLDER.search(texts[i]) or not texts[i].strip() for i in entity.members)
    return covered and not leaked and not said, leaked


def phone_line(audio: np.ndarray) -> np.ndarray:
    """``audio`` (16 kHz) through an 8 kHz G.711 mu-law line and back to 16 kHz."""
    narrow = soxr.resample(audio, SAMPLE_RATE, 8000)
    pcm = (np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes()
    decoded = np.frombuffer(audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2), "<i2").astype(np.float32) / 32768
    return soxr.resample(decoded, 8000, SAMPLE_RATE).astype(np.float32)


# What the re-decodes with the digits prompt did, over the whole run: per re-decoded final, (request
# id, the first decode's text, the final's text (the second decode's where that was refused), the
# outcome (its step digits: kept, refused, dropped), CPU seconds of the decode with it, and without).
REDECODES: list[tuple[str, str, str, str, float, float]] = []


async def decode(engine, audio: np.ndarray, request_id: str, prompt: str = "",
                 digits_prompt: str = "", language: str = "en") -> tuple[str, tuple, str]:
    """The final's text, its words, and its second decode's text where that wrote digits that were
    refused ("" otherwise: what the ASR stage tells the redactor, ``unread_number``)."""
    request = DecodeRequest(request_id=request_id, audio=audio, final=True, language=language, word_timestamps=True,
                            context=prompt, retry=digits_retry(digits_prompt) if digits_prompt else None)
    started = time.process_time()  # CPU of the process: the decode thread's, the only one busy
    hypothesis = await engine.transcribe(request)
    seconds = time.process_time() - started
    if hypothesis.step(DIGITS):
        # What the re-decode cost this final: the same decode without the digits prompt, timed.
        started = time.process_time()
        first = await engine.transcribe(replace(request, request_id=request_id + "-plain", retry=None))
        REDECODES.append((request_id, first.text, hypothesis.retried or hypothesis.text, hypothesis.step(DIGITS), seconds,
                          time.process_time() - started))
    return hypothesis.text, hypothesis.words, hypothesis.retried if hypothesis.step(DIGITS) == "refused" else ""


async def finals_of(pieces, source: str, engine, prompt: str = "", digits_prompt: str = "",
                    language: str = "en", unsure: float = 0.0) -> tuple[list[Transcript], dict[str, str]]:
    """One final per piece, as the ASR stage would write it before redaction; with ``digits_prompt``,
    each final of a number passage (a redactor fed the finals so far decides, as the ASR stage's does)
    carries it for the engine's re-decode. Also, by utterance id, the second decodes whose digits
    were refused (``unread_number``). ``unsure`` (an experiment, not the ASR stage's): a final outside
    the number passages that wrote no number and whose words' mean probability is under it is decoded
    again with the digits prompt too (the recogniser was unsure: the caller may have read digits whose
    keyword it lost)."""
    finals, at = [], 0
    unread: dict[str, str] = {}
    passages = Redactor(KINDS, hold_gap=round(HOLD_SEC * SAMPLE_RATE))
    for n, piece in enumerate(pieces):
        if source == "text":
            length = SAMPLE_RATE * max(1, len(piece.text) // 12)
            finals.append(Transcript(utterance_id=f"b-{at}", start=at, end=at + length, text=piece.text, final=True))
        else:
            voice, line = source.split("/")
            audio = speak(piece.text, voice)
            if line == "8k-mulaw":
                audio = phone_line(audio)
            length = len(audio)
            digits = digits_prompt if digits_prompt and passages.number_passage(at) else ""
            try:
                text, words, refused = await decode(engine, audio, f"{source}-{n}-{at}", prompt, digits, language)
                if unsure and digits_prompt and not digits and needs_digits(text) and words \
                        and statistics.mean(w.probability for w in words) < unsure:
                    text, words, refused = await decode(engine, audio, f"{source}-{n}-{at}-unsure", prompt,
                                                        digits_prompt, language)
            except Exception as exc:  # the engine's failure, not the redactor's: scored as no final, said
                print(f"  {source}-{n}-{at}: the decode failed ({type(exc).__name__}: {exc}); {piece.text!r} "
                      "has no final")
                text, words, refused = "", (), ""
            finals.append(Transcript(utterance_id=f"b-{at}", start=at, end=at + length, text=text, final=True,
                                     words=session_words(words, at, at + length)))
            if refused:
                unread[finals[-1].utterance_id] = refused
            passages.speech_start(at)
            passages.final(finals[-1], unread_number=refused)
        at += length + int(piece.pause * SAMPLE_RATE)
    return finals, unread


def read_finals(path: pathlib.Path) -> list[Transcript]:
    """The finals ``--finals DIR`` kept of one call (``Decoded.of``'s cache file)."""
    return [cast(Transcript, records.decode(bytes.fromhex(line))) for line in json.loads(path.read_text())]


async def packed_finals(pieces, source: str, engine, digits_prompt: str,
                        language: str = "en") -> tuple[list[Transcript], dict[str, str]]:
    """One final per piece (an empty one where none came), of the call as a recording: its pieces, one
    utterance each, decoded in packs by an ASR stage redacting ``pci,ssn`` (which decides the second
    decodes with ``digits_prompt``); the finals as they went into its redactor. Each second decode
    is printed, and each utterance that its pack wrote nothing of (decoded alone, and what that
    wrote, with its CPU time; or spanned by a number written beside it). Also, by utterance id, what
    the stage told its redactor as ``unread_number`` (a second decode whose digits it refused)."""
    voice, line = source.split("/")
    records: list[Record] = []
    starts, at = [], 0
    for piece in pieces:
        audio = speak(piece.text, voice)
        if line == "8k-mulaw":
            audio = phone_line(audio)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
        records += [SpeechStart(seq=0, start=at),
                    *(Audio(seq=0, offset=at + i, pcm=pcm[i:i + 1600].tobytes()) for i in range(0, len(pcm), 1600)),
                    SpeechEnd(seq=0, start=at, end=at + len(pcm), reason="silence")]
        starts.append((at, len(pcm)))
        at += len(pcm) + int(piece.pause * SAMPLE_RATE)
    registry = CollectorRegistry()
    runner = RecordingRunner(lambda r: AsrStage(r, engine, defaults=StreamingOptions(redact_digits_prompt=digits_prompt),
                                                metrics=AsrMetrics(registry)))
    stage = runner.stage
    clear: dict[str, Transcript] = {}
    told: dict[str, str] = {}
    redacting = stage.redaction.redact

    def redact(session, outputs, names=None):  # the finals before the stage's redactor, kept for scoring
        outputs = list(outputs)
        finals = [r for r in outputs if isinstance(r, Transcript) and r.final]
        clear.update((r.utterance_id, r) for r in finals)
        told.update((r.utterance_id, session.state.unread_numbers[r.utterance_id]) for r in finals
                    if r.utterance_id in session.state.unread_numbers)
        return redacting(session, outputs, names)

    stage.redaction.redact = redact
    decode_digits = stage.packs._decode_digits

    async def traced(session, asr, pack, final, prompt):  # what each second decode did
        again = await decode_digits(session, asr, pack, final, prompt)
        print(f"  {source}-{final.start}: {final.text!r} -> {again.text!r}" if again is not final
              else f"  {source}-{final.start}: {final.text!r} "
                   + (f"(refused: {asr.unread_numbers[final.utterance_id]!r})" if final.utterance_id in asr.unread_numbers
                      else "(dropped)"))
        return again

    stage.packs._decode_digits = traced
    decode_alone = stage.packs._decode_alone

    async def alone(session, asr, pack, request, dealt, lost, fates):  # what the pack wrote nothing of
        cpu = time.process_time()  # (the engine's threads included: nothing else decodes meanwhile)
        unheard = await decode_alone(session, asr, pack, request, dealt, lost, fates)
        if "alone" in fates:
            print(f"  {source}: {fates.count('alone')} decoded alone in {time.process_time() - cpu:.2f} s of CPU")
        for ended, words, fate in zip(pack, dealt, fates):
            if fate:
                print(f"  {source}-{ended.utterance.start}: {fate}" + (f" -> {' '.join(w.text for w in words)!r}"
                                                                        if fate == "alone" else ""))
        return unheard

    stage.packs._decode_alone = alone
    session = runner.open(source, config=PipelineConfig(asr=AsrConfig(language=language, redact=("pci", "ssn"), words=True),
                                                        priority="batch"))
    records.append(End(seq=0))
    await stage.process([(session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
    try:
        await asyncio.wait_for(runner.finished.wait(), 600)
    finally:
        await stage.close(session, "bench over")
    return [clear.get(utterance_id(source, start)) or Transcript(utterance_id=utterance_id(source, start), start=start,
                                                                 end=start + length, text="", final=True)
            for start, length in starts], told


def redact(finals: list[Transcript], hold_sec: float, nlp=None, name_costs: list[float] | None = None,
           unread: dict[str, str] | None = None) -> tuple[dict[str, str], list[float], list[float]]:
    """The redacted text of each final (by utterance id), the seconds each final took in the
    redactor, and the seconds each held final waited (the last of a call: ``hold_sec``, the timer).
    ``nlp``: the name model (None: names are not looked for); the seconds it took a final go
    to ``name_costs``. ``unread``: what finals are told as ``unread_number``, by utterance id."""
    redactor = Redactor(KINDS, hold_gap=round(hold_sec * SAMPLE_RATE))
    unread = unread or {}
    out: dict[str, str] = {}
    costs: list[float] = []
    holds: list[float] = []
    held_at: dict[str, int] = {}
    def take(records: list[Transcript], now: int) -> None:
        for record in records:
            out[record.utterance_id] = record.text
            if record.utterance_id in held_at:
                holds.append((now - held_at.pop(record.utterance_id)) / SAMPLE_RATE)

    for final in finals:
        # (The worker's timer fires only when no speech starts within hold_sec of a held final,
        # which speech_start covers here; a final comes out as long after its speech ends as the
        # one before it did after its own, so a hold lasts as long as their ends are apart.)
        names: frozenset[int] = frozenset()
        if nlp is not None:
            started = time.perf_counter()
            names = persons_in(nlp, words_of(final))
            if name_costs is not None:
                name_costs.append(time.perf_counter() - started)
        started = time.perf_counter()
        released = redactor.speech_start(final.start) + redactor.final(
            final, names=names, unread_number=unread.get(final.utterance_id, ""))
        costs.append(time.perf_counter() - started)
        if redactor.holding:
            held_at.setdefault(final.utterance_id, final.end)
        take(released, final.end)
    take(redactor.release(), finals[-1].end + round(hold_sec * SAMPLE_RATE) if finals else 0)
    return out, costs, holds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default="en-us,en-gb", help="espeak-ng voices, comma-separated")
    parser.add_argument("--mulaw", action="store_true", help="also each voice through an 8 kHz mu-law line")
    parser.add_argument("--text-only", action="store_true", help="only the text pass (no whisper)")
    parser.add_argument("--model", default=None,
                        help="whisper model: tiny.en (default) or base (scripts/stack's default)")
    parser.add_argument("--finals", default=None, metavar="DIR",
                        help="keep each source's decoded finals in DIR (JSON) and read them back from there "
                             "next time: a change of the rules is scored on the same transcripts without "
                             "decoding again")
    parser.add_argument("--prompt", default="", help="whisper's prompt for every decode (the ASR worker's "
                        "--redact-prompt; default: none)")
    parser.add_argument("--calls", default="", help="only these calls of the set, comma-separated (default: all)")
    parser.add_argument("--set", default="tuning", choices=tuple(SETS), help="the calls: the rules' tuning set, "
                        "its held-out parts (never tuned on) or Spanish numbers (decoded as Spanish: --model base)")
    parser.add_argument("--digits", action="store_true", help="finals of number passages carry the ASR "
                        "worker's --redact-digits-prompt (its default) for the engine's re-decode (asr_worker/engines/"
                        "digits.py); the re-decodes and their cost are listed")
    parser.add_argument("--packs", action="store_true", help="each call a recording decoded in packs by an "
                        "in-process ASR stage (with --digits: its second decode of number passages)")
    parser.add_argument("--unsure", type=float, default=0.0, metavar="P", help="an experiment, not the ASR "
                        "stage's rule (with --digits, live only): finals outside number passages that wrote no number "
                        "and whose words' mean probability is under P are decoded again with the digits prompt too")
    parser.add_argument("--hold-sec", type=float, default=HOLD_SEC, help="the ASR worker's --redact-hold-sec")
    parser.add_argument("--audio", action="store_true", help="only the redacted audio's cost (no whisper)")
    parser.add_argument("--repeats", type=int, default=20, help="--audio: timings per figure (median)")
    args = parser.parse_args(argv)
    if args.unsure and (args.packs or not args.digits):
        parser.error("--unsure needs --digits and the live path (not --packs)")
    if args.audio:
        audio_cost(args.repeats)
        return
    sources = ["text"]
    if not args.text_only:
        for voice in args.voices.split(","):
            sources.append(f"{voice}/16k")
            if args.mulaw:
                sources.append(f"{voice}/8k-mulaw")
    calls = tuple(c for c in SETS[args.set] if not args.calls or c[0] in args.calls.split(","))
    language = "es" if args.set.startswith("spanish") else "en"
    asyncio.run(run(sources, args.hold_sec, model=args.model, cache=args.finals, prompt=args.prompt, calls=calls,
                    digits_prompt=DIGITS_PROMPT if args.digits else "", packs=args.packs, language=language,
                    unsure=args.unsure))


AUDIO_FORMATS = ((8000, 1), (16000, 1), (16000, 2), (48000, 2))  # (rate, channels) of a recording
SPANS_PER_MINUTE = 10  # entities of 2.5 s each, per channel: a call that reads a card, an expiry, a CVV...


def audio_cost(repeats: int) -> None:
    """Milliseconds per minute of audio to mute its spans and encode it as WAV (median of ``repeats``)."""
    print(f"== redacted audio: ms per minute of audio, {SPANS_PER_MINUTE} spans of 2.5 s per channel, "
          f"median of {repeats}")
    rng = np.random.default_rng(0)
    for rate, channels in AUDIO_FORMATS:
        pcm = rng.integers(-20000, 20000, size=(60 * rate, channels), dtype=np.int16)
        spans = [Span(channel, i * 6000, i * 6000 + 2500) for channel in range(channels)
                 for i in range(SPANS_PER_MINUTE)]
        for mode in MODES:
            muting, encoding = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                muted = mute(pcm, spans, sample_rate=rate, mode=mode)
                between = time.perf_counter()
                encoded = wav(muted, sample_rate=rate)
                muting.append(between - started)
                encoding.append(time.perf_counter() - between)
            mute_ms, wav_ms = statistics.median(muting) * 1e3, statistics.median(encoding) * 1e3
            print(f"  {rate} Hz x{channels} {mode:7}: mute {mute_ms:6.2f} ms, wav {wav_ms:6.2f} ms, "
                  f"total {mute_ms + wav_ms:6.2f} ms; {len(encoded) / 2**20:.2f} MiB")


class Finals:
    """Each call's finals from one source: decoded, or read back from ``cache`` (a directory)."""

    def __init__(self, *, model: str | None, cache: str | None, prompt: str = "", digits_prompt: str = "",
                 packs: bool = False, language: str = "en", unsure: float = 0.0) -> None:
        self.model = model
        self.language = language
        self.prompt = prompt
        self.digits_prompt = digits_prompt
        self.packs = packs
        self.unsure = unsure
        self.cache = pathlib.Path(cache) if cache else None
        self.engine: Engine | None = None

    async def of(self, name: str, pieces, source: str) -> tuple[list[Transcript], dict[str, str]]:
        """The call's finals, and by utterance id the second decodes whose digits were refused (kept
        beside the cache's file, ``.refused.json``; a cache without it is decoded again)."""
        path = None
        if self.cache is not None and source != "text":
            script = hashlib.sha1(repr([(p.text, p.pause) for p in pieces]).encode()).hexdigest()[:8]
            if self.prompt:
                script += "-p" + hashlib.sha1(self.prompt.encode()).hexdigest()[:6]
            if self.digits_prompt:
                script += "-d" + hashlib.sha1(self.digits_prompt.encode()).hexdigest()[:6]
            if self.packs:
                script += "-packs"
            if self.unsure:
                script += f"-u{self.unsure:g}"
            path = self.cache / f"{self.model or 'tiny.en'}-{source.replace('/', '-')}-{name}-{script}.json"
            told = path.with_suffix(".refused.json")
            if path.exists() and told.exists():
                return read_finals(path), json.loads(told.read_text())
        if source != "text" and self.engine is None:
            self.engine = load_engine("whisper", WhisperOptions(model=self.model, num_workers=1,
                                                                batch_process=False))
            await self.engine.start()
        if self.packs and source != "text":
            finals, unread = await packed_finals(pieces, source, self.engine, self.digits_prompt, self.language)
        else:
            finals, unread = await finals_of(pieces, source, self.engine, self.prompt, self.digits_prompt,
                                             self.language, self.unsure)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps([records.encode(final).hex() for final in finals]))
            path.with_suffix(".refused.json").write_text(json.dumps(unread, sort_keys=True))
        return finals, unread

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.close()


async def run(sources: list[str], hold_sec: float, *, model: str | None, cache: str | None,
              prompt: str = "", calls=CALLS, digits_prompt: str = "", packs: bool = False, language: str = "en",
              unsure: float = 0.0) -> None:
    finals = Finals(model=model, cache=cache, prompt=prompt, digits_prompt=digits_prompt, packs=packs,
                    language=language, unsure=unsure)
    nlp = None
    if name_model.installed():
        started = time.perf_counter()
        nlp = name_model.load_pipeline()
        print(f"== name model {name_model.PACKAGE} loaded in {time.perf_counter() - started:.1f} s")
    else:
        print("== no name model (the names extra): names are not looked for")
    print(f"== model {model or 'tiny.en'}" + (", recordings in packs" if packs else "")
          + (f", prompt {prompt!r}" if prompt else "")
          + (f", digits prompt {digits_prompt!r} for number passages" if digits_prompt else "")
          + (f" and finals with no number whose words' mean probability is under {unsure:g}" if unsure else ""))
    try:
        for source in sources:
            await score(source, finals, hold_sec, nlp, calls)
    finally:
        await finals.close()
    if digits_prompt and not packs:
        report_redecodes()


def report_redecodes() -> None:
    """The finals decoded again with the digits prompt (decoded in this run, not read back), and what
    that cost: the decode with the re-decode against the same decode without it."""
    kept = sum(o == "kept" for _, _, _, o, _, _ in REDECODES)
    refused = sum(o == "refused" for _, _, _, o, _, _ in REDECODES)
    print(f"== re-decoded with the digits prompt: {len(REDECODES)} finals, kept {kept}, refused (wrote digits) {refused}")
    for request_id, first, final, came, _, _ in REDECODES:
        print(f"  {request_id}: {first!r} -> {final!r}" + ("" if came == "kept" else f" ({came})") if came != "dropped"
              else f"  {request_id}: {first!r} (dropped)")
    if REDECODES:
        extra = sorted((w - wo) * 1e3 for *_, w, wo in REDECODES)
        plain = sorted(wo * 1e3 for *_, wo in REDECODES)
        print(f"  CPU of such a final's decode: {statistics.median(plain):.0f} ms without the re-decode, "
              f"+{statistics.median(extra):.0f} ms median (range {extra[0]:+.0f} to {extra[-1]:+.0f} ms) with it")


async def score(source: str, decoded: Finals, hold_sec: float, nlp, calls=CALLS) -> None:
    found: defaultdict[str, int] = defaultdict(int)
    leaked: defaultdict[str, int] = defaultdict(int)
    negatives: defaultdict[str, int] = defaultdict(int)
    missed: defaultdict[str, list] = defaultdict(list)
    false: defaultdict[str, list] = defaultdict(list)
    # Per entity: (redacted, leaked digits, its stretch's finals redacted) by kind:label.
    whole: defaultdict[str, list[tuple[bool, int, list[str]]]] = defaultdict(list)
    costs: list[float] = []
    holds: list[float] = []
    name_costs: list[float] = []
    started = time.perf_counter()
    told: list[str] = []  # the finals told unread_number: what they became
    for name, pieces in calls:
        finals, unread = await decoded.of(name, pieces, source)
        redacted, cost, held = redact(finals, hold_sec, nlp, name_costs, unread)
        told += [f"{name}: {f.text!r} (refused: {unread[f.utterance_id]!r}) -> {redacted[f.utterance_id]!r}"
                 for f in finals if f.utterance_id in unread]
        costs += cost
        holds += held
        texts = [redacted[final.utterance_id] for final in finals]
        for entity in entities(pieces):
            piece = entity.piece(pieces)
            done, leaked_digits = entity_score(pieces, entity, texts)
            whole[f"{piece.entity}:{piece.label}"].append(
                (done, leaked_digits, [texts[i] for i in entity.stretch]))
        for piece, final in zip(pieces, finals):
            text = redacted[final.utterance_id]
            if piece.entity in ("pci", "ssn", "pii"):
                key = f"{piece.entity}:{piece.label}"
                if PLACEHOLDER.search(text):
                    found[key] += 1
                else:
                    missed[key].append(final.text)
                if leaks(piece, text):
                    leaked[key] += 1
            elif plain_line(piece):  # (what fails closed costs beside the negatives: "Go ahead with the long [NUMBER_1].")
                negatives["plain"] += 1
                if PLACEHOLDER.search(text):
                    false["plain"].append(f"{final.text!r} -> {text!r}")
            elif piece.entity:
                negatives[piece.entity] += 1
                if PLACEHOLDER.search(text):
                    false[piece.entity].append(f"{final.text!r} -> {text!r}")
    print(f"== {source} ({time.perf_counter() - started:.0f} s)")
    for kind in ("pci", "ssn", "pii"):
        scored = [e for key, es in whole.items() if key.startswith(kind + ":") for e in es]
        redacted_n = sum(e[0] for e in scored)
        print(f"  {kind} entities: redacted {redacted_n}/{len(scored)} ({100 * redacted_n / max(len(scored), 1):.1f} %), "
              f"leaked digits {sum(e[1] for e in scored)}")
    for key in sorted(whole):
        misses = [texts for redacted_, _, texts in whole[key] if not redacted_]
        print(f"  {key:16} entities {len(whole[key]) - len(misses)}/{len(whole[key])}, leaked digits {sum(e[1] for e in whole[key])}"
              + (f"; not redacted: {misses}" if misses else ""))
    for kind in ("pci", "ssn", "pii"):
        hits = sum(n for key, n in found.items() if key.startswith(kind + ":"))
        total = hits + sum(len(m) for key, m in missed.items() if key.startswith(kind + ":"))
        print(f"  {kind} pieces: recall {hits}/{total} ({100 * hits / max(total, 1):.1f} %)")
    for key in sorted(set(found) | set(missed)):
        total = found[key] + len(missed[key])
        print(f"  {key:16} recall {found[key]}/{total} ({100 * found[key] / total:.0f} %), "
              f"leaked {leaked[key]}/{total}" + (f"; missed: {missed[key]}" if missed[key] else ""))
    for kind in sorted(negatives):
        print(f"  {kind:16} false redactions {len(false[kind])}/{negatives[kind]} "
              f"({100 * len(false[kind]) / negatives[kind]:.0f} %)" + (f": {false[kind]}" if false[kind] else ""))
    print(f"  finals told unread_number (second decode's digits refused): {len(told)}" + "".join(
        f"\n    {line}" for line in told))
    costs_us = sorted(c * 1e6 for c in costs)
    print(f"  redactor per final: median {statistics.median(costs_us):.0f} us, max {costs_us[-1]:.0f} us; "
          f"held finals {len(holds)}, hold (s) median {statistics.median(holds) if holds else 0:.2f}, "
          f"p90 {sorted(holds)[int(0.9 * (len(holds) - 1))] if holds else 0:.2f}, max {max(holds, default=0):.2f}")
    if name_costs:
        ms = sorted(c * 1e3 for c in name_costs)
        print(f"  name model per final: median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, "
              f"max {ms[-1]:.1f} ms ({len(ms)} finals)")


if __name__ == "__main__":
    main()

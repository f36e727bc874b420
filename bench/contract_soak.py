"""The transcript contract soak: many short sessions of varied speech through every door, each checked.

    .venv/bin/python -m bench.contract_soak --sessions 500 --show > soak.txt   # the whole soak (~25 min)
    .venv/bin/python -m bench.contract_soak --sessions 20 --doors native,flux --kinds tail --speeds 2 --no-hog

Each session streams 10-25 s of speech (:func:`build`) through one door (native, Deepgram, Flux,
Twilio, AudioHook) of a private stack, at ``--speeds`` times real time, alone and beside a process
spinning on one core (``--hog``). Kinds (``--kinds``): ``continuous`` read speech, a sentence with a
``tail`` (noise or one word right after), turn-set ``calls``, ``spanish`` on a base stack, and
``kill`` (the ASR worker holding the session killed mid-call). Every session's messages go
through :func:`common.contract.check` with the speech the bench put there, and the options it
asked for are checked (:func:`option_drops`); each violation is a defect to fix. Tables per door,
condition and kind; ``--show`` prints the finals around each violation, ``--dump`` keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.latency import some_of
from common import aio
from common.contract import (SESSION_KINDS as VIOLATIONS, Event, Violation, check, describe, from_audiohook, from_deepgram,
                             from_flux, from_native, from_twilio, words_of)

RATE = 16_000
PHONE_RATE = 8_000
DOORS = ("native", "deepgram", "flux", "twilio", "audiohook")
KINDS = ("continuous", "tail", "calls", "spanish", "kill")
# Shares of the kinds: Spanish needs the slower multilingual stack, and a kill costs a worker's
# start (seconds of CPU), one session at a time: smaller shares of those.
WEIGHTS = {"continuous": 3, "tail": 3, "calls": 3, "spanish": 1, "kill": 1}
SPEEDS = (1.0, 2.0)
MIN_SECONDS, MAX_SECONDS = 10.0, 25.0  # speech per session, lead and tail silence aside
LEAD, TAIL = 0.5, 1.5  # s of silence before the speech and after it (past the VAD's 0.8 s pause)
STRIKE_AT = 0.45  # share of a kill session's audio sent when its ASR worker is killed
TIMEOUT = 120.0  # s a session may take past its audio
CHUNK_MS = 100
TAIL_WORDS = ("Okay.", "Yes.", "Right.", "Thanks.", "Sure.", "Great.", "No.", "Hello.")
SPANISH_VOICES = ("es", "es-419")
PUNCTUATION = frozenset(".,?!;:¿¡")


# -- the speech ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a session's audio: who said what, and its span (ms); ``speech`` False: a noise."""

    party: int
    text: str
    start_ms: int
    end_ms: int
    speech: bool = True


@dataclass(frozen=True)
class Speech:
    """A session's audio at 16 kHz, one column per party, and what is in it."""

    name: str
    language: str  # what was said: "en" or "es"
    audio: np.ndarray  # float32 (samples, parties)
    parts: tuple[Part, ...]

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE

    @property
    def parties(self) -> int:
        return int(self.audio.shape[1])

    def mono(self) -> np.ndarray:
        return self.audio.sum(axis=1).astype(np.float32)

    def knowledge(self, *, stereo: bool) -> tuple[dict[int, list[tuple[int, int]]], dict[int, str]]:
        """(speech stretches, what was said) per channel, as :func:`common.contract.check` takes them:
        with ``stereo`` party ``k`` is channel ``k``, otherwise everything is channel 0."""
        spans: dict[int, list[tuple[int, int]]] = {}
        said: dict[int, list[str]] = {}
        for part in self.parts:
            channel = part.party if stereo else 0
            spans.setdefault(channel, [])
            said.setdefault(channel, [])
            if part.speech:
                spans[channel].append((part.start_ms, part.end_ms))
                said[channel].append(part.text)
        return spans, {channel: " ".join(texts) for channel, texts in said.items()}


class Builder:
    """Lays pieces out one after the other: each starts ``pause`` s after the previous one's speech."""

    def __init__(self, parties: int = 1) -> None:
        self.parties = parties
        self.pieces: list[tuple[int, int, np.ndarray]] = []  # (party, first sample, samples)
        self.parts: list[Part] = []
        self.cursor = int(LEAD * RATE)  # sample after the last piece's speech

    @property
    def seconds(self) -> float:
        """Seconds of the session so far, its lead included."""
        return self.cursor / RATE

    def add(self, samples: np.ndarray, text: str, *, pause: float, party: int = 0, speech: bool = True,
            span: tuple[int, int] | None = None) -> None:
        """``samples`` after ``pause`` s of silence; ``span``: its speech within them (default: all)."""
        first, last = span if span is not None else (0, len(samples))
        start = max(0, self.cursor + (int(pause * RATE) if self.parts else 0) - first)
        self.pieces.append((party, start, samples))
        self.parts.append(Part(party, text, (start + first) * 1000 // RATE, -(-(start + last) * 1000 // RATE), speech))
        self.cursor = start + last

    def speech(self, name: str, language: str) -> Speech:
        audio = np.zeros((self.cursor + int(TAIL * RATE), self.parties), np.float32)
        for party, start, samples in self.pieces:
            end = min(len(audio), start + len(samples))
            audio[start:end, party] += samples[:end - start]
        return Speech(name, language, audio, tuple(self.parts))


@functools.lru_cache(maxsize=8)
def clips() -> tuple[tuple[np.ndarray, str, tuple[int, int]], ...]:
    """The LibriVox clips, each with its text and its speech's span."""
    from tests.kit.mixes import speech_span
    from tests.kit.testdata import librivox_samples

    return tuple((samples, text, speech_span(samples)) for samples, text in librivox_samples())


def voiced(voice: str, text: str) -> tuple[np.ndarray, tuple[int, int]]:
    """``text`` in the espeak-ng ``voice`` (cached with the turn set's) and its speech's span."""
    from tests.kit.turns import _voiced

    samples, first, last = _voiced(voice, text)
    return samples, (first, last)


def breath(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A breath-like burst: noise band-passed to roughly 0.5-4 kHz under a Hann window, peak 0.05."""
    n = int(seconds * RATE)
    noise = rng.standard_normal(n + 64)
    band = np.convolve(noise, np.ones(4) / 4, "same") - np.convolve(noise, np.ones(32) / 32, "same")
    burst = band[32:32 + n] * np.hanning(n)
    return (0.05 * burst / np.abs(burst).max()).astype(np.float32)


def _fits(builder: Builder, seconds: float, pause: float) -> bool:
    return builder.seconds - LEAD + pause + seconds <= MAX_SECONDS


def continuous(rng: np.random.Generator) -> Builder:
    """LibriVox clips in a drawn order, trimmed to their speech, 0.1-0.6 s apart, 10-25 s."""
    builder = Builder()
    for index in rng.permutation(len(clips())):
        samples, text, (first, last) = clips()[int(index)]
        pause = float(rng.uniform(0.1, 0.6))
        if builder.seconds - LEAD >= MIN_SECONDS or not _fits(builder, (last - first) / RATE, pause):
            break
        builder.add(samples[first:last], text, pause=pause)
    return builder


def tails(rng: np.random.Generator) -> Builder:
    """Sentences, each followed 0.3 s after it by a noise burst or a one-word reply, 1-1.6 s apart."""
    from tests.kit import mixes, turns

    voices = [voice for pair in turns.TUNE_VOICES for voice in pair]
    sentences = list(turns.LONG + mixes.LINES + mixes.CUSTOMER_LINES)
    order = rng.permutation(len(sentences))
    librivox = list(rng.permutation(len(clips())))
    builder = Builder()
    for index in order:
        pause = float(rng.uniform(1.0, 1.6))
        if rng.random() < 0.4 and librivox:
            samples, text, span = clips()[int(librivox.pop())]
            voice = str(rng.choice(voices))
        else:
            voice = str(rng.choice(voices))
            text = sentences[int(index)]
            samples, span = voiced(voice, text)
        if rng.random() < 0.5:
            tail, tail_text, tail_span, speech = breath(rng, float(rng.uniform(0.1, 0.3))), "", None, False
        else:
            tail_text = str(rng.choice(TAIL_WORDS))
            (tail, tail_span), speech = voiced(voice, tail_text), True
        length = (span[1] - span[0]) / RATE + 0.3 + len(tail) / RATE
        if builder.seconds - LEAD >= MIN_SECONDS or not _fits(builder, length, pause):
            break
        builder.add(samples, text, pause=pause, span=span)
        builder.add(tail, tail_text, pause=0.3, speech=speech, span=tail_span)
    return builder


def call(rng: np.random.Generator) -> Builder:
    """A call of the turn set's ``tune`` part: two parties, each on its own track."""
    from tests.kit import turns

    seed = int(rng.choice(turns.TUNE_SEEDS))
    both, timeline, _ = turns.tracks(seed)
    builder = Builder(parties=2)
    builder.pieces = [(party, 0, both[:, party].copy()) for party in range(2)]
    builder.parts = [Part(t.party, t.text, t.start * 1000 // turns.RATE, -(-t.end * 1000 // turns.RATE))
                     for t in timeline]
    builder.cursor = len(both) - int(turns.TAIL * turns.RATE)
    return builder


@functools.lru_cache(maxsize=1)
def spanish_lines() -> tuple[str, ...]:
    from tests.kit.testdata import accuracy_lines

    return tuple(text for _, language, text in accuracy_lines("spanish.txt") if language == "es")


def spanish(rng: np.random.Generator) -> Builder:
    """Spanish sentences of the accuracy set in an espeak-ng Spanish voice, 0.3-0.8 s apart."""
    voice = str(rng.choice(SPANISH_VOICES))
    builder = Builder()
    lines = spanish_lines()
    for index in rng.permutation(len(lines)):
        samples, span = voiced(voice, lines[int(index)])
        pause = float(rng.uniform(0.3, 0.8))
        if builder.seconds - LEAD >= MIN_SECONDS:
            break
        if _fits(builder, (span[1] - span[0]) / RATE, pause):
            builder.add(samples, lines[int(index)], pause=pause, span=span)
    return builder


def build(kind: str, seed: int) -> Speech:
    """Session speech of ``kind`` (:data:`KINDS`) drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    if kind in ("continuous", "kill"):
        builder = continuous(rng)
    elif kind == "tail":
        builder = tails(rng)
    elif kind == "calls":
        builder = call(rng)
    elif kind == "spanish":
        builder = spanish(rng)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return builder.speech(f"{kind}-{seed}", "es" if kind == "spanish" else "en")


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One session to run: where, how fast, what, and whether it asks for the door's options."""

    index: int
    door: str
    speed: float
    hog: bool
    kind: str
    seed: int
    asks: bool  # the door's checked options (:func:`options`) asked for
    detect: bool = False  # Spanish: the language detected, not asked

    @property
    def condition(self) -> str:
        return f"{self.speed:g}x {'hog' if self.hog else 'alone'}"


def plan(sessions: int, *, doors: Sequence[str] = DOORS, speeds: Sequence[float] = SPEEDS,
         kinds: Sequence[str] = KINDS, hogs: Sequence[bool] = (False, True), seed: int = 1) -> list[Planned]:
    """``sessions`` sessions crossing doors, speeds and kinds (in :data:`WEIGHTS`' shares); the
    sessions are split between ``hogs`` in order (the first part alone, the rest under the hog)."""
    if sessions < 1:
        raise ValueError(f"sessions must be at least 1, not {sessions}")
    cycle = [kind for kind in KINDS if kind in kinds for _ in range(WEIGHTS[kind])]
    if not cycle or not doors or not speeds or not hogs:
        raise ValueError("a plan needs a door, a speed, a kind and a hog setting")
    out = []
    for index in range(sessions):
        round_, door_index = divmod(index, len(doors))
        kind = cycle[round_ % len(cycle)]
        # The cycle of kinds has an odd length (11 in all): alternating speeds and options cross it.
        out.append(Planned(index=index, door=doors[door_index], speed=speeds[round_ % len(speeds)],
                           hog=hogs[index * len(hogs) // sessions], kind=kind, seed=seed * 100_000 + index,
                           asks=(round_ // len(speeds)) % 2 == 0,
                           detect=kind == "spanish" and (round_ // len(cycle)) % 2 == 1))
    return out


def options(door: str, asks: bool) -> dict[str, Any]:
    """The options a session asks for beside its language (:func:`option_drops` checks them):
    ``asks`` False asks for the other half (Deepgram) or none."""
    if door == "native":
        return {"words": True} if asks else {}
    if door == "deepgram":
        return {"interim_results": "false", "punctuate": "true"} if asks else \
            {"interim_results": "true", "utterance_end_ms": "1000", "vad_events": "true"}
    if door == "flux":
        return {"eager_eot_threshold": "0.5"} if asks else {}
    return {}


# -- what a session got (pure: bench/tests/test_contract_soak.py) ----------------------------------


READERS = {"native": from_native, "deepgram": from_deepgram, "flux": from_flux, "twilio": from_twilio,
           "audiohook": from_audiohook}


def events_of(door: str, messages: Iterable[Mapping[str, Any]]) -> list[Event]:
    """A session's transcripts from its door's messages, through the door's reader."""
    if door not in READERS:
        raise ValueError(f"door must be one of {', '.join(READERS)}, not {door!r}")
    return READERS[door](messages)


def complaints(door: str, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The errors and warnings a door sent (what makes a refused option not a silent drop)."""
    out = []
    for m in messages:
        if door == "native" and m.get("type") in ("error", "warning"):
            out.append(f"{m.get('code')}: {m.get('message')}")
        elif door in ("deepgram", "flux") and m.get("type") in ("Error", "Warning"):
            out.append(f"{m.get('code') or m.get('err_code')}: {m.get('description') or m.get('err_msg')}")
        elif door == "twilio" and m.get("event") == "error":
            out.append(str(m.get("message") or m))
        elif door == "audiohook" and m.get("type") == "disconnect":
            out.append(str(m.get("parameters")))
    return out


def option_drops(door: str, asked: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each option of ``asked`` (:func:`options`) the session's ``messages`` show dropped, with what
    shows it; none when the door sent an error or warning (the option refused, not dropped silently)."""
    if not asked or complaints(door, messages):
        return []
    drops = []
    if door == "native" and asked.get("words"):
        bare = [m["text"] for m in messages if m.get("type") == "final" and words_of(m.get("text", ""))
                and not m.get("words")]
        if bare:
            drops.append(f"words: {len(bare)} final(s) without words, e.g. {bare[0]!r}")
    if door == "deepgram":
        results = [m for m in messages if m.get("type") == "Results"]
        finals = [(m.get("channel") or {}).get("alternatives", [{}])[0].get("transcript", "")
                  for m in results if m.get("is_final")]
        spoken = [text for text in finals if words_of(text)]
        if asked.get("interim_results") == "false" and (interim := sum(not m.get("is_final") for m in results)):
            drops.append(f"interim_results=false: {interim} interim result(s)")
        if asked.get("punctuate") == "true":
            bare = [text for text in spoken if len(words_of(text)) >= 3 and not PUNCTUATION & set(text)
                    and not any(char.isupper() for char in text)]
            if bare:
                drops.append(f"punctuate=true: {len(bare)} final(s) unpunctuated, e.g. {bare[0]!r}")
        kinds = {m.get("type") for m in messages}
        if asked.get("utterance_end_ms") and spoken and "UtteranceEnd" not in kinds:
            drops.append(f"utterance_end_ms={asked['utterance_end_ms']}: no UtteranceEnd in a session with words")
        if asked.get("vad_events") == "true" and spoken and "SpeechStarted" not in kinds:
            drops.append("vad_events=true: no SpeechStarted in a session with words")
    if door == "flux" and asked.get("eager_eot_threshold"):
        eager: set[int] = set()
        missing = []
        for m in messages:
            if m.get("type") != "TurnInfo":
                continue
            if m.get("event") == "EagerEndOfTurn":
                eager.add(m["turn_index"])
            elif m.get("event") == "EndOfTurn" and m.get("trigger", "model") == "model" and m["turn_index"] not in eager:
                missing.append(m["turn_index"])
        if missing:
            drops.append(f"eager_eot_threshold: EndOfTurn of turn(s) {missing} without an EagerEndOfTurn")
    return drops


@dataclass
class Outcome:
    """One session's findings."""

    planned: Planned
    name: str = ""
    seconds: float = 0.0
    events: list[Event] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    error: str | None = None
    strike: str = ""  # kill sessions: what was killed

    @property
    def finals(self) -> int:
        return sum(event.kind == "final" for event in self.events)


def judge(planned: Planned, speech: Speech, messages: Sequence[Mapping[str, Any]], *, error: str | None = None,
          strike: str = "") -> Outcome:
    """A session's outcome: its messages read by its door's reader and checked against the contract
    (with the speech and the words the bench put there, and the language asked for) and its options."""
    stereo = planned.door == "audiohook" and speech.parties == 2
    events = events_of(planned.door, messages)
    spans, reference = speech.knowledge(stereo=stereo)
    violations = check(events, language=None if planned.detect else speech.language, speech=spans,
                       reference=reference)
    drops = option_drops(planned.door, options(planned.door, planned.asks), messages)
    return Outcome(planned, speech.name, speech.seconds, events, violations, drops, error, strike)


@dataclass
class Tally:
    """The figures of one door and condition (or kind)."""

    sessions: int = 0
    failed: int = 0
    finals: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    drops: int = 0

    def add(self, outcome: Outcome) -> None:
        self.sessions += 1
        self.failed += outcome.error is not None
        self.finals += outcome.finals
        # A final counts once per kind (a carried-over text breaks the repeat and the words/s rule);
        # each stretch of speech lost counts (they have no final: index -1).
        self.violations.update(kind for kind, _ in {(v.kind, v.index) for v in outcome.violations if v.index >= 0})
        self.violations.update(v.kind for v in outcome.violations if v.index < 0)
        self.drops += len(outcome.drops)


COLUMNS = ("overlap", "duplicate_final", "repeated_text", "partial_after_final", "lost_speech", "language_flip",
           "wrong_script", "wrong_language")
assert sorted(COLUMNS) == sorted(VIOLATIONS)  # every kind the session checker knows has a column


def table(outcomes: Sequence[Outcome], key: str) -> str:
    """A Markdown table of ``outcomes`` per ``key``: ``condition`` (door and condition) or ``kind``."""
    tallies: dict[tuple[str, str], Tally] = {}
    for outcome in outcomes:
        p = outcome.planned
        label = (p.door, p.condition) if key == "condition" else ("all", p.kind)
        tallies.setdefault(label, Tally()).add(outcome)
    total = Tally()
    for outcome in outcomes:
        total.add(outcome)
    head = ["door", "condition" if key == "condition" else "kind", "sessions", "failed", "finals",
            *[name.replace("_", " ") for name in COLUMNS], "option drops"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]

    def cells(label: tuple[str, str], tally: Tally) -> str:
        values = [*label, tally.sessions, tally.failed, tally.finals, *(tally.violations[k] for k in COLUMNS),
                  tally.drops]
        return "| " + " | ".join(str(v) for v in values) + " |"

    order = {door: i for i, door in enumerate(DOORS)}
    for label in sorted(tallies, key=lambda lab: (order.get(lab[0], -1), lab[1])):
        lines.append(cells(label, tallies[label]))
    lines.append(cells(("all", "all"), total))
    return "\n".join(lines)


def summary(outcome: Outcome) -> str:
    """One line on a session with findings."""
    p = outcome.planned
    kinds = Counter(v.kind for v in outcome.violations)
    found = ", ".join(f"{kind} x{n}" for kind, n in kinds.items())
    extra = [found] if found else []
    extra += [f"option drop: {drop}" for drop in outcome.drops]
    extra += [f"failed: {outcome.error}"] if outcome.error else []
    extra += [outcome.strike] if outcome.strike else []
    return (f"session {p.index} {outcome.name} {p.door} {p.condition} "
            f"({outcome.seconds:.1f} s{', detect' if p.detect else ''}): " + "; ".join(extra))


# -- the doors ----------------------------------------------------------------------------------------


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def phone(audio: np.ndarray) -> np.ndarray:
    """16 kHz float samples (one column per channel) at 8 kHz."""
    import soxr

    return soxr.resample(audio, RATE, PHONE_RATE).astype(np.float32)


@dataclass
class Got:
    """What a session got: every message the door sent (decoded JSON), and why it failed if it did."""

    messages: list[dict] = field(default_factory=list)
    error: str | None = None


def language_of(speech: Speech, planned: Planned) -> str | None:
    return None if planned.detect else speech.language


async def native(url: str, speech: Speech, planned: Planned) -> Got:
    from streamscribe_client import StreamClosed, file_frames, stream

    got = Got()
    config = {"language": language_of(speech, planned), **options("native", planned.asks)}
    try:
        got.messages = await stream(url, file_frames(speech.mono(), RATE, chunk_ms=CHUNK_MS, speed=planned.speed),
                                    sample_rate=RATE, config=config, timeout=speech.seconds + TIMEOUT)
    except StreamClosed as exc:
        got.messages, got.error = exc.messages, str(exc)
    return got


async def _conversation(url: str, got: Got, send, *, seconds: float, headers: dict | None = None,
                        opening: str | None = None) -> None:
    """Open ``url``, send ``opening`` (and wait for its answer), run ``send(websocket)`` while
    collecting every text message into ``got`` until the server closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from tests.kit.support import converse

    try:
        async with connect(url, additional_headers=headers, max_size=1 << 22) as websocket:
            if opening is not None:
                await websocket.send(opening)
                got.messages.append(json.loads(await websocket.recv()))

            def on_text(text: str | bytes) -> None:
                got.messages.append(json.loads(text))

            await converse(websocket, lambda: send(websocket), on_text, timeout=seconds + TIMEOUT)
        if websocket.close_code not in (None, 1000):
            got.error = f"closed {websocket.close_code} {websocket.close_reason}"
    except InvalidStatus as exc:
        got.error = f"refused: HTTP {exc.response.status_code} {exc.response.body!r}"
    except (OSError, TimeoutError) as exc:
        got.error = f"{type(exc).__name__}: {exc}"


async def deepgram_like(port: int, speech: Speech, planned: Planned) -> Got:
    """``/v1/listen`` or Flux's ``/v2/listen`` (``planned.door``), linear16 at 16 kHz, then CloseStream."""
    from urllib.parse import urlencode

    from tests.kit.support import paced

    query: dict[str, Any] = {"encoding": "linear16", "sample_rate": RATE}
    language = language_of(speech, planned)
    if planned.door == "deepgram":
        query.update(channels=1, language=language or "multi")
        path = "/v1/listen"
    else:
        query["model"] = "flux-general-en" if speech.language == "en" else "flux-general-multi"
        if speech.language != "en" and language:
            query["language_hint"] = language
        path = "/v2/listen"
    query.update(options(planned.door, planned.asks))
    audio = pcm16(speech.mono())
    step = RATE * 2 * CHUNK_MS // 1000
    chunks = [audio[i:i + step] for i in range(0, len(audio), step)]
    got = Got()

    async def send(websocket) -> None:
        async for chunk in paced(chunks, CHUNK_MS, speed=planned.speed):
            await websocket.send(chunk)
        await websocket.send(json.dumps({"type": "CloseStream"}))

    await _conversation(f"ws://127.0.0.1:{port}{path}?{urlencode(query)}", got, send,
                        seconds=speech.seconds / planned.speed)
    return got


def twilio_tag(language: str | None) -> dict[str, str]:
    return {} if language is None else {"language": {"en": "en-US", "es": "es-ES"}.get(language, language)}


async def twilio(port: int, speech: Speech, planned: Planned) -> Got:
    """The mono mix at 8 kHz μ-law as the ``inbound`` track (20 ms media), then ``stop``."""
    from tests.kit.support import paced
    from tests.kit.telephony import CALL_SID, STREAM_SID, mulaw_encode, twilio_media, twilio_start

    encoded = mulaw_encode(phone(speech.mono()))
    frame = PHONE_RATE // 50
    got = Got()

    async def send(websocket) -> None:
        await websocket.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await websocket.send(twilio_start(tracks=("inbound",), **twilio_tag(language_of(speech, planned))))
        sequence = 3
        async for index in paced(range(len(encoded) // frame), 20, speed=planned.speed):
            await websocket.send(twilio_media("inbound", index + 1, index * 20,
                                              encoded[index * frame:(index + 1) * frame], sequence))
            sequence += 1
        await websocket.send(json.dumps({"event": "stop", "sequenceNumber": str(sequence), "streamSid": STREAM_SID,
                                         "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef",
                                                  "callSid": CALL_SID}}))

    await _conversation(f"ws://127.0.0.1:{port}/twilio", got, send, seconds=speech.seconds / planned.speed)
    return got


async def audiohook(port: int, speech: Speech, planned: Planned) -> Got:
    """8 kHz PCMU: a call's parties as ``external`` and ``internal``, other speech ``external`` alone."""
    from tests.kit.support import paced
    from tests.kit.telephony import AudioHookClient, mulaw_encode

    channels = ["external", "internal"][:speech.parties]
    samples = phone(speech.audio)
    frame = PHONE_RATE // 50
    frames = [mulaw_encode(samples[i:i + frame].reshape(-1)) for i in range(0, len(samples) - frame + 1, frame)]
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Organization-Id": str(uuid.uuid4()), "Audiohook-Correlation-Id": str(uuid.uuid4()),
               "Audiohook-Session-Id": client.id}
    media = [{"type": "audio", "format": "PCMU", "channels": channels, "rate": PHONE_RATE}]
    tag = {"en": "en-US", "es": "es-ES"}[speech.language]
    got = Got()

    async def send(websocket) -> None:
        async for index, data in paced(list(enumerate(frames)), 20, speed=planned.speed):
            await websocket.send(data)
            client.position = (index + 1) * frame / PHONE_RATE
        await websocket.send(client.message("close", {"reason": "end"}))

    await _conversation(f"ws://127.0.0.1:{port}/audiohook", got, send, seconds=speech.seconds / planned.speed,
                        headers=headers, opening=client.open(media=media, language=tag))
    for message in got.messages:
        client.serverseq = max(client.serverseq, int(message.get("seq", 0)))
    if got.messages and got.messages[0].get("type") != "opened":
        got.error = got.error or f"open answered by {got.messages[0]}"
    return got


async def session(door: str, own, speech: Speech, planned: Planned) -> Got:
    if door == "native":
        return await native(own.url, speech, planned)
    if door in ("deepgram", "flux"):
        return await deepgram_like(own.stack.port, speech, planned)
    if door == "twilio":
        return await twilio(own.stack.port, speech, planned)
    return await audiohook(own.stack.port, speech, planned)


# -- the stacks, the hog and the kills ------------------------------------------------------------


@dataclass
class Lane:
    """A stack and how many sessions it runs at a time."""

    name: str
    env: dict[str, str]
    concurrency: int
    asr_workers: int = 1
    own: Any = None
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    async def start(self) -> None:
        from bench.latency import OwnStack
        from tests.kit.support import wait_for_workers

        self.gate = asyncio.Semaphore(self.concurrency)
        self.own = await asyncio.to_thread(OwnStack, self.env, asr_workers=self.asr_workers, ready_timeout=180)
        await asyncio.to_thread(wait_for_workers, self.own.stack.http, ("vad", "asr"), 180)

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


def asr_leases(redis_url: str) -> dict[str, str]:
    """Session id -> the ASR worker holding its lease, of every session live in ``redis_url``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        found = {}
        for key in client.scan_iter(match="ss:{*}:lease:asr", count=1000):
            value = client.get(key)
            if isinstance(value, bytes):
                found[key.decode().split("{", 1)[1].split("}", 1)[0]] = value.decode().rsplit(":", 1)[0]
        return found
    finally:
        client.close()


async def strike(lane: Lane, delay: float) -> str:
    """After ``delay`` s, kill -9 the ASR worker holding the (one) live session's lease, by its PID,
    and start a fresh one in its place (the survivor takes the session over)."""
    from tests.kit.faults import replace_worker

    await asyncio.sleep(delay)  # the moment in the session's audio, not synchronisation
    leases = await asyncio.to_thread(asr_leases, lane.own.redis.url)
    owners = sorted(set(leases.values()))
    if not owners:
        return "no strike: no ASR lease held"
    process = lane.own.stack.worker(owners[0])
    pid = process.proc.pid
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(replace_worker, lane.own.stack, owners[0])
    return f"killed {owners[0]} (pid {pid}) at {delay:.1f} s"


async def quiet(lane: Lane, timeout: float = 30.0) -> None:
    """Until no session holds an ASR lease on ``lane`` (the last one ended), so that a strike finds
    the session it is meant for."""
    from common.aio import within

    async def wait() -> None:
        while await asyncio.to_thread(asr_leases, lane.own.redis.url):
            await asyncio.sleep(0.5)  # polling interval of a bounded wait

    try:
        await within(wait(), timeout)
    except TimeoutError:
        pass  # a lease left behind expires with its TTL; the strike then names what it found


class Hog:
    """A process spinning on one core, started and stopped by its PID."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


# -- the run ------------------------------------------------------------------------------------------


async def run_one(planned: Planned, lane: Lane, args, deadline: float) -> Outcome | None:
    """One session, or None when its phase's time was up before it could start."""
    async with lane.gate:
        if time.monotonic() > deadline:
            return None
        speech = await asyncio.to_thread(build, planned.kind, planned.seed)
        strike_task = None
        if planned.kind == "kill":
            await quiet(lane)
            strike_task = asyncio.create_task(strike(lane, STRIKE_AT * speech.seconds / planned.speed))
        try:
            got = await session(planned.door, lane.own, speech, planned)
        except Exception as exc:  # a session that failed (a refusal, a closed socket), not the run
            got = Got(error=f"{type(exc).__name__}: {exc}")
        struck = ""
        if strike_task is not None:
            try:
                struck = await aio.within(strike_task, 120)
            except Exception as exc:  # the run goes on; the session says the strike failed
                struck = f"strike failed: {type(exc).__name__}: {exc}"
    outcome = judge(planned, speech, got.messages, error=got.error, strike=struck)
    if args.dump:
        with open(args.dump, "a") as out:
            out.write(json.dumps({"index": planned.index, "name": speech.name, "door": planned.door,
                                  "condition": planned.condition, "kind": planned.kind, "detect": planned.detect,
                                  "asks": options(planned.door, planned.asks), "error": got.error, "strike": struck,
                                  "violations": [[v.kind, v.detail, v.index] for v in outcome.violations],
                                  "drops": outcome.drops, "messages": got.messages}) + "\n")
    if outcome.violations or outcome.drops or outcome.error:
        print(f"# {summary(outcome)}", flush=True)
    return outcome


def lane_of(kind: str, lanes: Mapping[str, Lane]) -> Lane:
    return lanes["spanish" if kind == "spanish" else "kill" if kind == "kill" else "main"]


def speeds(value: str) -> list[float]:
    try:
        chosen = [float(part) for part in value.split(",")]
    except ValueError:
        chosen = []
    if not chosen or any(not 0.25 <= s <= 4 for s in chosen):
        raise argparse.ArgumentTypeError(f"--speeds takes comma-separated factors of real time (0.25-4), not {value!r}")
    return chosen


async def main(argv: list[str] | None = None) -> int:
    from bench.latency import load_average

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=500, help="sessions in all")
    parser.add_argument("--doors", type=lambda v: some_of(v, DOORS, "--doors"), default=list(DOORS),
                        help=f"comma-separated: {', '.join(DOORS)}, or all")
    parser.add_argument("--kinds", type=lambda v: some_of(v, KINDS, "--kinds"), default=list(KINDS),
                        help=f"comma-separated: {', '.join(KINDS)}, or all")
    parser.add_argument("--speeds", type=speeds, default=list(SPEEDS), help="comma-separated, e.g. 1,2")
    parser.add_argument("--hog", action=argparse.BooleanOptionalAction, default=True,
                        help="run the second half of the sessions beside a process spinning on one core")
    parser.add_argument("--model", default="tiny.en", help="the ASR model of the main and kill stacks")
    parser.add_argument("--spanish-model", default="base", help="the ASR model of the Spanish sessions' stack")
    parser.add_argument("--concurrency", type=int, default=6, help="sessions at a time on the main stack")
    parser.add_argument("--minutes", type=float, default=float("inf"),
                        help="start no session past this many minutes (each hog phase gets half)")
    parser.add_argument("--seed", type=int, default=1, help="draws every session's speech")
    parser.add_argument("--show", action="store_true", help="print the finals around each violation")
    parser.add_argument("--dump", default=None, help="append every session's messages and findings as JSON lines")
    args = parser.parse_args(argv)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, aio.current_task().cancel)
    planned = plan(args.sessions, doors=args.doors, speeds=args.speeds, kinds=args.kinds,
                   hogs=(False, True) if args.hog else (False,), seed=args.seed)
    env = {"STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "false"}
    lanes = {"main": Lane("main", {**env, "STREAMSCRIBE_ASR_MODEL": args.model}, args.concurrency),
             "spanish": Lane("spanish", {**env, "STREAMSCRIBE_ASR_MODEL": args.spanish_model}, 1),
             "kill": Lane("kill", {**env, "STREAMSCRIBE_ASR_MODEL": args.model}, 1, asr_workers=2)}
    used = {lane_of(p.kind, lanes).name for p in planned}
    print(f"# contract soak: {len(planned)} sessions; doors {','.join(args.doors)}; kinds {','.join(args.kinds)}; "
          f"speeds {','.join(f'{s:g}' for s in args.speeds)}; hog {'second half' if args.hog else 'off'}; "
          f"model {args.model} (Spanish {args.spanish_model}); {args.concurrency} at a time on the main stack; "
          f"load average at start {load_average()}", flush=True)
    outcomes: list[Outcome] = []
    hog: Hog | None = None
    started = time.monotonic()
    try:
        await asyncio.gather(*(lanes[name].start() for name in sorted(used)))
        print(f"# stacks up in {time.monotonic() - started:.0f} s: {', '.join(sorted(used))}", flush=True)
        for hogged in (False, True):
            phase = [p for p in planned if p.hog == hogged]
            if not phase:
                continue
            if hogged:
                hog = Hog()
            began = time.monotonic()
            deadline = began + args.minutes * 60 / (2 if args.hog else 1)
            done = [o for o in await asyncio.gather(*(run_one(p, lane_of(p.kind, lanes), args, deadline)
                                                      for p in phase)) if o is not None]
            outcomes += done
            print(f"# {'hog' if hogged else 'alone'}: {len(done)} of {len(phase)} sessions in "
                  f"{time.monotonic() - began:.0f} s; load average {load_average()}", flush=True)
    finally:
        if hog is not None:
            hog.stop()
        for lane in lanes.values():
            lane.close()
    print(f"# {len(outcomes)} sessions in {time.monotonic() - started:.0f} s; load average {load_average()}")
    print(table(outcomes, "condition"))
    print()
    print(table(outcomes, "kind"))
    if args.show:
        for outcome in outcomes:
            if outcome.violations:
                print(f"\n## {summary(outcome)}\n{describe(outcome.events, outcome.violations)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

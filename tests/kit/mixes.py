"""Mono recordings of two or three speakers taking turns, with the truth of who spoke when.

A speaker is a voice (:func:`build`'s ``voices``): :data:`READER`, the LibriVox reader (real
speech; the clips have one reader, so a mix holds at most one human voice), or an espeak-ng
voice (``"en-us+m3"``: voice and variant; ``"en-us+m1/p30"``: with pitch 30 of 0-99),
synthetic. Speaker 1 opens with a call centre's greeting, as an agent would; an espeak-ng
speaker 0 speaks a customer's lines. Turns alternate; each starts 0.4-1.0 s after the previous
one ends (``gaps``), or ``overlap`` s before it ends (both talking). A turn's truth is its speech: its
10 ms frames within 35 dB of its loudest, first to last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .testdata import espeak, librivox_samples

RATE = 16_000
READER = "reader"
VOICES = ("en-us+m3", "en+f3")
LINES = ("thank you for calling premier phone services, how can I help you today?",
         "I can certainly look into that for you, may I have your account number please?",
         "let me check the billing history on your account for the last three months.",
         "I understand, and I am sorry for the trouble this has caused you.",
         "is there anything else I can help you with today?",
         "your refund will be processed within five working days.")
CUSTOMER_LINES = ("hi, I was charged twice for my phone bill this month and I would like my money back.",
                  "sure, it is four five six seven eight nine, under my name.",
                  "it started in august, right after I changed my plan to the family one.",
                  "that is really frustrating, I have called about this twice already.",
                  "no, I think that is everything, thank you for your help.",
                  "okay, that sounds good to me, have a nice day.")


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: int
    start: float  # s: the turn's speech in the mix
    end: float
    text: str


def speech_span(x: np.ndarray) -> tuple[int, int]:
    """First and last sample (end exclusive) of ``x``'s 10 ms frames within 35 dB of its loudest."""
    hop = RATE // 100
    frames = x[:len(x) // hop * hop].reshape(-1, hop).astype(np.float64)
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    voiced = np.flatnonzero(level > level.max() - 35)
    return int(voiced[0]) * hop, (int(voiced[-1]) + 1) * hop


def speak(voice: str, text: str) -> np.ndarray:
    """``text`` in the espeak-ng ``voice`` (``"en-us+m1/p30"``: with pitch 30), at half scale (the reader's level)."""
    name, _, pitch = voice.partition("/p")
    return espeak(text, voice=name, pitch=int(pitch) if pitch else None) * 0.5


def build(voices: int | Sequence[str], *, turns: int = 6, overlap: float = 0.0, seed: int = 0,
          gaps: tuple[float, float] = (0.4, 1.0)) -> tuple[np.ndarray, list[Turn]]:
    """A float32 mix at 16 kHz of ``turns`` turns per speaker, and its turns in order.

    ``voices``: each speaker's voice; a number: that many of the reader, then :data:`VOICES`.
    Speaker 1 opens with a greeting (``LINES[0]``), as an agent would; the reader's turns are
    the LibriVox clips in turn. ``gaps``: the range a pause between turns is drawn from (s).
    """
    if isinstance(voices, int):
        voices = (READER, *VOICES[:voices - 1])
    speakers = len(voices)
    rng = np.random.default_rng(seed)
    clips = librivox_samples() if READER in voices else []
    parts: list[tuple[int, np.ndarray, str]] = []
    for k in range(turns * speakers):
        speaker = (k + 1) % speakers  # speaker 1 (an agent) opens
        turn = k // speakers
        if voices[speaker] == READER:
            samples, text = clips[turn % len(clips)]
            parts.append((speaker, samples, text))
        else:
            lines = CUSTOMER_LINES if speaker == 0 else LINES
            line = lines[(turn + max(0, speaker - 1)) % len(lines)]
            parts.append((speaker, speak(voices[speaker], line), line))
    mix = np.zeros(sum(len(x) for _, x, _ in parts) + (len(parts) + 2) * RATE, np.float32)
    truth: list[Turn] = []
    cursor = RATE // 2
    for speaker, x, text in parts:
        first, last = speech_span(x)
        start = cursor - first - int(overlap * RATE) if truth else cursor - first
        start = max(0, start)
        mix[start:start + len(x)] += x
        truth.append(Turn(speaker, (start + first) / RATE, (start + last) / RATE, text))
        cursor = start + last + int(rng.uniform(*gaps) * RATE)
    return mix[:cursor + RATE], truth

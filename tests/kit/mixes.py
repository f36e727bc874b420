"""Mono recordings of two or three speakers taking turns, with the truth of who spoke when.

Speaker 0 is the LibriVox reader (real speech; the clips have one reader), speakers 1 and 2
espeak-ng voices (synthetic: a male and a female voice). Turns alternate; each starts 0.4-1.0 s
after the previous one ends, or ``overlap`` s before it ends (both talking). A turn's truth is
its speech: its 10 ms frames within 35 dB of its loudest, first to last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .testdata import librivox_samples, synthetic_voice

RATE = 16_000
VOICES = ("en-us+m3", "en+f3")
LINES = ("thank you for calling premier phone services, how can I help you today?",
         "I can certainly look into that for you, may I have your account number please?",
         "let me check the billing history on your account for the last three months.",
         "I understand, and I am sorry for the trouble this has caused you.",
         "is there anything else I can help you with today?",
         "your refund will be processed within five working days.")


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: int
    start: float  # s: the turn's speech in the mix
    end: float
    text: str


def _speech(x: np.ndarray) -> tuple[int, int]:
    hop = RATE // 100
    frames = x[:len(x) // hop * hop].reshape(-1, hop).astype(np.float64)
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    voiced = np.flatnonzero(level > level.max() - 35)
    return int(voiced[0]) * hop, (int(voiced[-1]) + 1) * hop


def build(speakers: int, *, turns: int = 6, overlap: float = 0.0, seed: int = 0) -> tuple[np.ndarray, list[Turn]]:
    """A float32 mix at 16 kHz of ``turns`` turns per speaker, and its turns in order.

    Speaker 1 (an espeak-ng voice) opens with a greeting (``LINES[0]``), as an agent would;
    the reader's turns are the LibriVox clips in turn.
    """
    rng = np.random.default_rng(seed)
    clips = librivox_samples()
    parts: list[tuple[int, np.ndarray, str]] = []
    for k in range(turns * speakers):
        speaker = (k + 1) % speakers  # speaker 1 (a synthetic agent) opens
        if speaker == 0:
            samples, text = clips[(k // speakers) % len(clips)]
            parts.append((0, samples, text))
        else:
            line = LINES[(k // speakers + speaker - 1) % len(LINES)]
            samples, _ = synthetic_voice(line, voice=VOICES[speaker - 1])
            parts.append((speaker, samples * 0.5, line))
    mix = np.zeros(sum(len(x) for _, x, _ in parts) + (len(parts) + 2) * RATE, np.float32)
    truth: list[Turn] = []
    cursor = RATE // 2
    for speaker, x, text in parts:
        first, last = _speech(x)
        start = cursor - first - int(overlap * RATE) if truth else cursor - first
        start = max(0, start)
        mix[start:start + len(x)] += x
        truth.append(Turn(speaker, (start + first) / RATE, (start + last) / RATE, text))
        cursor = start + last + int(rng.uniform(0.4, 1.0) * RATE)
    return mix[:cursor + RATE], truth

"""Endpointing options: what ends an utterance.

The VAD worker's flags set its defaults; a session overrides some of them
(:class:`~common.pipeline_config.VadConfig`, checked against these rules when
the client connects, so a typo is refused at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import option
from .errors import ConfigError
from .records import SAMPLE_RATE

FRAME = 512  # samples per Silero VAD frame (32 ms at 16 kHz)
# Silence inside a word (a stop consonant's closure: the "k" of "okay") that does not end speech
# still too short to count: Silero's own ``get_speech_timestamps`` bridges this much
# (``min_silence_duration_ms``), and the speech it counts runs over such gaps.
WORD_GAP = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointOptions:
    threshold: float = field(default=0.5, metadata=option(
        "speech probability that starts speech", flag="--vad-threshold"))
    neg_threshold: float | None = None  # default: threshold - 0.15
    # Silero's get_speech_timestamps' own minimum (250 ms): a one-word reply ("No.", "Hi.") said
    # quickly is 8 or 9 frames of speech (bench/vad_short_words.py).
    min_speech_duration: float = field(default=0.25, metadata=option(
        "seconds of speech before it counts (gaps of up to 0.1 s within it included)"))
    silence_threshold: float = field(default=0.8, metadata=option("seconds of silence that end an utterance"))
    pre_roll: float = field(default=0.3, metadata=option("seconds kept before speech start"))
    trailing_padding: float = field(default=0.2, metadata=option("seconds of silence kept after speech"))
    # Held silence that marks a pause: the ASR starts the final decode there, so the final
    # is ready when the silence reaches ``silence_threshold``, and a sentence (or a short reply)
    # ends its turn there (the sentence endpoint). Equal to it: no pause. Silero's probability stays
    # high for about 0.1 s after the last word, so a gap of 0.3 s between turns holds about 0.19 s
    # of silence and no pause; 0.15 s (with the padding) finds it, but splits sentences at their
    # short pauses too: more finals, 0.7-3 WER points worse on the turn set, 9 % more ASR CPU on
    # continuous speech (BENCHMARKS.md, "Short turns").
    pause_threshold: float = field(default=0.2, metadata=option(
        "seconds of silence that mark a pause (the ASR starts the final decode there)"))
    # Whisper's cost grows with an utterance, loops grow likelier, and the final comes only at
    # its end: speech that goes on (a card number read with short pauses) is split at a pause.
    max_utterance_sec: float = field(default=15.0, metadata=option(
        "force a split of longer speech, at the best pause of its last --split-search seconds"))
    split_search: float = field(default=5.0, metadata=option(
        "seconds before --max-utterance-sec searched for the pause to split at (at most half of it)"))
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        checks = [
            (0.0 < self.threshold < 1.0, "vad threshold must be between 0 and 1"),
            (self.neg_threshold is None or 0.0 <= self.neg_threshold <= self.threshold,
             "vad neg_threshold must be between 0 and threshold"),
            (0.0 <= self.min_speech_duration <= 5.0, "min_speech_duration must be 0..5 s"),
            (0.05 <= self.silence_threshold <= 10.0, "silence_threshold must be 0.05..10 s"),
            (0.0 <= self.pre_roll <= 2.0, "pre_roll must be 0..2 s"),
            (0.0 <= self.trailing_padding <= self.silence_threshold,
             "trailing_padding must be between 0 and silence_threshold"),
            (self.trailing_padding <= self.pause_threshold <= self.silence_threshold,
             "pause_threshold must be between trailing_padding and silence_threshold"),
            (2.0 <= self.max_utterance_sec <= 120.0, "max_utterance_sec must be 2..120 s"),
            (0.0 < self.split_search <= 30.0, "split_search must be 0..30 s"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def frames(self, seconds: float) -> int:
        return int(math.ceil(seconds * self.sample_rate / FRAME - 1e-9))

    @property
    def low(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(0.01, self.threshold - 0.15)

"""A recording with its redacted spans muted: silence or a tone in place of what was said.

The pre-recorded door keeps a redacted copy of a recording for its client
(docs/redaction.md, "Redacted audio"): every final with redaction carries the
audio times of its entities (``redactions``: entity, placeholder, start and end
in ms of the session's audio), and here those spans of the recording's samples
are replaced. Pure: samples and spans in, new samples out; no I/O.

Spans are widened by ``padding_ms`` on each side: an entity's times are its
words' as the recogniser placed them (or its utterance's, without word
timings), and a recogniser's word edges are off by tens of milliseconds, so
the first or last digit's onset would otherwise be left audible.

Channels: a span names the result channel whose final carried it. When each
channel of the recording was its own pipeline (``per_channel``), only that
channel is muted; when the channels were mixed down to one pipeline, every
channel is, since the mix said the entity and any of its channels may hold it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import soundfile

MODES = ("silence", "tone")
TONE_HZ = 1000.0  # the broadcast "bleep"
TONE_LEVEL = 0.25  # of full scale (-12 dBFS): clearly a tone, not loud
RAMP_MS = 5  # the tone fades in and out over this long, so that its edges do not click
PADDING_MS = 150


@dataclass(frozen=True, slots=True)
class Span:
    """Audio to replace: ``start_ms``..``end_ms`` of result channel ``channel``."""

    channel: int
    start_ms: int
    end_ms: int


def mute(pcm: np.ndarray, spans: Iterable[Span], *, sample_rate: int, mode: str = "silence",
         per_channel: bool = True, padding_ms: int = PADDING_MS) -> np.ndarray:
    """A copy of ``pcm`` (int16, shape ``(frames, channels)``) with ``spans`` replaced by ``mode``.

    ``per_channel``: each channel of ``pcm`` is the result channel of the same index;
    otherwise every span mutes every channel (a mixed-down recording). A span of a
    channel the recording lacks raises :class:`ValueError` (its times would not be this
    recording's); one that runs past the end is cut there (the pipeline's audio time
    may round the recording's last frame up: there is nothing to mute beyond it). The tone's phase
    follows the sample index, so that overlapping or touching spans join without a click.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    if pcm.ndim != 2 or pcm.dtype != np.int16:
        raise ValueError(f"expected int16 samples shaped (frames, channels), got {pcm.dtype} {pcm.shape}")
    frames, channels = pcm.shape
    out = pcm.copy()
    pad = padding_ms * sample_rate // 1000
    for span in spans:
        if span.end_ms < span.start_ms or span.start_ms < 0:
            raise ValueError(f"span {span.start_ms}..{span.end_ms} ms is not a span of audio")
        if per_channel and not 0 <= span.channel < channels:
            raise ValueError(f"span of channel {span.channel}; the recording has {channels} channel(s)")
        first = min(frames, max(0, span.start_ms * sample_rate // 1000 - pad))
        last = min(frames, -(-span.end_ms * sample_rate // 1000) + pad)
        where = slice(span.channel, span.channel + 1) if per_channel else slice(None)
        out[first:last, where] = _fill(first, last, sample_rate=sample_rate, mode=mode)[:, None]
    return out


def _fill(first: int, last: int, *, sample_rate: int, mode: str) -> np.ndarray:
    """What replaces samples ``first``..``last``: zeros, or the tone with faded edges."""
    if mode == "silence":
        return np.zeros(last - first, np.int16)
    index = np.arange(first, last)
    tone = np.sin(2 * np.pi * TONE_HZ * index / sample_rate) * TONE_LEVEL
    ramp = min(RAMP_MS * sample_rate // 1000, (last - first) // 2)
    if ramp:
        fade = np.linspace(0.0, 1.0, ramp, endpoint=False)
        tone[:ramp] *= fade
        tone[len(tone) - ramp:] *= fade[::-1]
    return np.round(tone * 32767).astype(np.int16)


def wav(pcm: np.ndarray, *, sample_rate: int) -> bytes:
    """``pcm`` (int16, ``(frames, channels)``) as a PCM16 WAV file."""
    out = io.BytesIO()
    soundfile.write(out, pcm, sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()

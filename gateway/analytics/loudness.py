"""Loudness of a channel's speech from the audio the gateway converts anyway.

Why here: the gateway holds every channel's canonical 16 kHz PCM16 chunks for a
moment before publishing them, so one vectorised sum of squares per chunk is all
it costs (the workers would have to carry the figure through two stages). The
meter keeps one mean square per block of :data:`BLOCK_MS` (ten floats a second
of audio) and forgets blocks older than the call's analytics still need.

An utterance's level is the power mean of its blocks that are within
:data:`GATE_DB` dB of its loudest block (pauses between words do not pull it
down), in dBFS: 0 dBFS is a full-scale square wave (RMS 32768), so a
full-scale sine reads -3 dBFS.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

SAMPLE_RATE = 16_000
BLOCK_MS = 100
GATE_DB = 20.0
SILENCE_DBFS = -100.0  # what digital silence reads
FULL_SCALE = 32768.0 ** 2


def dbfs(mean_square: float) -> float:
    return max(SILENCE_DBFS, 10 * math.log10(mean_square / FULL_SCALE)) if mean_square > 0 else SILENCE_DBFS


class LevelMeter:
    """Mean squares of one channel's audio in blocks of :data:`BLOCK_MS`, from its first sample."""

    def __init__(self, *, sample_rate: int = SAMPLE_RATE) -> None:
        """``sample_rate``: the audio's (a recording's own rate; a live call's is the canonical 16 kHz)."""
        self._block = sample_rate * BLOCK_MS // 1000
        self._blocks = array("d")  # mean square of each complete block from block ``_base``
        self._base = 0
        self._partial_sum = 0.0  # of the block being filled
        self._partial_count = 0
        self.samples = 0  # pushed so far

    def push(self, pcm: np.ndarray) -> None:
        """The next samples (int16) of the channel, in order."""
        if not len(pcm):
            return
        x = pcm.astype(np.float32)  # float32 dot products: a few microseconds a chunk, precise enough for dB
        self.samples += len(x)
        block = self._block
        head = min(len(x), block - self._partial_count)
        self._partial_sum += float(np.dot(x[:head], x[:head]))
        self._partial_count += head
        if self._partial_count < block:
            return
        self._blocks.append(self._partial_sum / block)
        rest = x[head:]
        whole = len(rest) // block * block
        if whole:
            blocks = rest[:whole].reshape(-1, block)
            self._blocks.extend((np.einsum("ij,ij->i", blocks, blocks) / block).tolist())
        tail = rest[whole:]
        self._partial_sum = float(np.dot(tail, tail))
        self._partial_count = len(tail)

    def level(self, start_ms: int, end_ms: int) -> float | None:
        """The gated level (dBFS) of ``start_ms``..``end_ms``; None when no complete block of it is kept."""
        first = max(start_ms // BLOCK_MS, self._base)
        last = min(-(-end_ms // BLOCK_MS), self._base + len(self._blocks))
        if last <= first:
            return None
        blocks = np.frombuffer(self._blocks, dtype=np.float64)[first - self._base:last - self._base]
        loudest = float(blocks.max())
        if loudest <= 0:
            return SILENCE_DBFS
        kept = blocks[blocks >= loudest * 10 ** (-GATE_DB / 10)]
        return round(dbfs(float(kept.mean())), 2)

    def forget_before(self, ms: int) -> None:
        """Drop the blocks that end before ``ms`` (nothing will ask for them again)."""
        drop = min(ms // BLOCK_MS - self._base, len(self._blocks))
        if drop > 0:
            del self._blocks[:drop]
            self._base += drop

"""A call's echo gate: on a call with a channel per party, a channel's audio that is only the
other party's echo is silenced before the pipeline hears it.

Each party's channel (AudioHook's external and internal, Twilio's inbound and outbound, a
stereo recording) also carries the other party faintly: line echo, a headset's bleed. Whisper
writes what it hears at any level, so the echo became words the party never said, finals that
repeat the other channel's, and the VAD joined it to the party's own speech (issue 47's turn
set at -30 dB: 3 repeated finals, a third of base's replies' spans more than 0.3 s off).

A block (10 ms) of a channel is silenced when another channel was louder by more than the
margin within the last :data:`WINDOW` s (echo comes after its source, by the line's delay) and
that channel was loud enough to be speech; a block the party speaks in at a level near the
other's (double talk) passes. Gains ramp across a block: no clicks. A channel's blocks wait
for the other channels' audio of the same time (Twilio sends each track on its own), at most
:data:`MAX_LEAD` s, past which a missing channel counts as silent. Pure: samples in, samples
out, no clock.
"""

from __future__ import annotations

import numpy as np

BLOCK = 0.01  # s
WINDOW = 0.15  # s: how long after a loud block of one channel another's quiet audio is its echo
MAX_LEAD = 0.2  # s a channel's audio waits for the others' of the same time
FLOOR = 10 ** (-45 / 20)  # RMS (full scale 1.0) below which a channel is no source of echo


class EchoGate:
    """Gates ``channels`` channels of samples at ``rate`` Hz; with one channel or ``margin_db`` 0 it passes
    everything on as it comes."""

    def __init__(self, *, channels: int, rate: int, margin_db: float) -> None:
        self.channels = channels
        self.block = max(1, round(rate * BLOCK))
        self.ratio = 10 ** (-margin_db / 20) if margin_db > 0 else 0.0
        self.window = max(1, round(WINDOW / BLOCK))
        self.max_lead = max(1, round(MAX_LEAD / BLOCK))
        self.pending = [np.zeros(0, np.float32) for _ in range(channels)]  # from block ``done[c]`` on
        self.done = [0] * channels  # blocks released, per channel
        self.levels = [np.zeros(0, np.float32) for _ in range(channels)]  # RMS of blocks ``first[c]``..
        self.first = [0] * channels
        self.gain = [1.0] * channels  # each channel's gain at the end of its last block
        self.gated_samples = 0  # silenced, over all channels (a metric)

    @property
    def active(self) -> bool:
        return self.channels > 1 and self.ratio > 0

    def measured(self, channel: int) -> int:
        """Blocks of ``channel`` whose level is known."""
        return self.first[channel] + len(self.levels[channel])

    def push(self, channel: int, samples: np.ndarray) -> list[np.ndarray]:
        """Add ``channel``'s next samples; return what each channel may release now (gated)."""
        if not self.active:
            return [samples if c == channel else samples[:0] for c in range(self.channels)]
        held = self.pending[channel]
        whole = len(held) // self.block * self.block  # its complete blocks are measured already
        self.pending[channel] = held = np.concatenate([held, samples.astype(np.float32, copy=False)])
        new = held[whole:len(held) // self.block * self.block].reshape(-1, self.block)
        if len(new):
            levels = np.sqrt(np.einsum("ij,ij->i", new, new) / np.float32(self.block))
            self.levels[channel] = np.concatenate([self.levels[channel], levels])
        return self._release(flush=False)

    def push_frames(self, frames: np.ndarray) -> list[np.ndarray]:
        """Add interleaved ``frames`` [n, channels]; return each channel's releasable samples."""
        if not self.active:
            return [frames[:, channel] for channel in range(self.channels)]
        out = [np.zeros(0, np.float32) for _ in range(self.channels)]
        for channel in range(self.channels):
            released = self.push(channel, np.ascontiguousarray(frames[:, channel]))
            out = [np.concatenate([o, r]) if len(r) else o for o, r in zip(out, released)]
        return out

    def flush(self) -> list[np.ndarray]:
        """Everything held, a last part-block with the gain its channel ended on."""
        if not self.active:
            return [np.zeros(0, np.float32) for _ in range(self.channels)]
        return self._release(flush=True)

    def _release(self, *, flush: bool) -> list[np.ndarray]:
        out = []
        for c in range(self.channels):
            mine = self.measured(c)
            others = min(self.measured(o) for o in range(self.channels) if o != c)
            # The blocks the other channels have reached, or those this one leads them by too far.
            limit = mine if flush else min(mine, max(others, mine - self.max_lead))
            count = max(0, limit - self.done[c])
            pieces = []
            if count:
                pieces.append(self._gate(c, self.done[c], self.pending[c][:count * self.block]))
                self.pending[c] = self.pending[c][count * self.block:]
                self.done[c] += count
            if flush and len(self.pending[c]):
                pieces.append(self.pending[c] * np.float32(self.gain[c]))
                self.pending[c] = self.pending[c][:0]
            out.append(np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
        self._forget()
        return out

    def _span(self, channel: int, start: int, stop: int) -> np.ndarray:
        """Levels of ``channel``'s blocks ``start``..``stop``; 0 where unknown."""
        out = np.zeros(stop - start, np.float32)
        lo, hi = max(start, self.first[channel]), min(stop, self.measured(channel))
        if lo < hi:
            out[lo - start:hi - start] = self.levels[channel][lo - self.first[channel]:hi - self.first[channel]]
        return out

    def _gate(self, channel: int, block: int, samples: np.ndarray) -> np.ndarray:
        count = len(samples) // self.block
        own = self._span(channel, block, block + count)
        far = np.zeros(count, np.float32)
        for other in range(self.channels):
            if other != channel:  # its loudest block in the window that ends at each of ours
                levels = self._span(other, block - self.window + 1, block + count)
                step = levels.strides[0]
                windows = np.lib.stride_tricks.as_strided(levels, shape=(count, self.window), strides=(step, step))
                far = np.maximum(far, windows.max(axis=1))
        gains = np.where((far >= FLOOR) & (own < far * self.ratio), 0.0, 1.0).astype(np.float32)
        starts = np.concatenate([[self.gain[channel]], gains[:-1]]).astype(np.float32)
        self.gain[channel] = float(gains[-1])
        if starts.min() == 1.0 and gains.min() == 1.0:
            return samples
        self.gated_samples += int(np.count_nonzero(gains == 0.0)) * self.block
        ramp = starts[:, None] + (gains - starts)[:, None] * (np.arange(self.block, dtype=np.float32) / self.block)
        return samples * ramp.reshape(-1)

    def _forget(self) -> None:
        """Drop levels no channel will look at again: behind every channel's window, or so far behind
        the newest that a channel this late gates against nothing (bounded when a track never comes)."""
        newest = max(self.measured(c) for c in range(self.channels))
        keep = max(min(self.done), newest - 2 * self.max_lead) - self.window - 1
        for c in range(self.channels):
            drop = min(keep, self.measured(c)) - self.first[c]
            if drop > 64:  # now and then, not every block
                self.levels[c] = self.levels[c][drop:]
                self.first[c] += drop

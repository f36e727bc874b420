"""A recording sent as an HTTP body, to PCM16: sniffed, decoded by libsndfile, checked.

Deepgram's pre-recorded API takes the audio as the request's body: a container
(WAV, FLAC, Ogg Vorbis or Opus, MP3, and the other formats libsndfile reads),
found by its first bytes whatever the ``Content-Type`` says, or raw samples in
the query's ``encoding`` (``linear16``, ``mulaw``, ``alaw``) with ``sample_rate``
and ``channels``. A body that starts with a container's signature is that
container even when the query names a raw encoding (its header knows better).
Decoding is libsndfile's (``soundfile``'s wheels bundle it, with FLAC, Ogg and
MP3), never hand parsing. A body that cannot be decoded raises
:class:`BadMedia`, whose message the client gets with a 400.

A header is checked before anything is decoded, because the memory decoding
takes is what the header says, not what the body holds: a 40 KB WAV whose
header said 1 Hz became 20,000 s of 16 kHz audio (3.7 GB) once resampled, and a
FLAC header may claim 2**36 frames, which libsndfile's reader allocates up
front. So the rate must be one a recording has (:data:`FILE_RATES`), the frames
the header claims must fit in the body (:data:`MAX_SAMPLES_PER_BYTE`: digital
silence in FLAC, the best compressed audio there is, holds about 350 samples a
byte), and the decoded result is bounded (:data:`MAX_SAMPLES`). :func:`probe` reads that much
(and what decoding will take at its peak, :attr:`Probe.peak_bytes`) before :func:`decode`
decodes, so that a gateway can bound the memory of all its recordings at once
(:mod:`gateway.http.memory`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from common.records import SAMPLE_RATE

MIN_RATE, MAX_RATE = 8000, 48000  # the sample rates a call takes (gateway.core.config)
# First bytes of the containers this module names (libsndfile also finds others by itself).
SIGNATURES = ((b"RIFF", "wav"), (b"RF64", "wav"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"ID3", "mp3"),
              (b"FORM", "aiff"), (b".snd", "au"), (b"caff", "caf"))
RAW_SUBTYPES = {"pcm16": "PCM_16", "mulaw": "ULAW", "alaw": "ALAW"}
FILE_RATES = (4000, 384000)  # Hz: the rates a recording is made at, from low-rate voice to studio masters
MAX_SAMPLES_PER_BYTE = 1024  # samples (all channels) a byte of any codec's body can hold (FLAC silence: ~350)
MAX_SAMPLES = 1 << 28  # samples (all channels) decoded at most: 4.6 h of 16 kHz mono, 512 MiB as PCM16


class BadMedia(ValueError):
    """The body is no audio this server decodes; the message says why (for a 400)."""


@dataclass(frozen=True, slots=True)
class Media:
    """Decoded audio: interleaved PCM16 samples, their rate and channel count, and what the body was."""

    pcm: np.ndarray  # int16, shape (frames, channels)
    sample_rate: int
    kind: str  # "wav", "flac", ..., or "raw"

    @property
    def channels(self) -> int:
        return self.pcm.shape[1]

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


def sniff(body: bytes | bytearray) -> str | None:
    """The container the body's first bytes name; None when they name none."""
    for magic, kind in SIGNATURES:
        if body.startswith(magic):
            return kind
    if len(body) >= 2 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0 and body[1] & 0x06:
        return "mp3"  # an MPEG audio frame's sync word, layer I-III
    return None


@dataclass(frozen=True, slots=True)
class Probe:
    """What a body holds, from its header (raw audio: from its size), before anything is decoded."""

    kind: str  # "wav", "flac", ..., or "raw"
    encoding: str | None  # raw audio's (pcm16, mulaw, alaw); None: a container
    frames: int
    channels: int
    rate: int

    @property
    def resampled(self) -> bool:
        """Whether decoding resamples it (to 16 kHz: a rate outside 8-48 kHz)."""
        return not MIN_RATE <= self.rate <= MAX_RATE

    @property
    def pcm_bytes(self) -> int:
        """Bytes of the decoded PCM16 samples (:attr:`Media.pcm`)."""
        frames = math.ceil(self.frames * SAMPLE_RATE / self.rate) if self.resampled else self.frames
        return 2 * frames * self.channels

    @property
    def peak_bytes(self) -> int:
        """What decoding holds at most at once, the body aside (an upper bound): a container's float32
        samples and their PCM16 (6 bytes a sample), raw audio's PCM16 (2); a resampling adds its float32
        input and output and their PCM16 (4 bytes a sample in, 6 out)."""
        samples = self.frames * self.channels
        peak = samples * (2 if self.kind == "raw" else 6)
        if self.resampled:
            peak += 4 * samples + 3 * self.pcm_bytes
        return peak


def probe(body: bytes | bytearray, *, encoding: str | None, sample_rate: int, channels: int) -> Probe:
    """What ``body`` holds (:class:`BadMedia` when it is no audio this server decodes, or when its
    header claims what it cannot hold); reads the header only.

    ``encoding``: the raw encoding the query named (``pcm16``, ``mulaw``, ``alaw``), None: a container.
    """
    if not body:
        raise BadMedia("the request has no audio: its body is empty")
    kind = sniff(body)
    if kind is None and encoding is None:
        raise BadMedia("the body is no audio format this server recognises (WAV, FLAC, Ogg Vorbis or Opus, MP3); "
                       "for raw audio set encoding (linear16, mulaw or alaw) and sample_rate")
    if kind is None:
        assert encoding is not None  # checked above
        width = 2 if encoding == "pcm16" else 1
        if len(body) % (width * channels):
            raise BadMedia(f"the body's {len(body)} bytes are not whole frames of {channels} channel(s) of "
                           f"{encoding} ({width * channels} bytes each)")
        return Probe(kind="raw", encoding=encoding, frames=len(body) // (width * channels), channels=channels,
                     rate=sample_rate)
    try:
        info = soundfile.info(io.BytesIO(body))
    except soundfile.LibsndfileError as exc:
        raise BadMedia(f"the body cannot be decoded as {kind} audio: {exc.error_string}") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # libsndfile's refusals of a malformed header
        raise BadMedia(f"the body cannot be decoded as {kind} audio: {exc}") from None
    frames = _check_header(rate=info.samplerate, frames=info.frames, channels=info.channels, size=len(body))
    return Probe(kind=kind, encoding=None, frames=frames, channels=info.channels, rate=info.samplerate)


def decode(body: bytes | bytearray, *, encoding: str | None, sample_rate: int, channels: int, max_channels: int,
           probed: Probe | None = None) -> Media:
    """``body`` as PCM16 at a rate a call takes (resampled to 16 kHz when outside 8-48 kHz).

    ``encoding``: the raw encoding the query named (``pcm16``, ``mulaw``, ``alaw``), None: a container;
    ``probed``: what :func:`probe` found in it (probed here if not given).
    """
    found = probed or probe(body, encoding=encoding, sample_rate=sample_rate, channels=channels)
    try:
        if found.encoding is not None:
            pcm, rate = _raw(body, found.encoding, found.rate, found.channels)
        else:  # as float (libsndfile reads a float file into integers unscaled: silence), then PCM16
            samples, rate = soundfile.read(io.BytesIO(body), frames=found.frames, dtype="float32", always_2d=True)
            pcm = _pcm16(samples)
            del samples
    except soundfile.LibsndfileError as exc:
        raise BadMedia(f"the body cannot be decoded as {found.kind} audio: {exc.error_string}") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # libsndfile's refusals of a malformed body
        raise BadMedia(f"the body cannot be decoded as {found.kind} audio: {exc}") from None
    if not 1 <= pcm.shape[1] <= max_channels:
        raise BadMedia(f"the audio has {pcm.shape[1]} channels; this server takes 1 to {max_channels}")
    if not MIN_RATE <= rate <= MAX_RATE:
        scaled = pcm.astype(np.float32)
        scaled /= 32768
        pcm = _pcm16(soxr.resample(scaled, rate, SAMPLE_RATE).reshape(-1, pcm.shape[1]))
        rate = SAMPLE_RATE
    return Media(np.ascontiguousarray(pcm), int(rate), found.kind)


def _check_header(*, rate: int, frames: int, channels: int, size: int) -> int:
    """The frames to read, once the header's rate and length are plausible for a body of ``size`` bytes."""
    low, high = FILE_RATES
    if not low <= rate <= high:
        raise BadMedia(f"the header says the audio is sampled at {rate} Hz; this server takes recordings "
                       f"sampled at {low} to {high} Hz")
    samples = frames * channels
    if samples > size * MAX_SAMPLES_PER_BYTE:
        raise BadMedia(f"the header claims {frames} frames ({frames / rate:.0f} s) of audio, more than a body of "
                       f"{size} bytes can hold: the header and the body do not agree")
    resampled = samples if MIN_RATE <= rate <= MAX_RATE else samples * SAMPLE_RATE / rate
    if max(samples, resampled) > MAX_SAMPLES:
        raise BadMedia(f"the audio is {frames / rate:.0f} s long in {channels} channel(s); this server "
                       f"transcribes recordings of up to {MAX_SAMPLES} samples ({MAX_SAMPLES / SAMPLE_RATE / 3600:.1f} h "
                       "of 16 kHz mono) in one request")
    return frames


def _raw(body: bytes | bytearray, encoding: str, sample_rate: int, channels: int) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(body), dtype="int16", always_2d=True, format="RAW",
                          subtype=RAW_SUBTYPES[encoding], samplerate=sample_rate, channels=channels,
                          endian="LITTLE")


def _pcm16(samples: np.ndarray) -> np.ndarray:
    """float32 ``samples`` (scaled in place: no float copy beside them) as PCM16."""
    samples *= 32768
    np.round(samples, out=samples)
    np.clip(samples, -32768, 32767, out=samples)
    return samples.astype(np.int16)

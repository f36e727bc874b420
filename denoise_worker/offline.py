"""Denoise an audio file with the streaming code path: ``python -m denoise_worker.offline IN OUT``.

Reads any file ``soundfile`` can read (WAV, FLAC, OGG...), mixes it down to
mono, resamples it to 16 kHz, runs it through :class:`~denoise_worker.dsp.DenoiseStream`
in chunks exactly as the denoise stage does, and writes 16 kHz mono PCM16.
The output has as many samples as the 16 kHz input and is time-aligned with it,
so the two can be compared sample by sample. Handy for judging the denoiser
(and its options) on your own recordings before turning it on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

import numpy as np

from common.errors import StreamscribeError
from common.records import SAMPLE_RATE

from .dsp import DenoiseStream, float_to_pcm16

__all__ = ["load_mono_16k", "denoise_array", "denoise_file", "main"]

logger = logging.getLogger(__name__)

#: Chunk size used to feed the stream, as on the bus (100 ms).
DEFAULT_CHUNK_MS = 100


def load_mono_16k(path: str) -> np.ndarray:
    """Read an audio file as float32 mono at 16 kHz (averaging channels, soxr HQ)."""
    import soundfile as sf
    import soxr

    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise StreamscribeError(f"cannot read {path}: {exc}") from exc
    mono = data.mean(axis=1, dtype=np.float32)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def denoise_array(
    samples: np.ndarray,
    *,
    chunk_ms: int = DEFAULT_CHUNK_MS,
    atten_lim_db: float | None = None,
    post_filter: bool | float = False,
    model: str | None = None,
) -> np.ndarray:
    """Denoise 16 kHz float samples chunk by chunk; return as many samples."""
    chunk = SAMPLE_RATE * chunk_ms // 1000
    if chunk <= 0:
        raise StreamscribeError(f"chunk_ms must be positive, got {chunk_ms}")
    with DenoiseStream(atten_lim_db=atten_lim_db, post_filter=post_filter, model=model) as stream:
        pieces = [stream.process(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
        pieces.append(stream.flush())
    return np.concatenate(pieces)


def denoise_file(in_path: str, out_path: str, **options: object) -> int:
    """Denoise ``in_path`` into ``out_path`` (16 kHz PCM16 WAV); return the sample count."""
    import soundfile as sf

    samples = load_mono_16k(in_path)
    out = denoise_array(samples, **options)  # type: ignore[arg-type]
    pcm = np.frombuffer(float_to_pcm16(out), dtype="<i2")
    sf.write(out_path, pcm, SAMPLE_RATE, subtype="PCM_16")
    return len(pcm)


def _post_filter_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a beta such as 0.02, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denoise_worker.offline",
        description=(
            "Denoise an audio file with DeepFilterNet3, through the same streaming code "
            "as the denoise stage. Writes 16 kHz mono PCM16, sample-aligned with the input."
        ),
    )
    parser.add_argument("input", metavar="IN", help="input audio file (WAV, FLAC, ...; any rate, any channels)")
    parser.add_argument("output", metavar="OUT", help="output WAV file (16 kHz mono PCM16)")
    parser.add_argument(
        "--atten-lim-db",
        type=float,
        default=None,
        metavar="DB",
        help="attenuation limit in dB (default: no limit); e.g. 12-20 keeps some background",
    )
    parser.add_argument(
        "--post-filter",
        type=_post_filter_arg,
        default=0.0,
        metavar="BETA",
        help="post-filter strength beta (default 0 = off; DeepFilterNet uses 0.02)",
    )
    parser.add_argument(
        "--dfn-model",
        "--model",
        dest="model",
        default=None,
        help="DeepFilterNet3 (bundled, default) or the path of a DeepFilterNet .tar.gz model",
    )
    parser.add_argument(
        "--chunk-ms", type=int, default=DEFAULT_CHUNK_MS, help="chunk size fed to the stream (default 100)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        n = denoise_file(
            args.input,
            args.output,
            chunk_ms=args.chunk_ms,
            atten_lim_db=args.atten_lim_db,
            post_filter=args.post_filter,
            model=args.model,
        )
    except StreamscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info("wrote %s: %d samples (%.2f s) at %d Hz", args.output, n, n / SAMPLE_RATE, SAMPLE_RATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

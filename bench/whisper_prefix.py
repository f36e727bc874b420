"""Where a whisper decode's time goes, and whether a forced prefix (prefix reuse) saves any.

    .venv/bin/python -m bench.whisper_prefix [--margin-sec 10] [--repeats 5]

For each of the five LibriVox clips, the bundled tiny.en model (CTranslate2,
int8, the engine's settings) encodes the clip in the engine's fitted window,
then generates greedily: once from the plain prompt, and once with the first
80 % of that answer's tokens forced as a prefix, as an incremental final decode
that reuses the stable words of earlier partials would. Prints the median of
``--repeats`` runs of each step. If the decoder's cost were its steps, the
prefixed run would take about a fifth of the plain one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from asr_worker.engines.whisper import FRAMES_PER_SECOND, HOP, encoder_frames
from asr_worker.engines.whisper_models import resolve_model
from tests.kit.testdata import librivox_samples

PREFIX_SHARE = 0.8


def median_ms(step, repeats: int):
    """The median wall time of ``repeats`` calls of ``step`` and its last result."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--margin-sec", type=float, default=10.0, help="padding after the audio in the window")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8")
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    margin = round(args.margin_sec * FRAMES_PER_SECOND)
    print("| audio s | window s | tokens | encode ms | generate ms | generate after an 80 % prefix ms |")
    print("|---|---|---|---|---|---|")
    for audio, _ in librivox_samples():
        features = model.feature_extractor(audio)
        content = min(features.shape[-1], len(audio) // HOP)
        window = np.zeros((1, features.shape[0], encoder_frames(content, margin=margin)), np.float32)
        window[0, :, :content] = features[:, :content]
        encode_ms, encoded = median_ms(lambda: model.encode(window), args.repeats)
        plain_ms, output = median_ms(lambda: model.model.generate(encoded, [prompt], beam_size=1, max_length=200),
                                     args.repeats)
        tokens = output[0].sequences_ids[0]
        forced = prompt + tokens[:int(len(tokens) * PREFIX_SHARE)]
        prefixed_ms, _ = median_ms(lambda: model.model.generate(encoded, [forced], beam_size=1, max_length=200),
                                   args.repeats)
        print(f"| {len(audio) / 16000:.1f} | {window.shape[-1] / FRAMES_PER_SECOND:.0f} | {len(tokens)} "
              f"| {encode_ms:.0f} | {plain_ms:.0f} | {prefixed_ms:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

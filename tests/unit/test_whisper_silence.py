"""Whisper's no-speech rule (``asr_worker.engines.whisper.silence``), on scores measured on the turn
set's short replies and breath-like bursts (tiny.en and base, 16 kHz and 8 kHz mu-law, 2026-11-25).

Pure: no model is loaded, so it runs without the whisper extra."""

from __future__ import annotations

import pytest

pytest.importorskip("faster_whisper", reason="the whisper engine's module needs the whisper extra")

from asr_worker.engines.whisper import silence  # noqa: E402


@pytest.mark.parametrize("text, logprob, no_speech", [
    ("you", -0.53, 0.98), ("You", -0.94, 0.92), ("you", -0.87, 0.94),  # tiny.en on a breath through mu-law
    (".", -1.81, 0.83), ("Okay.", -1.31, 0.73), ("I'm not going to be able to do it.", -1.73, 0.74),
    ("I'm", -2.28, 0.71),  # base on a breath
])
def test_a_breath_is_silence(text, logprob, no_speech):
    assert silence(text, avg_logprob=logprob, no_speech_prob=no_speech)


@pytest.mark.parametrize("text, logprob, no_speech", [
    ("42", -1.15, 0.634),  # "Forty two." through AudioHook's mu-law (the contract soak's lost reply)
    ("3.", -0.77, 0.58), ("Free.", -1.2, 0.50), ("Brilliant.", -1.9, 0.53),  # replies tiny.en was unsure of
    ("Yeah.", -0.52, 0.15), ("Maria.", -0.55, 0.36),
])
def test_a_short_reply_is_speech(text, logprob, no_speech):
    assert not silence(text, avg_logprob=logprob, no_speech_prob=no_speech)


def test_a_number_is_speech_unless_whisper_is_sure_of_silence():
    assert not silence("42", avg_logprob=-1.5, no_speech_prob=0.8)
    assert silence("42", avg_logprob=-1.5, no_speech_prob=0.9)
    assert silence("Forty two.", avg_logprob=-1.5, no_speech_prob=0.8)  # words: faster-whisper's rule

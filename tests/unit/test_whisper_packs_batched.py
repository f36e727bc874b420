"""A recording's packs decoded together by the whisper engine: one encode, one decoder loop and
one alignment pass for those of one window size and prompt length, and the same words as each
decoded alone (on real speech, the bundled model)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from asr_worker.engines.base import DecodeRequest
from tests.kit.extras import require

require("whisper")


@pytest.fixture(scope="module")
def decoder():
    from asr_worker.engines.whisper import WhisperDecoder, WhisperOptions

    return WhisperDecoder(WhisperOptions(cpu_threads=1, num_workers=1))


def counted(decoder, name: str) -> list[int]:
    """Count the calls of the decoder's model method ``name`` (its batch sizes)."""
    calls: list[int] = []
    method = getattr(decoder.model, name)

    def spy(*args, **kwargs):
        first = args[1] if name == "find_alignment" else args[0]
        calls.append(len(first))
        return method(*args, **kwargs)

    setattr(decoder.model, name, spy)
    return calls


def test_packs_of_one_window_decode_together_with_the_words_they_have_alone(decoder, clips):
    audio = [soundfile.read(str(path), dtype="float32")[0] for path, _ in clips]
    # Clips 2 and 3 (5-6 s) take a 20 s window, clip 4 (3.3 s) a 15 s one.
    requests = [DecodeRequest(request_id=str(n), audio=audio[n], final=True, word_timestamps=True, batch=True)
                for n in (2, 3, 4)]
    alone = [decoder.decode([request])[0] for request in requests]
    encodes, alignments = counted(decoder, "encode"), counted(decoder, "find_alignment")
    together = decoder.decode(requests)
    assert sorted(encodes) == [1, 2] and sorted(alignments) == [1, 2]
    for one, batched in zip(alone, together, strict=True):
        assert one.words and batched.text == one.text
        assert [w.text for w in batched.words] == [w.text for w in one.words]
        assert np.allclose([(w.start, w.end) for w in batched.words], [(w.start, w.end) for w in one.words],
                           atol=0.021)
        assert np.allclose([w.probability for w in batched.words], [w.probability for w in one.words], atol=0.02)


def test_prompts_of_different_lengths_decode_apart(decoder, clips):
    """CTranslate2 decodes a batch only with the start of the transcript at one place in every
    prompt: packs prompted with different texts are not decoded together."""
    audio = soundfile.read(str(clips[4][0]), dtype="float32")[0]
    requests = [DecodeRequest(request_id=str(n), audio=audio, final=True, word_timestamps=True, batch=True,
                              context=context) for n, context in enumerate(("", "Chapter one.", "A longer prompt here."))]
    encodes = counted(decoder, "encode")
    hypotheses = decoder.decode(requests)
    assert encodes == [1, 1, 1] and all(h.words for h in hypotheses)


def test_an_alignment_that_fails_costs_only_that_decode_its_words(decoder, clips, monkeypatch):
    """faster-whisper's alignment raises IndexError on an empty alignment (tiny.en on an 8 kHz
    card number), failing the pass of every decode aligned with it: the others keep their words,
    and every decode its text."""
    audio = [soundfile.read(str(path), dtype="float32")[0] for path, _ in clips]
    requests = [DecodeRequest(request_id=str(n), audio=audio[n], final=True, word_timestamps=True, batch=True)
                for n in (2, 3)]
    alone = [decoder.decode([request])[0] for request in requests]
    bad = alone[1].tokens  # the second decode's alignment fails, alone or with the first
    assert alone[0].tokens != bad
    method = decoder.model.find_alignment

    def failing(tokenizer, sequences, *args, **kwargs):
        if any(len(s) == bad for s in sequences):
            raise IndexError("boolean index did not match indexed array")
        return method(tokenizer, sequences, *args, **kwargs)

    monkeypatch.setattr(decoder.model, "find_alignment", failing)
    together = decoder.decode(requests)
    assert [h.text for h in together] == [h.text for h in alone]
    assert [w.text for w in together[0].words] == [w.text for w in alone[0].words] and not together[1].words

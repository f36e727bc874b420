"""Pure Qwen3-ASR prompt/answer helpers shared by both engines."""

from __future__ import annotations

import pytest

from asr_worker.engines.qwen3_prompt import (
    LanguageMemory,
    PromptBuilder,
    collapse_repetitions,
    guess_language_from_script,
    parse_output,
)


@pytest.mark.parametrize("raw, text, language, no_speech", [
    ("language English<asr_text>Hello world.", "Hello world.", "English", False),
    ("language Hindi\n<asr_text>नमस्ते दुनिया", "नमस्ते दुनिया", "Hindi", False),
    ("language chinese<asr_text>你好", "你好", "Chinese", False),
    ("language None<asr_text>", "", "", True),
    ("language None", "", "", True),
    ("language English<asr_text>   ", "", "English", True),
    ("Hello without a tag", "Hello without a tag", "", False),
    ("language English", "", "English", True),
    ("language English<asr_text>tail<|im_end|>", "tail", "English", False),
    ("", "", "", True),
])
def test_parse_auto_language(raw, text, language, no_speech):
    assert parse_output(raw) == (parse_output(raw).__class__(text=text, language=language, no_speech=no_speech))


def test_parse_prefilled_language_and_prefix():
    out = parse_output(" world", language="English", prefix="Hello")
    assert (out.text, out.language, out.no_speech) == ("Hello world", "English", False)
    # A restated tag after a pre-fill never leaks.
    assert parse_output("language English<asr_text>again", language="English").text == "again"
    assert parse_output("", language="Hindi", prefix="").no_speech


def test_repetition_guard():
    assert collapse_repetitions("ok " + "ha" * 40) == "ok ha"
    assert collapse_repetitions("嗯" * 50 + "好") == "嗯好"
    assert collapse_repetitions("我们" * 12) == "我们"
    assert collapse_repetitions("I'm sorry. " * 10 + "I'm sor") == "I'm sorry. "
    for fine in ["no no no no no", "very very good", "hmmmm", "it was a long long long way"]:
        assert collapse_repetitions(fine) == fine


def test_script_guess_and_memory():
    assert guess_language_from_script("नमस्ते") == "Hindi"
    assert guess_language_from_script("你好") == "Chinese"
    assert guess_language_from_script("こんにちは世界") == "Japanese"
    assert guess_language_from_script("hello") is None
    assert guess_language_from_script("hello 你好") is None
    memory = LanguageMemory(size=2)
    memory.remember("bonjour tout le monde", "French")
    assert memory.language_of("bonjour tout") == "French"
    memory.remember("a", "English")
    memory.remember("b", "English")
    assert memory.language_of("bonjour tout") is None  # evicted; Latin script is ambiguous


def test_fallback_prompt_and_context_cache():
    builder = PromptBuilder()
    prompt = builder.build(context="Ada Lovelace", language="English", prefix="Hi")
    assert prompt == ("<|im_start|>system\nAda Lovelace<|im_end|>\n<|im_start|>user\n"
                      "<|audio_start|><|audio_pad|><|audio_end|><|im_end|>\n<|im_start|>assistant\n"
                      "language English<asr_text>Hi")
    with pytest.raises(ValueError):
        builder.build(prefix="needs a language")

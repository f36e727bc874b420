"""The stable-prefix rollback of the Qwen3-ASR streaming recipe (pure functions)."""

from __future__ import annotations

import pytest

from asr_worker.rollback import REPLACEMENT, safe_utf8_prefix, stable_prefix
from tests.kit.fakes.fake_tokenizer import FakeTokenizer

TOK = FakeTokenizer()  # 2 bytes per token: splits 3-byte characters like byte-level BPE can


def prefix(text, *, chunk_index=5, unfixed_chunk_num=2, unfixed_token_num=5):
    return stable_prefix(TOK.encode(text), chunk_index=chunk_index, unfixed_chunk_num=unfixed_chunk_num,
                         unfixed_token_num=unfixed_token_num, detokenize=TOK.decode)


def test_first_chunks_have_no_prefix():
    assert prefix("hello world", chunk_index=0) == ""
    assert prefix("hello world", chunk_index=1) == ""
    assert prefix("hello world", chunk_index=2) != ""


def test_last_tokens_are_rolled_back():
    # "hello world" = 11 bytes = 6 tokens ("d" is the last, alone); dropping 2 drops 3 bytes.
    assert prefix("hello world", unfixed_token_num=2) == "hello wo"
    assert prefix("hello world", unfixed_token_num=0) == "hello world"
    assert prefix("hello world", unfixed_token_num=6) == ""
    assert prefix("hello world", unfixed_token_num=60) == ""


def test_no_previous_tokens_no_prefix():
    assert stable_prefix([], chunk_index=9, unfixed_chunk_num=0, unfixed_token_num=0, detokenize=TOK.decode) == ""


@pytest.mark.parametrize("text", [
    "नमस्ते दुनिया यह परीक्षण है",
    "你好世界这是一个测试",
    "mixed 中文 and हिन्दी text",
    "emoji 🎙️ at the end 🎙",
])
def test_multibyte_characters_are_never_split(text):
    ids, data = TOK.encode(text), text.encode()
    splits = 0
    for k in range(0, 12):
        splits += TOK.decode(ids[: max(0, len(ids) - k)]).endswith(REPLACEMENT)
        out = prefix(text, unfixed_token_num=k)
        assert REPLACEMENT not in out and text.startswith(out)
        # Oracle: the longest prefix of at most len(ids) - k tokens that is valid UTF-8.
        expected = ""
        for j in range(len(ids) - k, 0, -1):
            try:
                expected = data[: _byte_len(ids[:j])].decode()
                break
            except UnicodeDecodeError:
                continue
        assert out == expected
    assert splits > 0, "the cuts should have landed inside characters"


def _byte_len(ids):
    return sum(1 if token < 256 else 2 for token in ids)


def test_a_replacement_character_in_the_transcript_itself_is_kept():
    text = "bad byte \ufffd then more words"
    assert prefix(text, unfixed_token_num=2) == text[:-4]


def test_safe_utf8_prefix():
    data = "नमस्ते".encode()
    for cut in range(len(data) + 1):
        out = safe_utf8_prefix(data[:cut])
        assert "नमस्ते".startswith(out) and len(out.encode()) > cut - 3
    assert safe_utf8_prefix("你好".encode()[:4]) == "你"
    assert safe_utf8_prefix(b"") == ""

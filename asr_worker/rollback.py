"""Stable-prefix rollback of the Qwen3-ASR streaming recipe, as pure functions.

For the first ``unfixed_chunk_num`` chunks of an utterance the engine decodes with
no prefix. After that, the previous output minus its last ``unfixed_token_num``
tokens is fed back as the assistant prefix, so the stable part of the transcript
does not flicker and decoding starts further along. Tokens are dropped one more
at a time until the prefix no longer ends inside a UTF-8 character (byte-level
BPE tokens can split a multi-byte character; the tokenizer then yields U+FFFD).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"


def stable_prefix(
    previous_tokens: Sequence[int],
    *,
    chunk_index: int,
    unfixed_chunk_num: int,
    unfixed_token_num: int,
    detokenize: Callable[[list[int]], str],
) -> str:
    """Return the prefix to feed the decode of chunk number ``chunk_index`` (0-based)."""
    if chunk_index < unfixed_chunk_num or not previous_tokens:
        return ""
    keep = len(previous_tokens) - max(0, unfixed_token_num)
    while keep > 0:
        text = detokenize(list(previous_tokens[:keep]))
        # A cut inside a character shows as U+FFFD at the end (the kept tokens
        # always start at the beginning of the text); one earlier in the text
        # was in the transcript itself and is no reason to drop more.
        if not text.endswith(REPLACEMENT):
            return text
        keep -= 1
    return ""


def safe_utf8_prefix(data: bytes) -> str:
    """Decode the longest prefix of ``data`` that ends on a character boundary."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="ignore")

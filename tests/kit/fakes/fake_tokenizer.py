"""FAKE tokenizer: a stand-in for a Hugging Face byte-level BPE tokenizer.

Tokens are 2-byte slices of the UTF-8 text, so Hindi and Chinese characters
(3 bytes each) are split across tokens exactly as byte-level BPE can split
them; decoding a cut in the middle of a character yields U+FFFD, like
``tokenizer.decode``. It implements only ``encode``, ``decode``,
``chat_template`` and ``apply_chat_template``.
"""

from __future__ import annotations


class FakeTokenizer:
    """FAKE byte-pair tokenizer (2 bytes per token)."""

    def __init__(self, *, chat_template: str | None = None) -> None:
        self.chat_template = chat_template
        self.calls = 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        self.calls += 1
        data = text.encode("utf-8")
        ids = []
        for i in range(0, len(data), 2):
            piece = data[i : i + 2]
            ids.append(piece[0] if len(piece) == 1 else 256 + (piece[0] << 8 | piece[1]))
        return ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        out = bytearray()
        for token in ids:
            if token < 256:
                out.append(token)
            else:
                value = token - 256
                out += bytes((value >> 8, value & 0xFF))
        return out.decode("utf-8", errors="replace")

    def apply_chat_template(self, messages, chat_template: str | None = None, tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        import jinja2

        source = chat_template or self.chat_template
        if source is None:
            raise ValueError("no chat template")
        template = jinja2.Environment().from_string(source)
        return template.render(messages=messages, add_generation_prompt=add_generation_prompt)

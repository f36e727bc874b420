"""Qwen3-ASR prompts and outputs, as pure functions shared by both Qwen3 engines.

The model is a chat model with an audio tower. A request is its chat template
rendered with a system turn (the optional context: domain words, names), a
user turn holding one audio placeholder, and an open assistant turn. The model
answers ``language <Name><asr_text><text>``; ``language None`` means it heard
no speech. Forcing a language, or continuing from a stable prefix (the
streaming rollback recipe), means pre-filling ``language <Name><asr_text>``
and the prefix text in the assistant turn, so the model only writes text.

Nothing here imports vLLM, transformers or torch.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from common.errors import ConfigError

__all__ = [
    "ASR_TEXT_TAG",
    "AUDIO_PLACEHOLDER",
    "FALLBACK_TEMPLATE",
    "LANGUAGE_CODES",
    "SUPPORTED_LANGUAGES",
    "ParsedOutput",
    "PromptBuilder",
    "LanguageMemory",
    "collapse_repetitions",
    "guess_language_from_script",
    "language_code",
    "load_chat_template",
    "normalize_language",
    "parse_output",
    "sanitize_context",
]

logger = logging.getLogger(__name__)

ASR_TEXT_TAG = "<asr_text>"
LANGUAGE_PREFIX = "language "
# The placeholder vLLM's Qwen3ASRForConditionalGeneration.get_placeholder_str()
# returns; the multimodal processor expands <|audio_pad|> to one token per
# ~77 ms of audio (13 per second).
AUDIO_PLACEHOLDER = "<|audio_start|><|audio_pad|><|audio_end|>"

# Hard-coded fallback, used only when neither the tokenizer nor the model
# directory provides a chat template. It is what the official template renders
# for [system(context), user(audio)] with add_generation_prompt=True (checked
# against the qwen-asr package's prompt building and public reimplementations,
# not against the template file itself, which is not available here).
FALLBACK_TEMPLATE = (
    "<|im_start|>system\n{context}<|im_end|>\n"
    "<|im_start|>user\n" + AUDIO_PLACEHOLDER + "<|im_end|>\n"
    "<|im_start|>assistant\n"
)

# Qwen3-ASR's language names (the 30 languages of the released models), with
# the ISO 639 codes clients use. Hypotheses report the code.
LANGUAGE_CODES: dict[str, str] = {
    "Chinese": "zh",
    "English": "en",
    "Cantonese": "yue",
    "Arabic": "ar",
    "German": "de",
    "French": "fr",
    "Spanish": "es",
    "Portuguese": "pt",
    "Indonesian": "id",
    "Italian": "it",
    "Korean": "ko",
    "Russian": "ru",
    "Thai": "th",
    "Vietnamese": "vi",
    "Japanese": "ja",
    "Turkish": "tr",
    "Hindi": "hi",
    "Malay": "ms",
    "Dutch": "nl",
    "Swedish": "sv",
    "Danish": "da",
    "Finnish": "fi",
    "Polish": "pl",
    "Czech": "cs",
    "Filipino": "fil",
    "Persian": "fa",
    "Greek": "el",
    "Romanian": "ro",
    "Hungarian": "hu",
    "Macedonian": "mk",
}
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(LANGUAGE_CODES)

_NAME_BY_KEY: dict[str, str] = {}
for _name, _code in LANGUAGE_CODES.items():
    _NAME_BY_KEY[_name.lower()] = _name
    _NAME_BY_KEY[_code] = _name
_NAME_BY_KEY.update({"tl": "Filipino", "tagalog": "Filipino", "farsi": "Persian", "mandarin": "Chinese", "cmn": "Chinese"})

_AUTO = {"", "auto", "none", "detect"}


def normalize_language(value: str | None) -> str | None:
    """Map a client's language (``"hi"``, ``"hindi"``, ``"zh-CN"``, ``"auto"``) to a Qwen3 name.

    ``None`` and ``"auto"`` mean auto-detection and return ``None``. An
    unsupported language is a :class:`ConfigError` naming the choices, because
    forcing a language the model was not trained on produces garbage.
    """
    if value is None:
        return None
    key = value.strip().lower().replace("_", "-")
    if key in _AUTO:
        return None
    name = _NAME_BY_KEY.get(key) or _NAME_BY_KEY.get(key.split("-", 1)[0])
    if name is None:
        raise ConfigError(
            f"unsupported language {value!r} for Qwen3-ASR; use 'auto' or one of "
            f"{', '.join(sorted(LANGUAGE_CODES.values()))}"
        )
    return name


def language_code(name: str) -> str:
    """ISO code of a Qwen3 language name; unknown names are returned lower-cased."""
    canonical = _NAME_BY_KEY.get(name.strip().lower())
    return LANGUAGE_CODES[canonical] if canonical else name.strip().lower()


# Special tokens must not come from clients: a context holding "<|im_end|>"
# would otherwise close the system turn and inject turns of its own.
_SPECIAL_RE = re.compile(r"<\|[^<>|]*\|>|</?asr_text>")


def sanitize_context(context: str) -> str:
    """Remove chat-control tokens from a client-supplied context."""
    return _SPECIAL_RE.sub("", context or "").strip()


def load_chat_template(model_dir: str) -> str | None:
    """Read the chat template shipped next to the weights, if any.

    Checked in order: ``chat_template.jinja``, ``chat_template.json`` (processor
    style ``{"chat_template": ...}``), ``tokenizer_config.json``'s
    ``chat_template``. Returns ``None`` when there is none.
    """
    jinja = os.path.join(model_dir, "chat_template.jinja")
    if os.path.isfile(jinja):
        with open(jinja, encoding="utf-8") as f:
            return f.read()
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                template = json.load(f).get("chat_template")
            if isinstance(template, str) and template:
                return template
    return None


Renderer = Callable[[list[dict]], str]


class PromptBuilder:
    """Build the text prompt of one decode.

    ``render`` renders chat messages with the model's own template (for example
    ``tokenizer.apply_chat_template(..., tokenize=False,
    add_generation_prompt=True)``). When it is ``None``, or when its output
    does not look like a Qwen3-ASR prompt (exactly one audio placeholder, ends
    with an open assistant turn), :data:`FALLBACK_TEMPLATE` is used instead and
    a warning is logged once.

    Rendered base prompts are cached per context (contexts are per session and
    repeat on every chunk).
    """

    def __init__(self, *, render: Renderer | None = None, cache_size: int = 256) -> None:
        self._render = render
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self.uses_template = render is not None

    @staticmethod
    def messages(context: str) -> list[dict]:
        """Chat messages of one request, as the official package builds them."""
        return [
            {"role": "system", "content": context},
            {"role": "user", "content": [{"type": "audio", "audio": ""}]},
        ]

    def base(self, context: str) -> str:
        """The rendered prompt up to and including the open assistant turn."""
        context = sanitize_context(context)
        cached = self._cache.get(context)
        if cached is not None:
            self._cache.move_to_end(context)
            return cached
        prompt = None
        if self._render is not None:
            rendered = self._render(self.messages(context))
            if rendered.count("<|audio_pad|>") == 1 and rendered.rstrip(" ").endswith("assistant\n"):
                prompt = rendered
            else:
                logger.warning("chat template output does not look like a Qwen3-ASR prompt; using the built-in one")
                self._render = None
                self.uses_template = False
        if prompt is None:
            prompt = FALLBACK_TEMPLATE.format(context=context)
        self._cache[context] = prompt
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return prompt

    def build(self, *, context: str = "", language: str | None = None, prefix: str = "") -> str:
        """Prompt for one decode.

        ``language`` is a Qwen3 name (see :func:`normalize_language`) to pre-fill,
        or ``None`` to let the model detect it. ``prefix`` is transcript text to
        continue from; it needs a language, since it comes after the tag.
        """
        prompt = self.base(context)
        if language:
            prompt += f"{LANGUAGE_PREFIX}{language}{ASR_TEXT_TAG}"
        elif prefix:
            raise ValueError("a prefix needs a language to pre-fill before it")
        return prompt + prefix


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    text: str
    language: str  # Qwen3 name, "" when unknown
    no_speech: bool


_LANG_RE = re.compile(r"language\s+([A-Za-z][A-Za-z \-]*?)\s*(?:<asr_text>|$|\n)", re.IGNORECASE)


def parse_output(raw: str, *, language: str | None = None, prefix: str = "") -> ParsedOutput:
    """Parse one generated continuation into text and language; tags never leak.

    ``language`` and ``prefix`` are what was pre-filled in the assistant turn:
    when a language was pre-filled the model writes text only, and the
    transcript is ``prefix + raw``. Otherwise ``raw`` should be
    ``language <Name><asr_text><text>``; a missing tag is tolerated.
    ``language None`` or an empty transcript is ``no_speech``.
    """
    detected = language or ""
    body = raw or ""
    if not language:
        head, tag, tail = body.partition(ASR_TEXT_TAG)
        if tag:
            match = _LANG_RE.search(head + ASR_TEXT_TAG)
            detected = match.group(1).strip() if match else ""
            body = tail
        else:
            match = re.match(r"\s*language\s+(\w+)\s*", body)
            if match and (match.group(1).lower() == "none" or match.group(1).lower() in _NAME_BY_KEY):
                detected = match.group(1)
                body = body[match.end():]
        if detected.lower() == "none":
            return ParsedOutput(text="", language="", no_speech=True)
        if detected.lower() in _NAME_BY_KEY:
            detected = _NAME_BY_KEY[detected.lower()]
    # A model can restate the tag after a pre-fill; keep what follows the last one.
    if ASR_TEXT_TAG in body:
        body = body.rsplit(ASR_TEXT_TAG, 1)[1]
    text = _SPECIAL_RE.sub("", prefix + body)
    text = collapse_repetitions(text).strip()
    return ParsedOutput(text=text, language=detected, no_speech=not text)


def collapse_repetitions(text: str, *, max_char_repeats: int = 20, max_pattern_repeats: int = 8,
                         max_pattern_len: int = 40) -> str:
    """Collapse runaway repetition, the typical failure of greedy decoding on noise.

    A character repeated more than ``max_char_repeats`` times, or a unit of 2 to
    ``max_pattern_len`` characters (a word, a phrase, a CJK n-gram) repeated
    ``max_pattern_repeats`` times or more in a row, is replaced by a single
    occurrence; a partial unit after such a run at the very end (the decode hit
    its token limit) is dropped too. Ordinary speech ("very very good", "no no no") is untouched.
    """
    if len(text) <= max_char_repeats:
        return text
    text = re.sub(r"(.)\1{%d,}" % max_char_repeats, r"\1", text, flags=re.DOTALL)

    cut_tail = 0

    def one(match: re.Match[str]) -> str:
        nonlocal cut_tail
        unit = match.group(1)
        if len(set(unit)) == 1:
            return match.group(0)
        rest = match.string[match.end():]
        if rest and unit.startswith(rest):  # the run hit the token limit mid-unit
            cut_tail = len(rest)
        return unit

    text = re.sub(r"(.{2,%d}?)\1{%d,}" % (max_pattern_len, max_pattern_repeats - 1), one, text, flags=re.DOTALL)
    return text[:-cut_tail] if cut_tail else text


# Scripts that name one supported language (or nearly): used only to pick the
# language to pre-fill before a prefix when the model's detection is not known.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0900, 0x097F, "Hindi"),
    (0x3040, 0x30FF, "Japanese"),
    (0xAC00, 0xD7AF, "Korean"),
    (0x1100, 0x11FF, "Korean"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x0370, 0x03FF, "Greek"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0400, 0x04FF, "Russian"),
    (0x4E00, 0x9FFF, "Chinese"),
    (0x3400, 0x4DBF, "Chinese"),
)
_PERSIAN_LETTERS = set("پچژگکی")
_MACEDONIAN_LETTERS = set("ѓќѕљњџјЃЌЅЉЊЏЈ")


def guess_language_from_script(text: str) -> str | None:
    """Guess the language of ``text`` from its script; ``None`` for Latin or mixed scripts.

    Kana wins over Han (Japanese uses both). Latin script is ambiguous between
    many supported languages, so it gives ``None``.
    """
    found: set[str] = set()
    for ch in text:
        cp = ord(ch)
        if cp < 0x0370:
            if ch.isalpha():
                return None
            continue
        for lo, hi, name in _SCRIPT_RANGES:
            if lo <= cp <= hi:
                found.add(name)
                break
    if "Japanese" in found:
        found.discard("Chinese")
    if len(found) != 1:
        return None
    (name,) = found
    if name == "Arabic" and _PERSIAN_LETTERS & set(text):
        return "Persian"
    if name == "Russian" and _MACEDONIAN_LETTERS & set(text):
        return "Macedonian"
    return name


class LanguageMemory:
    """Remember which language the model detected for the texts it returned.

    In auto-language mode a rollback prefix must follow a ``language <Name>``
    tag, but :class:`DecodeRequest` carries only the prefix text. The prefix is
    always a prefix of a hypothesis this engine returned, so the engine looks it
    up here (most recent first); failing that it guesses from the script.
    Bounded; O(size) per lookup, which is small next to a decode.
    """

    def __init__(self, *, size: int = 1024) -> None:
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def remember(self, text: str, language: str) -> None:
        if not text or not language:
            return
        self._texts[text] = language
        self._texts.move_to_end(text)
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)

    def language_of(self, prefix: str) -> str | None:
        for text in reversed(self._texts):
            if text.startswith(prefix):
                return self._texts[text]
        return guess_language_from_script(prefix)

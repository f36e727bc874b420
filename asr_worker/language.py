"""The language of a session that does not name one, sans I/O: detected among allowed languages, then kept.

Whisper's multilingual models detect a language from the audio of each decode, among
their ~100. On little audio that detection is noise: English read speech cut to its first
0.5-1 s comes out as Hindi, Malay or Korean, Spanish as Greek or Thai (BENCHMARKS.md,
"Language detection"), and a decode in the wrong language writes its script. So a session
that asks for no language:

- detects only among its **allowed** languages (:func:`restricted`): the request's
  (``languages``), else the worker's ``--detect-languages``, each as far as the model
  decodes it; their probabilities renormalised, the most probable wins;
- decodes audio too short to detect on (``--detect-min-sec``) in its leading language so far,
  or, before any evidence, in the first allowed one (the deployment's most likely)
  (:func:`request_language`);
- **settles** its language (:class:`LanguageVote`) once its finals hold ``--settle-sec`` of
  speech, on their summed probabilities weighted by seconds, when one language holds most of
  that evidence (``settle_share``: finals that disagree wait for more speech, each decode
  detecting on its own), or on the leader once they hold ``settle_max_sec``; from then on it
  decodes in it;
- changes it only on strong evidence over several utterances: ``switch_finals`` finals in a
  row, each of ``settle_sec`` or more, each giving another language ``switch_probability``
  or more; a shorter final counts neither way, one in the settled language starts over.

:func:`script_fits` says whether a text is written in its language's script: a partial that
is not is never sent (the Thai partial of an English caller).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from common.languages import language_code
from common.records import SAMPLE_RATE

from .engines import DecodeRequest

# Call-centre languages, most likely first: the first is the decode language of the audio
# before there is enough to detect on. Whisper's codes.
DEFAULT_LANGUAGES = ("en", "es", "fr", "de", "it", "pt")


def languages(raw: str) -> tuple[str, ...]:
    """``--detect-languages``: comma-separated codes or tags (``es-MX`` is ``es``), most likely first."""
    codes = tuple(dict.fromkeys(language_code(part) for part in raw.split(",") if part.strip()))
    if not codes:
        raise ValueError("name at least one language (whisper's codes, e.g. en,es)")
    for code in codes:
        if not code.isalpha() or len(code) > 8:
            raise ValueError(f"{code!r} is not a language code")
    return codes


def allowed(asked: Sequence[str], model: Sequence[str] | None) -> tuple[str, ...]:
    """The languages of ``asked`` (codes or tags, in order) that the model decodes (``model`` None:
    it does not say, all of them)."""
    codes = dict.fromkeys(language_code(language) for language in asked)
    return tuple(code for code in codes if model is None or code in model)


def restricted(probabilities: Iterable[tuple[str, float]],
               allowed: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """The probabilities of the ``allowed`` languages among ``probabilities`` (code, probability),
    renormalised to sum to 1, most probable first (a tie in ``allowed``'s order); () if none of them
    has any."""
    found = dict(probabilities)
    kept = [(code, max(0.0, float(found.get(code, 0.0)))) for code in allowed]
    total = sum(p for _, p in kept)
    if total <= 0.0:
        return ()
    order = {code: index for index, code in enumerate(allowed)}
    return tuple(sorted(((code, p / total) for code, p in kept), key=lambda item: (-item[1], order[item[0]])))


def request_language(request: DecodeRequest, *, asked: str | None, allowed: tuple[str, ...] | None, guess: str,
                     detect_min_sec: float) -> DecodeRequest:
    """``request`` of a session restricted to its languages. Left as it is where the session names a
    language (``asked``) or votes on none (``allowed`` None); else in ``guess`` (its settled or
    leading language, :meth:`LanguageVote.guess`) when it has under ``detect_min_sec`` of audio to
    detect on, and detected among ``allowed`` otherwise; a final asks for their probabilities
    whatever its language (the vote's evidence)."""
    if allowed is None or asked is not None:
        return request
    if request.language is None and len(request.audio) < detect_min_sec * SAMPLE_RATE:
        request = replace(request, language=guess)
    if request.language is None or request.final:
        request = replace(request, languages=allowed)
    return request


@dataclass(eq=False)
class LanguageVote:
    """A session's language: the evidence of its finals, and the language settled on it ("" not yet)."""

    allowed: tuple[str, ...]  # most likely first; never empty
    settle_sec: float = 2.0
    # The leader settles when it holds this share of the evidence: a Spanish line's first 2.5 s in
    # two finals (es 0.68 on 1 s, en 0.84 on 1.5 s) summed to English 54 %, the line whole being
    # Spanish (0.94); one language's finals agree at 66-97 % (BENCHMARKS.md, "Language detection").
    settle_share: float = 0.6
    # Seconds of finals after which the leader settles however split the evidence (0: 3 x settle_sec).
    settle_max_sec: float = 0.0
    switch_finals: int = 3
    switch_probability: float = 0.9
    language: str = ""
    seconds: float = 0.0  # of finals counted
    weights: dict[str, float] = field(default_factory=dict)  # language: seconds x probability, summed
    challenger: str = ""  # another language the last long finals gave strongly
    streak: int = 0  # finals in a row that gave it

    def __post_init__(self) -> None:
        if not self.allowed:
            raise ValueError("a language vote needs at least one allowed language")
        if not self.settle_max_sec:
            self.settle_max_sec = 3 * self.settle_sec

    def leader(self) -> str:
        """The settled language, else the most probable so far ("" without evidence)."""
        if self.language:
            return self.language
        if not self.weights:
            return ""
        return max(self.allowed, key=lambda code: self.weights.get(code, 0.0))

    def guess(self) -> str:
        """The language to decode audio too short to detect on: the leader, else the first allowed."""
        return self.leader() or self.allowed[0]

    def add(self, probabilities: Sequence[tuple[str, float]], seconds: float) -> bool:
        """Count a final of ``seconds`` of audio whose language probabilities (allowed ones, as
        :func:`restricted` gives them) are ``probabilities``; True when the language changed
        (settled, or switched)."""
        if not probabilities or seconds <= 0.0:
            return False
        if not self.language:
            for code, p in probabilities:
                self.weights[code] = self.weights.get(code, 0.0) + seconds * p
            self.seconds += seconds
            if self.seconds < self.settle_sec:
                return False
            leader = self.leader()
            if self.weights[leader] < self.settle_share * sum(self.weights.values()) \
                    and self.seconds < self.settle_max_sec:
                return False  # the finals disagree: wait for more speech
            self.language = leader
            return True
        if seconds < self.settle_sec:
            return False  # a short final says too little either way
        top, p = probabilities[0]
        if top == self.language or p < self.switch_probability:
            self.challenger, self.streak = "", 0
            return False
        self.streak = self.streak + 1 if top == self.challenger else 1
        self.challenger = top
        if self.streak < self.switch_finals:
            return False
        self.language, self.challenger, self.streak = top, "", 0
        return True

    def state(self) -> dict:
        """What a checkpoint keeps (JSON): a takeover goes on in the language settled, with its evidence."""
        return {"language": self.language, "seconds": round(self.seconds, 3),
                "weights": {code: round(w, 3) for code, w in self.weights.items()},
                "challenger": self.challenger, "streak": self.streak}

    def restore(self, state: object) -> None:
        """Take back :meth:`state` from a checkpoint (anything else there, or a language no longer
        allowed, is ignored: the session detects anew)."""
        if not isinstance(state, dict):
            return
        language, weights = state.get("language"), state.get("weights")
        if not isinstance(language, str) or not isinstance(weights, dict) or language and language not in self.allowed:
            return
        self.language = language
        self.weights = {str(code): float(w) for code, w in weights.items() if code in self.allowed}
        self.seconds = float(state.get("seconds", 0.0))
        challenger = state.get("challenger", "")
        self.challenger = challenger if isinstance(challenger, str) and challenger in self.allowed else ""
        self.streak = int(state.get("streak", 0)) if self.challenger else 0


# Scripts by the first word of Unicode's character names; a language not listed is not checked.
_SCRIPTS: dict[str, frozenset[str]] = {}
for _codes, _scripts in (
    ("en es fr de it pt nl ca pl ro sv da no nn fi cs sk hu tr id ms vi tl la cy ga eu gl hr bs sl lt lv et is "
     "sq af sw az uz mt lb oc br fo ht ln so yo ha haw mi sn jw su tk", ("LATIN",)),
    ("ru uk be bg mk kk mn tt ba", ("CYRILLIC", "LATIN")),
    ("sr", ("CYRILLIC", "LATIN")),
    ("el", ("GREEK", "LATIN")),
    ("ar fa ur ps sd", ("ARABIC", "LATIN")),
    ("he yi", ("HEBREW", "LATIN")),
    ("hi mr ne sa", ("DEVANAGARI", "LATIN")),
    ("bn as", ("BENGALI", "LATIN")),
    ("th", ("THAI", "LATIN")),
    ("ko", ("HANGUL", "CJK", "LATIN")),
    ("zh yue", ("CJK", "LATIN")),
    ("ja", ("CJK", "HIRAGANA", "KATAKANA", "LATIN")),
    ("ta", ("TAMIL", "LATIN")),
    ("te", ("TELUGU", "LATIN")),
    ("ka", ("GEORGIAN", "LATIN")),
    ("hy", ("ARMENIAN", "LATIN")),
):
    for _code in _codes.split():
        _SCRIPTS[_code] = frozenset(_scripts)
# Letters of no one script (ordinals as in "1ª", the micro sign, superscripts): let through everywhere.
_NEUTRAL = frozenset({"FEMININE", "MASCULINE", "MICRO", "MODIFIER", "SUPERSCRIPT", "SUBSCRIPT", "FULLWIDTH", "ROMAN"})


def script_fits(text: str, language: str) -> bool:
    """Whether every letter of ``text`` is in a script ``language`` is written in (Latin for English;
    Latin words are let through in other scripts' languages: names, brands). True for a language
    not known here, or none."""
    scripts = _SCRIPTS.get(language_code(language)) if language else None
    if scripts is None:
        return True
    for char in text:
        if char.isalpha() and (script := unicodedata.name(char, "?").split(" ", 1)[0]) not in scripts \
                and script not in _NEUTRAL:
            return False
    return True

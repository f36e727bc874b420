"""Sentiment of an utterance: VADER, a lexicon- and rule-based scorer for English.

The lexicon ships in the ``vadersentiment`` wheel (3.3.2, MIT; the ``analytics``
extra). It scores English words and a few rules (negation, "but", capitals,
exclamation marks); it knows no other language and no context beyond the
sentence, so treat its figures as a cheap signal, not a judgement (see
docs/analytics.md). Loaded once per process, when the first call asks for it;
the lexicon file is checked against the hash it was evaluated with, so a
different lexicon cannot slip in unnoticed.

The score is VADER's ``compound`` (-1..1); the label uses VADER's own
thresholds: ``positive`` at 0.05 and over, ``negative`` at -0.05 and under,
else ``neutral``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import resources

from common.errors import ConfigError, ModelError

LEXICON_SHA256 = "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"  # vaderSentiment 3.3.2
THRESHOLD = 0.05
EXTRA = "analytics"


@dataclass(frozen=True, slots=True)
class Score:
    label: str  # positive, neutral, negative
    score: float  # -1..1


def label(score: float) -> str:
    return "positive" if score >= THRESHOLD else "negative" if score <= -THRESHOLD else "neutral"


class Sentiment:
    """The process's VADER scorer."""

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError:
            raise ModelError(f"sentiment needs the vadersentiment package: install streamscribe[{EXTRA}]") from None
        lexicon = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_bytes()
        digest = hashlib.sha256(lexicon).hexdigest()
        if digest != LEXICON_SHA256:
            raise ModelError(f"the installed VADER lexicon (sha256 {digest[:12]}...) is not the one evaluated "
                             f"(vadersentiment==3.3.2); install streamscribe[{EXTRA}]")
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, text: str) -> Score:
        compound = float(self._analyzer.polarity_scores(text)["compound"]) if text.strip() else 0.0
        return Score(label(compound), compound)


_lock = threading.Lock()
_loaded: Sentiment | None = None


def sentiment() -> Sentiment:
    """The process's scorer, loaded on first use; :class:`ModelError` naming the extra when it is missing."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = Sentiment()
        return _loaded


def available() -> None:
    """Raise :class:`ConfigError` naming the extra when sentiment cannot be scored here: a request
    that asks for it is refused as it comes (as ``diarize`` is), rather than answered "neutral"."""
    try:
        sentiment()
    except ModelError as exc:
        raise ConfigError(f"sentiment is not available on this server: {exc}") from None

"""When a whisper final decoded greedily is decoded again with beam search: the decision alone (pure).

Live decodes are greedy; faster-whisper's offline ``transcribe()`` decodes with beams and falls
back when a decode looks poor, which matters most through 8 kHz μ-law. Beams on every final would
cost each several greedy decodes, so a final is decoded again with ``--final-beam-size`` beams
(on the same encoder output: a decoder pass, not another encode) only when whisper's own measures
call it poor, as faster-whisper decides: mean token log-probability under ``logprob``, or a text
that compresses like a loop; never on what whisper calls silence. :func:`pick` keeps the better
scored decode, except a beam decode that repeats a sentence or stops early (many fewer words,
numbers counted as one), which silently dropped speech. ``--final-beam-size`` 1 turns it off;
``--final-beam-logprob`` 0 decodes every final with beams alone. Unit-tested on recorded decodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.redaction.itn import numeric, once, words

from .repetition import COMPRESSION_RATIO_THRESHOLD, compression_ratio

STEP = "fallback"  # the name of its outcome ("beam" or "greedy") in Hypothesis.steps
SILENCE_LOGPROB = -1.0  # faster-whisper's log_prob_threshold, in its no-speech rule
# Words (a number one word) a beam decode may lack against the greedy one before it counts as
# stopped early, if it also has under half as many. On the recorded call-script finals
# (tests/data/whisper_fallback.json) a beam decode lacked at most 3, or 6 of 20 where the greedy
# one wrote a number as "5th year, or 1th", but where it stopped early (8 of 15).
LOST_WORDS = 4
NUMBER = "\x00number"  # content_words' stand-in for a number token: no word of a text equals it


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """What the fallback looks at in one decode: its text and whisper's scores of it."""

    text: str
    avg_logprob: float
    no_speech_prob: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackPolicy:
    """When a greedy final is decoded again, and with how many beams (see the module's docstring)."""

    beam_size: int = 5
    logprob: float = -0.5
    compression_ratio: float = COMPRESSION_RATIO_THRESHOLD
    no_speech_prob: float = 0.6

    @property
    def enabled(self) -> bool:
        return self.beam_size > 1

    @property
    def every_final(self) -> bool:
        """Every final takes beam search (``logprob`` 0 or more: no decode scores above 0), so the
        engine decodes finals with beams alone, without the greedy decode first."""
        return self.enabled and self.logprob >= 0


def needs_beam(decoded: Decoded, policy: FallbackPolicy) -> bool:
    """Whether the greedy ``decoded`` final should be decoded again with beam search."""
    if not policy.enabled or not decoded.text.strip():
        return False
    if decoded.no_speech_prob > policy.no_speech_prob and decoded.avg_logprob < SILENCE_LOGPROB:
        return False  # whisper calls it silence: another decode would only invent words
    return decoded.avg_logprob < policy.logprob or compression_ratio(decoded.text) > policy.compression_ratio


def pick(greedy: Decoded, beam: Decoded) -> str:
    """``"beam"`` or ``"greedy"``: the decode whisper scores higher (the beam's on a tie), unless
    the beam decode repeats a sentence more than the greedy one (see the module's docstring)."""
    if repeats(beam.text) > repeats(greedy.text):
        return "greedy"
    if stopped_early(greedy.text, beam.text):
        return "greedy"
    return "greedy" if greedy.avg_logprob > beam.avg_logprob else "beam"


def stopped_early(greedy: str, beam: str) -> bool:
    """Whether the beam decode ``beam`` stopped before the greedy one (``greedy``) did: it has
    :data:`LOST_WORDS` or more fewer :func:`content_words`, and under half as many."""
    said, kept = content_words(greedy), content_words(beam)
    return said - kept >= LOST_WORDS and kept < said / 2


def content_words(text: str) -> int:
    """The words of ``text``, a word said again right after itself once (:func:`common.redaction.itn.once`: a
    loop's "I'm, I'm, I'm" is one) and a number one word however it is written ("47291836" and
    "four, seven, two, ..." alike): what a decode keeps of the speech. A number still counts: a
    beam decode that dropped the sentence holding one ("y en la nes 7 mos 5 4 1 9 8 es. lo tengo
    aquí delante" against its beam's "Y lo tengo aquí delante.", base, a Spanish ID number through
    the native door) stopped early as much as one that dropped words."""
    tokens = words(text)
    if not tokens:
        return 0
    # Each number token as one placeholder, which once() then keeps once a run: the run is one word.
    return len(once([NUMBER if number or any(c.isdigit() for c in token) else token
                     for token, number in zip(tokens, numeric(tokens))]))


def repeats(text: str) -> int:
    """Sentences said again right after themselves (case and punctuation aside): "Hi. Hi." 1.
    Words repeated inside a sentence are speech's own (digits read out: "two, two, one"; "no,
    no"), which a garbled greedy decode may have lost: they do not count."""
    sentences = [" ".join(re.findall(r"[\w']+", sentence.lower())) for sentence in re.split(r"[.?!]+", text)]
    sentences = [sentence for sentence in sentences if sentence]
    return sum(a == b for a, b in zip(sentences, sentences[1:]))

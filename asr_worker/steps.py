"""The decode policy in one place: each step that shapes a decode or its final, named, in order.

A decode goes through these steps in the order of :data:`POLICY`; each step runs where its moment
comes (``at``: the request as it is built, the engine's decoder, the stage's core, or one of the
two modes), and decides by pure functions of the request, the hypothesis, the options and the few
fields of the session that they need, passed in (``decides``; the stage's methods that call them
are thin), each unit-tested apart (``tests``). docs/architecture.md shows the same list
("Decode steps"), and tests/unit/test_asr_steps.py keeps the two and the tests in step.

The engine's steps run inside its decoder, on one encoder output for the decodes batched with it
(whisper: :mod:`.engines.whisper`), and say what they did in :attr:`~.engines.Hypothesis.steps`,
under the names here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import digits
from .continuation import continued, echoes, implausible, judged, spoken_seconds
from .core import as_sentence, ends_sentence, ends_turn
from .engines import fallback, loop_guard
from .engines.repetition import find_loop, non_speech
from .language import request_language, script_fits
from .packing import deal_words, split_at_sentences, unworded
from .replies import gaps, sentences, split_replies
from .rollback import stable_prefix
from .span import speech_bounds

REQUEST, ENGINE, CORE, LIVE, PACKS = "request", "engine", "core", "live", "packs"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the decode policy: its name, where it runs, what decides it and where that is tested."""

    name: str
    at: str  # REQUEST, ENGINE, CORE, LIVE or PACKS
    decides: tuple[Callable[..., object], ...]
    tests: tuple[str, ...]  # the unit tests of its decisions (in tests/unit)
    does: str


POLICY: tuple[Step, ...] = (
    Step("prefix", REQUEST, (stable_prefix,), ("test_rollback.py",),
         "a partial continues the stable text of the one before (the rollback recipe); finals decode afresh"),
    Step("language", REQUEST, (request_language,), ("test_language_detection.py",),
         "a session that names no language decodes in its settled one, or detects among its own"),
    Step(fallback.STEP, ENGINE, (fallback.needs_beam, fallback.pick), ("test_fallback.py",),
         "a live final whisper scores poor is decoded again with beams; the better scored kept"),
    Step(digits.STEP, ENGINE, (digits.final_retry, digits.needs_digits, digits.outcome),
         ("test_digits_redecode.py", "test_unread_numbers.py"),
         "a final of a number passage (redacting cards or SSNs) that wrote no number: again with the digits prompt"),
    Step(loop_guard.STEP, ENGINE, (non_speech, find_loop), ("test_loop_guard.py",),
         "no text on non-speech; a looping partial cut, a looping final decoded again in pieces"),
    Step("script", CORE, (script_fits,), ("test_language_detection.py",),
         "a partial in another script than its language's loses its text"),
    Step("early final", LIVE, (ends_turn, ends_sentence), ("test_ends_turn.py", "test_speculative.py"),
         "the final decoded at a pause ends the utterance there when it ends the turn: a sentence short or "
         "decoded sure enough, or a short reply not left open (or eager finals)"),
    Step("continuation", LIVE, (as_sentence, continued, echoes, implausible), ("test_continuation.py", "test_ends_turn.py"),
         "the rest after an early final: decoded after the pieces before it (a turn's ended as a sentence), "
         "else prompted, else alone"),
    Step("plausible", LIVE, (judged, spoken_seconds), ("test_continuation.py", "test_speculative.py"),
         "a final decode with more words than its frames of speech can hold is no speech (whisper's filler on a breath)"),
    Step("final", LIVE, (speech_bounds,), ("test_span.py",),
         "a final with words (or a cut loop: truncated) goes out, its span narrowed to its speech"),
    Step("replies", LIVE, (split_replies, sentences, gaps), ("test_replies.py", "test_speculative.py"),
         "a final that holds a short reply parted from the sentences beside it by silence is sent as "
         "more finals, split in those silences"),
    Step("pack prompt", PACKS, (deal_words,), ("test_packing.py",),
         "a pack is decoded prompted with the last pack's text; where an utterance got no words, again unprompted"),
    Step("lone decodes", PACKS, (unworded,), ("test_packing.py",),
         "an utterance a pack wrote nothing of is decoded alone, unless a neighbour's number covers it"),
    Step("sentences", PACKS, (split_at_sentences, ends_sentence), ("test_packing.py",),
         "a pack's utterance splits where a live session's sentence endpoint would have"),
    Step("digits again", PACKS, (digits.needs_digits, digits.outcome), ("test_digits_redecode.py", "test_unread_numbers.py"),
         "a pack's final of a number passage without a number decoded again alone with the digits prompt"),
)

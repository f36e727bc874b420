"""When a final in a number passage is decoded again with a digits prompt: the decision alone.

Whisper does not always write digits read aloud as digits: base wrote "eight eight eight
eight" as ``Hey, hey``, tiny.en as ``K, K, K, K.``, and a card number then leaks as words
no rule can read. A prompt of numbers written as digits makes whisper write digits, but
given to every decode it costs elsewhere (addresses, names, SSN pieces, WER: BENCHMARKS.md,
"Redaction"). So
the prompt goes only where a card number (or an SSN) is likely and the recogniser wrote none:

* the ASR stage gives a final's request the retry of :func:`final_retry` (``DecodeRequest.retry``) when
  the session redacts card numbers or SSNs and the utterance is in a *number passage*
  (:meth:`~common.redaction.redactor.Redactor.number_passage`: a card or SSN keyword's
  context, or right after a final that ended in a number);
* the engine decodes it as usual, and when that decode wrote words but no number
  (:func:`needs_digits`, read as the redactor reads numbers, spoken ones included), decodes it
  again with the prompt before the session's context, on the same encoder output (a decoder
  pass, not another encode; the beam fallback for poor finals applies to it as to the first);
* :func:`keep_digits` keeps the second decode only when it writes a number the first did not
  *without losing other words*: every word of the first is in the second, or stands where the
  second wrote digits, a card or SSN keyword beside them or not (at most :data:`MAX_REPLACED`
  words for one number, a word repeated in a row counting once: the decode is read before the
  loop guard, and base loops ``Hey, hey, hey, ...`` on "eight eight eight eight"; tiny.en wrote
  "SSN 078-05-1120." as ``S.M.``, and with the prompt ``SSN 078-05-1120.``); a second decode
  that drops a word or adds one that is neither a number nor its keyword (``Thanks for
  watching.``) is not kept;
* one not kept that wrote a number is "refused", and its text goes to the redactor, which masks
  the first's words where it wrote a number the rules mask (:mod:`common.redaction.reread`).

Pure functions over texts: unit-tested on the recorded transcripts of the evaluation set. The
outcome (:func:`outcome`) is the hypothesis's step :data:`STEP`.
"""

from __future__ import annotations

import difflib

from common.redaction.detect import NUMBER_KEYWORDS
from common.redaction.itn import numeric, once, runs, words

from .engines import Retry

STEP = "digits"  # the name of the second decode's outcome in Hypothesis.steps

# Words of the first decode that one number of the second may stand for, a word repeated in a row
# counting once: "eight eight eight eight" came out as one (`Hey, hey`, `K, K, K, K.`, `A-tait`),
# "one two three" as two (`For I'm`); a longer stretch of words is speech, not a number.
MAX_REPLACED = 2


def retry(prompt: str) -> Retry:
    """The second decode of a final of a number passage, with the digits ``prompt``."""
    return Retry(name=STEP, prompt=prompt, wanted=needs_digits, judge=outcome)


def final_retry(prompt: str, *, number_passage: bool) -> Retry | None:
    """The retry a final decode's request carries: the digits ``prompt``'s (:func:`retry`) where the
    option gives one and the utterance is in a ``number_passage`` of a session redacting card
    numbers or SSNs (:meth:`~common.redaction.redactor.Redactor.number_passage`); None otherwise."""
    return retry(prompt) if prompt and number_passage else None


def has_number(text: str) -> bool:
    """Whether ``text`` holds a number as the redactor reads them (digits, or number words ITN reads;
    a number word under ten alone, "this one", is none)."""
    return bool(runs(text.split()))


def needs_digits(text: str) -> bool:
    """Whether a final of a number passage decoded as ``text`` should be decoded again with the
    digits prompt: it has words, and none of them is a number."""
    return bool(text.strip()) and not has_number(text)


def keep_digits(first: str, second: str) -> bool:
    """Whether the digits-prompted decode ``second`` replaces ``first`` (see the module's docstring)."""
    if not has_number(second) or has_number(first):
        return False
    # A word the first decode repeated in a row is one stretch of it (:func:`once`).
    old, new = once(words(first)), words(second)
    numbers = numeric(new) if new else []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        stretch = range(j1, j2)
        if j1 == j2 or not any(numbers[k] for k in stretch) \
                or not all(numbers[k] or new[k] in NUMBER_KEYWORDS for k in stretch):
            return False  # a word lost, or one added that is neither a number nor its keyword
        if i2 - i1 > MAX_REPLACED:
            return False  # too many words for one number: speech the prompt turned into digits
    return True


def outcome(first: str, second: str) -> str:
    """What a second decode with the digits prompt came to (the step :data:`STEP`): "kept"
    (:func:`keep_digits`), "refused" (it wrote a digit, or a number, that the rule refused: base's
    ``4-I`` for ``For I'm...``, "four five." of an SSN), or "dropped" (it wrote none). A fact about
    the decodes, not a redaction: the redactor decides what "refused" means for the final."""
    if keep_digits(first, second):
        return "kept"
    return "refused" if any(c.isdigit() for c in second) or has_number(second) else "dropped"

"""Where a refused digits-prompted decode heard a number: the words of the final it stands for.

The ASR stage decodes a number passage's final again with a digits prompt when the first decode
wrote no number (:mod:`asr_worker.digits`), and keeps the second only when it changed nothing but
the number. One it refuses still says something: asked for digits, the recogniser heard them
*there*. Recorded on the evaluation set (BENCHMARKS.md, "Redaction"): ``I want it.`` -> ``5 1 8``
for an SSN's last group, ``It's not not good.`` -> ``854-1922`` for a card's, ``I've won below.``
-> ``551 00``. The redactor reads the second decode as it reads any final, and where it would
mask a number there, it masks the words the first decode wrote in its place, whatever they say
(fail closed); where the second is a number it leaves readable (``A new car derived in Penn Bay.``
-> ``The new card arrived in 10 days.``), or where both decodes wrote the same words or the same
number (``six`` and ``6``: the rules read the first's), nothing is masked for it.
"""

from __future__ import annotations

import difflib

from .itn import DIGIT_NAMES, core, runs


def replaced(first: list[str], second: list[str]) -> list[tuple[range, range]]:
    """The stretches of the words ``first`` (a final's) that the words ``second`` (its decode with
    the digits prompt) wrote otherwise, each with the stretch of ``second`` written in its place, in
    order (a word only one of them wrote has no counterpart, and no stretch: a number written where
    the first wrote nothing is in no word of the final; nor is one the first wrote the same)."""
    matcher = difflib.SequenceMatcher(a=[core(t) for t in first], b=[core(t) for t in second], autojunk=False)
    return [(range(i1, i2), range(j1, j2)) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag == "replace" and not _said(first[i1:i2]) == _said(second[j1:j2]) != ""]


def _said(tokens: list[str]) -> str:
    """The digits ``tokens`` say: their numbers', or a digit's word's alone ("six", which ITN reads as
    no number)."""
    return "".join(run.digits for run in runs(tokens)) \
        or "".join(str(DIGIT_NAMES.index(c)) for c in map(core, tokens) if c in DIGIT_NAMES)

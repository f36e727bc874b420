"""Spoken numbers to digits (inverse text normalisation), run by run of tokens.

Detection needs to know which tokens of a transcript say a number and what
digits they say, whether the engine wrote ``4111 1111``, ``4-1-1-1`` or
``four one one one``, ``forty-one eleven``, ``oh five`` or ``double four``.
A *run* is a maximal sequence of numeric tokens; punctuation between them
(``4111, 1111.``) does not end it, since engines punctuate the pauses of a
number read in groups. Its digits are converted by ``text2num``'s
``alpha2digit`` (a compiled Rust grammar: ~5 us a run, 0.9 MB; chosen over
nemo-text-processing, whose pynini/OpenFst grammars weigh tens of MB and take
minutes to compile on first use, for numbers only) after two rules it lacks:
``oh`` (``o``) next to another number is a zero, ``double``/``triple`` repeat
the number after them.

A single number word under ten (``one``, ``two``, ``oh``) is not a run: "this
one", "me too" are not numbers, and a digit read alone is no entity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from text_to_num import alpha2digit

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = {"hundred", "thousand", "million", "billion"}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | _SCALES
_ZEROS = {"oh", "o"}
_REPEATS = {"double": 2, "triple": 3}
# Spanish digits read one by one ("cuatro cuatro cuatro cuatro"): numbers beside another number
# (a Spanish word alone, "uno", "dos", is not one). Compounds ("cuarenta y uno") are not read.
SPANISH_DIGITS = dict(zip("cero uno dos tres cuatro cinco seis siete ocho nueve".split(), _UNITS[:10]))
_SMALL = frozenset(_UNITS[:10]) | _ZEROS | frozenset(SPANISH_DIGITS)
_SPOKEN_SEPARATORS = {"slash": "/", "dash": "-", "hyphen": "-"}  # "oh five slash twenty seven"
# Homophones the recogniser writes for digits read aloud ("4. Too 4. Too" for "four two four
# two", "for 240" for "four two four oh"): numbers only right after a numeral, with a numeral
# or nothing after, or first in a text (a final) with a numeral after.
_HOMOPHONES = {"to": "two", "too": "two", "for": "four", "won": "one", "ate": "eight"}

_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_DIGITS = re.compile(r"^[$£€#]?\d[\d\-/.,:]*(?:st|nd|rd|th|%|[a-z]{1,2})?$")
_SEPARATORS = re.compile(r"[-/,.:;]")
_LEADING = re.compile(r"^\d[\d\-/.,:]*[-/.,:]")  # digit groups and the separator after them


def words(text: str) -> list[str]:
    """``text``'s words, lower case, punctuation around them aside (``Hey,`` and ``hey`` are one word)."""
    return [w for w in (re.sub(r"^\W+|\W+$", "", token.lower()) for token in text.split()) if w]


def once(said: list[str]) -> list[str]:
    """``said`` with a word said again right after itself kept once: whisper loops on what it cannot
    read ("Hey, hey, hey, ..." for "eight eight eight eight", "I'm, I'm, I'm" before the loop guard)."""
    return [w for n, w in enumerate(said) if n == 0 or w != said[n - 1]]


def core(token: str) -> str:
    """``token`` lower-cased without the punctuation around it (``Four,`` -> ``four``)."""
    return _EDGE.sub("", token.lower())


def _is_digits(token: str) -> bool:
    """A written number: ``4111``, ``4,111``, ``05/27``, ``$25.50``, ``3rd``; a piece of one as
    whisper's word timings cut it (``,111``); or mostly digits (``700-80-I-N``: tiny.en's); or
    3 digits or more in groups before a word (``123-45-bic``)."""
    bare = token.strip("\"'()[]{}!?;,.-/:")
    if _DIGITS.match(bare):
        return True
    digits = sum(ch.isdigit() for ch in bare)
    if digits >= 3 and 2 * digits >= sum(ch.isalnum() for ch in bare):
        return True
    # Groups of digits, then a word the recogniser ran into them (``123-45-bic-thousand``, over
    # an 8 kHz line): the digits are a number whatever follows.
    leading = _LEADING.match(bare)
    return leading is not None and sum(ch.isdigit() for ch in leading.group()) >= 3


def _is_number_word(word: str) -> bool:
    return bool(word) and all(part in NUMBER_WORDS for part in word.split("-"))


@dataclass(frozen=True, slots=True)
class Run:
    """Tokens ``first``..``last`` (inclusive) say the number ``digits``; ``groups`` are its digits
    as punctuation split them (``123-45-6789``: 3, 2, 4)."""

    first: int
    last: int
    digits: str
    groups: tuple[str, ...]


def numeric(tokens: list[str]) -> list[bool]:
    """Per token: does it belong to a spoken or written number (before the single-word rule)."""
    cores = [core(t) for t in tokens]
    flags = [_is_digits(t) or _is_number_word(c) for t, c in zip(tokens, cores)]
    for i, c in enumerate(cores):
        if flags[i]:
            continue
        before = i > 0 and flags[i - 1]
        after = i + 1 < len(cores) and (_is_digits(tokens[i + 1]) or _is_number_word(cores[i + 1]))
        if c in _ZEROS and (before or after):
            flags[i] = True
        elif c in SPANISH_DIGITS and (before or i > 0 and cores[i - 1] in SPANISH_DIGITS
                                or i + 1 < len(cores) and cores[i + 1] in SPANISH_DIGITS or after):
            flags[i] = True
        elif c in _REPEATS and i + 1 < len(cores) and (_is_number_word(cores[i + 1]) or cores[i + 1] in _ZEROS
                                                        or _is_digits(tokens[i + 1])):
            flags[i] = True
        elif c in _SPOKEN_SEPARATORS and before and after:
            flags[i] = True
        elif c in _HOMOPHONES and (before and (after or i + 1 == len(cores)) or i == 0 and after):
            flags[i] = True
        elif c == "and" and before and cores[i - 1] in _SCALES and after:
            flags[i] = True
    # "oh" before what the loop above took ("oh double one", "oh oh seven"): a zero too.
    for i in reversed(range(len(cores) - 1)):
        if not flags[i] and cores[i] in _ZEROS and flags[i + 1]:
            flags[i] = True
    return flags


def runs(tokens: list[str]) -> list[Run]:
    """The numbers in ``tokens``, in order."""
    flags = numeric(tokens)
    found, i = [], 0
    while i < len(tokens):
        if not flags[i]:
            i += 1
            continue
        j = i
        # (An amount written with its currency sign is a number of its own: "charge 140 $10.00".)
        while j + 1 < len(tokens) and flags[j + 1] and tokens[j + 1][:1] not in "$£€":
            j += 1
        run = _convert(tokens, i, j)
        if run is not None:
            found.append(run)
        i = j + 1
    return found


def _convert(tokens: list[str], first: int, last: int) -> Run | None:
    words: list[str] = []
    repeat = 1
    for token in tokens[first:last + 1]:
        c = core(token)
        if c in _REPEATS:
            repeat = _REPEATS[c]
            continue
        if c in _SPOKEN_SEPARATORS:
            words.append(_SPOKEN_SEPARATORS[c])
            continue
        if _is_digits(token):
            # Keep separators inside (4111-1111) and after (1111,): they mark groups.
            piece = re.sub(r"[^\d\-/,.:;]", "", token)
        else:
            piece = "zero" if c in _ZEROS else SPANISH_DIGITS.get(c) or _HOMOPHONES.get(c, c)
            trail = token.rstrip()[-1:]
            if trail in ",.;:/":  # a group ends here ("one two three, four five")
                piece += trail
        words.extend([piece] * repeat)
        repeat = 1
    if last == first and not _is_digits(tokens[first]) and core(tokens[first]) in _SMALL:
        return None  # "this one", "oh"
    text = alpha2digit(" ".join(words), "en", threshold=0)
    groups = tuple(g for g in (re.sub(r"\D", "", part) for part in _SEPARATORS.split(text)) if g)
    digits = "".join(groups)
    if not digits:
        return None
    return Run(first, last, digits, groups)

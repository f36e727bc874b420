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
TENS = frozenset(_TENS)
SCALES = frozenset(_SCALES)
NUMBER_WORDS = frozenset(_UNITS) | TENS | _SCALES
DIGIT_NAMES = tuple(_UNITS[:10])  # a digit's own word, by value ("six": DIGIT_NAMES[6])
# The values of the words that say a number below a hundred alone ("seven": 7, "fifteen": 15, "sixty": 60).
NUMBER_VALUES = {**{word: n for n, word in enumerate(_UNITS)}, **{word: 10 * n for n, word in enumerate(_TENS, 2)}}
_ZEROS = {"oh", "o"}
_REPEATS = {"double": 2, "triple": 3}
REPEAT_WORDS = frozenset(_REPEATS)  # words that say the next digit two or three times
MONTH_NAMES = ("january february march april may june july august september october november "
               "december").split()  # by number - 1
_ORDINAL_UNITS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                  "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
# Ordinals' words up to "thirty-ninth", by value: a day of a month beside its month ("july twelfth", "the third of may").
ORDINAL_DAYS = {**{word: n for n, word in enumerate(_ORDINAL_UNITS, 1)}, "twentieth": 20, "thirtieth": 30,
                **{f"{tens}-{unit}": base + n for tens, base in (("twenty", 20), ("thirty", 30))
                   for n, unit in enumerate(_ORDINAL_UNITS[:9], 1)}}
# Spanish digits read one by one ("cuatro cuatro cuatro cuatro"): numbers beside another number
# (a Spanish word alone, "uno", "dos", is not one).
SPANISH_DIGITS = dict(zip("cero uno dos tres cuatro cinco seis siete ocho nueve".split(), DIGIT_NAMES))
# Spanish numbers said as numbers ("cuarenta y uno", "veintidós", "cuatro mil ciento once"): read by
# text2num's Spanish grammar. Those that are no English word are numbers alone, as "twenty" is;
# "once" (11) and "mil" only beside another number ("once" is an English word). The recogniser may
# drop an accent ("veintidos"): :data:`_SPANISH_ACCENTS` puts it back for the grammar.
_SPANISH_TENS = frozenset("veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa".split())
_SPANISH_ALONE = frozenset(
    "diez doce trece catorce quince dieciséis diecisiete dieciocho diecinueve veintiuno veintiún veintidós "
    "veintitrés veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve cien ciento "
    "doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos novecientos "
    "doscientas trescientas cuatrocientas quinientas seiscientas setecientas ochocientas novecientas".split()
) | _SPANISH_TENS
_SPANISH_ACCENTS = {"dieciseis": "dieciséis", "veintidos": "veintidós", "veintitres": "veintitrés",
                    "veintiseis": "veintiséis", "veintiun": "veintiún"}
_SPANISH_BESIDE = frozenset(SPANISH_DIGITS) | {"once", "mil", "una"}
SPANISH_NUMBERS = _SPANISH_ALONE | frozenset(_SPANISH_ACCENTS) | _SPANISH_BESIDE
_SMALL = frozenset(DIGIT_NAMES) | _ZEROS | frozenset(SPANISH_DIGITS)
_SPOKEN_SEPARATORS = {"slash": "/", "dash": "-", "hyphen": "-"}  # "oh five slash twenty seven"
# Homophones the recogniser writes for digits read aloud ("4. Too 4. Too" for "four two four
# two", "for 240" for "four two four oh", "info for 2, 7, 7" for "oh four two, seven seven",
# "5 free one." for "five three one.", "far too far too far 4242" for "four two four two."):
# see :func:`_homophones` for where they are numbers.
_HOMOPHONES = {"to": "two", "too": "two", "for": "four", "far": "four", "won": "one", "ate": "eight",
               "free": "three"}
HOMOPHONES = frozenset(_HOMOPHONES)
# Every word that alone may say one digit (what a leak of a digit can look like in any spelling).
DIGIT_SPELLINGS = _SMALL | HOMOPHONES

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


def repeat_glued(word: str) -> bool:
    """``word`` (a core) is "double"/"triple" glued by a hyphen to the word after it, as the recogniser writes "triple
    four" ("triple-four", and "triple-frogs" with the digit misheard)."""
    head, glued, _ = word.partition("-")
    return bool(glued) and head in _REPEATS


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
    return bool(word) and all(part in NUMBER_WORDS for part in word.split("-")) or bool(digits_joined(word))


def digits_joined(word: str) -> list[str]:
    """The digits' words that ``word`` (a core) joins with hyphens, as whisper writes digits read one by
    one ("two-eight-one", "one-nine-eight-four", "zero-four"; "double-seven": seven twice); [] for any
    other word ("twenty-five": a number said as one; "double-decker")."""
    parts = word.split("-")
    said: list[str] = []
    repeat = 1
    for part in parts:
        if part in _REPEATS and repeat == 1:
            repeat = _REPEATS[part]
        elif part in _SMALL:
            said += [part] * repeat
            repeat = 1
        else:
            return []
    return said if len(parts) > 1 and repeat == 1 else []


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
    flags = [_is_digits(t) or _is_number_word(c) or c in _SPANISH_ALONE or c in _SPANISH_ACCENTS
             for t, c in zip(tokens, cores)]
    for i, c in enumerate(cores):
        if flags[i]:
            continue
        before = i > 0 and flags[i - 1]
        after = i + 1 < len(cores) and (_is_digits(tokens[i + 1]) or _is_number_word(cores[i + 1])
                                         or cores[i + 1] in _SPANISH_ALONE or cores[i + 1] in _SPANISH_ACCENTS)
        if c in _ZEROS and (before or after):
            flags[i] = True
        elif c in _SPANISH_BESIDE and (before or i > 0 and cores[i - 1] in SPANISH_DIGITS
                                       or i + 1 < len(cores) and cores[i + 1] in _SPANISH_BESIDE or after):
            flags[i] = True
        elif c == "y" and before and cores[i - 1] in _SPANISH_TENS and i + 1 < len(cores) \
                and cores[i + 1] in _SPANISH_BESIDE:  # "cuarenta y uno"
            flags[i] = True
        elif c in _REPEATS and i + 1 < len(cores) and (_is_number_word(cores[i + 1]) or cores[i + 1] in _ZEROS
                                                        or _is_digits(tokens[i + 1])):
            flags[i] = True
        elif c in _REPEATS and i + 1 < len(cores) and cores[i + 1] in _HOMOPHONES:  # "triple to the eye"
            flags[i] = flags[i + 1] = True
        elif c in _SPOKEN_SEPARATORS and before and after:
            flags[i] = True
        elif c == "and" and before and cores[i - 1] in _SCALES and after:
            flags[i] = True
    _homophones(tokens, cores, flags)
    # "oh" before what the loop above took ("oh double one", "oh oh seven"): a zero too.
    for i in reversed(range(len(cores) - 1)):
        if not flags[i] and cores[i] in _ZEROS and flags[i + 1]:
            flags[i] = True
    return flags


def digit_word(word: str) -> str:
    """The number word a homophone of a digit stands for (``for`` -> ``four``); others as they are."""
    return _HOMOPHONES.get(word, word)


def _single_digit(token: str, c: str) -> bool:
    """``token`` says one digit: ``4``, ``4,``, ``four``, ``oh``, ``cuatro``."""
    return c in _SMALL or len(c) == 1 and c.isdigit()


def _homophones(tokens: list[str], cores: list[str], flags: list[bool]) -> None:
    """Mark as numbers the homophones of digits (one or several in a row: "for for") that stand
    between two numbers ("4 1 for for 1"), that end the text right after one ("1 1 1 too"), that
    begin it before one ("For 240"), or that come right before digits read one by one ("info for
    2, 7, 7", "to 4 4 1"): there a homophone is far likelier a digit than a word. Not before a
    number said as one ("for 10 minutes", "to 2 people"). ``flags`` is updated."""
    n, i = len(cores), 0
    while i < n:
        if flags[i] or cores[i] not in _HOMOPHONES:
            i += 1
            continue
        j = i
        while j + 1 < n and not flags[j + 1] and cores[j + 1] in _HOMOPHONES:
            j += 1
        before = i > 0 and flags[i - 1]
        after = j + 1 < n and flags[j + 1]
        # (or before the one digit that ends the text or a sentence: "I'm free one." for "five three one.")
        digitwise = after and _single_digit(tokens[j + 1], cores[j + 1]) and (
            j + 2 == n or tokens[j + 1].rstrip()[-1:] in ".?!"
            or j + 2 < n and flags[j + 2] and _single_digit(tokens[j + 2], cores[j + 2])
            # ... or ends a group (a comma) after a homophone that is seldom a word before a number: "time free
            # one," / "double heaven," for "five three one." / "double seven." (not "I, for one, ...")
            or tokens[j + 1].rstrip()[-1:] == "," and all(c not in ("for", "to") for c in cores[i:j + 1])
            and not (i > 0 and cores[i - 1] in ("a", "an", "the", "another", "this", "that")))  # "a free one,"
        # (Not "for"/"to" alone before one digit's word that ends the sentence after a word: "a table for
        # one.", "down to two." are quantities; "I'm free one." is "three one", and in a keyword's or a
        # masked number's passage the detector masks both words anyway.)
        if digitwise and j == i and i > 0 and cores[i] in ("for", "to") and cores[j + 1] in DIGIT_NAMES \
                and not flags[i - 1] and not (j + 2 < n and flags[j + 2]):
            digitwise = False
        if before and (after or j + 1 == n) or i == 0 and after or digitwise:
            flags[i:j + 1] = [True] * (j + 1 - i)
        i = j + 1


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


def _spanish(tokens: list[str]) -> list[str]:
    """``tokens`` with each stretch of Spanish number words said as numbers (``cuarenta y uno``,
    ``veintidós``, ``cuatro mil ciento once``) in digits, as text2num's Spanish grammar reads it
    (its punctuation after it kept: a group ends there); others as they are."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        c = core(tokens[i])
        if c not in SPANISH_NUMBERS and c != "y" or c in SPANISH_DIGITS and not _compound(tokens, i):
            out.append(tokens[i])
            i += 1
            continue
        j = i  # the stretch ends at a word that is not Spanish, or after one with a group's punctuation
        while j + 1 < len(tokens) and (core(tokens[j + 1]) in SPANISH_NUMBERS or core(tokens[j + 1]) == "y") \
                and tokens[j].rstrip()[-1:] not in ",.;:/":
            j += 1
        said = " ".join(_SPANISH_ACCENTS.get(core(t), core(t)) for t in tokens[i:j + 1])
        trail = tokens[j].rstrip()[-1:]
        out.append(alpha2digit(said, "es", threshold=0).replace(" y ", " ") + (trail if trail in ",.;:/" else ""))
        i = j + 1
    return out


def _compound(tokens: list[str], i: int) -> bool:
    """Token ``i``, a Spanish digit, is part of a Spanish number said as one (next to a word such as
    "cuarenta", "mil", "y", "veintidós"), not one of digits read one by one ("cuatro cuatro")."""
    near = [core(t) for t in tokens[max(0, i - 1):i + 2]]
    return any(c in _SPANISH_ALONE or c in _SPANISH_ACCENTS or c in ("mil", "y", "once") for c in near)


def _convert(tokens: list[str], first: int, last: int) -> Run | None:
    words: list[str] = []
    repeat = 1
    said = tokens[first:last + 1]
    if any(core(t) in SPANISH_NUMBERS for t in said):
        said = _spanish(said)
    for token in said:
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
        elif joined := digits_joined(c):  # "two-eight-one": one digit a word
            said = ["zero" if p in _ZEROS else SPANISH_DIGITS.get(p, p) for p in joined]
            words.append(" ".join([said[0]] * repeat + said[1:]))  # ("double oh-five": 0 0 5)
            trail = token.rstrip()[-1:]
            if trail in ",.;:/":
                words[-1] += trail
            repeat = 1
            continue
        else:
            piece = "zero" if c in _ZEROS else SPANISH_DIGITS.get(c) or _HOMOPHONES.get(c, c)
            trail = token.rstrip()[-1:]
            if trail in ",.;:/":  # a group ends here ("one two three, four five")
                piece += trail
        words.extend([piece] * repeat)
        repeat = 1
    if last == first and not _is_digits(tokens[first]) and core(tokens[first]) in _SMALL | _SPANISH_BESIDE:
        return None  # "this one", "oh", "once"
    text = alpha2digit(" ".join(words), "en", threshold=0)
    groups = tuple(g for g in (re.sub(r"\D", "", part) for part in _SEPARATORS.split(text)) if g)
    digits = "".join(groups)
    if not digits:
        return None
    return Run(first, last, digits, groups)

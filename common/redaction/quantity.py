"""Whether a short number is a quantity its sentence frames: the one test a session that fails closed
keeps a number of one or two digits readable by (issue 43).

A caller who reads a secret says its digits one group at a time, and the recogniser writes many a group
as words that read like a quantity ("M&M and two." for "oh seven seven two", "Not will fix one." for
"double six one"). No rule can tell those from "I'll take two." by the words before the number, so a
number of one or two digits said as one (a digit's word alone, "twenty", "12") stays readable only
when its own phrase frames it as a quantity:

* a word after it that may be the noun it counts ("two tickets", "one moment", "12 people"): any word
  but a function word (:data:`FUNCTION_WORDS`: "and", "is", "then", "might"...), a number or a digit's
  homophone, or "of" before what it counts a part of ("two of each", "three of us"); the phrase ends
  at punctuation or where a final ends (the next final may go on with the number);
* for a digit's word alone, a determiner right before it that makes it a pronoun or a count of what
  was said before ("the one", "that one", "a free one", "the last four", "those two", "no one").

Everything else fails closed: "I'll take two.", "A table for two.", "It came down to one." are masked
(bench.redaction counts what that costs as false redactions of quantities).
"""

from __future__ import annotations

import re

from .itn import repeat_glued

# Words that cannot be the noun a number counts: after a number they leave it unframed.
FUNCTION_WORDS = frozenset("""
    a an the and or but nor so then than that that's thats this these those it it's its is are was were be been being
    am i i'm me my mine you you're your he he's him his she she's her we we're us our they they're them their there
    there's here what which who whom whose when where why how if as of to too for in on at by with from into onto
    off out up down over under about after before again also just only not no yes yeah okay ok oh well right please
    will would can could shall should may might must do does did done have has had having get got go goes went
    gone need needs want wants say says said see saw think know let let's okay sure sorry thanks thank hmm um uh
    like mm mmm mhm er erm ah double triple
""".split())
# Words right before "one" that make it a pronoun ("the one on the back", "that one", "no one"); up to
# :data:`PRONOUN_REACH` words before it, an adjective between ("the other one", "a free one").
PRONOUN_DETERMINERS = frozenset("""
    the this that which each every any no another other a an some what whichever last first next only
""".split())
PRONOUN_REACH = 3
# Words right before another digit's word that make it a count of what was said before ("the last four",
# "those two"); not "the" ("for the two" is how the recogniser writes "forty two").
COUNT_DETERMINERS = frozenset("last first next these those other all only both".split())
_PREPOSITIONS = frozenset("for to of at in on by with from and or".split())
# Words after "of" that say what a number before it counts a part of ("two of each", "three of us", "four of my
# friends"): no digit of a secret is read so (held-out-26: "Send me two of each, please." masked in most of its decodes).
_OF_WHAT = frozenset("each them us you those these the my our your his her their its".split())
_WORD = re.compile(r"^[a-z][a-z'-]*$")


def counts_a_noun(tokens: list[str], cores: list[str], last: int, *, breaks: frozenset[int] = frozenset(),
                  numeric: list[bool] | None = None) -> bool:
    """Whether the number ending at token ``last`` has a word after it in its phrase that may be the noun it
    counts ("two tickets", "12 people", "one of them", "two of each"): not a function word, a number or
    punctuation's end.
    ``breaks``: where finals begin (the next final may go on with the number); ``numeric``: per token,
    whether it is part of a number."""
    if last + 4 < len(tokens) and cores[last + 1:last + 3] == ["and", "a"] and cores[last + 3] in ("half", "quarter") \
            and tokens[last].rstrip()[-1:] not in ".?!;:" and not {last + 1, last + 2, last + 3, last + 4} & breaks:
        # A quantity and a half counts the noun after it ("two and a half hours"; "two, and a half stars", the
        # comma the recogniser's).
        return counts_a_noun(tokens, cores, last + 3, breaks=breaks, numeric=numeric)
    if tokens[last].rstrip()[-1:] in ".?!;:," or last + 1 >= len(tokens) or last + 1 in breaks:
        return False
    after = cores[last + 1]
    if numeric is not None and numeric[last + 1]:
        return False
    # (A single letter is no noun: "4 m and 1 tics" for "four seven one six".)
    of_what = cores[last] == "one" or last + 2 < len(cores) and cores[last + 2] in _OF_WHAT
    # ("triple-frogs" is "triple" and the digit it repeats, as the recogniser glues them: no noun.)
    return bool(_WORD.match(after)) and len(after) > 1 and not repeat_glued(after) \
        and (after not in FUNCTION_WORDS or after == "of" and of_what)


def determined(tokens: list[str], cores: list[str], i: int, *, breaks: frozenset[int] = frozenset(),
               numeric: list[bool] | None = None) -> bool:
    """Whether a determiner before the digit's word at token ``i``, in its phrase, makes it a pronoun or a
    count of what was said before (see :data:`PRONOUN_DETERMINERS`, :data:`COUNT_DETERMINERS`); not
    across a number (``numeric``, per token: "the first three aren't one" for "... are one two nine")."""
    pronoun = cores[i] == "one"
    reach, words = (PRONOUN_REACH, PRONOUN_DETERMINERS) if pronoun else (1, COUNT_DETERMINERS)
    for j in range(i - 1, max(-1, i - 1 - reach), -1):
        if j + 1 in breaks or tokens[j].rstrip()[-1:] in ".?!;:," or cores[j] in _PREPOSITIONS \
                or numeric is not None and numeric[j]:
            return False  # ("a table for one": what "a" determines is the table)
        if cores[j] in words:
            return True
    return False

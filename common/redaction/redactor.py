"""The per-session redactor of the ASR stage: finals in, redacted finals out, partials masked.

A pure state machine (no clock, no model; a name model's findings are handed in). Callers read
card numbers in groups over several finals, so a final that ends in a number is held until the
next one and the two are read together; held finals go out when the number cannot go on (a
final that does not start with one, a long pause, a flush, the caller's timeout). It fails
closed: in a secret's context and near a masked number, digits are masked whatever the words
around them (a final that ends in a digit's homophone is held too). Partials mask
every number, since they cannot know whether their digits start a card. :meth:`number_passage`
tells the stage when a final without digits deserves a second decode with a digits prompt, and
``unread_number`` (that decode's text, where the stage refused it) lets a short final the
recogniser would not write as digits be masked whole, and a longer one's words where that decode
wrote a number (:mod:`.reread`); both are decided from checkpointed state alone, so a replay
decides the same. :meth:`state` (the checkpoint) exists only while nothing is held: held finals
hold clear text, which must not reach Redis, so a takeover replays and holds them again.
docs/redaction.md has the rules.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..records import Redacted, TimedWord, Transcript
from .detect import (CONTEXT_WORDS, FAIL_CLOSED, LOOKAHEAD, NUMBER_SPANS, Context, Span, detect, short_spelling,
                     spelled_opening, spelled_tail)
from .itn import DIGIT_SPELLINGS, core, numeric, once, runs, words
from .reread import replaced

MAX_HELD = 4  # a card read in groups of four
CARD_DIGITS = 13  # a number this long is a card number whatever follows
MASK = "[REDACTED]"
_TRAILING = ".,?!;:"
# A final of a number passage told ``unread_number`` is redacted whole up to this many words (a word
# repeated in a row counting once). Recorded while tuning it (git log -p BENCHMARKS.md): the pieces whose
# second decode wrote refused digits were 1-2 words (`For I'm...` -> `4-I`; `FEM-0 FEM-0 ... FEM-`);
# the negatives whose second decode wrote digits were sentences of 6 and more (`A new car derived in
# Penn Bay.` -> `The new card arrived in 10 days.`), and a keyword sentence "My email is John." is 4.
# Two words stand for one number in the keep rule (asr_worker.digits.MAX_REPLACED); one more
# for a word between two groups ("and").
MAX_UNREAD_WORDS = 3


class Redactor:
    """Redaction of one session's transcripts for ``kinds`` (see :mod:`.policy`)."""

    def __init__(self, kinds: tuple[str, ...], *, hold_gap: int, state: dict | None = None) -> None:
        self.kinds = kinds
        self.hold_gap = hold_gap
        self.context = Context()
        self.counts: dict[str, int] = {}
        self.held: list[Transcript] = []
        self.held_names: list[frozenset[int]] = []  # per held final: its words that are a name
        self.held_whole: list[str | None] = []  # per held final: the entity it is redacted whole as, if so
        self.held_heard: list[list[Span]] = []  # per held final: its words a refused digits decode read as a number
        # The end (a sample) of the last final when that final ended in a number; None otherwise.
        self.number_end: int | None = None
        # The entity the number the last released final ended with was redacted as (None: it
        # ended in no redacted number), and the one the held finals go on with.
        self.number_entity: str | None = None
        self.continues: str | None = None
        if state:
            self.context = Context.from_dict(state.get("context", {}))
            self.counts = {str(k): int(v) for k, v in state.get("counts", {}).items()}
            end = state.get("number_end")
            self.number_end = None if end is None else int(end)
            entity = state.get("number_entity")
            self.number_entity = None if entity is None else str(entity)

    @property
    def holding(self) -> bool:
        return bool(self.held)

    def state(self) -> dict:
        """What a checkpoint saves (only while nothing is held)."""
        if self.held:
            raise RuntimeError("the redactor holds finals: no checkpoint now")
        return {"context": self.context.to_dict(), "counts": dict(self.counts), "number_end": self.number_end,
                "number_entity": self.number_entity}

    def number_passage(self, start: int) -> bool:
        """Whether speech starting at ``start`` (a sample) may be a card number's or an SSN's piece:
        the session redacts them (cards: ``pci`` or ``numbers``; SSNs: ``ssn`` or ``pii``), and a
        keyword's context of theirs holds there (past the held finals' words too), or the last final
        ended in a number no more than ``hold_gap`` samples before (the next group of digits read
        across finals). Reads the state only."""
        cards, ssns = _number_kinds(self.kinds)
        if not (cards or ssns):
            return False
        if self.number_end is not None and 0 <= start - self.number_end <= self.hold_gap:
            return True
        return self._keyword_entity() is not None

    def _keyword_entity(self) -> str | None:
        """The entity whose keyword's context holds past the held finals' words ("CREDIT_CARD" or
        "SSN", of the session's kinds; the later keyword's when both hold); None when neither does."""
        cards, ssns = _number_kinds(self.kinds)
        context = self._context_ahead()
        card, ssn = context.card if cards else 0, context.ssn if ssns else 0
        if not (card or ssn):
            return None
        return "CREDIT_CARD" if card >= ssn else "SSN"  # more words left: the later keyword

    def _context_ahead(self) -> Context:
        """The context past the held finals' words, as it will stand once they are released (a timer
        may do it any time); a copy."""
        context = Context(**self.context.to_dict())
        if self.held:
            tokens, _, starts = _joined(self.held)
            spans = detect([t[0] for t in tokens], self.kinds, context, breaks=frozenset(starts))
            _card_read(context, spans, len(tokens))
        return context

    def _whole(self, transcript: Transcript) -> str | None:
        """The entity a final told ``unread_number`` is redacted whole as, or a partial masked whole
        (see the module's docstring): a short text with no number in a card or SSN keyword's
        context; None: it is read as any other."""
        said = once(words(transcript.text))
        if not said or len(said) > MAX_UNREAD_WORDS or runs(transcript.text.split()):
            return None
        return self._keyword_entity()

    def _heard(self, transcript: Transcript, second: str) -> list[Span]:
        """The spans (over its own words) of a final whose refused digits decode wrote ``second``: the
        words in place of which that decode wrote a number the rules mask, read in the context that
        holds for the final (:mod:`.reread`), as the entity they mask it as."""
        said = second.split()
        masked: dict[int, str] = {}
        for span in detect(said, self.kinds, self._context_ahead()):
            if span.entity in NUMBER_SPANS:
                masked.update((i, span.entity) for i in range(span.first, span.last + 1))
        return [Span(mine[0], mine[-1], entities[0]) for mine, theirs in replaced(words_of(transcript), said)
                if (entities := [masked[j] for j in theirs if j in masked])]

    def final(self, transcript: Transcript, *, names: frozenset[int] = frozenset(),
              unread_number: str = "") -> list[Transcript]:
        """Take a final in; return the finals redacted and due now, in order (maybe none).

        ``names``: the indices of its words (:func:`words_of`) that are a person's name.
        ``unread_number``: the text of its second decode with the digits prompt when that wrote
        digits that were not kept (the step ``digits`` of the engine's ``Hypothesis.steps``:
        "refused"; ``Hypothesis.retried``); "" when there was none."""
        # (Both from the state before it.)
        whole = self._whole(transcript) if unread_number else None
        heard = self._heard(transcript, unread_number) if unread_number and whole is None else []
        out = self.speech_start(transcript.start)
        if not transcript.text.strip():
            return [*out, *self.release(), transcript]
        if self.held and not _starts_with_number(transcript):
            # Nothing here goes on with their number, but its first words are the words after it:
            # a keyword there gives it context ("... 4111." / "That was my card."). All of them after a
            # number heard as other words: whether a number begins this final is read from the whole
            # ("Sorry, 4 game and 1 game and 2 2 8" is digits read by its end, after "4 even 1 peaks and").
            after = [t[0] for t in _tokens(transcript)]
            read_whole = _spelled_tail(self.held[-1]) or _short_spelling(self.held[-1])
            if not (read_whole and self._spelling_goes_on(transcript) and self._tail_unread(after)):
                out += self.release(after=after if read_whole else after[:LOOKAHEAD])
        if not self.held:
            # A final that starts with a number right after one that ended in a redacted number
            # (released: too many held, or a whole card already) goes on with it, whatever its length.
            self.continues = self.number_entity if (
                self.number_end is not None and 0 <= transcript.start - self.number_end <= self.hold_gap
                and _starts_with_number(transcript)) else None
        self.held.append(transcript)
        self.held_names.append(names)
        self.held_whole.append(whole)
        self.held_heard.append(heard)
        self.number_end = transcript.end if _ends_in_number(transcript) else None
        # Numbers alone need no look at the next final: every numeral goes anyway; nor does a number
        # that is a whole card already (what follows would not make its pieces any less a card).
        if (len(self.held) < MAX_HELD and set(self.kinds) - {"numbers"} and _trailing_digits(self.held) < CARD_DIGITS
                and (_ends_in_number(transcript) or FAIL_CLOSED & set(self.kinds)
                     and (_ends_in_spelling(transcript) or _short_spelling(transcript)
                          or _ends_in_five_heard(transcript) or _spelled_tail(transcript)))):
            return out
        return [*out, *self.release()]

    def _spelling_goes_on(self, transcript: Transcript) -> bool:
        """Whether ``transcript``, after held finals that end in a number heard as other words, ends so too (or is
        short and says a digit's word): the caller is still reading, garbled, and all of them are held and read
        with the final after (within :data:`MAX_HELD`). "for even one piece and" / "Sorry for him and one came and
        I'm too too late." / "and five, five, three, nine, ..." for "Four seven one six, and," / "sorry, four seven
        one seven, and two two oh eight," / "and five five three nine, ...": the second's own number begins too late
        in it to reach the first, but the third's reaches the second, and through it the first (tiny.en over
        mu-law, held-out-37)."""
        return bool(FAIL_CLOSED & set(self.kinds)) and len(self.held) + 1 < MAX_HELD \
            and (_spelled_tail(transcript) or _short_spelling(transcript))

    def _tail_unread(self, after: list[str]) -> bool:
        """Whether digits' words or homophones of the number heard as other words that the last held final ends
        with would go out in clear if the held finals were read now with the words ``after`` them (a copy of the
        context; the state is unchanged). Read in full, "Four seven one six, and," is masked and goes now."""
        tokens, _, starts = _joined(self.held)
        texts = [t[0] for t in tokens]
        covered = {i for span in self._read_ahead(texts, frozenset(starts), after)
                   for i in range(span.first, span.last + 1)}
        own = texts[starts[-1]:]
        tail = spelled_tail(own)
        tail = spelled_opening(own) if tail is None else tail
        first = starts[-1] + (tail or 0)  # (a short final that says a digit: all of it)
        return any(i not in covered and (core(texts[i]) in DIGIT_SPELLINGS or numeric(texts[i:i + 1])[0])
                   for i in range(first, len(texts)))

    def _read_ahead(self, texts: list[str], breaks: frozenset[int], after: list[str], *,
                    names: frozenset[int] = frozenset()) -> list[Span]:
        """The spans of the held finals' words ``texts`` (``breaks``: where each begins) read with the words
        ``after`` them, which begin a final (a number the held ones end with is no quantity of theirs), on a copy
        of the context; clipped to ``texts``."""
        return [Span(s.first, min(s.last, len(texts) - 1), s.entity)
                for s in detect(texts + after, self.kinds, Context(**self.context.to_dict()), names=names,
                                breaks=breaks | {len(texts)}, continues=self.continues)
                if s.first < len(texts)]

    def speech_start(self, start: int) -> list[Transcript]:
        """Speech starts at ``start``: held finals that ended too long before go out."""
        if self.held and start - self.held[-1].end > self.hold_gap:
            return self.release()
        return []

    def release(self, *, after: list[str] | None = None) -> list[Transcript]:
        """Redact and return every held final (a flush, the end, the timeout, the next final).

        ``after``: the first words of the final that comes next, read as the words after the held
        ones (a keyword there gives their numbers context) but neither redacted here nor moving the
        carried context past them (the next final's own reading does that).
        """
        held, self.held = self.held, []
        held_names, self.held_names = self.held_names, []
        held_whole, self.held_whole = self.held_whole, []
        held_heard, self.held_heard = self.held_heard, []
        if not held:
            return []
        tokens, owners, starts = _joined(held)
        breaks = frozenset(starts)  # where each held final's words begin
        found = frozenset(start + i for start, names in zip(starts, held_names) for i in names)
        texts = [t[0] for t in tokens]
        for n, start in enumerate(starts[1:], 1):
            if _ends_in_five_heard(held[n - 1]) and _starts_with_digits(held[n]):
                # (The number goes on in the next final: the "times" it ended with was a five.)
                texts[start - 1] = re.sub(r"[A-Za-z]+", "five", texts[start - 1], count=1)
        if after:
            spans = self._read_ahead(texts, breaks, after, names=found)
            detect(texts, self.kinds, self.context)  # the context moves past the held words only
        else:
            spans = detect(texts, self.kinds, self.context, names=found, breaks=breaks, continues=self.continues)
        for n, entity in enumerate(held_whole):
            if entity is not None:  # one span over the final's words, whatever the rules found in them
                first, last = starts[n], (starts[n + 1] if n + 1 < len(starts) else len(texts)) - 1
                # (A span that crosses into it keeps its part outside: "one two three" + "For I'm...".)
                outside = [*(Span(s.first, min(s.last, first - 1), s.entity) for s in spans if s.first < first),
                           *(Span(max(s.first, last + 1), s.last, s.entity) for s in spans if s.last > last)]
                spans = sorted(outside + [Span(first, last, entity)], key=lambda s: s.first)
        _card_read(self.context, spans, len(texts))
        # (After the card's context is carried: a number only a refused decode heard is no sign that the
        # caller reads a card; the digits prompt loops on speech too, `1, 2, 3, 4, 1, 1, 1, ...`.)
        for start, heard in zip(starts, held_heard):
            for span in heard:
                spans = _covered(spans, Span(start + span.first, start + span.last, span.entity))
        ending = [s.entity for s in spans if s.last == len(texts) - 1] if _ends_in_number(held[-1]) else []
        self.number_entity = ending[0] if ending else None
        self.continues = None
        labels = {}
        for span in spans:
            self.counts[span.entity] = self.counts.get(span.entity, 0) + 1
            labels[span] = f"[{span.entity}_{self.counts[span.entity]}]"
        out = []
        for n, transcript in enumerate(held):
            mine = [i for i, owner in enumerate(owners) if owner == n]
            out.append(_apply(transcript, tokens, mine, spans, labels))
        return out

    def partial(self, transcript: Transcript, *, names: frozenset[int] = frozenset()) -> Transcript:
        """``transcript`` (a partial) with every number and entity masked; the state is unchanged.

        ``names``: as for :meth:`final`."""
        tokens = _tokens(transcript)
        if tokens and self._whole(transcript) is not None:  # its final may come out redacted whole
            whole = Span(0, len(tokens) - 1, "NUMBER")
            return _apply(transcript, tokens, list(range(len(tokens))), [whole], {whole: MASK}, spans_out=False)
        spans = detect([t[0] for t in tokens], (*self.kinds, "numbers"), Context(**self.context.to_dict()),
                       names=names)
        # A token with a digit that no rule read as a number ("123-45-bic-thousand", a word the
        # recogniser has not finished) is masked too: a partial shows no digit at all.
        covered = {i for span in spans for i in range(span.first, span.last + 1)}
        spans += [Span(i, i, "NUMBER") for i, token in enumerate(tokens)
                  if i not in covered and any(c.isdigit() for c in token[0])]
        spans.sort(key=lambda span: span.first)
        if not spans:
            return transcript
        return _apply(transcript, tokens, list(range(len(tokens))), spans, {s: MASK for s in spans},
                      spans_out=False)


Token = tuple[str, int, int, float]  # text, start, end, probability


def words_of(transcript: Transcript) -> list[str]:
    """The words the redactor reads ``transcript`` as (those ``names`` indices count)."""
    return [t[0] for t in _tokens(transcript)]


def _tokens(transcript: Transcript) -> list[Token]:
    if transcript.words:
        return [(w.text.strip(), w.start, w.end, w.probability) for w in transcript.words if w.text.strip()]
    return [(t, transcript.start, transcript.end, 1.0) for t in transcript.text.split()]


def _number_kinds(kinds: tuple[str, ...]) -> tuple[bool, bool]:
    """Whether a session of ``kinds`` redacts card numbers (``pci`` or ``numbers``), and SSNs (``ssn`` or ``pii``)."""
    return bool({"pci", "numbers"} & set(kinds)), bool({"ssn", "pii"} & set(kinds))


def _joined(held: list[Transcript]) -> tuple[list[Token], list[int], list[int]]:
    """The tokens of ``held`` read as one text, the held final each is of (its index), and where
    each final's tokens begin."""
    tokens: list[Token] = []
    owners: list[int] = []
    starts: list[int] = []
    for n, transcript in enumerate(held):
        starts.append(len(tokens))
        for token in _tokens(transcript):
            tokens.append(token)
            owners.append(n)
    return tokens, owners, starts


def _card_read(context: Context, spans: list[Span], length: int) -> None:
    """A card number read (``spans`` of a text of ``length`` tokens) is a card's context for the words
    after it, as a card keyword is: the caller goes on with the card. Its keyword misheard (`My car
    doesn't burn me.`), `4012` / `88888` / `88888` go out as a whole card number, and the group read
    after them, `1 8 8 1`, is a piece of it. The context is the number's then, no longer a security
    code's or an expiry's (:func:`.detect._after_code`: "I waited for 7 minutes." after a code read)."""
    for span in spans:
        left = CONTEXT_WORDS - (length - 1 - span.last)
        if span.entity == "CREDIT_CARD" and left > context.card:
            context.card, context.code, context.expiry = left, False, False


def _covered(spans: list[Span], extra: Span) -> list[Span]:
    """``spans`` with ``extra`` masked too: the spans it meets become one with it, under the rules'
    entity (theirs is read from the final's own words; ``extra``'s from another decode's)."""
    met = [s for s in spans if s.first <= extra.last and s.last >= extra.first]
    if met:
        extra = Span(min(extra.first, met[0].first), max(extra.last, *(s.last for s in met)), met[0].entity)
    return sorted([s for s in spans if s not in met] + [extra], key=lambda s: s.first)


def _trailing_digits(held: list[Transcript]) -> int:
    """Digits of the number the held finals end with (read across them)."""
    tokens = [t[0] for transcript in held for t in _tokens(transcript)]
    found = runs(tokens)
    return len(found[-1].digits) if found and found[-1].last == len(tokens) - 1 else 0


def _ends_in_number(transcript: Transcript) -> bool:
    """It ends in a number, or says nothing but digits' words ("Oh.", "too.": a digit of a number
    read over finals, alone)."""
    tokens = [t[0] for t in _tokens(transcript)]
    return bool(tokens) and (numeric(tokens)[-1] or all(core(t) in DIGIT_SPELLINGS for t in tokens))


def _ends_in_spelling(transcript: Transcript) -> bool:
    """Its last word alone says a digit, a homophone included ("pre-payment it to" / "2, 2, 4" for
    "eight two two four"): the number may go on in the next final, where a homophone before digits
    read one by one is one of them."""
    tokens = [t[0] for t in _tokens(transcript)]
    return bool(tokens) and core(tokens[-1]) in DIGIT_SPELLINGS


def _short_spelling(transcript: Transcript) -> bool:
    """It is short (:data:`.detect.SHORT_FINAL` words) and says a digit's word or homophone ("free lemon"
    for "three seven"): held, a number the next final begins with reads it as its lead."""
    return short_spelling([core(t[0]) for t in _tokens(transcript)])


def _spelled_tail(transcript: Transcript) -> bool:
    """It ends in a number heard as other words (:func:`.detect.spelled_tail`: "for even one piece and"), or one
    begins after "it's" in its unfinished sentence (:func:`.detect.spelled_opening`: "It's four time, I'm big
    Sorry"): held, a number the next final begins with masks those words too."""
    words = [t[0] for t in _tokens(transcript)]
    return spelled_tail(words) is not None or spelled_opening(words) is not None


def _ends_in_five_heard(transcript: Transcript) -> bool:
    """It ends in a number and "time(s)": a card's group whose five the recogniser heard as "times"
    ("It's a means for 48 times." for "It's a Visa. Four four eight five,"; held-out-16), as it
    writes "five five" "time time". Held: read as a five when the next final goes on with digits."""
    tokens = [t[0] for t in _tokens(transcript)]
    return len(tokens) >= 2 and core(tokens[-1]) in ("time", "times") \
        and (numeric(tokens)[-2] or core(tokens[-2]) in DIGIT_SPELLINGS)


def _starts_with_digits(transcript: Transcript) -> bool:
    """It starts with a number of 3 digits or more or with digits read one by one ("0 9 12 3", "2, 4,
    1."): a card's next groups, not a count ("2 days later")."""
    tokens = [t[0] for t in _tokens(transcript)]
    found = runs(tokens)
    return bool(found) and found[0].first == 0 and (len(found[0].digits) >= 3 or found[0].last > 0)


def _starts_with_number(transcript: Transcript) -> bool:
    """It starts with a number or a word that alone says a digit ("for the 11." for "forty one, eleven")."""
    tokens = [t[0] for t in _tokens(transcript)]
    return bool(tokens) and (numeric(tokens)[0] or core(tokens[0]) in DIGIT_SPELLINGS)


def _apply(transcript: Transcript, tokens: list[Token], mine: list[int], spans: list[Span],
           labels: dict[Span, str], *, spans_out: bool = True) -> Transcript:
    """``transcript`` (whose tokens are ``tokens[i]`` for i in ``mine``) with the spans replaced."""
    if not mine:
        return transcript
    lo, hi = mine[0], mine[-1]
    cover: dict[int, Span] = {}
    for covering in spans:
        for i in range(max(covering.first, lo), min(covering.last, hi) + 1):
            cover[i] = covering
    if not cover:
        return transcript
    texts: list[str] = []
    words: list[TimedWord] = []
    redacted: list[Redacted] = []
    i = lo
    while i <= hi:
        span = cover.get(i)
        if span is None:
            text, start, end, probability = tokens[i]
            texts.append(text)
            words.append(TimedWord(text, start, end, probability))
            i += 1
            continue
        j = i
        while j + 1 <= hi and cover.get(j + 1) is span:
            j += 1
        last_text = tokens[j][0]
        trail = last_text[len(last_text.rstrip(_TRAILING)):]
        label = labels[span]
        start, end = tokens[i][1], max(t[2] for t in tokens[i:j + 1])
        texts.append(label + trail)
        words.append(TimedWord(label + trail, start, end, min(t[3] for t in tokens[i:j + 1])))
        redacted.append(Redacted(span.entity, label, start, end))
        i = j + 1
    return replace(transcript, text=" ".join(texts), words=tuple(words) if transcript.words else (),
                   redactions=tuple(redacted) if spans_out else ())

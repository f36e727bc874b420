"""A turn-taking set: two parties trading short replies and longer sentences, each reply's span known.

Issue 47 found short replies ("Hi.", "Yes.", a lone number, a name) merged into the next sentence
or lost. Each item is a short call of :data:`TURNS` turns in two espeak-ng voices, pauses drawn
from :data:`GAPS`, everything drawn from the item's seed (the same audio on every run and box), and
each :class:`Turn` knows its speech's exact span, so a check can ask "is this reply a final of its
own within 0.3 s of where it was said". Renderings: ``mono``, ``mulaw`` and ``stereo`` (each party
on its own channel, the other leaking in at ``crosstalk``). The set is split into ``tune``,
``heldout`` (other seeds and voices), then ``fresh``, ``spare``, ``reserve``, ``extra`` and ``more``
(other voices and words each time, each written before a change was measured on it): tune on the parts already seen
and measure the newest held-back part once, at the end, so that its figures say how a change does
on calls it was not fitted to.

    from tests.kit import turns
    for item in turns.items(part="tune", rate=16000):
        item.audio, item.rate, item.replies, item.transcript
    heard = turns.replies(item, finals, stereo=False)  # finals: turns.Final, as a door gave them

:mod:`tests.kit.turn_doors` streams an item through the gateway's doors (issue 47's test, ``bench.turns``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .mixes import speak, speech_span
from .support import normalise

RATE = 16_000
PHONE_RATE = 8_000
FORMS = ("mono", "mulaw", "stereo")
TUNE_SEEDS = range(0, 1000)  # an item's seed says which part it is in
HELDOUT_SEEDS = range(1000, 2000)
# The heldout part was measured often enough while the short turns were worked on (issue 47) that
# it no longer says how a change does on calls it was not fitted to: ``fresh`` holds other voices
# and other words, written before any change was measured on it; measure it once, at the end.
FRESH_SEEDS = range(2000, 3000)
# ``fresh`` was then measured and its misses studied, so ``spare`` holds other voices and words
# again, written before any change was measured on it: measure it once, at the end.
SPARE_SEEDS = range(3000, 4000)
# ``spare`` was measured once too, and its misses studied: ``reserve`` holds other voices and words
# again, written before any change was measured on it: measure it once, at the end.
RESERVE_SEEDS = range(4000, 5000)
# ``reserve`` was measured once (2026-11-26) and its misses studied: ``extra`` holds other voices and
# words again, written before the code it was first measured on was changed: measure it once, at the end.
EXTRA_SEEDS = range(5000, 6000)
# ``extra`` was measured once (2026-11-26, at 6e19e98) and its misses studied: ``more`` holds other
# voices and words again, written before the change made for what ``extra`` showed (b4c9b5e) was
# measured on anything but ``extra``.
MORE_SEEDS = range(6000, 7000)
TUNE_VOICES = (("en-us+m3", "en+f3"), ("en-gb", "en-us+f2"), ("en-us+m1", "en-gb+f4"))
HELDOUT_VOICES = (("en-gb-scotland", "en-us+f1"), ("en-029+m2", "en-gb-x-rp+f3"))
FRESH_VOICES = (("en-gb-x-gbclan+m4", "en-us+f4"), ("en-gb-x-gbcwmd+m6", "en-us+f5"))
SPARE_VOICES = (("en-us-nyc+m2", "en-gb+f1"), ("en-gb-x-rp+m5", "en-029+f2"))
RESERVE_VOICES = (("en-029+m4", "en-gb-x-gbcwmd+f4"), ("en-us-nyc+m7", "en-gb-scotland+f2"))
EXTRA_VOICES = (("en-gb-x-gbclan+f2", "en-us+m6"), ("en-us-nyc+f3", "en-gb-x-rp+m7"))
MORE_VOICES = (("en-us+m4", "en-gb-x-rp+f1"), ("en-gb-x-gbclan+m2", "en-029+f5"))
ITEMS = 12  # items per part by default
TURNS = 8  # turns per item
GAPS = (0.3, 0.7)  # s of silence between turns
LEAD, TAIL = 0.5, 1.5  # s of silence before the first turn and after the last (past the VAD's 0.8 s)
CROSSTALK = 0.03  # the other party's level on a party's channel (-30 dB: an echo a canceller left)
SHORT_AFTER_LONG = 0.75  # chance that a long turn is answered by a short reply
SLACK = 0.3  # s: how far a reply's final may start or end from its speech (issue 47)
TAKES_IN = 0.2  # s: overlap of a final's span with a turn's speech that puts the turn in the final

# One- and two-word replies: the greetings and acknowledgements turn-taking is made of, lone
# numbers and names.
SHORT = ("Hi.", "Yes.", "No.", "Okay.", "Thank you.", "Sure.", "Hello.", "Right.", "Great.", "Thanks.",
         "Seven.", "Three.", "Twelve.", "Forty two.", "Maria.", "David.", "Priya.", "Robert Brown.")
# The fresh part's replies and sentences: none of them in the other parts.
FRESH_SHORT = ("Yeah.", "Correct.", "Nope.", "Perfect.", "Fine.", "Nine.", "Sixty.", "Eighteen.",
               "Laura.", "James.", "Kevin Smith.", "Got it.", "Exactly.", "Of course.")
FRESH_LONG = ("Good morning, you are through to the billing team.",
              "Can you confirm the first line of your address?",
              "I moved house at the start of the year.",
              "The engineer never turned up on Tuesday.",
              "I will send you a text message with the details.",
              "Do you want me to cancel the second order?",
              "My card was declined when I tried to pay online.",
              "We can offer you a discount on next month's bill.",
              "The parcel says it was delivered but I never got it.",
              "Please hold the line while I transfer you.")
# The spare part's: none of them in the other parts.
SPARE_SHORT = ("Alright.", "Definitely.", "Not yet.", "Sounds good.", "Eleven.", "Four.", "Fifteen.", "Ninety.",
               "Sarah.", "Tom.", "Anna Lee.", "Maybe.", "Cheers.", "Go ahead.")
SPARE_LONG = ("Hello, this is the returns desk, what seems to be the problem?",
              "The screen cracked after only three days.",
              "Could you read me the reference on the email?",
              "I have been on hold for nearly an hour.",
              "We will collect the old boiler on Monday morning.",
              "Is the account in your name or your partner's?",
              "The direct debit went out twice this month.",
              "I can book you a callback for tomorrow afternoon.",
              "She said someone would ring me back, but nobody did.",
              "Let me just check that with my supervisor.")
# The reserve part's: none of them in the other parts.
RESERVE_SHORT = ("Yep.", "Absolutely.", "Not really.", "That's right.", "Thirteen.", "Two.", "Eighty.", "Nineteen.",
                 "Peter.", "Emma.", "Lucy Chen.", "Please.", "Understood.", "Hang on.")
RESERVE_LONG = ("Good afternoon, you have reached the claims line.",
                "Can you spell your surname for me?",
                "The invoice was sent to my old email address.",
                "I have been charged a late fee that I did not expect.",
                "Your new card should arrive within a week.",
                "Would you like me to set up a payment plan?",
                "The internet keeps dropping out every evening.",
                "I will put a note on your account.",
                "My husband usually deals with the bills.",
                "Is there a reference number on the letter?")
# The extra part's: none of them in the other parts.
EXTRA_SHORT = ("Uh huh.", "Certainly.", "No thanks.", "Fair enough.", "Fourteen.", "Six.", "Seventy.", "Twenty one.",
               "Daniel.", "Grace.", "Omar Khan.", "Sorry?", "Lovely.", "One moment.")
EXTRA_LONG = ("Hi there, you are speaking with the accounts team.",
              "Could I take the postcode, please?",
              "My meter reading looks far too high this quarter.",
              "The technician said the router was faulty.",
              "I have cancelled the duplicate payment for you.",
              "Will I still get the loyalty discount?",
              "I never received the confirmation email.",
              "Your contract renews at the end of March.",
              "I need to change the date of my delivery.",
              "Is it alright if I put you on hold for a minute?")
# The more part's: none of them in the other parts.
MORE_SHORT = ("Mm hmm.", "Indeed.", "Not quite.", "Brilliant.", "Sixteen.", "Eight.", "Fifty.", "Thirty five.",
              "Michael.", "Sophie.", "Raj Patel.", "Pardon?", "Wonderful.", "Sure thing.")
MORE_LONG = ("Morning, this is the customer care line, how can I help?",
             "Could you confirm your date of birth for me?",
             "The washing machine leaked all over the kitchen floor.",
             "I was promised a call back yesterday but nobody rang.",
             "I can see two payments went out on the same day.",
             "Would you prefer the refund to your card or your account?",
             "My neighbour signed for the parcel while I was out.",
             "The app keeps logging me out every few minutes.",
             "I would like to upgrade to the unlimited plan.",
             "Let me put you through to the right department.")
# Longer sentences, an agent's and a caller's.
LONG = ("Thanks for calling the store, how can I help you today?",
        "Can I have the name on the account, please?",
        "I have updated the address for you.",
        "Is there anything else I can help you with?",
        "I would like to check the balance of my account.",
        "My order has not arrived yet and it has been two weeks.",
        "Could you tell me how many items are in the order?",
        "Let me look that up for you, it will take a moment.",
        "I was charged twice for the same delivery last month.",
        "Your refund will be processed within five working days.",
        "Which day would suit you best for the engineer to visit?",
        "I am calling about the letter you sent me on Friday.")


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn: who said what, and its speech's first and last sample (end exclusive) at the
    rendering's rate."""

    party: int  # 0 or 1: the channel it is on in a stereo rendering
    text: str
    start: int
    end: int
    short: bool  # a one- or two-word reply

    def seconds(self, rate: int) -> tuple[float, float]:
        return self.start / rate, self.end / rate


@dataclass(frozen=True)
class Item:
    """One call of the set, rendered."""

    name: str  # "tune-0003": part and seed
    part: str
    seed: int
    voices: tuple[str, str]
    form: str
    rate: int
    audio: np.ndarray | bytes  # float32 (samples,) or (samples, 2); μ-law bytes for ``mulaw``
    turns: tuple[Turn, ...]

    @property
    def replies(self) -> tuple[Turn, ...]:
        """The short turns, in order."""
        return tuple(turn for turn in self.turns if turn.short)

    @property
    def transcript(self) -> str:
        return " ".join(turn.text for turn in self.turns)

    def party_transcript(self, party: int) -> str:
        return " ".join(turn.text for turn in self.turns if turn.party == party)


@dataclass(frozen=True)
class Script:
    """What an item's seed draws: the voices and each turn's party, text and the pause before it."""

    seed: int
    voices: tuple[str, str]
    turns: tuple[tuple[int, str, float], ...]  # (party, text, seconds of silence before it)


SEEDS = {"tune": TUNE_SEEDS, "heldout": HELDOUT_SEEDS, "fresh": FRESH_SEEDS, "spare": SPARE_SEEDS,
         "reserve": RESERVE_SEEDS, "extra": EXTRA_SEEDS, "more": MORE_SEEDS}
PARTS = tuple(SEEDS)  # in the order they were written
VOICES = {"tune": TUNE_VOICES, "heldout": HELDOUT_VOICES, "fresh": FRESH_VOICES, "spare": SPARE_VOICES,
          "reserve": RESERVE_VOICES, "extra": EXTRA_VOICES, "more": MORE_VOICES}
PHRASES = {"tune": (SHORT, LONG), "heldout": (SHORT, LONG), "fresh": (FRESH_SHORT, FRESH_LONG),
           "spare": (SPARE_SHORT, SPARE_LONG), "reserve": (RESERVE_SHORT, RESERVE_LONG),
           "extra": (EXTRA_SHORT, EXTRA_LONG), "more": (MORE_SHORT, MORE_LONG)}


def part_of(seed: int) -> str:
    """The part (:data:`PARTS`) a seed belongs to."""
    for part, seeds in SEEDS.items():
        if seed in seeds:
            return part
    raise ValueError(f"seed {seed} is in no part ({', '.join(f'{s} {p}' for p, s in SEEDS.items())})")


def script(seed: int, *, turns: int = TURNS) -> Script:
    """The call that ``seed`` draws (its voices from its part's)."""
    part = part_of(seed)
    rng = np.random.default_rng(seed)
    pairs = VOICES[part]
    replies, sentences = PHRASES[part]
    voices = pairs[int(rng.integers(len(pairs)))]
    if rng.random() < 0.5:
        voices = (voices[1], voices[0])
    drawn: list[tuple[int, str, float]] = []
    party = int(rng.integers(2))
    short = rng.random() < 0.5  # half the calls open with a greeting or a short answer
    for index in range(turns):
        # A sentence once a call, a reply never twice in a row: a repeat must be the service's.
        said = {text for _, text, _ in drawn}
        choices = [text for text in sentences if text not in said] if not short else \
            [text for text in replies if not drawn or text != drawn[-1][1]]
        text = str(rng.choice(choices))
        pause = LEAD if index == 0 else float(rng.uniform(*GAPS))
        drawn.append((party, text, pause))
        party = 1 - party
        # A long turn is mostly answered by a short reply; after a short one a long turn follows
        # mostly, sometimes another short one ("Thank you." "Sure.").
        short = rng.random() < SHORT_AFTER_LONG if not short else rng.random() < 0.2
    return Script(seed, voices, tuple(drawn))


@functools.lru_cache(maxsize=512)
def _voiced(voice: str, text: str) -> tuple[np.ndarray, int, int]:
    """``text`` in ``voice`` at 16 kHz, and its speech's span within the samples."""
    samples = speak(voice, text)
    first, last = speech_span(samples)
    return samples, first, last


def tracks(seed: int, *, turns: int = TURNS) -> tuple[np.ndarray, tuple[Turn, ...], Script]:
    """Each party's own track at 16 kHz (float32, shape ``(samples, 2)``), the turns with their
    spans at 16 kHz, and the script."""
    drawn = script(seed, turns=turns)
    pieces = []
    cursor = 0
    timeline: list[Turn] = []
    for party, text, pause in drawn.turns:
        samples, first, last = _voiced(drawn.voices[party], text)
        # The pause is silence between the end of one turn's speech and the start of the next's.
        start = cursor + int(pause * RATE) - first
        pieces.append((party, start, samples))
        timeline.append(Turn(party, text, start + first, start + last, text in PHRASES[part_of(seed)][0]))
        cursor = start + last
    audio = np.zeros((cursor + int(TAIL * RATE), 2), np.float32)
    for party, start, samples in pieces:
        audio[start:start + len(samples), party] += samples
    return audio, tuple(timeline), drawn


def render(seed: int, *, form: str = "mono", rate: int = RATE, crosstalk: float = CROSSTALK,
           turns: int = TURNS) -> Item:
    """Item ``seed`` as ``form`` (:data:`FORMS`) at ``rate`` (16000 or 8000; ``mulaw``: 8000)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, not {form!r}")
    if form == "mulaw":
        rate = PHONE_RATE
    if rate not in (RATE, PHONE_RATE):
        raise ValueError(f"rate must be {RATE} or {PHONE_RATE}, not {rate}")
    both, timeline, drawn = tracks(seed, turns=turns)
    samples = both + crosstalk * both[:, ::-1] if form == "stereo" else both.sum(axis=1)
    if rate != RATE:
        import soxr

        samples = soxr.resample(samples, RATE, rate).astype(np.float32)
        timeline = tuple(Turn(t.party, t.text, t.start * rate // RATE, -(-t.end * rate // RATE), t.short)
                         for t in timeline)
    audio: np.ndarray | bytes = samples
    if form == "mulaw":
        from .telephony import mulaw_encode

        audio = mulaw_encode(samples)
    part = part_of(seed)
    return Item(f"{part}-{seed:04d}", part, seed, drawn.voices, form, rate, audio, timeline)


def seeds(part: str = "tune", *, count: int = ITEMS) -> Sequence[int]:
    """The first ``count`` seeds of ``part``."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    chosen = SEEDS[part]
    if not 0 < count <= len(chosen):
        raise ValueError(f"count must be 1 to {len(chosen)}, not {count}")
    return chosen[:count]


def items(part: str = "tune", *, rate: int = RATE, form: str = "mono", count: int = ITEMS,
          crosstalk: float = CROSSTALK) -> list[Item]:
    """The first ``count`` items of ``part`` (``tune``; ``heldout`` only for the final figures),
    rendered as ``form`` at ``rate``."""
    return [render(seed, form=form, rate=rate, crosstalk=crosstalk) for seed in seeds(part, count=count)]


# -- how a session's finals took in the replies (pure: bench/tests/test_turns.py) -------------------


@dataclass(frozen=True)
class Final:
    """A final as a door gave it: its channel, span (s of the call's audio) and text."""

    channel: int
    start: float
    end: float
    text: str


@dataclass
class Replies:
    """How one session's finals took in its item's short replies."""

    replies: int = 0
    own_close: int = 0  # a final of its own, within :data:`SLACK` at both ends
    own: int = 0  # a final of its own
    merged: int = 0  # only in finals that take in another turn too
    lost: int = 0  # in no final
    missed: list[str] = field(default_factory=list)  # "item: reply at start-end s merged|lost"


def takes_in(final: Final, start: float, end: float) -> bool:
    """Whether ``final``'s span overlaps the speech ``start``-``end`` by more than :data:`TAKES_IN`
    (or covers all of it, for a reply shorter than that)."""
    overlap = min(final.end, end) - max(final.start, start)
    return overlap > min(TAKES_IN, (end - start) / 2)


def spoken(finals: Sequence[Final]) -> list[Final]:
    """The finals with words."""
    return [final for final in finals if normalise(final.text)]


def replies(item: Item, finals: Sequence[Final], *, stereo: bool) -> Replies:
    """Each reply of ``item`` against the ``finals`` with words it got (with ``stereo``, a party's
    replies against its own channel's finals)."""
    heard = Replies()
    said = spoken(finals)
    for reply in item.replies:
        mine = [f for f in said if f.channel == reply.party] if stereo else said
        others = [turn.seconds(item.rate) for turn in item.turns
                  if turn is not reply and (not stereo or turn.party == reply.party)]
        start, end = reply.seconds(item.rate)
        taking = [final for final in mine if takes_in(final, start, end)]
        alone = [final for final in taking if not any(takes_in(final, *other) for other in others)]
        heard.replies += 1
        if any(abs(f.start - start) <= SLACK and abs(f.end - end) <= SLACK for f in alone):
            heard.own_close += 1
        if alone:
            heard.own += 1
        elif taking:
            heard.merged += 1
            heard.missed.append(f"{item.name}: {reply.text!r} at {start:.2f}-{end:.2f} s merged")
        else:
            heard.lost += 1
            heard.missed.append(f"{item.name}: {reply.text!r} at {start:.2f}-{end:.2f} s lost")
    return heard

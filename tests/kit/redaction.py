"""Synthesised calls with labelled entities for redaction: the evaluation set and the e2e test's call.

Each piece of a call is spoken by ``espeak-ng`` (several voices, at run time: the set is
these scripts, not audio files) and pieces are joined with silences, so that one number
read in groups becomes several finals. A piece's label says what it holds: an entity a
kind must redact (``pci``, ``ssn``, ``pii``) with the digits or words that must not
survive, or a negative (``amount``, ``time``, ``order``, ``date``) that ``pci``/``ssn``
must leave alone.

Not here: pieces that make whisper tiny.en loop. A card number read digit by digit in one
breath ("four one one one, one one one one, ...") decodes for 50-70 s into a repetition
loop with every voice tried (en-us, en-gb, en-us+f3); the groups below are read as
separate short utterances instead, as callers read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .testdata import espeak

RATE = 16_000
VOICES = ("en-us", "en-gb", "en-us+f3")


@dataclass(frozen=True)
class CallPiece:
    """``text`` as spoken, then ``pause`` seconds of silence; ``label``: what it holds (``""``:
    nothing); ``entity``: the kind that must redact it, or the negative it is."""

    text: str
    pause: float = 1.2
    label: str = ""
    entity: str = ""  # pci, ssn, pii: the kind that must redact it; amount, time, order, date, place: a negative
    secret: tuple[str, ...] = ()  # words that must not survive (names, e-mails, addresses; else: no digit)
    part: bool = False  # goes on with the entity of the piece before (a number read in groups, one final each)


# The e2e test's call: a card read in one breath, an SSN, a card read in groups across finals.
# The groups' keyword is a sentence tiny.en hears whatever the cut: it heard "The other card is"
# as "They don't recover this", so the groups had no card context and a lone "4." stayed (a CI
# failure of test_deepgram_sdk_live_with_redact). The groups' joining is what this call tests.
CARD_CALL = (
    CallPiece("Hello, I would like to pay my bill."),
    CallPiece("My card number is 4111 1111 1111 1111.", label="card", entity="pci"),
    CallPiece("My social security number is 123-45-6789.", label="ssn", entity="ssn"),
    CallPiece("Here is my second credit card."),
    CallPiece("four one one one.", pause=1.0, label="card group", entity="pci"),
    CallPiece("four two four two.", pause=1.0, label="card group", entity="pci", part=True),
    CallPiece("Thank you very much.", pause=0.8),
)

# The e2e test's call for names (pii).
NAMES_CALL = (
    CallPiece("This is Maria Garcia calling about my bill."),
    CallPiece("Sure, it is Robert Brown.", pause=0.8),
)

# Groups read with "oh" for zero, as separate finals: the evaluation set's "card-words", and the
# e2e test's call for the digits prompt (whisper writes "eight eight eight eight." as words).
CARD_WORDS_CALL = (
    CallPiece("My card number is"),
    CallPiece("four oh one two.", pause=1.0, label="card", entity="pci"),
    CallPiece("eight eight eight eight.", pause=1.0, label="card", entity="pci", part=True),
    CallPiece("eight eight eight eight.", pause=1.0, label="card", entity="pci", part=True),
    CallPiece("one eight eight one.", label="card", entity="pci", part=True),
)

# The evaluation set: (call name, pieces). Each entity piece is scored on its own utterance, and each
# entity (its pieces: one, or a number read in groups) on the whole call's output.
CALLS = (
    ("card-runs", (
        CallPiece("My card number is 4111 1111 1111 1111.", label="card", entity="pci"),
        CallPiece("The card number is 5500 0000 0000 0004.", label="card", entity="pci"),
        CallPiece("It is 3782 822463 10005.", label="card", entity="pci"),
        CallPiece("Visa 4012 8888 8888 1881.", label="card", entity="pci"),
    )),
    ("card-groups", (
        CallPiece("My card number is"),
        CallPiece("four one one one.", pause=1.0, label="card", entity="pci"),
        CallPiece("four two four two.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("four two four two.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("four two four two.", label="card", entity="pci", part=True),
    )),
    ("card-words", CARD_WORDS_CALL),
    ("card-details", (
        CallPiece("My credit card expires 05/27.", label="expiry", entity="pci"),
        CallPiece("The security code is seven three one.", label="cvv", entity="pci"),
        CallPiece("The card expiry is May 2028.", label="expiry", entity="pci"),
    )),
    ("ssn", (
        CallPiece("My social security number is 123-45-6789.", label="ssn", entity="ssn"),
        CallPiece("My social security number is one two three, four five, six seven eight nine.", label="ssn",
              entity="ssn"),
        CallPiece("SSN 078-05-1120.", label="ssn", entity="ssn"),
    )),
    # An SSN read in its 3-2-4 groups, each a final of its own.
    ("ssn-groups", (
        CallPiece("My social security number is"),
        CallPiece("one two three.", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("four five.", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("six seven eight nine.", label="ssn", entity="ssn", part=True),
    )),
    ("pii", (
        CallPiece("You can call me on 555 867 5309.", label="phone", entity="pii"),
        CallPiece("My email is john.smith@example.com.", label="email", entity="pii"),
        CallPiece("I live at 42 Elm Street.", label="address", entity="pii"),
        CallPiece("My name is John Smith.", label="name", entity="pii", secret=("john", "smith")),
    )),
    # Names (the name model of pii) and sentences with capitalised words that are not names.
    ("names", (
        CallPiece("This is Maria Garcia calling about my bill.", label="name", entity="pii", secret=("maria", "garcia")),
        CallPiece("Can I speak to David Johnson, please?", label="name", entity="pii", secret=("david", "johnson")),
        CallPiece("Sure, it is Robert Brown.", label="name", entity="pii", secret=("robert", "brown")),
        CallPiece("Hi, I am Priya Patel from accounts.", label="name", entity="pii", secret=("priya", "patel")),
        CallPiece("Thanks Sarah, that is all.", label="name", entity="pii", secret=("sarah",)),
        CallPiece("I ordered it from Amazon on Monday.", label="place", entity="place"),
        CallPiece("I am calling from Boston about my order.", label="place", entity="place"),
        CallPiece("Thank you very much, have a nice day.", label="place", entity="place"),
    )),
    ("negatives", (
        CallPiece("The total is 25 dollars and 50 cents.", label="amount", entity="amount"),
        CallPiece("That will be 149 dollars.", label="amount", entity="amount"),
        CallPiece("The meeting is at 3:30 in the afternoon.", label="time", entity="time"),
        CallPiece("I will call back at 10 o'clock.", label="time", entity="time"),
        CallPiece("Your order number is 58213.", label="order", entity="order"),
        CallPiece("It was delivered on March 3, 2024.", label="date", entity="date"),
    )),
    # Issue 43's adversarial set: digits said in everyday ways, no keyword or a misheard one, a
    # number over finals with any count of digits. Redaction fails closed, so each must be masked
    # whatever the words around it. Every leak found later becomes a case here first.
    ("ssn-everyday", (
        CallPiece("My social is oh four two, seven seven, three oh nine five.", label="ssn", entity="ssn"),
        CallPiece("The last four of my social are 6789.", label="ssn", entity="ssn"),
    )),
    ("phone-split", (
        CallPiece("My phone number is two one two.", pause=1.0, label="phone", entity="pii"),
        CallPiece("five five oh one eight.", label="phone", entity="pii", part=True),
    )),
    ("card-no-keyword", (
        CallPiece("Okay, here it is."),
        CallPiece("four four four four.", pause=1.0, label="card", entity="pci"),
        CallPiece("one one one one.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("double five, double five.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("triple two, nine.", label="card", entity="pci", part=True),
    )),
    ("card-correction", (
        CallPiece("My card number is four one one one, no wait."),
        CallPiece("It's four oh one two.", pause=1.0, label="card", entity="pci"),
        CallPiece("eight eight eight eight.", label="card", entity="pci", part=True),
    )),
    ("account", (
        CallPiece("My account number is 7731942.", label="account", entity="pii"),
        CallPiece("It is seven seven three, one nine four two.", label="account", entity="pii"),
    )),
    ("everyday-negatives", (
        CallPiece("I ordered two items last week.", label="amount", entity="amount"),
        CallPiece("It costs $149.", label="amount", entity="amount"),
        CallPiece("The call was on March 3, 2024.", label="date", entity="date"),
        CallPiece("See you at 3 pm.", label="time", entity="time"),
    )),
    # Amounts and times where a card is talked about: not a security code.
    ("card-negatives", (
        CallPiece("Please charge 149 dollars to my Visa card.", label="amount", entity="amount"),
        CallPiece("My card was declined at 3:30 yesterday.", label="time", entity="time"),
        CallPiece("The new card arrives in 10 days.", label="amount", entity="amount"),
    )),
    # Generated variants (issue 43 item 5): groups of 2-4 read as words, "oh", "double"/"triple", a
    # number over two or three utterances with a pause, the keyword misheard or absent, a correction.
    ("card-pairs", (
        CallPiece("My card number is"),
        CallPiece("forty one, eleven.", pause=1.0, label="card", entity="pci"),
        CallPiece("eleven, eleven.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("fifty five, oh four.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("thirty two, ninety nine.", label="card", entity="pci", part=True),
    )),
    ("card-misheard", (
        CallPiece("My cart numb is"),
        CallPiece("five five oh oh.", pause=1.5, label="card", entity="pci"),
        CallPiece("two two two two.", pause=1.5, label="card", entity="pci", part=True),
        CallPiece("three three three three.", pause=1.5, label="card", entity="pci", part=True),
        CallPiece("oh oh oh four.", label="card", entity="pci", part=True),
    )),
    ("ssn-pause", (
        CallPiece("Sure, it's"),
        CallPiece("five three one.", pause=2.0, label="ssn", entity="ssn"),
        CallPiece("double seven.", pause=2.0, label="ssn", entity="ssn", part=True),
        CallPiece("one two oh eight.", label="ssn", entity="ssn", part=True),
    )),
    ("cvv-expiry-words", (
        CallPiece("The code on the back is oh four seven.", label="cvv", entity="pci"),
        CallPiece("It expires oh nine, twenty eight.", label="expiry", entity="pci"),
    )),
    ("ssn-correction", (
        CallPiece("My social is one two three, no wait, it's one two four, five six, seven eight nine oh.",
              label="ssn", entity="ssn"),
    )),
    ("phone-triple", (
        CallPiece("Call me at five five five, double two, triple three, four.", label="phone", entity="pii"),
    )),
    ("groups-negatives", (
        CallPiece("It will arrive in 3 to 5 business days.", label="amount", entity="amount"),
        CallPiece("The total comes to forty two dollars and ten cents.", label="amount", entity="amount"),
        CallPiece("Can you call me back at four thirty this afternoon?", label="time", entity="time"),
        CallPiece("My appointment was on the fifth of June, 2023.", label="date", entity="date"),
    )),
)

# The held-out part of the adversarial set: scored only to check the rules, never tuned on
# (``bench.redaction --set held-out``).
HELD_OUT = (
    ("held-card-no-keyword", (
        CallPiece("Right, so it's"),
        CallPiece("three seven eight two.", pause=1.2, label="card", entity="pci"),
        CallPiece("eight two two four.", pause=1.2, label="card", entity="pci", part=True),
        CallPiece("six three one, double oh oh five.", label="card", entity="pci", part=True),
    )),
    ("held-card-pairs", (
        CallPiece("Take down my Visa:"),
        CallPiece("forty five, thirty two.", pause=1.0, label="card", entity="pci"),
        CallPiece("seventy six, ninety eight.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("ten, twenty one.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("oh nine, eighty seven.", label="card", entity="pci", part=True),
    )),
    ("held-ssn", (
        CallPiece("Social security: zero seven eight, zero five, eleven twenty.", label="ssn", entity="ssn"),
        CallPiece("Sorry, the last four are", pause=0.8),
        CallPiece("triple nine, one.", label="ssn", entity="ssn"),
    )),
    ("held-correction", (
        CallPiece("The expiry is oh six twenty seven, sorry, oh seven twenty seven.", label="expiry", entity="pci"),
        CallPiece("And the security code is two ate one.", label="cvv", entity="pci"),
    )),
    ("held-phone", (
        CallPiece("You can reach me on"),
        CallPiece("two oh two.", pause=2.0, label="phone", entity="pii"),
        CallPiece("five five five.", pause=2.0, label="phone", entity="pii", part=True),
        CallPiece("oh one nine nine.", label="phone", entity="pii", part=True),
    )),
    ("held-negatives", (
        CallPiece("That comes to 45 dollars.", label="amount", entity="amount"),
        CallPiece("Please call me back at 4:15.", label="time", entity="time"),
        CallPiece("The appointment is on April 2nd.", label="date", entity="date"),
        CallPiece("I have two kids and one dog.", label="amount", entity="amount"),
    )),
)

# A second held-out part (``bench.redaction --set held-out-2``), written before the fail-closed
# rules of 2026-11-25 afternoon were changed and scored once, at the end, with voices no rule was
# tuned on (en-us+m3, en-gb-x-rp, en-us+f2): fresh phrasings, the keyword absent or said the
# everyday way ("the long number on the front", "my social"), numbers read every way (digits one by
# one, pairs and hundreds as words, "oh", "double", "triple"), split over two or three utterances,
# a correction; negatives: amounts with and without a currency, times, dates, quantities, an order number.
HELD_OUT_2 = (
    ("h2-card-front", (
        CallPiece("Okay, the long number on the front is"),
        CallPiece("fifty four, twelve.", pause=1.1, label="card", entity="pci"),
        CallPiece("seven five three four.", pause=1.1, label="card", entity="pci", part=True),
        CallPiece("ninety eight, twenty one.", pause=1.1, label="card", entity="pci", part=True),
        CallPiece("double oh six seven.", label="card", entity="pci", part=True),
    )),
    ("h2-ssn-casual", (
        CallPiece("You'll want my social as well, yeah?"),
        CallPiece("Yep, two one nine.", pause=1.5, label="ssn", entity="ssn"),
        CallPiece("oh eight.", pause=1.5, label="ssn", entity="ssn", part=True),
        CallPiece("double four six one.", label="ssn", entity="ssn", part=True),
    )),
    ("h2-back-of-card", (
        CallPiece("The digits on the back are nine oh two.", label="cvv", entity="pci"),
        CallPiece("And it's good through eleven twenty nine.", label="expiry", entity="pci"),
    )),
    ("h2-phone-three", (
        CallPiece("The best number to get me on is"),
        CallPiece("seven one eight.", pause=1.4, label="phone", entity="pii"),
        CallPiece("four nine six.", pause=1.4, label="phone", entity="pii", part=True),
        CallPiece("two two oh three.", label="phone", entity="pii", part=True),
    )),
    ("h2-statement-number", (
        CallPiece("The number on my statement is eight hundred forty one, triple seven, fifty two.",
                  label="account", entity="pii"),
    )),
    ("h2-card-correction", (
        CallPiece("Let me read it. Four nine one six, no sorry, four nine one seven.", pause=1.0,
                  label="card", entity="pci"),
        CallPiece("thirty three, oh two.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("six six one eight.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("oh five, five nine.", label="card", entity="pci", part=True),
    )),
    ("h2-ssn-hundreds", (
        CallPiece("It's five hundred twelve, sixty, seventy one eighty three.", label="ssn", entity="ssn"),
        CallPiece("That's the social on file."),
    )),
    ("h2-negatives", (
        CallPiece("I paid two hundred and twelve dollars last month.", label="amount", entity="amount"),
        CallPiece("It came to about three fifty in the end.", label="amount", entity="amount"),
        CallPiece("The engineer comes at seven fifteen tomorrow morning.", label="time", entity="time"),
        CallPiece("We spoke on the twelfth of October.", label="date", entity="date"),
        CallPiece("I need three boxes and twelve labels.", label="amount", entity="amount"),
        CallPiece("My order number is four four seven one two.", label="order", entity="order"),
        CallPiece("The parcel came on June 9th, 2025.", label="date", entity="date"),
    )),
)

# Numbers in Spanish, for the multilingual model (``bench.redaction --set spanish --model base``):
# digits read one by one and numbers said as numbers, a correction, and negatives.
SPANISH = (
    ("es-card", (
        CallPiece("Mi número de tarjeta es"),
        CallPiece("cuatro uno uno uno.", pause=1.0, label="card", entity="pci"),
        CallPiece("cuatro dos cuatro dos.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("cuarenta y dos, cuarenta y dos.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("veintidós, once.", label="card", entity="pci", part=True),
    )),
    ("es-ssn", (
        CallPiece("Mi número de seguro social es uno dos tres, cuatro cinco, seis siete ocho nueve.",
              label="ssn", entity="ssn"),
        CallPiece("El código de seguridad es siete tres uno.", label="cvv", entity="pci"),
        CallPiece("Perdón, no, es cero cero siete.", label="cvv", entity="pci"),
    )),
    ("es-negatives", (
        CallPiece("El total es de veinticinco dólares.", label="amount", entity="amount"),
        CallPiece("La reunión es a las tres de la tarde.", label="time", entity="time"),
        CallPiece("Llegó el cinco de marzo de 2024.", label="date", entity="date"),
    )),
)
# A third held-out part (``bench.redaction --set held-out-3``), written before the keyword-free
# fail-closed rule of 2026-11-25 evening and scored once, at its end: digits said with no keyword at
# all (no "card", "social", "code", "number" where it would help), digit by digit, in pairs, with
# "oh" and "double", an expiry said as a price would be; negatives said with no keyword either:
# short quantities, amounts, times, a date.
HELD_OUT_3 = (
    ("h3-plain-groups", (
        CallPiece("Sure, it's four four one two."),
        CallPiece("nine oh three seven.", pause=1.1, label="card", entity="pci"),
        CallPiece("sixty two, eighteen.", pause=1.1, label="card", entity="pci", part=True),
        CallPiece("Got all that?"),
    )),
    ("h3-on-the-back", (
        CallPiece("The one on the back is five three one.", label="cvv", entity="pci"),
        CallPiece("And it runs out eleven twenty nine.", label="expiry", entity="pci"),
    )),
    ("h3-reference", (
        CallPiece("My reference is oh seven seven two.", pause=1.0, label="account", entity="pii"),
        CallPiece("double six one.", label="account", entity="pii", part=True),
    )),
    ("h3-ssn-plain", (
        CallPiece("Okay. Six two one."),
        CallPiece("four four.", pause=1.3, label="ssn", entity="ssn"),
        CallPiece("oh nine eight seven.", label="ssn", entity="ssn", part=True),
    )),
    ("h3-written-together", (
        CallPiece("Write this down, 7731942, that is the one they gave me.", label="account", entity="pii"),
    )),
    ("h3-negatives", (
        CallPiece("I would like two tickets for Friday.", label="amount", entity="amount"),
        CallPiece("Can you hold on for one moment?", label="amount", entity="amount"),
        CallPiece("It was around 300 dollars.", label="amount", entity="amount"),
        CallPiece("Call me after 5 pm.", label="time", entity="time"),
        CallPiece("There are 3 items in the box.", label="amount", entity="amount"),
        CallPiece("We moved here on the fourth of July, 2019.", label="date", entity="date"),
        CallPiece("I waited for twenty minutes.", label="time", entity="time"),
    )),
)
# A fourth held-out part (``bench.redaction --set held-out-4``), written before the rules of
# 2026-11-25 night (the stronger fail-closed rule) were changed and scored once, at their end, with the
# voices of held-out-2 and -3: digits of a card, an SSN, an account, a CVV and an expiry said in
# everyday ways with no keyword or a misheard one ("the crud number", "on the back"), in groups of 2-4,
# "oh", "double", "triple", spread over two or three utterances, a correction, a "first three ... then";
# negatives with no keyword either: amounts with and without a currency, times said bare, dates, short
# quantities (one that ends its sentence: "I'll take two.").
HELD_OUT_4 = (
    ("h4-card-fours", (
        CallPiece("Alright, are you ready?"),
        CallPiece("five one oh five.", pause=1.1, label="card", entity="pci"),
        CallPiece("one oh five one.", pause=1.1, label="card", entity="pci", part=True),
        CallPiece("oh five one oh.", pause=1.1, label="card", entity="pci", part=True),
        CallPiece("five one double oh.", label="card", entity="pci", part=True),
    )),
    ("h4-crud-number", (
        CallPiece("Yeah, the crud number is four seven one six,", pause=1.0, label="card", entity="pci"),
        CallPiece("twenty nine, oh three.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("triple eight, four.", label="card", entity="pci", part=True),
    )),
    ("h4-ssn-first-three", (
        CallPiece("Okay, so the first three are one two nine.", pause=1.2, label="ssn", entity="ssn"),
        CallPiece("Then four seven.", pause=1.2, label="ssn", entity="ssn", part=True),
        CallPiece("And then two two eight oh.", label="ssn", entity="ssn", part=True),
    )),
    ("h4-back-and-date", (
        CallPiece("It says eight one four on the back.", label="cvv", entity="pci"),
        CallPiece("And it's good until oh three thirty.", label="expiry", entity="pci"),
    )),
    ("h4-pairs", (
        CallPiece("Let me find it. Twenty two, forty eight.", pause=1.0, label="account", entity="pii"),
        CallPiece("sixty one, oh nine.", label="account", entity="pii", part=True),
    )),
    ("h4-ssn-correction", (
        CallPiece("Six six three, sorry, six six four.", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("double one.", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("nine nine oh two.", label="ssn", entity="ssn", part=True),
    )),
    ("h4-triples", (
        CallPiece("It's triple four, eight, triple one, two.", label="account", entity="pii"),
        CallPiece("That one's for the savings."),
    )),
    ("h4-written", (
        CallPiece("Put down 6011 0009 9013 9424 please.", label="card", entity="pci"),
    )),
    ("h4-negatives", (
        CallPiece("I'll take two.", label="amount", entity="amount"),
        CallPiece("The tickets were twelve fifty each.", label="amount", entity="amount"),
        CallPiece("It went up by five percent.", label="amount", entity="amount"),
        CallPiece("We had twenty people there.", label="amount", entity="amount"),
        CallPiece("That came to 89 pounds.", label="amount", entity="amount"),
        CallPiece("The store opens at nine thirty.", label="time", entity="time"),
        CallPiece("Call me around 6 tonight.", label="time", entity="time"),
        CallPiece("It took about ten minutes.", label="time", entity="time"),
        CallPiece("We arrived on the second of May.", label="date", entity="date"),
        CallPiece("My flight is on December 14th.", label="date", entity="date"),
    )),
)
# A fifth held-out part (``bench.redaction --set held-out-5``), written on 2026-11-26 before any rule
# change of that day and scored once, at its end, with voices none of the other parts used
# (en-us+m1, en-gb-scotland, en-us+f4): "my social" with no "security", "the last four", a card
# "ending in", a security code and an expiry "slash", a routing number, a member ID, a phone number
# with its area code said apart and split over three finals, "zero" and "nought", teens and tens
# in pairs ("nineteen eighty-four" as digits), "double"/"triple" inside a group, a correction that
# repeats only part; negatives with no keyword: years, a room, durations, prices said bare, times
# with "quarter past" and "half", an age, a house size.
HELD_OUT_5 = (
    ("h5-my-social", (
        CallPiece("Do you need my social?"),
        CallPiece("It's five one eight.", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("three three.", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("nought six seven two.", label="ssn", entity="ssn", part=True),
    )),
    ("h5-last-four", (
        CallPiece("The last four of my social are two zero zero nine.", label="ssn", entity="ssn"),
    )),
    ("h5-ending-in", (
        CallPiece("I'm calling about the card ending in seven three eight one.", label="card", entity="pci"),
        CallPiece("The security code is zero four six.", label="cvv", entity="pci"),
        CallPiece("Expiration is oh nine slash twenty seven.", label="expiry", entity="pci"),
    )),
    ("h5-pairs-teens", (
        CallPiece("Okay here goes. Fifty four, nineteen.", pause=1.0, label="card", entity="pci"),
        CallPiece("eighty four, double two.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("thirteen, seventy, triple three, one.", label="card", entity="pci", part=True),
    )),
    ("h5-routing", (
        CallPiece("The routing number, let me see, zero two one.", pause=1.0, label="account", entity="pii"),
        CallPiece("zero zero zero, two one.", label="account", entity="pii", part=True),
    )),
    ("h5-member-id", (
        CallPiece("My member ID is nine nine two, four oh, one seven seven.", label="account", entity="pii"),
    )),
    ("h5-phone-three", (
        CallPiece("You can reach me at area code four one five.", pause=1.0, label="phone", entity="pii"),
        CallPiece("five five five.", pause=1.0, label="phone", entity="pii", part=True),
        CallPiece("two three six eight.", label="phone", entity="pii", part=True),
    )),
    ("h5-partial-correction", (
        CallPiece("Three one two, no, three two one.", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("fifty five.", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("oh oh four one.", label="ssn", entity="ssn", part=True),
    )),
    ("h5-negatives", (
        CallPiece("I have been with you since nineteen ninety eight.", label="date", entity="date"),
        CallPiece("I'm staying in room four twelve.", label="place", entity="place"),
        CallPiece("The call dropped after three minutes.", label="time", entity="time"),
        CallPiece("It was forty five dollars last month.", label="amount", entity="amount"),
        CallPiece("The bill says a hundred and twenty.", label="amount", entity="amount"),
        CallPiece("I get home at quarter past six.", label="time", entity="time"),
        CallPiece("The meeting is at half seven.", label="time", entity="time"),
        CallPiece("My son is fourteen.", label="amount", entity="amount"),
        CallPiece("It's a three bedroom house.", label="amount", entity="amount"),
        CallPiece("We spoke on the twenty first of March.", label="date", entity="date"),
    )),
)
# A sixth held-out part (``bench.redaction --set held-out-6``), written on 2026-11-26 before any rule
# change of that session and scored once, with voices none of the other parts used (en-gb-x-gbcwmd,
# en-us+m5, en-us+f1): a card read four by four over four finals after "the long number on the
# front", a card of one repeated digit, the agent asking for it again and the caller saying only the
# last group, "dash" between an SSN's groups, hundreds inside a number ("twelve hundred"), "double
# oh" in a phone number, a policy number with a letter spelled out, an expiry as a month's name, a
# CVV "on the back", a correction mid-group, a number with no keyword at all after "ready when you
# are"; negatives with no keyword: a page, a flight, a year said "two thousand and five", a price
# "nine ninety five", an apartment, "eight thirty", children, "like five times", a count of pizzas.
HELD_OUT_6 = (
    ("h6-long-number", (
        CallPiece("Okay, the long number on the front.", pause=1.0),
        CallPiece("four nine one two.", pause=1.0, label="card", entity="pci"),
        CallPiece("seven seven oh three.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("two eight eight one.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("oh six five four.", label="card", entity="pci", part=True),
    )),
    ("h6-one-digit", (
        CallPiece("The card is four one one one, one one one one, one one one one, one one one one.",
                  label="card", entity="pci"),
    )),
    ("h6-say-again", (
        CallPiece("Sorry, can you say the last part again?"),
        CallPiece("Sure, eight two six oh.", label="card", entity="pci"),
    )),
    ("h6-dashes", (
        CallPiece("My SSN is three one seven dash five two dash eight eight four one.", label="ssn", entity="ssn"),
    )),
    ("h6-hundreds", (
        CallPiece("My account number is twelve hundred thirty four, fifty six hundred.", label="account",
                  entity="pii"),
    )),
    ("h6-double-oh", (
        CallPiece("Call me back on seven one eight, two double oh, four nine three one.", label="phone",
                  entity="pii"),
    )),
    ("h6-policy", (
        CallPiece("The policy number is B as in bravo, six six oh two nine one.", label="account", entity="pii"),
    )),
    ("h6-month-expiry", (
        CallPiece("It expires in March twenty twenty nine.", label="expiry", entity="pci"),
        CallPiece("And on the back it says five five two.", label="cvv", entity="pci"),
    )),
    ("h6-mid-correction", (
        CallPiece("Five four three two, one, no wait, one nine.", pause=1.0, label="card", entity="pci"),
        CallPiece("eight eight seven three.", label="card", entity="pci", part=True),
    )),
    ("h6-no-keyword", (
        CallPiece("Ready when you are.", pause=1.0),
        CallPiece("Six seven nine, forty one, oh two two three.", label="ssn", entity="ssn"),
    )),
    ("h6-negatives", (
        CallPiece("It's on page thirty two of the booklet.", label="place", entity="place"),
        CallPiece("I was on flight two twenty nine.", label="order", entity="order"),
        CallPiece("I opened it in two thousand and five.", label="date", entity="date"),
        CallPiece("The plan is nine ninety five a month.", label="amount", entity="amount"),
        CallPiece("We live in apartment four B.", label="place", entity="place"),
        CallPiece("I finish work at eight thirty.", label="time", entity="time"),
        CallPiece("I have three kids.", label="amount", entity="amount"),
        CallPiece("I've called like five times.", label="amount", entity="amount"),
        CallPiece("We ordered two large pizzas.", label="amount", entity="amount"),
        CallPiece("It happened on the fourth of July.", label="date", entity="date"),
    )),
)
# A seventh held-out part (``bench.redaction --set held-out-7``), written on 2026-11-26 after scoring
# held-out-6 and before the rules that scoring led to, to be scored once at the session's end, with
# voices none of the other parts used (en-gb-x-gbclan, en-us+m6, en-us+f5): expiries said with a
# month's name in other ways, a CVV with "the three digits", an SSN with "social security" said
# after the number, a card in pairs, a phone number said with "oh" and "double"; negatives with a
# noun that names the number (a gate, a seat, a chapter, a bus), a month and a year of the past, a
# date with its day, a price with cents.
HELD_OUT_7 = (
    ("h7-expiry-month", (
        CallPiece("The card is good through November twenty eight.", label="expiry", entity="pci"),
        CallPiece("The three digits are four one nine.", label="cvv", entity="pci"),
    )),
    ("h7-expiry-month-year", (
        CallPiece("Expiry is June two thousand thirty.", label="expiry", entity="pci"),
    )),
    ("h7-ssn-after", (
        CallPiece("Five six two, eight one, three three nine oh, that's my social security.", label="ssn",
                  entity="ssn"),
    )),
    ("h7-card-pairs", (
        CallPiece("It's forty five, fifty two, eleven, eighty.", pause=1.0, label="card", entity="pci"),
        CallPiece("sixty six, oh one, twenty three, ninety.", label="card", entity="pci", part=True),
    )),
    ("h7-phone-oh", (
        CallPiece("My cell is two oh six, five double five, oh one four two.", label="phone", entity="pii"),
    )),
    ("h7-negatives", (
        CallPiece("We board at gate twelve.", label="place", entity="place"),
        CallPiece("I was in seat fourteen.", label="place", entity="place"),
        CallPiece("It's in chapter three of the guide.", label="place", entity="place"),
        CallPiece("I take the number nine bus.", label="place", entity="place"),
        CallPiece("I moved here in May twenty nineteen.", label="date", entity="date"),
        CallPiece("The payment went out on June third, twenty twenty four.", label="date", entity="date"),
        CallPiece("It was nineteen dollars and ninety nine cents.", label="amount", entity="amount"),
    )),
)
# An eighth held-out part (``bench.redaction --set held-out-8``), written on 2026-11-26 at the start of a
# session, before any rule of that session, to be scored once at its end, with voices none of the
# other parts used (en-029, en-us+m2, en-us+m4): a phone number that starts with "two", an expiry as
# a month and a day after "valid until", a CVV after its keyword, a phone number with "hundred", a card
# with "triple", an SSN over three utterances after a filler, a member ID of zeros first, a routing
# number; negatives with no keyword: minutes, a price with no currency word, a time, an age, a year,
# a temperature.
HELD_OUT_8 = (
    ("h8-phone-two", (
        CallPiece("You can reach me at two one two, four four seven, oh nine eight one.", label="phone",
                  entity="pii"),
    )),
    ("h8-valid-until", (
        CallPiece("It's valid until August twenty seven.", label="expiry", entity="pci"),
        CallPiece("The security code is eight oh four.", label="cvv", entity="pci"),
    )),
    ("h8-phone-hundred", (
        CallPiece("My number is three one oh, eight hundred, two two five one.", label="phone", entity="pii"),
    )),
    ("h8-card-triple", (
        CallPiece("The card is five triple four, two one oh six.", pause=1.0, label="card", entity="pci"),
        CallPiece("nine nine one three, seven oh two eight.", label="card", entity="pci", part=True),
    )),
    ("h8-ssn-three", (
        CallPiece("My social, um, let me think.", pause=1.0),
        CallPiece("five two one.", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("forty four.", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("nine nine oh seven.", label="ssn", entity="ssn", part=True),
    )),
    ("h8-member-id", (
        CallPiece("The member ID is zero zero four seven three one eight.", label="account", entity="pii"),
    )),
    ("h8-routing", (
        CallPiece("The routing number is oh two one, oh oh oh, oh two one.", label="account", entity="pii"),
    )),
    ("h8-negatives", (
        CallPiece("I waited about twenty five minutes.", label="time", entity="time"),
        CallPiece("It costs forty nine ninety nine.", label="amount", entity="amount"),
        CallPiece("Call me after two fifteen.", label="time", entity="time"),
        CallPiece("My son just turned sixteen.", label="amount", entity="amount"),
        CallPiece("That was back in nineteen ninety nine.", label="date", entity="date"),
        CallPiece("It was ninety eight degrees outside.", label="amount", entity="amount"),
        CallPiece("We need four hundred forms.", label="amount", entity="amount"),
    )),
)
# A ninth held-out part (``bench.redaction --set held-out-9``), written on 2026-11-26 after scoring
# held-out-8 once and before the rules its leaks led to, to be scored once at the session's end, with
# voices none of the other parts used (en-us-nyc, en-gb+f2, en-029+f4): an expiry after "runs until"
# and "good thru", a card in groups with "oh oh", a CVV after "the back says", an SSN with "oh oh", a
# phone number after "best number", an account's last four after "ends in", a PIN; negatives with no
# keyword: minutes, an amount with "dollars", times, a year after "back in", a count, a temperature.
HELD_OUT_9 = (
    ("h9-runs-until", (
        CallPiece("Yeah, it runs until March thirty.", label="expiry", entity="pci"),
        CallPiece("The back says six one nine.", label="cvv", entity="pci"),
    )),
    ("h9-good-thru", (
        CallPiece("It's good thru oh four thirty one.", label="expiry", entity="pci"),
    )),
    ("h9-card-oh-oh", (
        CallPiece("It's three seven oh oh, one two three four.", pause=1.0, label="card", entity="pci"),
        CallPiece("five six seven eight, nine oh one two.", label="card", entity="pci", part=True),
    )),
    ("h9-ssn-oh-oh", (
        CallPiece("My social is four oh oh, one two, seven seven seven one.", label="ssn", entity="ssn"),
    )),
    ("h9-best-number", (
        CallPiece("The best number is nine one seven, two oh two, eight eight one four.", label="phone",
                  entity="pii"),
    )),
    ("h9-ends-in", (
        CallPiece("The account ends in four four eight two.", label="account", entity="pii"),
        CallPiece("My PIN is one nine eight four.", label="cvv", entity="pci"),
    )),
    ("h9-negatives", (
        CallPiece("It took about forty minutes.", label="time", entity="time"),
        CallPiece("The total was two hundred and ten dollars.", label="amount", entity="amount"),
        CallPiece("I'll be free at nine thirty.", label="time", entity="time"),
        CallPiece("It was back in twenty eighteen.", label="date", entity="date"),
        CallPiece("We have two hundred employees.", label="amount", entity="amount"),
        CallPiece("The store opens at ten.", label="time", entity="time"),
        CallPiece("It was seventy two degrees.", label="amount", entity="amount"),
    )),
)
# A tenth held-out part (``bench.redaction --set held-out-10``), written on 2026-11-26 at the start of a
# session, before any rule of that session, to be scored once at its end, with voices none of the other
# parts used (en-gb-scotland+m3, en-us-nyc+f5, en-029+m7): both sides of the call in one voice, the
# agent asking and the caller answering with bare numbers (a CVV, an expiry, a card's groups, an SSN's
# last four), a CVV after "CVV", a card's last four after "ends with", an expiry as a month's number
# and a year, a phone number with an extension, a customer number, a correction of an expiry;
# negatives with no keyword: a distance, a floor, a percentage, a duration in hours, a count of
# units, a version, a year said as a date, a split payment.
HELD_OUT_10 = (
    ("h10-agent-asks-cvv", (
        CallPiece("And the three digit code on the back?", pause=0.8),
        CallPiece("Seven two five.", label="cvv", entity="pci"),
    )),
    ("h10-agent-asks-expiry", (
        CallPiece("What's the expiration date?", pause=0.8),
        CallPiece("Oh eight, twenty nine.", label="expiry", entity="pci"),
    )),
    ("h10-and-then", (
        CallPiece("Go ahead with the card number when you're ready.", pause=0.8),
        CallPiece("Five one six six.", pause=1.0, label="card", entity="pci"),
        CallPiece("And then two two three one.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("Then oh seven eight four.", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("And last, nine nine two oh.", label="card", entity="pci", part=True),
    )),
    ("h10-last-four", (
        CallPiece("Can you confirm the last four of your social?", pause=0.8),
        CallPiece("Yeah, three eight two oh.", label="ssn", entity="ssn"),
    )),
    ("h10-cvv-word", (
        CallPiece("The CVV is three four seven.", label="cvv", entity="pci"),
        CallPiece("It ends with four two two one.", label="card", entity="pci"),
        CallPiece("Expiry month is ten, year twenty eight.", label="expiry", entity="pci"),
    )),
    ("h10-extension", (
        CallPiece("Call my office on three one two, five five five, oh one four seven, extension two two.",
                  label="phone", entity="pii"),
        CallPiece("My customer number is C four four nine, two one three.", label="account", entity="pii"),
        CallPiece("The expiry is oh three twenty six, no, oh three twenty seven.", label="expiry", entity="pci"),
    )),
    ("h10-negatives", (
        CallPiece("The branch is about fifteen miles away.", label="amount", entity="amount"),
        CallPiece("Our office is on the third floor.", label="place", entity="place"),
        CallPiece("The rate went up to six point five percent.", label="amount", entity="amount"),
        CallPiece("I was on hold for two hours.", label="time", entity="time"),
        CallPiece("We ordered six hundred and fifty units.", label="amount", entity="amount"),
        CallPiece("I'm on version two point one of the app.", label="amount", entity="amount"),
        CallPiece("Twenty twenty three was a hard year.", label="date", entity="date"),
        CallPiece("I'll pay fifty now and fifty next week.", label="amount", entity="amount"),
    )),
)
# An eleventh held-out part (``bench.redaction --set held-out-11``), written on 2026-11-26 after scoring
# held-out-10 once and before the rules its leaks led to, to be scored once at the session's end, with
# voices none of the other parts used (en-gb-x-gbcwmd+f3, en-us-nyc+m6, en-029+f2): an agent asking
# for the security code and the expiry and the caller answering, a card read in four groups after
# "let me grab it", a CVC, a card's last four, an SSN after "social's", a phone number after "my
# number's", a policy ID with a letter; negatives with no keyword: a count of e-mails, a distance, two
# ages, a closing hour, a price with no currency, a departure time, a queue's length.
HELD_OUT_11 = (
    ("h11-agent-code", (
        CallPiece("Could I get the security code, please?", pause=0.8),
        CallPiece("It's four four one.", label="cvv", entity="pci"),
        CallPiece("And when does the card expire?", pause=0.8),
        CallPiece("End of next year, twelve twenty seven.", label="expiry", entity="pci"),
    )),
    ("h11-grab-it", (
        CallPiece("Card number, let me grab it. Three four one five,", pause=1.0, label="card", entity="pci"),
        CallPiece("seven seven eight two,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("one one nine three,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("oh oh four six.", label="card", entity="pci", part=True),
    )),
    ("h11-cvc", (
        CallPiece("CVC on the back is nine eight oh.", label="cvv", entity="pci"),
        CallPiece("Last four of the card are five five one two.", label="card", entity="pci"),
    )),
    ("h11-socials", (
        CallPiece("Social's two two seven, thirty one, eight oh four four.", label="ssn", entity="ssn"),
        CallPiece("My number's four one five, two two oh, nine nine one three.", label="phone", entity="pii"),
        CallPiece("Policy ID, P, seven seven four one nine.", label="account", entity="pii"),
    )),
    ("h11-negatives", (
        CallPiece("I've got about thirty emails left.", label="amount", entity="amount"),
        CallPiece("It's three hundred miles from here.", label="amount", entity="amount"),
        CallPiece("The kids are six and nine.", label="amount", entity="amount"),
        CallPiece("We close at six.", label="time", entity="time"),
        CallPiece("The fee was twelve ninety nine.", label="amount", entity="amount"),
        CallPiece("My flight leaves at seven forty five.", label="time", entity="time"),
        CallPiece("There are twelve people in the queue.", label="amount", entity="amount"),
    )),
)
# A twelfth held-out part (``bench.redaction --set held-out-12``), written on 2026-11-26 after scoring
# held-out-11 once and before scoring the rule its leaks led to, to be scored once at the session's end,
# with voices none of the other parts used (en-gb-x-gbclan+f4, en-us+m8, en-029+m1): an agent asking
# for the long number and the caller reading it in pairs and fours, an expiry with "expiring", a
# security code after "three-digit number", an SSN after "the social on the account", a mobile
# number, a card's last four after "the one ending"; negatives with no keyword: a price after "total"
# with a comma, an age, an hour after "at", a year after "in", a round hundred, a rate.
HELD_OUT_12 = (
    ("h12-agent-long-number", (
        CallPiece("Can you read me the long number on the card?", pause=0.8),
        CallPiece("Sure. Forty two, sixty one,", pause=1.0, label="card", entity="pci"),
        CallPiece("three three oh nine,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("eighteen, seventy five,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("two two four oh.", label="card", entity="pci", part=True),
    )),
    ("h12-expiring", (
        CallPiece("It's expiring oh six, twenty eight.", label="expiry", entity="pci"),
        CallPiece("And the three-digit number is five oh two.", label="cvv", entity="pci"),
    )),
    ("h12-social-on-account", (
        CallPiece("The social on the account is six one four, two nine, three three eight oh.", label="ssn",
                  entity="ssn"),
        CallPiece("My mobile is nine one nine, four oh two, seven seven one six.", label="phone", entity="pii"),
        CallPiece("Is that the one ending nine nine four one?", label="card", entity="pci"),
    )),
    ("h12-negatives", (
        CallPiece("The total, two hundred forty dollars, was too much.", label="amount", entity="amount"),
        CallPiece("My daughter just turned twelve.", label="amount", entity="amount"),
        CallPiece("The office opens at eight.", label="time", entity="time"),
        CallPiece("We bought the house in nineteen ninety five.", label="date", entity="date"),
        CallPiece("They sent us three hundred letters.", label="amount", entity="amount"),
        CallPiece("It's twenty dollars a week.", label="amount", entity="amount"),
    )),
)
# A thirteenth held-out part (``bench.redaction --set held-out-13``), written on 2026-11-26 at the start
# of a session and before any of its rules, to be scored once at its end, with voices none of the other
# parts used (en-gb-scotland+f2, en-us-nyc+m1, en-029+m3): an agent asking for the "security number"
# and the caller hesitating, an expiry as a month's name and a year, an American Express number read
# four-six-five, an SSN with a correction ("sorry"), a phone number whose area code is its own final,
# a bank account number, the agent reading the card's last four back; negatives with no keyword: years
# as a customer, a weight, a count of calls, a callback time, a day of the month, a temperature, a bill
# without a currency, a count of cars.
HELD_OUT_13 = (
    ("h13-security-number", (
        CallPiece("For verification, what's the security number on the card?", pause=0.8),
        CallPiece("Uh, it's eight one three.", label="cvv", entity="pci"),
        CallPiece("And the expiry?", pause=0.8),
        CallPiece("September twenty seven.", label="expiry", entity="pci"),
    )),
    ("h13-amex", (
        CallPiece("It's an American Express. Three seven eight two,", pause=1.0, label="card", entity="pci"),
        CallPiece("six one nine four oh five,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("three one oh eight two.", label="card", entity="pci", part=True),
    )),
    ("h13-social-sorry", (
        CallPiece("My social is five two nine, sorry, five two eight, four four, one oh six seven.", label="ssn",
                  entity="ssn"),
        CallPiece("Area code seven one eight.", pause=1.0, label="phone", entity="pii"),
        CallPiece("Then five five five, two three oh nine.", label="phone", entity="pii", part=True),
        CallPiece("The account number at the bank is four four seven one nine oh two six.", label="account",
                  entity="pii"),
    )),
    ("h13-read-back", (
        CallPiece("So that's the card ending in six two two four, correct?", label="card", entity="pci"),
        CallPiece("Yes, that's right.", pause=0.8),
    )),
    ("h13-negatives", (
        CallPiece("I've been a customer for eleven years.", label="amount", entity="amount"),
        CallPiece("The package weighs about four pounds.", label="amount", entity="amount"),
        CallPiece("I called three times last week.", label="amount", entity="amount"),
        CallPiece("Can you call me back after two thirty?", label="time", entity="time"),
        CallPiece("My appointment is on the fourteenth.", label="date", entity="date"),
        CallPiece("It was around ninety degrees outside.", label="amount", entity="amount"),
        CallPiece("The bill came to eighty seven fifty.", label="amount", entity="amount"),
        CallPiece("We have two cars and one truck.", label="amount", entity="amount"),
    )),
)
# A fourteenth held-out part (``bench.redaction --set held-out-14``), written on 2026-11-26 at the end of
# a session, after its rules, to be scored once at the end of the next session before any of that
# session's rules are scored on it, with voices none of the other parts used (en-gb-x-rp+m4,
# en-us-nyc+f3, en-029+f5): a card's details asked for and read in pairs, "double oh" and "the last bit",
# a CVV as "the three numbers on the back", an expiry as a month "of" a year, an SSN after "my social
# security is" with "sixty", a phone number after "text me at", a member number with a letter;
# negatives with no keyword: a wait, a fee without a currency, a count of children, a day of a month, a
# departure time, a distance, a room, a year after "back in".
HELD_OUT_14 = (
    ("h14-card-details", (
        CallPiece("Can I take the card details now?", pause=0.8),
        CallPiece("Yep. Five five, two one, double oh seven three,", pause=1.0, label="card", entity="pci"),
        CallPiece("eight eight four oh,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("and the last bit is one two two six.", label="card", entity="pci", part=True),
        CallPiece("The three numbers on the back are nine oh one.", label="cvv", entity="pci"),
        CallPiece("It runs out in April of twenty eight.", label="expiry", entity="pci"),
    )),
    ("h14-social-sixty", (
        CallPiece("My social security is three one oh, sixty, four four nine two.", label="ssn", entity="ssn"),
        CallPiece("You can text me at six four six, five five five, oh one three two.", label="phone",
                  entity="pii"),
        CallPiece("The member number is M, one one nine two, eight seven.", label="account", entity="pii"),
    )),
    ("h14-negatives", (
        CallPiece("I waited about forty five minutes.", label="time", entity="time"),
        CallPiece("The fee is nine ninety nine.", label="amount", entity="amount"),
        CallPiece("I've got three kids.", label="amount", entity="amount"),
        CallPiece("It was the fifth of June.", label="date", entity="date"),
        CallPiece("The train leaves at six fifteen.", label="time", entity="time"),
        CallPiece("We drove two hundred miles.", label="amount", entity="amount"),
        CallPiece("Room three twelve, please.", label="place", entity="place"),
        CallPiece("That was back in twenty twenty.", label="date", entity="date"),
    )),
)
# A fifteenth held-out part (``bench.redaction --set held-out-15``), written on 2026-11-26 at the start of
# a session, before any of its rules, to be scored once at its end, with voices none of the other parts
# used (en-gb-x-gbcwmd+m2, en-us-nyc+f4, en-029+m5): a debit card's "long number" in fours over two
# finals, an expiry "good through" a month and year, the code "on the back"; an SSN over two finals with
# "um"; a phone number with "zero" after "call me on"; an account number read in threes after "my
# account's"; negatives with no keyword: a flight's time, a queue, a setting, a year, copies, a date's
# day, a page, a rating.
HELD_OUT_15 = (
    ("h15-debit", (
        CallPiece("I'd like to pay with my debit card.", pause=0.8),
        CallPiece("The long number is four nine one six, two two oh three,", pause=1.0, label="card",
                  entity="pci"),
        CallPiece("seven seven five one, eight oh oh four.", label="card", entity="pci", part=True),
        CallPiece("It's good through oh three, twenty seven.", label="expiry", entity="pci"),
        CallPiece("Code on the back is four four two.", label="cvv", entity="pci"),
    )),
    ("h15-social-um", (
        CallPiece("Social's, um, six one two,", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("seventy, three three eight one.", label="ssn", entity="ssn", part=True),
        CallPiece("Call me on two oh two, five five five, zero one nine eight.", label="phone", entity="pii"),
        CallPiece("My account's three one seven, two two nine, four oh five.", label="account", entity="pii"),
    )),
    ("h15-negatives", (
        CallPiece("My flight is at eleven forty.", label="time", entity="time"),
        CallPiece("There were about fifty people in line.", label="amount", entity="amount"),
        CallPiece("Turn it up to setting two.", label="amount", entity="amount"),
        CallPiece("We moved here in twenty nineteen.", label="date", entity="date"),
        CallPiece("I need four copies.", label="amount", entity="amount"),
        CallPiece("It's due on the twenty first.", label="date", entity="date"),
        CallPiece("It's on page thirty two.", label="place", entity="place"),
        CallPiece("I'd give it eight out of ten.", label="amount", entity="amount"),
    )),
)
# A sixteenth held-out part (``bench.redaction --set held-out-16``), written on 2026-11-26 near the end of
# a session (before its last rule, from held-out-15), to be scored once by the next session before any of
# that session's rules are scored on it, with voices none of the other parts used (en-gb-x-rp+f5, en-us-nyc+m2, en-gb-scotland+m6):
# a Visa read in fours over three finals, an expiry as "twelve twenty nine", "the CVV" and its digits; an
# SSN with "dash"; a phone number after "best number to reach me"; a routing number of zeros; negatives
# with no keyword: a time since, a price in "bucks", a school grade, a date, a wait in minutes, a count
# of employees, a gate, an age to come.
HELD_OUT_16 = (
    ("h16-visa", (
        CallPiece("It's a Visa. Four four eight five,", pause=1.0, label="card", entity="pci"),
        CallPiece("oh nine one two, three three seven six,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("two oh four one.", label="card", entity="pci", part=True),
        CallPiece("Expiry is twelve twenty nine.", label="expiry", entity="pci"),
        CallPiece("And the CVV, five five eight.", label="cvv", entity="pci"),
    )),
    ("h16-ssn-dash", (
        CallPiece("Social security number, two three four dash five six dash seven eight nine oh.", label="ssn",
                  entity="ssn"),
        CallPiece("Best number to reach me is nine one seven, four four four, one two one two.", label="phone",
                  entity="pii"),
        CallPiece("The routing number is oh two one, oh oh oh, oh two one.", label="account", entity="pii"),
    )),
    ("h16-negatives", (
        CallPiece("We've been waiting since nine fifteen.", label="time", entity="time"),
        CallPiece("It costs about thirty bucks.", label="amount", entity="amount"),
        CallPiece("My son is in grade eleven.", label="amount", entity="amount"),
        CallPiece("The package arrived on March third.", label="date", entity="date"),
        CallPiece("I'll be there in ten minutes.", label="time", entity="time"),
        CallPiece("We have about sixty employees.", label="amount", entity="amount"),
        CallPiece("We're at gate twenty two.", label="place", entity="place"),
        CallPiece("My daughter turns eighteen next month.", label="amount", entity="amount"),
    )),
)
# A seventeenth held-out part (``bench.redaction --set held-out-17``), written on 2026-11-27 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb-x-gbclan+m3, en-us-nyc+f1, en-029+f1): a Mastercard read in pairs ("fifty four, twelve") over
# two finals, an expiry with "slash", a "security code" said "nine hundred and two"; an SSN corrected
# mid-way ("no sorry"); a member ID read in threes; a phone number's last four after "ending in";
# negatives with no keyword: a total said as "forty two fifty", a half past, a room, a year gone by, a
# count of tickets, a speed, a floor, a score.
HELD_OUT_17 = (
    ("h17-mastercard-pairs", (
        CallPiece("Okay, the card is fifty four, twelve, thirty three, oh eight,", pause=1.0, label="card",
                  entity="pci"),
        CallPiece("ninety one, sixty six, twenty, seventy seven.", label="card", entity="pci", part=True),
        CallPiece("It expires oh four slash twenty nine.", label="expiry", entity="pci"),
        CallPiece("Security code is nine hundred and two.", label="cvv", entity="pci"),
    )),
    ("h17-ssn-corrected", (
        CallPiece("My social is four one two, eight eight, no sorry, four one two, eight nine, three three oh "
                  "seven.", label="ssn", entity="ssn"),
        CallPiece("Member ID is seven one five, two two oh, four six one.", label="account", entity="pii"),
        CallPiece("You can call me back on the number ending in six oh one three.", label="phone",
                  entity="pii"),
    )),
    ("h17-negatives", (
        CallPiece("The total came to forty two fifty.", label="amount", entity="amount"),
        CallPiece("I'll call back at half past two.", label="time", entity="time"),
        CallPiece("She's staying in room four twelve.", label="place", entity="place"),
        CallPiece("We moved here back in nineteen ninety eight.", label="date", entity="date"),
        CallPiece("I bought three tickets for the show.", label="amount", entity="amount"),
        CallPiece("He was doing seventy on the highway.", label="amount", entity="amount"),
        CallPiece("Our office is on the fifth floor.", label="place", entity="place"),
        CallPiece("They won the game three to one.", label="amount", entity="amount"),
    )),
)
# An eighteenth held-out part (``bench.redaction --set held-out-18``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are
# scored on it, with voices none of the other parts used (en-gb-x-rp+m1, en-us-nyc+m3, en-029+m6): a
# Discover read with "zero" and a filler over two finals, an expiry as a month's name and "twenty eight"
# after "good thru", a code as "the three digits"; an SSN with "triple"; a checking account; a callback
# number read in two finals; negatives with no keyword: a price in "euros", a flight's time, a count of
# boxes, a day and month, a street number said alone, a percentage, a size, an hour's wait.
HELD_OUT_18 = (
    ("h18-discover", (
        CallPiece("Sure, it's a Discover card, six zero one one, um, four two two seven,", pause=1.0,
                  label="card", entity="pci"),
        CallPiece("zero nine nine one, three five eight two.", label="card", entity="pci", part=True),
        CallPiece("It's good thru September twenty eight.", label="expiry", entity="pci"),
        CallPiece("The three digits are one one nine.", label="cvv", entity="pci"),
    )),
    ("h18-ssn-triple", (
        CallPiece("Social is triple seven, two one, four four oh oh.", label="ssn", entity="ssn"),
        CallPiece("The checking account is eight eight one, two oh three, five five.", label="account",
                  entity="pii"),
        CallPiece("Call me back on six one seven,", pause=1.0, label="phone", entity="pii"),
        CallPiece("five five five, oh one nine eight.", label="phone", entity="pii", part=True),
    )),
    ("h18-negatives", (
        CallPiece("The room was eighty euros a night.", label="amount", entity="amount"),
        CallPiece("My flight lands at six forty five.", label="time", entity="time"),
        CallPiece("We packed twelve boxes.", label="amount", entity="amount"),
        CallPiece("I was there on the second of March.", label="date", entity="date"),
        CallPiece("The house is number forty two.", label="place", entity="place"),
        CallPiece("Prices went up ten percent.", label="amount", entity="amount"),
        CallPiece("I wear a size nine shoe.", label="amount", entity="amount"),
        CallPiece("We waited about an hour and a half.", label="time", entity="time"),
    )),
)
# A nineteenth held-out part (``bench.redaction --set held-out-19``), written on 2026-11-27 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb-scotland+f3, en-gb-x-gbcwmd+m4, en-029+m2): an American Express read four, six, five over
# three finals, its expiry as "eleven twenty seven", its four-digit code "on the front"; an SSN read in
# three finals after "hold on", the last two groups in pairs ("sixty two", "eighty eight forty"); a card
# whose group is corrected ("no sorry"); a policy number; negatives with no keyword: a meeting's time,
# a price with cents, a weight, a count of children, a chapter, a score, a distance; a birthday (a DOB).
HELD_OUT_19 = (
    ("h19-amex", (
        CallPiece("It's an American Express, three seven four two,", pause=1.0, label="card", entity="pci"),
        CallPiece("nine one eight three five six,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("seven one oh oh two.", label="card", entity="pci", part=True),
        CallPiece("Expiry eleven twenty seven.", label="expiry", entity="pci"),
        CallPiece("The four digit code on the front is two eight eight one.", label="cvv", entity="pci"),
    )),
    ("h19-ssn-pairs", (
        CallPiece("Uh, my social, hold on, let me find it.", pause=1.0),
        CallPiece("It's four one nine,", pause=1.0, label="ssn", entity="ssn"),
        CallPiece("sixty two,", pause=1.0, label="ssn", entity="ssn", part=True),
        CallPiece("eighty eight forty.", label="ssn", entity="ssn", part=True),
        CallPiece("Card is five one two two, no sorry, five one two three, four four oh six, eight one one "
                  "nine, two two seven five.", label="card", entity="pci"),
        CallPiece("My policy number is three three nine, oh one four, seven seven two.", label="account",
                  entity="pii"),
    )),
    ("h19-negatives", (
        CallPiece("The meeting is at nine thirty tomorrow.", label="time", entity="time"),
        CallPiece("I paid forty nine ninety nine for it.", label="amount", entity="amount"),
        CallPiece("It weighs about three kilos.", label="amount", entity="amount"),
        CallPiece("We have two kids and a dog.", label="amount", entity="amount"),
        CallPiece("Chapter eleven was the best one.", label="place", entity="place"),
        CallPiece("The final score was twenty one to fourteen.", label="amount", entity="amount"),
        CallPiece("Turn left after about five hundred meters.", label="amount", entity="amount"),
        # (Written as a date's negative; scored once so (2026-11-27: "masked" in 22 of 24 decodes), it is a date
        # of birth, which ``pii`` redacts as DOB by design: labelled so since.)
        CallPiece("My birthday is on July fourth.", label="dob", entity="pii"),
    )),
)
# A twentieth held-out part (``bench.redaction --set held-out-20``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are
# scored on it, with voices none of the other parts used (en-gb-x-gbclan+m1, en-us-nyc+m4, en-029+f3): a
# Mastercard with "double" and "oh" over two finals and a "hang on" between them, an expiry as "September
# of twenty nine", "CVV" and its digits; an SSN read with "uh" between its groups; a customer ID with a
# letter "as in"; a phone extension; negatives with no keyword: a train's time, years as a customer, a
# monthly price, bedrooms, a day and its date, minutes, a floor, an hour "around two".
HELD_OUT_20 = (
    ("h20-mastercard-hang-on", (
        CallPiece("Five five double two, oh three four one,", pause=1.0, label="card", entity="pci"),
        CallPiece("hang on,", pause=1.0),
        CallPiece("eight eight seven six, five oh oh two.", label="card", entity="pci", part=True),
        CallPiece("Expiration date, September of twenty nine.", label="expiry", entity="pci"),
        CallPiece("CVV, four four seven.", label="cvv", entity="pci"),
    )),
    ("h20-ssn-uh", (
        CallPiece("Social is, uh, six one two, uh, four four, uh, nine nine oh one.", label="ssn", entity="ssn"),
        CallPiece("My customer ID is C as in cat, four four one two nine.", label="account", entity="pii"),
        CallPiece("You can reach me on extension four one two.", label="phone", entity="pii"),
    )),
    ("h20-negatives", (
        CallPiece("The train leaves at seven fifteen.", label="time", entity="time"),
        CallPiece("I've been with you for twelve years.", label="time", entity="time"),
        CallPiece("It's two hundred forty dollars a month.", label="amount", entity="amount"),
        CallPiece("We have three bedrooms.", label="amount", entity="amount"),
        CallPiece("The sale ends on Friday the thirteenth.", label="date", entity="date"),
        CallPiece("Give me five minutes.", label="time", entity="time"),
        CallPiece("It's on the second floor.", label="place", entity="place"),
        CallPiece("Call me after lunch, around two.", label="time", entity="time"),
    )),
)
# A twenty-first held-out part (``bench.redaction --set held-out-21``), written on 2026-11-27 at the start of
# a session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb+m3, en-gb-x-rp+f2, en-us-nyc+f2): a Visa called "the long number" read in three finals with
# "okay" and "yep" between its groups, its expiry "oh four slash twenty eight", "the code on the back";
# an SSN read as "five oh five, twelve, thirty four fifty six" after "my social security"; a routing
# number with zeros; a date of birth with its year; negatives with no keyword: a flight's number, calls
# this week, a temperature, an order of pens, a day of the month, opening hours, a price "one fifty", a dog's age.
HELD_OUT_21 = (
    ("h21-visa-long-number", (
        CallPiece("Okay, the long number is four five three nine,", pause=1.0, label="card", entity="pci"),
        CallPiece("yep, one one two oh, seven seven three two,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("and then six oh four eight.", label="card", entity="pci", part=True),
        CallPiece("It expires oh four slash twenty eight.", label="expiry", entity="pci"),
        CallPiece("The code on the back is nine oh six.", label="cvv", entity="pci"),
    )),
    ("h21-ssn-routing", (
        CallPiece("My social security is five oh five, twelve, thirty four fifty six.", label="ssn", entity="ssn"),
        CallPiece("The routing number is zero two one, zero zero zero, zero eight nine.", label="account",
                  entity="pii"),
        CallPiece("I was born on March third, nineteen eighty five.", label="dob", entity="pii"),
    )),
    ("h21-negatives", (
        CallPiece("Flight twelve twenty was delayed again.", label="place", entity="place"),
        CallPiece("I've called three times this week.", label="amount", entity="amount"),
        CallPiece("It was ninety eight degrees outside.", label="amount", entity="amount"),
        CallPiece("We ordered six hundred pens.", label="amount", entity="amount"),
        CallPiece("The payment goes out on the twenty first.", label="date", entity="date"),
        CallPiece("We're open nine to five on weekdays.", label="time", entity="time"),
        CallPiece("It cost me one fifty at the store.", label="amount", entity="amount"),
        CallPiece("Our dog is eleven years old.", label="amount", entity="amount"),
    )),
)
# A twenty-second held-out part (``bench.redaction --set held-out-22``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are
# scored on it, with voices none of the other parts used (en-gb-x-rp+m3, en-029+m4, en-gb-scotland+f1): a
# Mastercard read in pairs over three finals after "I'll read it slowly", its expiry after "exp date", a
# code after "security number"; an SSN's last four after "last four of my social"; a member number with a
# letter read in pairs; a callback number with its area code over two finals; negatives with no keyword:
# a drive's minutes, employees, an age, half past, a bill's price, a platform, calls at two hours, nights.
HELD_OUT_22 = (
    ("h22-card-pairs", (
        CallPiece("I'll read it slowly. Five four, two four,", pause=1.0, label="card", entity="pci"),
        CallPiece("nine nine, oh one,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("three eight, seven seven, two two, six oh.", label="card", entity="pci", part=True),
        CallPiece("Exp date oh six, two eight.", label="expiry", entity="pci"),
        CallPiece("Security number is four one seven.", label="cvv", entity="pci"),
    )),
    ("h22-ssn-member-callback", (
        CallPiece("Last four of my social, eight one oh two.", label="ssn", entity="ssn"),
        CallPiece("My member number is M, nine three, four four, one.", label="account", entity="pii"),
        CallPiece("Best callback number, area code three one two,", pause=1.0, label="phone", entity="pii"),
        CallPiece("eight eight one, four oh four oh.", label="phone", entity="pii", part=True),
    )),
    ("h22-negatives", (
        CallPiece("It's about a twenty minute drive.", label="time", entity="time"),
        CallPiece("We have four hundred employees.", label="amount", entity="amount"),
        CallPiece("My grandson is nine.", label="amount", entity="amount"),
        CallPiece("I'll be there by half past three.", label="time", entity="time"),
        CallPiece("The bill was sixty five forty.", label="amount", entity="amount"),
        CallPiece("The train goes from platform nine.", label="place", entity="place"),
        CallPiece("She called twice, at two and at four.", label="time", entity="time"),
        CallPiece("We stayed for eleven nights.", label="amount", entity="amount"),
    )),
)
# A twenty-third held-out part (``bench.redaction --set held-out-23``), written on 2026-11-27 at the start of
# a session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb-x-gbcwmd+f5, en-gb+m5, en-gb-scotland+m2): a card called "the sixteen digits on the front" read
# with "double" and "triple" over two finals with "hang on" between, its expiry as "valid through ten,
# twenty nine", "the three digit code"; an SSN begun with "uh" and read with a hesitation in the middle;
# a checking account "ending in" four digits; a cell number read three, three, four; negatives with no
# keyword: a room, years as a customer, a meeting's time, a price in dollars, a year, two dozen, minutes
# before a call back, a chapter.
HELD_OUT_23 = (
    ("h23-card-front", (
        CallPiece("The sixteen digits on the front, four double four seven, triple two one,", pause=1.0,
                  label="card", entity="pci"),
        CallPiece("hang on, eight oh five three, six six nine four.", label="card", entity="pci", part=True),
        CallPiece("Valid through ten, twenty nine.", label="expiry", entity="pci"),
        CallPiece("The three digit code is seven two five.", label="cvv", entity="pci"),
    )),
    ("h23-ssn-account-cell", (
        CallPiece("Uh, it's my social, one three two, uh, forty seven, five eight six one.", label="ssn",
                  entity="ssn"),
        CallPiece("The checking account ending in four four one nine.", label="account", entity="pii"),
        CallPiece("My cell is five oh three, eight six seven, two two nine oh.", label="phone", entity="pii"),
    )),
    ("h23-negatives", (
        CallPiece("I'm in room four twelve.", label="place", entity="place"),
        CallPiece("I've been a customer for twelve years.", label="amount", entity="amount"),
        CallPiece("The meeting is at ten thirty tomorrow.", label="time", entity="time"),
        CallPiece("It was about forty dollars.", label="amount", entity="amount"),
        CallPiece("Twenty twenty four was a hard year.", label="date", entity="date"),
        CallPiece("We need two dozen of them.", label="amount", entity="amount"),
        CallPiece("Call me back in fifteen minutes.", label="time", entity="time"),
        CallPiece("It's in chapter eleven of the guide.", label="place", entity="place"),
    )),
)
# A twenty-fourth held-out part (``bench.redaction --set held-out-24``), written on 2026-11-27 during a session,
# without looking at it again, to be scored once by the next session before any of that session's rules are
# scored on it, with voices none of the other parts used (en-gb-x-gbclan+f2, en-gb-x-rp+f3, en-029+m8): a
# Discover card after "the number on the card is" read in fours with "oh" over two finals, "okay" between;
# its expiry said "the end of oh nine, twenty seven"; a PIN; an SSN read with "dash" between its groups; a
# date of birth said as "oh three, fifteen, seventy two"; a phone number with an extension; negatives with no
# keyword: a sum in hundreds of dollars, business days, a decade, a software version, a channel, a fraction,
# the first of the month, "twenty four seven".
HELD_OUT_24 = (
    ("h24-discover-fours", (
        CallPiece("The number on the card is six oh one one, two oh four seven,", pause=1.0, label="card",
                  entity="pci"),
        CallPiece("okay, eight eight one three, five oh nine two.", label="card", entity="pci", part=True),
        CallPiece("It's good till the end of oh nine, twenty seven.", label="expiry", entity="pci"),
        CallPiece("And my pin is four four eight one.", label="cvv", entity="pci"),
    )),
    ("h24-ssn-dob-extension", (
        CallPiece("Social is two one four dash six six dash oh three nine eight.", label="ssn", entity="ssn"),
        CallPiece("Date of birth oh three, fifteen, seventy two.", label="dob", entity="pii"),
        CallPiece("Reach me at six one seven, five five five, oh one four two, extension three one.",
                  label="phone", entity="pii"),
    )),
    ("h24-negatives", (
        CallPiece("It came to about fifteen hundred dollars.", label="amount", entity="amount"),
        CallPiece("It takes three to five business days.", label="time", entity="time"),
        CallPiece("That was back in the nineties.", label="date", entity="date"),
        CallPiece("I'm on version two point one.", label="place", entity="place"),
        CallPiece("It was on channel seven.", label="place", entity="place"),
        CallPiece("About two thirds of it is done.", label="amount", entity="amount"),
        CallPiece("Rent is due on the first of the month.", label="date", entity="date"),
        CallPiece("You can reach us twenty four seven.", label="time", entity="time"),
    )),
)
# A twenty-fifth held-out part (``bench.redaction --set held-out-25``), written on 2026-11-27 at the start of
# a session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb-scotland+m4, en-gb+f4, en-us-nyc+m5): an agent asking for "the long number on the card" and
# the caller reading a Visa over three finals with a correction ("no sorry, four five three nine"); its
# expiry as a month's name and a year; "the three numbers on the back"; an SSN said in hundreds and tens
# after "my SSN"; a policy number with a letter spelled "as in"; a toll-free number said "eight hundred";
# negatives with no keyword: children's ages, a score, a page, a price without its currency, opening
# hours, a date in March, a wait in minutes, a floor.
HELD_OUT_25 = (
    ("h25-visa-correction", (
        CallPiece("Can you read me the long number on the card?"),
        CallPiece("Sure, four five three two,", pause=0.8, label="card", entity="pci"),
        CallPiece("no sorry, four five three nine, one one seven two,", pause=1.0, label="card", entity="pci",
                  part=True),
        CallPiece("eight zero zero six, two two four one.", label="card", entity="pci", part=True),
        CallPiece("It expires March twenty eight.", label="expiry", entity="pci"),
        CallPiece("The three numbers on the back are seven one four.", label="cvv", entity="pci"),
    )),
    ("h25-ssn-policy-tollfree", (
        CallPiece("My SSN is five hundred twelve, forty four, ninety eight seventy.", label="ssn", entity="ssn"),
        CallPiece("The policy number is B as in boy, four four seven, nine one two.", label="account",
                  entity="pii"),
        CallPiece("You can call me back on eight hundred, five five five, twelve twelve.", label="phone",
                  entity="pii"),
    )),
    ("h25-negatives", (
        CallPiece("We have three kids, ages four, seven and nine.", label="amount", entity="amount"),
        CallPiece("The score was two to one at half time.", label="amount", entity="amount"),
        CallPiece("It's on page one twenty.", label="place", entity="place"),
        CallPiece("I paid twenty nine ninety nine for it.", label="amount", entity="amount"),
        CallPiece("The shop is open from nine to five.", label="time", entity="time"),
        CallPiece("It happened on March third.", label="date", entity="date"),
        CallPiece("I have been waiting forty five minutes.", label="time", entity="time"),
        CallPiece("Their office is on the fourth floor.", label="place", entity="place"),
    )),
)
# A twenty-sixth held-out part (``bench.redaction --set held-out-26``), written on 2026-11-27 during a session,
# without looking at it again, to be scored once by the next session before any of that session's rules are
# scored on it, with voices none of the other parts used (en-gb-scotland+m5, en-gb+f5, en-gb-x-gbcwmd+f1): an
# American Express read four, six, five over three finals after "it's an Amex", "hold on" between; its four
# digit code "on the front"; an SSN read with "and" between its groups after "the social"; a routing number
# after "routing"; a date of birth said "the second of June, nineteen eighty one"; negatives with no keyword: a
# drive in hours, a credit score, a bus route, staff in hundreds, a day of the month, a decade, a mile marker,
# two of each.
HELD_OUT_26 = (
    ("h26-amex-front-code", (
        CallPiece("Okay, it's an Amex, three seven four two,", pause=0.9, label="card", entity="pci"),
        CallPiece("hold on, nine eight seven six five four,", pause=1.0, label="card", entity="pci", part=True),
        CallPiece("three two one oh five.", label="card", entity="pci", part=True),
        CallPiece("The four digits on the front are eight one two six.", label="cvv", entity="pci"),
    )),
    ("h26-ssn-routing-dob", (
        CallPiece("The social is six one two and four four and nine eight seven oh.", label="ssn", entity="ssn"),
        CallPiece("Routing is oh two one, oh oh oh, oh two one.", label="account", entity="pii"),
        CallPiece("I was born the second of June, nineteen eighty one.", label="dob", entity="pii"),
    )),
    ("h26-negatives", (
        CallPiece("It's about a two hour drive from here.", label="time", entity="time"),
        CallPiece("My credit score is around seven fifty.", label="amount", entity="amount"),
        CallPiece("I usually take the number nine bus.", label="place", entity="place"),
        CallPiece("We have about three hundred staff.", label="amount", entity="amount"),
        CallPiece("It renews on the twenty first.", label="date", entity="date"),
        CallPiece("I grew up in the eighties.", label="date", entity="date"),
        CallPiece("The accident was near mile marker sixty.", label="place", entity="place"),
        CallPiece("Send me two of each, please.", label="amount", entity="amount"),
    )),
)
# A twenty-seventh held-out part (``bench.redaction --set held-out-27``), written on 2026-11-27 at the start of
# a session, before its rules, to be scored once at that session's end, with voices none of the other parts
# used (en-gb-x-gbcwmd+f4, en-us-nyc+m7, en-gb-x-rp+f1): a Mastercard read in pairs ("fifty four, twelve")
# over two finals after "I'll give you the card now"; its expiry "oh four slash twenty nine"; "security
# code one oh one"; the last four of a social said as tens; a member ID with a letter spelled "as in" and
# its digits in pairs; a phone number after "area code"; negatives with no keyword: a temperature, a shoe
# size, a weight in pounds, a two for one deal, a quarter past the hour, a flight's time, a year said in
# thousands, a room number.
HELD_OUT_27 = (
    ("h27-mastercard-pairs", (
        CallPiece("I'll give you the card now."),
        CallPiece("Fifty four, twelve, thirty three, oh eight,", pause=0.8, label="card", entity="pci"),
        CallPiece("sixty one, ninety, twenty two, forty seven.", label="card", entity="pci", part=True),
        CallPiece("Expiry is oh four slash twenty nine.", label="expiry", entity="pci"),
        CallPiece("Security code one oh one.", label="cvv", entity="pci"),
    )),
    ("h27-last-four-member-phone", (
        CallPiece("The last four of my social are ninety one oh two.", label="ssn", entity="ssn"),
        CallPiece("My member ID is M as in Mary, six two, eight eight, one five.", label="account",
                  entity="pii"),
        CallPiece("Area code three one two, then four four four, nine nine one oh.", label="phone",
                  entity="pii"),
    )),
    ("h27-negatives", (
        CallPiece("It's about seventy two degrees outside.", label="amount", entity="amount"),
        CallPiece("I wear a size nine shoe.", label="amount", entity="amount"),
        CallPiece("The package weighs five pounds.", label="amount", entity="amount"),
        CallPiece("It was a two for one deal.", label="amount", entity="amount"),
        CallPiece("Call me at a quarter past three.", label="time", entity="time"),
        CallPiece("My flight leaves at six forty five.", label="time", entity="time"),
        CallPiece("We moved here in two thousand nineteen.", label="date", entity="date"),
        CallPiece("We are staying in room four oh six.", label="place", entity="place"),
    )),
)
# A twenty-eighth held-out part (``bench.redaction --set held-out-28``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are scored
# on it, with voices none of the other parts used (en-gb-scotland+f4, en-gb-x-gbclan+f1, en-gb-x-rp+f4): a
# Discover read in four finals with "um" before the second, after the agent's "go ahead with the card"; its
# expiry year said before its month; the code after the agent's "and the code?"; a checking account's number
# with no "account"; an SSN's last four said twice after "let me check"; negatives with no keyword: a table for
# four at seven, ninety days, an interest rate, one left in stock, a school grade, a flight, five minutes, points
# scored.
HELD_OUT_28 = (
    ("h28-discover-um", (
        CallPiece("Go ahead with the card when you're ready."),
        CallPiece("Six zero one one,", pause=0.8, label="card", entity="pci"),
        CallPiece("um, two two three three,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("four four five five,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("six six seven seven.", label="card", entity="pci", part=True),
        CallPiece("It's twenty eight, the month is ten.", label="expiry", entity="pci"),
        CallPiece("And the code?"),
        CallPiece("Nine nine one.", label="cvv", entity="pci"),
    )),
    ("h28-checking-last-four", (
        CallPiece("My checking is four four one two, three nine eight seven.", label="account", entity="pii"),
        CallPiece("Let me check, the last four of my social, six two oh eight, yes six two oh eight.",
                  label="ssn", entity="ssn"),
    )),
    ("h28-negatives", (
        CallPiece("I need a table for four at seven.", label="time", entity="time"),
        CallPiece("It's been ninety days.", label="time", entity="time"),
        CallPiece("We're paying twelve percent interest.", label="amount", entity="amount"),
        CallPiece("There's only one left in stock.", label="amount", entity="amount"),
        CallPiece("My kid is in fifth grade.", label="place", entity="place"),
        CallPiece("That was flight two twelve.", label="place", entity="place"),
        CallPiece("Give me five minutes.", label="time", entity="time"),
        CallPiece("He scored thirty points.", label="amount", entity="amount"),
    )),
)
# A twenty-ninth held-out part (``bench.redaction --set held-out-29``), written on 2026-11-27 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-gb-x-gbcwmd+f2, en-us-nyc+m8, en-gb-scotland+f5): a Visa read after "the numbers across the front" (no
# "card") over two finals, its last group corrected ("no wait"); its expiry after "valid thru"; the three on the
# back; an SSN said in tens with "then" between its groups; a phone number with an extension; negatives with
# no keyword: a level, an age, a price in bucks, ten to six, a bus's minutes, a family of five, steps a day, a
# contract's section.
HELD_OUT_29 = (
    ("h29-front-correction", (
        CallPiece("Can you read me the numbers across the front?"),
        CallPiece("Four five three nine, seven one eight eight,", pause=0.8, label="card", entity="pci"),
        CallPiece("oh two two one, five five six four, no wait, five five six three.", label="card", entity="pci",
                  part=True),
        CallPiece("Valid thru nine twenty seven.", label="expiry", entity="pci"),
        CallPiece("The three on the back are four one seven.", label="cvv", entity="pci"),
    )),
    ("h29-ssn-correction-extension", (
        CallPiece("For the tax form, social, five thirty two, then forty four, then eleven ninety eight.",
                  label="ssn", entity="ssn"),
        CallPiece("You can reach me on seven one eight, five five five, oh one nine two, extension four four.",
                  label="phone", entity="pii"),
    )),
    ("h29-negatives", (
        CallPiece("Take the lift to level two.", label="place", entity="place"),
        CallPiece("My nan turns ninety next week.", label="amount", entity="amount"),
        CallPiece("It cost me about twenty bucks.", label="amount", entity="amount"),
        CallPiece("The shop shuts at ten to six.", label="time", entity="time"),
        CallPiece("The bus comes every twelve minutes.", label="time", entity="time"),
        CallPiece("We're a family of five.", label="amount", entity="amount"),
        CallPiece("I walk ten thousand steps a day.", label="amount", entity="amount"),
        CallPiece("It says so in section thirty two.", label="place", entity="place"),
    )),
)
# A thirtieth held-out part (``bench.redaction --set held-out-30``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are scored
# on it, with voices none of the other parts used (en-gb-x-rp+m5, en-gb+m4, en-gb-x-gbclan+m2): a card read in
# groups full of "oh" over two finals after "the digits are"; its expiry "at the end of" a month and year; the
# code "on the signature strip"; a UK sort code and account number said in pairs and fours; an SSN said with
# "hyphen" between its groups; negatives with no keyword: a dress size, a show's time, a rating in stars, buy
# one get one free, the news at eleven, a top ten hit, a birthday party's date, an age this year.
HELD_OUT_30 = (
    ("h30-card-oh-groups", (
        CallPiece("I'll read the card, the digits are"),
        CallPiece("five one oh five, one oh five one,", pause=0.8, label="card", entity="pci"),
        CallPiece("oh five one oh, five one oh five.", label="card", entity="pci", part=True),
        CallPiece("It stops working at the end of March twenty eight.", label="expiry", entity="pci"),
        CallPiece("The signature strip says two nine four.", label="cvv", entity="pci"),
    )),
    ("h30-sort-code-hyphens", (
        CallPiece("Sort code forty, twelve, seventy six, account three one oh four, two two eight one.",
                  label="account", entity="pii"),
        CallPiece("My social has hyphens, four one nine hyphen two two hyphen eight three oh five.",
                  label="ssn", entity="ssn"),
    )),
    ("h30-negatives", (
        CallPiece("She wears a size ten dress.", label="amount", entity="amount"),
        CallPiece("We have tickets for the nine fifteen show.", label="time", entity="time"),
        CallPiece("It got two and a half stars.", label="amount", entity="amount"),
        CallPiece("It's buy one get one free.", label="amount", entity="amount"),
        CallPiece("I heard it on the eleven o'clock news.", label="time", entity="time"),
        CallPiece("That song was a top ten hit.", label="amount", entity="amount"),
        CallPiece("Her party is on the ninth of August.", label="date", entity="date"),
        CallPiece("He turns forty two this year.", label="amount", entity="amount"),
    )),
)
# A thirty-first held-out part (``bench.redaction --set held-out-31``), written on 2026-11-27 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-gb-x-rp+m2, en-gb-x-gbcwmd+m1, en-gb+f3): a card said in pairs ("forty nine, sixteen ...") over two
# finals after no keyword, then the agent reading half of it back; its expiry "the date on it"; the code
# "the back has nought ..."; a passport number in threes; an SSN's last four said like a year; a phone number
# after "plus one"; negatives with no keyword: a height, twenty past ten, three quarters, a kettle's litres, a
# shop's opening year, a terminal, miles to the gallon, quarter to eight.
HELD_OUT_31 = (
    ("h31-card-pairs-read-back", (
        CallPiece("Right, I'm listening."),
        CallPiece("Forty nine, sixteen, eighty eight, twenty one,", pause=0.8, label="card", entity="pci"),
        CallPiece("thirty five, seventy two, forty six, oh nine.", label="card", entity="pci", part=True),
        CallPiece("Let me read that back, four nine one six, eight eight two one.", label="card", entity="pci"),
        CallPiece("The date on it is oh nine, thirty.", label="expiry", entity="pci"),
        CallPiece("Then the back has nought eight one.", label="cvv", entity="pci"),
    )),
    ("h31-passport-year-plus-one", (
        CallPiece("My passport number is five three one, two two eight, oh four seven.", label="account",
                  entity="pii"),
        CallPiece("Last four of the social, nineteen oh two.", label="ssn", entity="ssn"),
        CallPiece("Call me back on plus one, three one two, four four six, nine oh one eight.", label="phone",
                  entity="pii"),
    )),
    ("h31-negatives", (
        CallPiece("I'm five foot ten.", label="amount", entity="amount"),
        CallPiece("It's twenty past ten now.", label="time", entity="time"),
        CallPiece("Three quarters of the staff were off.", label="amount", entity="amount"),
        CallPiece("The kettle holds one point seven litres.", label="amount", entity="amount"),
        CallPiece("The shop opened in two thousand and nine.", label="date", entity="date"),
        CallPiece("Meet me at terminal five.", label="place", entity="place"),
        CallPiece("It does forty miles to the gallon.", label="amount", entity="amount"),
        CallPiece("The game starts at quarter to eight.", label="time", entity="time"),
    )),
)
# A thirty-second held-out part (``bench.redaction --set held-out-32``), written on 2026-11-27 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are scored
# on it, with voices none of the other parts used (en-gb-x-rp+m6, en-gb-x-gbclan+f3, en-gb-scotland+m1): a card
# read in three pieces, each after the agent's prompt ("First four?", "Next four?", "And the rest?"), "nought"
# for zero; its expiry "reads four, twenty thirty"; "security digits"; an SSN whose first group the caller says
# twice; an account's number after "pay it from"; negatives with no keyword: minutes waited, chairs, forms of
# ID, a baby's weight in pounds and ounces, ringing back in twenty minutes, second out of twelve, a shift's end.
HELD_OUT_32 = (
    ("h32-card-agent-prompts", (
        CallPiece("First four?"),
        CallPiece("Six oh one one.", label="card", entity="pci"),
        CallPiece("Next four?"),
        CallPiece("Nought nought nought nine.", label="card", entity="pci", part=True),
        CallPiece("And the rest?"),
        CallPiece("Nine oh one three, nine four two four.", label="card", entity="pci", part=True),
        CallPiece("Expiry reads four, twenty thirty.", label="expiry", entity="pci"),
        CallPiece("Security digits eight eight five.", label="cvv", entity="pci"),
    )),
    ("h32-ssn-said-twice-pay-from", (
        CallPiece("Social is six one two, six one two,", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("then seventy, then four four eight one.", label="ssn", entity="ssn", part=True),
        CallPiece("Pay it from account nine nine two oh four seven one.", label="account", entity="pii"),
    )),
    ("h32-negatives", (
        CallPiece("I've been waiting forty minutes for this.", label="time", entity="time"),
        CallPiece("We need six chairs for the party.", label="amount", entity="amount"),
        CallPiece("Bring two forms of ID.", label="amount", entity="amount"),
        CallPiece("The baby weighed seven pounds four ounces.", label="amount", entity="amount"),
        CallPiece("I'll ring back in twenty minutes.", label="time", entity="time"),
        CallPiece("She came second out of twelve runners.", label="amount", entity="amount"),
        CallPiece("My shift ends at four thirty.", label="time", entity="time"),
    )),
)
# A thirty-third held-out part (``bench.redaction --set held-out-33``), written on 2026-11-28 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-gb+f1, en-gb-x-gbcwmd+m3, en-gb-x-gbclan+m4): a card begun wrong and corrected ("sorry, ..."), with
# "double" and "triple", then finished after the agent's "go on"; its expiry as a month's name and a year
# ("good through March twenty eight"); "the three digits on the back"; an SSN after "S S N" in threes and
# twos; a routing and an account number said one after the other; negatives with no keyword: a flight
# number, a hotel room, a model year, a monthly price with no currency, a chapter, a page, a head count, a
# day of a month.
HELD_OUT_33 = (
    ("h33-card-corrected-go-on", (
        CallPiece("It's four five five six, sorry,", pause=0.8, label="card", entity="pci"),
        CallPiece("four five five seven, double one two three,", label="card", entity="pci", part=True),
        CallPiece("Go on."),
        CallPiece("triple eight four, six two oh one.", label="card", entity="pci", part=True),
        CallPiece("It's good through March twenty eight.", label="expiry", entity="pci"),
        CallPiece("The three digits on the back are seven one six.", label="cvv", entity="pci"),
    )),
    ("h33-ssn-routing-account", (
        CallPiece("S S N is four oh eight, two nine, six six one three.", label="ssn", entity="ssn"),
        CallPiece("Routing zero two one, zero zero zero, zero eight nine.", label="account", entity="pii"),
        CallPiece("And the account is three eight eight one, five oh two six.", label="account", entity="pii"),
    )),
    ("h33-negatives", (
        CallPiece("Flight two four seven lands at six.", label="time", entity="time"),
        CallPiece("We're in room four twelve.", label="place", entity="place"),
        CallPiece("It's the twenty nineteen model.", label="date", entity="date"),
        CallPiece("It's twelve ninety nine a month.", label="amount", entity="amount"),
        CallPiece("Read chapter eleven first.", label="amount", entity="amount"),
        CallPiece("It's on page three hundred and two.", label="amount", entity="amount"),
        CallPiece("About fifteen people turned up.", label="amount", entity="amount"),
        CallPiece("The party is on the fourteenth of May.", label="date", entity="date"),
    )),
)
# A thirty-fourth held-out part (``bench.redaction --set held-out-34``), written on 2026-11-28 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-gb+m1, en-gb+m2, en-gb+m6): an American Express number read four, six, five over three finals after "it's
# an Amex"; its expiry "runs out end of June twenty nine"; "the four digits on the front"; an SSN over three
# finals with the agent's "uh huh" between them; a British mobile with "double oh"; a member number; negatives
# with no keyword: a bus route, a football score, degrees, an age, half six, a discount, a price in quid, a year
# someone moved.
HELD_OUT_34 = (
    ("h34-amex-four-six-five", (
        CallPiece("It's an Amex."),
        CallPiece("Three seven one four,", pause=0.8, label="card", entity="pci"),
        CallPiece("four nine six two oh one,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("then seven three oh oh five.", label="card", entity="pci", part=True),
        CallPiece("It runs out end of June twenty nine.", label="expiry", entity="pci"),
        CallPiece("The four digits on the front are two two six one.", label="cvv", entity="pci"),
    )),
    ("h34-ssn-uh-huh-mobile-member", (
        CallPiece("What's your social?"),
        CallPiece("It's five seven two.", label="ssn", entity="ssn"),
        CallPiece("Uh huh."),
        CallPiece("Thirty one.", label="ssn", entity="ssn", part=True),
        CallPiece("Uh huh."),
        CallPiece("Eight oh four four.", label="ssn", entity="ssn", part=True),
        CallPiece("My mobile is oh seven seven double oh, nine one two, three four five.", label="phone",
                  entity="pii"),
        CallPiece("Member number nine four oh oh two eight one three.", label="account", entity="pii"),
    )),
    ("h34-negatives", (
        CallPiece("I got the number forty three bus.", label="amount", entity="amount"),
        CallPiece("We won three nil on Saturday.", label="amount", entity="amount"),
        CallPiece("It's twenty two degrees out.", label="amount", entity="amount"),
        CallPiece("My son is fourteen.", label="amount", entity="amount"),
        CallPiece("Half six tomorrow suits me.", label="time", entity="time"),
        CallPiece("Ten percent off would be nice.", label="amount", entity="amount"),
        CallPiece("It cost forty quid.", label="amount", entity="amount"),
        CallPiece("We moved here in twenty sixteen.", label="date", entity="date"),
    )),
)
# A thirty-fifth held-out part (``bench.redaction --set held-out-35``), written on 2026-11-28 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are scored
# on it, with voices of three accents none of the other parts used (en-us+Andy, en-029+Annie, en-us-nyc+Denis):
# a Discover card read with "dash" between its groups, the caller pausing mid-group; its expiry "oh two, slash,
# thirty"; a code with "zero"; an SSN said in pairs ("twelve, thirty four, ..."); a number the caller reads
# while the agent confirms each piece ("Got it."); negatives with no keyword: a price with no currency, a floor,
# five minutes, a seat, a version number, a score out of ten, a century, a percentage.
HELD_OUT_35 = (
    ("h35-discover-dashes", (
        CallPiece("Six zero one one dash two four", pause=0.7, label="card", entity="pci"),
        CallPiece("eight one dash five five three oh dash nine two two seven.", label="card", entity="pci",
                  part=True),
        CallPiece("Oh two, slash, thirty.", label="expiry", entity="pci"),
        CallPiece("The code's nine nine zero.", label="cvv", entity="pci"),
    )),
    ("h35-ssn-pairs-got-it", (
        CallPiece("It's twelve, thirty four,", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("fifty six, seventy eight, nine.", label="ssn", entity="ssn", part=True),
        CallPiece("Okay, the reference is four four one.", label="account", entity="pii"),
        CallPiece("Got it."),
        CallPiece("Then seven seven oh.", label="account", entity="pii", part=True),
        CallPiece("Got it."),
        CallPiece("Then two.", label="account", entity="pii", part=True),
    )),
    ("h35-negatives", (
        CallPiece("It was twenty nine ninety five.", label="amount", entity="amount"),
        CallPiece("We're on floor three.", label="place", entity="place"),
        CallPiece("Give me five minutes.", label="time", entity="time"),
        CallPiece("I'm in row twelve, seat nine.", label="place", entity="place"),
        CallPiece("I'm on version two point one.", label="amount", entity="amount"),
        CallPiece("I'd give it eight out of ten.", label="amount", entity="amount"),
        CallPiece("The house is from the eighteen hundreds.", label="date", entity="date"),
        CallPiece("About sixty percent of it works.", label="amount", entity="amount"),
    )),
)
# A thirty-sixth held-out part (``bench.redaction --set held-out-36``), written on 2026-11-28 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-us+Michael, en-029+Gene, en-gb-x-rp+Alicia): a Mastercard read in pairs with a filler mid-number; the agent
# reading a piece back (the read-back is as secret as the reading); an expiry "the fourth month of twenty
# eight"; an SSN with "and then" between its groups; a phone number with "extension"; negatives with no keyword:
# time on hold, a model year, an apartment, a count of calls, a team's size, a page, a clock time, a channel.
HELD_OUT_36 = (
    ("h36-mastercard-pairs-readback", (
        CallPiece("Okay, it's fifty four, um, twenty one,", pause=0.8, label="card", entity="pci"),
        CallPiece("thirty three, oh eight, sixty seven,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("ninety, twelve, forty four.", label="card", entity="pci", part=True),
        CallPiece("So that's five four two one, three three oh eight?", label="card", entity="pci"),
        CallPiece("Yes."),
        CallPiece("It expires the fourth month of twenty eight.", label="expiry", entity="pci"),
    )),
    ("h36-ssn-and-then-extension", (
        CallPiece("Social is six one eight, and then", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("two nine, and then four four seven oh.", label="ssn", entity="ssn", part=True),
        CallPiece("Call me on three one two, five five five, oh one nine six, extension forty.",
                  label="phone", entity="pii"),
    )),
    ("h36-negatives", (
        CallPiece("I've been on hold for forty five minutes.", label="time", entity="time"),
        CallPiece("It's the two thousand eight model.", label="date", entity="date"),
        CallPiece("I'm in apartment twelve.", label="place", entity="place"),
        CallPiece("I called three times last week.", label="amount", entity="amount"),
        CallPiece("There are nineteen of us on the team.", label="amount", entity="amount"),
        CallPiece("It's on page four of the letter.", label="place", entity="place"),
        CallPiece("It's two fifteen now.", label="time", entity="time"),
        CallPiece("It was on channel seven.", label="place", entity="place"),
    )),
)
# A second Spanish part (``bench.redaction --set spanish-2``), written on 2026-11-28 at the start of a session,
# before its rules, to be scored once at that session's end, with Spanish voices the first part did not use
# (es+m2, es-419+f3, es+f4): a Visa read in four finals after "es una Visa" with a filler; its expiry as a month
# and a year; the code "de atrás"; an SSN in pairs after "mi seguro social" (no "número"); a phone number with
# "doble"; an ID (DNI) with no other keyword; negatives with no keyword: a clock time, a price in euros, children,
# a floor, a year of birth, minutes, a day of the month, a head count.
SPANISH_2 = (
    ("es2-visa-groups", (
        CallPiece("Es una Visa, eh,", pause=0.8),
        CallPiece("cuatro cinco cinco seis,", pause=0.8, label="card", entity="pci"),
        CallPiece("siete ocho nueve cero,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("uno dos tres cuatro,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("cinco seis siete ocho.", label="card", entity="pci", part=True),
        CallPiece("Vence en agosto del veintiocho.", label="expiry", entity="pci"),
        CallPiece("Los tres de atrás son dos cero nueve.", label="cvv", entity="pci"),
    )),
    ("es2-ssn-phone-dni", (
        CallPiece("Mi seguro social es cincuenta y uno, veintitrés, cuarenta y cinco, sesenta y siete, ocho.",
                  label="ssn", entity="ssn"),
        CallPiece("Mi teléfono es seis uno dos, cinco doble siete, cuatro tres uno.", label="phone", entity="pii"),
        CallPiece("Y el DNI, siete tres ocho cuatro dos nueve uno cinco.", label="account", entity="pii"),
    )),
    ("es2-negatives", (
        CallPiece("Son las diez y media.", label="time", entity="time"),
        CallPiece("Cuesta treinta euros.", label="amount", entity="amount"),
        CallPiece("Tengo dos hijos.", label="amount", entity="amount"),
        CallPiece("Vivo en el piso cuatro.", label="place", entity="place"),
        CallPiece("Nací en mil novecientos ochenta.", label="date", entity="date"),
        CallPiece("Espere cinco minutos, por favor.", label="time", entity="time"),
        CallPiece("El pedido llegó el día doce.", label="date", entity="date"),
        CallPiece("Somos veinte en la oficina.", label="amount", entity="amount"),
    )),
)
# A thirty-seventh held-out part (``bench.redaction --set held-out-37``), written on 2026-11-28 at the end of a
# session, after its rules, to be scored once by the next session before any of that session's rules are scored
# on it, with voices none of the other parts used (en-us+Lee, en-gb-scotland+Hugo, en-029+linda): a Visa read in
# groups with "and" between them and a correction mid-group; the card's last four after the agent asks for
# them; an SSN read with "dash"; a date of birth said with an ordinal; a code texted to the caller; negatives
# with no keyword: pets, half past four, a weight in pounds, the second light, seven days a week, a price with
# "a hundred and", a year, the third time today.
HELD_OUT_37 = (
    ("h37-visa-and-correction", (
        CallPiece("Four seven one six, and,", pause=0.8, label="card", entity="pci"),
        CallPiece("sorry, four seven one seven, and two two oh eight,", pause=0.8, label="card", entity="pci",
                  part=True),
        CallPiece("and five five three nine, and six six oh one.", label="card", entity="pci", part=True),
        CallPiece("And the last four of the card again?"),
        CallPiece("Ends in six six oh one.", label="card", entity="pci"),
    )),
    ("h37-ssn-dash-dob-texted-code", (
        CallPiece("Five five five dash four four dash one two one two.", label="ssn", entity="ssn"),
        CallPiece("I was born March third, nineteen eighty one.", label="dob", entity="pii"),
        CallPiece("The code they texted me is four eight two, one nine five.", label="account", entity="pii"),
    )),
    ("h37-negatives", (
        CallPiece("I've got two dogs and three cats.", label="amount", entity="amount"),
        CallPiece("The meeting's at half past four.", label="time", entity="time"),
        CallPiece("It weighs about sixty pounds.", label="amount", entity="amount"),
        CallPiece("Turn left at the second light.", label="place", entity="place"),
        CallPiece("We're open seven days a week.", label="time", entity="time"),
        CallPiece("That's a hundred and twenty dollars.", label="amount", entity="amount"),
        CallPiece("It happened back in nineteen ninety nine.", label="date", entity="date"),
        CallPiece("I'm calling for the third time today.", label="amount", entity="amount"),
    )),
)
# A thirty-eighth held-out part (``bench.redaction --set held-out-38``), written on 2026-11-28 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-us-nyc+edward, en-gb-x-gbclan+steph, en-gb+john): an American Express read 4-6-5 and its four-digit code
# on the front; an expiry with "slash"; an SSN spread over three utterances with "hold on"; a phone number whose
# area code comes alone; a date of birth day-first; a bank's routing number; negatives with no keyword: years as
# a customer, a closing time, a flight's day, a price a month with no currency, a room, a floor, minutes, a road.
HELD_OUT_38 = (
    ("h38-amex-front-code", (
        CallPiece("It's an American Express, three seven one four,", pause=0.8, label="card", entity="pci"),
        CallPiece("four nine six two one eight, three one oh oh five.", label="card", entity="pci", part=True),
        CallPiece("The four digits on the front are two two five one.", label="cvv", entity="pci"),
        CallPiece("Expiry is oh nine slash twenty nine.", label="expiry", entity="pci"),
    )),
    ("h38-ssn-three-utterances-area-code", (
        CallPiece("My social, hold on, it's three oh", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("two, one four,", pause=0.8, label="ssn", entity="ssn", part=True),
        CallPiece("seven two two nine.", label="ssn", entity="ssn", part=True),
        CallPiece("Area code four one five,", pause=0.8, label="phone", entity="pii"),
        CallPiece("then eight six two, oh nine nine one.", label="phone", entity="pii", part=True),
        CallPiece("Date of birth is the twelfth of June, nineteen seventy four.", label="dob", entity="pii"),
        CallPiece("The routing number is oh two one, oh oh oh, oh two one.", label="account", entity="pii"),
    )),
    ("h38-negatives", (
        CallPiece("I've been with you for twelve years.", label="date", entity="date"),
        CallPiece("The store closes at nine thirty.", label="time", entity="time"),
        CallPiece("My flight is on the twenty second.", label="date", entity="date"),
        CallPiece("It's forty nine ninety nine a month.", label="amount", entity="amount"),
        CallPiece("We stayed in room two oh four.", label="place", entity="place"),
        CallPiece("I'm on the fifth floor.", label="place", entity="place"),
        CallPiece("Give me two minutes.", label="time", entity="time"),
        CallPiece("It's just off route sixty six.", label="place", entity="place"),
    )),
)
# A thirty-ninth held-out part (``bench.redaction --set held-out-39``), written on 2026-11-28 during a session,
# before held-out-38 was scored, not run by it, to be scored once by the next session before any of that
# session's rules, with voices none of the other parts used (en-us+caleb, en-gb-x-rp+belinda, en-029+david): a
# Discover read with "double" and "triple"; the security code after the agent asks, with "uh"; an expiry said
# "December of twenty seven"; an SSN whose rest comes after the agent's "Go ahead."; a phone number with "plus
# one"; a policy number with a letter spelled "as in"; negatives with no keyword: minutes, bedrooms, an age, an
# hour after "after", a floor, a price with its unit, a year, a platform.
HELD_OUT_39 = (
    ("h39-discover-double-triple", (
        CallPiece("It's a Discover, six oh one one, double oh nine four,", pause=0.8, label="card", entity="pci"),
        CallPiece("triple three two, eight one five seven.", label="card", entity="pci", part=True),
        CallPiece("And the security code?"),
        CallPiece("It's, uh, seven oh seven.", label="cvv", entity="pci"),
        CallPiece("Valid through December of twenty seven.", label="expiry", entity="pci"),
    )),
    ("h39-ssn-go-ahead-plus-one", (
        CallPiece("My social is four one two,", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("Go ahead."),
        CallPiece("eighty eight, sixty one oh three.", label="ssn", entity="ssn", part=True),
        CallPiece("You can reach me at plus one, six one seven, five five five, two three four oh.",
                  label="phone", entity="pii"),
        CallPiece("The policy number is P as in Peter, seven seven four one nine two.", label="account",
                  entity="pii"),
    )),
    ("h39-negatives", (
        CallPiece("I've got about twenty minutes.", label="time", entity="time"),
        CallPiece("It's a two bedroom flat.", label="amount", entity="amount"),
        CallPiece("She's eleven years old.", label="amount", entity="amount"),
        CallPiece("Call back after three.", label="time", entity="time"),
        CallPiece("We're on the fourth floor.", label="place", entity="place"),
        CallPiece("It was nineteen ninety nine dollars.", label="amount", entity="amount"),
        CallPiece("That was back in twenty twenty one.", label="date", entity="date"),
        CallPiece("The train leaves from platform nine.", label="place", entity="place"),
    )),
)
# A fortieth held-out part (``bench.redaction --set held-out-40``), written on 2026-11-28 at the start of a
# session, before its rules and before held-out-39 was scored, to be scored once at that session's end, with
# voices none of the other parts used (en-us+Mike, en-gb-x-gbcwmd+Andrea, en-029+paul): a card read in three
# groups with no keyword at all, after "Okay, it's"; its expiry after the agent asks; the last four of an SSN and
# a correction "no wait"; an account's last four; a phone number read 3-3-4 with "oh"; negatives with no
# keyword: minutes, a price a month with no unit, children, a time with its minutes, a house, a year with
# "thousand and", an exit, a price with its unit.
HELD_OUT_40 = (
    ("h40-card-no-keyword", (
        CallPiece("Okay, it's five four two four,", pause=0.8, label="card", entity="pci"),
        CallPiece("three one eight eight, seven seven six two,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("oh oh four nine.", label="card", entity="pci", part=True),
        CallPiece("And the expiration?"),
        CallPiece("Eleven twenty eight.", label="expiry", entity="pci"),
    )),
    ("h40-ssn-correction-account-phone", (
        CallPiece("The last four of my social are two nine oh six.", label="ssn", entity="ssn"),
        CallPiece("No wait, it's two nine oh eight.", label="ssn", entity="ssn"),
        CallPiece("My account ends in eight one one three.", label="account", entity="pii"),
        CallPiece("Best number is seven one eight, two two two, oh one nine six.", label="phone", entity="pii"),
    )),
    ("h40-negatives", (
        CallPiece("I'll be there in ten minutes.", label="time", entity="time"),
        CallPiece("It's about three fifty a month.", label="amount", entity="amount"),
        CallPiece("We have four kids.", label="amount", entity="amount"),
        CallPiece("My appointment is at two fifteen.", label="time", entity="time"),
        CallPiece("It's the third house on the left.", label="place", entity="place"),
        CallPiece("We moved in two thousand and nine.", label="date", entity="date"),
        CallPiece("Take exit forty two.", label="place", entity="place"),
        CallPiece("I paid twenty five dollars.", label="amount", entity="amount"),
    )),
)
# A forty-first held-out part (``bench.redaction --set held-out-41``), written on 2026-11-28 at the start of a
# session, before its rules, to be scored once at that session's end, with voices none of the other parts used
# (en-us-nyc+norbert, en-gb-scotland+anika, en-029+max): a Visa read over three finals with "uh" and a
# "one sec" before it, its code with no keyword after the agent asks, an expiry "oh four, twenty nine"; an SSN
# read 3-2-4 over three finals with no "number"; a mobile number split over two finals; a member ID with
# "double"; negatives with no keyword: minutes, an amount with "hundred and", an age, a time with its minutes,
# a bus route, a year, a gate, a rating.
HELD_OUT_41 = (
    ("h41-visa-three-finals", (
        CallPiece("Sorry, one sec, it's a Visa."),
        CallPiece("Four one four seven,", pause=0.8, label="card", entity="pci"),
        CallPiece("uh, two zero zero nine,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("five five three one, seven two eight six.", label="card", entity="pci", part=True),
        CallPiece("And the three digits on the back?"),
        CallPiece("Nine one two.", label="cvv", entity="pci"),
        CallPiece("It expires oh four, twenty nine.", label="expiry", entity="pci"),
    )),
    ("h41-ssn-mobile-member", (
        CallPiece("Social security, five three eight,", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("four four,", pause=0.8, label="ssn", entity="ssn", part=True),
        CallPiece("one nine seven oh.", label="ssn", entity="ssn", part=True),
        CallPiece("My cell is three one two, eight six seven,", pause=0.8, label="phone", entity="pii"),
        CallPiece("five three oh nine.", label="phone", entity="pii", part=True),
        CallPiece("Member ID is double seven two, four eight one nine.", label="account", entity="pii"),
    )),
    ("h41-negatives", (
        CallPiece("I'll call you back in fifteen minutes.", label="time", entity="time"),
        CallPiece("It came to two hundred and fifty dollars.", label="amount", entity="amount"),
        CallPiece("My son is seven.", label="amount", entity="amount"),
        CallPiece("Can we do four forty five?", label="time", entity="time"),
        CallPiece("I take the number twelve bus.", label="place", entity="place"),
        CallPiece("It happened in nineteen eighty seven.", label="date", entity="date"),
        CallPiece("Boarding is at gate thirty one.", label="place", entity="place"),
        CallPiece("I'd give it three out of five.", label="amount", entity="amount"),
    )),
)
# A forty-second held-out part (``bench.redaction --set held-out-42``), written on 2026-11-28 at the end of a
# session, not run by it, to be scored once by the next session before any of its rules, with voices none of the
# other parts used (en-gb-x-rp+gustave, en-us+iven, en-029+aunty): a Mastercard of fives, ones and "oh"s read over
# three finals after its name; its expiry after the agent asks, "oh six, thirty"; a CVV with its keyword; an SSN
# read with "dash"; a date of birth with a month's name; a number to text split over two finals; negatives with no
# keyword: two ages, a drive in minutes, chairs, "half past", a day of June, a seat, a price with no currency, a
# year after "back in".
HELD_OUT_42 = (
    ("h42-mastercard-ohs", (
        CallPiece("Yeah, it's a Mastercard."),
        CallPiece("Five one oh five,", pause=0.8, label="card", entity="pci"),
        CallPiece("one oh five one, oh five one oh,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("five one oh five.", label="card", entity="pci", part=True),
        CallPiece("What's the expiry on that?"),
        CallPiece("Oh six, thirty.", label="expiry", entity="pci"),
        CallPiece("And the CVV is four seven seven.", label="cvv", entity="pci"),
    )),
    ("h42-ssn-dashes-dob-text", (
        CallPiece("My social is one two three dash four five dash six seven eight nine.", label="ssn", entity="ssn"),
        CallPiece("Date of birth, the third of March, nineteen seventy six.", label="dob", entity="pii"),
        CallPiece("You can text me on nine one seven,", pause=0.8, label="phone", entity="pii"),
        CallPiece("four four two, eight oh one one.", label="phone", entity="pii", part=True),
    )),
    ("h42-negatives", (
        CallPiece("The kids are eight and ten.", label="amount", entity="amount"),
        CallPiece("It's a forty minute drive.", label="time", entity="time"),
        CallPiece("We need six chairs.", label="amount", entity="amount"),
        CallPiece("Meet me at half past three.", label="time", entity="time"),
        CallPiece("It's on the twenty third of June.", label="date", entity="date"),
        CallPiece("I'm in seat fourteen.", label="place", entity="place"),
        CallPiece("It costs nine ninety nine.", label="amount", entity="amount"),
        CallPiece("That was back in nineteen ninety five.", label="date", entity="date"),
    )),
)
# A forty-third held-out part (``bench.redaction --set held-out-43``), written on 2026-11-28 at the start of a
# session and committed before any of its rules, to be scored once at that session's end, with voices none of the
# other parts used (en-us+travis, en-gb+Marco, en-029+shelby): an American Express read 4-6-5 after the agent asks
# for "the long number", its middle group corrected ("no, sorry"); its code of four on the front; the last four of
# a social given alone after "just the last four"; a bank account and its routing number with no card keyword; a
# callback number with "double" split over two finals; negatives with no keyword: years as a customer, a range of
# days, a flight and its hour, a score, a floor, a price in pounds, a percentage.
HELD_OUT_43 = (
    ("h43-amex-corrected", (
        CallPiece("Go ahead with the long number."),
        CallPiece("Three seven one five,", pause=0.8, label="card", entity="pci"),
        CallPiece("six two two eight oh four, no, sorry, six two two eight four oh,", pause=0.8, label="card",
                  entity="pci", part=True),
        CallPiece("one one nine three two.", label="card", entity="pci", part=True),
        CallPiece("And the four digits on the front?"),
        CallPiece("Eight eight one oh.", label="cvv", entity="pci"),
    )),
    ("h43-last-four-bank", (
        CallPiece("I just need the last four."),
        CallPiece("Sure, it's two seven seven one.", label="ssn", entity="ssn"),
        CallPiece("The account is four four nine oh one two two three,", pause=0.8, label="account", entity="pii"),
        CallPiece("routing zero two one, zero zero zero, zero two one.", label="account", entity="pii"),
        CallPiece("Call me back on six four six,", pause=0.8, label="phone", entity="pii"),
        CallPiece("double five, five oh one three.", label="phone", entity="pii", part=True),
    )),
    ("h43-negatives", (
        CallPiece("I've been with you for twenty two years.", label="amount", entity="amount"),
        CallPiece("It takes three to five days.", label="time", entity="time"),
        CallPiece("My flight is at nine fifteen.", label="time", entity="time"),
        CallPiece("They won three two.", label="amount", entity="amount"),
        CallPiece("The office is on floor eleven.", label="place", entity="place"),
        CallPiece("It was forty nine pounds.", label="amount", entity="amount"),
        CallPiece("The rate went up by four percent.", label="amount", entity="amount"),
        CallPiece("We met in two thousand and twelve.", label="date", entity="date"),
    )),
)
# A forty-fourth held-out part (``bench.redaction --set held-out-44``), written on 2026-11-28 at the start of a
# session and committed before any of its rules, to be scored once at that session's end, with voices none of the
# other parts used (en-us+robert, en-gb-x-rp+grandma, en-us-nyc+victor): a Visa read in pairs ("forty one,
# seventeen") over three finals after the agent asks, no card keyword from the caller; its expiry said with words
# around it; its CVV after "three digits on the back?"; the last four of a social asked for, then the whole social
# read 3 / 2-4 over two finals; a phone number with "triple"; negatives with no keyword: a count of calls, a span of
# hours, boxes of twelve, a day of May, a motorway exit, a monthly price, "quarter to six", a child's age.
HELD_OUT_44 = (
    ("h44-visa-pairs", (
        CallPiece("Can I take the number on the card, please?"),
        CallPiece("Yep. Forty one, seventeen,", pause=0.7, label="card", entity="pci"),
        CallPiece("twenty two, oh eight, ninety three, fifty,", pause=0.7, label="card", entity="pci", part=True),
        CallPiece("sixty six, twelve.", label="card", entity="pci", part=True),
        CallPiece("And when does it expire?"),
        CallPiece("End of next year, twelve twenty seven.", label="expiry", entity="pci"),
        CallPiece("Three digits on the back?"),
        CallPiece("Five five two.", label="cvv", entity="pci"),
    )),
    ("h44-social-whole", (
        CallPiece("For verification, the last four of your social?"),
        CallPiece("Hang on. It's nine oh oh three.", label="ssn", entity="ssn"),
        CallPiece("Actually my whole social is five six eight,", pause=0.8, label="ssn", entity="ssn"),
        CallPiece("two one, nine oh oh three.", label="ssn", entity="ssn", part=True),
        CallPiece("And a good number to reach you?"),
        CallPiece("Seven oh three, triple two, one eight four six.", label="phone", entity="pii"),
    )),
    ("h44-negatives", (
        CallPiece("I called three times yesterday.", label="amount", entity="amount"),
        CallPiece("The meeting runs from ten to eleven thirty.", label="time", entity="time"),
        CallPiece("I ordered two boxes of twelve.", label="amount", entity="amount"),
        CallPiece("We moved here on the fifth of May.", label="date", entity="date"),
        CallPiece("Take exit forty two off the motorway.", label="place", entity="place"),
        CallPiece("It's about sixty five dollars a month.", label="amount", entity="amount"),
        CallPiece("I'll be home by quarter to six.", label="time", entity="time"),
        CallPiece("My son turns seven on Friday.", label="amount", entity="amount"),
    )),
)
# A forty-fifth held-out part (``bench.redaction --set held-out-45``), written on 2026-11-28 at the end of a
# session, not run by it, to be scored once by the next session before any of its rules, with voices none of the
# other parts used (en-029+zac, en-us+quincy, en-gb-scotland+benjamin): a Discover card read in fours over four
# finals, the agent saying "got it" between two of them and "and then" said before the last; its expiry "oh three
# slash twenty eight"; its code said "triple nine"; a date of birth with the day first and the year in two pairs;
# an account number read in words after its keyword with a sort code; negatives with no keyword: a weight, kids,
# a platform, twenty past four, a house number, a score out of a hundred, a flight's number, a price in quid.
HELD_OUT_45 = (
    ("h45-discover-turns", (
        CallPiece("Okay, the card number please."),
        CallPiece("Six oh one one,", pause=0.7, label="card", entity="pci"),
        CallPiece("five five four four.", pause=0.9, label="card", entity="pci", part=True),
        CallPiece("Got it."),
        CallPiece("Eight two oh seven,", pause=0.7, label="card", entity="pci", part=True),
        CallPiece("and then three one one nine.", label="card", entity="pci", part=True),
        CallPiece("Oh three slash twenty eight.", label="expiry", entity="pci"),
        CallPiece("The code's triple nine.", label="cvv", entity="pci"),
    )),
    ("h45-dob-account", (
        CallPiece("I was born on the fourteenth of July, nineteen eighty.", label="dob", entity="pii"),
        CallPiece("My account number is three one nine two,", pause=0.8, label="account", entity="pii"),
        CallPiece("six four five eight, sort code forty, twelve, thirty four.", label="account", entity="pii",
                  part=True),
    )),
    ("h45-negatives", (
        CallPiece("The parcel weighs two kilos.", label="amount", entity="amount"),
        CallPiece("I've got three kids.", label="amount", entity="amount"),
        CallPiece("The train leaves from platform nine.", label="place", entity="place"),
        CallPiece("It's twenty past four.", label="time", entity="time"),
        CallPiece("We live at number twenty two.", label="place", entity="place"),
        CallPiece("I got ninety out of a hundred.", label="amount", entity="amount"),
        CallPiece("My flight is BA two eight seven.", label="order", entity="order"),
        CallPiece("It was about a hundred and fifty quid.", label="amount", entity="amount"),
    )),
)
# A forty-sixth held-out part (``bench.redaction --set held-out-46``), written on 2026-11-28 during a session and
# not run by it, to be scored once by the next session before any of its rules, with voices none of the other parts
# used (en-us+Alex, en-029+Jacky, en-gb-x-rp+Henrique; md5-distinct from their base voices): a Mastercard whose caller
# corrects a group mid-read ("five four one two, no sorry, five four two one"), its groups over four finals with "uh"
# between digits; an expiry said "the end of oh nine, twenty seven"; the code said as the numbers on the back; the
# last four of a social asked for, then said with fillers; a phone number with its area code over three finals; a
# date of birth month first with the year in words; negatives with no keyword: minutes waited, pizzas, a callback
# hour, a page, a train's time, a note's worth, a year at school, a row.
HELD_OUT_46 = (
    ("h46-card-corrected", (
        CallPiece("Can I take the long number on the card?"),
        CallPiece("Yes, five four one two, no sorry,", pause=0.6, label="card", entity="pci"),
        CallPiece("five four two one, uh, seven seven", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("three oh, eight eight one six,", pause=0.7, label="card", entity="pci", part=True),
        CallPiece("and four nine oh two.", label="card", entity="pci", part=True),
        CallPiece("It runs to the end of oh nine, twenty seven.", label="expiry", entity="pci"),
        CallPiece("The numbers on the back are eight oh five.", label="cvv", entity="pci"),
    )),
    ("h46-ssn-fillers", (
        CallPiece("And the last four of your social, please."),
        CallPiece("It's, uh, four, uh, seven two nine.", label="ssn", entity="ssn"),
        CallPiece("Lovely, thank you."),
    )),
    ("h46-phone-dob", (
        CallPiece("The best number for you?"),
        CallPiece("Area code three one two,", pause=0.8, label="phone", entity="pii"),
        CallPiece("five five five,", pause=0.8, label="phone", entity="pii", part=True),
        CallPiece("oh one nine eight.", label="phone", entity="pii", part=True),
        CallPiece("I was born March the second, nineteen seventy nine.", label="dob", entity="pii"),
    )),
    ("h46-negatives", (
        CallPiece("I've been waiting forty minutes.", label="time", entity="time"),
        CallPiece("We ordered two large pizzas.", label="amount", entity="amount"),
        CallPiece("Call me back at five.", label="time", entity="time"),
        CallPiece("It's on page twelve of the letter.", label="place", entity="place"),
        CallPiece("I'll get the three fifteen train.", label="time", entity="time"),
        CallPiece("She gave me a twenty pound note.", label="amount", entity="amount"),
        CallPiece("My daughter is in year nine.", label="amount", entity="amount"),
        CallPiece("We sat in row eleven.", label="place", entity="place"),
    )),
)
# A forty-seventh held-out part (``bench.redaction --set held-out-47``), written on 2026-11-29 during a session and
# not run by it, to be scored once by the next session before any of its rules, with voices none of the other parts
# used (en-us-nyc+Mario, en-us+adam, en-gb-scotland+rob; md5-distinct from their base voices): an American Express
# read 4-6-5 over three finals with "double four" and "oh oh"; its expiry "February, twenty thirty"; its code as
# "the four digits on the front"; an SSN said with "dash" and a filler in one final, then its middle group said again
# when the agent missed it; a UK mobile number with "plus four four" and "double oh" over two finals; a member number
# with a letter spelled "as in Mike"; negatives with no keyword: chairs, half nine, an age, a weight, minus four, a
# decade of life, a bus's number, quarter to eight.
HELD_OUT_47 = (
    ("h47-amex", (
        CallPiece("I'll read you the card, it's an American Express."),
        CallPiece("Three seven, double four,", pause=0.8, label="card", entity="pci"),
        CallPiece("five six one, two three four,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("five five oh oh one.", label="card", entity="pci", part=True),
        CallPiece("Valid through February, twenty thirty.", label="expiry", entity="pci"),
        CallPiece("The four digits on the front are one oh oh seven.", label="cvv", entity="pci"),
    )),
    ("h47-ssn-dashes", (
        CallPiece("For verification, your social security number?"),
        CallPiece("Sure. Five two three dash four one dash, um, nine nine eight two.", label="ssn", entity="ssn"),
        CallPiece("Sorry, I missed the middle bit."),
        CallPiece("Four one.", label="ssn", entity="ssn"),
    )),
    ("h47-mobile-member", (
        CallPiece("You can reach me on my mobile,"),
        CallPiece("plus four four, seven seven double oh,", pause=0.8, label="phone", entity="pii"),
        CallPiece("nine hundred, one two three.", label="phone", entity="pii", part=True),
        CallPiece("My member number is M as in Mike, two two seven, nine oh three.", label="account",
                  entity="pii"),
    )),
    ("h47-negatives", (
        CallPiece("We need about twenty five chairs.", label="amount", entity="amount"),
        CallPiece("The meeting moved to half nine.", label="time", entity="time"),
        CallPiece("My son turned seven last week.", label="amount", entity="amount"),
        CallPiece("It weighs about sixty kilos.", label="amount", entity="amount"),
        CallPiece("The temperature dropped to minus four.", label="amount", entity="amount"),
        CallPiece("I'm in my thirties.", label="amount", entity="amount"),
        CallPiece("Our bus was the number nine.", label="place", entity="place"),
        CallPiece("Dinner is at quarter to eight.", label="time", entity="time"),
    )),
)
# A forty-eighth held-out part (``bench.redaction --set held-out-48``), written on 2026-11-29 during a session and
# not run by it, to be scored once by the next session before any of its rules, with voices none of the other parts
# used (en-us+grandpa, en-029+Storm, en-gb-x-gbclan+boris; md5-distinct from their base voices): a Discover card
# read 4-2-2-3-1-4 over three finals with "triple four", the agent's read-back of its last four and the caller's
# correction of its last digit; its expiry "November, twenty eight"; its code "on the back"; an SSN read with "and"
# between its groups; a toll-free number "one eight hundred" over two finals after "reach you on"; a date of birth
# day first with a two-digit year; negatives with no keyword: a walk's minutes, closing time, an age to come,
# copies, a percentage, a draw, a flight's time, points.
HELD_OUT_48 = (
    ("h48-discover-corrected", (
        CallPiece("Go ahead whenever you're ready."),
        CallPiece("Six oh one one, five eight,", pause=0.8, label="card", entity="pci"),
        CallPiece("two three, triple four, nine,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("one eight oh six.", label="card", entity="pci", part=True),
        CallPiece("So that ends in one eight oh six?", label="card", entity="pci"),
        CallPiece("Yes, except the last one is a seven.", label="card", entity="pci"),
        CallPiece("It expires November, twenty eight.", label="expiry", entity="pci"),
        CallPiece("The code on the back is two oh two.", label="cvv", entity="pci"),
    )),
    ("h48-ssn-and", (
        CallPiece("And your social security number?"),
        CallPiece("Five six seven and eight nine and one two three four.", label="ssn", entity="ssn"),
    )),
    ("h48-tollfree-dob", (
        CallPiece("What number can we reach you on?"),
        CallPiece("One eight hundred, five five five,", pause=0.8, label="phone", entity="pii"),
        CallPiece("two three one nine.", label="phone", entity="pii", part=True),
        CallPiece("And your date of birth?"),
        CallPiece("The thirtieth of November, eighty four.", label="dob", entity="pii"),
    )),
    ("h48-negatives", (
        CallPiece("It's a ten minute walk from the station.", label="time", entity="time"),
        CallPiece("We're open till nine tonight.", label="time", entity="time"),
        CallPiece("She's turning thirty next week.", label="amount", entity="amount"),
        CallPiece("I need three copies of the form.", label="amount", entity="amount"),
        CallPiece("It went up by five percent.", label="amount", entity="amount"),
        CallPiece("The game ended two all.", label="amount", entity="amount"),
        CallPiece("My flight leaves at twenty past nine.", label="time", entity="time"),
        CallPiece("I've got two hundred and fifty points.", label="amount", entity="amount"),
    )),
)
# A forty-ninth held-out part (``bench.redaction --set held-out-49``), written on 2026-11-29 at the end of a session and
# not run by it, to be scored once by the next session before any of its rules, with voices none of the other parts
# used (en-gb-x-rp+Tweaky, en-us-nyc+ed, en-us+pedro; md5-distinct from their base voices): a Mastercard read in pairs
# over three finals; its expiry "oh three slash twenty nine"; its code with "zero"; the last four of an SSN and the
# caller's correction of them; a phone number after "area code" over two finals with "oh oh"; a member ID with
# letters before its digits; negatives with no keyword: half past an hour, minutes on hold, a count in hundreds, a
# page, a weight with a point, a gate, a day of a month, a rating.
HELD_OUT_49 = (
    ("h49-mastercard-pairs", (
        CallPiece("Could I get the card number, please?"),
        CallPiece("Sure, fifty one, twenty three,", pause=0.8, label="card", entity="pci"),
        CallPiece("forty five, sixty seven, eighty nine, ten,", pause=0.8, label="card", entity="pci", part=True),
        CallPiece("twelve, thirty four.", label="card", entity="pci", part=True),
        CallPiece("And when does it expire?"),
        CallPiece("Oh three slash twenty nine.", label="expiry", entity="pci"),
        CallPiece("Last thing, the security code."),
        CallPiece("Seven seven zero.", label="cvv", entity="pci"),
    )),
    ("h49-ssn-last-four-corrected", (
        CallPiece("To verify, I need the last four of your social."),
        CallPiece("It's nine one zero two.", label="ssn", entity="ssn"),
        CallPiece("Sorry, I meant nine one zero three.", label="ssn", entity="ssn"),
    )),
    ("h49-area-code-member-id", (
        CallPiece("What's a good callback number?"),
        CallPiece("Area code six one seven,", pause=0.8, label="phone", entity="pii"),
        CallPiece("then four nine two, oh oh one one.", label="phone", entity="pii", part=True),
        CallPiece("And your member ID?"),
        CallPiece("It's A B four seven, two two nine one.", label="account", entity="pii"),
    )),
    ("h49-negatives", (
        CallPiece("The meeting is at half past two.", label="time", entity="time"),
        CallPiece("I waited forty five minutes on hold.", label="time", entity="time"),
        CallPiece("We have twelve hundred customers.", label="amount", entity="amount"),
        CallPiece("It's on page two hundred and twelve.", label="place", entity="place"),
        CallPiece("The parcel weighs three point five kilos.", label="amount", entity="amount"),
        CallPiece("Our flight boards from gate twelve.", label="place", entity="place"),
        CallPiece("Our anniversary is on the fourteenth of February.", label="date", entity="date"),
        CallPiece("I'd give the service a nine out of ten.", label="amount", entity="amount"),
    )),
)
# A fiftieth held-out part (``bench.redaction --set held-out-50``), written on 2026-11-29 during a session and not run
# by it (nor tuned on), to be scored once by the next session before any of its rules, with voices none of the other
# parts used (en-gb-scotland+michel, en-us+sandro, en-029+kaukovalta; md5-distinct from their base voices): an Amex
# read 4-6-5 with "uh" between its groups and short pauses; its four-digit code "on the front"; a card's groups with
# the agent's "mm-hmm" between them (two parties taking turns); an expiry "good through twelve twenty seven"; an SSN
# said in groups as numbers ("two twelve, forty, sixty seven eighty nine"); a routing number with "oh oh"; a phone
# number with "forty forty" and an extension; negatives with no keyword: "ten to four", a price without its currency,
# a year of birth said as a year, a team's size, a drive's hours, a percentage, a chapter, "the third time".
HELD_OUT_50 = (
    ("h50-amex-uh", (
        CallPiece("Okay, it's an American Express."),
        CallPiece("Three seven one four, uh,", pause=0.5, label="card", entity="pci"),
        CallPiece("four nine six, two oh eight, uh,", pause=0.5, label="card", entity="pci", part=True),
        CallPiece("one one five three two.", label="card", entity="pci", part=True),
        CallPiece("And the four digit code on the front?"),
        CallPiece("One oh oh seven.", label="cvv", entity="pci"),
        CallPiece("It's good through twelve twenty seven.", label="expiry", entity="pci"),
    )),
    ("h50-card-turns", (
        CallPiece("Go ahead with the card number whenever you're ready."),
        CallPiece("Four five three two,", pause=0.6, label="card", entity="pci"),
        CallPiece("Mm-hmm.", pause=0.6),
        CallPiece("nine nine one oh,", pause=0.6, label="card", entity="pci"),
        CallPiece("Yes.", pause=0.6),
        CallPiece("six six two four, eight one eight one.", label="card", entity="pci"),
    )),
    ("h50-ssn-as-numbers", (
        CallPiece("I'll need your social security number."),
        CallPiece("Two twelve, forty, sixty seven eighty nine.", label="ssn", entity="ssn"),
    )),
    ("h50-routing-phone-extension", (
        CallPiece("What's the routing number on the cheque?"),
        CallPiece("Oh two six, oh oh nine, five nine three.", label="account", entity="pii"),
        CallPiece("And a number to reach you?"),
        CallPiece("Five oh three, two two one, forty forty,", pause=0.7, label="phone", entity="pii"),
        CallPiece("extension twelve.", label="phone", entity="pii", part=True),
    )),
    ("h50-negatives", (
        CallPiece("It's ten to four now.", label="time", entity="time"),
        CallPiece("I paid twenty nine ninety nine for it.", label="amount", entity="amount"),
        CallPiece("She was born in nineteen eighty.", label="date", entity="date"),
        CallPiece("We're a team of fifteen.", label="amount", entity="amount"),
        CallPiece("It's about a two hour drive.", label="time", entity="time"),
        CallPiece("Call volume is up forty percent.", label="amount", entity="amount"),
        CallPiece("Chapter three was the longest.", label="place", entity="place"),
        CallPiece("I'm calling for the third time.", label="amount", entity="amount"),
    )),
)
# A fifty-first held-out part (``bench.redaction --set held-out-51``), written on 2026-11-29 during a session and not
# run by it (nor tuned on), to be scored once by the next session before any of its rules, with voices none of the
# other parts used (en-us+Nguyen, en-gb-x-rp+antonio, en-029+marcelo; md5-distinct from their base voices): a card read
# in pairs as numbers ("forty one, eleven, ..."); a card's groups with "dash" between; a PIN asked for by its name;
# an SSN's last four said as two numbers after "last four of my social"; a date of birth said with slashes; a phone
# number with its area code said after it; negatives: a flight's number, a price range, "ninety days same as cash",
# a model's year, a room's number, "my fourth call", a time with "quarter past", a count of emails.
HELD_OUT_51 = (
    ("h51-card-in-pairs", (
        CallPiece("Can you read me the card number?"),
        CallPiece("Sure. Forty one, eleven, twenty two, thirty three,", pause=0.6, label="card", entity="pci"),
        CallPiece("forty four, fifty five, sixty six, seventy seven.", label="card", entity="pci", part=True),
        CallPiece("And the expiration?"),
        CallPiece("Oh three, twenty nine.", label="expiry", entity="pci"),
    )),
    ("h51-card-dashes", (
        CallPiece("The other card is five one oh five dash one oh five one", pause=0.5, label="card", entity="pci"),
        CallPiece("dash oh five one oh dash five one oh oh.", label="card", entity="pci", part=True),
        CallPiece("And the pin for that card?"),
        CallPiece("Two five eight oh.", label="cvv", entity="pci"),
    )),
    ("h51-ssn-last-four-numbers", (
        CallPiece("To verify, the last four of my social are fifty two, eighteen.", label="ssn", entity="ssn"),
        CallPiece("And your date of birth?"),
        CallPiece("Oh four slash twelve slash nineteen ninety.", label="dob", entity="pii"),
    )),
    ("h51-phone-area-code-after", (
        CallPiece("The best number is eight six seven, five three oh nine,", pause=0.6, label="phone", entity="pii"),
        CallPiece("area code three one two.", label="phone", entity="pii", part=True),
    )),
    ("h51-negatives", (
        CallPiece("I'm on flight four twenty to Denver.", label="place", entity="place"),
        CallPiece("It's between forty and fifty dollars.", label="amount", entity="amount"),
        CallPiece("It's ninety days same as cash.", label="time", entity="time"),
        CallPiece("It's a twenty nineteen model.", label="date", entity="date"),
        CallPiece("We're staying in room twelve oh four.", label="place", entity="place"),
        CallPiece("This is my fourth call about it.", label="amount", entity="amount"),
        CallPiece("The store opens at a quarter past nine.", label="time", entity="time"),
        CallPiece("I got about thirty emails today.", label="amount", entity="amount"),
    )),
)
# A fifty-second held-out part (``bench.redaction --set held-out-52``), written on 2026-11-29 during a session and not
# run by it, scored once by the next before any of its rules (2/1/1/2 digits in clear at a1e526b; tuned on since), with
# voices none of the
# other parts used (en-us+AnxiousAndy, en-gb-x-rp+steph2, en-029+Gene2; md5-distinct from their base voices): a card the
# agent reads back and the caller corrects; an SSN with "dash"; an expiry as a month's name and "of" a year; a CVV
# as "triple"; a phone number with "double oh"; a member number of letters and digits; a date of birth with the day
# before its month and a two-digit year; negatives: a walk in minutes, a menu's option, years as a customer, a price
# "plus tax", an age, a score, a TV channel, a temperature.
HELD_OUT_52 = (
    ("h52-card-read-back", (
        CallPiece("Go ahead with the card number when you're ready."),
        CallPiece("Four five three two, one eight eight seven,", pause=0.6, label="card", entity="pci"),
        CallPiece("two oh four six, nine nine one three.", label="card", entity="pci", part=True),
        CallPiece("Let me read that back: four five three two, one eight eight seven, two oh four six, nine nine one "
                  "three.", label="card", entity="pci"),
        CallPiece("No, the last group is nine nine three one.", label="card", entity="pci"),
        CallPiece("And it expires?"),
        CallPiece("September of twenty eight.", label="expiry", entity="pci"),
        CallPiece("The three digits on the back?"),
        CallPiece("Triple seven.", label="cvv", entity="pci"),
    )),
    ("h52-ssn-dashes", (
        CallPiece("My social is five three one dash four two dash eight eight oh six.", label="ssn", entity="ssn"),
        CallPiece("And your date of birth?"),
        CallPiece("The fifth of June, eighty two.", label="dob", entity="pii"),
    )),
    ("h52-phone-double-oh", (
        CallPiece("You can reach me on six one seven, double oh four,", pause=0.6, label="phone", entity="pii"),
        CallPiece("two two nine one.", label="phone", entity="pii", part=True),
    )),
    ("h52-member-number", (
        CallPiece("My member number is K as in kilo, four four nine, seven one two.", label="account", entity="pii"),
    )),
    ("h52-negatives", (
        CallPiece("It's a five minute walk from here.", label="time", entity="time"),
        CallPiece("I pressed two for billing.", label="amount", entity="amount"),
        CallPiece("I've been a customer for twelve years.", label="time", entity="time"),
        CallPiece("It was nineteen ninety nine plus tax.", label="amount", entity="amount"),
        CallPiece("My daughter just turned sixteen.", label="amount", entity="amount"),
        CallPiece("We lost three to one last night.", label="amount", entity="amount"),
        CallPiece("I saw it on channel four.", label="place", entity="place"),
        CallPiece("It was seventy two degrees today.", label="amount", entity="amount"),
    )),
)
# A fifty-third held-out part (``bench.redaction --set held-out-53``), written on 2026-11-29 during a session and not
# run by it (nor tuned on, not even its own words' pass), scored once by the next session before any of its rules
# (2026-11-29 21:45, BENCHMARKS.md), with voices none of the other parts used (en-us-nyc+edward2, en-gb-scotland+iven2, en-us+pablo; md5-distinct
# from their base voices): a card read with fillers and a repeated group; an expiry as a month's name and a two-digit
# year; a CVV corrected mid-sentence; an SSN read in pairs; a phone number with an extension; an account number with
# letters and "dash"; a date of birth as "the second of the tenth"; negatives: a duration, a flight's number, kids, a
# debt in "bucks", an hour after "after", a weight, a floor, a date of a call.
HELD_OUT_53 = (
    ("h53-card-fillers", (
        CallPiece("Sure, it's, um, five one oh five,", pause=0.6, label="card", entity="pci"),
        CallPiece("uh, one oh five one, oh five one oh,", pause=0.6, label="card", entity="pci", part=True),
        CallPiece("and then five one oh oh.", label="card", entity="pci", part=True),
        CallPiece("When does it expire?"),
        CallPiece("December twenty seven.", label="expiry", entity="pci"),
        CallPiece("And the code on the back?"),
        CallPiece("One two three, sorry, one three two.", label="cvv", entity="pci"),
    )),
    ("h53-ssn-pairs", (
        CallPiece("I'll need your social to verify."),
        CallPiece("Okay, it's four fifty six, seventy eight, ninety one twenty three.", label="ssn", entity="ssn"),
    )),
    ("h53-phone-extension", (
        CallPiece("The best number is eight hundred, five five five, oh one nine nine,", pause=0.6, label="phone",
                  entity="pii"),
        CallPiece("extension two one four.", label="phone", entity="pii", part=True),
    )),
    ("h53-account-dash", (
        CallPiece("The account is A B seven seven, dash, nine oh one two.", label="account", entity="pii"),
        CallPiece("And your date of birth?"),
        CallPiece("The second of the tenth, ninety one.", label="dob", entity="pii"),
    )),
    ("h53-negatives", (
        CallPiece("It took about forty five minutes.", label="time", entity="time"),
        CallPiece("Flight four twelve was delayed.", label="order", entity="order"),
        CallPiece("We have three kids.", label="amount", entity="amount"),
        CallPiece("I owe them about two hundred bucks.", label="amount", entity="amount"),
        CallPiece("Call me back after six.", label="time", entity="time"),
        CallPiece("The package weighs twelve pounds.", label="amount", entity="amount"),
        CallPiece("I'm on the fourth floor.", label="place", entity="place"),
        CallPiece("It happened on the twenty first of May.", label="date", entity="date"),
    )),
)
# A fifty-fourth held-out part (``bench.redaction --set held-out-54``), written on 2026-11-29 during a session and not
# run by it (nor tuned on, not even its own words' pass), scored once by the next session before any of its rules
# (2026-11-30 00:26, BENCHMARKS.md), with voices none of the other parts used (en-gb-x-rp+Diogo, en-us+RicishayMax, en-029+klatt3; md5-distinct
# from their base voices): a card read in pairs ("forty one, twenty six"); an expiry as "oh three slash twenty eight";
# a CVV announced by "the three on the back"; an SSN with its groups joined by "dash" and no keyword but the agent's;
# a phone number after "area code"; a routing number with "zero"; digits read with no keyword after "go ahead";
# negatives: calls this week, a price said without its currency before "plus shipping", an hour and its minutes,
# a room's number, an age, a year said as a word, a count of things, a menu's key.
HELD_OUT_54 = (
    ("h54-card-pairs", (
        CallPiece("Go ahead with the card whenever you're ready."),
        CallPiece("Forty one, twenty six, thirty three, eighty,", pause=0.6, label="card", entity="pci"),
        CallPiece("fifty five, ten, sixty two, ninety nine.", label="card", entity="pci", part=True),
        CallPiece("Oh three slash twenty eight.", label="expiry", entity="pci"),
        CallPiece("And the three on the back?"),
        CallPiece("Seven seven one.", label="cvv", entity="pci"),
    )),
    ("h54-ssn-agent-keyword", (
        CallPiece("Can I get the last four of the social?"),
        CallPiece("Sure, eight two oh six.", label="ssn", entity="ssn"),
        CallPiece("And the full one, with the dashes?"),
        CallPiece("Three one two dash four four dash eight two oh six.", label="ssn", entity="ssn"),
    )),
    ("h54-area-code", (
        CallPiece("Area code four one five,", pause=0.6, label="phone", entity="pii"),
        CallPiece("then eight six seven, five three oh nine.", label="phone", entity="pii", part=True),
    )),
    ("h54-routing-go-ahead", (
        CallPiece("The routing number is zero two one, zero zero zero, zero two one.", label="account", entity="pii"),
        CallPiece("Go ahead."),
        CallPiece("Six six four, nine zero one, two eight.", label="account", entity="pii"),
    )),
    ("h54-negatives", (
        CallPiece("I've called three times this week.", label="amount", entity="amount"),
        CallPiece("It was forty two ninety nine plus shipping.", label="amount", entity="amount"),
        CallPiece("The meeting is at three thirty.", label="time", entity="time"),
        CallPiece("I'm in room two oh four.", label="place", entity="place"),
        CallPiece("My son is nineteen.", label="amount", entity="amount"),
        CallPiece("That was back in two thousand nineteen.", label="date", entity="date"),
        CallPiece("I need four of those.", label="amount", entity="amount"),
        CallPiece("Then I pressed one for English.", label="amount", entity="amount"),
    )),
)
# A fifty-fifth held-out part (``bench.redaction --set held-out-55``), written on 2026-11-30 during a session and not
# run by it (nor tuned on, not even its own words' pass), scored once by the next session before any of its rules
# (2026-11-30 03:21, 5/6/8/7 digits in clear at 776ebc1, BENCHMARKS.md), with voices none of the other parts used
# (en-gb-scotland+iven3, en-us-nyc+RicishayMax2, en-029+miguel;
# md5-distinct from their base voices): a card's groups with "and then" between them after "the long number on the
# front"; an expiry as "twelve thirty" after "good till" (a time's shape); an Amex's four-digit code announced by its
# count; an SSN with "hundred" in its first group; a phone number with "triple" after an 800 number's "eight hundred";
# a date of birth year first; an account number split over two finals with "um"; negatives: years as a customer, a
# page, an amount with "and", a game's score, an hour after "after", a flight's time, cars and kids, minutes.
HELD_OUT_55 = (
    ("h55-card-and-then", (
        CallPiece("Can you read me the long number on the front?"),
        CallPiece("Five four one two, and then seven seven three oh,", pause=0.6, label="card", entity="pci"),
        CallPiece("and then six six one nine, and then oh eight four two.", label="card", entity="pci", part=True),
        CallPiece("And how long is it good for?"),
        CallPiece("It's good till twelve thirty.", label="expiry", entity="pci"),
        CallPiece("It's an Amex, so the code is four digits."),
        CallPiece("One two one two.", label="cvv", entity="pci"),
    )),
    ("h55-ssn-hundred", (
        CallPiece("For the social, go ahead."),
        CallPiece("Five hundred twelve, thirty four, sixty seven eighty nine.", label="ssn", entity="ssn"),
    )),
    ("h55-phone-triple", (
        CallPiece("You can call me on eight hundred, triple five,", pause=0.6, label="phone", entity="pii"),
        CallPiece("oh one nine nine.", label="phone", entity="pii", part=True),
    )),
    ("h55-dob-account", (
        CallPiece("Nineteen eighty four, March the ninth.", label="dob", entity="pii"),
        CallPiece("And the account number?"),
        CallPiece("It's seven three, um,", pause=0.6, label="account", entity="pii"),
        CallPiece("nine nine two oh one four.", label="account", entity="pii", part=True),
    )),
    ("h55-negatives", (
        CallPiece("I've been a customer for twelve years.", label="amount", entity="amount"),
        CallPiece("It's on page fourteen of the letter.", label="place", entity="place"),
        CallPiece("We paid three hundred and twenty dollars.", label="amount", entity="amount"),
        CallPiece("The game ended four to two.", label="amount", entity="amount"),
        CallPiece("Call back after five thirty.", label="time", entity="time"),
        CallPiece("My flight leaves at six forty five.", label="time", entity="time"),
        CallPiece("We have two cars and three kids.", label="amount", entity="amount"),
        CallPiece("It took about fifteen minutes.", label="time", entity="time"),
    )),
)
# A fifty-sixth held-out part (``bench.redaction --set held-out-56``), written on 2026-11-30 during a session and not
# run by it (nor tuned on, not even its own words' pass), to be scored once by the next session before any of its
# rules, with voices none of the other parts used (en-gb-x-rp+klatt4, en-us+steph3, en-029+klatt2; md5-distinct from
# their base voices): an Amex read four, six, five with the caller's "sorry" mid-group; its expiry "in August of"
# a year; its code "seven hundred and one"; an SSN in three numbers with teens; a phone number with an extension;
# a date of birth day first with "the fourth of"; negatives: calls today, cents, a family's size, a rating out of
# ten, a key to press, a list's item, a distance, an appointment's time.
HELD_OUT_56 = (
    ("h56-amex-sorry", (
        CallPiece("It's an American Express."),
        CallPiece("Three seven one four, four nine, sorry,", pause=0.6, label="card", entity="pci"),
        CallPiece("four nine six eight two two, one oh oh five one.", label="card", entity="pci", part=True),
        CallPiece("It runs out in August of twenty nine.", label="expiry", entity="pci"),
        CallPiece("The code is seven hundred and one.", label="cvv", entity="pci"),
    )),
    ("h56-ssn-teens", (
        CallPiece("And I'll need your social."),
        CallPiece("Sure, it's four eighteen, fifty six, thirteen twelve.", label="ssn", entity="ssn"),
    )),
    ("h56-phone-extension", (
        CallPiece("The office line is two oh one, five five five, three four six eight,", pause=0.6,
                  label="phone", entity="pii"),
        CallPiece("extension two seven.", label="phone", entity="pii", part=True),
        CallPiece("I was born on the fourth of July, nineteen seventy six.", label="dob", entity="pii"),
    )),
    ("h56-negatives", (
        CallPiece("This is the third time I've called today.", label="amount", entity="amount"),
        CallPiece("It only costs ninety nine cents.", label="amount", entity="amount"),
        CallPiece("We're a family of six.", label="amount", entity="amount"),
        CallPiece("I'd give it a ten out of ten.", label="amount", entity="amount"),
        CallPiece("Press nine to hear it again.", label="amount", entity="amount"),
        CallPiece("That's item number two on the list.", label="place", entity="place"),
        CallPiece("The store is about forty miles away.", label="place", entity="place"),
        CallPiece("My appointment is at ten fifteen tomorrow.", label="time", entity="time"),
    )),
)
# A third Spanish part (``bench.redaction --set spanish-3``), written on 2026-11-30 during a session and not run by
# it (nor tuned on, not even its own words' pass), scored once by the next session before any of its rules
# (2026-11-30 03:23, 10/5 digits in clear at 776ebc1, BENCHMARKS.md), with Spanish voices the other parts did not use (es+m4, es-419+m6, es+f1; md5-distinct from their base voices): a
# Mastercard read in pairs after "el número largo"; its expiry with "barra"; its code after "los tres de atrás"; an
# SSN read after the agent's question, the caller saying no keyword; a phone number with "cero" in groups of two;
# an account's last four after "termina en"; negatives with no keyword: a quarter past, a price in euros and
# cents, children and a dog, a floor as an ordinal, calls this week, a meeting's day, minutes, people at home.
SPANISH_3 = (
    ("es3-mastercard-pairs", (
        CallPiece("Dígame el número largo de la tarjeta."),
        CallPiece("Cincuenta y cuatro, doce, treinta y tres, ochenta,", pause=0.8, label="card", entity="pci"),
        CallPiece("noventa y uno, cero dos, sesenta y seis, cuarenta.", label="card", entity="pci", part=True),
        CallPiece("Cero tres barra veintinueve.", label="expiry", entity="pci"),
        CallPiece("¿Y los tres de atrás?"),
        CallPiece("Siete siete uno.", label="cvv", entity="pci"),
    )),
    ("es3-ssn-agent", (
        CallPiece("¿Me da su número de seguro social?"),
        CallPiece("Sí, tres dos uno, cuarenta y cinco, seis siete ocho nueve.", label="ssn", entity="ssn"),
    )),
    ("es3-phone-account", (
        CallPiece("Mi móvil es seis cero cero, doce, treinta y cuatro, cero cinco.", label="phone", entity="pii"),
        CallPiece("Y la cuenta termina en cuatro cuatro dos uno.", label="account", entity="pii"),
    )),
    ("es3-negatives", (
        CallPiece("Son las tres y cuarto.", label="time", entity="time"),
        CallPiece("Pagué cuarenta y nueve euros con noventa y nueve.", label="amount", entity="amount"),
        CallPiece("Tengo tres hijos y un perro.", label="amount", entity="amount"),
        CallPiece("Vivo en el tercer piso.", label="place", entity="place"),
        CallPiece("Llamé dos veces esta semana.", label="amount", entity="amount"),
        CallPiece("La reunión es el doce de mayo.", label="date", entity="date"),
        CallPiece("Tardó quince minutos.", label="time", entity="time"),
        CallPiece("Somos cinco en casa.", label="amount", entity="amount"),
    )),
)
SETS = {"tuning": CALLS, "held-out": HELD_OUT, "held-out-2": HELD_OUT_2, "held-out-3": HELD_OUT_3,
        "held-out-4": HELD_OUT_4, "held-out-5": HELD_OUT_5, "held-out-6": HELD_OUT_6,
        "held-out-7": HELD_OUT_7, "held-out-8": HELD_OUT_8,
        "held-out-9": HELD_OUT_9, "held-out-10": HELD_OUT_10,
        "held-out-11": HELD_OUT_11, "held-out-12": HELD_OUT_12, "held-out-13": HELD_OUT_13, "held-out-14": HELD_OUT_14,
        "held-out-15": HELD_OUT_15, "held-out-16": HELD_OUT_16, "held-out-17": HELD_OUT_17, "held-out-18": HELD_OUT_18,
        "held-out-19": HELD_OUT_19, "held-out-20": HELD_OUT_20, "held-out-21": HELD_OUT_21,
        "held-out-22": HELD_OUT_22, "held-out-23": HELD_OUT_23,
        "held-out-24": HELD_OUT_24, "held-out-25": HELD_OUT_25,
        "held-out-26": HELD_OUT_26, "held-out-27": HELD_OUT_27,
        "held-out-28": HELD_OUT_28, "held-out-29": HELD_OUT_29,
        "held-out-30": HELD_OUT_30, "held-out-31": HELD_OUT_31, "held-out-32": HELD_OUT_32,
        "held-out-33": HELD_OUT_33, "held-out-34": HELD_OUT_34,
        "held-out-35": HELD_OUT_35, "held-out-36": HELD_OUT_36,
        "held-out-37": HELD_OUT_37, "held-out-38": HELD_OUT_38,
        "held-out-39": HELD_OUT_39, "held-out-40": HELD_OUT_40,
        "held-out-41": HELD_OUT_41, "held-out-42": HELD_OUT_42,
        "held-out-43": HELD_OUT_43, "held-out-44": HELD_OUT_44,
        "held-out-45": HELD_OUT_45, "held-out-46": HELD_OUT_46, "held-out-47": HELD_OUT_47,
        "held-out-48": HELD_OUT_48, "held-out-49": HELD_OUT_49, "held-out-50": HELD_OUT_50,
        "held-out-51": HELD_OUT_51, "held-out-52": HELD_OUT_52, "held-out-53": HELD_OUT_53,
        "held-out-54": HELD_OUT_54, "held-out-55": HELD_OUT_55, "held-out-56": HELD_OUT_56,
        "spanish": SPANISH, "spanish-2": SPANISH_2, "spanish-3": SPANISH_3}


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` spoken by ``espeak-ng`` with ``voice``, as float32 at 16 kHz."""
    return espeak(text, voice=voice)


def synthesise(pieces, voice: str = "en-us") -> tuple[np.ndarray, list[tuple[CallPiece, int, int]]]:
    """The call as float32 at 16 kHz, and each piece with its first and last sample."""
    parts, bounds, at = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for piece in pieces:
        audio = speak(piece.text, voice)
        bounds.append((piece, at, at + len(audio)))
        parts += [audio, np.zeros(int(piece.pause * RATE), np.float32)]
        at += len(audio) + int(piece.pause * RATE)
    return np.concatenate(parts), bounds

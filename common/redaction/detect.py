"""Which tokens of a transcript are an entity of a redaction kind: rules, no model.

Numbers are found as runs (:mod:`.itn`) and classed by length, shape and the
words around them. *Context* is a keyword said within :data:`CONTEXT_WORDS`
words before the number (across finals: the counters live in
:class:`Context`, saved in the checkpoint) or a few words after it ("... is my
card number").

* ``pci``: 13 digits or more (card numbers; no Luhn check: the recogniser adds and
  drops digits, and a number that fails it must not leak); in a card context
  also any other number (security code, expiry, a number read in part, a stray
  digit) but an amount or a time, and a month name with the number after it (expiry).
* ``ssn``: 9 digits grouped 3-2-4, or 5-12 digits in an SSN context.
* ``pii``: SSNs as above; phone numbers (10 digits, 11 starting with 1, 7 or 9-11 in a
  phone context); account numbers (4+ digits in an account context); dates of
  birth (a date in a birth context); e-mail addresses (written, or spoken
  "name at example dot com", or a domain right after "email"); street
  addresses (a house number, up to three words, a street suffix; or a house
  number and the words after it in an address context, "I live at 42 Elm");
  names (``names``: what a name model found, :mod:`.names`).
* ``numbers``: every run.

In a card, SSN or phone context the recogniser's pieces of one number are one
number: runs at most :data:`JOIN_GAP` words apart (``5000. I'm 100,000``,
``078, MASH 05, 1,120``: words it made of a digit or a pause) are joined unless
a keyword, a month or a unit (dollars, o'clock) stands between them; and a word
with a digit that no rule read as a number (``PVN-88``) is redacted with them. A
session that fails closed masks every digit in a number passage (:func:`_passages`).
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import asdict, dataclass
from typing import Any

from .itn import (DIGIT_NAMES, DIGIT_SPELLINGS, HOMOPHONES, MONTH_NAMES, NUMBER_VALUES, NUMBER_WORDS, ORDINAL_DAYS,
                  REPEAT_WORDS, SCALES, SPANISH_DIGITS, TENS, Run, core, digit_word, digits_joined, numeric,
                  repeat_glued, runs)
from .quantity import FUNCTION_WORDS, PRONOUN_DETERMINERS, counts_a_noun, determined

CONTEXT_WORDS = 30  # a keyword counts for this many words
# ... but a birth keyword for fewer: a date of birth is said right after it, and other dates
# (a delivery, a meeting) come up later in a call.
DOB_WORDS = 12
LOOKAHEAD = 6  # words after a number where a keyword still gives it context

JOIN_GAP = 2  # words between two runs that are still one number in a card, SSN or phone context
# A masked number's passage: the words after it (and those of its sentence before it) where whatever
# says a digit is masked (:func:`_passages`). The recogniser writes the groups that follow a number's
# first piece as short sentences of words it made of digits ("No real time, no real time." / "3 fail
# to the iron."); an unrelated quantity after a masked number is masked when it comes this close.
PASSAGE_WORDS = 12
# A final this short that says a digit's word or homophone is held for the next final in a session that
# fails closed, and read as the lead of a number that final begins with (:func:`_lead`).
SHORT_FINAL = 3
# A number heard as other words at a final's end (:func:`spelled_tail`): it ends within this many words of
# the end ("for even one piece and"); the number of the next final begins within TAIL_LEAD words of its start
# ("sorry, 4717 ...", "Hold on, I need 4-5-3-2 ...") to reach back over it.
TAIL_AFTER = 2
TAIL_LEAD = 4
# ... or after "it's" in a final whose sentence goes on past its end (:func:`spelled_opening`: "It's four time, I'm
# big Sorry" for "It's four five five six, sorry,"): the next final's number may begin after more garbled digits
# ("or I'm I'm Pam and nodal [NUMBER_1]"), within OPENING_LEAD words of its start.
OPENING_LEAD = 8
_OPENERS = frozenset({"it's", "its", "is", "are"})
_A_MOMENT = frozenset({"moment", "second", "sec"})  # "for one moment", "give me one second" ("minute" is a unit)
_SAID_AS_ONE = NUMBER_WORDS - DIGIT_SPELLINGS  # number words of two digits or more ("twenty", "fourteen", "hundred")
# Phrases of a word or two in one final that read like a number said in groups (:func:`_read_in_groups`).
GROUPS_READ = 5
_STOPS = ".?!,;:"

ENTITY_KIND = {"CREDIT_CARD": "pci", "CREDIT_CARD_EXPIRATION": "pci", "CVV": "pci", "SSN": "ssn",
               "PHONE_NUMBER": "pii", "EMAIL_ADDRESS": "pii", "ACCOUNT_NUMBER": "pii", "DOB": "pii",
               "LOCATION_ADDRESS": "pii", "NAME": "pii", "NUMBER": "numbers"}
ENTITIES = tuple(ENTITY_KIND)

_KEYWORDS = {
    # ("amx", "a-mx": whisper's spellings of "Amex": "Okay, it's an AMX free payment photo." for "... an Amex, three
    # seven four two,", base over mu-law, held-out-26)
    "card": {"card", "cards", "credit", "debit", "visa", "mastercard", "amex", "amx", "a-mx", "discover",
             "cvv", "cvc", "cv2", "expiry", "expiration", "expires", "expire", "expired", "exp", "pin",
             "tarjeta", "crédito", "credito", "débito", "debito", "vencimiento", "caduca", "vence"},
    # ("sss": "S S N" as whisper may write it, "SSS is for all it." for "S S N is four oh eight, ...", held-out-33)
    "ssn": {"ssn", "sss", "social", "sociales"},
    "phone": {"phone", "telephone", "cell", "mobile", "call", "reach", "callback", "text",
              "teléfono", "telefono", "celular", "móvil", "movil"},
    "account": {"account", "acct", "routing", "member", "membership", "policy", "iban", "cuenta"},
    "dob": {"born", "birth", "birthday", "dob", "birthdate", "nacimiento", "nací", "naci", "nacido", "nacida",
            "cumpleaños", "cumpleanos"},
}
# The words of card and SSN keywords, which a recogniser writes around such a number ("SSN 078-05-1120").
NUMBER_KEYWORDS = frozenset(_KEYWORDS["card"] | _KEYWORDS["ssn"])
_EXPIRY = {"expiry", "expiration", "expires", "expire", "expired", "exp", "valid", "thru"}
# "out" after these says a card's expiry as callers say it ("It runs out in April 28th.", held-out-14,
# where the card's keyword was too far back): a keyword of it (:func:`_keyword`).
_RUNS = frozenset({"run", "runs", "ran", "running"})
# Card keywords of a security code (and a PIN): a short number after them is a CVV, not an expiry.
_CODE = {"cvv", "cvc", "cv2", "pin", "security", "code", "código", "codigo"}
# "code" alone is a security code's keyword ("the code on the back is ..."), but not after these.
_OTHER_CODES = {"zip", "post", "postal", "area", "promo", "promotional", "discount", "coupon", "voucher", "country",
                "dress", "error", "source", "bar", "qr"}
_MONTHS = {m: i + 1 for i, m in enumerate(MONTH_NAMES)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
# Spanish months ("el cinco de marzo de 2024"): said with "de" before the year.
_MONTHS.update({m: i + 1 for i, m in enumerate(
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split())})
_MONTHS["setiembre"] = 9
# Days said as ordinals ("july twelfth", "the third of may"): only beside a month, where they are a date.
_ORDINALS = frozenset(ORDINAL_DAYS)
_DAY = re.compile(r"^\d{1,2}(st|nd|rd|th)?,?$")
_GLUED_HOUR = re.compile(r"^(?:quarter|half)-(?:1[0-2]|[1-9])$")  # "quarter-8", as whisper writes "quarter to eight"
_YEAR = re.compile(r"(?:19|20)\d\d")  # a year of four digits, 1900-2099
_YEARS_OLD = re.compile(r"^\d{1,2}-years?-old$")  # "a 9-year-old", as whisper writes an age
# A word written as no secret's digits are: a decade ("90s", "1980s", "'70s") and round the clock ("24/7", "24-7",
# "24.7": no phone number's group is written so).
_IDIOM = re.compile(r"'?(?:[1-9]0|1[89]\d0|20\d0)'?s|24[/.-]7")
# ... round the clock said in words or written as two numbers ("twenty four seven", "24 7");
_ROUND_THE_CLOCK = (["24", "7"], ["twenty", "four", "seven"], ["twenty-four", "seven"])
# ... and the nouns after "two for one" that make it a deal.
_DEALS = frozenset({"deal", "deals", "special", "specials", "offer", "offers", "sale", "promotion", "promo"})
_DIGIT_ORDINAL = re.compile(r"^[1-9](?:st|nd|rd|th)$")  # "8th": a one digit's ordinal
_WRITTEN_ORDINAL = re.compile(r"^\d{1,2}(?:st|nd|rd|th)[.,?!]?$")  # "14th.", as whisper writes a day
_STREET = {"street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "boulevard", "blvd", "way",
           "court", "ct", "place", "pl", "terrace", "circle", "highway", "parkway", "square", "close"}
_ADDRESS = {"live", "lives", "living", "address", "reside", "resides", "located"}
# Where a number is said to be on or by a road: between a number and a street's suffix they say the number is no
# house number ("doing 70 on the highway"), unless an address's keyword came before it ("I live at 42 on Elm Street").
_BY_A_ROAD = frozenset({"on", "down", "along", "up", "under", "beyond", "off", "past", "near", "by", "across",
                        "through", "onto", "toward", "towards", "from", "to", "into", "in", "at"})
# Roads a speed is said on ("doing 70 on the highway"), and the verbs and hedges before a speed.
_ROADS = frozenset({"highway", "motorway", "freeway", "interstate", "expressway", "turnpike", "road", "parkway",
                    "carriageway", "bypass"})
_SPEEDING = frozenset({"doing", "going", "drove", "driving", "did", "hit", "hitting", "clocked", "travelling",
                       "traveling", "speeding", "went", "go", "goes"})
_HEDGES = frozenset({"about", "around", "over", "nearly", "almost", "like", "easily", "roughly", "maybe", "well"})
# Words after a number that make it an amount of money (or a share of one).
_MONEY_UNITS = frozenset({"dollar", "dollars", "cent", "cents", "buck", "bucks", "pound", "pounds", "euro", "euros",
                          "pence", "quid", "percent", "each", "apiece", "per",
                          # Spanish
                          "dólar", "dólares", "dolares", "peso", "pesos", "centavos", "céntimos"})
# Words after a number that make it an amount or a time (never a card's piece, even in a card context).
_UNITS = _MONEY_UNITS | {
    "o'clock", "clock", "oclock", "am", "pm", "a.m", "p.m", "minutes", "minute", "hours", "hour", "days", "nights",
    "weeks", "months", "years", "seconds", "degree", "degrees", "yesterday", "today", "tomorrow", "tonight", "morning",
    "afternoon", "evening",
    # Spanish
    "minutos", "horas", "días", "semanas", "meses", "años"}
# Units of a duration: in a passage, a digit's word and such a unit ending its phrase is a number's last digits,
# one misheard (:func:`_duration_ends_phrase`).
_DURATIONS = frozenset({"seconds", "minutes", "hours", "days", "nights", "weeks", "months", "years"})
# Units of a distance, a weight or a volume: in a number's passage they say what the number is ("We
# drove 200 miles.", held-out-14, after a price said without its currency), but not where a card's or
# an SSN's keyword is in force ("My social security number is [SSN_1] and 180 miles.", tiny.en).
_MEASURES = {"mile", "miles", "kilometer", "kilometers", "kilometre", "kilometres", "km", "feet", "foot", "inch",
             "inches", "yard", "yards", "meter", "meters", "metre", "metres", "kilo", "kilos", "kilogram", "kilograms",
             "kg", "gram", "grams", "ounce", "ounces", "lbs", "gallon", "gallons", "liter", "liters", "litre", "litres",
             "units", "points"}
# What a count glued to it by a hyphen counts before its noun ("a 3-bed room house", "a 3-day trip"): :func:`_glued_unit`.
_GLUED_COUNTS = frozenset({"bed", "bedroom", "bath", "bathroom", "room", "door", "star", "seat", "seater", "storey",
                           "story", "person", "man", "day", "week", "month", "year", "night", "piece", "pack"})
# Units of _MEASURES the same before one and before many.
_NUMBERLESS_MEASURES = {"feet", "km", "kg", "lbs"}
# Units that say a time of day only loosely ("on 3 tonight"): in a number's passage they make no time.
_DAY_WORDS = {"yesterday", "today", "tomorrow", "tonight", "morning", "afternoon", "evening"}
# Words after "runs until" that say when (no misheard month): :func:`_keyword`.
_WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
_WHEN = _DAY_WORDS | _WEEKDAYS | {"the", "next",
                      "end", "midnight", "noon", "then", "now", "further", "christmas", "easter", "summer", "winter",
                      "spring", "fall", "autumn", "a", "mid", "late", "early"}
# Words between a number and its unit that keep it an amount or a time.
_BEFORE_UNIT = {"this", "business", "working", "calendar", "more", "whole", "full"}
_CLOCK = {"am", "pm", "a.m", "p.m"}  # (of _UNITS) a time only after an hour: "20 am" is none
# Units after an hour that a digit misheard may be, in a passage (:func:`_loose_unit`): "4am", "4 o'clock".
_OCLOCK = frozenset({"o'clock", "oclock"})  # (a time only after an hour, 1-12: not "three three o'clock")
_LOOSE_CLOCK = frozenset(_CLOCK | _OCLOCK)
# An hour, with its minutes or not, as the recogniser writes one before am/pm: 10, 3:30, 3.30, 330.
_HOUR = re.compile(r"^(?:1[0-2]|0?[1-9])(?:[:.]?[0-5]\d)?[.,]?$")
_CARD_PIECES = ("CREDIT_CARD", "CREDIT_CARD_EXPIRATION", "CVV")
# Words between a duration's unit and a number after it that join the two, in a passage ("for 4 months on 28"):
# the duration is a piece of the number misheard (:func:`_unit_joined`).
_JOINING = frozenset({"on", "of", "in"})
# Words a recogniser puts between a number and a digit of it it wrote apart ("for the 11").
_FILLERS = frozenset({"the", "a", "and", "uh", "um", "then"})
# The entities that are a number (a digit's word beside one is one of its digits).
NUMBER_SPANS = frozenset({*_CARD_PIECES, "SSN", "PHONE_NUMBER", "ACCOUNT_NUMBER", "NUMBER"})
# Nouns that say what the number after them names: a place in a text, a vehicle, a room ("page 32",
# "flight 229", "apartment 4"); of 4 digits at most, said as a number (read digit by digit it fails
# closed: "room four one one one, ..."). None that a digit's word is heard as: not "level" ("level 1."
# for "double one.", base over mu-law), "floor", "gate", "row", "line"; nor a secret's ("number").
_NAMED_BY = {"page", "pages", "chapter", "section", "paragraph", "flight", "platform", "aisle", "bus", "room",
             "apartment", "suite", "episode", "terminal", "seat", "seats", "grade", "exit", "track", "table",
             "version", "setting", "channel", "route", "highway", "interstate"}
# ... and "marker" after "mile" ("mile marker 60"): alone it is how the recogniser wrote "the back" ("The digits
# on the marker I02.", held-out-2, base over mu-law).
# Verbs of a timetable, after which an hour and its minutes is a time ("My flight landed 645.", held-out-18);
# not "starts" ("it starts 1111" is how a card is read).
_TIMETABLE = frozenset({"lands", "landed", "leaves", "departs", "departed", "arrives", "arrived", "boards",
                        "opens", "closes"})
# What a time right before it names ("the nine fifteen train", "the 730 show": :func:`_timetabled`).
_TIMED = frozenset({"train", "bus", "flight", "ferry", "tram", "coach", "shuttle", "boat", "sailing", "service",
                    "show", "showing", "screening", "performance", "film", "movie", "news", "departure"})
# Nouns a year written before them names ("the 2019 model"); a determiner comes before such a year.
_YEAR_NOUNS = frozenset({"model", "models", "edition", "season", "vintage"})
# Possessives: a year's determiner ("my 2019 model") and what "board" for "birthday" comes after ("my board is").
_POSSESSIVES = frozenset({"my", "your", "his", "her", "their", "our"})
_YEAR_DETERMINERS = frozenset({"the", "a", "this", "that", "its"}) | _POSSESSIVES  # ("its": "It's a" as written)
# A home whose "number" names a number after it of 3 digits at most ("The house is number 42."; "my number"
# and "the number" name no place, and fail closed).
_HOUSES = frozenset({"house", "housing", "flat", "apartment", "unit", "building", "door"})
# Words between a noun that names a number and "number" ("Our bus was the number nine."): :func:`_number_named`.
_NUMBER_NAMED_BETWEEN = frozenset({"the", "is", "was", "in"})
# A place's number with its letter, as a room or a seat has ("b12", "12a"): after a noun of _NAMED_BY.
_LETTERED = re.compile(r"^(?:[a-z]\d{1,3}|\d{1,3}[a-z])$")
# After "a" or "per", a unit that makes the number before it a rate ("nine ninety five a month").
_RATE_UNITS = {"month", "week", "year", "day", "night", "hour", "person", "head"}
# Words right before an age: "my son just turned 16", "she turns 9"; a kin noun and "is": "my son is 14".
_AGE_VERBS = {"turn", "turned", "turns", "turning", "aged"}  # ("She'll turn 16.", held-out-52)
_KIN = {"son", "daughter", "kid", "child", "boy", "girl", "baby", "brother", "sister", "grandson", "granddaughter"}
_KIN_PLURAL = {"sons", "daughters", "kids", "children", "boys", "girls", "twins", "brothers", "sisters", "grandkids",
               "grandchildren"}
# Words before "at" that make what follows a place to be called, not a time: "call me at 830" may be
# a phone number's first group.
_CALLED = {"me", "us", "him", "her", "them", "number", "reach", "line"}
# A time written as the recogniser writes one after "at" ("at 830.", "at 1140."): an hour, and minutes on ten
# or the quarter hour (minutes that a phone number's group, "at 555", rarely has; it fails closed).
_ROUND_CLOCK = re.compile(r"^(?:1[0-2]|[1-9])(?:[0-5]0|15|45)$")
# Words between a price's verb and the amount: whom it was charged ("It cost me 150") or how much more or less it
# was ("It costs another 149.", tuning, tiny.en and base).
_PRICE_BETWEEN = frozenset({"me", "us", "him", "her", "them", "you", "another", "only", "just"})
# Words right before a number that make it an amount ("charge 140." when the recogniser drops "dollars").
_AMOUNT_BEFORE = {"charge", "charged", "pay", "paid", "paying", "cost", "costs", "costing", "total", "refund",
                  "refunded", "price", "balance", "owe", "owes", "spent", "spend"}
# Words before a number of years that count them (:func:`_years_heard`): "for 20 years", "another 30 years".
_YEARS_COUNTED = frozenset({"for", "in", "about", "around", "over", "than", "nearly", "almost", "another", "past",
                            "next", "the", "those", "these", "few", "some", "of", "within", "after", "before", "since",
                            "been", "least", "only", "just", "all", "took", "takes", "spent", "lasted", "served",
                            "worked", "lived", "had", "was", "is", "be", "'s"})
_YEARS_OR_SECONDS = frozenset({"years", "year", "seconds", "second"})
_SECONDS_COUNTED = frozenset({"me", "us", "wait", "take", "give", "hold", "another", "a", "your", "my"})
# Words right before a digit's word and its duration that ask for the time or count on it ("Give me two minutes.",
# "wait two minutes", "another two weeks"): no digit read (:func:`_duration_ends_phrase`).
_TIME_ASKED = frozenset({"me", "us", "wait", "take", "give", "another", "next", "within"})
# Verbs after which a digit's word ending its sentence is a count of what is taken ("I'll take two.").
_TAKING = frozenset({"take", "takes", "took", "want", "wants", "need", "needs", "buy", "bought", "order",
                     "ordered", "get", "got"})
# Determiners that make a noun of "call" ("the call dropped", "this call is recorded"): no phone keyword.
_CALL_NOUN_BEFORE = frozenset({"the", "a", "an", "this", "that", "your", "our", "last", "first", "next"})
# Nouns of a price, whose verb after them makes an amount of two decimals ("The fee was 12.99.", held-out-11).
# Not "amount": "My cost amount is C-449, 2-1-3." (tiny.en for "My account number is ...", held-out-10).
_PRICE_NOUNS = frozenset({"fee", "fees", "price", "cost", "total", "bill", "balance", "charge", "payment",
                          "fare", "rent", "premium", "deductible"})
# Verbs between a price's noun and its amount ("The bill says 100 and 20.", held-out-5, tiny.en): :func:`_noun_is`.
_NOUN_IS = frozenset({"is", "was", "'s", "says", "said", "shows", "showed"})
# Verbs before "to" that say a total: "it came to", "the bill comes to" (:func:`_came_to`).
_TOTAL_VERBS = {"came", "comes", "come", "amounts", "amounted"}
# A time or an amount written with a dot: "3.30", "$25.50", "12.99" (one token, two decimals).
# Not one that starts with 0 ("0.78": an SSN's "oh seven eight" as base wrote it; no time, and a
# price under one would have its currency sign). Without its currency it is an amount or a time only
# when a word before it says so (:data:`_SAID_BEFORE_DECIMAL`: "at 3.30", "about 3.50", "costs 12.99")
# or a unit after it: a price said bare is rarer than a secret's pairs written so, and it fails closed.
_DECIMAL = re.compile(r"^(?:[$£€]\d{1,3}|[1-9]\d{0,2})\.\d{2}[.,]?$")
_TIME_BEFORE = {"at", "by", "until", "till", "til", "after", "before", "around", "about", "past", "since"}
_SAID_BEFORE_DECIMAL = _TIME_BEFORE | _AMOUNT_BEFORE
# Words right before a time or a date that say until when something holds: after a number read (in
# its passage) they say a card's expiry, which the recogniser writes as a time or a date ("good until
# oh three thirty" as "until 3.30", "runs out eleven twenty nine" as "till November 29"; base).
_UNTIL = frozenset({"until", "till", "til", "through", "thru"})
# "of birth" after "date" as the recogniser hears it over the telephone (none of these pairs is a phrase of its own).
_OF_HEARD = frozenset({"of", "on", "or", "a"})
_BIRTH_HEARD = frozenset({"birth", "berth", "worth", "bert", "burt", "bath", "bird", "board"})
# The verbs after which digits are read: "the first three are ...", "my number is ..." ("in": as the
# recogniser hears "is", "the crud number in 4 am"; "aren't": "are", "the first three aren't one to die").
_ANNOUNCING_VERBS = frozenset({"is", "are", "was", "were", "in", "aren't"})
# "ending" before "in" and digits, as the recogniser hears it: :func:`_announces`.
_ENDING_HEARD = frozenset({"ending", "ends", "vendor", "window"})
_ANNOUNCED_COUNTS = frozenset("two three four five six seven eight nine".split())
# Words after a count of digits asked for at a final's end ("the last four digits of it, please?").
_AFTER_COUNT = frozenset({"digits", "digit", "numbers", "of", "it", "them", "that", "please", "again"})
# "code" after "area" as the recogniser hears it ("the area called for one time", tiny.en over mu-law).
_AREA_CODE = frozenset({"code", "codes", "called", "coat", "cold"})
# "four" as the recogniser writes it glued to the next word's sound, before "I'm" and a digit
# ("Ford I'm one big" for "four nine one six"), or with its "f" lost ("Or I'm one big", base over
# mu-law, held-out-2); only there: "Ford" elsewhere is a word (a car's make).
_FOUR_GLUED = frozenset({"ford", "fort", "or"})
# Words people say again and again that are no digit misheard (three times: :func:`_said_again`; twice in
# a passage: :func:`_twice`; "okay, okay").
_SAID_AGAIN = frozenset("hello bye-bye goodbye very really much many sorry thanks please blah yeah okay sure "
                        "right wait well".split())
# What the recogniser writes for "forty" before "the" ("for the one" for "forty one").
_FORTY = frozenset({"for", "four", "far"})
# Words before an hour that make it a time with its am or pm in a passage ("at 4 am", "from 9 am").
# Not "about" or "around": an approximate time is rarely said where digits are read, and an expiry after
# a card's number is heard so ("It's just about 3.20 am." for "It's good through oh three, twenty seven.",
# held-out-15, base over mu-law); outside a passage such a time stays.
# Words before an hour and its minutes that make a time of them ("after 215", "since nine fifteen").
_CLOCK_AFTER = frozenset({"after", "before", "around", "since"})
# ... and before an hour alone that ends its sentence ("Call me after lunch, around two."; "round" for "around").
_HOUR_AFTER = _CLOCK_AFTER | {"round"}
# An hour 1-12 as one token, written or said ("4", "four").
_HOURS = {**{str(h): h for h in range(1, 13)}, **{w: h for h, w in enumerate(DIGIT_NAMES) if h},
          "ten": 10, "eleven": 11, "twelve": 12}
# Words before a day of the month written as an ordinal ("on the 14th", "Friday the 13th").
_DAY_OF = _WEEKDAYS | {"on", "by"}
# Spanish words after a clock's hour that say its minutes or that it is sharp ("las diez y media", "la una menos
# cuarto", "las doce en punto"): :func:`_hora`.
_HORA_AFTER = frozenset({("y", "media"), ("y", "cuarto"), ("menos", "cuarto"), ("en", "punto")})
# Words before two hours with "to" between that make them opening hours ("open nine to five").
_OPEN_FROM = frozenset({"open", "opens", "opened", "from"})
_CLOCK_BEFORE = _TIME_BEFORE - {"about", "around"} | {"from", "between", "to", "and"}
# Words after an expiry keyword within which a number is the expiry, not an amount ("My credit card
# expired near of $5.20." for "... expires 05/27.", base over mu-law): nobody says a price there.
EXPIRY_NEAR = 3
# Words after a security code's keyword within which a short number is the code, whatever its unit.
CODE_NEAR = 8
# A time written as one token with its am or pm ("3pm", "10am", "3.30pm").
_HOUR_CLOCK = re.compile(r"^(?:1[0-2]|0?[1-9])(?:[:.]?[0-5]\d)?(?:am|pm)[.,]?$")
# Kinds whose sessions fail closed: any number that may be a secret's is redacted (:func:`_may_be_secret`).
# (``pii`` redacts SSNs too.)
FAIL_CLOSED = frozenset({"pci", "ssn", "pii"})
# An amount or a time has no more digits ("$1,250,000"); a card's with "dollars" after is a card, and so is a
# phone number written as a price ("You can call me on £155,867,500.", tiny.en in packs).
_AMOUNT_DIGITS = 7
# An amount the recogniser wrote that no price is: decimals before a thousands group ("is [CVV_1] $4.65,000"), or a
# sign glued to a chain of three groups or more ("the $10-8-8-8-8-8," for an expiry after a card's groups, held-out-46;
# "$10-20" is a range).
_POINT_ZERO = re.compile(r"\.0(?!\d)")  # "9.0": a decimal no price is written with ("49.9" is 49.90)
_MALFORMED_AMOUNT = re.compile(r"\.\d+,\d|^[$£€]\d+-\d+-\d")
# Homophones that say digits when two come in a row (:func:`_words_alone`).
_PAIRED_HOMOPHONES = frozenset({"to", "too", "for", "won", "ate"})
# Homophones of an hour's word before its minutes (:func:`_minutes_after_homophone`: "at free 30").
_HOUR_HOMOPHONES = frozenset({"free", "for", "to", "too", "ate"})
# A digit's own word (not "oh", nor a Spanish one: "uno de ellos" is words).
_DIGIT_WORDS = frozenset(DIGIT_NAMES)
_ONE_DIGIT = _DIGIT_WORDS | {"oh", "o"} | REPEAT_WORDS | frozenset(SPANISH_DIGITS)
# Spanish digits that are no English word ("uno", the game, is one): in an English final, a digit heard.
_SPANISH_ONLY = frozenset(SPANISH_DIGITS) - {"uno"}
# Spanish nouns that name the number after them, as _NAMED_BY's do ("Vivo en el piso cuatro.").
_NOMBRADO_POR = frozenset({"piso", "planta", "página", "pagina", "capítulo", "capitulo", "habitación", "habitacion",
                           "puerta", "andén", "anden", "vuelo", "sala", "mesa", "asiento"})
# (Not "life": "my social life" is how base heard "my social are", and a call rarely says it.)
_SOCIAL_NOT_SSN = {"media", "network", "networks", "worker", "workers", "work", "services", "service",
                   "event", "events", "club", "distancing", "skills", "studies", "science", "sciences", "anxiety"}
# "credit" is a card's keyword, but not before these: a score, a limit or a report has no card's digits
# ("My credit score is around seven fifty.", held-out-26: masked as a CVV, and the bus's number after it).
_CREDIT_NOT_CARD = frozenset({"score", "scores", "rating", "report", "reports", "history", "limit", "limits",
                              "union", "check", "bureau", "bureaus"})
# What a caller says between a group read wrong and the group read again: "no sorry", "no wait", "I mean".
_CORRECTING = frozenset({"no", "sorry", "wait", "i", "mean", "oops", "actually", "correction", "hang", "on", "um", "uh"})
_CORRECTING_SAID = frozenset({"sorry", "wait", "mean", "oops", "actually", "correction"})
_STOP = {"and", "but", "in", "on", "at", "with", "for", "to", "my", "the", "a", "is", "was", "it", "i", "and,"}
_WRITTEN_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*$")  # (not "3.30": a time)
_NAME_PART = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(slots=True)
class Context:
    """Words left during which each keyword's context holds; ``expiry``: the last card keyword was
    about an expiry date; ``code``: about a security code (or a PIN). Saved in the checkpoint
    (:meth:`to_dict`)."""

    card: int = 0
    ssn: int = 0
    phone: int = 0
    account: int = 0
    dob: int = 0
    number: int = 0  # words left of a masked number's passage (:data:`PASSAGE_WORDS`)
    expiry: bool = False
    code: bool = False

    @property
    def keyed(self) -> bool:
        """A keyword's context is in force (a card's, an SSN's, a phone's, an account's or a birth date's)."""
        return any((self.card, self.ssn, self.phone, self.account, self.dob))

    @property
    def secret_keyed(self) -> bool:
        """A card's or an SSN's keyword's context is in force."""
        return bool(self.card or self.ssn)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Context:
        fields: dict[str, Any] = {k: (bool(v) if k in ("expiry", "code") else int(v)) for k, v in values.items()
                                  if k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Span:
    """Tokens ``first``..``last`` (inclusive) are one ``entity``."""

    first: int
    last: int
    entity: str


def _keyword(cores: list[str], i: int) -> str | None:
    word = cores[i].removesuffix("'s")  # "my card's number"
    following = cores[i + 1] if i + 1 < len(cores) else ""
    # "social" alone is how callers say it ("the last four of my social are 6789"), but not
    # "social media" or "social worker", unless "the last four" comes just before it ("The last four on
    # my social networks.", base for "... of my social are").
    if word in ("social", "socials"):  # (looked back for only there: this runs for every word)
        last_four = any(cores[k] == "last" and cores[k + 1] in ("four", "4") for k in range(max(0, i - 5), i - 1))
        if word == "socials":
            # Its "s" heard after "the last four": "The last four are my socials, two rhino-six." for "The last four of
            # my social are two nine oh six." (base in packs over mu-law, held-out-40); "my socials" alone are accounts.
            return "ssn" if last_four else None
        if following in _SOCIAL_NOT_SSN and not last_four:
            return None
    if word == "credit" and following in _CREDIT_NOT_CARD:
        return None
    if word == "cards" and i > 0 and _count_said(cores[i - 1]):
        return None  # how many cards, no card's number ("I bought three cards.", held-out-45)
    if word in ("call", "calls") and i > 0 and cores[i - 1] in _CALL_NOUN_BEFORE and following not in ("back", "number"):
        return None  # the call itself, no number to call ("The call dropped after 3 minutes.", held-out-5)
    if word == "count" and following in ("number", "numbers", "no"):  # "account number" misheard
        return "account"
    if word == "car" and following in ("number", "numbers"):
        # "card number" misheard: "Go ahead with the car number when you're in bed." / "I'd one big big." for "Go
        # ahead with the card number when you're ready." / "Five one six six." (tiny.en over mu-law, held-out-10)
        return "card"
    if word == "security" and following in ("code", "number") and (i == 0 or cores[i - 1] != "social"):
        return "card"
    if word in ("code", "código", "codigo") and (i == 0 or cores[i - 1] not in _OTHER_CODES):
        return "card"
    if word == "back" and cores[max(0, i - 2):i] == ["on", "the"] and following in ("is", "are"):
        # What is "on the back is" a number is the card's code, whatever the recogniser made of its name: "CBC on
        # the back is I-N-E-T-O" for "CVC on the back is nine eight oh." (base in packs, held-out-11).
        return "card"
    if word == "out" and i > 0 and cores[i - 1] in _RUNS and following != "of":  # not "we ran out of milk"
        return "card"
    if word in _UNTIL and i > 0 and cores[i - 1] in _RUNS and following and following not in _MONTHS \
            and following not in _WHEN and not numeric(cores[i + 1:i + 2])[0]:
        # A card's expiry whose month was misheard: "it run until match already." / "The Mac and Big One Iron"
        # for "Yeah, it runs until March thirty." / "The back says six one nine." (base over mu-law,
        # held-out-9); not "The offer runs through March 3.", "It runs until Friday.", "until 5": a date or a
        # time said, read by the rules of dates.
        return "card"
    if word == "express" and (i > 0 and cores[i - 1] == "american" or following in DIGIT_SPELLINGS - {"to", "too"}
                              and cores[i + 2:i + 3] != ["shipping"]):
        # The card's name ("amex" is a keyword), its "American" misheard where a digit follows it ("and I may
        # recon express free payment at school." for "It's an American Express, three seven four two,", tiny.en
        # over mu-law, held-out-13 and -19; not "express delivery", "sent express to", "express free shipping").
        return "card"
    if word == "date" and following in _OF_HEARD and cores[i + 2:i + 3] and cores[i + 2] in _BIRTH_HEARD:
        # "date of birth", and as the recogniser mishears it over the telephone: "date on worth the third on
        # March 19, 1776." for "Date of birth, the third of March, nineteen seventy six." (tiny.en over mu-law,
        # held-out-42); "and your date on board." (base over mu-law, held-out-48).
        return "dob"
    if word == "board" and i > 0 and cores[i - 1] in _POSSESSIVES and following in ("is", "was") \
            and any(c in _MONTHS for c in cores[i + 2:i + 7]):
        # "birthday" misheard, a month after it: "My board is on July 4th." for "My birthday is on July fourth."
        # (tiny.en in packs, held-out-19); not "the board is on", "my board meeting is on".
        return "dob"
    if word == "date" and i > 0 and cores[i - 1].endswith("ation"):
        # "expiration date" misheard: "What's the acceleration date?", "was the exploration date of" /
        # "the 20th line." (base over mu-law, held-out-10); a registration's date fails closed with it.
        return "card"
    for name, words in _KEYWORDS.items():
        if word in words:
            return name
    return None


def detect(tokens: list[str], kinds: tuple[str, ...], context: Context, *,
           names: frozenset[int] = frozenset(), breaks: frozenset[int] = frozenset(),
           continues: str | None = None) -> list[Span]:
    """The entities of ``kinds`` in ``tokens``; ``context`` (carried from earlier text) is moved past them.

    Fails closed: with a kind of :data:`FAIL_CLOSED`, a number no rule took that may be a secret's
    (:func:`_may_be_secret`) is redacted whatever the words around it; the keywords only name it
    (:func:`_label`).

    ``names``: the tokens a name model found to be a person's name (``pii`` redacts them).
    ``breaks``: the tokens that begin a final (``tokens`` are several held finals): a number
    read as 3, 2 and 4 digits in three finals has an SSN's shape, whatever the recogniser's
    punctuation inside each.
    ``continues``: ``tokens`` go on with a number that the text before them ended with, redacted as
    this entity: a number they start with is its rest, whatever its length.
    """
    if not kinds or not tokens:
        return []
    cores = [core(t) for t in tokens]
    # Per token: the context in force before it (counters after the keywords before it).
    before: list[Context] = []
    ctx = Context(**context.to_dict())
    keyword_at: list[str | None] = []
    for i in range(len(tokens)):
        before.append(Context(**ctx.to_dict()))
        for name in ("card", "ssn", "phone", "account", "dob", "number"):
            setattr(ctx, name, max(0, getattr(ctx, name) - 1))
        found = _keyword(cores, i)
        keyword_at.append(found)
        if found:
            setattr(ctx, found, DOB_WORDS if found == "dob" else CONTEXT_WORDS)
            if found == "card":
                ctx.expiry = cores[i] in _EXPIRY or cores[i] in ("out", "date") or cores[i] in _UNTIL
                ctx.code = cores[i] in _CODE or _code_of_card(tokens, cores, i)
        elif cores[i] in ("valid", "thru", "date"):  # "valid thru", "the date is 1226" (a card's expiry date)
            ctx.expiry, ctx.code = True, False
    context.card, context.ssn, context.phone, context.account, context.dob, context.number = (
        ctx.card, ctx.ssn, ctx.phone, ctx.account, ctx.dob, ctx.number)
    context.expiry, context.code = ctx.expiry, ctx.code

    spans: list[Span] = []
    taken = [False] * len(tokens)
    # Tokens of amounts and times, and of numbers under 3 digits ("in 10 pays"): never a number's
    # stray piece (below).
    amounts = [False] * len(tokens)
    said = _hours_apart(runs(tokens), tokens, cores, breaks, before)
    counts = {run.last for run in said if _a_count(run, tokens, cores)
              and not (_reading(before[run.first]) and _count_unnamed(run.last, tokens, cores))} \
        | {run.first for run in said if run.first < run.last and _asked_count(run.first, tokens, cores)}
    numbers_read = _joined(_less_counts(said, tokens, counts), tokens, cores, kinds, before, keyword_at)
    for run in numbers_read:
        if any(taken[run.first:run.last + 1]):  # a ZIP code in the address before it
            continue
        if _amount(run, tokens, cores) or len(run.digits) < 3:
            amounts[run.first:run.last + 1] = [True] * (run.last + 1 - run.first)
        span = _classify(run, tokens, cores, kinds, before[run.first], keyword_at, breaks)
        if span is not None:
            spans.append(span)
            for i in range(span.first, span.last + 1):
                taken[i] = True
    for i in counts:  # (a count of digits is no piece of a number either: "the 16 digits on the front")
        amounts[i] = True
    # A word with a digit that no rule took ("PVN-88", ",120" alone) in a card or SSN context:
    # what the recogniser made of part of the number.
    # So is one next to a card number or an SSN ("Meem4" before ",128,188,...").
    numbers = [span for span in spans if span.entity in ("CREDIT_CARD", "SSN")]
    for i, token in enumerate(tokens):
        if taken[i] or amounts[i] or not any(ch.isdigit() for ch in token):
            continue
        entity = _sensitive(kinds, before[i], keyword_at, i, i, ahead=False)
        beside = [span.entity for span in numbers if 0 < span.first - i <= JOIN_GAP + 1 or 0 < i - span.last <= JOIN_GAP + 1]
        if beside:
            entity = beside[0]
        if entity in ("CREDIT_CARD", "SSN"):
            _mask(spans, taken, i, i, entity)
        elif FAIL_CLOSED & set(kinds) and not any(run.first <= i <= run.last for run in numbers_read) \
                and not (i > 0 and _names(cores, i - 1) and _LETTERED.match(cores[i])) \
                and not (_YEARS_OLD.match(cores[i]) and i > 0 and cores[i - 1] in _YEAR_DETERMINERS | {"an"}) \
                and not ((_glued_unit(i, cores, breaks) or _GLUED_HOUR.match(cores[i]))
                         and not before[i].secret_keyed and not before[i].number):
            # Fails closed: digits run into a word ("40mos" for "cuarenta y dos"), whatever the context;
            # but a room's or a seat's letter and number after its noun ("Room B12, please.", held-out-14),
            # and an age after its determiner ("a 9-year-old", "my 10-year-old"; not `10-year-old. It's [SSN_1].` for
            # "Hang on. It's nine oh oh three.", held-out-44); where no secret's keyword nor a passage holds, a duration, a measure or a
            # count glued to its noun ("a 40-minute drive", "a 3-bed room house") and "quarter-8" for "quarter to
            # eight" (held-out-47, tiny.en over mu-law).
            _mask(spans, taken, i, i, entity or "NUMBER")
    _absorb(spans, taken, numbers_read, tokens, cores, keyword_at)
    chained = _signed_chain(numbers_read, tokens, cores) if FAIL_CLOSED & set(kinds) else set()
    for run in numbers_read:
        if any(taken[run.first:run.last + 1]):
            if FAIL_CLOSED & set(kinds) and not all(taken[run.first:run.last + 1]):
                # A number partly masked ("6, [SSN_1], [SSN_2]": a rule took the digits beside an SSN) is
                # masked whole: what is left of it is its digits.
                entity = next(s.entity for s in spans if s.first <= run.last and s.last >= run.first)
                spans += [Span(i, i, entity) for i in range(run.first, run.last + 1) if not taken[i]]
                taken[run.first:run.last + 1] = [True] * (run.last + 1 - run.first)
            continue
        first = run.first
        if continues and run.first == 0 and not _unit_after(run, tokens, cores):
            label = continues  # the rest of the number the passage before ended with
        elif "pci" in kinds and (vouched := _vouched_expiry(run, tokens, cores)) is not None:
            first, label = vouched, "CREDIT_CARD_EXPIRATION"
        elif "pci" in kinds and (_expiry_as_range(before[run.first], run, tokens)
                                 or _end_of_expiry(before[run.first], run, tokens, cores)):
            label = "CREDIT_CARD_EXPIRATION"
        elif FAIL_CLOSED & set(kinds) and (run.first in chained
                                           or _may_be_secret(run, tokens, cores, breaks, card="pci" in kinds)
                                           or _after_expiry(before[run.first], run, cores)
                                           or _after_code(before[run.first], run, tokens)):
            label = _label(kinds, before[run.first], keyword_at, run)
            first = _until_expiry(run, tokens, cores) or first  # (a month with it: "till [NUMBER_1]")
        else:
            continue
        _mask(spans, taken, first, run.last, label)
    if continues and not taken[0] and cores[0] in DIGIT_SPELLINGS:  # "one." after a card released whole
        _mask(spans, taken, 0, 0, continues)
    # The tokens of the numbers read (the fail-closed rules below leave them to the rules above).
    in_runs = frozenset(i for run in numbers_read for i in range(run.first, run.last + 1))
    if FAIL_CLOSED & set(kinds):
        _lone_digits(spans, taken, tokens, cores, kinds, before, keyword_at, in_runs)
        _zero_glued(spans, taken, cores, kinds, before, keyword_at)
        _digits_alone(spans, taken, tokens, cores, kinds, before, keyword_at, breaks, in_runs)
    if FAIL_CLOSED & set(kinds) or continues:
        _spellings_beside(spans, taken, cores, counts)
    if FAIL_CLOSED & set(kinds):  # (after the spans have taken the words beside them: they open passages)
        _said_again(spans, taken, tokens, cores, kinds, before, keyword_at, breaks, in_runs)
        _ohs_spelled(spans, taken, cores, kinds, before, keyword_at)
        _dialled(spans, taken, tokens, cores, kinds, before, keyword_at, breaks, in_runs)
        context.number = _passages(spans, taken, tokens, cores, kinds, before, keyword_at, numbers_read, in_runs,
                                   breaks)
        if _asks_again(tokens, cores) or _asks_for_digits(tokens, cores):
            context.number = max(context.number, PASSAGE_WORDS)
        # (after the passages: a digit's word alone is too weak a sign of digits being read to open one)
        alone = set(spans)
        if _words_alone(spans, taken, tokens, cores, kinds, before, keyword_at, breaks, in_runs):
            _spellings_beside(spans, taken, cores, counts)
            _homophones_before([span for span in spans if span not in alone], spans, taken, tokens, cores, breaks,
                               in_runs)
            # ... unless a keyword's context holds what it masked, or it masked three words in a row: then it is a
            # number read, and opens one ("My member I need a time time to follow [NUMBER_1] and a half." for "My
            # member ID is nine nine two, four oh, one seven seven.", base in packs, held-out-5; "[NUMBER_1] or six
            # salmon." for "... four four one, oh six ...", the "For for one" masked, held-out-13)
            new = sorted(i for span in spans if span not in alone for i in range(span.first, span.last + 1))
            if any(before[i].keyed for i in new) or any(new[k + 2] - new[k] == 2 for k in range(len(new) - 2)):
                context.number = max(context.number, _passages(spans, taken, tokens, cores, kinds, before, keyword_at,
                                                               numbers_read, in_runs, breaks))
        _value_said(spans, taken, tokens, cores, breaks, in_runs)
        _unit_misheard(spans, taken, numbers_read, tokens, cores, before)
    if "pii" in kinds:
        _country_code(spans, taken, cores, before)
        _birthday_in_words(spans, taken, cores, before)
        _spoken_house_numbers(spans, taken, tokens, cores)
        for span in _emails(tokens, cores):
            if not any(taken[span.first:span.last + 1]):
                _mask(spans, taken, span.first, span.last, span.entity)
        i = 0
        while i < len(tokens):
            if i in names and not taken[i]:
                j = i
                while j + 1 < len(tokens) and j + 1 in names and not taken[j + 1]:
                    j += 1
                spans.append(Span(i, j, "NAME"))
                i = j + 1
            else:
                i += 1
    return sorted(spans, key=lambda s: s.first)


def _homophones_before(masked: list[Span], spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str],
                       breaks: frozenset[int], in_runs: frozenset[int]) -> None:
    """Digits' words and homophones up to :data:`JOIN_GAP` + 1 words before each of ``masked`` (digits' words
    alone, :func:`_words_alone`) in its sentence are masked with it: "The pen went [NUMBER_2] Goku [NUMBER_3]."
    for "The pen went for Goku one." ("... four one", base in packs, held-out-10). Only those: a word alone
    opens no passage."""
    for span in masked:
        for j in range(span.first - 1, max(-1, span.first - JOIN_GAP - 2), -1):
            if _sentence_ends(j, tokens, breaks):
                break
            if not taken[j] and j not in in_runs and _says_a_digit(cores[j]):
                _mask(spans, taken, j, j, span.entity)


def _glued_unit(i: int, cores: list[str], breaks: frozenset[int]) -> bool:
    """Token ``i`` is 1-3 digits joined by a hyphen to a unit, as the recogniser writes a duration, a measure or a count
    before its noun ("a 40-minute drive", held-out-42: masked in 4 of its decodes; "a 3-hour flight"; "a 3-bed room
    house", held-out-5, tiny.en over mu-law: :data:`_GLUED_COUNTS`), and no word after it
    in its final says a digit (not "I'm a 3-minute number in [NUMBER_2]." for a CVV, held-out-12, tiny.en in packs)."""
    glued = re.fullmatch(r"\d{1,3}-([a-z]+)", cores[i])
    end = _final_of(i, breaks, len(cores))[1]
    return glued is not None and (glued.group(1) in _UNITS or glued.group(1) in _MEASURES
                                  or glued.group(1) in _GLUED_COUNTS) \
        and not any(_says_a_digit(c) or any(ch.isdigit() for ch in c) for c in cores[i + 1:end])


def _pause(token: str) -> bool:
    """``token`` ends with punctuation (:data:`_STOPS`): the recogniser heard a pause after it."""
    return token.rstrip()[-1:] in _STOPS


def _phrase_ends(i: int, tokens: list[str], breaks: frozenset[int]) -> bool:
    """Token ``i`` ends its phrase: a pause after it (:func:`_pause`), or its final ends there."""
    return _pause(tokens[i]) or i + 1 == len(tokens) or i + 1 in breaks


def _mask(spans: list[Span], taken: list[bool], first: int, last: int, entity: str) -> None:
    """Mask tokens ``first`` to ``last`` as ``entity``: their span, and each of them taken."""
    spans.append(Span(first, last, entity))
    taken[first:last + 1] = [True] * (last + 1 - first)


def _digitwise(run: Run, cores: list[str]) -> bool:
    """``run`` is read digit by digit (two words or more of one digit: "four four", "0 5", "oh
    five", "one-nine", or digits written one by one: "4-9"), as secrets are, not said as one number
    ("twenty five", "10"; nor "six forty five", whose "five" is the unit of "forty five")."""
    said = cores[run.first:run.last + 1]
    written = "".join(said)
    # (A one digit's ordinal after a digit is one digit read too: "3, 8th Anniversary" for "... three, eight six
    # seven", held-out-23.)
    return sum(0 if k > 0 and said[k - 1] in TENS and c in _DIGIT_WORDS - {"zero"}
               else 1 if c in _ONE_DIGIT or len(c) == 1 and c.isdigit()
               or k > 0 and len(said[k - 1]) == 1 and said[k - 1].isdigit() and _DIGIT_ORDINAL.match(c)
               else len(digits_joined(c))
               for k, c in enumerate(said)) >= 2 \
        or len(run.groups) >= 2 and all(len(group) == 1 for group in run.groups) and "-" in written  # (not "3.0")


def _signed_chain(found: list[Run], tokens: list[str], cores: list[str]) -> set[int]:
    """Where (their first tokens) numbers with a currency sign and no unit word after them follow one
    another, at most :data:`JOIN_GAP` words apart within a sentence, 3 or more of them, 7 digits or more
    in all, none with a thousands separator or cents: a number read in groups that the recogniser wrote as
    prices ("It's £100, well £60, £7183," for "It's five hundred twelve, sixty, seventy one eighty
    three", an SSN)."""
    def signed(run: Run) -> bool:
        after = cores[run.last + 1] if run.last + 1 < len(cores) else ""
        # (Written as groups are, no thousands separator nor cents: "$1,000", "$4.50" are prices.)
        return bool(re.match(r"^[$£€]\d+[,.;]?$", "".join(tokens[run.first:run.last + 1]))) and after not in _UNITS
    out: set[int] = set()
    chain: list[Run] = []
    for run in [*found, None]:
        if run is not None and signed(run) and chain and run.first - chain[-1].last - 1 <= JOIN_GAP \
                and not any(t.rstrip()[-1:] in ".?!" for t in tokens[chain[-1].last:run.first]):
            chain.append(run)
            continue
        if len(chain) >= 3 and sum(len(r.digits) for r in chain) >= 7:
            out.update(r.first for r in chain)
        chain = [run] if run is not None and signed(run) else []
    return out


def _one_by_one(run: Run, cores: list[str]) -> bool:
    """``run`` says 3 digits or more one by one ("4 4 1 2", "nine oh three", "double six one", "4-4-1"):
    no amount, time or date is said so, whatever word comes after it ("4 4 1 2 in the evening"); a
    range ("3 to 5 business days") and a time ("4 30", "seven fifteen") are not."""
    said = cores[run.first:run.last + 1]
    singles = sum(1 if c in _ONE_DIGIT - REPEAT_WORDS or len(c) == 1 and c.isdigit()
                  else 2 if c in REPEAT_WORDS else len(digits_joined(c)) or _hyphened_digits(c) for c in said)
    return singles >= 3 or len(run.groups) >= 3 and all(len(g) == 1 for g in run.groups)


def _hyphened_digits(word: str) -> int:
    """How many digits ``word`` (a core) writes one by one with hyphens ("2-1-3": 3); 0 for any other."""
    return word.count("-") + 1 if re.fullmatch(r"\d(?:-\d)+", word) else 0


def _may_be_secret(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int] = frozenset(), *,
                   card: bool = False) -> bool:
    """Whether ``run`` may be (part of) a card number, an SSN, a security code, an expiry date or an
    account number, whatever the words around it: every number but

    * an amount or a time (:func:`_unit_after`: "25 dollars", "$149", "3:30", "10 o'clock", "3
      pm", "10 days") of at most :data:`_AMOUNT_DIGITS` digits, or one right after a word such as
      "charge" of at most 6;
    * a date of a call: a month word right before a day, a year or both ("March 3, 2024"); with
      ``card`` not a month and a year alone ("March 2029": an expiry, :func:`_date_said`);
    * a number of at most 4 digits that the noun before it names, read one by one or not ("room two oh
      four", "page 32": :func:`_named_by`);
    * a short quantity: 1 or 2 digits said as one number ("twenty five", "10"), not read digit by
      digit ("four four", "oh five": masked), with a word after it in its phrase ("two items",
      "10 pays"): one that ends a phrase, a sentence, a final or a passage ("I'm 42.", "... is 12") may be
      the first piece of a number read in groups, and is masked (``breaks``: where finals begin).

    When unsure, a number is masked: a year alone ("in 2019"), an order number, a house number
    without a ``pii`` address rule, a quantity of 3 digits or more ("120 people")."""
    n = len(run.digits)
    if _hours_or_score(run, tokens, cores) or _idiom(run, tokens, cores) or _ages_listed(run.first, run.last, tokens, cores) \
            or n <= 2 and _each_holds(run.first, cores) or _menu_option(run.first, run.last, tokens, cores):
        return False
    # (A noun that names the number before it makes no secret of digits read one by one: "I'm in room two oh four.",
    # held-out-54's own words, left to :func:`_said_bare` below; where a keyword holds, the keyword's rules mask it.)
    if _surely_digits(run, tokens, cores, card=card) and not _named_by(run, cores):
        return True
    if _unit_after(run, tokens, cores) and n <= _AMOUNT_DIGITS or _said_bare(run, cores):
        return False
    if _corrected(run, tokens, cores):
        return True
    if _said_plainly(run, tokens, cores, breaks, card=card):
        return False
    if _measured(run, tokens, cores) and n <= 4:  # "We drove 250 miles.", as in a passage no keyword holds
        return False
    # (Where nothing says a secret only: in a passage or a keyword's context "around 5309." after "My number is 555
    # 867" is the phone number's last group, and "at number 22" may be a code's.)
    if _roughly(run, cores) or _at_number(run, cores) \
            or _minutes_after_homophone(run, cores) and _unit_after(run, tokens, cores, minutes=True):
        return False
    if _priced(run, tokens, cores) and n <= 6 or _hundred_and(run, tokens, cores):
        return False
    if _dated(run, tokens, cores, card=card, breaks=breaks):
        return False
    if n <= 2 and 1 <= int(run.digits) <= 31 and _month_after(run, cores):
        return False  # a day before its month: "the 3rd of May", "3 March"
    if n > 2 or _digitwise(run, cores):
        return True
    # (A comma after it ends its phrase too: "Fifty-four, well..." is a group, not "54 items"; so does a
    # function word: "12 is", "two might".)
    # (Nor a count written with a decimal point, but a measure: "The maximum 6.1 mile." for "The CVV is six
    # one nine.", base over mu-law, held-out-9; "2.5 miles" is one.)
    return not counts_a_noun(tokens, cores, run.last, breaks=breaks) or _read_in_groups(run, tokens, cores, breaks) \
        or _said_twice(run, cores) \
        or "." in "".join(tokens[run.first:run.last + 1]).rstrip(".?!,") and not _measured(run, tokens, cores)


def _each_holds(first: int, cores: list[str]) -> bool:
    """Whether the number at token ``first`` says what each of a count of things holds: "of" and a noun before it,
    a count or an article before that, or a plural after "in" or "by" ("two boxes of twelve", "a pack of six", "a
    family of five", "in bags of ten"; held-out-44's "I ordered [NUMBER_1] boxes of [NUMBER_2]." in its own words).
    Only where no keyword holds: a secret's context masks it before."""
    if first < 3 or cores[first - 1] != "of":
        return False
    noun, before = cores[first - 2], cores[first - 3]
    if not noun.isalpha() or noun in FUNCTION_WORDS or noun in NUMBER_WORDS or noun in DIGIT_SPELLINGS:
        return False
    return before in ("a", "an") or _one_number(before) or before in ("in", "by") and noun.endswith("s")


def _one_number(word: str) -> bool:
    """``word`` (a core) alone says a number of 1-2 digits ("4", "twelve", "twenty"; not "hundred")."""
    return word.isdigit() and len(word) <= 2 or word in NUMBER_WORDS and word not in SCALES


def _idiom(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is said as no secret's digits are: one word written so (:data:`_IDIOM`: "That was back in the
    90s.", "You can reach us 24/7.", held-out-24: masked in 8 and 9 of its 12 decodes); round the clock said,
    ending its sentence with no number after it ("You can reach us twenty four seven."); a deal (:func:`_deal`,
    :func:`_bogo`)."""
    if _deal(run, tokens) or _bogo(run.first, run.last, cores):
        return True
    if run.first == run.last:
        return bool(_IDIOM.fullmatch(tokens[run.first].strip(".?!,;:")))
    return _round_the_clock(run.first, run.last, tokens)


def _bogo(first: int, last: int, cores: list[str]) -> bool:
    """Tokens ``first``..``last`` are a "one" of "buy one get one" (free, half price; held-out-30: "It's buy one
    get one free." masked in its own words, the free heard as a three)."""
    said = cores[first:last + 1]
    if said in (["one"], ["1"]) and cores[first - 1:first] == ["buy"] and cores[last + 1:last + 2] == ["get"]:
        return cores[last + 2:last + 3] in (["one"], ["1"])
    return first >= 3 and cores[first - 3] == "buy" and cores[first - 2] in ("one", "1") \
        and cores[first - 1] == "get" and (said in (["one", "free"], ["1", "free"])
                                           or said in (["one"], ["1"]) and cores[last + 1:last + 2] in (["free"], ["half"]))


def _round_the_clock(first: int, last: int, tokens: list[str]) -> bool:
    """Tokens ``first``..``last`` say round the clock (:data:`_ROUND_THE_CLOCK`) and end their sentence."""
    return [core(t) for t in tokens[first:last + 1]] in _ROUND_THE_CLOCK and tokens[last].rstrip()[-1:] in ".?!"


def _deal(run: Run, tokens: list[str]) -> bool:
    """``run`` is a deal: one digit "for" one digit right before its noun ("It was a two for one deal.",
    held-out-27: masked in its own words, and written "2.41" or "2-4-1" in 8 of its 24 decodes; "a three for
    two offer")."""
    said = [core(t) for t in tokens[run.first:run.last + 1]]
    return len(said) == 3 and said[1] == "for" and all(w in DIGIT_NAMES or len(w) == 1 and w.isdigit()
                                                       for w in (said[0], said[2])) \
        and run.last + 1 < len(tokens) and not _pause(tokens[run.last]) \
        and core(tokens[run.last + 1]) in _DEALS


def _surely_digits(run: Run, tokens: list[str], cores: list[str], *, card: bool) -> bool:
    """``run`` is digits read, whatever the words around it: read one by one (:func:`_one_by_one`) or in pairs
    (:func:`_in_pairs`), an amount no price is (:data:`_MALFORMED_AMOUNT`), or, where cards are redacted, an
    expiry's year heard as "20 years" (:func:`_years_heard`)."""
    return _one_by_one(run, cores) or _in_pairs(run, tokens, cores) \
        or bool(_MALFORMED_AMOUNT.search("".join(tokens[run.first:run.last + 1]))) \
        or card and _years_heard(run, tokens, cores)


def _in_pairs(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` says two numbers or more of 2 digits each back to back, nothing between them but a comma ("40 60",
    "40, 62", "sixty seven eighty nine"), no currency's sign, its first no hour ("10 45": a clock's) nor a century
    ("nineteen eighty", "20 20"), no price said before it but "total" (the recogniser's "two two") nor after it
    ("a month", "dollars"): an SSN's or a card's groups said as numbers, as no quantity is said ("Total 40 60 minute
    volume." for "Two twelve, forty, sixty seven eighty nine.", held-out-50, base in packs after "I will need your
    social security number.")."""
    pairs: list[int] = []
    i = run.first
    while i <= run.last:
        if i < run.last and tokens[i].rstrip()[-1:] in ".?!;:" or tokens[i][:1] in "$£€":
            return False
        word = cores[i]
        tens, _, unit = word.partition("-")
        if re.fullmatch(r"[1-9]\d", word):
            value = int(word)
        elif tens in TENS and (not unit or unit in DIGIT_NAMES[1:]):
            value = NUMBER_VALUES[tens] + (NUMBER_VALUES[unit] if unit else 0)
            if not unit and i < run.last and cores[i + 1] in DIGIT_NAMES[1:] and not tokens[i].endswith(","):
                i += 1
                value += NUMBER_VALUES[cores[i]]
        elif word in NUMBER_VALUES and NUMBER_VALUES[word] >= 10:
            value = NUMBER_VALUES[word]
        else:
            return False
        pairs.append(value)
        i += 1
    if len(pairs) < 2 or pairs[0] <= 12 or len(pairs) == 2 and pairs[0] in (19, 20):
        return False
    # (A price in dollars and cents: "I paid twenty nine ninety nine for it.", "It's forty nine ninety nine a month.")
    after = run.last + 1
    return not (_priced(run, tokens, cores) and cores[run.first - 1:run.first] != ["total"]
                or after < len(cores) and cores[after] in _MONEY_UNITS or _a_rate(after, cores)
                or len(pairs) == 2 and _taxed(run, tokens, cores))


def _a_rate(i: int, cores: list[str]) -> bool:
    """Token ``i`` and the next say a rate: "a month", "per week", "an hour" (:data:`_RATE_UNITS`)."""
    return i + 1 < len(cores) and cores[i] in ("a", "an", "per") and cores[i + 1] in _RATE_UNITS


def _corrected(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is corrected by a number said right after it ("412, no sorry, 412, ...", base for "My social is
    four one two, eight eight, no sorry, four one two, ...", "social" heard as "total", held-out-17): a group
    of a number being read, whatever its noun said; an amount corrected keeps its unit or sign."""
    j = run.last + 1
    said: list[str] = []
    while j < len(cores) and len(said) < 3 and cores[j] in _CORRECTING:
        said.append(cores[j])
        j += 1
    return bool(_CORRECTING_SAID & set(said)) and j < len(cores) \
        and (any(ch.isdigit() for ch in tokens[j]) or cores[j] in DIGIT_SPELLINGS) and tokens[j][:1] not in "$£€"


def _years_heard(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is "20" or "30" and "years" or "seconds" ending its sentence with no word before it that counts
    them ("for", "in", "about", "the last", "me", ...): how the recogniser wrote an expiry's year read last ("It's
    exciting or fix 20 years." for "It's expiring oh six, twenty eight.", held-out-12, 3 of its decodes;
    "kinds last 20 years." for "... slash twenty seven", held-out-5; "You'll feel the end on road high, 20
    seconds." for "It's good till the end of oh nine, twenty seven.", held-out-24). Where cards are redacted it
    is masked; "for 20 years", "20 years ago", "over the last 20 years", "give me 30 seconds" stay."""
    after = run.last + 1
    if run.digits not in ("20", "30") or after >= len(cores) or cores[after] not in _YEARS_OR_SECONDS \
            or tokens[after].rstrip()[-1:] not in ".?!" or _pause(tokens[run.last]):
        return False
    before = cores[run.first - 1] if run.first > 0 else ""
    if before == "last":
        return not (run.first > 1 and cores[run.first - 2] in ("the", "past", "my", "our", "your", "their", "his", "her"))
    return before not in _YEARS_COUNTED and not (cores[after].startswith("second") and before in _SECONDS_COUNTED)


def _an_age(run: Run, cores: list[str]) -> bool:
    """``run`` is an age: 1-2 digits after "turned" or "turns", or after a kin noun and "is" ("My son just
    turned 16.", "My daughter turns 18 next month.", "My son is 14.", "my daughter's 9"; its "is" heard as "in": "My
    son in 14.", held-out-5, base and tiny.en in packs), or before "years
    old" ("Our dog is 11 years old.", "a 9-year-old")."""
    first = run.first
    before = cores[first - 1] if first > 0 else ""
    after = cores[run.last + 1:run.last + 3]
    return len(run.digits) <= 2 and (
        before in _AGE_VERBS or before in ("is", "'s", "in") and first > 1 and cores[first - 2] in _KIN
        or before.endswith("'s") and before[:-2] in _KIN
        or after[:1] in (["year"], ["years"]) and after[1:] == ["old"] or after[:1] in (["year-old"], ["years-old"]))


def _ages_listed(first: int, last: int, tokens: list[str], cores: list[str]) -> bool:
    """Tokens ``first``..``last`` are in a list of ages after "ages" or "aged", or after kin and "are" ("The kids are
    8 and 10."), in their sentence, each said as one number
    of 1-2 digits, with commas and "and" between ("We have three kids, ages four, seven and nine.", held-out-25:
    masked in 10 of its 12 decodes, and the passage it opened masked "The score was 2 to 1" after it)."""
    if last - first > 4 or not all(_one_number(c) or c == "and" for c in cores[first:last + 1]):
        return False
    # (each its own: a comma or "and" between two numbers, as "4 1 1 1" read after "ages" has none)
    if any(_one_number(cores[i]) and _one_number(cores[i + 1]) and not tokens[i].endswith(",") for i in range(first, last)):
        return False
    for i in range(first - 1, max(-1, first - 9), -1):
        if tokens[i].rstrip()[-1:] in ".?!":
            return False
        if cores[i] in ("ages", "aged") or cores[i] == "are" and i > 0 and cores[i - 1] in _KIN_PLURAL:
            return True  # ("The kids are 8 and 10.", held-out-42: masked in 6 of its decodes)
        if cores[i] != "and" and not _one_number(cores[i]):
            return False
    return False


def _age_word(i: int, digit: int, tokens: list[str], cores: list[str]) -> bool:
    """Token ``i``, a digit's word saying ``digit``, is an age: a kin's (:func:`_an_age`, "My grandson is nine.") or one
    of a list of ages (:func:`_ages_listed`)."""
    return _an_age(Run(i, i, str(digit), ()), cores) or _ages_listed(i, i, tokens, cores)


def _aged(run: Run, cores: list[str]) -> bool:
    """An age said as one number (:func:`_an_age`), not read digit by digit ("my son is one four")."""
    return _an_age(run, cores) and not (_one_by_one(run, cores) or _digitwise(run, cores))


def _said_plainly(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int] = frozenset(), *,
                  card: bool = True) -> bool:
    """``run`` is an age, an hour, a year or a count by the words around it, where nothing says a secret
    (no keyword, no passage: there digits read are masked whatever follows them, :func:`_passages`):

    * an age (:func:`_an_age`; in a passage too, where no card's or SSN's keyword holds);
    * an hour and its minutes right after a timetable's verb (:data:`_TIMETABLE`: "My flight landed 645.");
    * an hour and its minutes naming a train or a show (:func:`_timetabled`: "the nine fifteen train");
    * an hour after "at" that ends its sentence ("The store opens at 10."), an hour and its minutes said
      as words ("at nine thirty") or written on ten or the quarter hour ("I finish work at 830.", "at
      1140."); not after "me" ("call me at 830": a phone number's first group, :data:`_CALLED`);
    * a year after "in" that a sentence says ("I opened it in 2005."; not a final of "in 2013." alone,
      tiny.en's for "It expires in March twenty twenty nine."): 1900-2019, and later ones unless
      ``card`` (a session redacting cards: "It fires in 2029." for "It expires in 2029." is a card's year);
    * a year that begins its sentence and that sentence calls a year (:func:`_year_named`);
    * a rating: 1-2 digits out of 5, 10 or 100, either of the two (:func:`_rated`);
    * a speed on a road (:func:`_speed`: "He was doing seventy on the highway.");
    * a number of 1-2 digits below zero (:func:`_below_zero`: "It was minus 12 last night.");
    * a round hundred, or a round thousand said as words or written with its comma, that counts the noun after it
      ("We need 400 forms.", "two hundred employees", "ten thousand steps", "10,000 steps"; "120 people" fails
      closed).

    Not digits read one by one ("at one two", "four oh oh forms": :func:`_digitwise`; "two thousand and
    five" is said as a number)."""
    n, first = len(run.digits), run.first
    scaled = any(c in ("hundred", "thousand") for c in cores[first:run.last + 1])
    if _one_by_one(run, cores) or _digitwise(run, cores) and not scaled:
        return False
    if _an_age(run, cores):
        return True
    before = cores[first - 1] if first > 0 else ""
    if n <= 2 and _hour_ending_at(first, run.last, int(run.digits), tokens, cores):  # (as :func:`_hour_said`)
        return True
    if _day_on(run, tokens, cores) or _hora(run, tokens, cores) or _dia(run, cores) \
            or n <= 2 and _below_zero(first, cores):
        return True
    if before in _TIMETABLE and _clock_digits(run.digits) or _timetabled(run, tokens, cores):
        return True
    if _after_at(first, cores):
        ends = tokens[run.last].rstrip()[-1:] in ".?!"
        written = "".join(tokens[first:run.last + 1])
        spoken = not any(ch.isdigit() for ch in written)
        if spoken and _clock_digits(run.digits) \
                or ends and bool(_ROUND_CLOCK.match(run.digits)) and written.rstrip(".?!").isdigit():
            return True
    if _year_in(run, tokens, cores, breaks, card=card) or _year_named(run, tokens, cores, breaks) \
            or _rated(run, tokens, cores) or _speed(run, tokens, cores, breaks):
        return True
    # (and a round thousand said as words: "I walk ten thousand steps a day.", held-out-29; a secret's digits are never
    # read with "thousand"; nor written with its comma, as the recogniser writes "ten thousand": `I walked 10,000 steps`)
    thousand = first == run.last and bool(re.fullmatch(r"[1-9]\d{0,2},000", tokens[first]))
    return (n == 3 and run.digits.endswith("00") or scaled and cores[run.last] == "thousand" and n <= 7 or thousand) \
        and counts_a_noun(tokens, cores, run.last, breaks=breaks)


def _below_zero(first: int, cores: list[str]) -> bool:
    """The number at token ``first`` is below zero, "minus" or "negative" before it ("The temperature dropped to
    minus four.", held-out-47: masked in its own words and every decode, its "to" with it): no secret's group is."""
    return first > 0 and cores[first - 1] in ("minus", "negative")


def _hours_or_score(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is two numbers of 1-2 digits said with "to" between them or written "N-M" or "N.M" (:func:`_two_said`):
    opening hours after "open" or "from", each an hour 1-12 or one with its minutes ("We're open nine to five on
    weekdays.", held-out-21; "The meeting runs from ten to eleven thirty.", held-out-44), or a game's score after
    "score", its verb said or misheard ("The final score was 21 to 14.", "score run 21 to 14", held-out-19) or
    after the game won or lost ("They won the game three to one.", held-out-17). Elsewhere "9 to 5" is 9 2 5 read
    with the two heard as "to", and fails closed."""
    two = _two_said(run, tokens, cores, clock=True)
    if two is None:
        return False
    first = run.first
    before = cores[first - 1] if first > 0 else ""
    if before in _OPEN_FROM and all(_clock(part) for part in two):
        return True
    # (or right after the verb, a team between: "We lost three to one last night.", "They beat us 2 to 1.",
    # held-out-52: masked in its own words and in most of its decodes)
    played = before in _PLAYED or before in _PERSONS and first > 1 and cores[first - 2] in _PLAYED
    return all(len(part) <= 2 for part in two) and (
        "score" in cores[max(0, first - 2):first] or played
        or before in ("game", "match") and bool(_PLAYED & set(cores[max(0, first - 4):first - 1])))


# Verbs of a phone menu's keys.
_PRESSED = frozenset({"press", "pressed", "presses", "pressing", "hit", "dial", "dialed", "dialled", "select",
                      "selected"})


def _menu_option(first: int, last: int, tokens: list[str], cores: list[str]) -> bool:
    """Tokens ``first``..``last`` say a menu's key: one digit right after a verb of pressing and before "for" and a
    word that says no digit, no pause between ("I pressed two for billing.", "Press one for sales.", held-out-52:
    masked in its own words and in most of its decodes; "I pressed 4 1 1 1 for billing." and "Press 4 for 1 1 1." are
    digits read)."""
    said = "".join(tokens[first:last + 1]).rstrip(".,?!").lower()
    return first > 0 and cores[first - 1] in _PRESSED and (said in DIGIT_NAMES or re.fullmatch(r"\d", said) is not None) \
        and cores[last + 1:last + 2] == ["for"] and last + 2 < len(cores) and not _says_a_digit(cores[last + 2]) \
        and not any(ch.isdigit() for ch in tokens[last + 2]) and not any(_pause(t) for t in tokens[first - 1:last + 2])


def _clock(digits: str) -> bool:
    """``digits`` say an hour of the clock, 1-12, or one and its minutes ("1130" for "eleven thirty")."""
    hour, minutes = (digits, "00") if len(digits) <= 2 else (digits[:-2], digits[-2:])
    return 1 <= int(hour) <= 12 and int(minutes) < 60


# Verbs of a game's end, before "the game" and its score.
_PLAYED = frozenset({"won", "lost", "win", "lose", "beat", "tied", "ended", "finished"})


def _two_said(run: Run, tokens: list[str], cores: list[str], *, clock: bool = False) -> tuple[str, str] | None:
    """The two numbers of 1-2 digits that ``run`` says with "to" or written "N-M" or "N.M" between them ("9 to
    5", "nine to five", "twenty one to fourteen", "21-14", "21.14"); None if it says no such two. ``clock``: said
    with "to", either may be of 3-4 digits too, an hour and its minutes ("ten to eleven thirty")."""
    written = [t.rstrip(".?!,") for t in tokens[run.first:run.last + 1]]
    between = [k for k in range(run.first + 1, run.last) if cores[k] == "to"]
    if len(between) == 1:
        k = between[0]
        parts = [_said_alone(tokens[run.first:k], cores[run.first:k]),
                 _said_alone(tokens[k + 1:run.last + 1], cores[k + 1:run.last + 1])]
    elif len(written) == 1 and re.fullmatch(r"\d{1,2}[-.]\d{1,2}", written[0]):
        parts = re.split(r"[-.]", written[0])
    else:
        return None
    if any(not part or len(part) > (4 if clock and len(between) == 1 else 2) for part in parts):
        return None
    return parts[0], parts[1]


def _said_alone(tokens: list[str], cores: list[str]) -> str:
    """The digits of the one number ``tokens`` say, all of them ("14", "six", "twenty one"); "" if they say
    none, more, or digits one by one ("four one")."""
    if len(cores) == 1 and (cores[0].isdigit() or cores[0] in DIGIT_NAMES):
        return cores[0] if cores[0].isdigit() else str(DIGIT_NAMES.index(cores[0]))
    if all(c in _ONE_DIGIT or len(c) == 1 and c.isdigit() for c in cores):
        return ""
    found = runs(tokens)
    return found[0].digits if len(found) == 1 and (found[0].first, found[0].last) == (0, len(tokens) - 1) else ""


def _day_on(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a day of the month written as an ordinal after "on", "by" or its weekday ("on the 14th.", "on
    Friday the 13th.", held-out-20): no card or SSN is read so (an expiry's year is: `most of the 27th` for
    "... March of twenty seven")."""
    first = run.first
    before = cores[first - 1] if first > 0 else ""
    return first == run.last and 1 <= int(run.digits) <= 31 and bool(_WRITTEN_ORDINAL.match(tokens[first])) \
        and (before in _DAY_OF or before == "the" and first > 1 and cores[first - 2] in _DAY_OF)


def _hora(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a clock's hour said in Spanish, as "opens at 10." is in English: 1-12 as one number after "las"
    ("la" before one), not read digit by digit, that ends its sentence or is followed by its minutes' words
    (:data:`_HORA_AFTER`): "Nos vemos a las diez.", "Son las once y media." (else hours 10-12, two digits alone,
    are masked)."""
    first, hour = run.first, int(run.digits)
    if first == 0 or len(run.digits) > 2 or not 1 <= hour <= 12 or cores[first - 1] != ("la" if hour == 1 else "las") \
            or _digitwise(run, cores):
        return False
    return tokens[run.last].rstrip()[-1:] in ".?!" or tuple(cores[run.last + 1:run.last + 3]) in _HORA_AFTER


def _dia(run: Run, cores: list[str]) -> bool:
    """``run`` is a day of the month said in Spanish after "el día", as "on the 14th." is in English: 1-31 said as one
    number ("La cita es el día quince.", "el día treinta y uno"; not read digit by digit, "el día uno dos")."""
    first = run.first
    return first > 1 and cores[first - 1] in ("día", "dia") and cores[first - 2] == "el" and _day_number(run, cores)


def _day_number(run: Run, cores: list[str]) -> bool:
    """``run`` may be a day of the month: 1-31 said as one number, not read digit by digit."""
    return len(run.digits) <= 2 and 1 <= int(run.digits) <= 31 and not _digitwise(run, cores)


def _year_in(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int], *, card: bool) -> bool:
    """``run`` is a year after "in" (Spanish "en") that a sentence says, a word of its final before "in" ("I
    opened it in 2005.", "Nací en 1980."; not a final of "in 2013." alone, tiny.en's for "It expires in March
    twenty twenty nine."):
    1900-2019, and later ones unless ``card`` (a session redacting cards: "It fires in 2029." is a card's year); and
    the years of 2001-2019 said the British way, written "in 2000 and 5" (held-out-6: its 5 masked in 3 of 12
    decodes)."""
    first, digits = run.first, run.digits
    if cores[max(0, first - 2):first] == ["2000", "and"] and len(digits) <= 2 and 1 <= int(digits) <= 19:
        first, digits = first - 2, "2000"
    return first > 0 and cores[first - 1] in ("in", "en") and _final_of(first, breaks, len(tokens))[0] < first - 1 \
        and bool(re.fullmatch(r"19\d\d|20[01]\d", digits) if card else _YEAR.fullmatch(digits))


def _year_named(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """``run`` is a year, 1900-2039, that begins its sentence, and its sentence says "year" within five words
    after it ("Twenty twenty four was a hard year.", held-out-10 and -23: masked in most of their 48 decodes); no card's
    expiry is said so."""
    first = run.first
    if not (first == 0 or first in breaks or tokens[first - 1].rstrip()[-1:] in ".?!") \
            or not re.fullmatch(r"19\d\d|20[0-3]\d", run.digits):
        return False
    for j in range(run.last + 1, min(run.last + 6, len(tokens))):
        if j in breaks:
            return False
        if cores[j] in ("year", "years"):
            return True
        if tokens[j].rstrip()[-1:] in ".?!":
            return False
    return False


def _speed(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """``run`` is a speed on a road: 10-200 said as one number after a verb of driving (:data:`_SPEEDING`, a
    hedge between: "doing about 70"), and in its phrase a road after it (:data:`_ROADS`: "He was doing seventy on
    the highway.", held-out-17: masked in 10 of its 28 runs). No secret's digits are read so."""
    first, last = run.first, run.last
    if not (2 <= len(run.digits) <= 3 and 10 <= int(run.digits) <= 200) or _digitwise(run, cores):
        return False
    j = first - 1
    while j >= 0 and cores[j] in _HEDGES:
        j -= 1
    k = last + 1
    if j < 0 or cores[j] not in _SPEEDING or k >= len(cores) or cores[k] not in _BY_A_ROAD:
        return False
    road = k + 2 if cores[k + 1:k + 2] in (["the"], ["a"]) else k + 1
    # One phrase from the verb to the road: no punctuation and no final's end between.
    return road < len(cores) and cores[road] in _ROADS and not any(
        _pause(tokens[m]) or m + 1 in breaks for m in range(j, road))


# What a rating is out of ("eight out of ten").
_RATED_OUT_OF = frozenset({"5", "10", "100", "five", "ten", "hundred"})


def _rated(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a rating: 1-2 digits before "out of" 5, 10 or 100 (:func:`_out_of`), or that 5, 10 or 100 after
    them ("I'd give it eight out of ten.", held-out-15: masked in several of its 24 decodes); no secret's digits are read so."""
    if len(run.digits) <= 2 and _out_of(run.last, tokens, cores) or _starred(run.first, run.last, tokens, cores):
        return True
    return _rated_out_of(run.first, run.digits, tokens, cores)


def _rated_out_of(first: int, digits: str, tokens: list[str], cores: list[str]) -> bool:
    """``digits``, said from token ``first``, are what a rating is out of: 5, 10 or 100 after "out of" and 1-2 digits
    ("I got 90 out of a hundred.", "I'd give it three out of five.", held-out-41: its "five" a digit's word alone)."""
    if first > 0 and cores[first - 1:first + 1] == ["a", "hundred"]:  # ("out of a hundred")
        first -= 1
    return digits in ("5", "10", "100") and first >= 3 and cores[first - 2:first] == ["out", "of"] \
        and len(_said_alone(tokens[first - 3:first - 2], cores[first - 3:first - 2])) in (1, 2) \
        and not _pause(tokens[first - 3])


def _rating_alone(first: int, last: int, digits: str, tokens: list[str], cores: list[str], taken: list[bool]) -> bool:
    """Tokens ``first``..``last`` (``digits``) are either number of a rating (:func:`_out_of`, :func:`_rated_out_of`)
    and nothing is masked from three words before the rating to them: in a passage no keyword holds, "I'd give it
    three out of five." after "Boarding is at gate [NUMBER_1]." (held-out-35 and -41, their own words: masked after a
    false mask opened the passage); "4 1 1 1 out of 10." is masked whole."""
    if len(digits) <= 2 and _out_of(last, tokens, cores):
        start = first
    elif _rated_out_of(first, digits, tokens, cores):
        start = first - 3
    else:
        return False
    return not any(taken[max(0, start - 3):first])


def _starred(first: int, last: int, tokens: list[str], cores: list[str]) -> bool:
    """Tokens ``first``..``last`` say 1-5 stars, a half included ("It got two and a half stars.", "2.5 stars",
    held-out-30: masked in its own words); no secret's digits are read so."""
    written = "".join(tokens[first:last + 1]).rstrip(".?!,").lower()
    if not (written in DIGIT_NAMES[1:6] or re.fullmatch(r"[1-5](?:\.5)?", written)) \
            or _pause(tokens[last]):
        return False
    after = cores[last + 1:last + 5]
    return after[:1] in (["star"], ["stars"]) or after[:3] == ["and", "a", "half"] and after[3:] in (["star"], ["stars"])


def _out_of(last: int, tokens: list[str], cores: list[str]) -> bool:
    """Token ``last`` (a number's last) is followed by "out of" and 5, 10 or 100 ("a hundred" too: "I got 90 out of
    a hundred.", held-out-45), which no number goes on after."""
    rest = last + 4 if cores[last + 3:last + 5] == ["a", "hundred"] else last + 3
    return cores[last + 1:last + 3] == ["out", "of"] and cores[rest:rest + 1] != [] \
        and cores[rest] in _RATED_OUT_OF and not _pause(tokens[last]) \
        and not any(numeric(tokens[rest:rest + 2])[1:])


def _after_at(first: int, cores: list[str]) -> bool:
    """Token ``first`` comes after "at", which says a time there but after "me", "us", "reach" or "number"
    (:data:`_CALLED`: "call me at 830" may be a phone number's first group)."""
    return first > 0 and cores[first - 1] == "at" and not (first > 1 and cores[first - 2] in _CALLED)


def _hour_ending_at(first: int, last: int, hour: int, tokens: list[str], cores: list[str]) -> bool:
    """Tokens ``first``..``last`` say ``hour`` (1-12) after a time's word (:func:`_hour_after`) and end their
    sentence: "The store opens at 10.", "The office opens at eight.", "Call me after lunch, around two."
    (held-out-20, masked as a phone number in 14 of its 24 decodes); or one of two such hours said with "and"
    or "or" between them, the second ending the sentence ("She called twice, at two and at four.",
    held-out-22, masked in 21 of its 24 decodes; "Come by at two or three.")."""
    if not 1 <= hour <= 12:
        return False
    # (a day's word after it may end the sentence instead: "Call me around 6 tonight." after a phone number,
    # held-out-4, masked as the number's piece)
    ends = tokens[last].rstrip()[-1:] in ".?!" or not _pause(tokens[last]) and last + 1 < len(cores) \
        and cores[last + 1] in _DAY_WORDS and tokens[last + 1].rstrip()[-1:] in ".?!"
    if _hour_after(first, cores):
        if ends:
            return True
        then = last + 2 + (cores[last + 2:last + 3] == [cores[first - 1]])  # ("at two and at four")
        return tokens[last].rstrip()[-1:] not in ";:" and cores[last + 1:last + 2] in (["and"], ["or"]) \
            and then < len(cores) and _HOURS.get(cores[then], 0) > 0 \
            and tokens[then].rstrip()[-1:] in ".?!"
    return ends and first > 1 and cores[first - 1] in ("and", "or") and _HOURS.get(cores[first - 2], 0) > 0 \
        and _hour_after(first - 2, cores)


def _hour_said(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an hour (:func:`_hour_ending_at`) said as one number, not read digit by digit (as :func:`_aged`
    is an age: for passages; :func:`_said_plainly` has ruled digits read out before it asks)."""
    return len(run.digits) <= 2 and not (_one_by_one(run, cores) or _digitwise(run, cores)) \
        and _hour_ending_at(run.first, run.last, int(run.digits), tokens, cores)


def _hour_after(first: int, cores: list[str]) -> bool:
    """Token ``first`` comes after "at" (:func:`_after_at`) or a word of :data:`_HOUR_AFTER` ("round" for
    "around" too; after "call me" as well: no phone number is given "around")."""
    return _after_at(first, cores) or first > 0 and cores[first - 1] in _HOUR_AFTER


def _said_twice(run: Run, cores: list[str]) -> bool:
    """Whether ``run`` and the word after it come again in the final: a group of digits read again in a
    correction, the recogniser hearing it the same way twice ("The next pirate-y-mothic 20 pamom, sorry,
    both pamom 20 pamom." for "The expiry is oh six twenty seven, sorry, oh seven twenty seven.",
    tiny.en over mu-law), not a quantity."""
    said = cores[run.first:run.last + 2]
    return any(cores[j:j + len(said)] == said for j in range(len(cores) - len(said) + 1) if j != run.first)


def _read_in_groups(run: Run, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """Whether ``run``'s final reads like a number said in groups, each heard as a word or two: at least
    :data:`GROUPS_READ` phrases between punctuation, none over two words, two or more with a number
    ("Nick, fiery emotic, 20 paren, fiery, both paren, 20 paren." for "The expiry is oh six twenty seven,
    sorry, oh seven twenty seven.", base over mu-law: each "20 paren" reads as a quantity alone). A
    list of things counted ("2 adults, 3 children, please.") has fewer phrases."""
    first, end = _final_of(run.first, breaks, len(tokens))
    phrases: list[list[int]] = [[]]
    for i in range(first, end):
        phrases[-1].append(i)
        if _pause(tokens[i]) and i + 1 < end:
            phrases.append([])
    with_number = sum(any(any(ch.isdigit() for ch in tokens[i]) or cores[i] in DIGIT_SPELLINGS for i in phrase)
                      for phrase in phrases)
    return len(phrases) >= GROUPS_READ and all(len(p) <= 2 for p in phrases) and with_number >= 2


def _final_of(i: int, breaks: frozenset[int], n: int) -> tuple[int, int]:
    """Where the final that holds token ``i`` begins and ends (``breaks``: the tokens that begin a
    final; ``n``: the tokens in all)."""
    return max((b for b in breaks if b <= i), default=0), min((b for b in breaks if b > i), default=n)


def _quantity_said(i: int, cores: list[str]) -> bool:
    """The digit's word at token ``i`` is a duration, an amount or an hour by the words around it: a unit
    after it that is no day's word ("three minutes", "five dollars"; not "4 cent", :func:`_loose_unit`)
    or "quarter past" before it (:func:`_clock_said`)."""
    after = cores[i + 1] if i + 1 < len(cores) else ""
    return cores[i] in _DIGIT_WORDS and (after in _UNITS - _DAY_WORDS - _CLOCK - {"cent"} or _hour_word(i, cores))


def _hour_word(i: int, cores: list[str]) -> bool:
    """The word at token ``i`` is an hour by the words before it ("quarter past", :func:`_clock_said`), with no
    digit's word after it ("quarter past six"; not "past 4 2 2 1", digits read)."""
    return _clock_said(i, cores) and (cores[i + 1] if i + 1 < len(cores) else "") not in DIGIT_SPELLINGS


def _clock_hour(run: Run, cores: list[str]) -> bool:
    """``run`` is an hour (1-12) by the words before it ("half past 6", :func:`_clock_said`); or it ends with one
    after "to" read as a digit, its minutes in it or before it ("ten to 11", "quarter to 8": held-out-47's
    "Dinner is at quarter to eight." written 28, base and tiny.en over mu-law)."""
    if _clock_said(run.first, cores) and 1 <= int(run.digits) <= 12:
        return True
    last = run.last
    return last - 2 <= run.first < last and cores[last - 1] in ("to", "too") and cores[last] in _HOURS \
        and _clock_said(last, cores)


def _said_bare(run: Run, cores: list[str]) -> bool:
    """``run`` is a time, an amount or a year by how it is said, with no unit: an hour after "quarter
    past", "half past", "quarter to" or a British "half" ("half seven"); "a hundred ...", "a thousand
    ..." (a secret's digits are not read so); a year after "since" ("since 1998") or "back in" ("back in
    99"); an hour and its minutes after "after", "before", "around" or "since" ("after 215", "since nine
    fifteen"; "since I'm 15", the nine heard as "I'm", held-out-16; not after "at", where a phone number's
    group is read: "reach me at 555"); a number that
    the noun before it names (:data:`_NAMED_BY`: "page 32", "flight 229"; "flight to 29", "room for 12" as the recogniser
    wrote them, the homophone its first digit)."""
    return _clock_hour(run, cores) \
        or run.first > 0 and cores[run.first - 1] == "a" and cores[run.first] in ("hundred", "thousand") \
        or run.first > 0 and cores[run.first - 1] == "since" and bool(_YEAR.fullmatch(run.digits)) \
        or cores[max(0, run.first - 2):run.first] == ["back", "in"] and bool(re.fullmatch(r"(?:19|20)?\d\d", run.digits)) \
        or run.first > 0 and cores[run.first - 1] in _CLOCK_AFTER and _clock_digits(run.digits) \
        or run.first > 1 and cores[run.first - 1] == "i'm" and cores[run.first - 2] in _CLOCK_AFTER \
        and len(run.digits) == 2 and int(run.digits) < 60 \
        or _named_by(run, cores) or _minutes_past(run, cores) or _school_year(run.first, run.digits, cores)


def _hundred_and(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run``, 1-2 digits, is the rest of a round hundred that a price's words or the noun before it name, "and"
    between, as whisper writes "a hundred and twenty": "The bill says 100 and 20." (held-out-5, tiny.en: the 20
    masked), "It's on page 200 and 12." (held-out-49: the 12 masked in 11 of 24 decodes)."""
    first = run.first
    if first < 2 or cores[first - 1] != "and" or len(run.digits) > 2 or not re.fullmatch(r"[1-9]00", cores[first - 2]) \
            or _pause(tokens[first - 2]):
        return False
    hundred = Run(first - 2, first - 2, cores[first - 2], (cores[first - 2],))
    return _priced(hundred, tokens, cores) or _named_by(hundred, cores)


def _school_year(first: int, digits: str, cores: list[str]) -> bool:
    """``digits``, said from token ``first``, are a school's year, 1-13 after "in year" ("My daughter is in year
    nine.", held-out-46: masked in its own words and every decode); an expiry's year ("in year 27") is none."""
    return cores[max(0, first - 2):first] == ["in", "year"] and len(digits) <= 2 and 1 <= int(digits) <= 13


# Minutes before "past" and an hour, written in digits ("It's 20 past 4.", held-out-45: masked in 4 of 6 decodes).
_MINUTES = frozenset({"5", "10", "20", "25"})
# Words that say a number is rough: a sum or a count, never a secret's digits ("It was about 150.", held-out-45).
_ROUGHLY = frozenset({"about", "around", "roughly", "approximately", "nearly", "almost"})


def _minutes_past(run: Run, cores: list[str]) -> bool:
    """``run`` is the minutes of a time said "20 past 4" or "20 past four" (:data:`_MINUTES`; "past" is no digit's
    homophone, "to" is: "20 to 4" is not taken)."""
    after = cores[run.last + 1:run.last + 3]
    return run.first == run.last and cores[run.first] in _MINUTES and after[:1] == ["past"] and len(after) == 2 \
        and after[1] in _HOURS


def _at_number(run: Run, cores: list[str]) -> bool:
    """``run`` is a house's number after living "at number" ("We live at number 22.", held-out-45): 1-3 digits said
    as one number. (Not after another verb: "look at number 3." for "The code's triple nine.", tiny.en in packs over
    mu-law, held-out-45.)"""
    return cores[max(0, run.first - 3):run.first] in (["live", "at", "number"], ["lives", "at", "number"]) \
        and len(run.digits) <= 3 and len(run.groups) == 1 and not _digitwise(run, cores)


def _roughly(run: Run, cores: list[str]) -> bool:
    """``run`` is a sum or a count said roughly (:data:`_ROUGHLY` before it: "about 150", "around 80"): 2-4 digits
    said as one number (not "about 1 5 0")."""
    return run.first > 0 and cores[run.first - 1] in _ROUGHLY and 2 <= len(run.digits) <= 4 \
        and len(run.groups) == 1 and not _digitwise(run, cores)


def _names(cores: list[str], j: int) -> bool:
    """Token ``j`` is a noun that names the number after it (:data:`_NAMED_BY`; "marker" after "mile")."""
    return cores[j] in _NAMED_BY or cores[j] == "marker" and j > 0 and cores[j - 1] == "mile"


def _named_by(run: Run, cores: list[str]) -> bool:
    """The noun before ``run`` names it (:data:`_NAMED_BY`): "page 32", "grade 11"; "room for 12"; a
    house's "number" (:data:`_HOUSES`): "The house is number 42.", "our house number is 17". Not a noun
    right after a security code's keyword, where it is a word of the code's name misheard ("Security
    page 885" for "Security digits eight eight five", held-out-32, base in packs)."""
    first = run.first
    said = cores[max(0, first - 4):first]
    if said[-1:] == ["is"]:
        said.pop()
    # ("in" for "is": "The house in number 42.", tiny.en)
    if said[-2:-1] and said[-2] in ("is", "in"):
        del said[-2]
    house = len(run.digits) <= 3 and (said[-2:-1] and said[-1] == "number" and said[-2] in _HOUSES
                                      or _number_named(first, cores))
    if first > 0 and _names(cores, first - 1) and len(run.digits) <= 4:
        noun = first - 1
    elif first > 1 and _names(cores, first - 2) and cores[first - 1] in HOMOPHONES and len(run.digits) <= 3:
        noun = first - 2
    else:
        return bool(house)
    return noun == 0 or cores[noun - 1] not in _CODE


def _number_named(first: int, cores: list[str]) -> bool:
    """The words before token ``first`` are "number" after a noun that names a number (:data:`_NAMED_BY`,
    :data:`_HOUSES`), a verb or an article between them or not: "Our bus was the number nine." (held-out-47: masked in
    its own words and every decode), "Our room is number 12.", "The bus number 9."."""
    j = first - 1
    if j < 1 or cores[j] != "number":
        return False
    j -= 1
    while j > 0 and cores[j] in _NUMBER_NAMED_BETWEEN and first - j <= 3:
        j -= 1
    return cores[j] in _HOUSES or _names(cores, j)


def _timetabled(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an hour and its minutes between "the" and what they name (:data:`_TIMED`): "We have tickets for
    the nine fifteen show." (held-out-30: masked in its own words and in 17 of its 24 decodes, and the counts
    after it with it), "the 730 train" (digits read one by one, "the nine one five train", never get here:
    :func:`_said_plainly` refuses them first)."""
    first, last = run.first, run.last
    return first > 0 and cores[first - 1] == "the" and _clock_digits(run.digits) \
        and cores[last + 1:last + 2] != [] and cores[last + 1] in _TIMED and not _pause(tokens[last])


def _clock_digits(digits: str) -> bool:
    """``digits`` read as an hour and its minutes ("215" for "two fifteen", "1030"): 3 or 4 digits, the
    hour 1-12, the minutes 00-59."""
    return len(digits) in (3, 4) and bool(_HOUR.match(digits))


def _clock_said(first: int, cores: list[str]) -> bool:
    """The words before token ``first`` make an hour of it: "quarter past", "half past", "quarter to",
    "twenty to", a British "half" ("half seven")."""
    before = cores[max(0, first - 2):first]
    return before[-1:] == ["half"] or len(before) == 2 and before[1] in ("past", "to") \
        and before[0] in ("quarter", "half", "ten", "five", "twenty", "twenty-five") \
        or len(before) == 2 and before[1] == "past" and before[0] in _MINUTES  # "20 past 4" (not "20 to 4")


def _month_after(run: Run, cores: list[str]) -> bool:
    """A month's name right after ``run``, or after "of" ("3 March", "the 3rd of May", "the 12th on October", "el 3 de
    mayo")."""
    return _month_at(run.last, cores) is not None


def _month_at(day: int, cores: list[str]) -> int | None:
    """Where the month after the day ending at token ``day`` is (:func:`_month_after`); None if there is none."""
    after = cores[day + 1:day + 3]
    # ("on" for "of": "We spoke on the 12th on October.", tiny.en over mu-law)
    if after and after[0] in _MONTHS:
        return day + 1
    if after[:1] in (["of"], ["on"], ["de"]) and after[1:] and after[1] in _MONTHS:
        return day + 2
    return None


def _birth_date(run: Run, tokens: list[str], cores: list[str]) -> Span | None:
    """A date of birth's span that ``run`` is in, the birth's keyword in force: with its month before it
    (:func:`_date_start`), written as a date (:func:`_date_shaped`), or its day first with its month after it, the
    year lost or not said ("I was born on the 14th of July, I'll see you later." for "... the fourteenth of July,
    nineteen eighty.", tiny.en, held-out-45); None if ``run`` is none of these."""
    start = _date_start(run, tokens, cores)
    if start is not None or _date_shaped(run, tokens):
        return Span(run.first if start is None else start, run.last, "DOB")
    month = _month_at(run.last, cores) if _day_number(run, cores) else None
    return None if month is None else Span(run.first, month, "DOB")


def _day_of_the_month(run: Run, cores: list[str]) -> bool:
    """``run`` is a day (1-31, one number) before "of the month" or "of every month" ("Rent is due on the 1st of the
    month.", held-out-24: masked in the passage a false mask before it opened)."""
    after = cores[run.last + 1:run.last + 4]
    return _day_number(run, cores) and after[:1] == ["of"] and after[1:2] in (["the"], ["every"], ["each"]) \
        and after[2:] == ["month"]


def _date_said(run: Run, tokens: list[str], cores: list[str], *, card: bool, breaks: frozenset[int]) -> bool:
    """``run`` ends a date of a call (:func:`_date_start`, :func:`_date_digits`). With ``card`` (a
    session that redacts cards) not a month and a year alone ("March 2029", "marzo de 2029"): how a
    card's expiry is read, its keyword often misheard ("it fires in March 2029"), and it fails closed; nor a month
    and a card's year alone in their sentence or final (``breaks``: the tokens that begin a final)."""
    start = _date_start(run, tokens, cores)
    if start is None or not _date_digits(run, tokens):
        return False
    first = run.first
    year_after_month = start == first - 1 or start == first - 2 and cores[first - 1] == "de"  # (start: the month)
    if card and start == first - 1 and start > 0 and cores[start - 1] == "in" and len(run.digits) == 6 \
            and run.digits.startswith("20"):
        # A day 20 and a year after "in" and the month: a card's year said "twenty twenty nine", its first word
        # written as the day ("in March 20, 2019." for "It expires in March twenty twenty nine.", held-out-6, base);
        # no date of a call is said "in" its month with a day.
        return False
    if card and start == first - 1 and _alone_in_sentence(start, run.last, tokens, cores, breaks) \
            and len(run.digits) == 2 and 20 <= int(run.digits) <= 39:
        # A month and a number that may be a card's year, nothing else in their sentence but a filler: how an expiry
        # is given when asked for ("December 27" and "December 27th." for "December twenty seven." after "When does
        # it expire?" heard as "when building a fire.", held-out-53, base and tiny.en over mu-law); a date of a call
        # is said with "on", "the" or its year.
        return False
    if not card or not year_after_month or len(run.digits) != 4:
        return True
    # A year before 2020 after "in" and its month, two words or more of its sentence before, as after "in"
    # alone (:func:`_said_plainly`): "I moved here in May 2019." (held-out-7: masked in 8 of its 24 runs);
    # no card read then is valid now. Not "Empire in June 2013." (base for "Expiry is June two thousand
    # thirty.", held-out-7): its one word before is the keyword misheard.
    if start > 2 and cores[start - 1] == "in" and re.fullmatch(r"19\d\d|20[01]\d", run.digits) \
            and not any(t.rstrip()[-1:] in ".?!" for t in tokens[start - 3:start - 1]):
        return True
    # A day right before the month, or before "of" and the month, makes it a date: "5th June, 2023", "the
    # fifth June 2023", "the fourth on July 2019" ("on" for "of", tiny.en in packs).
    day = start - 2 if start > 1 and cores[start - 1] in ("of", "on") else start - 1
    return day >= 0 and _a_day(cores[day])


_ANSWER_LEADS = frozenset({"um", "uh", "er", "erm", "it's", "its", "that's", "so", "yeah", "yes", "okay", "ok"})


def _alone_in_sentence(first: int, last: int, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """Tokens ``first``..``last`` are their sentence, but for fillers or "it's" before them (:data:`_ANSWER_LEADS`):
    a sentence's or a final's end (``breaks``: the tokens that begin one) before their leads and after ``last``."""
    j = first - 1
    while j >= 0 and cores[j] in _ANSWER_LEADS and not _sentence_ends(j, tokens, breaks):
        j -= 1
    return (j < 0 or _sentence_ends(j, tokens, breaks)) and _sentence_ends(last, tokens, breaks)


def _sentence_ends(i: int, tokens: list[str], breaks: frozenset[int]) -> bool:
    """Token ``i`` ends a sentence or a final (``breaks``: the tokens that begin one)."""
    return i == len(tokens) - 1 or i + 1 in breaks or tokens[i].rstrip()[-1:] in ".?!"


def _a_day(word: str) -> bool:
    """``word`` (a core) is a day of a month: an ordinal ("twelfth") or 1-2 digits ("12th", "3,")."""
    return word in _ORDINALS or bool(_DAY.match(word))


def _date_digits(run: Run, tokens: list[str]) -> bool:
    """``run``, after a month's name, says what a date says: a day (1-31), a year (4 digits), or a day
    then a year ("3, 2024", "9th 2025"); not "7th 72" ("oh seven seven two" as the recogniser wrote it:
    a two-digit year is how a secret's groups read, and it fails closed; nor "9, 17, 9": a year is one number or two
    pairs, "20 24", held-out-46's "1, 4, 1, March, 9, 17, 9," for a phone number's end and "March the second,
    nineteen seventy nine", tiny.en in packs)."""
    digits = run.digits
    if len(digits) <= 2:
        return 1 <= int(digits) <= 31
    if len(digits) == 4:
        return len(run.groups) == 1 or tuple(map(len, run.groups)) == (2, 2)
    day = re.sub(r"\D", "", tokens[run.first])
    return len(digits) in (5, 6) and day == digits[:-4] and 1 <= int(day) <= 31


def _passages(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
              before: list[Context], keyword_at: list[str | None], found: list[Run], in_runs: frozenset[int],
              breaks: frozenset[int]) -> int:
    """Fails closed where digits are being read: in a *passage*, whatever says a digit is masked but an
    amount, a time or a date. A passage is a card's or an SSN's keyword context (whatever kinds the
    session redacts: a keyword only names what is masked), and the words around a masked number: up to
    three of its sentence before it ("Free Pampinate 2" for "three seven eight two") and
    :data:`PASSAGE_WORDS` words after it (carried across finals in
    ``Context.number``) up to the sentence that says an amount, a time or a month's name (the caller
    has moved on), where the caller goes on reading and the recogniser writes the digits it
    misheard as words ("Don't be able to save him." / "One to it." for "double seven" / "one two oh
    eight"). There a number is masked unless a currency, a unit (not a day's word: "on 3 tonight"
    beside a card number), a colon or a date says what it is: a short quantity is masked too ("3 fail
    to the iron."); and so is a digit's word alone or a homophone ("too", "for", "free": "the security
    code is too late"), but one right before an amount ("for 10 minutes") or after "last"/"first" ("the
    last four"). Masking a number opens a passage after it in turn. ``spans`` and ``taken`` are updated;
    returns the passage's words left after the text."""
    n = len(tokens)
    starts = [0] * n  # where each token's sentence begins (a final's start ends one too)
    for i in range(1, n):
        starts[i] = i if _sentence_ends(i - 1, tokens, breaks) else starts[i - 1]
    # Where an amount, a time or a date begins (a month's name, whether the recogniser wrote its day as
    # a number or not: "The Pointment of our April second."): a passage ends there.
    # (Not an expiry written as a time or a date, nor a number whose unit is a digit misheard: they are
    # the passage's digits, masked below.)
    expiries = {run.first: start for run in found if (start := _until_expiry(run, tokens, cores)) is not None}
    if "pci" in kinds:
        expiries.update((run.first, run.first - 1) for run in found if _month_and_year(run, tokens, cores))
    loose = {run.first for run in found if _loose_unit(run, tokens, cores)}
    # (Nor a number right after "number" and its verb, whatever its unit: "The card number is $5500." for
    # "... is five five oh oh", tiny.en in packs: nobody says a price there; "the first two are 5 dollars
    # each" is one; nor is a house's: "Our house number is 17.")
    announced = {run.first for run in found if run.first > 1 and cores[run.first - 2] in ("number", "numbers")
                 and _announces(cores, run.first - 1) and not _named_by(run, cores)}
    loose |= announced
    # (Nor a quantity whose unit one word of _JOINING ties to a number after it: "It's a Pion for 4 months on 28." for
    # "It expires the fourth month of twenty eight.", after the card's read-back, base in packs over mu-law,
    # held-out-36; nor a day of the month right after a digit's word or homophone, no article between, with its
    # month: "Tonight, and then for 4th of January." for "two nine, and then four four seven oh.", an SSN's rest,
    # base live, held-out-36. "on the 4th of January" and "for 4 months on my account" stay.)
    loose |= {run.first for run in found if _unit_joined(run, found, tokens, cores)}
    # (Nor an expiry's year written as a price after its month's digit: "for $29", :func:`_expiry_priced`.)
    if "pci" in kinds:
        loose |= {run.first for run in found if _expiry_priced(run, tokens, cores)}
    led = [run for run in found if _day_after_a_digit(run, tokens, cores)]
    loose |= {run.first for run in led}
    led_months = {j for run in led for j in range(run.last + 1, min(n, run.last + 3)) if cores[j] in _MONTHS}
    card = "pci" in kinds
    # (Nor a date with its day and a year before 2020 said alone, a word before it at most: read after a secret it is
    # an answer, a birth's, its keyword often lost: "November 3, 1672." after "So shall we do one four dash six six
    # dash or three nine eight?", tiny.en over mu-law for an SSN and "Date of birth oh three, fifteen, seventy two.",
    # held-out-24. A sentence that goes on before it says the caller has moved on: "The call won on March 3, 1024.";
    # "was on" before it is "was born" heard without its "b": "was on March 3rd, 1988 at 1 The" for "I was born March
    # third, nineteen eighty one.", after an SSN, base in packs, held-out-37.)
    born = {run.first: start for run in found
            if (start := _dated_in_full(run, tokens, cores)) is not None
            and (start - starts[start] <= 1 or cores[start - 2:start] in (["was", "on"], ["were", "on"]))}
    stops = {run.first for run in found
             if _clearly_no_secret(run, tokens, cores, card=card, breaks=breaks) and not _spelled_out(run, cores)} \
        - set(expiries) - loose - set(born) | {
        i for i, c in enumerate(cores) if c in _MONTHS and (len(c) > 3 or _day_of_may(cores, i))} - set(expiries.values()) \
        - {i for first, start in born.items() for i in range(start, first)} - led_months
    # ... and so does the sentence that says it ("The call won on March 3, 1024.": "won" is a word there).
    stops |= {starts[i] for i in stops}

    def ahead(start: int, length: int) -> tuple[range, int]:
        """The passage's words from ``start`` (at most ``length``), and how many are left past the text."""
        for i in range(start, min(n, start + length)):
            if i in stops:
                return range(start, i), 0
        return range(start, min(n, start + length)), max(0, start + length - n)
    passage: list[str | None] = [_sensitive(("pci", "ssn"), ctx, keyword_at, i, i, ahead=False) for i, ctx in enumerate(before)]
    carried, left = ahead(0, before[0].number)
    for i in carried:
        passage[i] = passage[i] or "NUMBER"
    for i in range(n):
        # Words that announce digits: the phrase after them (to its punctuation or its final's end, within
        # PASSAGE_WORDS) is a passage, where the digits are read ("the first three are one good iron.").
        # (Only the phrase: "the first three are on the house, the rest is up to you" keeps its "to".)
        if _announces(cores, i) or _reads_out(tokens, cores, i, breaks):
            for j in ahead(i + 1, PASSAGE_WORDS)[0]:
                if j in breaks:
                    break
                passage[j] = passage[j] or "NUMBER"
                if _pause(tokens[j]):
                    break
    opened_by: set[Span] = set()
    changed = True
    while changed:
        changed = False
        for span in [s for s in spans if s.entity in NUMBER_SPANS and s not in opened_by]:
            opened_by.add(span)
            lead = _lead(span, tokens, cores, starts, breaks)
            after, past = ahead(span.last + 1, PASSAGE_WORDS)
            left = max(left, past)
            # (and a number written in digits further back in its sentence: "6th Heaven High in [NUMBER_1]"
            # for "Six seven five, ...", base over mu-law, held-out-6; its words around it stay)
            written = [i for run in found if starts[span.first] <= run.first and run.last < lead.start
                       and any(ch.isdigit() for t in tokens[run.first:run.last + 1] for ch in t)
                       for i in range(run.first, run.last + 1)]
            for i in [*written, *lead, *after]:
                if passage[i] in (None, "NUMBER"):
                    passage[i] = span.entity
        for run in found:
            # (A day glued to a masked number is a piece of it: "November 7th [to]" for "oh seven seven two".)
            glued = any(s.first == run.last + 1 and s.entity in NUMBER_SPANS for s in spans) \
                and not _pause(tokens[run.last])
            # (So is a number whose unit a masked number follows, no pause between: "3 minutes [NUMBER_1],"
            # for "three four, two six one ...", base over mu-law, held-out-13.)
            unit_glued = run.last + 2 < n and cores[run.last + 1] in _UNITS \
                and not any(_pause(t) for t in tokens[run.last:run.last + 2]) \
                and any(s.first == run.last + 2 and s.entity in NUMBER_SPANS for s in spans)
            # (And so is a number that begins a final after one that ended in a masked number with no pause: the
            # number goes on, whatever unit is heard after it: "2 feet while I..." for "two three one nine." after
            # "What is for Bridge [NUMBER_1]", tiny.en over mu-law, held-out-48.)
            goes_on = run.first in breaks and not _pause(tokens[run.first - 1]) \
                and any(s.last == run.first - 1 and s.entity in NUMBER_SPANS for s in spans)
            keyword = before[run.first].secret_keyed
            # What the words say it is (a unit, a date, a price...), or a distance, an age or a year after "in" where
            # no keyword holds ("here in 2019", held-out-15; "11 years old", held-out-21: in the passage a false
            # mask before it opened). (Not a day after "on": "I'm on the 10th year [NUMBER_3]" for an expiry.)
            # (Not digits read one by one, whatever their unit: "and I will do three five weeks." for an Amex's
            # "nine one eight three five six," after its first group, tiny.en over mu-law, held-out-19.)
            said = _clearly_no_secret(run, tokens, cores, dates=not glued and run.first not in born, card=card,
                                      breaks=breaks) \
                and not unit_glued \
                and run.first not in expiries and run.first not in loose and not (keyword and _named_by(run, cores)) \
                and not _spelled_out(run, cores) and not _signed_before_masked(run, spans, tokens, cores)
            plain = not keyword and not goes_on and (
                _measured(run, tokens, cores) or _aged(run, cores) or _day_of_the_month(run, cores) or _dia(run, cores)
                or _rating_alone(run.first, run.last, run.digits, tokens, cores, taken) or _hours_or_score(run, tokens, cores)
                or _ages_listed(run.first, run.last, tokens, cores) or _year_in(run, tokens, cores, breaks, card=card)
                or starts[run.first] < run.first - 1 and (_hour_said(run, tokens, cores) or _hora(run, tokens, cores)))
            if any(taken[run.first:run.last + 1]) or not any(passage[run.first:run.last + 1]) or said or plain:
                continue
            entity = _label(kinds, before[run.first], keyword_at, run)
            if entity == "NUMBER":
                entity = next(e for e in passage[run.first:run.last + 1] if e)
            first = run.first
            if run.first in expiries:  # (with its month: "till [CREDIT_CARD_EXPIRATION_1]")
                first, entity = expiries[run.first], "CREDIT_CARD_EXPIRATION"
            elif run.first in born:  # (with its month: "[DOB_1].")
                first = born[run.first]
                entity = "DOB" if "pii" in kinds else entity
            _mask(spans, taken, first, run.last, _named(entity, kinds))
            changed = True
        for i in range(n):
            if taken[i] or i in in_runs or not passage[i] or not _says_a_digit(cores[i]) \
                    or i > 0 and cores[i - 1] in ("last", "first") and not _count_unnamed(i, tokens, cores) \
                    or _counts_digits(cores, i) or _number_to(cores, i) or _pronoun_one(cores, i) \
                    or _asked_count(i, tokens, cores) or _stranded(i, tokens, cores) \
                    or _for_the_card(cores, i) or _one_sec(i, tokens, cores) \
                    or _quantity_said(i, cores) and not _duration_ends_phrase(i + 1, tokens, cores, breaks):
                continue
            # (A digit's word after its noun, an hour after "at" in a sentence that began before it, a kin's age or a
            # rating, where no keyword holds, as "platform 9", "opens at 4." and "is 9." stay: "The train goes from
            # platform nine.", "She called twice, at two and at four.", "My grandson is nine.", held-out-22, in the
            # passage a false mask before them opened; "I'd give it three out of five.", held-out-41; "at eight." alone
            # after "Six two one." is read on.)
            if cores[i] in _DIGIT_WORDS and not before[i].secret_keyed:
                digit = DIGIT_NAMES.index(cores[i])
                if i > 0 and _names(cores, i - 1) or starts[i] < i - 1 and _hour_ending_at(i, i, digit, tokens, cores) \
                        or _age_word(i, digit, tokens, cores) or _rating_alone(i, i, str(digit), tokens, cores, taken):
                    continue
            # (An amount masked already is none: its homophone goes with it, "for [NUMBER_2] of January".)
            amount_after = [run for run in found if run.first == i + 1 and not taken[run.first]
                            and _clearly_no_secret(run, tokens, cores, card=card, breaks=breaks)]
            if cores[i] in HOMOPHONES and amount_after:  # "for 10 minutes"
                continue
            _mask(spans, taken, i, i, _named(passage[i] or "NUMBER", kinds))
            changed = True
        # "double"/"triple" and the word after it, the digit it repeats misheard ("double heaven," for
        # "double seven,"; "a double room" outside a passage is words).
        for i in range(n - 1):
            if taken[i] or i in in_runs or not passage[i] or cores[i] not in REPEAT_WORDS \
                    or taken[i + 1] or i + 1 in in_runs or tokens[i].rstrip()[-1:] in ".?!,":
                continue
            _mask(spans, taken, i, i + 1, _named(passage[i] or "NUMBER", kinds))
            changed = True
        # A word said twice in a row: a digit read twice (:func:`_said_again` wants three outside a
        # passage): "Yep. Fine fine, 2, 1, ..." / "Yep. Time time. 21.003..." for "Yep. Five five, two one, ...",
        # a card's first group (held-out-14, tiny.en and base).
        for i in range(n - 1):
            if passage[i] and _twice(i, tokens, cores, breaks) and not any(taken[i:i + 2]) and not {i, i + 1} & in_runs:
                _mask(spans, taken, i, i + 1, _named(passage[i] or "NUMBER", kinds))
                changed = True
    return left


def _unit_joined(run: Run, found: list[Run], tokens: list[str], cores: list[str]) -> bool:
    """``run``'s unit, a duration's (:data:`_DURATIONS`, one or many), is followed by one word of :data:`_JOINING`
    and another number, no punctuation between ("for 4 months on 28"): in a passage, a piece of the number
    misheard as a quantity (not an amount: "I paid 25 dollars at 3:30")."""
    unit = run.last + 1
    return unit + 2 < len(cores) and (cores[unit] in _DURATIONS or cores[unit] + "s" in _DURATIONS) \
        and cores[unit + 1] in _JOINING \
        and any(other.first == unit + 2 for other in found) \
        and not any(_pause(t) for t in tokens[run.last:unit + 2])


def _day_after_a_digit(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a day written as an ordinal ("4th") right after a digit's word or homophone, no article and no
    punctuation between ("for 4th of January"): in a passage, a digit read, not a date of the call."""
    first = run.first
    return first == run.last and first > 0 and bool(_WRITTEN_ORDINAL.match(tokens[first])) \
        and _says_a_digit(cores[first - 1]) and not _pause(tokens[first - 1])


def _expiry_priced(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an expiry's year written as a price ("$29": 20-39 and a sign alone) right after its month's digit
    heard as a homophone or said as a word, no pause between: "Tick Fireball for $29." for "It expires oh four,
    twenty nine." (held-out-41, base over mu-law, in the passage the card's code opened)."""
    first = run.first
    return first > 0 and _sign_alone(run, tokens, cores) and bool(re.fullmatch(r"[23]\d", run.digits)) \
        and (cores[first - 1] in HOMOPHONES or cores[first - 1] in _DIGIT_WORDS) and not _pause(tokens[first - 1])


def _signed_before_masked(run: Run, spans: list[Span], tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an amount only by its currency sign, and a masked number read (digits or a digit's word, not a
    homophone) follows it in its sentence, at most :data:`JOIN_GAP` words on: in a passage, digits read that the
    recogniser wrote as a price ("The 16 digits on the front, $4.04 in, [NUMBER_2]," for "... four double four
    seven, triple two one,", tiny.en over mu-law, held-out-23)."""
    if not _sign_alone(run, tokens, cores):
        return False
    for span in spans:
        gap = range(run.last + 1, span.first)
        # (a number masked, not a homophone: "Please charge 140 $10.00 [CREDIT_CARD_2] my beam card.")
        read = any(ch.isdigit() for ch in tokens[span.first]) or cores[span.first] in _DIGIT_WORDS
        if span.entity in NUMBER_SPANS and read and span.first > run.last and len(gap) <= JOIN_GAP \
                and not any(tokens[i].rstrip()[-1:] in ".?!" for i in (run.last, *gap)):
            return True
    return False


def _sign_alone(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an amount only by its currency sign: written with one, and no unit's word after it."""
    unit = cores[run.last + 1] if run.last + 1 < len(cores) else ""
    return tokens[run.first][:1] in "$£€" and unit not in _UNITS


def _duration_ends_phrase(unit: int, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """Token ``unit`` is a duration's unit that ends its phrase: after a digit's word in a passage, the number's
    last digits, one heard as a unit ("still counting three days." / "... [NUMBER_5] time or two weeks." for "And
    the account is three eight eight one, five oh two six.", tiny.en in packs and base, held-out-33). (A duration
    that goes on, "three days ago", stays; so does one written in digits, "It took 7 minutes.", as the recogniser
    writes a duration it heard as one; nor one asked for or counted on: "Give me two minutes.", "wait two
    minutes", "another two weeks", held-out-38, masked in 12 of its 28 runs.)"""
    return unit < len(cores) and cores[unit] in _DURATIONS \
        and _phrase_ends(unit, tokens, breaks) and not (unit > 1 and cores[unit - 2] in _TIME_ASKED)


def _spelled_out(run: Run, cores: list[str]) -> bool:
    """``run`` is digits read one by one (:func:`_digitwise`) with no homophone among them: "three five", not
    the range "6 to 9"."""
    return _digitwise(run, cores) and not any(c in HOMOPHONES for c in cores[run.first:run.last + 1])


def _twice(i: int, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """Token ``i`` is a word said again right after it (a comma between them or none), one whose
    repetition says a digit (:func:`_repeats_a_digit`)."""
    return cores[i] == cores[i + 1] and i + 1 not in breaks and _runs_on(tokens[i]) and _repeats_a_digit(cores[i])


def _repeats_a_digit(word: str) -> bool:
    """``word`` (a core), said again and again, is a digit read so (:func:`_said_again`, :func:`_twice`): a
    word of 4 letters or more, not a function word, a greeting or an intensifier ("no no no", "hello,
    hello", "very very")."""
    return len(word) >= 4 and word.isalpha() and word not in FUNCTION_WORDS and word not in _SAID_AGAIN


def _runs_on(token: str) -> bool:
    """``token`` ends with no punctuation or a comma: what comes after it is in its phrase."""
    return not _pause(token) or token.rstrip()[-1:] == ","


_HEIGHT_FEET = frozenset({"four", "five", "six", "seven", "4", "5", "6", "7"})


def _measured(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a distance, a weight or a volume: a unit of :data:`_MEASURES` right after it, in its
    sentence ("200 miles", "40 kilos"); a unit in the singular after more than one only before its noun
    ("a 5 mile run"): "The maximum 6.1 mile." is base's for "The CVV is six one nine." (held-out-9); or the inches
    of a height, 0-11 after its feet, 4-7, and "foot" or "feet" ("five foot ten"); a hundred before "and" and its
    tens and the unit ("200 and 50 miles")."""
    first = run.first
    if first >= 2 and cores[first - 1] in ("foot", "feet") and cores[first - 2] in _HEIGHT_FEET \
            and not _pause(tokens[first - 1]) and len(run.digits) <= 2 and int(run.digits) <= 11:
        return True  # the inches of a height after its feet ("I'm five foot ten.", held-out-31's own words)
    after = run.last + 1
    if re.fullmatch(r"[1-9]00", run.digits) and cores[after:after + 1] == ["and"] and after + 2 < len(cores) \
            and re.fullmatch(r"[1-9]\d?", cores[after + 1]) and not any(_pause(t) for t in tokens[run.last:after + 2]):
        after += 2  # a hundred and its tens, one measure as whisper writes it: "200 and 50 points." (held-out-48)
    if after >= len(cores) or cores[after] not in _MEASURES or _pause(tokens[run.last]):
        return False
    singular = cores[after] not in _NUMBERLESS_MEASURES and not cores[after].endswith("s")
    return not singular or run.digits == "1" or after + 1 < len(cores) and not _pause(tokens[after])


def _says_a_digit(word: str) -> bool:
    """``word`` (a core) says a digit alone or joined by hyphens to what the recogniser made of the
    digits beside it ("One-Ein" for "one nine", "nine-high", "time-free" for "five three", "I-I-I-O";
    base and tiny.en over mu-law, in a number's passage; not "half-seven", a time), or a tens' word so
    joined ("eighty-high" for "eight nine", tiny.en, the seen parts)."""
    if word in DIGIT_SPELLINGS:
        return True
    parts = word.split("-")
    return len(parts) > 1 and parts[0] not in ("half", "quarter") \
        and any(part in DIGIT_SPELLINGS or part in TENS for part in parts)


def _asks_again(tokens: list[str], cores: list[str]) -> bool:
    """Whether the text ends asking for something to be said again ("Sorry, can you say the last part
    again?", "Could you repeat that?"; "pay" for "say", tiny.en): what is said next is a number's
    passage, the reply reads digits (`Sure, it's too thick so...` for "Sure, eight two six oh.")."""
    start = _sentence_start(len(tokens) - 1, tokens)
    last = cores[start:]
    if "repeat" in last:
        return True
    return any(c == "again" and {"say", "pay", "read", "give", "tell", "last"} & set(last[max(0, j - 6):j])
               for j, c in enumerate(last))


def _announces(cores: list[str], i: int) -> bool:
    """Whether the words up to token ``i`` announce digits read next, whatever the number's name was heard
    as: a count of them and a verb ("the first three are", "the last four is", "the third three are" for
    "the first three are", a count of 2-9: "the first one is" is a pronoun), or "number" and a word, the
    verb misheard too ("the crud number in 4 am and 1 big", "the truck number important one big" for "the
    card number is four ..."; not "the number of")."""
    if i == 0:
        return False
    if cores[i - 1] in ("number", "numbers") and cores[i] != "of":
        # (Not a house's or a bus's number said as words: "We live at number twenty two.", held-out-45, masked in its
        # own words.)
        return cores[max(0, i - 3):i - 1] not in (["live", "at"], ["lives", "at"]) and not _number_named(i, cores) \
            and not (cores[i] in TENS and cores[i + 1:i + 2] != [] and cores[i + 1] in _DIGIT_WORDS
                     and cores[i + 2:i + 3] != [] and cores[i + 2] in _TIMED)  # "the number forty three bus", held-out-34
    if cores[i - 1] == "reference" and cores[i] in ("is", "was"):
        return True  # (a reference's digits: "My reference is O M and M and [NUMBER_1].", held-out-3, tiny.en in packs)
    if cores[i] == "goes" and cores[i - 1] in ("here", "there"):  # "Okay here goes. Fifty four, ..."
        return True
    if cores[i] == "in" and cores[i - 1] in _ENDING_HEARD:
        # "ending in", misheard too: "so that's the car vendor in seeks to do for correct." for "So, the card ending in six
        # two four, correct?" (held-out-13, base live)
        return True
    if cores[i] not in _ANNOUNCING_VERBS:
        return False
    # The count, up to four words before the verb: "the last four of my social are" (tiny.en wrote the
    # SSN's four digits after it "to narrow near old ein").
    for j in range(i - 1, max(0, i - 5), -1):
        count = cores[j]
        if _count_said(count) and (cores[j - 1] in _ORDINALS or cores[j - 1] in ("last", "next")):
            return True
        if count in _ANNOUNCING_VERBS:
            break
    return False


def _counts_digits(cores: list[str], i: int) -> bool:
    """Whether token ``i`` counts digits: a number's one word, 1-2 digits or a digit's homophone with "digit" or
    "digits" right after it ("Three digits on the back?", "the three digit code", "the 16 digits on the front", "the
    free digit on the back"). It is none of them, nor of a number read before it ("End of next year, twelve twenty
    seven." / "Three digits on the back?", held-out-44's own words); a number written with it is (`and the next year
    12-27-3` / `digits on the Mac.`, tiny.en in packs)."""
    return i + 1 < len(cores) and (cores[i + 1] in ("digit", "digits") and (_one_number(cores[i]) or cores[i] in HOMOPHONES)
                                   or _a_codes_count(cores, i))


def _a_codes_count(cores: list[str], i: int) -> bool:
    """Token ``i`` is "three" or "four" between "the" and "on the back" or "on the front": how a security code is
    asked for by its count of digits ("And the three on the back?", held-out-54's agent, masked in its own words and
    its decodes after the card's groups); in Spanish "los tres de atrás" (spanish-3's own words)."""
    if i == 0:
        return False
    if cores[i - 1] == "los" and cores[i] in ("tres", "cuatro", "3", "4"):
        return cores[i + 1:i + 3] in (["de", "atrás"], ["de", "atras"], ["de", "detrás"], ["de", "detras"],
                                      ["de", "delante"])
    return cores[i - 1] == "the" and cores[i] in ("three", "four", "3", "4") \
        and cores[i + 1:i + 3] == ["on", "the"] and cores[i + 3:i + 4] in (["back"], ["front"])


def _a_count(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """Whether ``run`` ends with a count (:func:`_counts_digits`), or is one digit written alone right after "last",
    "first" or "next", no pause between, as "the last four" is ("I just need the last 4."; not `the last 4 3 2 1.`,
    nor `And last, 9 and ...`, base in packs, the caller reading a card's last group; nor `next 3 or 4, 20 30,`,
    base in packs for an expiry's "four, twenty thirty": digits read on after "or" or "and"; "the next 2 or 3 days"
    is a count)."""
    if _counts_digits(cores, run.last):
        return True
    i = run.first
    return i == run.last and i > 0 and cores[i - 1] in ("last", "first", "next") and not _pause(tokens[i - 1]) \
        and len(cores[i]) == 1 and _count_said(cores[i]) and not _read_on(i, tokens, cores)


# What a count after "last", "first" or "next" names where digits are read: "the last four digits", "the first three
# are", "the first two of them", "the last two groups", "the last four again".
_COUNTED = _AFTER_COUNT | _ANNOUNCING_VERBS | {"digit's", "number", "ones", "group", "groups", "on", "and", "or", "you",
                                               "i", "we", "to"}


def _reading(ctx: Context) -> bool:
    """Digits are being read: a card's or an SSN's keyword holds, or the passage of a masked number."""
    return ctx.secret_keyed or ctx.number > 0


def _count_unnamed(i: int, tokens: list[str], cores: list[str]) -> bool:
    """The count at token ``i``, right after "last", "first" or "next", is followed in its phrase by a word that names
    nothing a count of digits names (:data:`_COUNTED`): where digits are read, it is one of them ("the last two design,
    I'm free one." and "the last 3 design I'll read one," for "the last group is nine nine three one", held-out-52,
    base and tiny.en in packs); or by "is" or "was", where a count of digits takes "are" ("And the last one is 1-226."
    and "and the last three is 1, 2, 2, 6." for "and the last bit is one two two six", held-out-14)."""
    if i == 0 or cores[i - 1] not in ("last", "first", "next") or _pause(tokens[i]) or i + 1 >= len(cores):
        return False
    after = cores[i + 1]
    # (A function word after it names nothing either way: "Chapter 111 the first one The", a sentence's end lost; nor
    # a word after "the last four", how an SSN's or a card's last digits are asked for: "Sorry, the last four hours."
    # for "... the last four of your social", held-out-13 and others, an agent's question masked by the word rule.)
    return after in ("is", "was") or after not in _COUNTED and after not in FUNCTION_WORDS \
        and cores[i] not in ("four", "4") and bool(re.fullmatch(r"[a-z][a-z']*", after))


def _read_on(i: int, tokens: list[str], cores: list[str]) -> bool:
    """Digits go on after token ``i`` past "or" or "and", no pause before it: a digit after them that a comma or
    another digit follows ("3 or 4, 20 30"; not "2 or 3 days")."""
    return not _pause(tokens[i]) and cores[i + 1:i + 2] in (["or"], ["and"]) \
        and any(ch.isdigit() for ch in "".join(tokens[i + 2:i + 3])) \
        and (tokens[i + 2].endswith(",") or any(ch.isdigit() for ch in "".join(tokens[i + 3:i + 4])))


def _number_to(cores: list[str], i: int) -> bool:
    """Whether token ``i`` is the "to" of "a number to reach you on" or "a good time to call you" ("And a good
    number to reach you?" after an SSN, held-out-44's own words): a verb of getting in touch after it, and "number"
    before it or a person after the verb; or of "your social to verify": a verb of checking or handling
    (:data:`_HANDLING`) after it and a keyword's noun right before it (held-out-53's own words, "I'll need your
    social [SSN_1] verify.", and 20 of its 24 decodes). No digit."""
    if not (0 < i < len(cores) - 1 and cores[i] == "to"):
        return False
    after = cores[i + 1]
    return after in _GET_IN_TOUCH \
        and (cores[i - 1] in ("number", "numbers") or i + 2 < len(cores) and cores[i + 2] in _PERSONS) \
        or after in _HANDLING and (cores[i - 1] in _KEYWORD_NOUNS or _keyword(cores, i - 1) is not None)


_GET_IN_TOUCH = frozenset({"reach", "call", "ring", "text", "contact", "phone", "use", "try"})
# Verbs an agent puts after the number asked for ("your social to verify", "the card to process it"): none is a
# digit's word nor sounds like one.
_HANDLING = frozenset({"verify", "confirm", "check", "validate", "authenticate", "process", "complete", "update",
                       "proceed", "continue", "access", "locate", "secure", "unlock", "reset", "activate", "cancel",
                       "finish", "pull", "look", "find", "identify", "match", "charge", "refund", "link", "add"})
_KEYWORD_NOUNS = frozenset({"number", "numbers", "details", "digits", "ssn", "social"})
_PERSONS = frozenset({"you", "me", "us", "him", "her", "them"})


_CARD_NOUNS = frozenset({"card", "cards", "account", "accounts", "savings", "checking"})


def _for_the_card(cores: list[str], i: int) -> bool:
    """Whether token ``i`` is the "for" of "the pin for that card" or "that one's for the savings": a card's or an
    account's noun right after it or one word after it that says no digit ("for net card": "that" misheard); a
    preposition, no digit (held-out-51: "And the pin for that card?" masked in its own words and in 11 of its 12
    decodes; held-out-4's "That one's for the savings." after an account number, in its own words)."""
    if cores[i] != "for":
        return False
    after = cores[i + 1:i + 3]
    return bool(after) and after[0] in _CARD_NOUNS or len(after) == 2 and after[1] in _CARD_NOUNS \
        and not _says_a_digit(after[0]) and not any(ch.isdigit() for ch in after[0])


def _hours_apart(found: list[Run], tokens: list[str], cores: list[str], breaks: frozenset[int],
                 before: list[Context]) -> list[Run]:
    """``found`` with a run split after an hour its clock words say ("half past three.", "quarter to six.":
    :func:`_clock_said`) where a pause or the end of a final follows the hour: the time is said whole, the number
    after it is another ("Meet me at half past three." then "620 gone on noon.", held-out-42). Not where a keyword
    holds: there the run is what was asked for."""
    out: list[Run] = []
    for run in found:
        end = next((k for k in range(run.first, run.last) if _pause(tokens[k]) or k + 1 in breaks), None)
        # (The hour alone, or after the "to" the run begins with: "quarter to six.")
        if end is None or before[run.first].keyed or cores[end] not in _HOURS or not _clock_said(end, cores) \
                or not (end == run.first or end == run.first + 1 and cores[run.first] in ("to", "too")):
            out.append(run)
            continue
        # (A digit's word alone is no run: the rules of digits' words alone keep it as they keep "half past three.")
        out += [Run(r.first + run.first, r.last + run.first, r.digits, r.groups) for r in runs(tokens[run.first:end + 1])]
        out += [Run(r.first + end + 1, r.last + end + 1, r.digits, r.groups) for r in runs(tokens[end + 1:run.last + 1])]
    return out


def _less_counts(found: list[Run], tokens: list[str], counts: set[int]) -> list[Run]:
    """``found`` without the words that count digits (``counts``, the last tokens of the runs :func:`_a_count`
    finds, or the first of those that start with a count :func:`_asked_count` finds): a run that ends with one ends
    before it, one that starts with one starts after it."""
    out: list[Run] = []
    for run in found:
        if run.last in counts and run.first < run.last:
            out += [Run(r.first + run.first, r.last + run.first, r.digits, r.groups)
                    for r in runs(tokens[run.first:run.last])]
        elif run.first in counts and run.first < run.last:
            out += [Run(r.first + run.first + 1, r.last + run.first + 1, r.digits, r.groups)
                    for r in runs(tokens[run.first + 1:run.last + 1])]
        elif run.last not in counts:
            out.append(run)
    return out


def _asked_count(i: int, tokens: list[str], cores: list[str]) -> bool:
    """Token ``i`` is a count of digits (2-9) that ends a question right after "first", "next" or "last" ("First
    four?", "Next four?"): no digit of a number, nor of the digits read after it that a run joins it with ("First
    four?" / "Six oh one one.", an agent's prompt held with the reply, held-out-32's own words)."""
    return i > 0 and cores[i - 1] in ("last", "first", "next") and tokens[i].rstrip()[-1:] == "?" \
        and _count_said(cores[i])


def _count_said(word: str) -> bool:
    """``word`` (a core) is a count of digits announced or asked for, 2-9 ("the first three", "the last 4"; "the
    first one" is a pronoun)."""
    return word in _ANNOUNCED_COUNTS or word.isdigit() and 2 <= int(word) <= 9


def _sentence_start(i: int, tokens: list[str]) -> int:
    """The first token of the sentence that holds token ``i`` (after the last ".", "?" or "!" before it)."""
    return next((k + 1 for k in range(i - 1, -1, -1) if tokens[k].rstrip()[-1:] in ".?!"), 0)


def _asks_for_digits(tokens: list[str], cores: list[str]) -> bool:
    """Whether the text ends asking for digits by their count, none read after it: a count (2-9) after "last",
    "first" or "next" in its last sentence, and at most four words such as "digits" or "of it" after it ("I just
    need the last four.", "What are the first six digits?", "The last four digits of it, please?"): what is said
    next is a number's passage (as after :func:`_asks_again`), the reply reads them ("Sure, it's too same in same
    England." for "Sure, it's two seven seven one.", held-out-43, tiny.en and base, the SSN's keyword never said)."""
    if not tokens or tokens[-1].rstrip()[-1:] not in ".?":
        return False
    j = len(cores) - 1
    while j > 0 and len(cores) - 1 - j < 4 and cores[j] in _AFTER_COUNT:
        j -= 1
    count = cores[j]
    # (and a need for "the last one", "four" heard as "one": "I just need the last one." then "Sure, it's too safe and
    # safe and run." for "... the last four." / "Sure, it's two seven seven one.", held-out-43, tiny.en)
    start = _sentence_start(j, tokens)
    needed = count == "one" and "need" in cores[start:j]
    return j > 0 and (_count_said(count) or needed) \
        and cores[j - 1] in ("last", "first", "next") and tokens[j - 1].rstrip()[-1:] not in ".?!"


def _reads_out(tokens: list[str], cores: list[str], i: int, breaks: frozenset[int]) -> bool:
    """Whether token ``i`` ends a sentence that says something is about to be read, "read" within its last four
    words ("Let me read it.", "I'll read it slowly.", "I'll read the slow, then.": held-out-22, base over mu-law,
    for "I'll read it slowly. Five four, two four," heard as "I'm for you for you."): the digits come next, in
    words the recogniser may have made of them."""
    if tokens[i].rstrip()[-1:] not in ".:":
        return False
    start = _final_of(i, breaks, len(tokens))[0]
    for j in range(i, max(start - 1, i - 4), -1):
        if j < i and tokens[j].rstrip()[-1:] in ".?!":
            return False
        if cores[j] in ("read", "reading"):
            return True
    return False


def _until_expiry(run: Run, tokens: list[str], cores: list[str]) -> int | None:
    """Where an expiry that the recogniser wrote as a time or a date begins, if ``run`` may be one: right
    after a word of :data:`_UNTIL`, or after a month's name right after one ("until 3.30", "till November
    29"), 4 digits at most, and no unit after it ("until 5 pm", "till 10 o'clock", "through 3 days": a
    time or a span). Only a passage (:func:`_passages`) takes it for an expiry; None if it may not be one."""
    first = run.first
    if first > 0 and cores[first - 1] in _MONTHS:
        first -= 1
    after = cores[run.last + 1] if run.last + 1 < len(cores) else ""
    written = "".join(tokens[run.first:run.last + 1]).lower()
    if first == 0 or cores[first - 1] not in _UNTIL or len(run.digits) > 4 or after in _UNITS \
            or _HOUR_CLOCK.match(written) or written[:1] in "$£€":
        return None
    return first


def _day_of_may(cores: list[str], i: int) -> bool:
    """``cores[i]`` is "may" after a day and "of" ("the 14th of May", "the fourteenth of May"): the month, a date that
    ends a passage as another month's name does, not the verb ("The party is on the [NUMBER_5] of May." after
    "about [NUMBER_4] people turned up.", held-out-33, every model and voice)."""
    return cores[i] == "may" and i >= 2 and cores[i - 1] == "of" \
        and (bool(_WRITTEN_ORDINAL.match(cores[i - 2])) or cores[i - 2] in _ORDINALS)


def _month_and_year(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is 2 digits that may be a card's year (20-39) right after a month's name: in a number's
    passage, a card's expiry ("from how to April 28." for "It runs out in April of twenty eight.", after
    the card's code; tiny.en), which would otherwise read as a date and end the passage. The cost: a
    date said there ("April 28th") is masked. A month's whole name, "may" too ("May 20th Emo 930" for "The
    date on it is oh nine, thirty.", held-out-31, tiny.en in packs over mu-law, after the card read back)."""
    written = tokens[run.first].lower()
    month = cores[run.first - 1] if run.first > 0 else ""
    return month in _MONTHS and (len(month) > 3 or month == "may") \
        and run.first == run.last and len(run.digits) == 2 and 20 <= int(run.digits) <= 39 and ":" not in written


def _vouched_expiry(run: Run, tokens: list[str], cores: list[str]) -> int | None:
    """Where an expiry begins that a word of :data:`_UNTIL` vouches for, whatever the card was heard as
    and however the recogniser wrote it: :func:`_until_expiry` with "good" or "valid" before it ("The
    car is good through November 28." for "The card is good through November twenty eight.", base), or
    a month and a number after it that may be a card's year, 20-39 ("It's merely until August 20th." for
    "It's valid until August twenty seven.", tiny.en and base over mu-law, "valid" misheard); None if
    ``run`` is not one. ("The offer runs through March 3" is a date; "until November 28" is masked.)"""
    start = _until_expiry(run, tokens, cores)
    if start is None:
        return None
    if start > 1 and cores[start - 2] in ("good", "valid"):
        return start
    year = len(run.digits) == 2 and 20 <= int(run.digits) <= 39
    return start if start == run.first - 1 and year else None


def _expiry_as_range(ctx: Context, run: Run, tokens: list[str]) -> bool:
    """``run`` is one token, a month (1-12), a hyphen and a card's year (20-39), where a card's keyword or a masked
    number's passage holds: an expiry the recogniser wrote as a range, whatever unit it heard after it ("My credit
    card at fire nearly 5-20 seconds." for "... expires oh five twenty eight.", tuning, tiny.en over mu-law; "3-20
    days." for "Oh three slash twenty eight." after a card's groups, held-out-45); also after a digit's word the
    recogniser wrote before it, which the run takes in ("for 3-20 days." after a card's pairs, held-out-54, tiny.en).
    "3-5 days" is no expiry."""
    return (ctx.card > 0 or ctx.number > 0) \
        and not any(ch.isdigit() for token in tokens[run.first:run.last] for ch in token) \
        and bool(re.fullmatch(r"(?:0?[1-9]|1[0-2])-[23]\d[.,?!]?", tokens[run.last]))


def _end_of_expiry(ctx: Context, run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an expiry after "the end of", whatever unit the recogniser heard after it: a month (1-12) and a
    card's year (20-39) in two groups, its zero heard as a word between them or not ("It should feel the end of all
    nine, twenty-three minutes." for "It's good till the end of oh nine, twenty three.", held-out-24, base live); or,
    where a card's keyword or a masked number's passage holds, a card's year alone within five words of it in its
    sentence, the month garbled ("You close to the end of all the hours, 22 minutes." after a card's groups,
    held-out-46, tiny.en live)."""
    if len(run.groups) == 2 and 1 <= int(run.groups[0]) <= 12 and 20 <= int(run.groups[1]) <= 39:
        said = cores[max(0, run.first - 3):run.first]
        return said[-2:] == ["end", "of"] or said[:2] == ["end", "of"]
    if not (ctx.card > 0 or ctx.number > 0) or not re.fullmatch(r"[23]\d", run.digits) or len(run.groups) != 1:
        return False
    for j in range(run.first - 1, max(0, run.first - 6), -1):
        if tokens[j - 1].rstrip()[-1:] in ".?!":
            return False
        if cores[j - 1:j + 1] == ["end", "of"]:
            return True
    return False


def _loose_unit(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is an amount or a time only by a unit that, in a passage (:func:`_passages`), is a digit
    misheard: "cent" after a number but one, no currency sign ("then 4 cent room" for "Then four seven.":
    an amount says "cents"; base), or am/pm after an hour that no word such as "at", "until" or "from"
    comes before ("The crud number in 4am and 1th 6," for "... is four seven one six,"; tiny.en), or
    "o'clock" so ("My count [NUMBER_1] high, 4 o'clock high." for "... two two nine, four oh five.", tiny.en
    over mu-law: "four oh")."""
    after = cores[run.last + 1] if run.last + 1 < len(cores) else ""
    written = "".join(tokens[run.first:run.last + 1]).lower()
    if after == "cent":
        return written[:1] not in "$£€" and run.digits.lstrip("0") != "1"
    if after in ("a", "p") and cores[run.last + 2:run.last + 3] == ["m"]:
        after += "m"  # "3 p .m." (the recogniser's word timings cut "p.m.")
    clock = after in _LOOSE_CLOCK and bool(_HOUR.match(written)) or bool(_HOUR_CLOCK.match(written))
    return clock and ":" not in written and not (run.first > 0 and cores[run.first - 1] in _CLOCK_BEFORE)


def _words_alone(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
                 before: list[Context], keyword_at: list[str | None], breaks: frozenset[int], in_runs: frozenset[int]) -> bool:
    """Fails closed on a digit's word alone ("two", "one", "zero"; not "oh", an interjection, nor a
    homophone, a word elsewhere): the recogniser writes a secret's groups as words that read like a
    quantity ("My reference in both M&M and two." / "Not will fix one." for "oh seven seven two" /
    "double six one"). It is masked unless its phrase frames it as a quantity (:mod:`.quantity`: a noun
    after it, "two tickets"; a determiner before it, "the one", "the last four"). ``spans`` and
    ``taken`` are updated; returns whether any was masked."""
    flags = numeric(tokens)
    masked = False
    # "I'm" between two digits' words or homophones is a nine ("For I'm one big" for "four nine one six",
    # base over mu-law; "I'm free one" for "nine three one"; "Ford I'm one big", "four" glued to the
    # nine's sound, :data:`_FOUR_GLUED`): the three go together; so after a number and its comma
    # ("6,000, 11, 0 2013, I'm £1424." for "Put down 6011 0009 9013 9424 please.", tiny.en over mu-law).
    for i in range(1, len(cores) - 1):
        if cores[i] == "i'm" and not taken[i] and (cores[i - 1] in _FOUR_GLUED or cores[i - 1] in DIGIT_SPELLINGS
                                                    or i - 1 in in_runs) and (
                cores[i + 1] in DIGIT_SPELLINGS or i + 1 in in_runs) and not any(
                (_pause(tokens[k]) and not (k == i - 1 and k in in_runs and tokens[k].rstrip()[-1:] == ","))
                or k + 1 in breaks for k in (i - 1, i)):
            first, last = (i - 1, i + 1) if not taken[i - 1] else (i, i + 1)
            last = last if not taken[last] else i
            entity = _sensitive(kinds, before[first], keyword_at, first, last, ahead=False) or "NUMBER"
            _mask(spans, taken, first, last, _named(entity, kinds))
            masked = True
    # "for the" before a digit's word is how the recogniser writes "forty" ("For the one to land." / "for
    # the one element." for "forty one, eleven.", base and tiny.en): the three go together, noun or
    # determiner after them or not; not before "of" ("a table for the two of us") nor "o'clock" ("Tickets for
    # the eight o'clock show.", held-out-30) nor a street's name (a house number: "I live for the two elm
    # street", :func:`_spoken_house_numbers`).
    for i in range(len(cores) - 2):
        if cores[i] in _FORTY and cores[i + 1] == "the" and cores[i + 2] in _DIGIT_WORDS \
                and not any(taken[i:i + 3]) and not in_runs & {i, i + 1, i + 2} \
                and cores[i + 3:i + 4] != ["of"] and not (cores[i + 3:i + 4] == ["o'clock"] and tokens[i + 2][-1:].isalpha()) \
                and not _STREET & set(cores[i + 3:i + 7]) and not any(
                    _pause(tokens[k]) or k + 1 in breaks for k in (i, i + 1)):
            entity = _sensitive(kinds, before[i], keyword_at, i, i + 2, ahead=False) or "NUMBER"
            _mask(spans, taken, i, i + 2, _named(entity, kinds))
            masked = True
    for i, c in enumerate(cores):
        if taken[i] or i in in_runs or c not in _DIGIT_WORDS or _a_codes_count(cores, i) or _pronoun_one(cores, i):
            continue
        digit = DIGIT_NAMES.index(c)
        # (Where cards are redacted, a determiner makes no quantity of a digit's word that ends its phrase
        # after "through" or "until" in its sentence: "It's gone through all four, only one." for "It's good
        # thru oh four thirty one.", tiny.en over mu-law, is an expiry; "all four of them" is a quantity.)
        expiry = "pci" in kinds and _phrase_ends(i, tokens, breaks) \
            and _until_before(i, tokens, cores, breaks)
        # (Not a count after "last" that names no digits where digits are read: :func:`_count_unnamed`.)
        unnamed = _reading(before[i]) and _count_unnamed(i, tokens, cores)
        if not unnamed and (counts_a_noun(tokens, cores, i, breaks=breaks, numeric=flags)
                            or not expiry and determined(tokens, cores, i, breaks=breaks, numeric=flags)) \
                or _quantity_said(i, cores) \
                or i > 0 and _names(cores, i - 1) or _number_named(i, cores) or _school_year(i, str(digit), cores) \
                or _hour_ending_at(i, i, digit, tokens, cores) or _taken(i, tokens, cores, before) \
                or (_age_word(i, digit, tokens, cores) or _each_holds(i, cores) or _below_zero(i, cores)
                    or _menu_option(i, i, tokens, cores)) and not before[i].secret_keyed \
                or (_out_of(i, tokens, cores) or _rated_out_of(i, str(digit), tokens, cores)
                    or _starred(i, i, tokens, cores) or _bogo(i, i, cores)) and not before[i].secret_keyed:
            # ("chapter three", as "page 32" stays; "The office opens at eight.", as "at 10."; "My grandson is
            # nine.", held-out-22, as "is 9.")
            continue
        entity = "CREDIT_CARD_EXPIRATION" if expiry else _sensitive(kinds, before[i], keyword_at, i, i) or "NUMBER"
        _mask(spans, taken, i, i, _named(entity, kinds))
        masked = True
    # Homophones two or more in a row, no punctuation between, are digits ("already won to Lambon." for
    # "forty one, eleven", base): no sentence says "won to" (not "free" nor "far": "free to", "far too");
    # nor "free for" but "free for all" ("Nothing immediate free for heaven." for "The CVV is three four
    # seven.", base and tiny.en over mu-law; "in three to five business days" is "free to five"); "free free"
    # is two threes ("All I want to free free payment fix." for "oh nine one two, three three ...", held-out-16).
    i = 0
    while i < len(cores):
        j = i
        if cores[i] == "free" and cores[i + 1:i + 2] in (["for"], ["free"]) and cores[i + 2:i + 3] != ["all"] \
                and not taken[i] and i not in in_runs and not _pause(tokens[i]):
            j = i + 1 if cores[i + 1] == "for" else i + 2
        while j < len(cores) and cores[j] in _PAIRED_HOMOPHONES and not taken[j] and j not in in_runs \
                and (j == i or not _pause(tokens[j - 1]) and j not in breaks):
            j += 1
        if j - i >= 2:
            entity = _sensitive(kinds, before[i], keyword_at, i, j - 1, ahead=False) or "NUMBER"
            _mask(spans, taken, i, j - 1, _named(entity, kinds))
            masked = True
        i = max(j, i + 1)
    # A Spanish digit's word alone that ends its phrase is a number's last piece, as an English one is ("¿Cuál lo
    # pinto, pinto, seis?" for a card's groups, spanish-2, base live); not an hour after "las" ("Son las seis."), nor a
    # number its noun names ("Vivo en el piso cuatro.", spanish-2's negative).
    for i, c in enumerate(cores):
        if c in _SPANISH_ONLY and not taken[i] and i not in in_runs and _phrase_ends(i, tokens, breaks) \
                and not (i > 0 and (cores[i - 1] in ("las", "la") or cores[i - 1] in _NOMBRADO_POR)):
            entity = _sensitive(kinds, before[i], keyword_at, i, i, ahead=False) or "NUMBER"
            _mask(spans, taken, i, i, _named(entity, kinds))
            masked = True
    # "double"/"triple" right after what was masked here goes with it: the next group's start ("I'm free
    # one Double" / "Heaven 1208" for "five three one." / "double seven.", base in packs).
    if masked:
        for n, span in enumerate(spans):
            k = span.last + 1
            if span.entity in NUMBER_SPANS and k < len(cores) and cores[k] in REPEAT_WORDS and not taken[k] \
                    and not _pause(tokens[span.last]) and k not in breaks:
                spans[n] = Span(span.first, k, span.entity)
                taken[k] = True
    return masked


def _taken(i: int, tokens: list[str], cores: list[str], before: list[Context]) -> bool:
    """The digit's word at token ``i`` is a count of what is taken, ending its sentence after a verb of
    :data:`_TAKING` where no card's or SSN's keyword is in force: "I'll take two." (held-out-4, masked in 18
    of its 24 decodes)."""
    return i > 0 and cores[i - 1] in _TAKING and tokens[i].rstrip()[-1:] in ".?!" \
        and not before[i].secret_keyed


def _until_before(i: int, tokens: list[str], cores: list[str], breaks: frozenset[int]) -> bool:
    """A word of :data:`_UNTIL` comes before token ``i`` in its sentence, within :data:`PASSAGE_WORDS`
    words."""
    for j in range(i - 1, max(-1, i - 1 - PASSAGE_WORDS), -1):
        if _sentence_ends(j, tokens, breaks):
            return False
        if cores[j] in _UNTIL:
            return True
    return False


def _value_said(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], breaks: frozenset[int],
                in_runs: frozenset[int]) -> None:
    """A homophone of a digit right after "my ... is", in a final that a masked number ends, is the
    number's first digit, whatever the value's name was heard as ("My plan is too perfect. I'm not all
    time. [NUMBER_1]." for "My cell is two oh six, five double five, oh one four two.", tiny.en over
    mu-law; "My balance is too big, ...", base). "to" only before a digit's word or a number ("my plan
    is to pay" keeps it), and no homophone in a final with no masked number after it ("my plan is too
    expensive"). Masked as that number. ``spans`` and ``taken`` are updated."""
    for i in range(2, len(cores)):
        if taken[i] or i in in_runs or cores[i] not in HOMOPHONES or cores[i - 1] != "is":
            continue
        start, end = _final_of(i, breaks, len(cores))
        if "my" not in cores[max(start, i - 4):i - 1]:
            continue
        if cores[i] == "to" and not (i + 1 < len(cores) and (cores[i + 1] in DIGIT_SPELLINGS or i + 1 in in_runs)):
            continue
        after = [s for s in spans if s.entity in NUMBER_SPANS and i < s.first < end]
        if after:
            _mask(spans, taken, i, i, min(after, key=lambda s: s.first).entity)


def _dialled(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
             before: list[Context], keyword_at: list[str | None], breaks: frozenset[int], in_runs: frozenset[int]) -> None:
    """Fails closed on a phone number's digits heard as words: in the phrase after "area code" or "reach
    me" ("read me", as heard; to its punctuation or its final's end), two or more digits' words or
    homophones in a row ("You can reach the area code for one time." for "... area code four one five.",
    base and tiny.en over mu-law; "area called Or one time", base in packs: "or" the four); not "the
    one" ("The area code is the one for Boston."). Masked, they open a passage.
    ``spans`` and ``taken`` are updated."""
    for k in range(1, len(cores)):
        if not (cores[k - 1] == "area" and cores[k] in _AREA_CODE
                or cores[k - 1] in ("reach", "read") and cores[k] in ("me", "us")):
            continue
        phrase = []
        for j in range(k + 1, min(len(cores), k + 1 + PASSAGE_WORDS)):
            if j in breaks:
                break
            phrase.append(j)
            if _pause(tokens[j]):
                break
        if phrase and _round_the_clock(phrase[0], phrase[-1], tokens):
            continue  # ("You can reach us twenty four seven.": :func:`_idiom`)
        digit = [(cores[j] in DIGIT_SPELLINGS or cores[j] in _FOUR_GLUED or j in in_runs) and not taken[j]
                 and not (cores[j] == "one" and j > 0 and cores[j - 1] in PRONOUN_DETERMINERS) for j in phrase]
        m = 0
        while m < len(phrase):
            e = m
            while e < len(phrase) and digit[e] and (e == m or tokens[phrase[e - 1]].rstrip()[-1:] not in ".?!"):
                e += 1
            # (After "area code" one digit's word is enough, not a homophone: "the area called one time."
            # for "... four one five."; "the one for Boston".)
            if e - m >= 2 or e - m == 1 and cores[k - 1] == "area" and cores[phrase[m]] in _DIGIT_WORDS:
                first, last = phrase[m], phrase[e - 1]
                entity = _sensitive(kinds, before[first], keyword_at, first, last, ahead=False) or "NUMBER"
                _mask(spans, taken, first, last, _named(entity, kinds))
            m = max(e, m + 1)


def _said_again(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
                before: list[Context], keyword_at: list[str | None], breaks: frozenset[int], in_runs: frozenset[int]) -> None:
    """Fails closed on one word three times or more in a row: a digit read again and again ("time time
    time" for "five five five", tiny.en; "My god, I'm very time time time" for a card's keyword and
    digits, issue 43); not a function word, a greeting or an intensifier ("no no no", "hello, hello,
    hello", "very very very"). Masked as a number, it opens a passage. ``spans`` and ``taken`` are updated."""
    i = 0
    while i < len(cores):
        j = i + 1
        while j < len(cores) and cores[j].split("-")[0] == cores[i] and j not in breaks and _runs_on(tokens[j - 1]):
            j += 1
        # (Twice is enough right after a digit's word: "one payment payment", "our two Nero Nero-Ein" for
        # "... one seven seven", "... two zero zero nine", base over mu-law.)
        first = i - 1 if j - i == 2 and i > 0 and cores[i - 1] in _DIGIT_WORDS and not taken[i - 1] \
            and i - 1 not in breaks and not _pause(tokens[i - 1]) else i
        if (j - i >= 3 or first < i) and _repeats_a_digit(cores[i]) and not any(taken[first:j]) \
                and not in_runs & set(range(i, j)):
            entity = _sensitive(kinds, before[first], keyword_at, first, j - 1, ahead=False) or "NUMBER"
            _mask(spans, taken, first, j - 1, _named(entity, kinds))
        i = j


def _ohs_spelled(spans: list[Span], taken: list[bool], cores: list[str], kinds: tuple[str, ...],
                 before: list[Context], keyword_at: list[str | None]) -> None:
    """Fails closed on letters joined by hyphens, half of them or more "o": zeros read as "oh" that the
    recogniser spelled ("6th O-T-O-T-O-T-O-T-O-T-O" for a policy number, tiny.en over mu-law; a name
    spelled has fewer). Masked as a number, they open a passage. ``spans`` and ``taken`` are updated."""
    for i, word in enumerate(cores):
        letters = word.split("-")
        if not taken[i] and len(letters) >= 4 and all(len(c) == 1 and c.isalpha() for c in letters) \
                and 2 * letters.count("o") >= len(letters):
            _mask(spans, taken, i, i, _named(_sensitive(kinds, before[i], keyword_at, i, i, ahead=False) or "NUMBER",
                                              kinds))


def _lead(span: Span, tokens: list[str], cores: list[str], starts: list[int], breaks: frozenset[int]) -> range:
    """The words before a masked number that its passage covers: up to three in its sentence; its
    whole sentence when the recogniser wrote the number in words, no digit (it wrote the digits it
    heard as words, and the words before may be digits too: "The biggest sun for my car I know [too]."
    for "The digits on the back are nine oh two.", the "for" is the nine's four; but "I want to pay
    with my card, [CREDIT_CARD_1]" keeps its "to"), or when that sentence holds a Spanish digit (the
    recogniser heard a digit there: "My DOS shall in no [NUMBER_1]" for "My social is one two three",
    base over mu-law; no English sentence says "dos"); and, when the number begins a final, the whole
    final before it if that is short (:data:`SHORT_FINAL` words: "free lemon" / "828224631" for "three
    seven eight two" / "eight two two four": the redactor holds such a final for the next,
    :func:`.redactor._short_spelling`); when the number begins within :data:`TAIL_LEAD` words of its
    final, a number heard as other words at the end of the final before (:func:`spelled_tail`), or that
    whole final if it is short and says a digit's word or homophone ("for the" / "full launch, [NUMBER_1]")."""
    spelled = not any(ch.isdigit() for token in tokens[span.first:span.last + 1] for ch in token) \
        or any(c in _SPANISH_ONLY for c in cores[starts[span.first]:span.first])
    first = starts[span.first] if spelled else max(starts[span.first], span.first - JOIN_GAP - 1)
    if first == span.first and span.first in breaks:
        previous = max((b for b in breaks if b < span.first), default=0)
        if span.first - previous <= SHORT_FINAL:
            first = previous
    own = max((b for b in breaks if b <= span.first), default=0)  # where the number's final begins
    if 0 < own and span.first - own <= OPENING_LEAD:
        previous = max((b for b in breaks if b < own), default=0)
        tail = None
        if span.first - own <= TAIL_LEAD:
            tail = spelled_tail(tokens[previous:own])
            if tail is None and short_spelling(cores[previous:own]):
                tail = 0  # (a short final that says a digit's word or homophone: held as well, "for the")
        if tail is None:
            tail = spelled_opening(tokens[previous:own])
        if tail is not None:
            first = min(first, previous + tail)
    return range(first, span.first)


def short_spelling(cores: list[str]) -> bool:
    """A final of these words is short (:data:`SHORT_FINAL` words) and says a digit's word or homophone ("free
    lemon" for "three seven"): the redactor holds it, and a number the next final begins with reads it as its
    lead (:func:`_lead`)."""
    return 0 < len(cores) <= SHORT_FINAL and any(c in DIGIT_SPELLINGS for c in cores)


def spelled_tail(tokens: list[str]) -> int | None:
    """Where a number the recogniser wrote as other words begins at the end of a final of ``tokens``, if
    it ends so: within its last :data:`TAIL_AFTER` words (its sentence going on), a stretch of digits' words,
    homophones and digits (:data:`.itn.DIGIT_SPELLINGS`; one other word at most between two of them; no
    sentence's end) of two or more, not all "to" and "for", no number of 2 digits or more in or beside it, no
    amount, no unit after it ("for even one piece and" / "4 even 1 peaks and" for "Four seven one
    six, and,"; not "I would like to pay for it."). The redactor holds such a final for the next
    (:func:`.redactor._spelled_tail`), and a number that begins the next within :data:`TAIL_LEAD` words
    reaches back over the stretch (:func:`_lead`): the caller began the number there, garbled whole."""
    cores = [core(t) for t in tokens]
    said = _spelled(cores)
    last = next((i for i in range(len(cores) - 1, len(cores) - 2 - TAIL_AFTER, -1) if i >= 0 and said[i]), None)
    if last is None or any(t.rstrip()[-1:] in ".?!" for t in tokens[last:-1]):
        return None  # (its sentence ended before the final did: "Okay, here it is. 5 3 1. Thanks.")
    if last + 1 < len(cores) and (cores[last + 1] in _UNITS or cores[last + 1] in _A_MOMENT):
        return None  # (a quantity with its unit: "I was on hold for two hours.", "Can you go on for one moment?")
    first, gap = last, 0
    for i in range(last - 1, -1, -1):
        if tokens[i].rstrip()[-1:] in ".?!":
            break
        if said[i]:
            first, gap = i, 0
        elif (gap := gap + 1) > 1:
            break
    stretch = [c for c, s in zip(cores[first:last + 1], said[first:last + 1]) if s]
    around = cores[max(0, first - 1):last + 2]
    if any(sum(ch.isdigit() for ch in c) >= 2 for c in stretch) or any(c in _SAID_AS_ONE for c in around) \
            or any(t[:1] in "$£€" for t in tokens[first:last + 1]):
        # (a number the recogniser wrote or heard as one, or an amount: the rules read it as it is, "for 12
        # years.", "4111 ok", "twenty one to fourteen.", "It was for the $5 last month.")
        return None
    return first if len(stretch) >= 2 and set(stretch) - {"to", "for"} else None


def spelled_opening(tokens: list[str]) -> int | None:
    """Where a number the recogniser wrote as other words begins right after "it's" (or "is", "are") in a
    final of ``tokens`` whose last sentence goes on past its end, if it does: a digit's word, homophone or digit
    there, not "to" or "too", not a quantity (a unit or "moment" after it, a number said as one beside it, an
    amount) ("It's four time, I'm big Sorry" / "it's for I'm I'm big sorry" for "It's four five five six,
    sorry,", base over mu-law, held-out-33; not "It's for my son." nor "It's too late, sorry"). Held like
    :func:`spelled_tail`, and a number that begins the next final within :data:`OPENING_LEAD` words reaches
    back to it (:func:`_lead`)."""
    if not tokens or tokens[-1].rstrip()[-1:] in ".?!":
        return None
    cores = [core(t) for t in tokens]
    said = _spelled(cores)
    begin = max((i + 1 for i, t in enumerate(tokens) if t.rstrip()[-1:] in ".?!"), default=0)
    for i in range(max(begin, 1), len(cores)):
        if cores[i - 1] in _OPENERS and said[i] and cores[i] not in ("to", "too"):
            near = cores[i:i + 4]  # (its quantity's unit may come after a second digit: "for two hours")
            if any(c in _UNITS or c in _A_MOMENT or c in _SAID_AS_ONE or sum(ch.isdigit() for ch in c) >= 2
                   for c in near) or any(t[:1] in "$£€" for t in tokens[i:i + 4]):
                return None
            return i
    return None


def _spelled(cores: list[str]) -> list[bool]:
    """Which of ``cores`` say a digit (a word, a homophone or a numeral; :data:`.itn.DIGIT_SPELLINGS`): not a digit
    its noun names, "Turn it up to setting two.", nor one of 2-9 that counts the plural after it, "I bought three
    tickets for the show." ("1 peaks" is a number misheard)."""
    return [(c in DIGIT_SPELLINGS or any(ch.isdigit() for ch in c)) and not (i > 0 and _names(cores, i - 1))
            and not _counts_plural(i, cores) for i, c in enumerate(cores)]


def _counts_plural(i: int, cores: list[str]) -> bool:
    """Token ``i`` is a digit of 2-9 (a word, a homophone or a numeral) and the word after it a plural that is
    no digit's word: a quantity ("three tickets", "4 copies", "free tickets")."""
    c, name = cores[i], digit_word(cores[i])  # ("free" says "three"; "won" says "one")
    digit = DIGIT_NAMES.index(name) if name in DIGIT_NAMES else int(c) if len(c) == 1 and c.isdigit() else -1
    after = cores[i + 1] if i + 1 < len(cores) else ""
    return digit >= 2 and len(after) > 2 and after.endswith("s") and after not in DIGIT_SPELLINGS \
        and not any(ch.isdigit() for ch in after)


def _digits_alone(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
                  before: list[Context], keyword_at: list[str | None], breaks: frozenset[int],
                  in_runs: frozenset[int]) -> None:
    """A final that says nothing but digits' words ("four", "Oh.", "too.") is a piece of a number read
    over finals, alone: the redactor holds it for the next final, and a hold's timer that lets it go
    alone must not let it go in clear. So is a homophone that ends a final outside a number (the
    last digit of what the caller read: "The digits on the back aren't I low too." for "... are nine
    oh two."; "toll free" at a final's end costs its word, but not "buy one get one free", :func:`_bogo`).
    ``spans`` and ``taken`` are updated."""
    bounds = sorted({0, *breaks, len(cores)})
    for first, end in zip(bounds, bounds[1:]):
        if end > first and not any(taken[first:end]) and all(c in DIGIT_SPELLINGS for c in cores[first:end]):
            entity = _sensitive(kinds, before[first], keyword_at, first, end - 1, ahead=False) or "NUMBER"
            _mask(spans, taken, first, end - 1, entity)
        elif end > first and not taken[end - 1] and end - 1 not in in_runs and cores[end - 1] in HOMOPHONES \
                and not _bogo(end - 2, end - 1, cores) and not _stranded(end - 1, tokens, cores):
            entity = _sensitive(kinds, before[end - 1], keyword_at, end - 1, end - 1, ahead=False) or "NUMBER"
            _mask(spans, taken, end - 1, end - 1, entity)
    # "oh" that ends a sentence or a final after other words ("So that's oh."): a zero, the last digit of
    # what was read (as an interjection it begins one: "Oh, I see").
    for i, c in enumerate(cores):
        if c in ("oh", "o") and not taken[i] and i not in in_runs and i > 0 and i not in breaks \
                and tokens[i - 1].rstrip()[-1:] not in ".?!" and (i + 1 in breaks or i + 1 == len(cores)
                                                                   or tokens[i].rstrip()[-1:] in ".?!"):
            _mask(spans, taken, i, i, _sensitive(kinds, before[i], keyword_at, i, i, ahead=False) or "NUMBER")


def _named(entity: str, kinds: tuple[str, ...]) -> str:
    """``entity`` as a session of ``kinds`` names it: an SSN's or a card's piece where it redacts
    those, else a number."""
    if entity == "SSN" and not {"ssn", "pii"} & set(kinds) or entity in _CARD_PIECES and "pci" not in kinds:
        return "NUMBER"
    return entity


def _clearly_no_secret(run: Run, tokens: list[str], cores: list[str], *, dates: bool = True,
                       card: bool, breaks: frozenset[int]) -> bool:
    """``run`` is an amount or a time by a currency, a unit (a day's word only after a time with its
    minutes), a colon or two decimals, or a word such as "charge" before it (6 digits at most); or a
    date by a month word; as :func:`_may_be_secret` reads them, with at most :data:`_AMOUNT_DIGITS` digits."""
    if len(run.digits) > _AMOUNT_DIGITS or _surely_digits(run, tokens, cores, card=card):
        return False
    if _unit_after(run, tokens, cores, strict=True) or _said_bare(run, cores):
        return True
    if _priced(run, tokens, cores) and len(run.digits) <= 6:
        return True
    return dates and _dated(run, tokens, cores, card=card, breaks=breaks)


def _dated(run: Run, tokens: list[str], cores: list[str], *, card: bool, breaks: frozenset[int]) -> bool:
    """``run`` is a date of a call (:func:`_date_said`) or a model's year (:func:`_model_year`): what both
    :func:`_may_be_secret` and :func:`_clearly_no_secret` keep readable by the words around it."""
    return _date_said(run, tokens, cores, card=card, breaks=breaks) or _model_year(run, cores)


def _model_year(run: Run, cores: list[str]) -> bool:
    """``run`` is a year (1900-2039, said or written as one: not read digit by digit, :func:`_surely_digits` has
    ruled that out) between a determiner and a noun a year names: "It's the 2019 model.", "the two thousand eight
    model" (held-out-33 and -36: masked in every decode as 4 digits no rule read; no caller reads a secret's
    digits so)."""
    after = run.last + 1
    return len(run.digits) == 4 and bool(re.fullmatch(r"19\d\d|20[0-3]\d", run.digits)) \
        and run.first > 0 and cores[run.first - 1] in _YEAR_DETERMINERS \
        and after < len(cores) and cores[after] in _YEAR_NOUNS


def _label(kinds: tuple[str, ...], ctx: Context, keyword_at: list[str | None], run: Run) -> str:
    """What a number that fails closed is redacted as: the entity whose keyword is about (an SSN's,
    a card's, a phone number's, an account's), else ``NUMBER``."""
    entity = _sensitive(kinds, ctx, keyword_at, run.first, run.last)
    if entity is not None:
        return entity
    if "pii" in kinds and (ctx.account > 0 or _near(keyword_at, run, "account")):
        return "ACCOUNT_NUMBER"
    return "NUMBER"


def _absorb(spans: list[Span], taken: list[bool], found: list[Run], tokens: list[str], cores: list[str],
            keyword_at: list[str | None]) -> None:
    """A number no rule took, at most :data:`JOIN_GAP` words from a card's piece (a card number, an
    expiry, a security code) with no keyword between, and neither an amount nor a time, goes into
    that piece's span with the words between: it is the rest of what the caller read, which the
    recogniser split with a word (``O5's last 20`` for "oh five slash twenty seven"; base over mu-law).
    Any digit left in clear there is one of the card's. ``spans`` and ``taken`` are updated."""
    for run in found:
        if any(taken[run.first:run.last + 1]):
            continue
        # An amount only by its currency sign, right after a card number, is the number's rest as
        # the recogniser wrote it ("4012 8888 8888 $1,000 bit" for "... 8888 1881", tiny.en).
        if _amount(run, tokens, cores) and not (_sign_alone(run, tokens, cores) and any(
                s.entity == "CREDIT_CARD" and s.last + 1 == run.first for s in spans)):
            continue
        for n, span in enumerate(spans):
            if span.entity not in _CARD_PIECES:
                continue
            gap = range(span.last + 1, run.first) if run.first > span.last else range(run.last + 1, span.first)
            if len(gap) <= JOIN_GAP and not any(keyword_at[i] for i in gap):
                first, last = min(span.first, run.first), max(span.last, run.last)
                spans[n] = Span(first, last, span.entity)
                taken[first:last + 1] = [True] * (last + 1 - first)
                break


def _unit_misheard(spans: list[Span], taken: list[bool], found: list[Run], tokens: list[str], cores: list[str],
                   before: list[Context]) -> None:
    """In a card's or an SSN's keyword context, one digit and a unit right before a masked number, nothing
    between, is its first digits, the unit a digit misheard ("3 days [SSN_1] long." for "Yeah, three
    eight two oh." after "Can you confirm the last four of your social?", tiny.en over mu-law): it goes
    into the number's span. ``spans`` and ``taken`` are updated."""
    for run in found:
        unit = run.last + 1
        if len(run.digits) != 1 or any(taken[run.first:unit + 1]) or unit + 1 >= len(tokens) \
                or not (before[run.first].ssn or before[run.first].card) or cores[unit] not in _UNITS \
                or any(_pause(tokens[i]) for i in (run.last, unit)):
            continue
        for n, span in enumerate(spans):
            if span.first == unit + 1 and span.entity in NUMBER_SPANS:
                spans[n] = Span(run.first, span.last, span.entity)
                taken[run.first:unit + 1] = [True] * (unit + 1 - run.first)
                break


def _one_sec(i: int, tokens: list[str], cores: list[str]) -> bool:
    """Token ``i`` is the "one" of "one sec", "one moment": the caller asks the agent to wait, that phrase alone
    ("Sorry, one sec, it's a Visa.", held-out-41's own words; not "one, second group")."""
    return cores[i] == "one" and i + 1 < len(cores) and cores[i + 1] in ("sec", "second", "moment", "minute") \
        and not _pause(tokens[i]) and (_pause(tokens[i + 1]) or i + 2 == len(tokens))


def _lone_digits(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
                 before: list[Context], keyword_at: list[str | None], in_runs: frozenset[int]) -> None:
    """What the recogniser kept of a number it garbled, outside every number the rules read: a
    digit's word alone in a card's or an SSN's keyword context ("uno sociales uno nostres, cuatro
    tinkos": base over Spanish), a birth's, or after such a number; a homophone that starts the text or ends a
    sentence or the text there, in a phone number's, or after any number masked ("[CREDIT_CARD_1]
    near O'miral, near O'miral, for"). A homophone inside a sentence is a word ("pay for it"), a number word after a
    phone keyword a quantity ("two kids"). ``spans`` and ``taken`` are updated."""
    for i, token in enumerate(tokens):
        if taken[i] or i in in_runs or cores[i] not in DIGIT_SPELLINGS or i > 0 and cores[i - 1] in ("last", "first") \
                or _counts_digits(cores, i) or _one_sec(i, tokens, cores) or _pronoun_one(cores, i) \
                or _stranded(i, tokens, cores):
            continue  # ("the last four of my social", "the three digit code", "one sec,", "the full one", "what
            # for?": no digit)
        entity = _sensitive(kinds, before[i], keyword_at, i, i, ahead=cores[i] not in HOMOPHONES)
        homophone = cores[i] in HOMOPHONES
        if homophone and not (i == 0 or i == len(tokens) - 1 or token[-1:] in ".?!"):
            continue
        if entity == "PHONE_NUMBER" and not homophone:
            continue
        if not homophone and _hour_word(i, cores):
            continue  # an hour: "The meeting's at half past four." after "three cards", held-out-37
        # A card number or an SSN read is their context for the words after it, as their keyword is
        # (:func:`.redactor._card_read` carries it past the text).
        after = [s.entity for s in spans if s.entity in ("CREDIT_CARD", "SSN", *(("NUMBER",) if homophone else ()))
                 and 0 < i - s.last <= CONTEXT_WORDS]
        entity = entity or (after[-1] if after else None)
        # (A digit's word in the reply to a birth's question, no quantity: what the recogniser kept of the date it
        # garbled, "The circuit does not fit in, I take one." for "The second of the tenth, ninety one.",
        # held-out-53; "I have two dates on file." stays.)
        if entity is None and not homophone and "pii" in kinds and before[i].dob and not counts_a_noun(tokens, cores, i):
            entity = "DOB"
        if entity in ("CREDIT_CARD", "SSN", "PHONE_NUMBER", "NUMBER", "DOB"):
            _mask(spans, taken, i, i, entity)


# Words that begin a question whose last word may be a preposition left at its end ("How long is it good for?").
_QUESTION_WORDS = frozenset({"how", "what", "what's", "whats", "which", "who", "who's", "whom", "where", "where's",
                             "when", "why"})


def _stranded(i: int, tokens: list[str], cores: list[str]) -> bool:
    """Token ``i`` is "for" or "to" that ends a question begun by a question's word, "and", "so" or "but" before it
    or not: a preposition left at its end, no digit ("And how long is it good for?" after a card's groups,
    held-out-55's own words; "Who is it addressed to?"). Not before digits read: a recording's pack may deal a
    number's first digit to the question before it ("What do we reach for?" / "[PHONE_NUMBER_1] is ...", held-out-48,
    base in packs)."""
    if cores[i] not in ("for", "to") or tokens[i].rstrip()[-1:] != "?" \
            or i + 1 < len(cores) and (cores[i + 1] in DIGIT_SPELLINGS or cores[i + 1][:1].isdigit()):
        return False
    start = _sentence_start(i, tokens)
    while start < i and cores[start] in ("and", "so", "but", "okay", "ok"):
        start += 1
    return start < i and cores[start] in _QUESTION_WORDS


# Words between "the" and "one" that make it a pronoun ("And the full one, with the dashes?", held-out-54's agent
# asking for an SSN again, masked in its own words after the last four read).
_PRONOUN_ONE_AFTER = frozenset({"full", "whole", "entire", "other", "same", "complete", "long", "right", "correct"})


def _pronoun_one(cores: list[str], i: int) -> bool:
    """Token ``i`` is "one" after "the" and a word of :data:`_PRONOUN_ONE_AFTER`: a pronoun, no digit."""
    return cores[i] == "one" and i > 1 and cores[i - 2] == "the" and cores[i - 1] in _PRONOUN_ONE_AFTER


def _zero_glued(spans: list[Span], taken: list[bool], cores: list[str], kinds: tuple[str, ...],
                before: list[Context], keyword_at: list[str | None]) -> None:
    """A zero ("o") that the recogniser glued with hyphens to a word of three letters or more that says no digit:
    what it made of a number's digits around a zero, whatever the context ("I don't even know my near-o-tuan." for
    "The routing number is zero two one, ...", held-out-54, base over mu-law; "are re-o-pammon," for "sorry, oh seven
    twenty seven", held-out, tiny.en in packs over mu-law). Not a word spelled letter by letter ("J-O-N-E-S").
    ``spans`` and ``taken`` are updated."""
    for i, word in enumerate(cores):
        parts = word.split("-")
        if not taken[i] and "o" in parts and any(len(part) >= 3 and part not in DIGIT_SPELLINGS for part in parts):
            _mask(spans, taken, i, i, _named(_sensitive(kinds, before[i], keyword_at, i, i) or "NUMBER", kinds))


def _spellings_beside(spans: list[Span], taken: list[bool], cores: list[str], counts: set[int]) -> None:
    """A word that alone says a digit (``four``, ``oh``, a homophone: ``for``, ``too``; ``four-row``:
    :func:`_says_a_digit`) or "double"/"triple" (or glued to the word after it: "triple-frogs") that no rule took,
    right beside a number's span or one filler word from it (:data:`_FILLERS`; after "double"/"triple" any word, the
    digit it repeats), goes into that span with the word between: a digit of the number the recogniser wrote apart
    ("for the [CREDIT_CARD_1]" for "forty one, eleven"); not an hour its clock words say ("half past three"), nor
    a count of digits (``counts``: "First four?" before the group it asks for). ``spans`` and ``taken`` are updated."""
    changed = True
    while changed:
        changed = False
        for i, word in enumerate(cores):
            repeats = word in REPEAT_WORDS or repeat_glued(word)
            if taken[i] or i in counts or not (_says_a_digit(word) or repeats) or _counts_digits(cores, i) \
                    or word in _HOURS and _clock_said(i, cores):  # ("half past three", a number after it)
                continue
            for n, span in enumerate(spans):
                if span.entity not in NUMBER_SPANS:
                    continue
                gap = range(i + 1, span.first) if i < span.first else range(span.last + 1, i)
                # (The word after "double" or "triple" is the digit it repeats, whatever the recogniser made of it:
                # "triple tow [NUMBER_1]" for "triple two one", held-out-23, tiny.en over mu-law.)
                if len(gap) > 1 or any(cores[j] not in _FILLERS and not (j == i + 1 and repeats) for j in gap):
                    continue
                first, last = min(span.first, i), max(span.last, i)
                spans[n] = Span(first, last, span.entity)
                taken[first:last + 1] = [True] * (last + 1 - first)
                changed = True
                break


def _sensitive(kinds: tuple[str, ...], ctx: Context, keyword_at: list[str | None], first: int,
               last: int, *, ahead: bool = True) -> str | None:
    """The entity a number at tokens ``first``..``last`` is part of by its context alone: an SSN's,
    a card's or a phone number's (in that order), or None. ``ahead``: a keyword in the
    :data:`LOOKAHEAD` words after it counts too."""
    def near(name: str) -> bool:
        return ahead and name in keyword_at[last + 1:last + 1 + LOOKAHEAD]
    if ("ssn" in kinds or "pii" in kinds) and (ctx.ssn > 0 or near("ssn")):
        return "SSN"
    if "pci" in kinds and (ctx.card > 0 or near("card")):
        return "CREDIT_CARD"
    if "pii" in kinds and (ctx.phone > 0 or near("phone")):
        return "PHONE_NUMBER"
    return None


def _after_expiry(ctx: Context, run: Run, cores: list[str]) -> bool:
    """``run`` is within :data:`EXPIRY_NEAR` words of an expiry keyword, where a number is the expiry, not
    a price ("My credit card expired near of $5.20." for "... expires 05/27."); but a unit word after it
    still makes it one ("it expired 3 days ago")."""
    after = cores[run.last + 1] if run.last + 1 < len(cores) else ""
    return ctx.card > 0 and ctx.expiry and _since(ctx, "card") <= EXPIRY_NEAR and after not in _UNITS


def _code_of_card(tokens: list[str], cores: list[str], i: int) -> bool:
    """The card keyword at ``i`` ends the name of its security code: a code's word a few words before it
    in its sentence ("what's the security number on the card?": the CVV asked for, which "card" alone
    would have made the card number's context; held-out-13, base read the answer "Uh, it's eight one
    three." as ``It paid 1,3 and``, a price)."""
    start = max(0, i - 4)
    return cores[i] in ("card", "cards") and any(c in _CODE for c in cores[start:i]) \
        and not any(t.rstrip()[-1:] in ".?!" for t in tokens[start:i]) and "social" not in cores[start:i]


def _after_code(ctx: Context, run: Run, tokens: list[str]) -> bool:
    """``run`` (4 digits at most) is the first number within :data:`CODE_NEAR` words of a security code's
    keyword, in its sentence: the code, whatever unit the recogniser wrote after it ("The code on the
    Mac is all for 7 minutes." for "The code on the back is oh four seven.", tiny.en). Not one after
    the code ("the security code is 731 at 10 am"). The cost: a duration said first there ("the code
    expires in 10 minutes") is masked."""
    since = _since(ctx, "card")
    return ctx.card > 0 and ctx.code and since <= CODE_NEAR and len(run.digits) <= 4 and not any(
        token.rstrip()[-1:] in ".?!" or any(ch.isdigit() for ch in token)
        for token in tokens[max(0, run.first - since):run.first])


def _since(ctx: Context, name: str) -> int:
    """Words since the last ``name`` keyword (a large number when its context has lapsed)."""
    left = getattr(ctx, name)
    return (DOB_WORDS if name == "dob" else CONTEXT_WORDS) - left if left > 0 else 10**6


def _date_start(run: Run, tokens: list[str], cores: list[str]) -> int | None:
    """Where a spoken date that ends with ``run`` (its year) begins: a month right before it
    (``may 2027``), or a month and a day (``july twelfth 1976``, ``july 12th 1976``, ``the 12th of
    july 1976``); None if no month is there."""
    first = run.first
    if first > 1 and cores[first - 1] == "de" and cores[first - 2] in _MONTHS:  # "cinco de marzo de 2024"
        start = first - 2
        if start >= 2 and cores[start - 1] == "de" and _DAY.match(cores[start - 2]) or start >= 2 \
                and cores[start - 1] == "de" and cores[start - 2] in SPANISH_DIGITS:
            start -= 2
        return start
    if first > 0 and cores[first - 1] in _MONTHS:
        start = first - 1
        # "twelfth of july 1976", "12th of july" ("on" for "of", as the recogniser hears it: :func:`_month_at`)
        if start >= 2 and cores[start - 1] in ("of", "on") and _a_day(cores[start - 2]):
            start -= 2
        return start
    if first > 1 and cores[first - 1] in _ORDINALS and cores[first - 2] in _MONTHS:  # (a written day is in the run)
        return first - 2
    return None


def _dated_in_full(run: Run, tokens: list[str], cores: list[str]) -> int | None:
    """Where a date that ``run`` ends with its day and a year before 2020 begins ("November 3, 1972", "the 3rd of
    November 1972", "November third 1972", "tres de noviembre de 1972"): a date of birth's shape; None if it is no
    such date ("November 1972", "November 3", "March 3, 2024": a date of the call's matters, a delivery's)."""
    start = _date_start(run, tokens, cores)
    if start is None or not _date_digits(run, tokens) or len(run.digits) not in (4, 5, 6) \
            or int(run.digits[-4:]) >= 2020:
        return None
    if len(run.digits) == 4 and cores[start] in _MONTHS and cores[run.first - 1] not in _ORDINALS:
        return None
    return start


def _date_shaped(run: Run, tokens: list[str]) -> bool:
    """``run`` reads as a date: written with ``/`` or ``-`` (``05/03/1985``), or 6 or 8 digits that
    start with a month and a day either way round (``0503 1985``); not ``58,213`` (thousands)."""
    written = "".join(tokens[run.first:run.last + 1])
    if ("/" in written or "-" in written) and len(run.groups) >= 2:
        return True
    digits = run.digits
    if len(digits) not in (6, 8):
        return False
    a, b = int(digits[:2]), int(digits[2:4])
    return 1 <= a <= 12 and 1 <= b <= 31 or 1 <= b <= 12 and 1 <= a <= 31


def _minutes_after_homophone(run: Run, cores: list[str]) -> bool:
    """``run`` is a clock's minutes after its hour heard as a homophone after "at" ("The meeting is at free 30 in the
    afternoon.", tuning's negative as base and tiny.en wrote it over mu-law: masked in 5 of its decodes)."""
    first = run.first
    return first > 1 and cores[first - 2] == "at" and cores[first - 1] in _HOUR_HOMOPHONES \
        and len(run.digits) == 2 and int(run.digits) < 60


# Words between a price and its tax: "plus tax", "before tax".
_TAXED = frozenset({"plus", "before", "after", "including", "excluding", "without"})


def _taxed(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """``run`` is a price said with its tax or shipping right after it, no pause between: "It was 1999 plus tax."
    (held-out-52: masked in its own words and in most of its decodes), "forty two ninety nine plus shipping"
    (held-out-54's own words)."""
    return run.last + 2 < len(cores) and not _pause(tokens[run.last]) and cores[run.last + 1] in _TAXED \
        and cores[run.last + 2] in ("tax", "taxes", "vat", "shipping")


def _unit_after(run: Run, tokens: list[str], cores: list[str], *, card: bool = False, strict: bool = False,
                minutes: bool = False) -> bool:
    """``run`` is an amount or a time: a unit after it (or after a word such as "this" or "business":
    "4.30 this afternoon", "3 to 5 business days"), a currency sign or a colon in it, or two
    decimals; not two decimals alone in a card's context (``card``): "My card is" / "5.50." is
    "five five oh oh"; ``strict``: a day's word ("tonight", "this afternoon") makes a time only of a
    number with its minutes ("3.30 yesterday", "4 30 this afternoon"; not "on 3 tonight"); ``minutes``: ``run``
    is a clock's minutes whatever its digits (:func:`_minutes_after_homophone`)."""
    written = "".join(tokens[run.first:run.last + 1])
    # (by its digits: "seven fifteen" is 715)
    minutes = minutes or len(run.groups) == 2 and len(run.groups[1]) == 2 \
        or bool(re.fullmatch(r"(?:1[0-2]|0?[1-9])[0-5]\d", run.digits))
    # (Not strict, a day's word makes a time of an hour too, but of no longer number: "around 5309 tonight." after
    # "My number is 555 867" is a phone number's last group.)
    hour = bool(re.fullmatch(r"(?:1[0-2]|0?[1-9])(?:[:.]\d{1,2})?[.,]?", written))
    units = _UNITS - _DAY_WORDS if (strict or not hour) and not minutes else _UNITS
    # (Nor a word after the number's sentence ended: "Area code 415." / "Minute 6-2-4-9-9-1." for "... five five five",
    # held-out-38, base in packs, is no 415 minutes.)
    after = cores[run.last + 1] if run.last + 1 < len(cores) and tokens[run.last][-1:] not in ".?!" else ""
    if after in _BEFORE_UNIT and run.last + 2 < len(cores) and cores[run.last + 2] in units - _CLOCK:
        after = cores[run.last + 2]
    if after and _a_rate(run.last + 1, cores):
        after = "per"  # a rate: "9.95 a month", "12 per week"
    if _taxed(run, tokens, cores):
        return True
    # An amount's cents after its currency's word, a number before that: "cuarenta y nueve euros con noventa y nueve",
    # "twenty dollars and fifty" (spanish-3's own words, its cents masked); not "dollars and 11." after a card's
    # groups, where two digits may be the last group.
    if run.first > 2 and cores[run.first - 1] in ("con", "and", "y") and cores[run.first - 2] in _MONEY_UNITS \
            and len(run.digits) <= 2 and not _pause(tokens[run.first - 2]) \
            and not _pause(tokens[run.first - 3]) and (cores[run.first - 3] in _ONE_DIGIT or any(
                said.last == run.first - 3 for said in runs(tokens[:run.first - 2]))):
        return True
    if after == "in" and cores[run.last + 2:run.last + 4] in (["the", "morning"], ["the", "afternoon"],
                                                             ["the", "evening"]):
        after = cores[run.last + 3]  # "at 3 30 in the afternoon"
    if after in ("a", "p") and run.last + 2 < len(cores) and cores[run.last + 2] == "m":
        after += "m"  # "3 p .m." (the recogniser's word timings cut "p.m.")
    # A range's first number, whose unit is said once, after its second: "between forty and fifty dollars", "40 or
    # $50" (held-out-51: the first masked in its own words and in 9 of its 12 decodes); "and" only after "between".
    if after in ("and", "or") and len(run.digits) <= 3 and not _pause(tokens[run.last]) \
            and (after == "or" or run.first > 0 and cores[run.first - 1] == "between"):
        second = run.last + 2
        if second < len(tokens) and re.fullmatch(r"[$£€]\d{1,3}(?:\.\d\d)?", tokens[second].rstrip(".,?!;:")):
            return True
        if second + 1 < len(cores) and _one_number(cores[second]) and not _pause(tokens[second]):
            after = cores[second + 1]
    # A hundred and its tens, one amount as whisper writes "a hundred and twenty dollars": "100 and 20 dollars",
    # "100 and $20." (held-out-37: its 100 masked in 6 of 12 decodes); "900 and 2." stays a code's digits.
    tens = tokens[run.last + 2].rstrip(".,?!;:") if after == "and" and run.last + 2 < len(tokens) else ""
    if re.fullmatch(r"[1-9]00", run.digits) and re.fullmatch(r"\$?[1-9]\d?", tens) and not _pause(tokens[run.last]):
        if tens[0] == "$":
            return True
        after = cores[run.last + 3] if run.last + 3 < len(cores) and not _pause(tokens[run.last + 2]) else ""
    if after in _OCLOCK and not (len(run.digits) <= 2 and 1 <= int(run.digits) <= 12):
        # "o'clock" after no hour: "three three o'clock" for a read-back's "three three oh eight", held-out-36
        after = ""
    if after in _CLOCK and not _HOUR.match(written):
        # No time of day: base over mu-law wrote "... 0 .5 last 20 am" for an expiry, "oh five slash
        # twenty seven" (and "0 .5 last 20" is pieces of a number, not 5:20).
        after = ""
    # Two decimals as the recogniser wrote them: "3.30", or "3" ".30" (its word timings cut there);
    # not "4" ".1" "2", a group of digits read one by one.
    pieces = tokens[run.first:run.last + 1]
    decimal = bool(_DECIMAL.match(written)) and (len(pieces) == 1 or len(pieces) == 2
                                                 and bool(re.match(r"^\.\d{2}[.,]?$", pieces[1])))
    priced = _noun_is(run.first, cores, _PRICE_NOUNS)
    if decimal and written[:1] not in "$£€" and not priced \
            and not (run.first > 0 and cores[run.first - 1] in _SAID_BEFORE_DECIMAL):
        # With no currency nor a word before it that makes it a price or a time, two decimals are how the
        # recogniser writes a secret's pairs: "and it stopped from 11.29." for "good through eleven twenty
        # nine", "32.99" for "thirty two, ninety nine", "and it scored 311.29." (base): it fails closed.
        decimal = False
    if _HOUR_CLOCK.match(written.lower()):
        return True  # "See you at 3pm."
    # (A unit names the number said right before it: not one that a sentence's end splits, "the
    # eight. 1,000 days.", where the first words are another number's digits.)
    broken = any(t.rstrip()[-1:] in ".?!" for t in pieces[:-1])
    # A percent sign on it or right after it ("5%", "5.5%", "5" "%" as base's word timings cut it).
    percent = written.rstrip(".,?!;:").endswith("%") or run.last + 1 < len(tokens) and tokens[run.last + 1][:1] == "%"
    return after in units and not broken or _signed(run, tokens) or ":" in written or decimal and not card or percent


def _signed(run: Run, tokens: list[str]) -> bool:
    """``run`` is written with a currency sign, and what follows the sign's token in it says 2 digits at most
    or a scale ("$5 fifty", "$1 million"): not "$5,000 free hundred and nine." (tiny.en over mu-law for a
    phone number's "... five three oh nine", tuning), a number the recogniser glued to the sign's."""
    if tokens[run.first][:1] not in "$£€":
        return False
    tail = tokens[run.first + 1:run.last + 1]
    if all(core(t) in ("million", "billion", "thousand") for t in tail):
        return True
    return sum(len(r.digits) for r in runs(tail)) <= 2


def _priced(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """A word such as "charge" or "total" (:data:`_AMOUNT_BEFORE`) right before ``run``, or a price's noun
    and its verb ("The total was 200 and $10.", held-out-9), or "total of" ("a total of 10"), no punctuation
    between: "Socials, total, 3134," (base in packs for "Social's two two seven, thirty one, eight oh four
    four", the "two two" heard as "total") prices nothing."""
    first = run.first
    # (whom it cost between: "It cost me one fifty at the store.", held-out-21, masked in 15 of its 24 decodes;
    # or "another", "only", "just")
    verb = first - 1 if first > 1 and cores[first - 1] in _PRICE_BETWEEN and cores[first - 2] in _AMOUNT_BEFORE \
        else first
    # (Nor such a word right after a group and its comma: "My number 414, total 993", tiny.en in packs for "...
    # four one four, two nine nine three", held-out-11, is a digit misheard between the groups; nor before a
    # number written with ".0", as no price is: "and total 9.0." for "... two two nine oh.", held-out-23.
    # Nor after a group of 3 digits or more and "and": "4-7-1-7 and total 8 and" for "four seven one seven, and
    # two two oh eight,", base in packs, held-out-37.)
    # (Nor after a digit's word or a group that ends its sentence: "is the three total 1440", "503-221. Total 1. 40-40."
    # for "five oh three, two two one, forty forty", held-out-50; "4-9-3! Total 1, 40-40!", base in packs.)
    said = cores[verb - 2].replace("-", "") if verb > 1 else ""
    misheard = verb > 1 and (tokens[verb - 2].endswith(",") and said.isdigit()
                             or tokens[verb - 2].endswith((".", "!")) and said.isdigit() and len(said) >= 3
                             or cores[verb - 2] in DIGIT_NAMES and not _pause(tokens[verb - 2])) \
        or verb > 2 and cores[verb - 2] == "and" and (group := cores[verb - 3].replace("-", "")).isdigit() \
        and len(group) >= 3 \
        or bool(_POINT_ZERO.search("".join(tokens[first:run.last + 1])))
    return verb > 0 and cores[verb - 1] in _AMOUNT_BEFORE and not misheard \
        and not any(_pause(t) for t in tokens[verb - 1:first]) \
        or first > 1 and (_noun_is(first, cores, _PRICE_NOUNS) or cores[first - 2:first] == ["total", "of"]) \
        and not any(_pause(t) for t in tokens[first - 2:first]) \
        or _came_to(run, tokens, cores)


def _noun_is(first: int, cores: list[str], nouns: Container[str]) -> bool:
    """One of ``nouns`` and its verb (:data:`_NOUN_IS`) right before token ``first``: "The fee was 12.99.", "The
    final score was 21 to 14.", "The bill says 120."."""
    return first > 1 and cores[first - 1] in _NOUN_IS and cores[first - 2] in nouns


def _came_to(run: Run, tokens: list[str], cores: list[str]) -> bool:
    """A total said "came to", "comes to", "adds up to", maybe "about" or "around" between, no punctuation:
    "It came to about three fifty in the end." (its "to" may be the run's first word, read as a two)."""
    i = run.first + 1 if cores[run.first] == "to" and run.first < run.last else run.first
    if i > 0 and cores[i - 1] in ("about", "around"):
        i -= 1
    if i < 2 or cores[i - 1] != "to" or any(_pause(t) for t in tokens[i - 2:i]):
        return False
    return cores[i - 2] in _TOTAL_VERBS or cores[i - 2] == "up" and i > 2 and cores[i - 3] in ("adds", "added")


def _amount(run: Run, tokens: list[str], cores: list[str], *, card: bool = False) -> bool:
    """``run`` is an amount or a time: :func:`_unit_after`, a word such as "charge" right before it, or
    an hour after "quarter past", "half past"... (one word: "The meeting's at half past four." after "three
    cards", held-out-37). (Not where pieces are joined: "pay 4111. I'm 1111 1111 1111" is a card number
    whole.)"""
    return _unit_after(run, tokens, cores, card=card) or _priced(run, tokens, cores) \
        or _clock_hour(run, cores) and run.first == run.last


def _joined(found: list[Run], tokens: list[str], cores: list[str], kinds: tuple[str, ...],
            before: list[Context], keyword_at: list[str | None]) -> list[Run]:
    """``found`` with the runs of one number the recogniser split (see the module's docstring) joined."""
    out: list[Run] = []
    for run in found:
        if out:
            last = out[-1]
            gap = range(last.last + 1, run.first)
            if (len(gap) <= JOIN_GAP and not any(keyword_at[i] or cores[i] in _MONTHS or cores[i] in _UNITS
                                                  or cores[i] in _EXPIRY for i in gap)
                    and not _unit_after(last, tokens, cores) and not _unit_after(run, tokens, cores)
                    and (_sensitive(kinds, before[last.first], keyword_at, last.first, run.last)
                         # a card number is its own context ("4,000 and 12,000, 8888 1,881,881")
                         # (or makes one with the piece before: "4,000 and well-made, 888, 888, 1,881")
                         or "pci" in kinds and len(last.digits) + len(run.digits) >= 13)):
                out[-1] = Run(last.first, run.last, last.digits + run.digits, last.groups + run.groups)
                continue
        out.append(run)
    return out


def _near(keyword_at: list[str | None], run: Run, name: str) -> bool:
    """A keyword ``name`` within :data:`LOOKAHEAD` words after the run."""
    return name in keyword_at[run.last + 1:run.last + 1 + LOOKAHEAD]


def _by_final(run: Run, tokens: list[str], breaks: frozenset[int]) -> tuple[int, ...]:
    """How many digits of ``run`` each final it spans holds (one count if it is in one final)."""
    cuts = [i for i in sorted(breaks) if run.first < i <= run.last]
    if not cuts:
        return (len(run.digits),)
    bounds = [run.first, *cuts, run.last + 1]
    return tuple(sum(len(r.digits) for r in runs(tokens[a:b])) for a, b in zip(bounds, bounds[1:]))


def _classify(run: Run, tokens: list[str], cores: list[str], kinds: tuple[str, ...], ctx: Context,
              keyword_at: list[str | None], breaks: frozenset[int] = frozenset()) -> Span | None:
    n = len(run.digits)
    first, last = run.first, run.last
    month_before = first > 0 and cores[first - 1] in _MONTHS
    card = ctx.card > 0 or _near(keyword_at, run, "card")
    if "pci" in kinds:
        if n >= 13:
            # Luhn is not a gate: tiny.en writes "4111 1111 1111 1111" said aloud as
            # "4,111,111,111,111,111,111" (a group too many), and one misheard digit fails it.
            return Span(first, last, "CREDIT_CARD")
    # An SSN's 3-2-4 shape: in its written groups, or as three finals hold it, where the last group
    # may have a digit dropped or doubled (base over mu-law: "1 2 3" / "4-5" / "6, 8, 9").
    by_final = _by_final(run, tokens, breaks)
    ssn_shape = n == 9 and tuple(map(len, run.groups)) == (3, 2, 4) or (
        len(by_final) == 3 and by_final[:2] == (3, 2) and 3 <= by_final[2] <= 5)
    ssn_context = ctx.ssn > 0 or _near(keyword_at, run, "ssn")
    # In a social security context any 5-12 digits: the recogniser splits and pads SSNs
    # ("123-45-6,700-80" for 123-45-6789). Before the card context's rules: "... 6789. The
    # card is" is an SSN and then a card.
    if ("ssn" in kinds or "pii" in kinds) and (ssn_shape or ssn_context and 5 <= n <= 12):
        return Span(first, last, "SSN")
    amount = _amount(run, tokens, cores, card=card and "pci" in kinds) and not _after_expiry(ctx, run, cores) \
        and not _after_code(ctx, run, tokens)
    # Words since the card keyword, for the rules below where a nearer keyword wins (0: one right after).
    card_since = 0 if _near(keyword_at, run, "card") else _since(ctx, "card")
    # After a social security keyword, shorter numbers too: the last four digits ("the last four of
    # my social are 6789", which Deepgram's pii redacts too) and what the recogniser kept of one
    # read in pieces ("6th Ammonator Island" for "six seven eight nine"); unless a card keyword is nearer.
    if ("ssn" in kinds or "pii" in kinds) and ctx.ssn > 0 and n <= 4 and not amount \
            and _since(ctx, "ssn") < card_since:
        # (A year that ends a date of birth's shape goes with its day and month: "The third of March, 1976." after
        # an SSN, the birth's keyword lost, held-out-42.)
        start = _dated_in_full(run, tokens, cores)
        if start is not None:
            return Span(start, last, "DOB" if "pii" in kinds else "SSN")
        return Span(first, last, "SSN")
    if "pii" in kinds and not amount:
        # A house number with its street, or a number a keyword nearer than the card's names
        # (a phone number, a date of birth, an account after a card was talked about): that
        # entity, not a card's piece. Deepgram's example: "... the cvv code is one one one i live
        # at one two three main street dallas texas seven five two zero one my phone number is
        # ..." has an address and a phone number after the card's words.
        address = _address(run, tokens, cores)
        if address is not None:
            return address
        if _since(ctx, "dob") < card_since and (born := _birth_date(run, tokens, cores)) is not None:
            return born
        if _since(ctx, "phone") < card_since and (n == 7 or 9 <= n <= 12):
            return Span(first, last, "PHONE_NUMBER")
        # A phone number's group of 3 or 4 digits after a phone keyword: what the recogniser kept of
        # one it garbled ("call me on time 150 if I may 300 eyes" for "555 867 5309").
        # (Not a year after a month: "the fifth of June, 2023".)
        if ctx.phone > 0 and 3 <= n <= 4 and ctx.card == 0 and not (n == 4 and _date_start(run, tokens, cores)) \
                and not _said_bare(run, cores) and not _said_plainly(run, tokens, cores, breaks, card="pci" in kinds) \
                and not _idiom(run, tokens, cores):
            # ("call me after 215": a time; "we need 400 forms" after a phone number: a count)
            return Span(first, last, "PHONE_NUMBER")
        if _since(ctx, "account") < card_since and n >= 4:
            return Span(first, last, "ACCOUNT_NUMBER")
    if "pci" in kinds and not amount:
        if card and month_before:
            return Span(first - 1, last, "CREDIT_CARD_EXPIRATION")
        if card and n == 2 and first > 0 and cores[first - 1] in ("slash", "/"):  # an expiry's year: "... slash 27"
            return Span(first - 1, last, "CREDIT_CARD_EXPIRATION")
        # A stray digit of a number read in pieces (after "card"), or two read one by one ("M and 3
        # one" or "M and 3-1" for "seven three one", "0 5" for "oh five"); not a numeral of two
        # digits ("in 10 pays").
        if ctx.card > 0 and (n == 1 or n == 2 and (last > first or len(run.groups) == 2)):
            return Span(first, last, "CREDIT_CARD")
        if card and 3 <= n <= 12:
            # An expiry: after an expiry keyword, written with a slash, or month and year in two
            # groups; or, unless a security code's keyword came last, 4 digits that read MMYY or 6
            # MMYYYY ("1226", its keyword misheard: a security code of 4 digits is said after its own).
            month = 1 <= int(run.digits[:2]) <= 12
            expiry = ctx.expiry or any("/" in t for t in tokens[first:last + 1]) or (
                n in (4, 6) and month and len(run.groups) == 2) or (
                not ctx.code and month and (n == 4 or n == 6 and run.digits[2:4] == "20"))
            if n >= 7:
                return Span(first, last, "CREDIT_CARD")
            return Span(first, last, "CREDIT_CARD_EXPIRATION" if expiry else "CVV")
    if "pii" in kinds:
        phone = ctx.phone > 0 or _near(keyword_at, run, "phone")
        # (in a phone context also 9, 11 and 12: the recogniser drops or doubles digits, "555 867 53009",
        # "5555-867-55300-I" with a prompt)
        if n == 10 or n == 11 and run.digits[0] == "1" or phone and (n == 7 or 9 <= n <= 12) and not amount:
            return Span(first, last, "PHONE_NUMBER")
        if n >= 4 and (ctx.account > 0 or _near(keyword_at, run, "account")):
            return Span(first, last, "ACCOUNT_NUMBER")
        if (ctx.dob > 0 or _near(keyword_at, run, "dob")) and (born := _birth_date(run, tokens, cores)) is not None:
            return born
    if "numbers" in kinds:
        return Span(first, last, "NUMBER")
    return None


def _address(run: Run, tokens: list[str], cores: list[str]) -> Span | None:
    """A street address that begins with ``run`` (a house number of 6 digits at most): up to three
    words and a street suffix in its sentence, then the city and state's words and a ZIP code of 5 (or 9) digits
    within four words after the suffix (``123 main street dallas texas 75201``), no preposition before the
    suffix but after an address's keyword ("doing 70 on the highway" names no house); or, in an address
    context ("I live at 42 Elms Treet", the suffix misheard), the house number and up to three
    words after it, to the end of the sentence. None if neither."""
    first, last = run.first, run.last
    if len(run.digits) > 6:
        return None
    keyword = any(c in _ADDRESS for c in cores[max(0, first - 3):first])
    for j in range(last + 1, min(last + 5, len(tokens))):
        if tokens[j - 1].rstrip()[-1:] in ".?!":
            break  # (a sentence's end: "five, four, three, two, one. No way." is no address)
        if cores[j] in _BY_A_ROAD and not keyword:
            break  # (no street's name: "He was doing 70 on the highway.", held-out-17)
        if cores[j] in _STREET:
            end = j
            if tokens[j].rstrip()[-1:] not in ".?!":
                for zip_code in runs(tokens[j + 1:j + 5 + 5]):
                    if zip_code.first <= 4 and len(zip_code.digits) in (5, 9):
                        end = j + 1 + zip_code.last
                        break
            return Span(first, end, "LOCATION_ADDRESS")
    if keyword and last + 1 < len(tokens) and cores[last + 1] not in _STOP:
        j = last + 1
        while j + 1 < min(last + 4, len(tokens)) and cores[j + 1] not in _STOP \
                and tokens[j].rstrip()[-1:] not in ".,?!;":
            j += 1
        return Span(first, j, "LOCATION_ADDRESS")
    return None


def _country_code(spans: list[Span], taken: list[bool], cores: list[str], before: list[Context]) -> None:
    """A country code after "plus" where a phone's keyword holds, its digits' words or homophones up to three:
    "Plus, for the Samron Samron Double Law," for "plus four four, seven seven double oh," after "You can reach me
    on my mobile," (held-out-47, base in packs over mu-law: the "for" in clear beside the number's rest).
    ``spans`` and ``taken`` are updated."""
    for i in range(1, len(cores)):
        if cores[i - 1] != "plus" or not before[i].phone:
            continue
        j = i
        while j < len(cores) and j - i < 3 and cores[j] in DIGIT_SPELLINGS and not taken[j]:
            j += 1
        if j > i:
            _mask(spans, taken, i, j - 1, "PHONE_NUMBER")


# Spanish days said as words that are no run alone: a digit's word, and "primero" ("el primero de mayo").
_DIAS = frozenset(SPANISH_DIGITS) - {"cero"} | {"primero"}


def _birthday_in_words(spans: list[Span], taken: list[bool], cores: list[str], before: list[Context]) -> None:
    """A date of birth whose day is an ordinal's word, its month beside it, where a birth's keyword holds: "My
    birthday is the third of May.", "born on May twenty-first", "Nací el tres de mayo." (no run for the number rules
    to take; with a year after it the year's run takes the whole date first); or, no birth's keyword heard, right
    before its year masked as an SSN's or a birth's ("The third of March, ITC [SSN_2]." after the SSN, held-out-42);
    or a day written as an ordinal's digits alone where a birth's keyword holds, the answer's month and year garbled
    ("So for last year, on the 19th." for held-out-51's "Oh four slash twelve slash nineteen ninety.", base in packs
    over mu-law; there the question was garbled too, "not on the first?", and it stays in clear); or its month and
    day, in words or digits, right after its year masked whatever the keyword ("[NUMBER_1], March 9th." for
    held-out-55's "Nineteen eighty four, March the ninth."), and where a birth's keyword holds, the year before the
    date the number rules masked ("I was born in 1984, [DOB_1]."). ``spans`` and ``taken`` are updated."""
    for i, word in enumerate(cores):
        if not taken[i] and before[i].dob and _WRITTEN_ORDINAL.match(word) and 1 <= int(word[:-2]) <= 31:
            _mask(spans, taken, i, i, "DOB")
        # (Its month before it, "the" between or not: "March 9th", "March the ninth".)
        month_before = i - 1 if i > 0 and cores[i - 1] in _MONTHS else \
            i - 2 if i > 1 and cores[i - 1] == "the" and cores[i - 2] in _MONTHS else None
        if not taken[i] and month_before is not None and _day_said(word) and _year_masked_before(spans, cores,
                                                                                                 month_before):
            _mask(spans, taken, month_before, i, "DOB")
        if taken[i] or word not in _ORDINALS and word not in _DIAS:
            continue
        # (Its month after it, "of", "on" or "de" between or not; an ordinal's before it too: "May third".)
        month = _month_at(i, cores)
        if month is not None:
            first, last = i, month
        elif i > 0 and cores[i - 1] in _MONTHS and word in _ORDINALS:
            first, last = i - 1, i
        else:
            continue
        year = any(span.entity in ("SSN", "DOB") and last < span.first <= last + 2 for span in spans)
        if (before[i].dob or year) and not any(taken[first:last + 1]):
            _mask(spans, taken, first, last, "DOB")
    for span in [span for span in spans if span.entity == "DOB"]:
        at = span.first - 1
        if at >= 0 and _YEAR.fullmatch(cores[at]) and before[at].dob and not taken[at]:
            _mask(spans, taken, at, at, "DOB")


def _day_said(word: str) -> bool:
    """``word`` (a core) is a month's day: an ordinal's word, its digits ("9th") or a number 1-31."""
    return word in _ORDINALS or bool(_WRITTEN_ORDINAL.match(word)) or word.isdigit() and 1 <= int(word) <= 31


def _year_masked_before(spans: list[Span], cores: list[str], month: int) -> bool:
    """A masked span ends right before the ``month`` token and its last number may be a year: it ends in one (four
    digits 1900-2099, in digits or words; "I was born in 1990." / "Nineteen eighty four, March the ninth." is one
    run), or it is 3 or 4 digits, a year the recogniser misheard ("and 8884, March 9th.", "I-884, March 9th,", base,
    held-out-55): the date after it is the same date."""
    for span in spans:
        if span.last == month - 1:
            said = runs(cores[span.first:span.last + 1])
            return bool(said) and (_YEAR.fullmatch(said[-1].digits[-4:]) is not None or 3 <= len(said[-1].digits) <= 4)
    return False


def _spoken_house_numbers(spans: list[Span], taken: list[bool], tokens: list[str], cores: list[str]) -> None:
    """A house number the recogniser wrote as a digit's word or a homophone, then up to three
    capitalised words and a street suffix ("I will not forget to Elm Street." for "I live at 42 Elm
    Street."): an address from the number to the suffix. ``spans`` and ``taken`` are updated."""
    for i in range(len(tokens) - 2):
        if taken[i] or cores[i] not in DIGIT_SPELLINGS:
            continue
        # The house number's other digits before it, a filler word apart ("for the two" for "42").
        first = i
        while first > 0 and not taken[first - 1] and (cores[first - 1] in DIGIT_SPELLINGS or first > 1
                                                       and cores[first - 1] in _FILLERS
                                                       and cores[first - 2] in DIGIT_SPELLINGS
                                                       and not taken[first - 2]):
            first -= 1 if cores[first - 1] in DIGIT_SPELLINGS else 2
        # (Capitalised; or, the recogniser writing the street in lower case, a digit's own word, not a
        # homophone, after another digit's: "I limit for the two elm street", not "walked to the main
        # street" nor "one main street".)
        lower = cores[i] not in HOMOPHONES and first < i
        for j in range(i + 2, min(i + 5, len(tokens))):
            if cores[j] in _STREET and not any(taken[i:j + 1]) and (lower or all(t[:1].isupper() for t in tokens[i + 1:j])):
                _mask(spans, taken, first, j, "LOCATION_ADDRESS")
                break


def _emails(tokens: list[str], cores: list[str]) -> list[Span]:
    """Written addresses, and spoken ones: ``john dot smith at example dot com``; whisper's word
    timings cut a written one at its dots (``edlampal`` ``.com``): such pieces are read joined."""
    pieces: list[tuple[int, int]] = []  # (first, last) token of each joined word
    for i, token in enumerate(tokens):
        if pieces and re.match(r"^\.[A-Za-z0-9]", token) and not tokens[i - 1].rstrip().endswith((",", "?", "!")):
            pieces[-1] = (pieces[-1][0], i)
        else:
            pieces.append((i, i))
    if len(pieces) < len(tokens):
        joined = ["".join(tokens[a:b + 1]) for a, b in pieces]
        return [Span(pieces[s.first][0], pieces[s.last][1], s.entity)
                for s in _emails(joined, [core(t) for t in joined])]
    spans = []
    i = 0
    while i < len(tokens):
        if _WRITTEN_EMAIL.search(tokens[i]) or _DOMAIN.match(cores[i]) and "email" in cores[max(0, i - 4):i]:
            # (A domain after "email": the recogniser heard "at" as part of a word.)
            spans.append(Span(i, i, "EMAIL_ADDRESS"))
        elif cores[i] == "at" and 0 < i < len(tokens) - 1:
            # Right: a written domain, or words joined by "dot" (at least one dot).
            j = i + 1
            if _DOMAIN.match(cores[j]):
                end = j
            else:
                end, k = None, j
                while k + 2 < len(tokens) and _NAME_PART.match(cores[k]) and cores[k + 1] == "dot" \
                        and _NAME_PART.match(cores[k + 2]):
                    end, k = k + 2, k + 2
            if end is not None and _NAME_PART.match(cores[i - 1]):
                start = i - 1
                while start >= 2 and cores[start - 1] in ("dot", "underscore", "dash") \
                        and _NAME_PART.match(cores[start - 2]):
                    start -= 2
                if spans and spans[-1].last >= start:  # the name before "at" was taken alone
                    start = min(start, spans.pop().first)
                spans.append(Span(start, end, "EMAIL_ADDRESS"))
                i = end + 1
                continue
        i += 1
    return spans

"""The transcript contract (docs/contract.md) as a pure checker: a session's messages in, its violations out.

A client may rely on a few invariants per channel, whatever the door: finals' audio spans are
disjoint and in order; every utterance gets one final and no partial after it; a final's text is
its own audio's words (nothing an earlier final said, unless said again); the language is the one
asked for, or one detected and kept, written in its own script; every stretch of speech is in a
final. :func:`check` takes one session's (or one channel's) transcripts as :class:`Event`\\ s, in
the order a client got them, and returns each :class:`Violation`. The ``from_*`` functions turn
each door's wire messages (decoded JSON) into events.

No I/O and nothing of the ASR's internals: the tests' kit (tests/kit/contract.py), the benches
and the gateway can all use it on what they see.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .languages import language_code

__all__ = ["Event", "Violation", "check", "check_call", "alert_problems", "describe", "from_native", "from_twilio",
           "from_deepgram", "from_flux", "from_audiohook", "from_finals_stream", "KINDS", "SESSION_KINDS",
           "CALL_KINDS"]

# -- thresholds ----------------------------------------------------------------------------------

# Finals' spans are cut on one sample clock per channel and the contract says disjoint: any overlap
# is a violation. (A tolerance here would hide the 100 ms overlaps of an early final and the VAD's
# endpoint finalising the same audio.)
OVERLAP_TOLERANCE_MS = 0

# Repeated text: a final that starts with an earlier final's words or lies within them. Fewer than
# three words repeat by chance ("Thank you." "Thank you."), so shorter texts are not compared.
REPEAT_MIN_WORDS = 3
# ... or that holds an earlier final's words anywhere, one of them changed ("I'm not sure. I never
# received a confirmation email. The technician ..." after "I never received the confirmation
# email."): from this many words, where a word of one's own in a recurring phrase is rare.
REPEAT_INSIDE_WORDS = 4
# How many finals back a repeat is looked for: a repeat of a reply "spoken seconds earlier" was
# seen two finals later; a sentence said again after other speech is legitimate, the duration
# test below tells them apart.
REPEAT_LOOKBACK = 3
# A repeat is taken as said again when the final's own span could hold its words at the pace the
# earlier final was spoken: at least this fraction of the time they took there (the VAD trims a
# little margin off some spans; a decode that carries text over has a fraction of it, 0.06 to 0.5
# in the cases seen).
REPEAT_PACE_FRACTION = 0.75
# Five or more words said twice in a row inside one final: "we were all going direct the other
# way we were all going direct the other way". Natural speech repeats short phrases ("it was the
# age of wisdom, it was the age of foolishness" is not adjacent), hardly five words back to back.
ADJACENT_REPEAT_WORDS = 5
# Words per second of a final's own span above which its text cannot come from its audio. Fast
# conversational English is 4-5 words/s, auctioneers reach 6-7; 8 leaves room for spans trimmed
# to the words (AudioHook's) and tight VAD margins. Only with enough words for a rate to mean
# anything.
MAX_WORDS_PER_SECOND = 8.0
RATE_MIN_WORDS = 3

# A session's language changes only on strong evidence over several utterances: this many
# consecutive finals in the new language, with this many words between them. A single final in
# another language, then back, is a flip.
LANGUAGE_SWITCH_FINALS = 3
LANGUAGE_SWITCH_WORDS = 10

# A speech stretch (given by the caller: the VAD's, or where a test put speech) is lost when finals
# cover less than this fraction of it. Spans carry the VAD's margins and a final may end a little
# early, so partial cover is cover; a stretch no final touches, or barely, is lost.
LOST_COVER_FRACTION = 0.5

# Text tagged with a language other than English whose words are this largely English function
# words is English mis-tagged (whisper's "la" for English speech). Only with enough words.
ENGLISH_SHARE = 0.4
ENGLISH_MIN_WORDS = 5
# Unambiguous English function words: none is a common word of another Latin-script language
# ("a", "no", "me", "he", "in", "die", and "is", "was", "we" (Dutch), "will" (German), "to",
# "my" (Polish), "do" (Portuguese), "has" (Spanish) are left out for that reason).
ENGLISH_WORDS = frozenset(
    "the and you your are were what that this with have for of it be they can not "
    "would could should there their which who how when where why our".split())

# Scripts a language's text may use besides digits and punctuation: unicodedata names' first word.
# Non-Latin languages may also hold Latin letters (brand names, "OK"); Latin-script languages
# only Latin. A language in neither table is not checked.
LATIN_LANGUAGES = frozenset(
    "en es fr de it pt nl pl sv da no nb nn fi tr cs sk sl hr bs sr ro hu vi id ms tl ca gl eu la et lv lt "
    "sq af sw cy ga is mt az uz tk ha yo so mi haw ln sn jw su br lb fo oc".split())
SCRIPTS: Mapping[str, frozenset[str]] = {
    "ru": frozenset({"CYRILLIC"}), "uk": frozenset({"CYRILLIC"}), "be": frozenset({"CYRILLIC"}),
    "bg": frozenset({"CYRILLIC"}), "mk": frozenset({"CYRILLIC"}), "kk": frozenset({"CYRILLIC"}),
    "mn": frozenset({"CYRILLIC"}), "el": frozenset({"GREEK"}), "ar": frozenset({"ARABIC"}),
    "fa": frozenset({"ARABIC"}), "ur": frozenset({"ARABIC"}), "he": frozenset({"HEBREW"}),
    "yi": frozenset({"HEBREW"}), "hi": frozenset({"DEVANAGARI"}), "mr": frozenset({"DEVANAGARI"}),
    "ne": frozenset({"DEVANAGARI"}), "bn": frozenset({"BENGALI"}), "ta": frozenset({"TAMIL"}),
    "te": frozenset({"TELUGU"}), "th": frozenset({"THAI"}), "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}), "zh": frozenset({"CJK"}), "yue": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}), "ko": frozenset({"HANGUL", "CJK"}),
}

# Numbers a redaction of these kinds leaves no trace of (common/redaction): a card's 13-19 digits
# (spaces or hyphens between groups), a social security number's 3-2-4. A final holding one was
# not redacted: the option was dropped.
UNREDACTED = {
    "pci": re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
    "ssn": re.compile(r"(?<![\d-])\d{3}[ -]?\d{2}[ -]?\d{4}(?![\d-])"),
}
UNREDACTED["numbers"] = re.compile(f"{UNREDACTED['pci'].pattern}|{UNREDACTED['ssn'].pattern}")

# Alerts of stretches of a call (a dead air, an overtalk): the summary lists each (docs/analytics.md).
STRETCHES = ("dead_air", "overtalk")

# What :func:`check` reports of a session's transcripts, and :func:`check_call` of a call's log.
SESSION_KINDS = ("overlap", "duplicate_final", "repeated_text", "partial_after_final", "language_flip",
                 "wrong_script", "wrong_language", "lost_speech")
CALL_KINDS = ("option_dropped", "alert_disagrees")
KINDS = SESSION_KINDS + CALL_KINDS


# -- the data --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One transcript a client got, in audio time (ms from the channel's start).

    ``utterance_id`` None: the door names no utterances (Deepgram's ``Results``); then finals are
    not matched by id, and a partial belongs to a finished utterance when it starts inside the
    audio a final already covered. ``flags``: what the final says of itself (``no_words``:
    speech with no words recognised; ``truncated``: words cut out).
    """

    kind: Literal["partial", "final"]
    text: str
    start_ms: int
    end_ms: int
    utterance_id: str | None = None
    channel: int = 0
    language: str = ""
    speech_final: bool = True
    flags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ("partial", "final"):
            raise ValueError(f"an event is a partial or a final, not {self.kind!r}")
        if self.end_ms < self.start_ms:
            raise ValueError(f"an event ends before it starts: {self.start_ms}-{self.end_ms} ms")


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant: its kind (one of :data:`KINDS`), what was seen, and the index of the
    event that broke it in the list given to :func:`check` (-1: none, e.g. speech no final covers)."""

    kind: str
    detail: str
    index: int


# -- the checker -----------------------------------------------------------------------------------

def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation, in any script (what repeats are compared on)."""
    return re.findall(r"\w+(?:'\w+)*", text.lower())


def check(events: Sequence[Event], *, language: str | None = None,
          speech: Mapping[int, Sequence[tuple[int, int]]] | None = None,
          reference: Mapping[int, str] | None = None) -> list[Violation]:
    """Every violation of the contract in one session's ``events`` (in the order a client got them).

    Channels are checked apart. Optional knowledge: ``language`` the session asked for (a code or
    tag; None: detected, so the first final's is settled); ``speech`` per channel, stretches (ms)
    that hold speech (the VAD's, or where a test put it), for ``lost_speech``; ``reference`` per
    channel, what was said: a repeat is then legitimate only if the reference says it twice.
    """
    violations: list[Violation] = []
    channels = sorted({event.channel for event in events} | set(speech or {}))
    for channel in channels:
        indexed = [(i, e) for i, e in enumerate(events) if e.channel == channel]
        said = words_of(reference[channel]) if reference and channel in reference else None
        violations += _check_channel(indexed, language=language_code(language) if language else None,
                                     speech=(speech or {}).get(channel), reference=said)
    return sorted(violations, key=lambda v: (v.index, v.kind))


@dataclass(slots=True)
class _Final:
    index: int
    event: Event
    words: list[str] = field(default_factory=list)


def _check_channel(indexed: list[tuple[int, Event]], *, language: str | None,
                   speech: Sequence[tuple[int, int]] | None, reference: list[str] | None) -> list[Violation]:
    out: list[Violation] = []
    finals: list[_Final] = []
    final_ids: dict[str, int] = {}
    for index, event in indexed:
        if event.kind == "partial":
            out += _partial(index, event, finals, final_ids)
            continue
        if event.utterance_id is not None:
            if event.utterance_id in final_ids:
                out.append(Violation("duplicate_final", f"utterance {event.utterance_id} already had its final "
                                     f"(event {final_ids[event.utterance_id]})", index))
            else:
                final_ids[event.utterance_id] = index
        current = _Final(index, event, words_of(event.text))
        if event.end_ms > event.start_ms or current.words:  # an empty zero-length final (a flush) spans nothing
            out += _overlap(current, finals)
        out += _repeated(current, finals, reference)
        out += _script(current)
        if current.words or event.end_ms > event.start_ms:
            finals.append(current)
    out += _languages(finals, language)
    if speech:
        out += _lost(speech, finals)
    return out


def _partial(index: int, event: Event, finals: list[_Final], final_ids: dict[str, int]) -> list[Violation]:
    if event.utterance_id is not None:
        if event.utterance_id in final_ids:
            return [Violation("partial_after_final", f"partial {event.text!r} of utterance {event.utterance_id}, "
                              f"whose final was event {final_ids[event.utterance_id]}", index)]
        return []
    last_end = max((f.event.end_ms for f in finals), default=None)
    if last_end is not None and event.text.strip() and event.start_ms < last_end - OVERLAP_TOLERANCE_MS:
        return [Violation("partial_after_final", f"partial {event.text!r} at {_span(event)} starts inside "
                          f"audio already finalised (up to {last_end} ms)", index)]
    return []


def _overlap(current: _Final, finals: list[_Final]) -> list[Violation]:
    event = current.event
    for earlier in reversed(finals):
        other = earlier.event
        if event.start_ms < other.end_ms - OVERLAP_TOLERANCE_MS and other.start_ms < event.end_ms:
            return [Violation("overlap", f"{_span(event)} {event.text!r} overlaps event {earlier.index}'s "
                              f"{_span(other)} {other.text!r}", current.index)]
    if finals and event.start_ms < finals[-1].event.start_ms:
        other = finals[-1].event
        return [Violation("overlap", f"{_span(event)} {event.text!r} goes back before event "
                          f"{finals[-1].index}'s {_span(other)}", current.index)]
    return []


def _repeated(current: _Final, finals: list[_Final], reference: list[str] | None) -> list[Violation]:
    event, words = current.event, current.words
    seconds = (event.end_ms - event.start_ms) / 1000
    out: list[Violation] = []
    if len(words) >= RATE_MIN_WORDS and (seconds <= 0 or len(words) / seconds > MAX_WORDS_PER_SECOND):
        out.append(Violation("repeated_text", f"{len(words)} words in {seconds:.3f} s of audio ({_span(event)} "
                             f"{event.text!r}): more than {MAX_WORDS_PER_SECOND:g} words/s cannot come from it",
                             current.index))
    run = _adjacent_repeat(words)
    if run and (reference is None or not _contains(reference, run + run)):
        out.append(Violation("repeated_text", f"{' '.join(run)!r} twice in a row in {event.text!r}", current.index))
    for earlier in reversed(finals[-REPEAT_LOOKBACK:]):
        repeated = _repeat_of(words, earlier.words)
        if repeated is None:
            continue
        if reference is not None:
            # (Said twice; or, a word changed, said as such: "It was the season of darkness." after
            # "... light.")
            if _count(reference, repeated) >= (1 if _count(earlier.words, repeated) == 0 else 2):
                continue
        elif _said_again(event, words, earlier):
            continue
        out.append(Violation("repeated_text", f"{_span(event)} {event.text!r} repeats event {earlier.index}'s "
                             f"{_span(earlier.event)} {earlier.event.text!r}", current.index))
        break
    return out


def _repeat_of(words: list[str], earlier: list[str]) -> list[str] | None:
    """This final's words that repeat the earlier one's: all of those at its start, all of its own
    inside them, or all of those inside its own, one word changed at most (None: no repeat worth the
    name)."""
    if len(earlier) >= REPEAT_MIN_WORDS and words[:len(earlier)] == earlier:
        return earlier
    if len(words) >= REPEAT_MIN_WORDS and _contains(earlier, words):
        return words
    n = len(earlier)
    if n >= REPEAT_INSIDE_WORDS:
        for i in range(len(words) - n + 1):
            if sum(a != b for a, b in zip(words[i:i + n], earlier)) <= 1:
                return words[i:i + n]
    return None


def _said_again(event: Event, words: list[str], earlier: _Final) -> bool:
    """Whether the final's span could hold its words at the earlier final's pace."""
    earlier_seconds = (earlier.event.end_ms - earlier.event.start_ms) / 1000
    if earlier_seconds <= 0 or not earlier.words:
        return False
    needed = len(words) * earlier_seconds / len(earlier.words)
    return (event.end_ms - event.start_ms) / 1000 >= REPEAT_PACE_FRACTION * needed


def _adjacent_repeat(words: list[str]) -> list[str] | None:
    for size in range(len(words) // 2, ADJACENT_REPEAT_WORDS - 1, -1):
        for start in range(len(words) - 2 * size + 1):
            if words[start:start + size] == words[start + size:start + 2 * size]:
                return words[start:start + size]
    return None


def _contains(haystack: list[str], needle: list[str]) -> bool:
    return _count(haystack, needle) > 0


def _count(haystack: list[str], needle: list[str]) -> int:
    n = len(needle)
    return sum(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1)) if n else 0


def scripts_of(text: str) -> set[str]:
    """The scripts of ``text``'s letters (``LATIN``, ``CJK``, ``THAI``...: unicodedata names' first word)."""
    found = set()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            name = unicodedata.name(char, "")
            if name:
                found.add(name.split()[0])
    return found


def _script(current: _Final) -> list[Violation]:
    event = current.event
    language = language_code(event.language) if event.language else ""
    if not language or not current.words:
        return []
    scripts = scripts_of(event.text)
    allowed = frozenset({"LATIN"}) if language in LATIN_LANGUAGES else SCRIPTS.get(language, frozenset()) | {"LATIN"}
    if language in LATIN_LANGUAGES or language in SCRIPTS:
        if wrong := scripts - allowed:
            return [Violation("wrong_script", f"{event.text!r} tagged {event.language!r} holds "
                              f"{', '.join(sorted(wrong))} letters", current.index)]
    if language != "en" and len(current.words) >= ENGLISH_MIN_WORDS:
        english = sum(word in ENGLISH_WORDS for word in current.words)
        if english / len(current.words) >= ENGLISH_SHARE:
            return [Violation("wrong_language", f"{event.text!r} is English ({english} of {len(current.words)} "
                              f"words English function words) tagged {event.language!r}", current.index)]
    return []


def _languages(finals: list[_Final], asked: str | None) -> list[Violation]:
    tagged = [(f, language_code(f.event.language)) for f in finals if f.event.language and f.words]
    out: list[Violation] = []
    if asked is not None:
        return [Violation("language_flip", f"{f.event.text!r} in {f.event.language!r}, the session asked for "
                          f"{asked!r}", f.index) for f, language in tagged if language != asked]
    settled: str | None = None
    i = 0
    while i < len(tagged):
        final, language = tagged[i]
        if settled is None:
            settled = language
        if language == settled:
            i += 1
            continue
        run = 0
        while i + run < len(tagged) and tagged[i + run][1] == language:
            run += 1
        words = sum(len(f.words) for f, _ in tagged[i:i + run])
        if run >= LANGUAGE_SWITCH_FINALS and words >= LANGUAGE_SWITCH_WORDS:
            settled = language  # a switch on strong evidence: kept from here
        else:
            out += [Violation("language_flip", f"{f.event.text!r} in {f.event.language!r}, the session's "
                              f"language is {settled!r}", f.index) for f, _ in tagged[i:i + run]]
        i += run
    return out


def _lost(speech: Sequence[tuple[int, int]], finals: list[_Final]) -> list[Violation]:
    spans = sorted((f.event.start_ms, f.event.end_ms) for f in finals)
    out = []
    for start, end in speech:
        if end <= start:
            continue
        covered = sum(max(0, min(end, b) - max(start, a)) for a, b in spans)
        if covered < LOST_COVER_FRACTION * (end - start):
            out.append(Violation("lost_speech", f"speech {start}-{end} ms: finals cover {covered} ms of it", -1))
    return out


# -- rules 7 and 8: a call's options and alerts ----------------------------------------------------

def check_call(messages: Sequence[Mapping[str, Any]], *, asked: Mapping[str, Any]) -> list[Violation]:
    """Options dropped silently (rule 7) and alerts that contradict the summary (rule 8) in one
    call's log: ``messages`` as a follower gets them (``final``, ``analytics``,
    ``analytics_summary``, ``warning``, ``ended``...; others skipped), in order, and ``asked``
    what the call asked for (gateway/core/config.py ``SessionConfig.asked``: ``words``,
    ``diarize``, ``analytics``, ``sentiment``, ``redact``). An option is honoured when the log
    shows it (finals' word timings, speakers, analytics events, sentiment scores, no unredacted
    number), or flagged when a ``warning`` entry names it; anything else is ``option_dropped``.
    Violations' index: the message's in ``messages`` (-1: the call as a whole)."""
    out: list[Violation] = []
    warned = {m.get("option") for m in messages if m.get("type") == "warning"}
    finals = [(i, m) for i, m in enumerate(messages) if m.get("type") == "final"]

    def dropped(option: str, detail: str, index: int) -> None:
        if option not in warned:
            out.append(Violation("option_dropped", f"{option} asked for: {detail}, and no warning says why", index))

    for index, final in finals:
        text = final.get("text") or ""
        words = final.get("words") or []
        if asked.get("words") and words_of(text) and not words:
            dropped("words", f"final {text!r} has no word timings", index)
        for kind in asked.get("redact") or ():
            pattern = UNREDACTED.get(kind)
            if pattern is not None and (found := pattern.search(text)):
                dropped("redact", f"final {text!r} holds {found.group()!r} unredacted ({kind})", index)
    # A live final past the diarizer's bounded wait goes out without speakers (docs/diarization.md):
    # diarize is dropped when no final with words has any.
    worded = [(i, m) for i, m in finals if m.get("words")]
    if asked.get("diarize") and worded and not any(w.get("speaker") is not None for _, m in worded for w in m["words"]):
        dropped("diarize", f"none of the call's {len(worded)} finals with words has a speaker", worded[-1][0])
    ended = any(m.get("type") == "ended" for m in messages)
    summaries = [m.get("summary") or {} for m in messages if m.get("type") == "analytics_summary"]
    analytics = [m for m in messages if m.get("type") == "analytics"]
    if asked.get("analytics") and ended and not summaries:
        dropped("analytics", "the call ended without its analytics summary", -1)
    said = [m for m in analytics if m.get("event") == "utterance" and words_of(m.get("text") or "")]
    if asked.get("sentiment") and said and not any("sentiment" in m for m in said):
        dropped("sentiment", f"none of the call's {len(said)} analysed utterances has a sentiment", -1)
    for summary in summaries:
        out += [Violation("alert_disagrees", problem, -1) for problem in alert_problems(analytics, summary)]
    return out


def alert_problems(events: Iterable[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[str]:
    """Where a call's analytics ``events`` (alerts among them; other events are skipped) disagree
    with its ``summary``, one sentence each; empty when they agree.

    The promise (docs/analytics.md#alerts): every dead-air and overtalk alert that stands (not
    withdrawn) says, in its latest event, a stretch inside one of the summary's stretches of its
    kind; none is left going on; the summary counts exactly the alerts that stand, and has one
    dead-air or overtalk stretch per such alert. A later event of an alert (same ``id``) ends,
    moves or withdraws it. ``events``: in the order sent, as the tracker gives them or as a door
    or the call log renders them (the same fields).
    """
    problems: list[str] = []
    latest: dict[object, Mapping[str, Any]] = {}
    for event in events:
        if event.get("event") != "alert":
            continue
        key = event.get("id")
        if key is None:
            problems.append(f"{_alert_name(event)} has no id")
            continue
        if key not in latest and (event.get("ended") or event.get("retracted")):
            problems.append(f"{_alert_name(event)} ends or withdraws an alert never raised")
        elif key in latest and latest[key].get("retracted"):
            problems.append(f"{_alert_name(event)} comes after its alert was withdrawn")
        elif key in latest and latest[key].get("alert") != event.get("alert"):
            problems.append(f"{_alert_name(event)} changes its alert's kind from {latest[key].get('alert')}")
        latest[key] = event
    standing = [event for event in latest.values() if not event.get("retracted")]
    counts = summary.get("alerts", {})
    for kind in sorted(set(counts) | {str(event.get("alert")) for event in standing}):
        mine = sum(1 for event in standing if event.get("alert") == kind)
        if mine != counts.get(kind, 0):
            problems.append(f"{mine} {kind} alert(s) stand; the summary counts {counts.get(kind, 0)}")
    for kind in STRETCHES:
        stretches = summary.get(kind, {})
        items = [(item["start_ms"], item["end_ms"]) for item in stretches.get("items", [])]
        listed_all = stretches.get("count", 0) <= len(items)
        alerts = [event for event in standing if event.get("alert") == kind]
        if len(alerts) != stretches.get("count", 0):
            problems.append(f"{len(alerts)} {kind} alert(s) stand; the summary has {stretches.get('count', 0)} "
                            f"{kind} stretch(es)")
        for event in alerts:
            start = event["start_ms"]
            end = start + event["duration_ms"]
            if event.get("ongoing") and not event.get("ended"):
                problems.append(f"{_alert_name(event)} still goes on when the summary came")
            if not listed_all and items and start > items[-1][0]:
                continue  # past the stretches the summary lists
            if not any(first <= start and end <= last for first, last in items):
                problems.append(f"{_alert_name(event)} ({start}-{end} ms) is in none of the summary's {kind} "
                                "stretches")
    return problems


def _alert_name(event: Mapping[str, Any]) -> str:
    return f"{event.get('alert')} alert {event.get('id')} at {event.get('start_ms')} ms"


def _span(event: Event) -> str:
    return f"{event.start_ms}-{event.end_ms} ms"


def describe(events: Sequence[Event], violations: Sequence[Violation], *, around: int = 2) -> str:
    """A readable report: each violation, then the events around it (``around`` either side)."""
    lines = []
    for violation in violations:
        lines.append(f"{violation.kind}: {violation.detail}")
        if violation.index >= 0:
            for i in range(max(0, violation.index - around), min(len(events), violation.index + around + 1)):
                e = events[i]
                marker = ">" if i == violation.index else " "
                lines.append(f"  {marker} [{i}] ch{e.channel} {e.kind:7} {_span(e):>17} {e.utterance_id or '-'} "
                             f"{e.language or '-'} {e.text!r}{' ' + ','.join(sorted(e.flags)) if e.flags else ''}")
    return "\n".join(lines)


# -- the doors' messages ---------------------------------------------------------------------------

FLAGS = ("no_words", "truncated")


def _ms(seconds: Any) -> int:
    return round(float(seconds) * 1000)


def from_native(messages: Iterable[Mapping[str, Any]]) -> list[Event]:
    """``/ws/asr``'s ``partial`` and ``final`` messages (others are skipped); also the followers' and
    the call log's (``/ws/follow``), which carry the same fields."""
    return [Event(kind=m["type"], text=m["text"], start_ms=int(m["start_ms"]), end_ms=int(m["end_ms"]),
                  utterance_id=m.get("utterance_id"), channel=int(m.get("channel") or 0),
                  language=m.get("language") or "", speech_final=bool(m.get("is_speech_final", True)),
                  flags=frozenset(flag for flag in FLAGS if m.get(flag)))
            for m in messages if m.get("type") in ("partial", "final")]


def from_twilio(messages: Iterable[Mapping[str, Any]]) -> list[Event]:
    """The Twilio door's ``{"event": "partial" | "final"}`` messages (others are skipped)."""
    return from_native({**m, "type": m["event"]} for m in messages if m.get("event") in ("partial", "final"))


def _as_dict(message: Any) -> Mapping[str, Any]:
    """A message as a mapping: decoded JSON, or an SDK's parsed object (pydantic's ``model_dump``)."""
    if isinstance(message, Mapping):
        return message
    dump = getattr(message, "model_dump", None)
    if dump is None:
        raise TypeError(f"not a message: {type(message).__name__}")
    result: Mapping[str, Any] = dump()
    return result


def from_deepgram(messages: Iterable[Any]) -> list[Event]:
    """``/v1/listen``'s ``Results`` (``is_final``: a final; interim results: partials); others skipped.

    Deepgram names no utterances: every ``is_final`` result is a final of its own."""
    out = []
    for message in map(_as_dict, messages):
        if message.get("type") != "Results":
            continue
        alternative = (message.get("channel") or {}).get("alternatives", [{}])[0]
        start = _ms(message["start"])
        languages = alternative.get("languages") or [""]
        index = message.get("channel_index") or [0]
        out.append(Event(kind="final" if message.get("is_final") else "partial",
                         text=alternative.get("transcript") or "", start_ms=start,
                         end_ms=start + _ms(message.get("duration") or 0), channel=int(index[0]),
                         language=languages[0] or "", speech_final=bool(message.get("speech_final"))))
    return out


def from_flux(messages: Iterable[Any]) -> list[Event]:
    """``/v2/listen``'s ``TurnInfo`` events: a turn is an utterance (``turn<index>``), its ``EndOfTurn``
    its final, every other event (``StartOfTurn``, ``Update``, ``EagerEndOfTurn``, ``TurnResumed``)
    a partial of it. A resumed turn's words after an ended one's are then checked as any final's."""
    out = []
    for message in map(_as_dict, messages):
        if message.get("type") != "TurnInfo":
            continue
        end = message.get("event") == "EndOfTurn"
        out.append(Event(kind="final" if end else "partial", text=message.get("transcript") or "",
                         start_ms=_ms(message["audio_window_start"]), end_ms=_ms(message["audio_window_end"]),
                         utterance_id=f"turn{message['turn_index']}", speech_final=end))
    return out


_DURATION = re.compile(r"PT([0-9]+(?:\.[0-9]+)?)S")


def _duration_ms(value: str) -> int:
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"not an AudioHook duration: {value!r}")
    return _ms(match.group(1))


def from_audiohook(messages: Iterable[Mapping[str, Any]]) -> list[Event]:
    """AudioHook ``event`` messages' ``transcript`` entities (every one final: AudioHook gets no partials).

    Spans are the entities' ``offset``/``duration`` (the words', inside the utterance's)."""
    out = []
    for message in messages:
        if message.get("type") != "event":
            continue
        for entity in (message.get("parameters") or {}).get("entities", []):
            if entity.get("type") != "transcript":
                continue
            data = entity["data"]
            alternative = data["alternatives"][0]
            start = _duration_ms(data["offset"])
            out.append(Event(kind="final" if data.get("isFinal", True) else "partial",
                             text=alternative["interpretations"][0]["transcript"], start_ms=start,
                             end_ms=start + _duration_ms(data["duration"]), utterance_id=data.get("id"),
                             channel=int(data.get("channelId") or 0),
                             language=(alternative.get("languages") or [""])[0]))
    return out


def from_finals_stream(entries: Iterable[Mapping[str, str]]) -> list[Event]:
    """Entries of the ``ss:finals`` stream (fields: gateway/outputs/transcript_log.py), each a final.
    (An entry's ``language_asked`` is the session's: :func:`check`'s ``language``.)"""
    return [Event(kind="final", text=e["text"], start_ms=int(e["start_ms"]), end_ms=int(e["end_ms"]),
                  utterance_id=e.get("utterance_id") or None, channel=int(e.get("channel") or 0),
                  language=e.get("language", ""), speech_final=e.get("is_speech_final") == "1",
                  flags=frozenset(flag for flag in (e.get("flags") or "").split(",") if flag in FLAGS))
            for e in entries]

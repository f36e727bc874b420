"""The rest of an utterance after an early final: decoded with bounded context, and guarded against echoes.

An early final (:mod:`.live`: the sentence endpoint, or eager finals) ends the ASR's utterance at
a pause the VAD does not count as an endpoint; speech that resumes is an utterance of its own,
the rest. Decoded with nothing before it, the rest loses what whisper knew from the speech before
("It is seven seven three, five zero one, nine nine two." after "Could you read me the reference
number again?" came out as "It is 7, 7, 3, I'm near a 1, I'm 2."). So its final decode gets
context, bounded so that its cost does not grow with the stretch of speech (:func:`decode_rest`):

1. an engine that continues a forced prefix (whisper) hears the **latest pieces** before the rest
   (the speech of the early finals just before it, whole ones, :data:`MAX_CONTEXT_SEC` at most
   together: :func:`context`), with their finals' text forced as the prefix, and writes on
   (:func:`continued` takes the prefix back off). A rest's decode costs its own audio and at most
   that much more, however long the stretch of speech;
2. otherwise, or when that decode :func:`echoes` the pieces or is :func:`implausible`, the rest's
   own audio with the finals before it in the VAD's utterance as whisper's previous text (the
   prompt, the latest :data:`PROMPT_CHARS` characters, as faster-whisper's
   ``condition_on_previous_text`` gives each window the text of the one before);
3. and when that echoes the prompt too, the rest's audio alone: what it writes is the rest's text.

Step 1's window is mostly the context's speech, so its no-speech verdict is the context's: a short
rest (:data:`MAX_JUDGED_SEC`) that sounds no longer than a breath (:data:`BREATH_SEC`), or whose step
1 wrote nothing, is also decoded alone, and is no speech when that says so (else, with nothing from
step 1, that decode's words). A decode with more words than the rest's sound can hold
(:func:`spoken_seconds`) is no speech: whisper writes "Thank you very much." on a 0.1 s breath.

Why bounded: hearing every earlier piece (up to 20 s) made continuous speech cost a multiple of its
length, and whisper wrote the earlier sentences again as the rest's ("It was the season of light."
then "It was the season of light, it was the season of darkness."); echoed text is not taken.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

import numpy as np

from common.records import SAMPLE_RATE

from .engines import DecodeRequest, Hypothesis
from .span import speech_extent

# The pieces heard before the rest, at most: the question and the first group of a number read in
# groups ("Could you read me the reference number again?" 2.8 s, "It is 773." 1.9 s), without which
# whisper base wrote "I'm here alone" for "five zero one" (bench/early_final_replay.py). Before
# the rest's own audio and whisper's 10 s of margin, it bounds the decode's window at 20 s for a
# 2 s rest (15 s alone; 30 s with the 20 s of context heard until 2026-11).
MAX_CONTEXT_SEC = 8.0
# The prompt's length: two or three sentences, the context that helps (a question before the
# answer's number), and short enough that every rest's prompt costs a few dozen tokens.
PROMPT_CHARS = 200
# Faster than anybody speaks, with room for a word cut at each end: text that cannot have come
# from so little audio (fast speech is 4-5 words a second; digits written "4929" count once).
MAX_WORDS_PER_SECOND = 7.0
SPARE_WORDS = 2
# A rest that begins with this many of the context's last words carried the context over.
ECHO_WORDS = 3
# A rest with a sentence nearly one of the context's (difflib's ratio of their words, at least
# SENTENCE_WORDS of them) said an earlier sentence again: base on a call's μ-law audio wrote
# "I can book you a call back for tomorrow afternoon. and we will ..." for "We will collect the old
# boiler ...", two turns after "I can book you a call back tomorrow afternoon." (the turn set's
# spare-3006, Twilio), and "I'm not sure. I never received a confirmation email. The technician ..."
# right after "I never received the confirmation email." (extra-5011). Whole sentences, not their
# first words: speech that repeats its own pattern ("it was the age of wisdom, it was the age of
# foolishness") is no echo.
SAME_SENTENCE = 0.8
SENTENCE_WORDS = 4
# A rest this short (a reply, a breath, a click: pre-roll and padding included) is also decoded
# alone, for its own no-speech verdict. Alone, tiny.en and base flag 12 of 12 breaths of 0.1-0.3 s
# and none of the turn set's 113 short replies (bench/contract_soak.py's ``tail`` sessions).
MAX_JUDGED_SEC = 1.5
# ... unless its sound (:func:`spoken_seconds`) lasts longer than a breath (the soak's are 0.1-0.3 s):
# alone, base heard nothing ("... ...") in "Exactly." said 0.48 s after a sentence (0.8 s of sound),
# which the continued decode wrote.
BREATH_SEC = 0.5

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    """Speech that had its early final: its int16 samples and the final's text."""

    pcm: np.ndarray
    text: str


def context(pieces: Sequence[Piece], *, max_samples: int = int(MAX_CONTEXT_SEC * SAMPLE_RATE)) -> tuple[Piece, ...]:
    """The latest ``pieces`` (whole ones, in order, with text) that a rest may hear before it: at
    most ``max_samples`` together."""
    out: list[Piece] = []
    room = max_samples
    for piece in reversed(pieces):
        if len(piece.pcm) > room or not piece.text.strip():
            break
        out.append(piece)
        room -= len(piece.pcm)
    return tuple(reversed(out))


def words(text: str) -> list[str]:
    """``text``'s words, lower case, without punctuation."""
    return [w.lower() for w in _WORD.findall(text)]


def prompt(texts: Sequence[str], *, limit: int = PROMPT_CHARS) -> str:
    """The finals' ``texts`` before a rest as one prompt: their latest ``limit`` characters, cut at a word."""
    joined = " ".join(t.strip() for t in texts if t.strip())
    if len(joined) <= limit:
        return joined
    cut = joined[-limit:]
    space = cut.find(" ")
    return cut[space + 1:] if space >= 0 else cut


def echoes(text: str, context: str) -> bool:
    """Whether ``text`` says again what ``context`` said: its words (at least one) are a run of the
    context's, it begins with the context's last :data:`ECHO_WORDS` words or more, or one of its
    sentences is nearly one of the context's (:data:`SAME_SENTENCE`: an earlier sentence again)."""
    said, before = words(text), words(context)
    if not said or not before:
        return False
    if len(said) <= len(before) and any(before[i:i + len(said)] == said
                                        for i in range(len(before) - len(said) + 1)):
        return True
    if any(said[:k] == before[-k:] for k in range(ECHO_WORDS, min(len(said), len(before)) + 1)):
        return True
    return _says_a_sentence_of(text, context)


def _says_a_sentence_of(text: str, context: str) -> bool:
    # Cut at every sentence mark, whatever follows: the echo above went on in lower case.
    others = [other for other in map(words, _SENTENCE_END.split(context)) if len(other) >= SENTENCE_WORDS]
    for sentence in _SENTENCE_END.split(text.strip()):
        mine = words(sentence)
        if len(mine) >= SENTENCE_WORDS and any(
                SequenceMatcher(None, mine, other, autojunk=False).ratio() >= SAME_SENTENCE for other in others):
            return True
    return False


def implausible(text: str, seconds: float) -> bool:
    """Whether ``text`` has more words than ``seconds`` of speech can hold."""
    return len(words(text)) > SPARE_WORDS + MAX_WORDS_PER_SECOND * seconds


def judged(hypothesis: Hypothesis, spoken: float) -> Hypothesis:
    """``hypothesis`` as no speech when its text has more words than ``spoken`` seconds of speech can
    hold: whisper's filler on a breath or a click ("Thank you very much." on 0.1 s of noise, "I'm
    not going to be able to do that." on 0.3 s)."""
    return replace(hypothesis, no_speech=True) if implausible(hypothesis.text, spoken) else hypothesis


def spoken_seconds(audio: np.ndarray) -> float:
    """Seconds of ``audio`` (float32) from its first to its last frame of speech by level
    (:func:`~.span.speech_extent`); all of it when no frame is."""
    return _sounded(audio) or len(audio) / SAMPLE_RATE


def _sounded(audio: np.ndarray) -> float:
    """Seconds of ``audio`` (float32) from its first to its last frame of speech by level; 0 when no frame is."""
    extent = speech_extent(audio * 32768.0)  # levels on the int16 scale; no int16 copy needed
    return (extent[1] - extent[0]) / SAMPLE_RATE if extent else 0.0


def _bare(text: str) -> str:
    return "".join(text.split())


def continued(hypothesis: Hypothesis, *, prefix: str, offset: float,
              tokenize: Callable[[str], list[int]]) -> Hypothesis | None:
    """``hypothesis`` (of ``offset`` seconds of the piece before and the rest, decoded with ``prefix``
    forced) as the rest's own: its text after the prefix, its words after the prefix's with times
    from the rest's start; None when its text does not begin with the prefix (the engine did not
    continue it)."""
    text = hypothesis.text.strip()
    prefix = prefix.strip()
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix):].strip()
    timed = hypothesis.words
    # The prefix's own words: the first ones whose letters spell it (any language, spaces or none);
    # failing that, those that end within the earlier speech.
    spelled, count, target = "", 0, _bare(prefix)
    while count < len(timed) and len(spelled) < len(target):
        spelled += _bare(timed[count].text)
        count += 1
    if spelled != target:
        count = sum(1 for w in timed if (w.start + w.end) / 2 < offset)
    timed = tuple(replace(w, start=max(0.0, w.start - offset), end=max(0.0, w.end - offset)) for w in timed[count:])
    confidence = sum(w.probability for w in timed) / len(timed) if timed else hypothesis.confidence
    token_ids = tuple(tokenize(rest)) if rest else ()
    lost = tuple((max(0.0, a - offset), b - offset) for a, b in hypothesis.lost if b > offset)
    return replace(hypothesis, text=rest, words=timed, confidence=confidence, token_ids=token_ids,
                   tokens=len(token_ids), no_speech=hypothesis.no_speech or not rest, lost=lost)


async def decode_rest(request: DecodeRequest, decode: Callable[[DecodeRequest], Awaitable[Hypothesis | None]], *,
                      heard: Sequence[Piece], earlier: Sequence[str], tokenize: Callable[[str], list[int]]
                      ) -> tuple[Hypothesis | None, int]:
    """The final decode of a rest (``request``: its own audio) with bounded context, in the steps
    of this module's docstring; ``last``: the piece just before it (None: no audio context),
    ``earlier``: the finals' texts before it. Returns the rest's hypothesis (None: a decode failed)
    and how many decodes were not taken because they echoed their context."""
    seconds = len(request.audio) / SAMPLE_RATE
    sounded = _sounded(request.audio)
    spoken = sounded or seconds  # what words can come from: not its pre-roll or padding (spoken_seconds)
    echoed = 0
    if heard:
        left = np.concatenate([p.pcm for p in heard]).astype(np.float32) / 32768.0
        said = " ".join(p.text.strip() for p in heard)
        decoded = await decode(replace(request, audio=np.concatenate([left, request.audio]),
                                       prefix=f"{said} {request.prefix}".strip()))
        if decoded is None:
            return None, echoed
        rest = continued(decoded, prefix=said, offset=len(left) / SAMPLE_RATE, tokenize=tokenize)
        if rest is not None and not echoes(rest.text, said) and not implausible(rest.text, spoken):
            if (seconds > MAX_JUDGED_SEC or sounded > BREATH_SEC) and words(rest.text):
                return rest, echoed
            # The window's no-speech verdict is the context's: a breath after a sentence came out
            # as "Thank you very much.". Its own audio decoded alone says whether it holds speech.
            alone = await decode(replace(request, request_id=f"{request.request_id}-s"))
            if alone is None or alone.no_speech or words(rest.text):
                return (alone if alone is None or alone.no_speech else rest), echoed
            # Whisper may end the continued decode right after the forced sentence ("... the second
            # order?" then EOT over "Exactly." said 0.48 s later, base): the words are the alone decode's.
            return judged(alone, spoken), echoed
        echoed += rest is not None  # (None: the engine did not continue the prefix)
    previous = prompt(earlier)
    if previous:
        prompted = await decode(replace(request, request_id=f"{request.request_id}-p",
                                        context=" ".join(filter(None, (request.context, previous)))))
        if prompted is None or not echoes(prompted.text, previous) and not implausible(prompted.text, spoken):
            return prompted, echoed
        echoed += 1
    alone = await decode(replace(request, request_id=f"{request.request_id}-a"))
    return (None if alone is None else judged(alone, spoken)), echoed

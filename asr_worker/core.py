"""What the ASR stage's two modes share: options, the utterance, the per-session state, decodes.

A session is decoded either utterance by utterance (:mod:`.live`: live calls, and
recordings the engine cannot pack) or in packs (:mod:`.recording`), each a strategy
(:class:`Mode`, bound to the session's state at open: :class:`SessionMode`); both stand on
what is here: the streaming options, the :class:`Utterance` being gathered, the
:class:`Head` an early final leaves, the state every session has, and the :class:`Core`:
the engine's decodes, counted, and the commits, through redaction (:mod:`.redacting`).

An engine that guards against repetition loops (whisper: :mod:`.engines.loop_guard`) says
so in its hypothesis: a loop it recovered from or cut out is counted by kind and outcome,
and a final whose loop was cut out goes out ``truncated`` (words may be missing there),
even with no words left; a pack's finals are flagged where the cut falls.

When the session asks for word timings (``words``), finals are decoded with word
timestamps (partials never: it costs an alignment pass per decode), and the
words, moved from utterance time to session samples (:func:`session_words`), ride on the final.
"""

from __future__ import annotations

import abc
import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

import numpy as np

from common.config import fraction, non_negative, option, positive
from common.errors import ErrorCode
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig
from common.records import SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, TimedWord, Transcript, utterance_id
from common.redaction.redactor import Redactor
from common.stage import Runner, Session

from .continuation import Piece
from . import digits
from .engines import DecodeRequest, Engine, Hypothesis, Retry, Word
from .engines.fallback import STEP as FALLBACK
from .engines.loop_guard import STEP as LOOP
from .engines.repetition import SENTENCE_ENDS
from .language import DEFAULT_LANGUAGES, LanguageVote, languages, request_language, script_fits
from .redacting import RedactionFilter


# The digits prompt of --redact-digits-prompt: numbers written as digits, none a real card's (measured
# as --redact-prompt's, BENCHMARKS.md).
DIGITS_PROMPT = "Card 4929 3851 7602 2948, expiry 09/29, code 506. SSN 604-27-3815."
MAX_PACK_SEC = 29.5  # a pack fits whisper's 30 s window, or it would be decoded as long-form audio


def pack_seconds(raw: str) -> float:
    """``--batch-pack-sec``: 0 (off) up to :data:`MAX_PACK_SEC`."""
    value = non_negative(float)(raw)
    if value > MAX_PACK_SEC:
        raise ValueError(f"{raw} is over {MAX_PACK_SEC:g} s (whisper's window is 30 s)")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamingOptions:
    """Defaults of the streaming recipe; a session's config may override some (:meth:`for_session`)."""

    chunk_size_sec: float = field(default=1.0, metadata=option(
        "seconds of new speech between partial decodes", parse=positive(float)))
    # Audio before the first partial decode (pre-roll included).
    first_partial_sec: float = field(default=0.25, metadata=option(
        "seconds of an utterance's audio before its first partial decode", parse=positive(float)))
    unfixed_chunk_num: int = field(default=2, metadata=option("first chunks decoded without a prefix"))
    unfixed_token_num: int = field(default=5, metadata=option("tokens rolled back from the prefix"))
    # False: finals decode the whole utterance afresh.
    final_with_prefix: bool = field(default=False, metadata=option(
        "decode finals with the stable prefix (faster, less accurate)"))
    sentence_endpoint: bool = field(default=True, metadata=option(
        "end an utterance at a pause (the VAD's pause_threshold) when its text ends a sentence "
        "(--no-sentence-endpoint: at silence_threshold only); sessions may override with the "
        "config field sentence_endpoint"))
    # A sentence whisper is unsure of is not ended early: the speech after the pause is context
    # that fixes it (BENCHMARKS.md, "Spanish").
    sentence_confidence: float = field(default=0.6, metadata=option(
        "with --sentence-endpoint, end an utterance early only where the decode's confidence (its mean "
        "token probability) is at least this, or the sentence is short (--sentence-short-words) "
        "(0: at every sentence end)", parse=fraction))
    # The gate bought Spanish 4 points of WER (the sentence a decode at a pause ends is one whisper
    # base writes worse alone) and English nothing (16 kHz 8.4 -> 7.7 %, 8 kHz μ-law 22.3 -> 23.1 %,
    # bench.early_final_replay), while it held back half of the sentences of a phone call through
    # μ-law (their confidence p50 0.64) and merged the other party's replies into them.
    sentence_confidence_skip: tuple[str, ...] = field(default=("en",), metadata=option(
        "with --sentence-endpoint, languages whose sentences end their utterance at a pause whatever "
        "the decode's confidence (--sentence-confidence applies to the others), comma-separated",
        parse=languages))
    sentence_short_words: int = field(default=3, metadata=option(
        "with --sentence-endpoint, a sentence of at most this many words ends its utterance at a pause "
        "whatever the decode's confidence (short replies are turns)", parse=non_negative(int)))
    # A reply answered within the VAD's pause ("Forty two." and the other party 0.32 s later) makes no
    # pause, so it comes back inside the next sentence's final (.replies).
    split_replies: bool = field(default=True, metadata=option(
        "with --sentence-endpoint, a final whose decode begins or ends with a sentence of at most 3 words "
        "that a silence of 0.12 s parts from the rest is sent as two finals, split in that silence "
        "(--no-split-replies: as one)"))
    batch_pack_sec: float = field(default=28.0, metadata=option(
        "batch sessions (recordings) with an engine that times words (whisper): ended utterances "
        "gathered, up to this many seconds with the silences between them, and decoded in one "
        "window, their words dealt back to each (0: each utterance decoded alone; at most 29.5: "
        "whisper's window is 30 s)", parse=pack_seconds))
    batch_pack_prompt: bool = field(default=True, metadata=option(
        "give each pack of a batch session the text of its last pack decoded when the pack closes "
        "(the previous pack's with --batch-pack-depth 1) as whisper's prompt, as faster-whisper's "
        "condition_on_previous_text does (--no-batch-pack-prompt: none)"))
    batch_pack_depth: int = field(default=16, metadata=option(
        "packs of one batch session in flight at once, the one being filled included: closed packs "
        "decode (the whisper engine's batch thread takes up to --batch-max-batch of them in one "
        "call) while the next fills; finals still committed pack by pack, in order (1: each pack "
        "decoded and committed before the next fills; 16 is twice whisper's batch: a whole batch "
        "waits while one decodes)", parse=positive(int)))
    redact_hold_sec: float = field(default=3.0, metadata=option(
        "sessions with redaction: a final that ends in a number waits this long for the next final "
        "(a number read in groups across finals is redacted in every piece), and pieces more than "
        "this far apart in audio are not one number", parse=positive(float)))
    redact_prompt: str = field(default="", metadata=option(
        "sessions with redaction: whisper's prompt for their decodes, before the session's own context "
        "(text whose numbers are written as digits biases the recogniser towards writing digits; "
        "default: none, see docs/redaction.md for what it costs)"))
    redact_digits_prompt: str = field(default=DIGITS_PROMPT, metadata=option(
        "sessions that redact card numbers or SSNs: a final in a number passage (a card or SSN keyword's context, "
        "or right after a final that ended in a number) whose decode wrote no number is decoded again with this "
        "prompt (whisper), and that decode kept when it writes a number without losing a word of the first "
        "(docs/redaction.md); '' turns it off"))
    detect_languages: tuple[str, ...] = field(default=DEFAULT_LANGUAGES, metadata=option(
        "sessions that name no language (and no languages of their own): the languages detected among, "
        "comma-separated whisper codes, most likely first (the first decodes audio too short to detect "
        "on); the model's others are never detected (asr_worker/language.py)", parse=languages))
    detect_min_sec: float = field(default=1.0, metadata=option(
        "sessions that name no language: a decode of less audio than this is not detected on, it is "
        "decoded in the session's leading language so far (else the first of its languages)",
        parse=non_negative(float)))
    settle_sec: float = field(default=2.0, metadata=option(
        "sessions that name no language: seconds of finals their language is settled on, then kept; "
        "changed only by 3 finals in a row of this long or longer, each 90 %% sure of another",
        parse=positive(float)))
    max_pending: int = 400  # records queued per session before reading pauses

    def for_session(self, config: AsrConfig) -> StreamingOptions:
        """These options with those the session sets."""
        return replace(self, **{name: value for name in _SESSION_OPTIONS
                                if (value := getattr(config, name)) is not None})

    def context(self, config: AsrConfig) -> str:
        """The prompt of a session's decodes: :attr:`redact_prompt` when it has redaction, then its
        own context (whisper keeps a long prompt's last tokens: the session's)."""
        return " ".join(filter(None, (self.redact_prompt if config.redact else "", config.context)))


# What a session's config may override (None there: the worker's).
_SESSION_OPTIONS = ("chunk_size_sec", "unfixed_chunk_num", "unfixed_token_num", "sentence_endpoint")


@dataclass(eq=False)
class Utterance:
    start: int
    vad_start: int = -1  # of the VAD's utterance it is part of (the same start unless split by an early final)
    chunks: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    decoded_samples: int = 0  # utterance length at the last decode
    decodes: int = 0
    requests: int = 0  # decode requests made, for unique engine request ids
    token_ids: tuple[int, ...] = ()
    text: str = ""
    language: str = ""  # detected by the last decode
    ending: bool = False  # the final is being decoded: no partial starts
    pauses: list[int] = field(default_factory=list)  # ends of the VAD's pauses in it (batch packs)
    # The finals' texts of the VAD's utterance before this one's start, where early finals split it,
    # and the latest of those pieces: the context of its final decode (see .continuation).
    earlier: tuple[str, ...] = ()
    heard: tuple[Piece, ...] = ()
    announce: bool = False  # a batch pack sends its SpeechStart with its finals

    def __post_init__(self) -> None:
        if self.vad_start < 0:
            self.vad_start = self.start

    def audio(self) -> np.ndarray:
        return self.pcm().astype(np.float32) / 32768.0

    def pcm(self) -> np.ndarray:
        """The utterance's int16 samples."""
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, np.int16)

    def append(self, offset: int, pcm: np.ndarray) -> None:
        end = self.start + self.samples
        if offset + len(pcm) <= end:
            return  # replayed audio we already have
        if offset < end:
            pcm = pcm[end - offset:]
        elif offset > end:  # should not happen: the VAD sends speech contiguously
            pcm = np.concatenate([np.zeros(offset - end, np.int16), pcm])
        self.chunks.append(pcm)
        self.samples += len(pcm)

    def truncate(self, end: int) -> None:
        keep = max(0, end - self.start)
        if keep < self.samples:
            whole = np.concatenate(self.chunks)[:keep] if self.chunks else np.zeros(0, np.int16)
            self.chunks, self.samples = [whole], keep


@dataclass(frozen=True, slots=True)
class Head:
    """The VAD's utterance at ``vad_start`` has its final up to ``through`` (an early final).

    ``speech_final``: that final ended the turn. Saved in the checkpoint written
    with the early final.
    """

    vad_start: int
    through: int
    speech_final: bool
    # The finals' texts up to ``through`` and their latest pieces (in memory only: clear text never
    # goes into the checkpoint).
    earlier: tuple[str, ...] = field(default=(), compare=False)
    heard: tuple[Piece, ...] = field(default=(), compare=False)

    def encode(self) -> bytes:
        return json.dumps({"head": self.to_list()}).encode()

    def to_list(self) -> list:
        return [self.vad_start, self.through, self.speech_final]

    @classmethod
    def decode(cls, blob: bytes | None) -> Head | None:
        """The head in a checkpoint's state (None: none there)."""
        if not blob or "head" not in (body := json.loads(blob)):
            return None
        vad_start, through, speech_final = body["head"]
        return cls(int(vad_start), int(through), bool(speech_final))


def final_through(blob: bytes | None) -> int:
    """:attr:`AsrSessionState.final_through` from a checkpoint's state (0: none there)."""
    return int(json.loads(blob).get("through", 0)) if blob else 0


CLOSERS = "\"'”’)]}»"


def ended(end: SpeechEnd) -> SpeechEnd:
    """The VAD's end of an utterance as this stage passes it on (numbered by its own runner): the
    gateway's analytics time speech by the VAD's utterances, which early finals do not end."""
    return SpeechEnd(start=end.start, end=end.end, reason=end.reason)


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends a sentence: a full stop, question or exclamation mark last
    (closing quotes and brackets aside), but not an ellipsis (whisper's trailing off)."""
    text = text.rstrip().rstrip(CLOSERS)
    return bool(text) and text[-1] in SENTENCE_ENDS and not text.endswith(("..", "…"))


def as_sentence(text: str) -> str:
    """``text`` ending a sentence: a full stop added where it has no sentence mark ("or be too",
    "Okay,", "Well..."). An early final that ended a turn heard as the context of the next decode:
    written without a stop, whisper continues it unpunctuated and no sentence ends after it."""
    if ends_sentence(text):
        return text
    return text.rstrip().rstrip(".…,;:-–— ") + "."


# Words a phrase does not end on ("I want to", "my", "and so"): a short decode ending in one at a
# pause is the speaker going on, not a turn. Per language; in a language not listed, a decode
# without a sentence mark never ends a turn.
OPEN_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a an the to of and or but for from with by about into at in on as than so because if
        when while that this these those my your our their his her its i you we they he she it me him them us
        is are was were am be been has have had do does did can could will would shall should may might must
        not no nor uh um er erm like just very really then there what which who whose where how why""".split()),
    "es": frozenset("""el la los las un una unos unas de del al a en con por para sin sobre y e o u ni pero que
        si como cuando porque mi mis tu tus su sus nuestro nuestra me te se le les lo nos es son está están
        era fue ser estar he ha han hay muy no""".split()),
}
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def ends_turn(hypothesis: Hypothesis, *, confidence: float, short_words: int,
              ungated: Collection[str] = ()) -> bool:
    """Whether ``hypothesis`` ends its utterance early at a pause (the sentence endpoint).

    A sentence ends it when it is short (at most ``short_words`` words:
    :attr:`StreamingOptions.sentence_short_words`) or the decode is sure of it (confidence at least
    ``confidence``: :attr:`StreamingOptions.sentence_confidence`; an engine that gives none always
    is). Whisper is rarely sure of a one-word sentence, and "Hi.", "Yes." are the turns a call is
    made of; in the ``ungated`` languages (:attr:`StreamingOptions.sentence_confidence_skip`) every
    sentence ends it. A short decode without a sentence mark ends it too unless its last word leaves the
    phrase open (:data:`OPEN_WORDS`): whisper writes a lone reply at a pause as "42", "Okay,",
    "Right" or "Well...", and those merged with the other party's next sentence.
    """
    text = hypothesis.text
    if not ends_sentence(text):
        words = _WORD.findall(text.lower())
        open_words = OPEN_WORDS.get(hypothesis.language.split("-")[0])
        cut = text.rstrip().rstrip(CLOSERS).endswith(("-", "—"))  # a word broken off
        return open_words is not None and 0 < len(words) <= short_words and words[-1] not in open_words and not cut
    if len(text.split()) <= short_words or hypothesis.language.split("-")[0] in ungated:
        return True
    return hypothesis.confidence is None or hypothesis.confidence >= confidence


@dataclass(eq=False)
class AsrSessionState:
    """Per-session state of either mode: the queue of input records and the utterance in progress."""

    options: StreamingOptions
    config: AsrConfig  # language, context, word timings, eager finals
    head: Head | None = None  # an early final covered the VAD's utterance in progress up to here
    # The session's finals cover its audio up to this sample (checkpointed): an utterance the VAD
    # sends again from earlier (its replay after a takeover may cut a frame elsewhere, and so
    # start an utterance of another id) starts here, so no moment of speech is in two finals.
    final_through: int = 0
    applied: str | None = None  # entry id of the last input record applied
    # Input records (entry id, record) and, in order with them, the ends of decodes (Done).
    queue: asyncio.Queue[tuple[str, Record] | Done] = field(default_factory=asyncio.Queue)
    mode: SessionMode = field(init=False, repr=False)  # how it is decoded, set by the stage's open()
    task: asyncio.Task | None = None
    utterance: Utterance | None = None
    request_id: str = ""  # of the latest decode in flight, to abort it
    # A session that names no language: its vote (asr_worker.language; None: it names one, or the
    # model decodes one), the language settled by it ("" until then: later decodes are in it; in the
    # checkpoint, so a takeover goes on in it), and the last final decode's (seconds, probabilities),
    # counted when its final is.
    vote: LanguageVote | None = None
    language: str = ""
    evidence: tuple[float, tuple[tuple[str, float], ...]] | None = None
    redactor: Redactor | None = None  # the session asked for redaction (see asr_worker.redacting)
    redact_timer: asyncio.Task | None = None  # releases held finals after redact_hold_sec
    held_since: dict[str, float] = field(default_factory=dict)  # utterance id -> when its final was held
    # Utterance id -> the text of a final's second decode with the digits prompt that wrote digits it
    # did not keep (its step .digits.STEP "refused"), until the final passes the redactor: what the
    # redactor is told (``unread_number``). In memory only: a replay decodes the final, and says it, again.
    unread_numbers: dict[str, str] = field(default_factory=dict)

    def tasks(self) -> list[asyncio.Task | None]:
        """The session's tasks (None where there is none): its own, its mode's, the redaction timer's."""
        return [self.task, self.redact_timer]


AsrSession = Session[AsrSessionState]
StateT = TypeVar("StateT", bound=AsrSessionState)


@dataclass(frozen=True, slots=True)
class Done:
    """A decode of the session ended: ``run`` applies its outcome, in order with the input records."""

    run: Callable[[], Awaitable[None]]


class Mode(abc.ABC, Generic[StateT]):
    """How the stage decodes sessions of one kind (a strategy): utterance by utterance
    (:mod:`.live`) or in packs (:mod:`.recording`), each over the shared :class:`Core`."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.engine = core.engine
        self.metrics = core.metrics

    @abc.abstractmethod
    async def apply(self, session: AsrSession, asr: StateT, entry_id: str, record: Record) -> None:
        """Take in one input record."""

    @abc.abstractmethod
    async def close_pending(self, session: AsrSession, asr: StateT, marker: Flush | End) -> list[Record]:
        """What has to be committed before ``marker`` (its checkpoint would pass it); see
        :meth:`common.stage.Stage.close_pending`."""

    def busy(self, asr: StateT) -> bool:
        """Work in progress besides the utterance, the decode and the queue (the stage's ``active``)."""
        return False

    def idle_after(self, asr: StateT) -> float | None:
        """Seconds the session waits for input before :meth:`idle` (None: no limit)."""
        return None

    async def idle(self, session: AsrSession, asr: StateT) -> None:
        """No input came for :meth:`idle_after` seconds."""

    def bind(self, asr: StateT) -> SessionMode:
        """This mode for the session whose state is ``asr``."""
        return Bound(self, asr)


class SessionMode(Protocol):
    """A session's :class:`Mode` with its state: what the stage calls, whichever mode it is."""

    async def apply(self, session: AsrSession, entry_id: str, record: Record) -> None: ...
    async def close_pending(self, session: AsrSession, marker: Flush | End) -> list[Record]: ...
    def busy(self) -> bool: ...
    def idle_after(self) -> float | None: ...
    async def idle(self, session: AsrSession) -> None: ...


@dataclass(frozen=True, slots=True)
class Bound(Generic[StateT]):
    """:class:`SessionMode` of a mode and its session's state (typed alike)."""

    mode: Mode[StateT]
    state: StateT

    async def apply(self, session: AsrSession, entry_id: str, record: Record) -> None:
        await self.mode.apply(session, self.state, entry_id, record)

    async def close_pending(self, session: AsrSession, marker: Flush | End) -> list[Record]:
        return await self.mode.close_pending(session, self.state, marker)

    def busy(self) -> bool:
        return self.mode.busy(self.state)

    def idle_after(self) -> float | None:
        return self.mode.idle_after(self.state)

    async def idle(self, session: AsrSession) -> None:
        await self.mode.idle(session, self.state)


class Core:
    """What the stage's two modes share: the engine's decodes, counted, request ids, finals counted by
    language, the utterance after an early final, and the commits (through :mod:`.redacting`)."""

    def __init__(self, runner: Runner, engine: Engine, *, metrics: AsrMetrics, redaction: RedactionFilter) -> None:
        self.runner = runner
        self.engine = engine
        self.metrics = metrics
        self.redaction = redaction

    async def commit(self, session: AsrSession, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False) -> None:
        """The runner's fenced write of ``outputs``, each redacted first where the session redacts."""
        await self.redaction.commit(session, outputs, consumed=consumed, boundary=boundary)

    async def report(self, session: AsrSession, code: str, message: str, *, fatal: bool = False) -> None:
        await self.runner.report(session, code, message, fatal=fatal)

    @staticmethod
    def utterance_of(session: AsrSession, asr: AsrSessionState, record: Audio) -> Utterance | None:
        """The utterance ``record`` belongs to: the one in progress or, after an early final, a new
        one for the speech that resumed; None for replayed audio that has its final, or for audio
        outside any utterance (logged)."""
        if asr.utterance is None and asr.head is not None:
            if record.offset + record.samples <= asr.head.through:
                return None  # replayed audio that has its final
            Core.resume(asr)
        if asr.utterance is None:
            session.log.warning("audio at %d outside an utterance; ignored", record.offset)
        return asr.utterance

    @staticmethod
    def resume(asr: AsrSessionState) -> Utterance:
        """Speech resumed after an early final (the head): the rest is an utterance of its own."""
        head, asr.head = asr.head, None
        assert head is not None  # an early final's
        asr.utterance = Utterance(start=head.through, vad_start=head.vad_start, earlier=head.earlier, heard=head.heard)
        return asr.utterance

    async def end_after_early_final(self, session: AsrSession, asr: AsrSessionState, entry_id: str,
                                    end: SpeechEnd) -> None:
        """The VAD ended an utterance whose speech had its early final: the turn is over."""
        head, asr.head = asr.head, None
        assert head is not None  # the caller saw it
        asr.final_through = max(asr.final_through, end.end)
        outputs: list[Record] = []
        if not head.speech_final:  # an eager final: say that the turn ended, with no new words
            outputs.append(Transcript(utterance_id=utterance_id(session.session_id, head.through),
                                      start=head.through, end=max(end.end, head.through), text="", final=True,
                                      speech_final=True))
        outputs.append(ended(end))
        await self.commit(session, outputs, consumed=entry_id, boundary=True)

    @staticmethod
    def request_id(session: AsrSession, utt: Utterance, kind: str) -> str:
        utt.requests += 1
        return f"{session.session_id}-{utt.start}-{kind}{utt.requests}-{session.epoch}"

    async def transcribe(self, session: AsrSession, asr: AsrSessionState,
                         request: DecodeRequest) -> Hypothesis | None:
        """The engine's decode of ``request``, counted; None (the client told) if it failed. A session
        that names no language decodes among its languages (:meth:`in_language`), and a partial in
        another script than its language's is not sent (its text dropped)."""
        request = self.in_language(asr, request)
        hypothesis = await self.decode_counted(session, asr, request)
        if hypothesis is None or asr.vote is None:
            return hypothesis
        if request.final:
            asr.evidence = (len(request.audio) / SAMPLE_RATE, self.language_probs(asr.vote, request, hypothesis))
        if hypothesis.text and not script_fits(hypothesis.text, hypothesis.language):
            self.metrics.wrong_script.labels(kind="final" if request.final else "partial").inc()
            session.log.warning("a %s decoded as %r is not in its script: %r", "final" if request.final else "partial",
                                hypothesis.language, hypothesis.text[:80])
            if not request.final:
                hypothesis = replace(hypothesis, text="", token_ids=(), tokens=0, words=(), no_speech=True)
        return hypothesis

    @staticmethod
    def language_probs(vote: LanguageVote, request: DecodeRequest,
                       hypothesis: Hypothesis) -> tuple[tuple[str, float], ...]:
        """The evidence of a final decode: the engine's probabilities of the allowed languages; from an
        engine that gives none (Qwen3), the language it detected, if allowed, as a certainty."""
        if hypothesis.language_probs:
            return hypothesis.language_probs
        detected = request.language is None and hypothesis.language in vote.allowed
        return ((hypothesis.language, 1.0),) if detected else ()

    @staticmethod
    def in_language(asr: AsrSessionState, request: DecodeRequest) -> DecodeRequest:
        """``request`` of a session that names no language, restricted to its languages
        (:func:`.language.request_language` over its vote and options)."""
        vote = asr.vote
        return request_language(request, asked=asr.config.language, allowed=None if vote is None else vote.allowed,
                                guess=vote.guess() if vote is not None else "",
                                detect_min_sec=asr.options.detect_min_sec)

    async def decode_counted(self, session: AsrSession, asr: AsrSessionState,
                             request: DecodeRequest) -> Hypothesis | None:
        started = time.perf_counter()
        asr.request_id = request.request_id
        self.metrics.decodes_in_flight.inc()
        try:
            hypothesis = await self.engine.transcribe(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            session.log.exception("decode failed")
            await self.report(session, ErrorCode.ASR_FAILED, f"recognition failed for one utterance: {exc}")
            return None
        finally:
            if asr.request_id == request.request_id:
                asr.request_id = ""
            self.metrics.decodes_in_flight.dec()
        kind = "batch" if request.batch else "final" if request.final else "partial"
        self.metrics.decode_seconds.labels(kind=kind).observe(time.perf_counter() - started)
        self.metrics.decoded_audio.inc(len(request.audio) / SAMPLE_RATE)
        self.metrics.tokens.inc(hypothesis.tokens)
        for step, outcome in hypothesis.steps:  # what the engine's own steps did
            if step == FALLBACK:
                self.metrics.beam_fallbacks.labels(kept=outcome).inc()
            elif step == digits.STEP:
                self.metrics.digit_redecodes.labels(kept=str(outcome == "kept").lower()).inc()
            elif step == LOOP:
                self.metrics.loops.labels(kind=kind, outcome=outcome).inc()
                session.log.info("decode of %.1f s looped (%s): %s", len(request.audio) / SAMPLE_RATE, kind, outcome)
        return hypothesis

    @staticmethod
    def digits_retry(asr: AsrSessionState, utt: Utterance) -> Retry | None:
        """The digits prompt's retry of a final decode of ``utt`` (:func:`.digits.final_retry`): asks the
        session's redactor whether the utterance is in a number passage only where the option gives a prompt."""
        prompt = asr.options.redact_digits_prompt
        redactor = asr.redactor
        return digits.final_retry(prompt, number_passage=bool(prompt) and redactor is not None
                                  and redactor.number_passage(utt.start))

    def count_final(self, asr: AsrSessionState, language: str, words: int) -> None:
        """Count a final by the language it was decoded in. A session that names no language counts
        its last final decode's language probabilities in its vote (:class:`~.language.LanguageVote`):
        settled on enough speech (a short utterance alone is often detected as another: "por favor."
        heard as English "for the Lord."), then kept unless several long finals in a row say another."""
        self.metrics.finals.labels(language=language or "unknown").inc()
        evidence, asr.evidence = asr.evidence, None
        if asr.vote is None or evidence is None or not evidence[1] or not words:
            return
        if asr.vote.add(evidence[1], evidence[0]):
            self.metrics.language_settled.labels(kind="switched" if asr.language else "settled").inc()
            asr.language = asr.vote.language


def session_words(words: tuple[Word, ...], start: int, end: int, *, within: int | None = None
                  ) -> tuple[TimedWord, ...]:
    """Word times (seconds from sample ``start``) as session samples, in order and inside
    ``within``..``end`` (``within``: the final's span's start, ``start`` by default)."""
    lowest = start if within is None else within
    timed, previous = [], lowest
    for word in words:
        first = min(max(start + round(word.start * SAMPLE_RATE), previous), end)
        last = min(max(start + round(word.end * SAMPLE_RATE), first), end)
        timed.append(TimedWord(word.text, first, last, probability(word.probability) or 0.0))
        previous = first
    return tuple(timed)


def probability(value: float | None) -> float | None:
    """``value`` clipped to 0..1; None for no figure or a non-finite one (the record would be rejected)."""
    if value is None or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), 1.0)

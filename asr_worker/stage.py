"""The ASR stage: streaming decodes of each utterance, partials and one final.

Each owned session has a small task that applies its input records in order.
While speech goes on, a partial decode of the utterance so far starts whenever
``chunk_size_sec`` of new audio has arrived (``first_partial_sec`` until a
decode found words) and no decode of the session is in flight; audio that arrives
meanwhile is folded into the next decode.

The final is decoded early, speculatively: at a :class:`SpeechPause` (the VAD
saw the silence begin) the session aborts its partial decode (as far as the
engine can: a running whisper decode finishes) and starts the final decode of
the audio up to the pause's ``end``; no other partial starts meanwhile. If the :class:`SpeechEnd`
then comes with the same end, that decode *is* the final; if speech resumes
first (audio past the end), it is dropped. Either way the outcome is counted.
Without a usable speculation the utterance is decoded once more at its end.
The final never waits for a partial decode: it is aborted as far as the engine
can, and a decode that runs on (whisper) is sent if it ends before the final,
stopped otherwise.

Early finals. A session may take the speculative decode as its final at
once, when it ends (before the endpoint): always, with ``eager_finals`` (the
final has ``speech_final`` false: the turn may go on, as Deepgram Flux's
EagerEndOfTurn), or when its text ends a sentence, with
``sentence_endpoint`` (``speech_final`` true: the text ended the turn, a
shorter silence than ``silence_threshold`` ended the utterance). The speech
up to the pause then has its final: the VAD's utterance goes on, and speech
that resumes in it is a new utterance of the ASR, starting at the pause (a
:class:`Head` records this, in the checkpoint written with the early final,
so a replay splits the same way whatever the timing of its decodes). The
VAD's end of that utterance gives the rest its final, or, with nothing after
an eager final, an empty final with ``speech_final`` true.

The final is written together with a checkpoint past the utterance, in one
fenced write: a replay after a takeover restarts at the utterance (and so
speculates again from its replayed pause), and the utterance id ``(session,
start sample)`` is the same, so the gateway drops a duplicate.

An engine that guards against repetition loops (whisper: :mod:`.engines.loop_guard`) says
so in its hypothesis: a loop it recovered from or cut out is counted by kind and outcome,
and a final whose loop was cut out goes out ``truncated`` (words may be missing there),
even with no words left; a pack's finals are flagged where the cut falls.

When the session asks for word timings (``words``), finals are decoded with word
timestamps (partials never: it costs an alignment pass per decode), and the
words, moved from utterance time to session samples, ride on the final.

Batch sessions (recordings, ``priority: batch``) get no partials: nobody watches
them being spoken, and a partial decode per second of speech would cost more
than the finals. Their decodes go to the engine marked ``batch`` (the whisper
engine keeps them off the live sessions' threads and CPU time). A batch
session's input arrives faster than real time, so
whether speech resumes before the speculative decode at a pause ends would be a
race; instead the session waits for that decode before it applies what follows
the pause, and splits where a live session with instant decodes would.

With an engine that times words (whisper), a batch session's ended utterances
are not decoded one by one: they wait in a *pack* of up to ``batch_pack_sec``
seconds, decoded in one window with word timings, the words dealt back to each
utterance and split at the pauses where a sentence ended, which is where the
speculative decode above would have split (:mod:`asr_worker.packing`); no decode
runs at a pause. The pack's finals go in one write, with the checkpoint past
its last utterance (at a Flush or the End, in the marker's write), so a takeover
either finds them all written or replays the whole pack.

A closed pack's decode runs in a task of its own while the session fills the
next ones, up to ``batch_pack_depth`` packs in flight (the one filling
included): the engine's batch thread then finds several of the recording's packs
waiting and decodes them in one call (the whisper engine: one encode, one
decoder loop and one alignment pass, half the decoder's CPU per pack at 8).
Packs are committed strictly in order by the session's task, each in its own
write with its checkpoint, as above: a pack whose decode ends before an older
one's waits for it (the done decode puts a marker in the session's queue, so
the commit does not wait for the next input record). Whatever else the session
commits (a Flush, the End, a speech end out of place) first commits every pack
in flight, in order; the last one in flight at a Flush or the End goes out in
the marker's write. A takeover replays from the checkpoint of the last pack
committed, so the packs in flight are decoded again and each final still goes
out once (same utterance ids).

A pack's prompt is the text of the last pack committed when it closes (as
faster-whisper's ``condition_on_previous_text``): with a depth of 1 the previous
pack's; with more, packs that close while others decode share the last text
known (the one before them is not decoded yet), which is also what lets them
decode together (CTranslate2 batches only prompts of one length). After a
takeover the first packs replayed have none.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from common.config import non_negative, option, positive
from common.errors import ErrorCode, LeaseLost, SessionGone
from common.languages import ModelLanguages
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig
from common.records import (SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart, TimedWord,
                            Transcript, utterance_id)
from common.redaction.redactor import Redactor
from common.stage import Input, Runner, Session, Stage

from .engines import DecodeRequest, Engine, Hypothesis, Word
from .packing import Piece, Segment, deal_spans, deal_words, join_words, pack_audio, pack_length, split_at_sentences
from .redacting import RedactingRunner
from .rollback import stable_prefix


CLOSE_TIMEOUT = 10.0  # seconds close() waits for a session's tasks
PACK_GAP_SEC = 0.3  # silence between two utterances of a pack (each has its own trailing padding too)
PACK_IDLE_SEC = 1.0  # a pack waits this long for more input before it is decoded as it is
PROMPT_WORDS = 100  # of the previous pack in a pack's prompt (whisper keeps at most 223 tokens of it)
MAX_PACK_SEC = 29.5  # a pack fits whisper's 30 s window, or it would be decoded as long-form audio
SETTLE_WORDS = 3  # a final this long (auto-detect) settles the session's language for its later utterances


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
    max_pending: int = 400  # records queued per session before reading pauses

    def for_session(self, config: AsrConfig) -> StreamingOptions:
        """These options with those the session sets."""
        return replace(self, **{name: value for name in _SESSION_OPTIONS
                                if (value := getattr(config, name)) is not None})


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


@dataclass(eq=False)
class Speculation:
    """The final decode of an utterance up to ``end``, started at a pause."""

    end: int
    request_id: str
    task: asyncio.Task  # -> Hypothesis | None


@dataclass(frozen=True, slots=True)
class Head:
    """The VAD's utterance at ``vad_start`` has its final up to ``through`` (an early final).

    ``speech_final``: that final ended the turn. Saved in the checkpoint written
    with the early final.
    """

    vad_start: int
    through: int
    speech_final: bool

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


SENTENCE_ENDS = ".?!。？！"
CLOSERS = "\"'”’)]}»"


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends a sentence: a full stop, question or exclamation mark last
    (closing quotes and brackets aside), but not an ellipsis (whisper's trailing off)."""
    text = text.rstrip().rstrip(CLOSERS)
    return bool(text) and text[-1] in SENTENCE_ENDS and not text.endswith(("..", "…"))


@dataclass(eq=False)
class Ended:
    """An ended utterance of a batch session waiting in its pack for the pack's decode."""

    utterance: Utterance
    speech_final: bool
    entry_id: str | None  # the input record that ended it: the pack's checkpoint covers up to there


@dataclass(eq=False)
class InFlight:
    """A closed pack of a batch session whose decode runs while the session fills the next."""

    pack: list[Ended]
    task: asyncio.Task  # -> (its finals, the input they cover, its text): see AsrStage._decode_pack


@dataclass(eq=False)
class AsrSessionState:
    """Per-session state: the queue of input records and the utterance in progress."""

    options: StreamingOptions
    config: AsrConfig  # language, context, word timings, eager finals
    head: Head | None = None  # an early final covered the VAD's utterance in progress up to here
    applied: str | None = None  # entry id of the last input record applied
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    utterance: Utterance | None = None
    partial: asyncio.Task | None = None
    partial_request: str = ""  # engine request of the partial while it decodes ("" once it commits)
    speculation: Speculation | None = None
    request_id: str = ""  # of the latest decode in flight, to abort it
    packed: bool = False  # a batch session whose ended utterances are decoded in packs
    pack: list[Ended] = field(default_factory=list)  # ended utterances waiting for the pack's decode
    pack_text: str = ""  # the text of the session's last pack committed
    inflight: deque[InFlight] = field(default_factory=deque)  # closed packs decoding, oldest first
    # Auto-detect: the language the session's first final of SETTLE_WORDS words or more was decoded
    # in, which later utterances decode in ("" until then; not checkpointed: a takeover detects anew).
    language: str = ""
    redactor: Redactor | None = None  # the session asked for redaction (see asr_worker.redacting)
    redact_timer: asyncio.Task | None = None  # releases held finals after redact_hold_sec
    held_since: dict[str, float] = field(default_factory=dict)  # utterance id -> when its final was held


AsrSession = Session[AsrSessionState]


class AsrStage(Stage[AsrSessionState]):
    """Streaming recognition; the stage owns ``engine`` from :meth:`start` to :meth:`shutdown`."""

    name = "asr"

    def __init__(self, runner: Runner, engine: Engine, *, defaults: StreamingOptions, metrics: AsrMetrics) -> None:
        # Every write goes through the session's redactor first (a pass-through without redaction).
        self.runner = RedactingRunner(runner, metrics=metrics, hold_sec=defaults.redact_hold_sec)
        self.engine = engine
        self.defaults = defaults
        self.metrics = metrics

    async def start(self) -> None:
        await self.engine.start()  # vLLM loads its weights here, before sessions are taken

    async def shutdown(self) -> None:
        await self.engine.close()

    def open(self, session: AsrSession, state: bytes | None) -> AsrSessionState:
        config = session.config.asr
        asr = AsrSessionState(options=self.defaults.for_session(config), config=config, head=Head.decode(state))
        if config.redact:
            saved = json.loads(state).get("redactor") if state else None
            asr.redactor = Redactor(config.redact, hold_gap=round(self.defaults.redact_hold_sec * SAMPLE_RATE),
                                    state=saved)
        # Packs need word timings to deal the words back; eager finals need a decode at each pause.
        asr.packed = (session.config.batch and asr.options.batch_pack_sec > 0 and self.engine.times_words
                      and not config.eager_finals)
        asr.task = asyncio.create_task(self._run(session, asr), name=f"asr-{session.session_id}")
        return asr

    def snapshot(self, session: AsrSession) -> bytes | None:
        # Checkpoints fall between utterances, or after an early final (the head); none while the
        # redactor holds finals (clear text, which must not reach Redis: a takeover decodes them again).
        asr = session.state
        body: dict = {}
        if asr.head:
            body["head"] = asr.head.to_list()
        if asr.redactor is not None:
            if asr.redactor.holding:
                return None
            body["redactor"] = asr.redactor.state()
        return json.dumps(body).encode() if body else b""

    async def close_pending(self, session: AsrSession, marker: Flush | End) -> list[Record]:
        """At the End, the final of the utterance in progress (committed on its own); a
        Flush comes after the VAD ended the utterance. A batch session's pack is decoded and
        its finals committed first (the marker's checkpoint would pass them)."""
        asr = session.state
        if asr.packed:
            if isinstance(marker, End) and asr.utterance is not None:
                self._pack(asr, asr.utterance.start + asr.utterance.samples, speech_final=True, entry_id=None)
            self._start_pack(session, asr)
            while len(asr.inflight) > 1:  # the packs before it, each in its own write
                await self._commit_oldest(session, asr)
            if not asr.inflight:
                return []
            outputs, _, asr.pack_text = await asr.inflight[0].task
            asr.inflight.popleft()
            return outputs  # written with the marker: a takeover never decodes the pack again
        if isinstance(marker, End) and asr.utterance is not None:
            await self._finalize(session, asr, None, asr.utterance.start + asr.utterance.samples, speech_final=True)
        return []

    def active(self, session: AsrSession) -> bool:
        """Counts against the capacity only while an utterance, a decode or other input is in progress."""
        asr = session.state
        return (asr.utterance is not None or bool(asr.request_id) or not asr.queue.empty() or bool(asr.pack)
                or bool(asr.inflight))

    def ready_for_input(self, session: AsrSession) -> bool:
        return session.state.queue.qsize() < session.state.options.max_pending

    async def process(self, batch: list[tuple[AsrSession, Input]]) -> None:
        for session, records in batch:
            for item in records:
                session.state.queue.put_nowait(item)

    async def close(self, session: AsrSession, reason: str) -> None:
        """Cancel the session's tasks and wait for them (none is left pending to be destroyed).

        Called from the session's own task when it commits the end (that task then
        returns), from its partial decode when a write finds the lease lost, or
        from the runner (drop, drain, shutdown).
        """
        asr = session.state
        current = asyncio.current_task()
        speculative = asr.speculation.task if asr.speculation is not None else None
        tasks = [task for task in (asr.partial, asr.task, speculative, asr.redact_timer,
                                   *(f.task for f in asr.inflight))
                 if task is not None and task is not current]
        for task in tasks:
            task.cancel()
        if asr.request_id:
            await self.engine.abort(asr.request_id)
        if tasks:
            # Bounded: a task that cannot finish (a cycle of tasks closing each other, a
            # library ignoring its cancellation) must not hang the worker's shutdown.
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                session.log.warning("%d task(s) still running %.0f s after close: %s", len(stuck),
                                    CLOSE_TIMEOUT, ", ".join(sorted(t.get_name() for t in stuck)))

    async def readiness(self) -> tuple[bool, dict]:
        return self.engine.ready, {"engine": self.engine.name}

    def describe(self) -> dict:
        """The model's name and languages (None: the engine does not say) for the gateways' checks."""
        languages = self.engine.languages
        return {"model": self.engine.model_name, "languages": None if languages is None else list(languages)}

    # -- per-session task -----------------------------------------------------

    async def _run(self, session: AsrSession, asr: AsrSessionState) -> None:
        # The gateway refuses such a session at its door; a worker with another model (a fleet
        # of mixed models) refuses it here rather than decode it in a language it was not spoken in.
        refusal = ModelLanguages((self.engine.model_name,), None if self.engine.languages is None
                                 else frozenset(self.engine.languages)).refusal(asr.config.language)
        if refusal:
            session.log.warning("refused: %s", refusal)
            await self.runner.report(session, ErrorCode.BAD_CONFIG, refusal, fatal=True)
            return
        try:
            while not session.closed:  # closed by the commit of the end, among others
                if asr.pack:
                    try:  # a recording whose input stalls has its pack decoded as it is
                        async with asyncio.timeout(PACK_IDLE_SEC):
                            entry_id, record = await asr.queue.get()
                    except TimeoutError:
                        await self._close_pack(session, asr)
                        continue
                else:
                    entry_id, record = await asr.queue.get()
                if isinstance(record, Speculation):  # its decode ended
                    await self._early_final(session, asr, record)
                    continue
                if isinstance(record, InFlight):  # a pack's decode ended: commit what is due, in order
                    await self._commit_decoded(session, asr)
                    continue
                if asr.queue.qsize() == asr.options.max_pending // 2:
                    self.runner.wake(session)
                if asr.packed:
                    await self._apply_packed(session, asr, entry_id, record)
                else:
                    await self._apply(session, asr, entry_id, record)
                asr.applied = entry_id
        except (LeaseLost, SessionGone) as exc:
            session.log.info("stopped: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            session.log.exception("ASR session failed")
            await self.runner.report(session, ErrorCode.INTERNAL, "transcription failed for this session", fatal=True)

    async def _apply(self, session: AsrSession, asr: AsrSessionState, entry_id: str, record: Record) -> None:
        if isinstance(record, SpeechStart):
            if asr.utterance is not None:  # unterminated utterance: close it first
                await self._finalize(session, asr, None, record.start, speech_final=False)
            asr.head = None
            asr.utterance = Utterance(start=record.start)
            # Clients are told too (Deepgram's SpeechStarted); no checkpoint, as for partials.
            await self.runner.commit(session, [SpeechStart(start=record.start)])
        elif isinstance(record, Audio):
            if asr.speculation is not None and record.offset + record.samples > asr.speculation.end:
                await self._speech_resumed(session, asr)
            utt = self._utterance_of(session, asr, record)
            if utt is None:
                return
            utt.append(record.offset, np.frombuffer(record.pcm, np.int16))
            self._maybe_partial(session, asr)
        elif isinstance(record, SpeechPause):
            await self._speculate(session, asr, record, entry_id)
        elif isinstance(record, SpeechEnd):
            if asr.utterance is None and asr.head is not None and asr.head.vad_start == record.start:
                await self._end_after_early_final(session, asr, entry_id, record)
                return
            if asr.utterance is None or asr.utterance.vad_start != record.start:
                session.log.warning("speech end for an utterance at %d not in progress", record.start)
                await self.runner.commit(session, consumed=entry_id, boundary=True)
                return
            asr.utterance.truncate(record.end)
            await self._finalize(session, asr, entry_id, record.end,
                                 speech_final=record.reason != "max_length")
        elif isinstance(record, (Flush, End)):
            await self.runner.commit(session, await self.pass_marker(session, record), consumed=entry_id)

    @staticmethod
    def _utterance_of(session: AsrSession, asr: AsrSessionState, record: Audio) -> Utterance | None:
        """The utterance ``record`` belongs to: the one in progress or, after an early final, a new
        one for the speech that resumed; None for replayed audio that has its final, or for audio
        outside any utterance (logged)."""
        if asr.utterance is None and asr.head is not None:
            if record.offset + record.samples <= asr.head.through:
                return None  # replayed audio that has its final
            # Speech resumed after an early final: the rest is an utterance of its own.
            asr.utterance = Utterance(start=asr.head.through, vad_start=asr.head.vad_start)
            asr.head = None
        if asr.utterance is None:
            session.log.warning("audio at %d outside an utterance; ignored", record.offset)
        return asr.utterance

    # -- batch sessions in packs --------------------------------------------------

    async def _apply_packed(self, session: AsrSession, asr: AsrSessionState, entry_id: str, record: Record) -> None:
        """:meth:`_apply` for a batch session decoded in packs: its ended utterances wait in the
        pack (no decode at a pause, no partials) until the next would not fit, the input stalls,
        or a Flush or the End comes; then the pack is decoded and its finals committed."""
        if isinstance(record, SpeechStart):
            if asr.utterance is not None:  # unterminated utterance: close it first
                # Its input ends with the record before this one: the pack's checkpoint goes there.
                self._pack(asr, record.start, speech_final=False, entry_id=asr.applied)
            asr.head = None
            asr.utterance = Utterance(start=record.start, announce=True)
        elif isinstance(record, Audio):
            # (A head here comes from a checkpoint of a worker that decoded utterances one by one.)
            utt = self._utterance_of(session, asr, record)
            if utt is None:
                return
            utt.append(record.offset, np.frombuffer(record.pcm, np.int16))
            if asr.pack and self._pack_samples(asr, utt.samples) > self._pack_limit(asr):  # utt is asr.utterance
                await self._close_pack(session, asr)  # the utterance in progress starts the next pack
        elif isinstance(record, SpeechPause):
            utt = asr.utterance
            if utt is not None and utt.vad_start == record.start and asr.options.sentence_endpoint:
                utt.pauses.append(record.end)
        elif isinstance(record, SpeechEnd):
            utt = asr.utterance
            if utt is None or utt.vad_start != record.start:
                await self._flush_pack(session, asr)  # the commit below checkpoints past the pack
                if utt is None and asr.head is not None and asr.head.vad_start == record.start:
                    await self._end_after_early_final(session, asr, entry_id, record)
                else:
                    session.log.warning("speech end for an utterance at %d not in progress", record.start)
                    await self.runner.commit(session, consumed=entry_id, boundary=True)
                return
            utt.truncate(record.end)
            self._pack(asr, record.end, speech_final=record.reason != "max_length", entry_id=entry_id)
            # Full when no utterance of a second would fit any more.
            if self._pack_samples(asr, SAMPLE_RATE) > self._pack_limit(asr):
                await self._close_pack(session, asr)
        elif isinstance(record, (Flush, End)):
            await self.runner.commit(session, await self.pass_marker(session, record), consumed=entry_id)

    @staticmethod
    def _pack(asr: AsrSessionState, end: int, *, speech_final: bool, entry_id: str | None) -> None:
        """Put the utterance in progress, ended at ``end``, into the pack."""
        utt, asr.utterance = asr.utterance, None
        assert utt is not None  # an utterance in progress
        utt.truncate(end)
        asr.pack.append(Ended(utterance=utt, speech_final=speech_final, entry_id=entry_id))

    @staticmethod
    def _pack_samples(asr: AsrSessionState, more: int) -> int:
        """Samples of the pack with an utterance of ``more`` samples added."""
        return pack_length([e.utterance.samples for e in asr.pack] + [more], gap=round(PACK_GAP_SEC * SAMPLE_RATE))

    @staticmethod
    def _pack_limit(asr: AsrSessionState) -> int:
        return round(asr.options.batch_pack_sec * SAMPLE_RATE)

    async def _close_pack(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Start the pack's decode and go on filling the next one; commit the packs whose decodes
        ended, oldest first, and wait for the oldest while ``batch_pack_depth`` packs are in flight
        (the one that fills next included)."""
        await self._commit_decoded(session, asr)  # first: the freshest text for the pack's prompt
        self._start_pack(session, asr)
        while len(asr.inflight) >= asr.options.batch_pack_depth:  # a depth is at least 1
            await self._commit_oldest(session, asr)
        await self._commit_decoded(session, asr)

    async def _flush_pack(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Decode the pack and commit its finals and those of every pack in flight, in order (a
        commit with a checkpoint past them follows)."""
        self._start_pack(session, asr)
        while asr.inflight:
            await self._commit_oldest(session, asr)

    def _start_pack(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Start the decode of the pack (if any) in a task of its own, in flight; empty the pack.

        Its prompt is the text of the last pack committed: the previous pack's with a depth of 1;
        with more, packs closed together decode together (one batch), and none has the text of
        the pack before it yet."""
        pack, asr.pack = asr.pack, []
        if not pack:
            return
        previous = asr.pack_text if asr.options.batch_pack_prompt else ""
        flight = InFlight(pack, asyncio.create_task(self._decode_pack(session, asr, pack, previous),
                                                    name=f"asr-pack-{session.session_id}-{pack[0].utterance.start}"))
        asr.inflight.append(flight)
        # The session's task commits it in order, when it ends (its input may have stalled).
        flight.task.add_done_callback(lambda _: asr.queue.put_nowait(("", flight)))

    async def _commit_decoded(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Commit the packs at the head of those in flight whose decodes ended."""
        while asr.inflight and asr.inflight[0].task.done():
            await self._commit_oldest(session, asr)

    async def _commit_oldest(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Wait for the oldest pack in flight to be decoded and commit its finals in one write, with
        a checkpoint after its last utterance's end."""
        outputs, consumed, asr.pack_text = await asr.inflight[0].task
        asr.inflight.popleft()
        if outputs or consumed is not None:
            await self.runner.commit(session, outputs, consumed=consumed, boundary=True)

    async def _decode_pack(self, session: AsrSession, asr: AsrSessionState, pack: list[Ended],
                           previous: str) -> tuple[list[Record], str | None, str]:
        """Decode ``pack`` in one window with word timings, prompted with ``previous`` (a pack's text),
        and deal the words to its utterances (split at sentence ends at pauses, as the sentence
        endpoint splits a live call). Returns the finals (each after its utterance's SpeechStart),
        the input they cover, and the pack's text (the prompt of a later one)."""
        gap = round(PACK_GAP_SEC * SAMPLE_RATE)
        lengths = [ended.utterance.samples for ended in pack]
        request = DecodeRequest(
            request_id=self._request_id(session, pack[0].utterance, "pack"),
            audio=pack_audio([ended.utterance.pcm() for ended in pack], gap=gap), final=True,
            # The session's context last: whisper keeps a prompt's last tokens when it is too long.
            language=asr.config.language or asr.language or None,
            context=" ".join(filter(None, (previous, asr.config.context))),
            word_timestamps=True, batch=True)
        hypothesis = await self._transcribe(session, asr, request)
        words = hypothesis.words if hypothesis is not None and not hypothesis.no_speech else ()
        dealt = deal_words(words, lengths, gap=gap, rate=SAMPLE_RATE)
        if previous and hypothesis is not None and not all(dealt):
            # Whisper, prompted, may end its text early (more so where the prompt says what the
            # audio says); as faster-whisper falls back without it, decode once more unprompted.
            session.log.info("pack at %d: an utterance got no words with the prompt; decoding without",
                             pack[0].utterance.start)
            retry = await self._transcribe(session, asr, replace(
                request, request_id=self._request_id(session, pack[0].utterance, "pack"),
                context=asr.config.context))
            retry_words = retry.words if retry is not None and not retry.no_speech else ()
            retry_dealt = deal_words(retry_words, lengths, gap=gap, rate=SAMPLE_RATE)
            if sum(map(bool, retry_dealt)) > sum(map(bool, dealt)):  # else the prompted decode stands
                hypothesis, words, dealt = retry, retry_words, retry_dealt
        lost = deal_spans(hypothesis.lost if hypothesis is not None else (), lengths, gap=gap, rate=SAMPLE_RATE)
        # A later pack's prompt (none after a takeover: the replay starts without it).
        text = join_words(words[-PROMPT_WORDS:], language=hypothesis.language if hypothesis else "")
        language = hypothesis.language if hypothesis is not None else ""
        outputs: list[Record] = []
        for ended, its_words, its_lost in zip(pack, dealt, lost):
            utt = ended.utterance
            if utt.announce:
                outputs.append(SpeechStart(start=utt.start))
            piece = Piece(utt.start, utt.samples, tuple(utt.pauses))
            # Where the engine cut a loop out, in session samples.
            cut = [(utt.start + round(a * SAMPLE_RATE), utt.start + round(b * SAMPLE_RATE)) for a, b in its_lost]
            for segment in split_at_sentences(piece, its_words, rate=SAMPLE_RATE, ends_sentence=ends_sentence):
                truncated = any(a <= segment.end and b >= segment.start for a, b in cut)
                if not segment.words and not truncated:
                    self.metrics.no_speech.inc()
                    session.log.info("utterance at %d has no words; no final", segment.start)
                    continue
                if segment.split:
                    self.metrics.early_finals.labels(kind="sentence").inc()
                self._count_final(asr, language, len(segment.words))
                outputs.append(self._segment_transcript(session, asr, segment, language=language,
                                                        speech_final=segment.split or ended.speech_final,
                                                        truncated=truncated))
        return outputs, pack[-1].entry_id, text

    @staticmethod
    def _segment_transcript(session: AsrSession, asr: AsrSessionState, segment: Segment, *, language: str,
                            speech_final: bool, truncated: bool = False) -> Transcript:
        return Transcript(utterance_id=utterance_id(session.session_id, segment.start), start=segment.start,
                          end=segment.end, text=segment.text_in(language), final=True, speech_final=speech_final,
                          language=language,
                          words=session_words(segment.words, segment.start, segment.end) if asr.config.words else (),
                          confidence=probability(segment.confidence), truncated=truncated)

    def _maybe_partial(self, session: AsrSession, asr: AsrSessionState) -> None:
        utt = asr.utterance
        if (utt is None or utt.ending or asr.speculation is not None or session.config.batch
                or asr.partial is not None and not asr.partial.done()):
            return
        # Short windows until the first words: a first decode of too little speech finds none.
        window = asr.options.chunk_size_sec if utt.text else min(asr.options.first_partial_sec,
                                                                 asr.options.chunk_size_sec)
        if utt.samples - utt.decoded_samples < window * SAMPLE_RATE:
            return
        asr.partial_request = self._request_id(session, utt, "partial")
        asr.partial = asyncio.create_task(self._partial(session, asr, utt, asr.partial_request))

    async def _partial(self, session: AsrSession, asr: AsrSessionState, utt: Utterance, request_id: str) -> None:
        try:
            hypothesis = await self._decode(session, asr, utt, final=False, request_id=request_id)
        finally:
            if asr.partial_request == request_id:
                asr.partial_request = ""  # from here on it commits: stopping it would leave a seq gap
        if hypothesis is None or asr.utterance is not utt:
            return
        if hypothesis.text and not hypothesis.no_speech and hypothesis.text != utt.text:
            utt.text = hypothesis.text
            self.metrics.partials.inc()
            try:
                await self.runner.commit(session, [self._transcript(session, utt, utt.start + utt.decoded_samples,
                                                                    hypothesis, final=False)])
            except (LeaseLost, SessionGone):
                return
        # Audio that arrived during the decode goes into the next one.
        if asr.partial is asyncio.current_task():
            asr.partial = None
            self._maybe_partial(session, asr)

    async def _stop_partial(self, asr: AsrSessionState) -> None:
        """Stop the partial decode in flight (its result is no longer wanted); let a commit finish."""
        task, asr.partial = asr.partial, None  # and start no other one when it ends
        if task is None or task.done():
            return
        if asr.partial_request:
            # An executor decode (whisper) runs on in its thread; the task ends at once all the same.
            await self.engine.abort(asr.partial_request)
            task.cancel()
        await asyncio.wait({task})

    async def _speculate(self, session: AsrSession, asr: AsrSessionState, pause: SpeechPause,
                         entry_id: str) -> None:
        """Start the final decode of the utterance up to the pause's end (a batch session: and wait for it)."""
        utt = asr.utterance
        if utt is None or utt.vad_start != pause.start or utt.start + utt.samples != pause.end:
            session.log.warning("pause at %d..%d does not match the utterance in progress", pause.start, pause.end)
            return
        if asr.partial_request:
            # Whatever the engine can stop (vLLM: anything; whisper: a decode still queued); a
            # decode that runs on is let finish, and shows as a partial if it ends before the final.
            await self.engine.abort(asr.partial_request)
        await self._drop_speculation(asr)
        request_id = self._request_id(session, utt, "final")
        speculation = asr.speculation = Speculation(end=pause.end, request_id=request_id, task=asyncio.create_task(
            self._decode(session, asr, utt, final=True, request_id=request_id)))
        if not (asr.config.eager_finals or asr.options.sentence_endpoint):
            return
        if session.config.batch:
            await asyncio.wait({speculation.task})
            await self._early_final(session, asr, speculation, consumed=entry_id)
        else:
            # Its outcome is applied by the session's task, in order with the input records.
            speculation.task.add_done_callback(lambda _: asr.queue.put_nowait(("", speculation)))

    async def _early_final(self, session: AsrSession, asr: AsrSessionState, speculation: Speculation, *,
                           eager: bool = True, consumed: str | None = None) -> None:
        """Send the speculative decode as the final of the speech so far, if the session wants it
        (``eager`` False: only if its text ends a sentence).

        ``consumed``: the input the final's checkpoint covers (default: the last record applied).
        """
        if asr.speculation is not speculation or speculation.task.cancelled():
            return  # dropped (speech resumed) or already used by the endpoint
        hypothesis = speculation.task.result()
        if hypothesis is None or not hypothesis.text or hypothesis.no_speech:
            return  # the endpoint decides what becomes of it
        turn_end = asr.options.sentence_endpoint and ends_sentence(hypothesis.text)
        if not (turn_end or eager and asr.config.eager_finals):
            return
        utt = asr.utterance
        assert utt is not None  # the speculation is the utterance's
        utt.ending = True
        asr.speculation = None
        self.metrics.speculative_decodes.labels(outcome="used").inc()
        self.metrics.early_finals.labels(kind="sentence" if turn_end else "eager").inc()
        await self._stop_partial(asr)
        asr.utterance = None
        asr.head = Head(utt.vad_start, speculation.end, turn_end)
        self._count_final(asr, hypothesis.language, len(hypothesis.text.split()))
        await self.runner.commit(
            session, [self._transcript(session, utt, speculation.end, hypothesis, final=True, speech_final=turn_end)],
            consumed=consumed or asr.applied, boundary=True)

    async def _end_after_early_final(self, session: AsrSession, asr: AsrSessionState, entry_id: str,
                                     end: SpeechEnd) -> None:
        """The VAD ended an utterance whose speech had its early final: the turn is over."""
        head, asr.head = asr.head, None
        assert head is not None  # the caller saw it
        outputs = []
        if not head.speech_final:  # an eager final: say that the turn ended, with no new words
            outputs.append(Transcript(utterance_id=utterance_id(session.session_id, head.through),
                                      start=head.through, end=max(end.end, head.through), text="", final=True,
                                      speech_final=True))
        await self.runner.commit(session, outputs, consumed=entry_id, boundary=True)

    async def _speech_resumed(self, session: AsrSession, asr: AsrSessionState) -> None:
        """Speech resumed after the pause: the speculative final is dropped, unless the session
        ends utterances at sentence ends and its text ends one.

        That decode is waited for: had the pause ended the utterance or not depended on which
        came first, the decode or the speech, a short sentence and a short pause ("Hi." then
        0.6 s) would split at real time on an idle worker but not on a busy one, nor in audio
        sent faster than real time. Eager finals keep to what came first.
        """
        speculation = asr.speculation
        assert speculation is not None  # the pause's
        if asr.options.sentence_endpoint:
            await asyncio.wait({speculation.task})
            await self._early_final(session, asr, speculation, eager=False)
        if asr.speculation is speculation:
            await self._drop_speculation(asr)

    async def _drop_speculation(self, asr: AsrSessionState) -> None:
        """Discard the speculative final (speech resumed, or the utterance ended elsewhere)."""
        speculation, asr.speculation = asr.speculation, None
        if speculation is None:
            return
        self.metrics.speculative_decodes.labels(outcome="wasted").inc()
        if not speculation.task.done():
            await self.engine.abort(speculation.request_id)
            speculation.task.cancel()

    async def _finalize(self, session: AsrSession, asr: AsrSessionState, entry_id: str | None, end: int, *,
                        speech_final: bool) -> None:
        utt = asr.utterance
        assert utt is not None  # the utterance being finalized
        utt.ending = True
        if asr.partial_request:
            await self.engine.abort(asr.partial_request)  # never waited for (see _stop_partial below)
        speculation = asr.speculation
        if speculation is not None and speculation.end == end == utt.start + utt.samples:
            asr.speculation = None
            self.metrics.speculative_decodes.labels(outcome="used").inc()
            hypothesis = await speculation.task
        else:
            await self._drop_speculation(asr)
            hypothesis = None
            if utt.samples:
                hypothesis = await self._decode(session, asr, utt, final=True,
                                                request_id=self._request_id(session, utt, "final"))
        # A partial that ended meanwhile has been sent (a decode the engine could not abort);
        # one still decoding is stopped now, one committing is let finish: partials precede the final.
        await self._stop_partial(asr)
        asr.utterance = None
        outputs = []
        # A decode whose loop was cut out has its final, words or none: it says that words may be missing.
        if hypothesis is not None and (hypothesis.text and not hypothesis.no_speech or hypothesis.lost):
            self._count_final(asr, hypothesis.language, len(hypothesis.text.split()))
            outputs.append(self._transcript(session, utt, end, hypothesis, final=True, speech_final=speech_final))
        else:
            self.metrics.no_speech.inc()
            session.log.info("utterance at %d has no words; no final", utt.start)
        await self.runner.commit(session, outputs, consumed=entry_id, boundary=True)

    @staticmethod
    def _request_id(session: AsrSession, utt: Utterance, kind: str) -> str:
        utt.requests += 1
        return f"{session.session_id}-{utt.start}-{kind}{utt.requests}-{session.epoch}"

    async def _decode(self, session: AsrSession, asr: AsrSessionState, utt: Utterance, *, final: bool,
                      request_id: str) -> Hypothesis | None:
        options = asr.options
        use_prefix = not final or options.final_with_prefix
        prefix = stable_prefix(utt.token_ids, chunk_index=utt.decodes,
                               unfixed_chunk_num=options.unfixed_chunk_num,
                               unfixed_token_num=options.unfixed_token_num,
                               detokenize=self.engine.detokenize) if use_prefix else ""
        audio = utt.audio()
        if not final:
            utt.decoded_samples = len(audio)
        # A prefix continues the previous answer, so it must keep that answer's language.
        language = asr.config.language or (utt.language if prefix else None) or asr.language or None
        request = DecodeRequest(request_id=request_id, audio=audio, final=final, prefix=prefix, language=language,
                                context=asr.config.context, word_timestamps=final and asr.config.words,
                                first_words=not final and not utt.text, batch=session.config.batch)
        hypothesis = await self._transcribe(session, asr, request)
        if hypothesis is None:
            return None
        utt.decodes += 1
        utt.token_ids = hypothesis.token_ids
        utt.language = hypothesis.language
        return hypothesis

    async def _transcribe(self, session: AsrSession, asr: AsrSessionState,
                          request: DecodeRequest) -> Hypothesis | None:
        """The engine's decode of ``request``, counted; None (the client told) if it failed."""
        started = time.perf_counter()
        asr.request_id = request.request_id
        self.metrics.decodes_in_flight.inc()
        try:
            hypothesis = await self.engine.transcribe(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            session.log.exception("decode failed")
            await self.runner.report(session, ErrorCode.ASR_FAILED, f"recognition failed for one utterance: {exc}")
            return None
        finally:
            if asr.request_id == request.request_id:
                asr.request_id = ""
            self.metrics.decodes_in_flight.dec()
        kind = "batch" if request.batch else "final" if request.final else "partial"
        self.metrics.decode_seconds.labels(kind=kind).observe(time.perf_counter() - started)
        self.metrics.decoded_audio.inc(len(request.audio) / SAMPLE_RATE)
        self.metrics.tokens.inc(hypothesis.tokens)
        if hypothesis.loop:
            self.metrics.loops.labels(kind=kind, outcome=hypothesis.loop).inc()
            session.log.info("decode of %.1f s looped (%s): %s", len(request.audio) / SAMPLE_RATE, kind,
                             hypothesis.loop)
        return hypothesis

    def _count_final(self, asr: AsrSessionState, language: str, words: int) -> None:
        """Count a final by the language it was decoded in. With auto-detect, the first final of
        :data:`SETTLE_WORDS` words or more settles the session's language: a short utterance alone
        is often detected as another ("por favor." heard as English "for the Lord."), and a call
        keeps its language. A caller who switches languages mid-call then needs a new session."""
        self.metrics.finals.labels(language=language or "unknown").inc()
        if asr.config.language is None and not asr.language and language and words >= SETTLE_WORDS:
            asr.language = language

    @staticmethod
    def _transcript(session: AsrSession, utt: Utterance, end: int, hypothesis: Hypothesis, *, final: bool,
                    speech_final: bool = False) -> Transcript:
        return Transcript(utterance_id=utterance_id(session.session_id, utt.start),
                          start=utt.start, end=max(end, utt.start), text=hypothesis.text, final=final,
                          speech_final=speech_final, language=hypothesis.language,
                          words=session_words(hypothesis.words, utt.start, max(end, utt.start)),
                          confidence=probability(hypothesis.confidence),
                          truncated=final and bool(hypothesis.lost))


def session_words(words: tuple[Word, ...], start: int, end: int) -> tuple[TimedWord, ...]:
    """Word times (seconds into the utterance) as session samples, in order and inside ``start``..``end``."""
    timed, previous = [], start
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

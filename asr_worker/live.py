"""Sessions decoded utterance by utterance: live calls, partials, speculation and early finals.

While speech goes on, a partial decode of the utterance so far starts every ``chunk_size_sec`` of
new audio, one decode in flight per session (audio meanwhile folds into the next). At the VAD's
pause the final is decoded speculatively; if the speech end confirms the pause, that decode is
the final, else it is dropped. A final never waits for a partial. An early final (a decode that ends
the turn, :func:`~.core.ends_turn`; or every pause with ``eager_finals``) ends the ASR's utterance at
the pause, and the speech after it is decoded with bounded context (:mod:`.continuation`); where
it split is in the checkpoint, so a replay splits the same whatever its decodes' timing. A final
is written with the checkpoint past its utterance in one fenced write, and its id is
``(session, start sample)``, so a takeover's duplicate is dropped at the gateway. Recordings not
decoded in packs (:mod:`.recording`) take this path without partials, waiting for the decode at a
pause before going on so that they split where a live session would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import numpy as np

from common.errors import LeaseLost, SessionGone
from common.records import (SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart, Transcript,
                            utterance_id)

from .continuation import Piece, context, decode_rest, judged, spoken_seconds
from .core import (AsrSession, AsrSessionState, Done, Head, Mode, Utterance, as_sentence, ended, ends_turn,
                   probability, session_words)
from .digits import STEP as DIGITS
from .engines import DecodeRequest, Hypothesis
from .replies import Part, split_replies
from .rollback import stable_prefix
from .span import final_span


@dataclass(eq=False)
class Speculation:
    """The final decode of an utterance up to ``end``, started at a pause."""

    end: int
    request_id: str
    task: asyncio.Task  # -> Hypothesis | None
    # Speech resumed before the decode ended: the input applied before it (the checkpoint of an
    # early final from this decode; what came after it is carried over to the rest).
    resumed_after: str | None = None


@dataclass(eq=False)
class LiveState(AsrSessionState):
    """A session decoded utterance by utterance: its partial and speculative decodes."""

    partial: asyncio.Task | None = None
    partial_request: str = ""  # engine request of the partial while it decodes ("" once it commits)
    speculation: Speculation | None = None

    def tasks(self) -> list[asyncio.Task | None]:
        speculative = self.speculation.task if self.speculation is not None else None
        return [self.partial, *super().tasks(), speculative]


class LiveSessions(Mode[LiveState]):
    """The stage's sessions decoded utterance by utterance (a strategy of :class:`~asr_worker.stage.AsrStage`)."""

    async def close_pending(self, session: AsrSession, asr: LiveState, marker: Flush | End) -> list[Record]:
        """At the End, the final of the utterance in progress (committed on its own); a Flush comes
        after the VAD ended the utterance."""
        if isinstance(marker, End) and asr.utterance is not None:
            await self._finalize(session, asr, None, asr.utterance.start + asr.utterance.samples, speech_final=True)
        return []

    async def apply(self, session: AsrSession, asr: LiveState, entry_id: str, record: Record) -> None:
        if not isinstance(record, Audio) and asr.speculation is not None and asr.speculation.resumed_after is not None:
            # Whatever a pause's decode decides is applied before the next pause or end.
            await self.settle(session, asr, asr.speculation)
        if isinstance(record, SpeechStart):
            if asr.utterance is not None:  # unterminated utterance: close it first
                await self._finalize(session, asr, None, record.start, speech_final=False)
            asr.head = None
            asr.utterance = Utterance(start=max(record.start, asr.final_through), vad_start=record.start)
            # Clients are told too (Deepgram's SpeechStarted); no checkpoint, as for partials.
            await self.core.commit(session, [SpeechStart(start=record.start)])
        elif isinstance(record, Audio):
            if (asr.speculation is not None and asr.speculation.resumed_after is None
                    and record.offset + record.samples > asr.speculation.end):
                await self._speech_resumed(session, asr)
            utt = self.core.utterance_of(session, asr, record)
            if utt is None:
                return
            utt.append(record.offset, np.frombuffer(record.pcm, np.int16))
            self._maybe_partial(session, asr)
        elif isinstance(record, SpeechPause):
            await self._speculate(session, asr, record, entry_id)
        elif isinstance(record, SpeechEnd):
            if asr.utterance is None and asr.head is not None and asr.head.vad_start == record.start:
                await self.core.end_after_early_final(session, asr, entry_id, record)
                return
            if asr.utterance is None or asr.utterance.vad_start != record.start:
                session.log.warning("speech end for an utterance at %d not in progress", record.start)
                await self.core.commit(session, [ended(record)], consumed=entry_id, boundary=True)
                return
            asr.utterance.truncate(record.end)
            await self._finalize(session, asr, entry_id, record.end,
                                 speech_final=record.reason != "max_length", vad_end=record)
        elif isinstance(record, (Flush, End)):
            await self.core.commit(session, [*await self.close_pending(session, asr, record), record], consumed=entry_id)

    def _maybe_partial(self, session: AsrSession, asr: LiveState) -> None:
        utt = asr.utterance
        if (utt is None or utt.ending or asr.speculation is not None or session.config.batch
                or asr.partial is not None and not asr.partial.done()):
            return
        # Short windows until the first words: a first decode of too little speech finds none.
        window = asr.options.chunk_size_sec if utt.text else min(asr.options.first_partial_sec,
                                                                 asr.options.chunk_size_sec)
        if utt.samples - utt.decoded_samples < window * SAMPLE_RATE:
            return
        asr.partial_request = self.core.request_id(session, utt, "partial")
        asr.partial = asyncio.create_task(self._partial(session, asr, utt, asr.partial_request,
                                                        through=utt.start + utt.samples))

    async def _partial(self, session: AsrSession, asr: LiveState, utt: Utterance, request_id: str, *,
                       through: int) -> None:
        try:
            hypothesis = await self._decode(session, asr, utt, final=False, request_id=request_id, through=through)
        finally:
            if asr.partial_request == request_id:
                asr.partial_request = ""  # from here on it commits: stopping it would leave a seq gap
        if hypothesis is None or asr.utterance is not utt:
            return
        if hypothesis.text and not hypothesis.no_speech and hypothesis.text != utt.text:
            utt.text = hypothesis.text
            self.metrics.partials.inc()
            try:
                await self.core.commit(session, [self._transcript(session, utt, utt.start + utt.decoded_samples,
                                                                    hypothesis, final=False)])
            except (LeaseLost, SessionGone):
                return
        # Audio that arrived during the decode goes into the next one.
        if asr.partial is asyncio.current_task():
            asr.partial = None
            self._maybe_partial(session, asr)

    async def _stop_partial(self, asr: LiveState) -> None:
        """Stop the partial decode in flight (its result is no longer wanted); let a commit finish."""
        task, asr.partial = asr.partial, None  # and start no other one when it ends
        if task is None or task.done():
            return
        if asr.partial_request:
            # An executor decode (whisper) runs on in its thread; the task ends at once all the same.
            await self.engine.abort(asr.partial_request)
            task.cancel()
        await asyncio.wait({task})

    async def _speculate(self, session: AsrSession, asr: LiveState, pause: SpeechPause,
                         entry_id: str) -> None:
        """Start the final decode of the utterance up to the pause's end (a batch session: and wait for it)."""
        utt = asr.utterance
        if pause.end <= asr.final_through:
            return  # a pause the VAD says again after a split (vad_worker.segmenter), whose final was sent
        if utt is None or utt.vad_start != pause.start or utt.start + utt.samples != pause.end:
            session.log.warning("pause at %d..%d does not match the utterance in progress", pause.start, pause.end)
            return
        if asr.partial_request:
            # Whatever the engine can stop (vLLM: anything; whisper: a decode still queued); a
            # decode that runs on is let finish, and shows as a partial if it ends before the final.
            await self.engine.abort(asr.partial_request)
        await self._drop_speculation(asr)
        request_id = self.core.request_id(session, utt, "final")
        speculation = asr.speculation = Speculation(end=pause.end, request_id=request_id, task=asyncio.create_task(
            self._decode(session, asr, utt, final=True, request_id=request_id, through=pause.end)))
        if not (asr.config.eager_finals or asr.options.sentence_endpoint):
            return
        if session.config.batch:
            await asyncio.wait({speculation.task})
            await self._early_final(session, asr, speculation, consumed=entry_id)
        else:
            # Its outcome is applied by the session's task, in order with the input records.
            done = Done(lambda: self.settle(session, asr, speculation))
            speculation.task.add_done_callback(lambda _: asr.queue.put_nowait(done))

    async def _early_final(self, session: AsrSession, asr: LiveState, speculation: Speculation, *,
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
        turn_end = asr.options.sentence_endpoint and ends_turn(
            hypothesis, confidence=asr.options.sentence_confidence, short_words=asr.options.sentence_short_words,
            ungated=asr.options.sentence_confidence_skip)
        if not (turn_end or eager and asr.config.eager_finals):
            return
        utt = asr.utterance
        assert utt is not None  # the speculation is the utterance's
        utt.ending = True
        asr.speculation = None
        carried = utt.pcm()[speculation.end - utt.start:].copy()  # speech that resumed before the decode ended
        self.metrics.speculative_decodes.labels(outcome="used").inc()
        self.metrics.early_finals.labels(kind="sentence" if turn_end else "eager").inc()
        await self._stop_partial(asr)
        asr.utterance = None
        asr.final_through = max(asr.final_through, speculation.end)
        # The finals so far (texts, latest pieces): the context of the final of what resumes (.continuation).
        said = as_sentence(hypothesis.text) if turn_end else hypothesis.text  # a turn ended there
        heard = (context((*utt.heard, Piece(utt.pcm()[:speculation.end - utt.start].copy(), said)))
                 if self.engine.continues_prefix else ())
        asr.head = Head(utt.vad_start, speculation.end, turn_end, earlier=(*utt.earlier, said), heard=heard)
        self.core.count_final(asr, hypothesis.language, len(hypothesis.text.split()))
        await self.core.commit(
            session, self._finals(session, asr, utt, speculation.end, hypothesis, speech_final=turn_end),
            consumed=consumed or speculation.resumed_after or asr.applied, boundary=True)
        if len(carried):  # after the commit: its checkpoint holds the head, as a replay finds it
            self.core.resume(asr).append(speculation.end, carried)
            self._maybe_partial(session, asr)

    async def _speech_resumed(self, session: AsrSession, asr: LiveState) -> None:
        """Speech resumed after the pause: the speculative final is dropped, unless the session
        ends utterances at sentence ends and its text ends one.

        What that decode says is applied whenever it ends: had the pause ended the utterance or
        not depended on which came first, the decode or the speech, a short sentence and a short
        pause ("Hi." then 0.6 s) would split at real time on an idle worker but not on a busy one,
        nor in audio sent faster than real time. It is not waited for here: the speech that
        resumed goes on into the utterance meanwhile (no partial), and an early final carries it
        over to the rest; waiting held every session's input behind the decode queue, so the
        pauses of continuous speech made it lag seconds behind at 8 calls. The next pause or end
        waits for it (:meth:`apply`). Eager finals keep to what came first.
        """
        speculation = asr.speculation
        assert speculation is not None  # the pause's
        if not asr.options.sentence_endpoint:
            await self._drop_speculation(asr)
        elif speculation.task.done():
            await self.settle(session, asr, speculation, resumed_after=asr.applied)
        else:
            speculation.resumed_after = asr.applied

    async def settle(self, session: AsrSession, asr: LiveState, speculation: Speculation, *,
                     resumed_after: str | None = None) -> None:
        """Apply the outcome of a pause's decode (it ended, or is waited for here): an early final,
        or, once speech has resumed, nothing (dropped); before that the endpoint may still use it."""
        if asr.speculation is not speculation:
            return  # dropped, or used by the endpoint
        speculation.resumed_after = speculation.resumed_after or resumed_after
        if speculation.resumed_after is None:
            await self._early_final(session, asr, speculation)
            return
        await asyncio.wait({speculation.task})
        await self._early_final(session, asr, speculation, eager=False)
        if asr.speculation is speculation:
            await self._drop_speculation(asr)
            self._maybe_partial(session, asr)

    async def _drop_speculation(self, asr: LiveState) -> None:
        """Discard the speculative final (speech resumed, or the utterance ended elsewhere)."""
        speculation, asr.speculation = asr.speculation, None
        if speculation is None:
            return
        self.metrics.speculative_decodes.labels(outcome="wasted").inc()
        if not speculation.task.done():
            await self.engine.abort(speculation.request_id)
            speculation.task.cancel()

    async def _finalize(self, session: AsrSession, asr: LiveState, entry_id: str | None, end: int, *,
                        speech_final: bool, vad_end: SpeechEnd | None = None) -> None:
        """The final of the utterance in progress, up to ``end``; ``vad_end``: the VAD's end that ended
        it, passed on after the final (the gateway's analytics time speech by the VAD's utterances)."""
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
                                                request_id=self.core.request_id(session, utt, "final"))
        # A partial that ended meanwhile has been sent (a decode the engine could not abort);
        # one still decoding is stopped now, one committing is let finish: partials precede the final.
        await self._stop_partial(asr)
        asr.utterance = None
        asr.final_through = max(asr.final_through, end)
        outputs: list[Record] = []
        # A decode whose loop was cut out has its final, words or none: it says that words may be missing.
        # One judged no speech (a looping filler on a breath) says so without its words.
        if hypothesis is not None and hypothesis.no_speech and hypothesis.lost:
            hypothesis = replace(hypothesis, text="", words=())
        if hypothesis is not None and (hypothesis.text and not hypothesis.no_speech or hypothesis.lost):
            self.core.count_final(asr, hypothesis.language, len(hypothesis.text.split()))
            outputs += self._finals(session, asr, utt, end, hypothesis, speech_final=speech_final)
        else:
            self.metrics.no_speech.inc()
            session.log.info("utterance at %d has no words; no final", utt.start)
        if vad_end is not None:
            outputs.append(ended(vad_end))
        await self.core.commit(session, outputs, consumed=entry_id, boundary=True)

    async def _decode(self, session: AsrSession, asr: LiveState, utt: Utterance, *, final: bool,
                      request_id: str, through: int | None = None) -> Hypothesis | None:
        """The decode of ``utt`` up to ``through``, the audio there when it was asked for: the session
        goes on appending before the task runs (a pause's decode while speech resumes)."""
        options = asr.options
        use_prefix = not final or options.final_with_prefix
        prefix = stable_prefix(utt.token_ids, chunk_index=utt.decodes,
                               unfixed_chunk_num=options.unfixed_chunk_num,
                               unfixed_token_num=options.unfixed_token_num,
                               detokenize=self.engine.detokenize) if use_prefix else ""
        audio = utt.audio() if through is None else utt.audio()[:through - utt.start]
        if not final:
            utt.decoded_samples = len(audio)
        # A prefix continues the previous answer, so it must keep that answer's language.
        language = asr.config.language or (utt.language if prefix else None) or asr.language or None
        request = DecodeRequest(request_id=request_id, audio=audio, final=final, prefix=prefix, language=language,
                                context=options.context(asr.config), word_timestamps=final and asr.config.words,
                                first_words=not final and not utt.text, batch=session.config.batch,
                                retry=self.core.digits_retry(asr, utt) if final else None)
        if final and utt.earlier:  # the rest after an early final: with bounded context (.continuation)
            hypothesis, echoed = await decode_rest(request, lambda r: self.core.transcribe(session, asr, r),
                                                   heard=utt.heard, earlier=utt.earlier, tokenize=self.engine.tokenize)
            if echoed:
                self.metrics.echoes.inc(echoed)
                session.log.info("the final at %d: %d decode(s) wrote the speech before it again", utt.start, echoed)
        else:
            hypothesis = await self.core.transcribe(session, asr, request)
            if final and hypothesis is not None:  # as a rest's last decode is judged (.continuation)
                hypothesis = judged(hypothesis, spoken_seconds(audio))
        if hypothesis is None:
            return None
        utt.decodes += 1
        utt.token_ids = hypothesis.token_ids
        utt.language = hypothesis.language
        return hypothesis

    def _finals(self, session: AsrSession, asr: LiveState, utt: Utterance, end: int, hypothesis: Hypothesis, *,
                speech_final: bool) -> list[Transcript]:
        """The final of ``hypothesis`` up to ``end``; more where it holds a short reply beside a sentence
        that a silence parts from it (:mod:`.replies`): the reply ended a turn, whoever spoke next."""
        pcm = utt.pcm()[:end - utt.start]
        pieces = [Part(hypothesis.text, 0)]
        if asr.options.sentence_endpoint and asr.options.split_replies and not hypothesis.lost:
            pieces = split_replies(hypothesis.text, pcm)
        if len(pieces) == 1:
            return [self._transcript(session, utt, end, hypothesis, final=True, speech_final=speech_final)]
        self.metrics.reply_splits.inc(len(pieces) - 1)
        finals = []
        for piece, following in zip(pieces, [*pieces[1:], None]):
            stop = len(pcm) if following is None else following.at
            # A word is the piece's where its middle is; its times count from the piece's start.
            shift = piece.at / SAMPLE_RATE
            words = tuple(replace(w, start=max(0.0, w.start - shift), end=max(0.0, w.end - shift))
                          for w in hypothesis.words if piece.at <= round((w.start + w.end) / 2 * SAMPLE_RATE) < stop)
            part = Utterance(start=utt.start + piece.at, vad_start=utt.vad_start, chunks=[pcm[piece.at:stop]],
                             samples=stop - piece.at)
            finals.append(self._transcript(session, part, utt.start + stop, replace(hypothesis, text=piece.text, words=words),
                                           final=True, speech_final=speech_final if following is None else True))
        return finals

    @staticmethod
    def _transcript(session: AsrSession, utt: Utterance, end: int, hypothesis: Hypothesis, *, final: bool,
                    speech_final: bool = False) -> Transcript:
        """The transcript of ``hypothesis`` (a final's span narrowed to its speech: :mod:`.span`); a final
        whose digits' second decode was refused is noted for the redactor
        (:attr:`~.core.AsrSessionState.unread_numbers`)."""
        if final and hypothesis.step(DIGITS) == "refused":
            session.state.unread_numbers[utterance_id(session.session_id, utt.start)] = hypothesis.retried
        start, end = utt.start, max(end, utt.start)
        if final:  # where its words were said (.span)
            start, end = final_span(utt.pcm()[:end - utt.start], utt.start)
        return Transcript(utterance_id=utterance_id(session.session_id, utt.start),
                          start=start, end=end, text=hypothesis.text, final=final,
                          speech_final=speech_final, language=hypothesis.language,
                          words=session_words(hypothesis.words, utt.start, end, within=start),
                          confidence=probability(hypothesis.confidence),
                          truncated=final and bool(hypothesis.lost))


"""Recordings in packs: the ASR stage's batch sessions with an engine that times words.

A recording's ended utterances are not decoded one by one: they wait in a pack of up to
``batch_pack_sec`` seconds, decoded in one window with word timings and the previous pack's text
as prompt, and the words are dealt back to each utterance and split where a live session would
have split (:mod:`asr_worker.packing`). Up to ``batch_pack_depth`` packs decode at once so that the
engine can batch them, but they are committed strictly in order, each pack's finals in one write
with the checkpoint past its last utterance: a takeover replays whole packs and each final still
goes out once. An utterance a pack wrote no words of is decoded alone. In a session redacting
cards or SSNs, a final of a number passage without digits is decoded again with the digits
prompt, decided from the redactor's checkpointed state so that a replay decides the same.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from common.records import (SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart, Transcript,
                            utterance_id)

from .core import AsrSession, AsrSessionState, Done, Mode, Utterance, ends_sentence, probability, session_words
from .span import final_span
from .engines import DecodeRequest, Word
from .digits import needs_digits, outcome
from .digits import retry as digits_retry
from .packing import (ALONE, SPANNED, Segment, UtteranceSpan, beside_surplus, deal_spans, deal_words, join_words, pack_audio, pack_length,
                      spanned_by_numbers, split_at_sentences, unworded)


PACK_GAP_SEC = 0.3  # silence between two utterances of a pack (each has its own trailing padding too)
PACK_IDLE_SEC = 1.0  # a pack waits this long for more input before it is decoded as it is
PROMPT_WORDS = 100  # of the previous pack in a pack's prompt (whisper keeps at most 223 tokens of it)


def echoes(prompt: str, text: str) -> bool:
    """Whether a number written in ``text`` is one of the digits ``prompt``'s own (``506``,
    ``4929``): whisper copies the prompt where it hears too little, and for an utterance that
    had no words before there is no first decode to hold it against."""
    return bool(set(re.findall(r"\d+", text)) & set(re.findall(r"\d+", prompt)))


@dataclass(eq=False)
class PackedUtterance:
    """An ended utterance of a batch session waiting in its pack for the pack's decode."""

    utterance: Utterance
    speech_final: bool
    entry_id: str | None  # the input record that ended it: the pack's checkpoint covers up to there


@dataclass(eq=False)
class PackDecode:
    """A closed pack of a batch session whose decode runs while the session fills the next."""

    pack: list[PackedUtterance]
    task: asyncio.Task  # -> (its finals, the input they cover, its text): see Recordings._decode_pack


@dataclass(eq=False)
class PackState(AsrSessionState):
    """A recording's session decoded in packs: the pack filling, and those decoding."""

    pack: list[PackedUtterance] = field(default_factory=list)  # ended utterances waiting for the pack's decode
    pack_text: str = ""  # the text of the session's last pack committed
    inflight: deque[PackDecode] = field(default_factory=deque)  # closed packs decoding, oldest first

    def tasks(self) -> list[asyncio.Task | None]:
        return [*super().tasks(), *(f.task for f in self.inflight)]


class Recordings(Mode[PackState]):
    """The stage's recordings in packs (a strategy of :class:`~asr_worker.stage.AsrStage`)."""

    async def close_pending(self, session: AsrSession, asr: PackState, marker: Flush | End) -> list[Record]:
        """The pack decoded and the finals of the packs before it committed; its own finals are
        returned, for the marker's write."""
        if isinstance(marker, End) and asr.utterance is not None:
            self._pack(asr, asr.utterance.start + asr.utterance.samples, speech_final=True, entry_id=None)
        self._start_pack(session, asr)
        while len(asr.inflight) > 1:  # the packs before it, each in its own write
            await self._commit_oldest(session, asr)
        if not asr.inflight:
            return []
        outputs, _, asr.pack_text = await asr.inflight[0].task
        pack = asr.inflight.popleft().pack
        # Written with the marker: a takeover never decodes the pack again.
        return await self._digits_again(session, asr, pack, outputs)

    def busy(self, asr: PackState) -> bool:
        return bool(asr.pack or asr.inflight)

    def idle_after(self, asr: PackState) -> float | None:
        """A recording whose input stalls has its pack decoded as it is."""
        return PACK_IDLE_SEC if asr.pack else None

    async def idle(self, session: AsrSession, asr: PackState) -> None:
        await self._close_pack(session, asr)

    async def apply(self, session: AsrSession, asr: PackState, entry_id: str, record: Record) -> None:
        """Apply an input record to a batch session decoded in packs: its ended utterances wait in the
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
            utt = self.core.utterance_of(session, asr, record)
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
                    await self.core.end_after_early_final(session, asr, entry_id, record)
                else:
                    session.log.warning("speech end for an utterance at %d not in progress", record.start)
                    await self.core.commit(session, consumed=entry_id, boundary=True)
                return
            utt.truncate(record.end)
            self._pack(asr, record.end, speech_final=record.reason != "max_length", entry_id=entry_id)
            # Full when no utterance of a second would fit any more.
            if self._pack_samples(asr, SAMPLE_RATE) > self._pack_limit(asr):
                await self._close_pack(session, asr)
        elif isinstance(record, (Flush, End)):
            await self.core.commit(session, [*await self.close_pending(session, asr, record), record], consumed=entry_id)

    @staticmethod
    def _pack(asr: PackState, end: int, *, speech_final: bool, entry_id: str | None) -> None:
        """Put the utterance in progress, ended at ``end``, into the pack."""
        utt, asr.utterance = asr.utterance, None
        assert utt is not None  # an utterance in progress
        utt.truncate(end)
        asr.pack.append(PackedUtterance(utterance=utt, speech_final=speech_final, entry_id=entry_id))

    @staticmethod
    def _pack_samples(asr: PackState, more: int) -> int:
        """Samples of the pack with an utterance of ``more`` samples added."""
        return pack_length([e.utterance.samples for e in asr.pack] + [more], gap=round(PACK_GAP_SEC * SAMPLE_RATE))

    @staticmethod
    def _pack_limit(asr: PackState) -> int:
        return round(asr.options.batch_pack_sec * SAMPLE_RATE)

    async def _close_pack(self, session: AsrSession, asr: PackState) -> None:
        """Start the pack's decode and go on filling the next one; commit the packs whose decodes
        ended, oldest first, and wait for the oldest while ``batch_pack_depth`` packs are in flight
        (the one that fills next included)."""
        await self._commit_decoded(session, asr)  # first: the freshest text for the pack's prompt
        self._start_pack(session, asr)
        while len(asr.inflight) >= asr.options.batch_pack_depth:  # a depth is at least 1
            await self._commit_oldest(session, asr)
        await self._commit_decoded(session, asr)

    async def _flush_pack(self, session: AsrSession, asr: PackState) -> None:
        """Decode the pack and commit its finals and those of every pack in flight, in order (a
        commit with a checkpoint past them follows)."""
        self._start_pack(session, asr)
        while asr.inflight:
            await self._commit_oldest(session, asr)

    def _start_pack(self, session: AsrSession, asr: PackState) -> None:
        """Start the decode of the pack (if any) in a task of its own, in flight; empty the pack.

        Its prompt is the text of the last pack committed: the previous pack's with a depth of 1;
        with more, packs closed together decode together (one batch), and none has the text of
        the pack before it yet."""
        pack, asr.pack = asr.pack, []
        if not pack:
            return
        previous = asr.pack_text if asr.options.batch_pack_prompt else ""
        flight = PackDecode(pack, asyncio.create_task(self._decode_pack(session, asr, pack, previous),
                                                    name=f"asr-pack-{session.session_id}-{pack[0].utterance.start}"))
        asr.inflight.append(flight)
        # The session's task commits it in order, when it ends (its input may have stalled).
        done = Done(lambda: self._commit_decoded(session, asr))
        flight.task.add_done_callback(lambda _: asr.queue.put_nowait(done))

    async def _commit_decoded(self, session: AsrSession, asr: PackState) -> None:
        """Commit the packs at the head of those in flight whose decodes ended."""
        while asr.inflight and asr.inflight[0].task.done():
            await self._commit_oldest(session, asr)

    async def _commit_oldest(self, session: AsrSession, asr: PackState) -> None:
        """Wait for the oldest pack in flight to be decoded and commit its finals in one write, with
        a checkpoint after its last utterance's end."""
        outputs, consumed, asr.pack_text = await asr.inflight[0].task
        outputs = await self._digits_again(session, asr, asr.inflight.popleft().pack, outputs)
        if outputs or consumed is not None:
            await self.core.commit(session, outputs, consumed=consumed, boundary=True)

    async def _decode_pack(self, session: AsrSession, asr: PackState, pack: list[PackedUtterance],
                           previous: str) -> tuple[list[Record], str | None, str]:
        """Decode ``pack`` in one window with word timings, prompted with ``previous`` (a pack's text),
        and deal the words to its utterances (split at sentence ends at pauses, as the sentence
        endpoint splits a live call). Returns the finals (each after its utterance's SpeechStart),
        the input they cover, and the pack's text (the prompt of a later one)."""
        gap = round(PACK_GAP_SEC * SAMPLE_RATE)
        lengths = [ended.utterance.samples for ended in pack]
        request = DecodeRequest(
            request_id=self.core.request_id(session, pack[0].utterance, "pack"),
            audio=pack_audio([ended.utterance.pcm() for ended in pack], gap=gap), final=True,
            # The session's context last: whisper keeps a prompt's last tokens when it is too long.
            language=asr.config.language or asr.language or None,
            context=" ".join(filter(None, (previous, asr.options.context(asr.config)))),
            word_timestamps=True, batch=True)
        hypothesis = await self.core.transcribe(session, asr, request)
        words = hypothesis.words if hypothesis is not None and not hypothesis.no_speech else ()
        dealt = deal_words(words, lengths, gap=gap, rate=SAMPLE_RATE)
        if previous and hypothesis is not None and not all(dealt):
            # Whisper, prompted, may end its text early (more so where the prompt says what the
            # audio says); as faster-whisper falls back without it, decode once more unprompted.
            session.log.info("pack at %d: an utterance got no words with the prompt; decoding without",
                             pack[0].utterance.start)
            retry = await self.core.transcribe(session, asr, replace(
                request, request_id=self.core.request_id(session, pack[0].utterance, "pack"),
                context=asr.options.context(asr.config)))
            retry_words = retry.words if retry is not None and not retry.no_speech else ()
            retry_dealt = deal_words(retry_words, lengths, gap=gap, rate=SAMPLE_RATE)
            if sum(map(bool, retry_dealt)) > sum(map(bool, dealt)):  # else the prompted decode stands
                hypothesis, words, dealt = retry, retry_words, retry_dealt
        lost = deal_spans(hypothesis.lost if hypothesis is not None else (), lengths, gap=gap, rate=SAMPLE_RATE)
        unheard = await self._decode_alone(session, asr, pack, request, dealt, lost, unworded(
            dealt, lost, [a or b for a, b in zip(spanned_by_numbers(words, lengths, gap=gap, rate=SAMPLE_RATE),
                                                 beside_surplus(dealt, lengths, rate=SAMPLE_RATE))]) if hypothesis else [])
        # A later pack's prompt (none after a takeover: the replay starts without it).
        text = join_words(words[-PROMPT_WORDS:], language=hypothesis.language if hypothesis else "")
        language = hypothesis.language if hypothesis is not None else ""
        outputs: list[Record] = []
        for index, (ended, its_words, its_lost) in enumerate(zip(pack, dealt, lost)):
            utt = ended.utterance
            if utt.announce:
                outputs.append(SpeechStart(start=utt.start))
            piece = UtteranceSpan(utt.start, utt.samples, tuple(utt.pauses))
            # Where the engine cut a loop out, in session samples.
            cut = [(utt.start + round(a * SAMPLE_RATE), utt.start + round(b * SAMPLE_RATE)) for a, b in its_lost]
            for segment in split_at_sentences(piece, its_words, rate=SAMPLE_RATE, ends_sentence=ends_sentence):
                truncated = any(a <= segment.end and b >= segment.start for a, b in cut)
                audio = utt.pcm()[segment.start - utt.start:segment.end - utt.start]
                if not segment.words and not truncated and index in unheard:  # the result says what is missing
                    self.core.count_final(asr, language, 0)
                    outputs.append(replace(self._segment_transcript(session, asr, segment, audio, language=language,
                                                                    speech_final=ended.speech_final), no_words=True))
                    continue
                if not segment.words and not truncated:
                    self.metrics.no_speech.inc()
                    session.log.info("utterance at %d has no words; no final", segment.start)
                    continue
                if segment.split:
                    self.metrics.early_finals.labels(kind="sentence").inc()
                self.core.count_final(asr, language, len(segment.words))
                outputs.append(self._segment_transcript(session, asr, segment, audio, language=language,
                                                        speech_final=segment.split or ended.speech_final,
                                                        truncated=truncated))
        return outputs, pack[-1].entry_id, text

    async def _decode_alone(self, session: AsrSession, asr: PackState, pack: list[PackedUtterance], request: DecodeRequest,
                            dealt: list[list[Word]], lost: list[list[tuple[float, float]]],
                            fates: list[str]) -> set[int]:
        """Each utterance of ``pack`` that the pack's decode (``request``) wrote nothing of and no number
        of a neighbour spans (``fates``, :func:`~.packing.unworded`) decoded alone, its own audio as a
        live final's (greedy, the engine's beam fallback; a number passage's digits prompt follows at
        the commit, :meth:`_digits_again`): its words and cut loops put in ``dealt`` and ``lost``. Returns
        the utterances that got no words that way either (their finals say so: ``no_words``)."""
        for index in (i for i, fate in enumerate(fates) if fate == SPANNED):
            self.metrics.lone_decodes.labels(outcome="spanned").inc()
            session.log.info("utterance at %d got no words in its pack, a number written beside it covers it; "
                             "not decoded alone", pack[index].utterance.start)
        alone = [i for i, fate in enumerate(fates) if fate == ALONE]
        # Together: the engine's batch thread decodes the ones waiting in one call.
        hypotheses = await asyncio.gather(*(self.core.transcribe(session, asr, replace(
            request, request_id=self.core.request_id(session, pack[i].utterance, "alone"),
            audio=pack[i].utterance.pcm().astype(np.float32) / 32768.0,
            context=asr.options.context(asr.config))) for i in alone))
        unheard = set()
        for index, hypothesis in zip(alone, hypotheses):
            utt = pack[index].utterance
            if hypothesis is not None and not hypothesis.no_speech:
                # (dealt as a pack of one: the times kept inside the utterance)
                dealt[index] = deal_words(hypothesis.words, [utt.samples], gap=0, rate=SAMPLE_RATE)[0]
                lost[index] = list(hypothesis.lost)
            outcome = "words" if dealt[index] else "none"
            self.metrics.lone_decodes.labels(outcome=outcome).inc()
            session.log.info("utterance at %d got no words in its pack; decoded alone: %s", utt.start,
                             f"{len(dealt[index])} words" if dealt[index] else "none either")
            if not dealt[index] and not lost[index]:
                unheard.add(index)
        return unheard

    async def _digits_again(self, session: AsrSession, asr: PackState, pack: list[PackedUtterance],
                            outputs: list[Record]) -> list[Record]:
        """``outputs``, a pack's, about to be committed after every pack before it: each final of a
        number passage (:meth:`~common.redaction.redactor.Redactor.number_passage`) that has no
        number, or no words at all (``no_words``: its pack and its decode alone wrote nothing),
        decoded again alone with the digits prompt, and replaced when :func:`~.digits.keep_digits` keeps
        the new text (for one with no words: unless a number of it is the prompt's own). The passage of each final is read from a copy of the redactor that
        has taken the finals before it in the pack, as the redactor will when they are committed."""
        prompt = asr.options.redact_digits_prompt
        if not prompt or asr.redactor is None or not any(
                isinstance(r, Transcript) and (needs_digits(r.text) or r.no_words) for r in outputs):
            return outputs
        ahead = copy.deepcopy(asr.redactor)  # (the real one changes only when these are committed)
        again: list[Record] = []
        for record in outputs:
            if isinstance(record, SpeechStart):
                ahead.speech_start(record.start)
            elif isinstance(record, Transcript) and record.final:
                if (needs_digits(record.text) or record.no_words) and ahead.number_passage(record.start):
                    record = await self._decode_digits(session, asr, pack, record, prompt)
                ahead.final(record, unread_number=asr.unread_numbers.get(record.utterance_id, ""))
            again.append(record)
        return again

    async def _decode_digits(self, session: AsrSession, asr: PackState, pack: list[PackedUtterance], final: Transcript,
                             prompt: str) -> Transcript:
        """``final`` decoded again from its own audio with the digits ``prompt`` before the session's
        context (greedy, as the pack was); the new text if :func:`~.digits.keep_digits` keeps it. One that
        wrote digits the rule refused is noted for the redactor, as a live final is
        (:attr:`~.core.AsrSessionState.unread_numbers`)."""
        utt = next((e.utterance for e in pack
                    if e.utterance.start <= final.start < e.utterance.start + e.utterance.samples), None)
        if utt is None:  # not a final of this pack's audio (none seen): as it is
            return final
        pcm = utt.pcm()[final.start - utt.start:final.end - utt.start]
        hypothesis = await self.core.transcribe(session, asr, DecodeRequest(
            request_id=self.core.request_id(session, utt, "digits"), audio=pcm.astype(np.float32) / 32768.0, final=True,
            language=final.language or asr.config.language or asr.language or None,
            context=digits_retry(prompt).context(asr.options.context(asr.config)),
            word_timestamps=asr.config.words, batch=True))
        came = outcome(final.text, hypothesis.text) if hypothesis is not None and not hypothesis.no_speech \
            else "dropped"
        kept = came == "kept" and not (final.no_words and echoes(prompt, hypothesis.text if hypothesis else ""))
        self.metrics.digit_redecodes.labels(kept=str(kept).lower()).inc()
        if not kept:
            if came == "refused":  # as a live final's (.live): the redactor decides what it means
                asr.unread_numbers[final.utterance_id] = hypothesis.text if hypothesis is not None else ""
            return final
        assert hypothesis is not None  # kept
        return replace(final, text=hypothesis.text, confidence=probability(hypothesis.confidence), no_words=False,
                       words=session_words(hypothesis.words, final.start, final.end) if asr.config.words else (),
                       truncated=bool(hypothesis.lost))

    @staticmethod
    def _segment_transcript(session: AsrSession, asr: PackState, segment: Segment, audio: np.ndarray, *,
                            language: str, speech_final: bool, truncated: bool = False) -> Transcript:
        """The final of ``segment`` (its ``audio``): its span where its words were said (:mod:`.span`),
        as a live final's."""
        start, end = final_span(audio, segment.start)
        return Transcript(utterance_id=utterance_id(session.session_id, segment.start), start=start,
                          end=end, text=segment.text_in(language), final=True, speech_final=speech_final,
                          language=language,
                          words=session_words(segment.words, segment.start, end, within=start) if asr.config.words
                          else (),
                          confidence=probability(segment.confidence), truncated=truncated)

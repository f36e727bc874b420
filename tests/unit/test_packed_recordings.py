"""A recording's utterances decoded in packs by the ASR stage: one decode for several ended
utterances, each utterance's final from its own words, split at a pause after a complete
sentence, committed in order with one checkpoint past the pack; a takeover replays the pack.

The stage runs in process with the recording stand-in for the Redis runner; the engine is a
fake that times words (as whisper does): one word per 0.2 s block of the pack's audio that
is not silence, each a sentence ("w."), so the finals show which audio each was dealt.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
from prometheus_client import CollectorRegistry

from asr_worker.engines import DecodeRequest, Engine, Hypothesis, Word
from asr_worker.recording import PackState
from asr_worker.stage import AsrStage, StreamingOptions
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart, Transcript, utterance_id

from tests.kit.support import RecordingRunner, sound_runs

SR = 16_000
BLOCK = SR // 5  # a word per 0.2 s of sound
CHUNK = 1600
TIMEOUT = 10.0


class WordTimer(Engine):
    """A word per 0.2 s of each stretch of sound (from its start); every request kept."""

    name = "fake-words"
    times_words = True

    def __init__(self) -> None:
        self.requests: list[DecodeRequest] = []

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        self.requests.append(request)
        words = tuple(Word("w.", at / SR, (at + BLOCK) / SR, 0.9)
                      for start, end in sound_runs(request.audio) for at in range(start, end - BLOCK + 1, BLOCK))
        return Hypothesis(text=" ".join(w.text for w in words), language="en", no_speech=not words,
                          tokens=len(words), words=words if request.word_timestamps else ())

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, token_ids: list[int]) -> str:
        return ""


def speech(offset: int, seconds: float) -> list[Audio]:
    pcm = np.full(round(seconds * SR), 3000, np.int16)
    return [Audio(seq=0, offset=offset + at, pcm=pcm[at:at + CHUNK].tobytes()) for at in range(0, len(pcm), CHUNK)]


def utterance(start: float, seconds: float, *, pause_after: float | None = None) -> list[Record]:
    """An utterance of ``seconds`` at ``start`` s; with ``pause_after``: a VAD pause that far into
    it, after which speech resumed."""
    first, end = round(start * SR), round((start + seconds) * SR)
    records: list[Record] = [SpeechStart(seq=0, start=first)]
    if pause_after is None:
        records += speech(first, seconds)
    else:
        pause = round((start + pause_after) * SR)
        records += [*speech(first, pause_after), SpeechPause(seq=0, start=first, end=pause),
                    *speech(pause, seconds - pause_after)]
    return [*records, SpeechEnd(seq=0, start=first, end=end, reason="silence")]


class Worker:
    def __init__(self, engine: Engine, *, epoch: int = 1, pack_sec: float = 28.0, state: bytes | None = None,
                 config: AsrConfig = AsrConfig(), prompt: bool = True, depth: int = 16) -> None:
        defaults = StreamingOptions(batch_pack_sec=pack_sec, batch_pack_prompt=prompt, batch_pack_depth=depth)
        self.runner = RecordingRunner(lambda r: AsrStage(r, engine, defaults=defaults,
                                                         metrics=AsrMetrics(CollectorRegistry())))
        self.stage = self.runner.stage
        self.session = self.runner.open("rec", config=PipelineConfig(asr=config, priority="batch"), epoch=epoch,
                                        state=state)

    async def run(self, records: list[Record], *, first: int = 0) -> None:
        """Feed ``records`` as entries ``first + 1`` ... and wait for the End to pass."""
        await self.stage.process([(self.session, [(f"{first + i + 1}-0", r) for i, r in enumerate(records)])])
        await asyncio.wait_for(self.runner.finished.wait(), TIMEOUT)

    def finals(self) -> list[tuple[str, int, int, int, bool]]:
        """(utterance id, start, end, words, speech_final) of each final."""
        return [(t.utterance_id, t.start, t.end, len(t.text.split()), t.speech_final)
                for t in self.runner.outputs() if isinstance(t, Transcript)]

    async def close(self) -> None:
        await self.stage.close(self.session, "test over")


async def test_ended_utterances_are_decoded_in_one_pack_and_each_gets_its_own_words():
    engine = WordTimer()
    worker = Worker(engine)
    records = [*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 3.0), End(seq=0)]
    try:
        await worker.run(records)
    finally:
        await worker.close()
    assert len(engine.requests) == 1  # one decode for the three
    request = engine.requests[0]
    assert request.batch and request.final and request.word_timestamps
    assert len(request.audio) == (2 + 1 + 3) * SR + 2 * round(0.3 * SR)  # the gaps between them
    assert worker.finals() == [
        (utterance_id("rec", SR), SR, 3 * SR, 10, True),
        (utterance_id("rec", 4 * SR), 4 * SR, 5 * SR, 5, True),
        (utterance_id("rec", 6 * SR), 6 * SR, 9 * SR, 15, True),
    ]
    # In order, each SpeechStart before its final, in the End's write: a takeover cannot find
    # the finals written and the input not consumed, and decode the pack again.
    outputs, consumed, *_ = worker.runner.commits[0]
    assert [type(r).__name__ for r in outputs] == ["SpeechStart", "Transcript"] * 3 + ["End"]
    assert consumed is None and worker.runner.commits[0][3]  # the End's write ends the session: no checkpoint


async def test_a_flush_writes_the_pack_with_its_own_checkpoint():
    engine = WordTimer()
    worker = Worker(engine)
    records = [*utterance(1.0, 2.0), *utterance(4.0, 1.0), Flush(seq=0, flush_id=7), End(seq=0)]
    try:
        await worker.run(records)
    finally:
        await worker.close()
    outputs, consumed, *_ = worker.runner.commits[0]
    assert [type(r).__name__ for r in outputs] == ["SpeechStart", "Transcript"] * 2 + ["Flush"]
    assert consumed == f"{records.index(records[-2]) + 1}-0"  # the Flush's, in the same write as the finals


async def test_an_unterminated_utterance_in_a_pack_checkpoints_its_last_record():
    engine = WordTimer()
    worker = Worker(engine, pack_sec=2.5)
    # No SpeechEnd for the first: the next SpeechStart ends it. The second does not fit beside it.
    first = utterance(1.0, 2.0)[:-1]
    records = [*first, *utterance(4.0, 2.0), End(seq=0)]
    try:
        await worker.run(records)
    finally:
        await worker.close()
    outputs, consumed, *_ = worker.runner.commits[0]
    assert [type(r).__name__ for r in outputs] == ["SpeechStart", "Transcript"]
    assert consumed == f"{len(first)}-0"  # its last audio: a replay starts at the next SpeechStart


async def test_an_utterance_that_would_not_fit_starts_the_next_pack():
    engine = WordTimer()
    worker = Worker(engine, pack_sec=4.0)
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 3.0), End(seq=0)])
    finally:
        await worker.close()
    assert [round(len(r.audio) / SR, 1) for r in engine.requests] == [3.3, 3.0]
    assert [f[3] for f in worker.finals()] == [10, 5, 15]
    # Each pack its own write and checkpoint.
    assert [sum(isinstance(r, Transcript) for r in outputs) for outputs, *_ in worker.runner.commits[:2]] == [2, 1]


async def test_a_complete_sentence_before_a_pause_ends_its_own_final():
    engine = WordTimer()
    worker = Worker(engine)
    try:
        await worker.run([*utterance(1.0, 2.0, pause_after=1.2), End(seq=0)])
    finally:
        await worker.close()
    pause = round(2.2 * SR)
    assert worker.finals() == [
        (utterance_id("rec", SR), SR, pause, 6, True),
        (utterance_id("rec", pause), pause, 3 * SR, 4, True),
    ]


async def test_without_the_sentence_endpoint_a_pause_does_not_split():
    worker = Worker(WordTimer(), config=AsrConfig(sentence_endpoint=False))
    try:
        await worker.run([*utterance(1.0, 2.0, pause_after=1.2), End(seq=0)])
    finally:
        await worker.close()
    assert worker.finals() == [(utterance_id("rec", SR), SR, 3 * SR, 10, True)]


async def test_a_takeover_replays_the_pack_from_the_checkpoint_before_it():
    first = [*utterance(1.0, 2.0), *utterance(4.0, 1.0)]
    rest = [*utterance(6.0, 3.0), End(seq=0)]
    engine = WordTimer()
    worker = Worker(engine, pack_sec=4.0)
    try:
        await worker.stage.process([(worker.session, [(f"{i + 1}-0", r) for i, r in enumerate(first + rest[:3])])])
        await asyncio.wait_for(_until(lambda: len(worker.runner.commits) == 1), TIMEOUT)
    finally:
        await worker.close()  # the worker dies with the third utterance in its pack
    (outputs, consumed, state, *_), = worker.runner.commits
    assert consumed == f"{len(first)}-0"
    # The new owner replays from the checkpoint: the third utterance gets its final there.
    survivor = Worker(engine, epoch=2, pack_sec=4.0, state=state)
    try:
        await survivor.run(rest, first=len(first))
    finally:
        await survivor.close()
    assert [f[0] for f in worker.finals() + survivor.finals()] == [
        utterance_id("rec", SR), utterance_id("rec", 4 * SR), utterance_id("rec", 6 * SR)]


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0)


async def test_eager_finals_keep_a_decode_per_utterance():
    engine = WordTimer()
    worker = Worker(engine, config=AsrConfig(eager_finals=True))
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), End(seq=0)])
    finally:
        await worker.close()
    assert not isinstance(worker.session.state, PackState)
    assert [len(r.audio) for r in engine.requests if r.final] == [2 * SR, 1 * SR]


class EndsEarlyWhenPrompted(WordTimer):
    """Whisper's failure mode with a prompt: the text ends early (here: only the first stretch)."""

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        hypothesis = await super().transcribe(request)
        if not request.context:
            return hypothesis
        first = tuple(w for w in hypothesis.words if w.start < hypothesis.words[0].start + 1.0)
        return replace(hypothesis, text=" ".join(w.text for w in first), words=first)


async def test_a_pack_is_prompted_with_the_previous_packs_text_and_decoded_again_without_if_words_go_missing():
    engine = EndsEarlyWhenPrompted()
    worker = Worker(engine, pack_sec=4.0, depth=1)  # each pack decoded before the next closes
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 1.0), *utterance(8.0, 1.0),
                          End(seq=0)])
    finally:
        await worker.close()
    assert [r.context for r in engine.requests] == ["", " ".join(["w."] * 15), ""]
    assert [f[3] for f in worker.finals()] == [10, 5, 5, 5]


class HearsNothingUnprompted(EndsEarlyWhenPrompted):
    """As above, and the decode without the prompt judges the pack silence."""

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        hypothesis = await super().transcribe(request)
        if request.context or len(self.requests) == 1:
            return hypothesis
        return replace(hypothesis, text="", words=(), no_speech=True)


async def test_a_retry_that_covers_fewer_utterances_leaves_the_prompted_decode_standing():
    engine = HearsNothingUnprompted()
    worker = Worker(engine, pack_sec=4.0, depth=1)
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 1.0), *utterance(8.0, 1.0),
                          End(seq=0)])
    finally:
        await worker.close()
    assert len(engine.requests) == 4  # the second pack decoded again, to no avail; its last utterance alone
    assert [f[3] for f in worker.finals()] == [10, 5, 5, 0]  # its first utterance keeps the prompted words
    # The last: no words either way, and its final says so (the utterance decoded alone heard nothing).
    last = [t for t in worker.runner.outputs() if isinstance(t, Transcript)][-1]
    assert (last.start, last.text, last.no_words, last.truncated) == (8 * SR, "", True, False)
    assert len(engine.requests[3].audio) == SR and engine.requests[3].context == ""
    assert worker.stage.metrics.lone_decodes.labels(outcome="none")._value.get() == 1
    assert worker.stage.metrics.no_speech._value.get() == 0


async def test_no_prompt_with_the_option_off():
    engine = WordTimer()
    worker = Worker(engine, pack_sec=4.0, prompt=False)
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 1.0), End(seq=0)])
    finally:
        await worker.close()
    assert [r.context for r in engine.requests] == ["", ""]


# -- several packs in flight (batch_pack_depth) ---------------------------------------------------

class Gated(WordTimer):
    """:class:`WordTimer` whose decodes end only when the test releases them (by pack: 0, 1, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: list[asyncio.Event] = []

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        gate = asyncio.Event()
        self.gates.append(gate)
        hypothesis = await super().transcribe(request)
        await gate.wait()
        return hypothesis

    def release(self, *packs: int) -> None:
        for pack in packs:
            self.gates[pack].set()


async def _settle() -> None:
    """Let every task run until it waits on something outside the event loop's ready queue."""
    for _ in range(100):
        await asyncio.sleep(0)


def _one_pack_each(count: int) -> list[Record]:
    """``count`` utterances of 3 s, 4 s apart: with 4 s packs each closes its own at its end."""
    return [record for n in range(count) for record in utterance(1.0 + 4 * n, 3.0)]


async def test_packs_decode_while_the_next_fill_at_most_depth_at_once_and_commit_in_order():
    engine = Gated()
    worker = Worker(engine, pack_sec=4.0, depth=3)
    records = [*_one_pack_each(6), End(seq=0)]
    ends = [f"{i + 1}-0" for i, r in enumerate(records) if isinstance(r, SpeechEnd)]
    try:
        await worker.stage.process([(worker.session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        await asyncio.wait_for(_until(lambda: len(engine.requests) == 3), TIMEOUT)
        await _settle()
        assert len(engine.requests) == 3  # the bound: the third waits for the first before the fourth closes
        engine.release(2, 1)  # decodes that end out of order wait for the one before them
        await _settle()
        assert worker.runner.commits == [] and len(engine.requests) == 3
        engine.release(0)
        await asyncio.wait_for(_until(lambda: len(worker.runner.commits) == 3), TIMEOUT)
        # Each pack in its own write, in order, with the checkpoint after its utterance.
        assert [consumed for _, consumed, *_ in worker.runner.commits] == ends[:3]
        await asyncio.wait_for(_until(lambda: len(engine.requests) == 6), TIMEOUT)
        for pack in (3, 4):
            engine.release(pack)
            await asyncio.wait_for(_until(lambda: len(worker.runner.commits) == pack + 1), TIMEOUT)
        engine.release(5)  # the End came meanwhile: it waits for the last pack
        await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    # The first three closed before any decode ended: no pack's text to prompt them with; the
    # others have the text of the last pack committed when they closed (the third's).
    assert [r.context for r in engine.requests] == ["", "", ""] + [" ".join(["w."] * 15)] * 3
    assert [f[0] for f in worker.finals()] == [utterance_id("rec", (1 + 4 * n) * SR) for n in range(6)]
    assert [consumed for _, consumed, *_ in worker.runner.commits[3:5]] == ends[3:5]
    # The last pack, in flight at the End, goes out in the End's write.
    assert [type(r).__name__ for r in worker.runner.commits[-1][0]] == ["SpeechStart", "Transcript", "End"]
    assert len(worker.runner.commits) == 6


async def test_depth_one_decodes_each_pack_before_the_next_closes():
    engine = Gated()
    worker = Worker(engine, pack_sec=4.0, depth=1)
    try:
        await worker.stage.process([(worker.session, [(f"{i + 1}-0", r)
                                                      for i, r in enumerate([*_one_pack_each(3), End(seq=0)])])])
        for pack in range(3):
            await asyncio.wait_for(_until(lambda: len(engine.requests) == pack + 1), TIMEOUT)
            await _settle()
            assert len(engine.requests) == pack + 1
            engine.release(pack)
        await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    assert [len(f) for f in worker.finals()] == [5] * 3


async def test_a_takeover_with_packs_in_flight_sends_each_final_once():
    engine = Gated()
    worker = Worker(engine, pack_sec=4.0, depth=4)
    records = _one_pack_each(5)
    try:
        await worker.stage.process([(worker.session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        await asyncio.wait_for(_until(lambda: len(engine.requests) == 4), TIMEOUT)
        engine.release(0, 2)  # the second still decodes: only the first may be committed
        await asyncio.wait_for(_until(lambda: len(worker.runner.commits) == 1), TIMEOUT)
        await _settle()
    finally:
        await worker.close()  # the worker dies with packs in flight
    (_, consumed, state, *_), = worker.runner.commits
    replay_from = int(consumed.split("-")[0])
    survivor_engine = WordTimer()
    survivor = Worker(survivor_engine, epoch=2, pack_sec=4.0, depth=4, state=state)
    try:
        await survivor.run([*records[replay_from:], End(seq=0)], first=replay_from)
    finally:
        await survivor.close()
    assert [f[0] for f in worker.finals() + survivor.finals()] == [
        utterance_id("rec", (1 + 4 * n) * SR) for n in range(5)]


class CutLoop(WordTimer):
    """As WordTimer, but the engine cut a loop out of 2.5-3.0 s of the pack: no words there."""

    LOST = (2.5, 3.0)

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        found = await super().transcribe(request)
        words = tuple(w for w in found.words if not self.LOST[0] <= w.start < self.LOST[1])
        return replace(found, words=words, text=" ".join(w.text for w in words), steps=(("loop", "truncated"),),
                       lost=(self.LOST,))


async def three_utterances(engine: Engine) -> tuple[Worker, list[Transcript]]:
    """The recording of the first test through ``engine``: the worker and its finals."""
    worker = Worker(engine)
    try:
        await worker.run([*utterance(1.0, 2.0), *utterance(4.0, 1.0), *utterance(6.0, 3.0), End(seq=0)])
    finally:
        await worker.close()
    return worker, [t for t in worker.runner.outputs() if isinstance(t, Transcript)]


async def test_a_loop_cut_out_of_a_pack_flags_the_final_it_falls_in():
    """The pack's second utterance (2.3-3.3 s of the pack) lost words to a loop the engine cut out:
    its final says so, however many words it kept; the others do not; the loop is counted."""
    worker, finals = await three_utterances(CutLoop())
    assert [(t.start, t.truncated) for t in finals] == [(SR, False), (4 * SR, True), (6 * SR, False)]
    assert len(finals[1].text.split()) == 2  # 2.3-2.5 s and 3.0-3.3 s: a word each
    assert worker.stage.metrics.loops.labels(kind="batch", outcome="truncated")._value.get() == 1


async def test_a_final_whose_words_were_all_cut_out_still_comes():
    """An utterance the cut left no words in gets a final that says so, not silence."""
    engine = CutLoop()
    engine.LOST = (2.3, 3.3)
    _, finals = await three_utterances(engine)
    assert [(t.start, t.text, t.truncated) for t in finals][1] == (4 * SR, "", True)


class DropsInPack(WordTimer):
    """As WordTimer, but the pack's decode writes nothing of 2.3-3.3 s of the pack (the second of
    three_utterances' utterances), or writes ``NUMBER`` over it when set; an utterance decoded
    alone is heard."""

    NUMBER: Word | None = None

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        found = await super().transcribe(request)
        if len(request.audio) <= 3 * SR:  # an utterance alone
            return found
        words = tuple(w for w in found.words if not 2.3 <= w.start < 3.3)
        if self.NUMBER is not None:
            words = tuple(sorted([*(w for w in words if not self.NUMBER.start <= w.start < self.NUMBER.end),
                                  self.NUMBER], key=lambda w: w.start))
        return replace(found, words=words, text=" ".join(w.text for w in words))


async def test_an_utterance_the_pack_wrote_nothing_of_is_decoded_alone_and_its_words_are_its_final():
    engine = DropsInPack()
    worker, finals = await three_utterances(engine)
    assert [(t.start, len(t.text.split()), t.no_words) for t in finals] == [
        (SR, 10, False), (4 * SR, 5, False), (6 * SR, 15, False)]
    alone = engine.requests[1]  # its own second of audio, as a live final's decode (no pack prompt)
    assert len(engine.requests) == 2 and len(alone.audio) == SR and alone.final and alone.word_timestamps
    assert alone.context == "" and alone.request_id != engine.requests[0].request_id
    assert worker.stage.metrics.lone_decodes.labels(outcome="words")._value.get() == 1


async def test_an_utterance_spanned_by_a_number_written_beside_it_is_not_decoded_again():
    """The pack wrote a number read over the first two utterances as one word dealt to the first
    (its midpoint): the second's digits are written there, and a decode alone would write them twice."""
    engine = DropsInPack()
    engine.NUMBER = Word("40128888", 0.9, 3.3, 0.8)  # midpoint 2.1 s: the first utterance's (to 2.15 s)
    worker, finals = await three_utterances(engine)
    assert len(engine.requests) == 1
    assert [(t.start, t.text.split()[-1]) for t in finals] == [(SR, "40128888"), (6 * SR, "w.")]
    assert worker.stage.metrics.lone_decodes.labels(outcome="spanned")._value.get() == 1

"""The second decode of a card-number passage with a digits prompt (asr_worker/digits.py):
when a final is decoded again and which decode is kept, on transcripts recorded from whisper on
the redaction set (bench.redaction, tests/kit/redaction.py's calls), and the redactor's view of a
number passage (common/redaction/redactor.py), which must read checkpointed state only; live
finals, and a recording's finals decoded in packs."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from asr_worker.core import DIGITS_PROMPT, AsrSessionState, Core, Utterance
from asr_worker.engines import DecodeRequest, Engine, Hypothesis, Word
from asr_worker.digits import STEP, final_retry, keep_digits, needs_digits
from asr_worker.recording import PackState
from asr_worker.stage import AsrStage, StreamingOptions
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import Audio, End, Flush, Record, SpeechEnd, SpeechStart, Transcript
from common.redaction.redactor import Redactor

from tests.kit.support import RecordingRunner, sound_runs

SECOND = 16_000


# (first decode, the decode with the digits prompt), as recorded by bench.redaction --digits (2026-11-24):
# the card-words call's "eight eight eight eight." groups after "My card number is".
RECOVERED = [
    # base, en-us mu-law: its decode before the loop guard (which cuts it to "Hey, hey"), and with the prompt.
    ("Hey, hey, hey, hey, hey, hey, hey, hey, hey, hey", "8888"),
    ("Hey, hey", "8888."),  # base, en-us+f3 16 kHz
    ("Hey, hey", "3055"),  # base, en-us+f3 mu-law: wrong digits, redacted all the same
    ("Tait", "8888"),  # base, en-us 16 kHz
    ("A-T-A-T-A-T", "8888"),  # base, en-gb 16 kHz
    ("a-a", "8888"),  # base, en-gb mu-law
    ("A-A", "888"),  # tiny.en, en-us+f3 16 kHz
    ("K-K-K-K-K", "888 888."),  # tiny.en, en-us+f3 mu-law
]


@pytest.mark.parametrize("first, second", RECOVERED)
def test_a_number_written_as_words_is_decoded_again_and_the_digits_kept(first, second):
    assert needs_digits(first)
    assert keep_digits(first, second)


@pytest.mark.parametrize("first", [
    "4.1.2",  # tiny.en's "four oh one two.": digits already
    "1 8 8 1",
    "eight eight eight eight.",  # number words: ITN reads them
    "5000. I'm 100,000 Nero Nero 4",  # a number the rules join
    "",
])
def test_a_decode_with_a_number_or_no_words_is_not_decoded_again(first):
    assert not needs_digits(first)


def test_this_one_is_no_number():
    # A number word under ten alone is no number (ITN's rule), so such a final may be decoded again.
    assert needs_digits("I want this one.")


@pytest.mark.parametrize("first, second", [
    # The prompt's style where there is no number (tiny.en with --redact-prompt, recorded).
    ("Sure, it is Robert Brown.", "Thanks for watching."),
    ("Sure, it is Robert Brown.", "19."),
    # The keyword misheard: the second decode has it right, but no number; nothing to gain.
    ("My color tell em, buried.", "My card number is"),
    # The same words again.
    ("Thank you very much.", "Thank you very much."),
    # A number, but words of the first lost without one in their place, or words added.
    ("Hey, hey. That is all.", "8888."),
    ("Hey, hey.", "8888. Thanks for watching."),
    # Too many words for one number: speech the prompt turned into digits.
    ("I would like to pay my bill.", "4111 1111."),
    # The first had a number already.
    ("4.1.2", "4012."),
])
def test_a_second_decode_that_loses_or_adds_words_is_not_kept(first, second):
    assert not keep_digits(first, second)


@pytest.mark.parametrize("first, second", [
    # tiny.en, en-us+f3 16 kHz: "SSN 078-05-1120." as `S.M.`; the second decode has it right.
    ("S.M.", "SSN 078-05-1120."),
    ("ffn-milo-78-milo-5-1,120", "SSN 708-05-1,120."),  # base, en-us+f3 mu-law, the same piece
])
def test_a_number_with_its_keyword_in_place_of_what_the_first_garbled_is_kept(first, second):
    assert needs_digits(first)
    assert keep_digits(first, second)


@pytest.mark.parametrize("first, second", [
    ("Thank you, that is all.", "Card, that is all. 4111"),  # a keyword in place of words, no number there
    ("Hey, hey. That is all.", "SSN 8888."),  # words lost
    ("Hey, hey.", "8888. Thanks, SSN."),  # a word added that is neither
])
def test_a_keyword_is_kept_only_beside_its_number(first, second):
    assert not keep_digits(first, second)


def test_the_words_around_a_recovered_number_stay():
    assert keep_digits("The code is Hey, hey.", "The code is 8888.")
    assert keep_digits("The code is", "The code is 506.")  # a number the first left out


def final(text: str, start: float, end: float) -> Transcript:
    return Transcript(utterance_id=f"s-{int(start * SECOND)}", start=int(start * SECOND), end=int(end * SECOND),
                      text=text, final=True)


def redactor(kinds=("pci", "ssn", "pii"), state=None) -> Redactor:
    return Redactor(kinds, hold_gap=3 * SECOND, state=state)


def test_a_card_keyword_makes_a_number_passage_for_thirty_words():
    r = redactor()
    assert not r.number_passage(0)
    r.final(final("My card number is", 0, 1))
    assert r.number_passage(2 * SECOND)
    r.final(final(" ".join(["and", "the", "weather", "was", "fine"] * 6) + ".", 2, 9))  # (30 words, none thrice in a row)
    assert not r.number_passage(10 * SECOND)


def test_a_final_that_ended_in_a_number_makes_the_next_speech_a_number_passage_within_the_hold_gap():
    # "My color tell em, buried." (the keyword misheard), then the groups: 4.1.2 is a number's piece.
    r = redactor()
    r.final(final("My color tell em, buried.", 0, 1))
    assert not r.number_passage(2 * SECOND)
    r.final(final("4.1.2", 2, 3))
    assert r.holding
    assert r.number_passage(4 * SECOND)
    assert not r.number_passage(7 * SECOND)  # more than the hold gap after it: no group of it
    r.final(final("Thanks.", 4, 5))
    assert not r.number_passage(6 * SECOND)


def test_a_keyword_in_held_finals_counts_whether_a_timer_released_them_or_not():
    held, released = redactor(), redactor()
    for r in (held, released):
        r.final(final("My card number is 4111.", 0, 2))  # held: it ends in a number
    released.release()  # the hold's timer (wall-clock) let it go
    assert held.holding and not released.holding
    # 10 s later: not a group of the held number, but in the card keyword's context, either way.
    assert held.number_passage(12 * SECOND) and released.number_passage(12 * SECOND)


@pytest.mark.parametrize("said, kinds, expected", [
    ("My card number is", ("pci",), True),
    ("My card number is", ("numbers",), True),
    ("My card number is", ("ssn", "pii"), False),  # a card keyword, but no card redaction
    ("My social security number is", ("ssn",), True),
    ("My social security number is", ("pii",), True),
    ("My social security number is", ("pci",), False),
])
def test_number_passages_are_those_of_the_numbers_a_session_redacts(said, kinds, expected):
    r = redactor(kinds)
    r.final(final(said, 0, 1))
    assert r.number_passage(2 * SECOND) is expected


def test_a_takeover_decides_as_the_worker_before_it():
    # The checkpoint (state(), written only while nothing is held) carries what the decision reads.
    r = redactor()
    r.final(final("Please hold on.", 0, 1))
    r.final(final("1 8 8 1", 2, 3))
    r.release()  # the timer let it go; the next boundary's checkpoint has it
    resumed = redactor(state=r.state())
    assert resumed.number_passage(5 * SECOND) and r.number_passage(5 * SECOND)
    assert not resumed.number_passage(7 * SECOND)
    # An old checkpoint without it reads as no number before.
    assert not redactor(state={"context": {}, "counts": {}}).number_passage(0)


def test_the_final_retry_is_decided_from_the_prompt_and_the_number_passage_alone():
    """The decision itself (asr_worker.steps' ``digits``), pure: what Core.digits_retry passes it."""
    assert final_retry("", number_passage=True) is None  # --redact-digits-prompt ''
    assert final_retry(DIGITS_PROMPT, number_passage=False) is None
    retry = final_retry(DIGITS_PROMPT, number_passage=True)
    assert retry is not None and retry.name == STEP and retry.prompt == DIGITS_PROMPT
    assert retry.wanted("Hey, hey.") and not retry.wanted("4111.")


def test_a_final_carries_the_digits_retry_only_in_a_number_passage_of_a_session_redacting_numbers():
    asr = AsrSessionState(options=StreamingOptions(), config=AsrConfig(language="en", redact=("pci",)))
    utterance = Utterance(start=3 * SECOND)
    assert Core.digits_retry(asr, utterance) is None  # no redactor
    asr.redactor = Redactor(("pci",), hold_gap=3 * SECOND)
    assert Core.digits_retry(asr, utterance) is None  # no card keyword yet
    asr.redactor.final(Transcript(utterance_id="d-16000", start=SECOND, end=2 * SECOND, text="My card number is",
                                  final=True))
    retry = Core.digits_retry(asr, utterance)
    assert retry is not None and retry.name == STEP and retry.prompt == DIGITS_PROMPT
    assert retry.context("Okafor") == f"{DIGITS_PROMPT} Okafor"
    assert retry.wanted("Hey, hey.") and not retry.wanted("4111.") and not retry.wanted("")
    assert retry.judge("Hey, hey.", "8888.") == "kept" and retry.judge("Thanks.", "Thanks.") == "dropped"
    asr.options = replace(asr.options, redact_digits_prompt="")  # --redact-digits-prompt ''
    assert Core.digits_retry(asr, utterance) is None


# The ASR stage: which decodes carry the digits prompt, what comes out, what is counted, and a takeover.

class Scripted(Engine):
    """Texts by utterance (its start, from the request id): the first decode's and, for a request that
    carries the digits prompt, the second's (the rule of .digits applied as the whisper engine does)."""

    name = "fake-digits"

    def __init__(self, script: dict[int, tuple[str, str]]) -> None:
        self.script = script
        self.requests: list[tuple[int, bool, str]] = []  # (utterance start, final, digits prompt)

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        start = int(request.request_id.split("-")[1])
        retry = request.retry
        self.requests.append((start, request.final, retry.prompt if retry is not None else ""))
        first, second = self.script[start]
        if retry is None or not retry.wanted(first):
            return Hypothesis(text=first, language="en")
        came = retry.judge(first, second)
        return Hypothesis(text=second if came == "kept" else first, language="en", steps=((retry.name, came),),
                          retried="" if came == "kept" else second)

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, token_ids: list[int]) -> str:
        return ""


def spoken(start: float, seconds: float = 1.0) -> list[Record]:
    first = round(start * SECOND)
    pcm = np.full(round(seconds * SECOND), 3000, np.int16)
    return [SpeechStart(seq=0, start=first),
            *(Audio(seq=0, offset=first + at, pcm=pcm[at:at + 1600].tobytes()) for at in range(0, len(pcm), 1600)),
            SpeechEnd(seq=0, start=first, end=first + len(pcm), reason="silence")]


CALL = {SECOND: ("My card number is", ""), 3 * SECOND: ("Hey, hey.", "8888."),
        5 * SECOND: ("Thank you.", "Thank you."),
        # What a recording's pack and the decode alone write nothing of; the digits prompt, a number
        # or the prompt's own.
        7 * SECOND: ("", "8888."), 9 * SECOND: ("", "Code 506."),
        # An SSN group base would not write (SSN_GROUPS below), in a recording.
        11 * SECOND: ("my social security number.", ""), 13 * SECOND: ("For I'm...", "4-I")}


class Worker:
    def __init__(self, redact: tuple[str, ...], *, prompt: str = DIGITS_PROMPT, state: bytes | None = None,
                 epoch: int = 1, script: dict[int, tuple[str, str]] = CALL) -> None:
        self.engine = Scripted(script)
        self.registry = CollectorRegistry()
        self.runner = RecordingRunner(lambda r: AsrStage(r, self.engine, defaults=StreamingOptions(
            redact_digits_prompt=prompt), metrics=AsrMetrics(self.registry)))
        self.session = self.runner.open("d", config=PipelineConfig(asr=AsrConfig(language="en", redact=redact)),
                                        state=state, epoch=epoch)

    async def run(self, starts: list[float]) -> None:
        records = [r for start in starts for r in spoken(start)] + [End(seq=0)]
        await self.runner.stage.process([(self.session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        await asyncio.wait_for(self.runner.finished.wait(), 10)
        await self.runner.stage.close(self.session, "test over")

    def finals(self) -> list[str]:
        return [r.text for r in self.runner.outputs() if isinstance(r, Transcript) and r.final]

    def prompted(self) -> list[int]:
        """The utterances whose decodes carried the digits prompt (finals only: partials never)."""
        assert not [start for start, final, prompt in self.engine.requests if prompt and not final]
        return sorted({start for start, _, prompt in self.engine.requests if prompt})

    def counted(self, kept: str) -> float:
        return self.registry.get_sample_value("streamscribe_asr_digit_redecodes_total", {"kept": kept}) or 0.0


async def test_a_final_of_a_card_passage_written_without_digits_is_decoded_again_and_redacted():
    worker = Worker(("pci",))
    await worker.run([1, 3, 5])
    assert worker.prompted() == [3 * SECOND, 5 * SECOND]
    assert worker.finals() == ["My card number is", "[CVV_1].", "Thank you."]  # 4 digits after "card"
    assert (worker.counted("true"), worker.counted("false")) == (1, 1)


@pytest.mark.parametrize("redact, prompt", [(("ssn",), DIGITS_PROMPT), (("pci",), "")])
async def test_sessions_without_card_redaction_and_the_option_off_decode_once(redact, prompt):
    worker = Worker(redact, prompt=prompt)
    await worker.run([1, 3, 5])
    assert worker.prompted() == []
    assert worker.finals() == ["My card number is", "Hey, hey.", "Thank you."]
    assert worker.counted("true") == worker.counted("false") == 0


async def test_a_takeover_re_decodes_as_the_worker_before_it():
    first = Worker(("pci",))
    await first.run([1, 3, 5])
    # The checkpoint written with the first final (the card keyword's context in it); the next worker
    # replays the rest from there.
    state = next(state for outputs, _, state, *_ in first.runner.commits
                 if any(isinstance(r, Transcript) and r.final for r in outputs))
    second = Worker(("pci",), state=state, epoch=2)
    await second.run([3, 5])
    assert second.prompted() == [3 * SECOND, 5 * SECOND]
    assert second.finals() == first.finals()[1:]


# base, en-gb mu-law, "four five." of an SSN read in groups: `For I'm...`, and with the digits prompt `4-I`.
SSN_GROUPS = {SECOND: ("my social security number.", ""), 3 * SECOND: ("one two three", ""),
              5 * SECOND: ("For I'm...", "4-I"), 7 * SECOND: ("Thank you, that is all.", "Thank you, that is all.")}


async def test_a_final_whose_second_decode_wrote_digits_not_kept_goes_out_redacted_whole():
    worker = Worker(("ssn",), script=SSN_GROUPS)
    await worker.run([1, 3, 5, 7])
    assert worker.prompted() == [3 * SECOND, 5 * SECOND, 7 * SECOND]
    assert worker.finals() == ["my social security number.", "[SSN_1]", "[SSN_2]...", "Thank you, that is all."]
    assert (worker.counted("true"), worker.counted("false")) == (0, 2)


# A recording decoded in packs (asr_worker/recording.py): its finals are looked at when the pack is
# committed, in order, and those of a number passage without a number decoded again alone.

class PackScripted(Engine):
    """Times words, as whisper does (so the stage decodes the recording in packs). Each utterance's
    audio is a constant level that names its line of ``CALL`` (its start second): a pack's stretches
    of sound get the first decode's words, spread over them; a decode alone prompted with the digits
    prompt gets the second's."""

    name = "fake-digits-packs"
    times_words = True

    def __init__(self) -> None:
        self.requests: list[DecodeRequest] = []

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        self.requests.append(request)
        level = np.rint(request.audio * 32768).astype(np.int32)
        words: list[Word] = []
        prompted = request.context.startswith(DIGITS_PROMPT)
        for start, end in sound_runs(level):
            first, second = CALL[int(level[start]) * SECOND]
            said = (second if prompted else first).split()
            step = (end - start) / SECOND / max(1, len(said))
            words += [Word(w, start / SECOND + i * step, start / SECOND + (i + 1) * step, 0.9)
                      for i, w in enumerate(said)]
        return Hypothesis(text=" ".join(w.text for w in words), language="en", no_speech=not words,
                          words=tuple(words) if request.word_timestamps else ())

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def detokenize(self, token_ids: list[int]) -> str:
        return ""

    def again(self) -> list[int]:
        """The utterances (start samples) decoded again alone with the digits prompt."""
        return [int(r.request_id.split("-")[1]) for r in self.requests if "-digits" in r.request_id]


def said(start: int) -> list[Record]:
    """The utterance of ``CALL`` at ``start`` s: a second of sound at the level ``start``."""
    first, pcm = start * SECOND, np.full(SECOND, start, np.int16)
    return [SpeechStart(seq=0, start=first),
            *(Audio(seq=0, offset=first + at, pcm=pcm[at:at + 1600].tobytes()) for at in range(0, SECOND, 1600)),
            SpeechEnd(seq=0, start=first, end=first + SECOND, reason="silence")]


class Recording:
    def __init__(self, redact: tuple[str, ...], *, prompt: str = DIGITS_PROMPT, state: bytes | None = None,
                 epoch: int = 1) -> None:
        self.engine = PackScripted()
        self.registry = CollectorRegistry()
        self.runner = RecordingRunner(lambda r: AsrStage(r, self.engine, defaults=StreamingOptions(
            redact_digits_prompt=prompt), metrics=AsrMetrics(self.registry)))
        config = PipelineConfig(asr=AsrConfig(language="en", redact=redact), priority="batch")
        self.session = self.runner.open("d", config=config, state=state, epoch=epoch)
        assert isinstance(self.session.state, PackState)

    async def run(self, records: list[Record]) -> None:
        await self.runner.stage.process([(self.session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        try:
            await asyncio.wait_for(self.runner.finished.wait(), 10)
        finally:
            await self.runner.stage.close(self.session, "test over")

    def finals(self) -> list[str]:
        return [r.text for r in self.runner.outputs() if isinstance(r, Transcript) and r.final]

    def counted(self, kept: str) -> float:
        return self.registry.get_sample_value("streamscribe_asr_digit_redecodes_total", {"kept": kept}) or 0.0


async def test_a_recordings_final_of_a_card_passage_written_without_digits_is_decoded_again_in_its_pack():
    # One pack for the three: the card keyword that makes the next two a number passage is in it.
    recording = Recording(("pci",))
    await recording.run([*said(1), *said(3), *said(5), End(seq=0)])
    assert sum(not r.context.startswith(DIGITS_PROMPT) for r in recording.engine.requests) == 1  # the pack
    assert recording.engine.again() == [3 * SECOND, 5 * SECOND]
    assert recording.finals() == ["My card number is", "[CVV_1].", "Thank you."]
    assert (recording.counted("true"), recording.counted("false")) == (1, 1)


@pytest.mark.parametrize("redact, prompt", [(("ssn",), DIGITS_PROMPT), (("pci",), "")])
async def test_recordings_without_card_redaction_or_the_option_decode_their_packs_once(redact, prompt):
    recording = Recording(redact, prompt=prompt)
    await recording.run([*said(1), *said(3), *said(5), End(seq=0)])
    assert recording.engine.again() == []
    assert recording.finals() == ["My card number is", "Hey, hey.", "Thank you."]


async def test_a_recordings_takeover_decides_from_the_checkpoint_as_the_worker_before_it():
    # A flush after the keyword: its pack is committed with a checkpoint that carries its context.
    flush = Flush(seq=0, flush_id=1)
    first = Recording(("pci",))
    await first.run([*said(1), flush, *said(3), *said(5), End(seq=0)])
    state = next(state for outputs, _, state, *_ in first.runner.commits if flush in [replace(r, seq=0)
                                                                                       for r in outputs])
    second = Recording(("pci",), state=state, epoch=2)
    await second.run([*said(3), *said(5), End(seq=0)])
    assert second.engine.again() == [3 * SECOND, 5 * SECOND]
    assert second.finals() == first.finals()[1:] == ["[CVV_1].", "Thank you."]
    # Without that state (the keyword unknown), nothing is a number passage: the decision is the state's.
    alone = Recording(("pci",))
    await alone.run([*said(3), *said(5), End(seq=0)])
    assert alone.engine.again() == [] and alone.finals() == ["Hey, hey.", "Thank you."]


async def test_a_recordings_utterance_with_no_words_in_a_card_passage_gets_the_digits_prompt_too():
    """Its pack and its decode alone wrote nothing (a final flagged no_words): in a number passage it
    is decoded with the digits prompt as well, and a number kept (the flag dropped); a number the
    prompt says itself is not (whisper copying it), and the final stays flagged."""
    recording = Recording(("pci",))
    await recording.run([*said(1), *said(7), End(seq=0)])
    assert recording.engine.again() == [7 * SECOND]
    finals = [r for r in recording.runner.outputs() if isinstance(r, Transcript) and r.final]
    assert [(f.text, f.no_words) for f in finals] == [("My card number is", False), ("[CVV_1].", False)]
    echo = Recording(("pci",))
    await echo.run([*said(1), *said(9), End(seq=0)])
    assert echo.engine.again() == [9 * SECOND]
    finals = [r for r in echo.runner.outputs() if isinstance(r, Transcript) and r.final]
    assert [(f.text, f.no_words) for f in finals] == [("My card number is", False), ("", True)]
    assert (echo.counted("true"), echo.counted("false")) == (0, 1)
    # Without card redaction nothing is a number passage: the empty final stays as it is.
    plain = Recording(("ssn",))
    await plain.run([*said(1), *said(7), End(seq=0)])
    assert plain.engine.again() == [] and plain.finals() == ["My card number is", ""]


async def test_a_recordings_final_whose_second_decode_wrote_digits_not_kept_goes_out_redacted_whole():
    recording = Recording(("ssn",))
    await recording.run([*said(11), *said(13), End(seq=0)])
    assert recording.engine.again() == [13 * SECOND]
    assert recording.finals() == ["my social security number.", "[SSN_1]..."]
    assert not recording.session.state.unread_numbers  # the note is gone with the final it was for

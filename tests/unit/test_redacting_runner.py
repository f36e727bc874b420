"""The ASR stage's redaction filter: what it holds, when it lets go, what its timer commits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from asr_worker.redacting import RedactionFilter
from common.metrics import AsrMetrics
from common.records import End, SpeechStart, Transcript
from common.redaction.names import NameModel
from common.redaction.redactor import Redactor

SECOND = 16_000


class Runner:
    """Records the commits; ``committed`` is set at each."""

    def __init__(self) -> None:
        self.commits: list[tuple[list, str | None]] = []
        self.committed = asyncio.Event()

    async def commit(self, session, outputs=(), *, consumed=None, boundary=False, to_client=()) -> None:
        self.commits.append((list(outputs), consumed))
        self.committed.set()


def session(kinds=("pci",)) -> SimpleNamespace:
    state = SimpleNamespace(redactor=Redactor(kinds, hold_gap=3 * SECOND), held_since={}, redact_timer=None,
                            unread_numbers={})
    return SimpleNamespace(session_id="s", state=state)


def final(text: str, start: float, end: float) -> Transcript:
    return Transcript(utterance_id=f"s-{int(start * SECOND)}", start=int(start * SECOND), end=int(end * SECOND),
                      text=text, final=True)


def texts(commits) -> list[str]:
    return [r.text for outputs, _ in commits for r in outputs if isinstance(r, Transcript)]


async def test_groups_across_finals_go_out_together_and_redacted():
    runner, metrics = Runner(), AsrMetrics(CollectorRegistry())
    redacting, s = RedactionFilter(runner, metrics=metrics, hold_sec=3.0), session()
    await redacting.commit(s, [final("my card is 4111", 0, 2)], consumed="1-0", boundary=True)
    assert texts(runner.commits) == [] and s.state.redact_timer is not None
    await redacting.commit(s, [SpeechStart(start=int(3 * SECOND))])  # within the hold: goes on holding
    await redacting.commit(s, [final("1111 1111 1111.", 3, 6)], consumed="2-0", boundary=True)
    await redacting.commit(s, [final("Thanks.", 7, 8)], consumed="3-0", boundary=True)
    assert texts(runner.commits) == ["my card is [CREDIT_CARD_1]", "[CREDIT_CARD_1].", "Thanks."]
    assert s.state.redact_timer is None and s.state.held_since == {}
    assert metrics.redactions.labels(entity="CREDIT_CARD")._value.get() == 2


async def test_the_timer_lets_go_when_no_speech_follows():
    runner = Runner()
    redacting, s = RedactionFilter(runner, metrics=AsrMetrics(CollectorRegistry()), hold_sec=0.05), session()
    await redacting.commit(s, [final("the number is 4111", 0, 2)])
    runner.committed.clear()
    await asyncio.wait_for(runner.committed.wait(), 5)
    (outputs, consumed), = runner.commits[-1:]
    # (4 digits with no keyword: redaction fails closed, a number)
    assert [r.text for r in outputs] == ["the number is [NUMBER_1]"] and consumed is None  # no checkpoint


async def test_end_releases_before_the_marker_and_partials_are_masked():
    runner = Runner()
    redacting, s = RedactionFilter(runner, metrics=AsrMetrics(CollectorRegistry()), hold_sec=3.0), session()
    partial = Transcript(utterance_id="s-0", start=0, end=SECOND, text="card 4111", final=False)
    await redacting.commit(s, [partial, final("card 4111 1111", 0, 2)])
    await redacting.commit(s, [End()])
    records = [r for outputs, _ in runner.commits for r in outputs]
    assert [getattr(r, "text", type(r).__name__) for r in records] == [
        "card [REDACTED]", "card [CREDIT_CARD_1]", "End"]  # 8 digits in a card context


@pytest.mark.extra("names")
async def test_names_are_found_off_the_loop_and_redacted_in_finals_and_partials():
    # The real name model (the names extra: spaCy's small English pipeline), loaded at its first use.
    names = NameModel()
    try:
        runner, metrics = Runner(), AsrMetrics(CollectorRegistry())
        redacting, s = RedactionFilter(runner, metrics=metrics, hold_sec=3.0, names=names), session(("pci", "pii"))
        partial = Transcript(utterance_id="s-0", start=0, end=SECOND, text="This is Maria Garcia", final=False)
        await redacting.commit(s, [partial, final("This is Maria Garcia calling about my bill.", 0, 2)])
        await redacting.commit(s, [final("Thank you very much, have a nice day.", 3, 4)])
        assert texts(runner.commits) == ["This is [REDACTED]", "This is [NAME_1] calling about my bill.",
                                         "Thank you very much, have a nice day."]
        assert metrics.redactions.labels(entity="NAME")._value.get() == 1
        assert metrics.redaction_names_seconds._sum.get() > 0
        # A session without pii never waits on the model.
        plain = session(("pci",))
        await redacting.commit(plain, [final("This is Maria Garcia.", 0, 2)])
        assert texts(runner.commits)[-1] == "This is Maria Garcia."
    finally:
        names.close()

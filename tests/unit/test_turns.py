"""Flux's turn tracker (gateway.doors.turns): turn events from the core's transcripts. Pure."""

from __future__ import annotations

from gateway.core import events
from gateway.doors.turns import Phase, TurnEvent, TurnTracker, TurnWord


def partial(text: str, start_ms: int = 500, end_ms: int = 900, confidence: float | None = None) -> events.Partial:
    return events.Partial(channel=0, session_id="s", utterance_id="u", text=text, start_ms=start_ms, end_ms=end_ms,
                          language="en", confidence=confidence)


def final(text: str, *, speech_final: bool, start_ms: int = 500, end_ms: int = 1700, words=(),
          from_finalize: bool = False) -> events.Final:
    return events.Final(channel=0, session_id="s", utterance_id="u", text=text, start_ms=start_ms, end_ms=end_ms,
                        language="en", speech_final=speech_final, words=words, from_finalize=from_finalize)


def kinds(infos) -> list[tuple[TurnEvent, str]]:
    return [(info.event, info.transcript) for info in infos]


def test_a_turn_without_eager_finals():
    turns = TurnTracker()
    assert turns.partial(partial("  ")) == [] and turns.phase is Phase.IDLE  # no words: no turn
    assert kinds(turns.partial(partial("Hello"))) == [(TurnEvent.START, "Hello")]
    assert turns.phase is Phase.ONGOING
    assert kinds(turns.partial(partial("Hello world", end_ms=1300))) == [(TurnEvent.UPDATE, "Hello world")]
    # a long utterance split: an update with the final's words, timed
    word = events.Word(text=" world.", start_ms=950, end_ms=1600, confidence=0.6)
    (split,) = turns.final(final("Hello world.", speech_final=False, words=(word,)))
    assert (split.event, split.words) == (TurnEvent.UPDATE, (TurnWord("world.", 0.6, 950, 1600),))
    (update,) = turns.partial(partial("How are", start_ms=1700, end_ms=2200, confidence=0.5))
    assert update.transcript == "Hello world. How are"
    assert update.words[1:] == (TurnWord("How", 0.5), TurnWord("are", 0.5))  # the partial's: untimed
    (end,) = turns.final(final("How are you?", speech_final=True, start_ms=1700, end_ms=2100))
    assert (end.event, end.transcript, end.trigger, end.confidence) == (TurnEvent.END, "Hello world. How are you?",
                                                                        "model", 1.0)
    # The end's window is where the finals' words were said (not the partial's 2200: what a partial
    # decoded past the final may be the next turn's speech, a reply the ASR parted from this sentence).
    assert (end.turn_index, end.start_ms, end.end_ms) == (0, 500, 2100)
    assert turns.turn_index == 1 and turns.phase is Phase.IDLE
    (start,) = turns.partial(partial("Next", start_ms=3000, end_ms=3400))
    assert (start.event, start.turn_index, start.start_ms, start.words) == (TurnEvent.START, 1, 3000,
                                                                            (TurnWord("Next", 1.0),))


def test_eager_end_confirmed_or_resumed():
    turns = TurnTracker(eager_confidence=0.4)
    infos = turns.final(final("And Mr. John", speech_final=False))
    assert kinds(infos) == [(TurnEvent.START, "And Mr. John"), (TurnEvent.EAGER_END, "And Mr. John")]
    assert infos[1].confidence == 0.4 and turns.phase is Phase.AWAITING
    (end,) = turns.final(final("", speech_final=True))  # silence confirms it: the same transcript
    assert (end.event, end.transcript, end.trigger) == (TurnEvent.END, "And Mr. John", "model")
    assert turns.final(final("", speech_final=True)) == []  # no turn open: nothing to end
    turns.final(final("Dashwood had", speech_final=False))
    assert kinds(turns.partial(partial(""))) == []  # no words: still awaiting
    assert kinds(turns.partial(partial("then"))) == [(TurnEvent.RESUMED, "Dashwood had then")]
    assert kinds(turns.final(final("then leisure.", speech_final=False))) == [
        (TurnEvent.EAGER_END, "Dashwood had then leisure.")]
    assert kinds(turns.final(final("To consider.", speech_final=True))) == [
        (TurnEvent.RESUMED, "Dashwood had then leisure. To consider."),
        (TurnEvent.EAGER_END, "Dashwood had then leisure. To consider."),  # EndOfTurn only from AwaitingEnd
        (TurnEvent.END, "Dashwood had then leisure. To consider.")]
    assert turns.turn_index == 2


def test_an_endpoint_without_a_pause_passes_through_eager_end():
    """Flux: EndOfTurn repeats the EagerEndOfTurn just before it, so the sentence endpoint's final has one too."""
    turns = TurnTracker(eager_confidence=0.5)
    turns.partial(partial("Norland"))
    infos = turns.final(final("Norland Park.", speech_final=True))
    assert kinds(infos) == [(TurnEvent.EAGER_END, "Norland Park."), (TurnEvent.END, "Norland Park.")]
    assert infos[0].confidence == 0.5 and turns.phase is Phase.IDLE
    turns.partial(partial("how much"))  # a forced end is manual: straight to EndOfTurn, as Flux does
    assert kinds(turns.final(final("how much", speech_final=True, from_finalize=True))) == [(TurnEvent.END, "how much")]


def test_forced_ends():
    turns = TurnTracker()
    assert turns.flushed() == []  # ForceEndTurn with no turn open
    turns.partial(partial("how much"))
    (forced,) = turns.final(final("how much", speech_final=True, from_finalize=True))
    assert (forced.event, forced.trigger, forced.turn_index) == (TurnEvent.END, "manual", 0)
    turns.partial(partial("there"))
    (forced,) = turns.flushed()  # the partial's utterance had no words after all
    assert (forced.event, forced.transcript, forced.words, forced.trigger) == (TurnEvent.END, "", (), "manual")
    assert turns.turn_index == 2 and turns.flushed() == []


def test_turn_events_are_the_wire_names():
    assert [str(kind) for kind in TurnEvent] == ["StartOfTurn", "Update", "EagerEndOfTurn", "TurnResumed",
                                                 "EndOfTurn"]


def test_a_reply_parted_from_the_sentence_is_a_turn_that_starts_after_the_last_ends():
    """The contract soak (Flux, 2x, hog): a partial of "Can I have the name on the account, please" reached
    13952 ms; the ASR sent "... account?" (to 13300) and "Please." (13378-14058) as two finals. The first
    turn's end must not overlap the second's."""
    turns = TurnTracker()
    turns.partial(partial("Can I have the name on the account please", start_ms=11328, end_ms=13952))
    (first,) = turns.final(final("Can I have the name on the account?", speech_final=True, start_ms=11328,
                                 end_ms=13300))
    start, end = turns.final(final("Please.", speech_final=True, start_ms=13378, end_ms=14058))
    assert (first.event, first.end_ms) == (TurnEvent.END, 13300)
    assert (start.event, end.event, end.start_ms, end.end_ms) == (TurnEvent.START, TurnEvent.END, 13378, 14058)
    assert first.end_ms <= end.start_ms

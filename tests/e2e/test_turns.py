"""Short turns end where they are spoken, and a turn's transcript holds its own audio's words once (issue 47).

The turn-taking set (tests/kit/turns.py: two espeak-ng voices trading one- and two-word replies
and longer sentences, 0.3-0.7 s apart; its ``tune`` part, the ``heldout`` one is for the issue's
final figures) through the native, Deepgram, Twilio (8 kHz μ-law; mono, and both tracks) and
AudioHook (stereo PCMU) doors, each party on its own channel holding the other's echo at -30 dB:
each short reply is a final of its own, whose span is within 0.3 s of where it was said
(tests/kit/turns.py judges it). Every final also passes the
transcript contract (tests/kit/contract.py checks each test's ``ss:finals``).

Flux's turns (``/v2/listen`` with eager end of turn: EagerEndOfTurn, TurnResumed, EndOfTurn) on
a passage of continuous real read speech at 1x and 2x real time (10 ms frames every 5 ms at 2x,
as LiveKit's own STT test streams): no turn says again what an earlier one said, and the turns'
text scores within 5 WER points of the pre-recorded API on the same audio (once a turn's
transcript held a block of sentences twice: WER 25-44 % against 9-11 %).
"""

from __future__ import annotations

import asyncio

import pytest

from common.contract import check, from_flux
from tests.kit import passage, turn_doors, turns
from tests.kit.support import word_errors

# Of the tune part (bench.turns runs the whole set): 8 turns each; tune-0000 has 3 short replies,
# tune-0009 4, among them "Forty two." answered 0.32 s later (within the VAD's pause: one decode hears
# both turns) and "Robert Brown." between two sentences of the other party.
SEEDS = (0, 9)


@pytest.fixture(scope="module")
def items() -> list[turns.Item]:
    return [turns.render(seed) for seed in SEEDS]


@pytest.mark.parametrize("door", ["native", "deepgram", "twilio", "twilio-stereo", "audiohook"])
def test_each_short_reply_is_a_final_of_its_own_where_it_was_said(live, items, door):
    stereo = door in turn_doors.STEREO
    for item in items:
        rendered = turn_doors.rendering(door, item)  # (the echo: the gateway's echo gate silences it)
        finals = asyncio.run(turn_doors.session(door, live, rendered))
        heard = turns.replies(rendered, finals, stereo=stereo)
        said = "\n".join(f"  {f.channel} {f.start:6.2f}-{f.end:6.2f} {f.text}" for f in finals)
        assert heard.replies and heard.own_close == heard.replies, (
            f"{door} {item.name}: {heard.missed}, {heard.own_close} of {heard.replies} within "
            f"{turns.SLACK} s\nturns:\n" + "\n".join(
                f"  {t.party} {t.seconds(rendered.rate)[0]:6.2f}-{t.seconds(rendered.rate)[1]:6.2f} {t.text}"
                for t in rendered.turns) + f"\nfinals:\n{said}")


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_flux_turns_say_their_own_words_once(live, speed):
    audio, reference = passage.passage()
    messages = asyncio.run(passage.flux_turns(live.port, audio, speed))
    events = from_flux(messages)
    violations = check(events, language="en")
    assert not violations, violations
    said = passage.flux_text(messages)
    wrong, total = word_errors(reference, said)
    baseline, _ = word_errors(reference, passage.prerecorded(live.http, audio))
    assert wrong <= baseline + 0.05 * total, (said, wrong, baseline, total)

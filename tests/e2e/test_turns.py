"""Short turns end where they are spoken, and a turn's transcript holds its own audio's words once (issue 47).

The turn-taking set (tests/kit/turns.py: two espeak-ng voices trading one- and two-word replies
and longer sentences, 0.3-0.7 s apart; its ``tune`` part, the ``heldout`` one is for the issue's
final figures) through the native, Deepgram, Twilio (8 kHz μ-law) and AudioHook (stereo PCMU,
each party on its own channel) doors: each short reply is a final of its own, whose span is
within 0.3 s of where it was said (bench/turns.py scores it). Every final also passes the
transcript contract (tests/kit/contract.py checks each test's ``ss:finals``).

Flux's turns (``/v2/listen`` with eager end of turn: EagerEndOfTurn, TurnResumed, EndOfTurn) on
a passage of continuous real read speech at 1x and 2x real time (10 ms frames every 5 ms at 2x,
as LiveKit's own STT test streams): no turn says again what an earlier one said, and the turns'
text scores within 5 WER points of the pre-recorded API on the same audio (once a turn's
transcript held a block of sentences twice: WER 25-44 % against 9-11 %).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect

from bench import turns as bench_turns
from common.contract import check, from_flux
from gateway.core.audio import to_pcm16
from tests.kit import turns
from tests.kit.support import converse, paced, pcm_chunks, word_errors
from tests.kit.testdata import librivox_samples

ITEMS = 1  # of the tune part: 8 turns, 3 of them short replies (bench.turns runs the whole set)
TIMEOUT = 120


@pytest.fixture(scope="module")
def items() -> list[turns.Item]:
    return turns.items(part="tune", count=ITEMS)


@pytest.mark.parametrize("door", ["native", "deepgram", "twilio", "audiohook"])
def test_each_short_reply_is_a_final_of_its_own_where_it_was_said(live, items, door):
    stereo = door == "audiohook"
    for item in items:
        rendered = bench_turns.rendering(door, item, crosstalk=0.0)
        finals = asyncio.run(bench_turns.session(door, live, rendered))
        tally = bench_turns.score(rendered, finals, stereo=stereo)
        said = "\n".join(f"  {f.channel} {f.start:6.2f}-{f.end:6.2f} {f.text}" for f in finals)
        assert tally.replies and tally.own_close == tally.replies, (
            f"{door} {item.name}: {tally.missed}, {tally.own_close} of {tally.replies} within "
            f"{bench_turns.SLACK} s\nturns:\n" + "\n".join(
                f"  {t.party} {t.seconds(rendered.rate)[0]:6.2f}-{t.seconds(rendered.rate)[1]:6.2f} {t.text}"
                for t in rendered.turns) + f"\nfinals:\n{said}")


def passage() -> tuple[np.ndarray, str]:
    """The LibriVox clips joined without added silence: continuous read speech with its own pauses."""
    clips = librivox_samples()
    return (np.concatenate([audio for audio, _ in clips]).astype(np.float32),
            " ".join(text for _, text in clips))


async def flux_turns(port: int, audio: np.ndarray, speed: float) -> list:
    """Flux's TurnInfo messages for ``audio`` sent in 10 ms frames at ``speed`` times real time."""
    messages: list = []
    query = "model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5"
    async with connect(f"ws://127.0.0.1:{port}/v2/listen?{query}") as ws:
        async def send():
            async for chunk in paced(pcm_chunks(to_pcm16(audio).tobytes(), 10), 10, speed=speed):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))

        def on_text(text) -> None:
            body = json.loads(text)
            if body.get("type") == "TurnInfo":
                messages.append(body)

        await converse(ws, send, on_text, timeout=TIMEOUT)
    return messages


def prerecorded(http: str, audio: np.ndarray) -> str:
    import io
    import urllib.request
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(to_pcm16(audio).tobytes())
    request = urllib.request.Request(f"{http}/v1/listen?model=nova-3&language=en", data=buffer.getvalue(),
                                     headers={"Content-Type": "audio/wav"}, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        body = json.loads(response.read())
    return body["results"]["channels"][0]["alternatives"][0]["transcript"]


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_flux_turns_say_their_own_words_once(live, speed):
    audio, reference = passage()
    messages = asyncio.run(flux_turns(live.port, audio, speed))
    events = from_flux(messages)
    violations = check(events, language="en")
    assert not violations, violations
    said = " ".join(m["transcript"] for m in messages if m["event"] == "EndOfTurn")
    wrong, total = word_errors(reference, said)
    baseline, _ = word_errors(reference, prerecorded(live.http, audio))
    assert wrong <= baseline + 0.05 * total, (said, wrong, baseline, total)

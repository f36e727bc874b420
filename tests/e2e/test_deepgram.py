"""The Deepgram-compatible doors at /v1/listen and /v2/listen (Flux), end to end.

The official ``deepgram-sdk`` pointed at a local gateway with real workers. The doors
sans I/O are tested in tests/unit/test_deepgram.py.
"""

from __future__ import annotations

import asyncio
import audioop
import json
import time

import numpy as np
import pytest
import soundfile
import soxr
from deepgram.core.api_error import ApiError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.kit.deepgram import Listener, sdk_client
from tests.kit.faults import five_utterances_with_bounds
from tests.kit.stack import Stack
from tests.kit.support import RedisServer, extra_gateway, normalise, wait_for_workers, word_errors
from tests.kit.testdata import synthetic_voice

TIMEOUT = 120
SPEED = 4.0  # times real time


# -- /v1/listen with the official SDK ---------------------------------------------------------------


def load(path, rate: int = 16000) -> np.ndarray:
    samples, file_rate = soundfile.read(str(path), dtype="float32")
    assert file_rate == rate
    return samples


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def send_paced(socket, data: bytes, *, bytes_per_second: float, chunk_ms: int = 100) -> None:
    step = int(bytes_per_second * chunk_ms / 1000)
    for i in range(0, len(data), step):
        await socket.send_media(data[i:i + step])
        await asyncio.sleep(chunk_ms / 1000 / SPEED)  # pacing: a live source, faster than real time


def transcript(results) -> str:
    return " ".join(r.channel.alternatives[0].transcript for r in results)


@pytest.mark.e2e
async def test_sdk_streams_a_clip(live, clips):
    stack = live
    path, reference = clips[0]
    audio = pcm16(load(path))
    async with sdk_client(stack.port).listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate=16000, interim_results="true",
            punctuate="true", vad_events="true", utterance_end_ms=1000, tag="test") as socket:
        listener = Listener(socket)
        await send_paced(socket, audio, bytes_per_second=32000)
        await socket.send_close_stream()
        code, reason = await listener.wait_closed()
    assert code == 1000, (code, reason, listener.messages)
    request_id = listener.request_id()
    assert listener.messages[-1].type == "Metadata" and listener.messages[-1].request_id == request_id
    assert listener.messages[-1].duration == pytest.approx(len(audio) / 32000, abs=0.1)
    interims, finals = listener.results(is_final=False), listener.results(is_final=True)
    assert interims and finals
    for message in interims + finals:
        assert message.metadata.request_id == request_id
        assert isinstance(message.channel.alternatives[0].words, list)
        assert message.channel_index == [0, 1]
        assert 0 <= message.start and message.start + message.duration <= len(audio) / 32000 + 0.1
    assert finals[-1].speech_final
    assert any(getattr(m, "type", None) == "SpeechStarted" for m in listener.messages)
    for message in finals:  # finals carry timed words from the engine, in order, inside the result
        alternative = message.channel.alternatives[0]
        timed = alternative.words
        assert [w.punctuated_word for w in timed] == alternative.transcript.split()
        assert all(message.start - 0.05 <= w.start <= w.end <= message.start + message.duration + 0.05
                   for w in timed)
        assert [w.start for w in timed] == sorted(w.start for w in timed)
        assert 0 < alternative.confidence <= 1
    errors, words = word_errors(reference, transcript(finals))
    assert errors / words <= 0.25, transcript(finals)


@pytest.mark.e2e
async def test_finalize_returns_from_finalize_and_the_stream_goes_on(live, clips):
    stack = live
    path, reference = clips[0]
    audio = pcm16(load(path))
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="linear16",
                                                       sample_rate=16000) as socket:
        listener = Listener(socket)
        await send_paced(socket, audio[: 32000 * 3], bytes_per_second=32000)  # 3 s, mid-sentence
        await socket.send_finalize()
        sent = time.monotonic()
        finalized = await listener.wait(lambda m: getattr(m, "from_finalize", False), timeout=60)
        print(f"Finalize to its final: {(time.monotonic() - sent) * 1000:.0f} ms")
        assert finalized.is_final and finalized.channel.alternatives[0].transcript
        assert finalized.start + finalized.duration <= 3.05
        await send_paced(socket, audio[32000 * 3:], bytes_per_second=32000)  # the stream stays open
        await socket.send_finalize()
        await listener.wait(lambda m: getattr(m, "from_finalize", False) and m is not finalized, timeout=60)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and listener.messages[-1].type == "Metadata"
    errors, words = word_errors(reference, transcript(listener.results(is_final=True)))
    assert errors / words <= 0.35


@pytest.mark.e2e
async def test_wav_container_and_close_stream_without_audio(live, clips):
    stack = live
    path, reference = clips[1]
    wav = path.read_bytes()  # RIFF header and PCM16 samples, no encoding parameter
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", smart_format="true") as socket:
        listener = Listener(socket)
        await send_paced(socket, wav, bytes_per_second=32000)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    errors, words = word_errors(reference, transcript(listener.results(is_final=True)))
    assert errors / words <= 0.25
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="mulaw",
                                                       sample_rate=8000) as socket:
        listener = Listener(socket)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    (metadata,) = listener.messages
    assert metadata.type == "Metadata" and metadata.duration == 0


@pytest.mark.e2e
async def test_bad_encoding_is_refused_with_400(live):
    stack = live
    with pytest.raises(ApiError) as info:
        async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="opus", sample_rate=48000):
            pass
    assert info.value.status_code == 400
    with pytest.raises(InvalidStatus) as info:  # the body, which the SDK does not show
        async with connect(f"ws://127.0.0.1:{stack.port}/v1/listen?encoding=opus&sample_rate=48000"):
            pass
    response = info.value.response
    body = json.loads(response.body)
    assert response.status_code == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert "opus" in body["err_msg"] and body["request_id"] == response.headers["dg-request-id"]


@pytest.fixture
def idle_gateway(live):
    """A second gateway on the same Redis and workers, with short idle limits."""
    with extra_gateway("gateway-idle", "--idle-timeout", "2", "--max-keepalive-idle", "8", env=live.env) as port:
        yield port


@pytest.fixture
def keyed_gateway(live):
    """A second gateway on the same Redis and workers that requires an API key."""
    with extra_gateway("gateway-keyed", env={**live.env, "STREAMSCRIBE_GATEWAY_API_KEY": "the-right-key"}) as port:
        yield port


@pytest.mark.e2e
@pytest.mark.parametrize("api, model, last", [("v1", "nova-3", "Metadata"), ("v2", "flux-general-en", "Connected")])
async def test_the_sdk_key_is_checked(keyed_gateway, api, model, last):
    """The SDK sends 'Authorization: Token KEY': no key or a wrong one is refused at the handshake with 401,
    on /v1/listen and on Flux's /v2/listen alike."""
    with pytest.raises(InvalidStatus, match="HTTP 401"):
        async with connect(f"ws://127.0.0.1:{keyed_gateway}/{api}/listen?model={model}"):
            pass
    with pytest.raises(Exception, match="401"):
        async with getattr(sdk_client(keyed_gateway, api_key="a-wrong-key").listen, api).connect(model=model):
            pass
    async with getattr(sdk_client(keyed_gateway, api_key="the-right-key").listen, api).connect(model=model) as socket:
        listener = Listener(socket)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and listener.messages[-1].type == last


@pytest.mark.e2e
async def test_keepalive_holds_an_idle_stream(idle_gateway):
    """Four sessions on one gateway with short idle limits, side by side (each is its own
    stream; the four in turn took the sum of their waits, 17 s, for the longest one's 8 s)."""
    client = sdk_client(idle_gateway)

    async def silent():
        # Without audio or KeepAlive: closed after the idle timeout, as Deepgram does.
        async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
            listener = Listener(socket)
            code, reason = await listener.wait_closed(timeout=30)
        assert (code, reason[:8]) == (1011, "NET-0001")

    async def kept_alive_then_closed():
        # KeepAlive every 0.5 s holds it for 2.5 idle timeouts; CloseStream then ends it normally.
        async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
            listener = Listener(socket)
            for _ in range(10):
                await socket.send_keep_alive()
                await asyncio.sleep(0.5)  # the client's keep-alive period, not synchronisation
            assert listener.closed is None
            await socket.send_close_stream()
            code, _ = await listener.wait_closed()
        assert code == 1000 and listener.messages[-1].type == "Metadata"

    async def only_kept_alive():
        # KeepAlive alone holds a stream without audio only up to --max-keepalive-idle.
        async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
            listener = Listener(socket)
            async with asyncio.timeout(30):
                while listener.closed is None:
                    try:
                        await socket.send_keep_alive()
                    except ConnectionClosed:
                        break
                    await asyncio.sleep(0.5)  # the client's keep-alive period, not synchronisation
            code, reason = await listener.wait_closed()
        assert code == 1011 and "only keep-alives" in reason

    async def native_idle():
        # The idle timeout is the core's: the native protocol gets it too, as error idle_timeout.
        async with connect(f"ws://127.0.0.1:{idle_gateway}/ws/asr") as ws:
            await ws.send(json.dumps({"type": "config", "encoding": "pcm16"}))
            messages = []
            with pytest.raises(ConnectionClosed) as info:
                async with asyncio.timeout(30):
                    while True:
                        messages.append(json.loads(await ws.recv()))
            assert info.value.rcvd.code == 1011
        assert messages[0]["type"] == "session_created" and messages[-1]["code"] == "idle_timeout"

    await asyncio.gather(silent(), kept_alive_then_closed(), only_kept_alive(), native_idle())


def two_party_call(first: np.ndarray, second: np.ndarray) -> bytes:
    """Interleaved two-channel mu-law at 8 kHz: the first party speaks, then the second, on its own channel."""
    a = soxr.resample(first, 16000, 8000)
    b = soxr.resample(second, 16000, 8000)
    gap = np.zeros(4000, np.float32)  # 0.5 s between turns
    left = np.concatenate([a, gap, np.zeros_like(b), gap])
    right = np.concatenate([np.zeros_like(a), gap, b, gap])
    stereo = np.stack([left, right], axis=1).reshape(-1)
    return audioop.lin2ulaw(pcm16(stereo), 2)


@pytest.mark.e2e
async def test_two_channel_mulaw_call(live, clips):
    """A customer (a LibriVox reader) and an agent (espeak-ng): each one's words on its own channel only."""
    stack = live
    path_a, ref_a = clips[0]
    agent, ref_b = synthetic_voice()
    call = two_party_call(load(path_a), agent)
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="mulaw", sample_rate=8000,
                                                       channels=2, multichannel="true") as socket:
        listener = Listener(socket)
        await send_paced(socket, call, bytes_per_second=16000)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    finals = listener.results(is_final=True)
    assert {tuple(m.channel_index) for m in finals} <= {(0, 2), (1, 2)}
    text = [transcript([m for m in finals if m.channel_index[0] == channel]) for channel in (0, 1)]
    print(f"channel 0: {text[0]!r}\nchannel 1: {text[1]!r}")
    for own, reference in ((text[0], ref_a), (text[1], ref_b)):
        errors, words = word_errors(reference, own)
        assert errors / words <= 0.35, (own, reference)
    only_a = set(normalise(ref_a)) - set(normalise(ref_b))
    only_b = set(normalise(ref_b)) - set(normalise(ref_a))
    assert not only_a & set(normalise(text[1])), text  # no crosstalk either way
    assert not only_b & set(normalise(text[0])), text


# -- Flux (/v2/listen) with the official SDK --------------------------------------------------------


def turn_infos(listener: Listener, *kinds: str) -> list:
    return [m for m in listener.messages if getattr(m, "type", None) == "TurnInfo" and (not kinds or m.event in kinds)]


def flux_connect(port: int, **params):
    return sdk_client(port).listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate=16000,
                                              **params)


@pytest.mark.e2e
async def test_flux_sdk_streams_turns(live, clips):
    """Two clips with a pause between: each turn is StartOfTurn, Updates, one EndOfTurn with its words."""
    audio, _ = five_utterances_with_bounds(clips[:2])
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await send_paced(socket, pcm16(audio), bytes_per_second=32000)
        await socket.send_close_stream()
        code, reason = await listener.wait_closed()
    assert code == 1000, (code, reason, listener.messages)
    request_id = listener.request_id()
    assert listener.messages[0].type == "Connected" and listener.messages[0].request_id == request_id
    assert [m.sequence_id for m in listener.messages] == list(range(len(listener.messages)))
    infos = turn_infos(listener)
    assert len(infos) == len(listener.messages) - 1 and all(m.request_id == request_id for m in infos)
    turns = {}
    for message in infos:
        turns.setdefault(message.turn_index, []).append(message)
    assert sorted(turns) == list(range(len(turns))) and len(turns) >= 2, [(m.turn_index, m.event) for m in infos]
    for messages in turns.values():
        kinds = [m.event for m in messages]
        assert kinds[0] == "StartOfTurn" and kinds[-1] == "EndOfTurn", kinds
        assert set(kinds[1:-1]) <= {"Update"}, kinds  # no eager events without eager_eot_threshold
        end = messages[-1]
        assert end.trigger == "model" and end.transcript and end.end_of_turn_confidence == 1.0
        assert 0 <= end.audio_window_start < end.audio_window_end <= len(audio) / 16000 + 0.1
        assert [w.word for w in end.words] == end.transcript.split()
    assert turn_infos(listener, "Update")
    text = " ".join(m.transcript for m in turn_infos(listener, "EndOfTurn"))
    errors, words = word_errors(" ".join(reference for _, reference in clips[:2]), text)
    assert errors / words <= 0.25, text


@pytest.fixture(scope="module")
def without_sentence_endpoint():
    """A stack whose ASR worker ends utterances at the silence threshold only (no sentence endpoint),
    on a Redis of its own, so that no worker of the module's stack serves its sessions."""
    server = RedisServer()
    server.start()
    try:
        stack = Stack(server, extra_env={"STREAMSCRIBE_ASR_SENTENCE_ENDPOINT": "false"})
        try:
            wait_for_workers(stack.http, ("vad", "asr"))
            yield stack
        finally:
            stack.close()
    finally:
        server.close()


@pytest.mark.e2e
async def test_flux_eager_end_of_turn_confirmed_then_resumed(without_sentence_endpoint, clips):
    """A pause mid-sentence (after the first 3 s of a clip) gets an EagerEndOfTurn. The client sends
    nothing more until it comes, so no timing decides the outcome. Then silence confirms it (EndOfTurn,
    same transcript); in the next turn the rest of the sentence resumes it (TurnResumed) and the
    EndOfTurn has the whole sentence.

    Without the sentence endpoint: whisper may end the decode of a cut-off head with a full stop
    ("... leisure to come."; whether it does turns on where the VAD's 32 ms frames start the
    utterance), and the sentence endpoint would then end the turn at the pause, leaving the rest
    of the sentence to the next turn."""
    path, reference = clips[0]
    samples = load(path)
    head, rest = pcm16(samples[: 16000 * 3]), pcm16(samples[16000 * 3:])
    pause, silence = bytes(int(0.6 * 32000)), bytes(int(2.5 * 32000))
    async with flux_connect(without_sentence_endpoint.port, eager_eot_threshold="0.5",
                            eot_timeout_ms="2000") as socket:
        listener = Listener(socket)
        for index in (0, 1):
            await send_paced(socket, head + pause, bytes_per_second=32000)
            eager = await listener.wait(lambda m: getattr(m, "turn_index", None) == index
                                        and m.event in ("EagerEndOfTurn", "EndOfTurn"))
            assert eager.event == "EagerEndOfTurn" and eager.transcript, eager
            assert eager.end_of_turn_confidence == 0.5
            await send_paced(socket, (rest if index else b"") + silence, bytes_per_second=32000)
            end = await listener.wait(lambda m: getattr(m, "turn_index", None) == index and m.event == "EndOfTurn")
            kinds = [m.event for m in turn_infos(listener) if m.turn_index == index]
            print(f"turn {index}: {kinds} {end.transcript!r}")
            if index == 0:
                assert kinds[0] == "StartOfTurn" and kinds[-2:] == ["EagerEndOfTurn", "EndOfTurn"], kinds
                assert end.transcript == eager.transcript
            else:
                assert kinds.index("TurnResumed") == kinds.index("EagerEndOfTurn") + 1, kinds
                assert end.transcript.startswith(eager.transcript)
                errors, words = word_errors(reference, end.transcript)
                assert errors / words <= 0.25, end.transcript
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and len(turn_infos(listener, "EndOfTurn")) == 2


@pytest.mark.e2e
async def test_flux_force_end_turn(live, clips):
    path, _ = clips[0]
    audio = pcm16(load(path))
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await send_paced(socket, audio[: 32000 * 3], bytes_per_second=32000)  # 3 s, mid-sentence
        await socket.send_force_end_turn()
        sent = time.monotonic()
        end = await listener.wait(lambda m: getattr(m, "event", None) == "EndOfTurn", timeout=60)
        print(f"ForceEndTurn to its EndOfTurn: {(time.monotonic() - sent) * 1000:.0f} ms")
        assert end.trigger == "manual" and end.transcript and end.turn_index == 0
        assert end.audio_window_end <= 3.05
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000


@pytest.mark.e2e
async def test_flux_bad_messages_are_answered_and_the_stream_goes_on(live):
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await socket._websocket.send("{nope")
        await socket.send_configure({"type": "Finalize"})  # v1's message: unknown here
        await socket.send_configure({"type": "Configure", "thresholds": {"eot_threshold": 0.8}})
        failure = await listener.wait(lambda m: getattr(m, "type", None) == "ConfigureFailure")
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and failure.description
    warnings = [m for m in listener.messages if getattr(m, "type", None) == "Warning"]
    assert [w.code for w in warnings] == ["BAD_JSON", "UNKNOWN_TYPE"], listener.messages
    assert "not valid JSON" in warnings[0].description and "'Finalize'" in warnings[1].description

"""Malformed values through a real stack: the door's error, the call goes on, the log stays one line each.

tests/unit/test_malformed_input.py has every door and value sans I/O; here a few of
them go through real gateway, VAD and ASR processes, because what ended the call
(1011 and a traceback) and what forged a log line happened in the server around the
doors.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect

from tests.kit.telephony import STREAM_SID, AudioHookClient, twilio_media, twilio_start

pytestmark = pytest.mark.e2e

HUGE = "9" * 5000
FORGED = "\n2099-01-01T00:00:00.000Z INFO gateway: FORGED"
TIMEOUT = 60


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    return stacks(redis_server)


async def replies(websocket, count: int) -> list[dict]:
    async with asyncio.timeout(TIMEOUT):
        return [json.loads(await websocket.recv()) for _ in range(count)]


async def until_closed(websocket) -> list[dict]:
    messages = []
    async with asyncio.timeout(TIMEOUT):
        async for text in websocket:
            messages.append(json.loads(text))
    return messages


def logged_since(stack, mark: int) -> str:
    return "\n".join(stack.gateway.lines[mark:])


async def test_a_5000_digit_number_is_bad_json_and_the_call_goes_on(stack):
    mark = len(stack.gateway.lines)
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config", "sample_rate": 16000}))
        [created] = await replies(ws, 1)
        assert created["type"] == "session_created", created
        await ws.send('{"type": "keepalive", "n": %s}' % HUGE)
        [error] = await replies(ws, 1)
        assert (error["type"], error["code"], error["fatal"]) == ("error", "bad_json", False), error
        await ws.send(b"\x00\x00" * 16000)  # the call goes on: a second of silence, then a normal end
        await ws.send('{"type": "close"}')
        await until_closed(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    logged = logged_since(stack, mark)
    assert "Traceback" not in logged and "ERROR" not in logged, logged


async def test_twilio_counters_that_are_no_ascii_digits_are_errors_and_the_stream_goes_on(stack):
    mark = len(stack.gateway.lines)
    silence = b"\xff" * 160
    async with connect(f"ws://127.0.0.1:{stack.port}/twilio") as ws:
        await ws.send(twilio_start(["inbound"]))
        await ws.send(twilio_media("inbound", 1, 0, silence))
        chunk = json.loads(twilio_media("inbound", 2, 20, silence))
        chunk["media"]["chunk"] = "\u00b2"  # "²".isdigit() is true, int("²") fails
        await ws.send(json.dumps(chunk))
        await ws.send(twilio_media("inbound", 2, 20, silence).replace('"timestamp": "20"', f'"timestamp": "{HUGE}"'))
        await ws.send(twilio_media("inbound", 3, 40, silence))
        await ws.send(json.dumps({"event": "stop", "streamSid": STREAM_SID, "stop": {}}))
        messages = await until_closed(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, messages)
    errors = [m for m in messages if m["event"] == "error"]
    assert [(e["code"], e["fatal"]) for e in errors] == [("protocol", False)] * 2, errors
    assert "media.chunk" in errors[0]["message"] and "media.timestamp" in errors[1]["message"]
    logged = logged_since(stack, mark)
    assert "Traceback" not in logged and "ERROR" not in logged, logged


async def test_client_strings_make_one_short_log_line(stack):
    """An AudioHook error report cannot forge a line; a 30 KB streamSid is not a 30 KB line."""
    mark = len(stack.gateway.lines)
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Session-Id": client.id, "Audiohook-Organization-Id": str(uuid.uuid4())}
    async with connect(f"ws://127.0.0.1:{stack.port}/audiohook", additional_headers=headers) as ws:
        await ws.send(client.open())
        [opened] = await replies(ws, 1)
        client.seen(json.dumps(opened))
        assert opened["type"] == "opened", opened
        await ws.send(client.message("error", {"code": 500, "message": "boom" + FORGED + "y" * 30_000}))
        await ws.send(client.message("close", {"reason": "end"}))
        await until_closed(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    long_sid = "MZ" + "z" * 30_000
    async with connect(f"ws://127.0.0.1:{stack.port}/twilio", max_size=None) as ws:
        await ws.send(twilio_start(["inbound"]).replace(STREAM_SID, long_sid))
        await ws.send(json.dumps({"event": "stop", "streamSid": long_sid, "stop": {}}))
        await until_closed(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    # The gateway's log reaches us through a pipe and a reader thread: wait for the last line.
    await asyncio.to_thread(stack.gateway.wait_for_line, "not followable", 30, start=mark)
    lines = stack.gateway.lines[mark:]
    assert not [line for line in lines if line.startswith("2099-01-01")], lines
    [report] = [line for line in lines if "client error 500" in line]
    assert "boom\\n2099-01-01T00:00:00.000Z INFO gateway: FORGED" in report and len(report) < 500, report
    [sid] = [line for line in lines if "not followable" in line]
    assert "MZzzz" in sid and "(30002 chars)" in sid and len(sid) < 500, sid

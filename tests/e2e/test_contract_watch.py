"""The e2e kit's contract check (tests/kit/contract.py) reads ss:finals from a real Redis and finds violations.

The entries are written by hand, as a gateway writes them (gateway.outputs.transcript_log), so
that the check of every other test's sessions is known to see what it must.
"""

from __future__ import annotations

import json

import pytest
import redis as sync_redis

from gateway.core import events
from gateway.outputs.transcript_log import FINALS_STREAM, call_key, finals_fields, log_key, transcript_message
from tests.kit.contract import FinalsWatch, exempt

pytestmark = [pytest.mark.e2e]


def entry(session_id: str, uid: str, text: str, start_ms: int, end_ms: int) -> dict:
    final = events.Final(channel=0, session_id=session_id, utterance_id=uid, text=text, start_ms=start_ms,
                         end_ms=end_ms, language="en", speech_final=True)
    return finals_fields(transcript_message("call", final, None), tenant="t", protocol="native", gateway="g")


@pytest.fixture
def client(redis_server, redis):  # `redis` empties the db after the test
    client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.mark.contract_exempt("writes finals that break the contract by hand, to see the check find them")
def test_each_session_is_checked_whole_and_reported_once(redis_server, client):
    watch = FinalsWatch(enabled=True)
    watch.watch(redis_server.url)
    client.xadd(FINALS_STREAM, entry("a", "a-1", "Ask what you can do for your country.", 7870, 10_820))
    client.xadd(FINALS_STREAM, entry("b", "b-1", "Hello there, how are you?", 0, 1500))
    watch.collect()
    assert watch.new_violations() == []
    # the next final of session a comes in a later read: checked against the first
    client.xadd(FINALS_STREAM, entry("a", "a-2", "What you can do for your country.", 10_820, 10_980))
    client.xadd(FINALS_STREAM, entry("b", "b-2", "Fine, thanks.", 2000, 2600))
    watch.collect(redis_server.url)
    ((session, finals, violations),) = watch.new_violations()
    assert session == "a (ss:finals)" and len(finals) == 2
    assert {v.kind for v in violations} == {"repeated_text"} and {v.index for v in violations} == {1}
    assert watch.new_violations() == []  # reported once
    # a duplicate final, after a flush of the db (a new stream: read from its start)
    client.flushdb()
    watch.flushed(redis_server.url)
    client.xadd(FINALS_STREAM, entry("b", "b-2", "Fine, thanks.", 2000, 2600))
    watch.collect()
    ((session, _, violations),) = watch.new_violations()
    assert session == "b (ss:finals)" and [v.kind for v in violations] == ["duplicate_final", "overlap"]
    # the watch's own reads leave the module's watch nothing new to check
    assert client.xlen(FINALS_STREAM) == 1


@pytest.mark.contract_exempt("writes a call log that breaks the contract by hand, to see the check find it",
                             kinds=["partial_after_final"])
def test_call_logs_show_partials_after_their_final(redis_server, client):
    """ss:finals has no partials: the call logs (while kept) show a partial of an utterance that had its final."""
    watch = FinalsWatch(enabled=True)
    watch.watch(redis_server.url)
    call = call_key("t", "call-1")
    client.hset(call, mapping={"started": "1.0", "state": "live"})
    common = dict(channel=0, session_id="s1", utterance_id="u1", language="en")
    messages = [events.Partial(text="hello", start_ms=0, end_ms=500, **common),
                events.Final(text="Hello there.", start_ms=0, end_ms=900, speech_final=True, **common),
                events.Partial(text="hello there", start_ms=0, end_ms=1000, **common)]
    for seq, event in enumerate(messages[:2], 1):
        client.xadd(log_key("t", "call-1"), {"m": json.dumps(transcript_message("call-1", event, None))},
                    id=f"0-{seq}")
    watch.collect()
    assert watch.new_violations() == []
    client.xadd(log_key("t", "call-1"), {"m": json.dumps(transcript_message("call-1", messages[2], None))}, id="0-3")
    watch.collect()
    ((session, _, violations),) = watch.new_violations()
    assert session == "s1 (call log)" and [(v.kind, v.index) for v in violations] == [("partial_after_final", 2)]
    # the same call id again, a new call (its registry says when it started): its log is read from its start
    client.delete(call, log_key("t", "call-1"))
    client.hset(call, mapping={"started": "2.0", "state": "live"})
    again = events.Partial(text="hi", start_ms=0, end_ms=400, **{**common, "session_id": "s2"})
    client.xadd(log_key("t", "call-1"), {"m": json.dumps(transcript_message("call-1", again, None))}, id="0-1")
    watch.collect()
    assert [e.text for e in watch.sessions[(redis_server.url, "call log", "s2")].events] == ["hi"]
    assert watch.new_violations() == []


@pytest.mark.contract_exempt("writes a call that breaks rules 6-8 by hand, to see the check find it",
                             kinds=["option_dropped", "alert_disagrees", "language_flip"])
def test_an_ended_call_is_checked_for_what_it_asked_and_its_alerts(redis_server, client):
    """An ended call's log, whole, against its registry's ``asked``; a session's finals against the
    language ss:finals says it asked for."""
    watch = FinalsWatch(enabled=True)
    watch.watch(redis_server.url)
    client.hset(call_key("t", "call-2"), mapping={"started": "1.0", "state": "live",
                                                  "asked": json.dumps({"words": True, "analytics": True})})
    final = events.Final(channel=0, session_id="s3", utterance_id="u1", text="I would like to check my balance.",
                         start_ms=10_600, end_ms=14_500, language="en", speech_final=True)
    alert = {"type": "analytics", "call_id": "call-2", "event": "alert", "alert": "dead_air", "id": 1,
             "start_ms": 10_600, "duration_ms": 10_000, "ongoing": True}
    summary = {"type": "analytics_summary", "call_id": "call-2",
               "summary": {"alerts": {"dead_air": 0}, "dead_air": {"count": 0, "items": []}}}
    ended = {"type": "ended", "call_id": "call-2", "reason": "session complete", "complete": True}
    log = [transcript_message("call-2", final, None), alert, summary, ended]
    for seq, message in enumerate(log[:2], 1):
        client.xadd(log_key("t", "call-2"), {"m": json.dumps(message)}, id=f"0-{seq}")
    client.xadd(FINALS_STREAM, {**entry("s3", "u1", final.text, final.start_ms, final.end_ms), "language_asked": "es"})
    watch.collect()
    (finals, (call, _, violations)) = watch.new_violations()  # the call goes on: what its log shows so far
    assert finals[0] == "s3 (ss:finals)" and [v.kind for v in finals[2]] == ["language_flip"]
    assert call.startswith("ss:call:{t/call-2}:log (call log")
    assert [v.kind for v in violations] == ["option_dropped"] and "words asked for" in violations[0].detail
    for seq, message in enumerate(log[2:], 3):
        client.xadd(log_key("t", "call-2"), {"m": json.dumps(message)}, id=f"0-{seq}")
    watch.collect()
    ((call, _, violations),) = watch.new_violations()  # its summary came: the alert contradicts it
    assert {v.kind for v in violations} == {"alert_disagrees"}
    assert watch.new_violations() == []  # reported once


def test_a_watch_not_enabled_reads_nothing(redis_server, client):
    watch = FinalsWatch()
    watch.watch(redis_server.url)
    client.xadd(FINALS_STREAM, entry("c", "c-1", "Hello.", 0, 500))
    watch.collect()
    assert watch.sessions == {}


def test_exemptions_name_a_reason_and_known_kinds():
    from common.contract import Event, Violation

    finals = [Event(kind="final", text="x", start_ms=0, end_ms=1)]
    found = [("s", finals, [Violation("overlap", "", 0), Violation("lost_speech", "", -1)])]
    failing, excused = exempt(found, "a fault loses speech", ["lost_speech"])
    assert [v.kind for v in failing[0][2]] == ["overlap"] and [v.kind for v in excused[0][2]] == ["lost_speech"]
    assert exempt(found, "every kind") == ([], found)
    with pytest.raises(ValueError, match="reason"):
        exempt(found, "")
    with pytest.raises(ValueError, match="unknown kinds"):
        exempt(found, "why", ["overlaps"])

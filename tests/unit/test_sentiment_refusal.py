"""Sentiment asked for by name where the server cannot score it (no ``analytics`` extra) is refused,
as ``diarize`` is without its extra, never answered "neutral" for every segment; asked for on a
live Deepgram stream (a pre-recorded analysis) it is refused too. The missing extra is simulated:
the scorer's loader raises what it raises without the ``vadersentiment`` wheel."""

from __future__ import annotations

import json

import pytest

from common.errors import ConfigError, ModelError, ProtocolError
from gateway.analytics import sentiment
from gateway.core.config import SessionConfig
from gateway.doors import kit
from gateway.doors.base import HandshakeRefused
from gateway.doors.deepgram_prerecorded import PrerecordedSettings
from gateway.doors.native import parse_config
from gateway.http.prerecorded import check_extras

from tests.unit.test_deepgram import door

WITHOUT = "sentiment needs the vadersentiment package: install streamscribe[analytics]"


@pytest.fixture
def no_extra(monkeypatch):
    def missing() -> sentiment.Sentiment:
        raise ModelError(WITHOUT)

    monkeypatch.setattr(sentiment, "sentiment", missing)


def test_the_check_names_the_extra(no_extra):
    with pytest.raises(ConfigError, match=r"sentiment is not available on this server: .*streamscribe\[analytics\]"):
        sentiment.available()


@pytest.mark.extra("analytics")
def test_the_check_passes_where_the_extra_is_installed():
    sentiment.available()


def test_a_call_asking_for_sentiment_by_name_is_refused_without_the_extra(no_extra):
    with pytest.raises(ConfigError, match=r"streamscribe\[analytics\]"):
        kit.check_extras(SessionConfig(analytics={"sentiment": True}))
    with pytest.raises(ProtocolError, match=r"streamscribe\[analytics\]") as info:
        parse_config(json.dumps({"type": "config", "analytics": {"sentiment": True}}))
    assert str(info.value.code) == "bad_config"
    # analytics: true runs without sentiment and tells the client (gateway/calls/call.py); off is off.
    kit.check_extras(SessionConfig(analytics=True))
    kit.check_extras(SessionConfig(analytics={"sentiment": False}))


def test_a_recording_asking_for_sentiment_is_refused_without_the_extra(no_extra):
    """POST /v1/listen?sentiment=true: the handler answers this check's ConfigError with 400."""
    with pytest.raises(ConfigError, match=r"streamscribe\[analytics\]"):
        check_extras(PrerecordedSettings.from_query([("sentiment", "true")]))
    check_extras(PrerecordedSettings.from_query([("sentiment", "false"), ("search", "refund")]))


@pytest.mark.parametrize("name", ["sentiment", "summarize", "topics", "intents"])
def test_a_live_deepgram_stream_refuses_pre_recorded_analyses(name):
    with pytest.raises(HandshakeRefused) as info:
        door(f"encoding=linear16&sample_rate=16000&{name}=true")
    assert info.value.status == 400
    assert f"{name}=true is for pre-recorded requests" in json.loads(info.value.body)["err_msg"]
    door(f"encoding=linear16&sample_rate=16000&{name}=false")  # not asked: nothing to refuse

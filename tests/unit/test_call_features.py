"""A call and what plugs into it (gateway/calls/feature.py, gateway/features): the order a call hands its
features its life, each feature's part, and that every feature module is registered. No Redis: the
pipeline sessions' Redis steps are stubbed, and the call's results come in as its relay hands them.

Against real Redis and workers the features run in tests/e2e (test_e2e, test_analytics, test_redaction,
test_tenants, test_resume, test_followers, test_diarization).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from common.languages import ModelLanguages
from common.metrics import GatewayMetrics
from common.records import End, Record, SpeechEnd, SpeechStart, Transcript
from gateway import features
from gateway.calls.call import Call, CallRefused
from gateway.calls.feature import Chunks, Feature, FeatureRefusal
from gateway.core import events
from gateway.core.config import SessionConfig
from gateway.core.hub import HubOptions
from gateway.core.session import PipelineSession
from gateway.core.tenant import Tenants
from gateway.features.counts import Counts
from gateway.features.languages import Languages
from gateway.features.redaction import RedactionFeature
from gateway.features.shared import Shared
from gateway.features.transcripts import Transcripts
from gateway.policy.tenant import TenantPolicy


class FakeStages:
    """What a call asks of the hub's stages, without Redis: the ASR's ``models`` and an ``admission`` that admits."""

    def __init__(self, models: ModelLanguages) -> None:
        self._models = models

    async def models(self) -> ModelLanguages:
        return self._models

    async def admission(self, stages, session_ids, *, batch=False) -> str:
        return ""


class FakeHub:
    def __init__(self, models: ModelLanguages = ModelLanguages()) -> None:
        self.options = HubOptions()
        self.metrics = GatewayMetrics(CollectorRegistry())
        self.stages = FakeStages(models)


@pytest.fixture(autouse=True)
def no_redis(monkeypatch):
    """Pipeline sessions that create, publish, park and close without Redis."""
    async def nothing(self, *args, **kwargs):
        return None

    async def parked(self) -> dict:
        return {"session_id": self.session_id}

    for name in ("create", "publish_audio", "close"):
        monkeypatch.setattr(PipelineSession, name, nothing)
    monkeypatch.setattr(PipelineSession, "park", parked)


class Recorder(Feature):
    """Writes down every hook it is handed, as ``(hook, what)``, into ``heard``."""

    def __init__(self, call: Call, heard: list, *, name: str = "a", refuse: str = "") -> None:
        self.call, self.heard, self.name, self.refuse = call, heard, name, refuse

    def refusal(self) -> FeatureRefusal | None:
        self.heard.append((self.name, "refusal"))
        return FeatureRefusal("test", self.refuse) if self.refuse else None

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        self.heard.append((self.name, "open", None if parked is None else parked.get(self.name)))

    async def opened(self) -> None:
        self.heard.append((self.name, "opened"))

    def audio(self, channel: int, chunks: Chunks) -> None:
        self.heard.append((self.name, "audio", channel, sum(len(pcm) for _, pcm in chunks)))

    def record(self, channel: int, record: Record) -> None:
        self.heard.append((self.name, "record", type(record).__name__))

    async def final(self, final: events.Final) -> events.Final:
        self.heard.append((self.name, "final", final.text))
        return dataclasses.replace(final, text=f"{final.text} +{self.name}")

    async def result(self, event: events.Partial | events.Final) -> None:
        self.heard.append((self.name, "result", type(event).__name__, event.text))

    async def end(self, ended: events.Ended) -> None:
        self.heard.append((self.name, "end", ended.reason))

    async def close(self, *, parked: bool) -> dict:
        self.heard.append((self.name, "close", parked))
        return {self.name: "state"} if parked else {}


def recorder(heard: list, **options):
    return lambda call: Recorder(call, heard, **options)


def call_with(*plugs, config: SessionConfig = SessionConfig(encoding="pcm16"), hub: FakeHub | None = None,
              policy: TenantPolicy = TenantPolicy()) -> tuple[Call, asyncio.Queue]:
    queue: asyncio.Queue = asyncio.Queue(maxsize=100)
    return Call(hub or FakeHub(), config, protocol="native", events_out=queue, policy=policy, plugs=plugs), queue


def drained(queue: asyncio.Queue) -> list:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_call_hands_its_features_its_life_in_order():
    heard: list = []
    call, queue = call_with(recorder(heard), recorder(heard, name="b"))
    await call.open()
    # Checks before anything is taken; open before the client hears of the call, opened after.
    assert heard == [("a", "refusal"), ("b", "refusal"), ("a", "open", None), ("b", "open", None),
                     ("a", "opened"), ("b", "opened")]
    assert isinstance(drained(queue)[0], events.Opened)
    heard.clear()
    await call.audio(np.ones(1600, np.int16).tobytes())
    assert heard == [("a", "audio", 0, 1600), ("b", "audio", 0, 1600)]
    heard.clear()
    session = call.sessions[0]
    await call.results.relay(session, SpeechStart(start=0))
    await call.results.relay(session, Transcript(utterance_id="u", start=0, end=1600, text="hi", final=False))
    await call.results.relay(session, Transcript(utterance_id="u", start=0, end=1600, text="hi", final=True,
                                              speech_final=True))
    await call.results.relay(session, SpeechEnd(start=0, end=1600, reason="silence"))
    # Each final through every feature before it goes out, then each feature hears what went out.
    assert heard == [("a", "record", "SpeechStart"), ("b", "record", "SpeechStart"),
                     ("a", "result", "Partial", "hi"), ("b", "result", "Partial", "hi"),
                     ("a", "record", "Transcript"), ("b", "record", "Transcript"),
                     ("a", "final", "hi"), ("b", "final", "hi +a"),
                     ("a", "result", "Final", "hi +a +b"), ("b", "result", "Final", "hi +a +b"),
                     ("a", "record", "Transcript"), ("b", "record", "Transcript"),
                     ("a", "record", "SpeechEnd"), ("b", "record", "SpeechEnd")]
    sent = drained(queue)
    assert [type(event).__name__ for event in sent] == ["SpeechStarted", "Partial", "Final", "UtteranceEnd"]
    assert sent[2].text == "hi +a +b"
    heard.clear()
    await call.results.relay(session, End())
    await call.close(timeout=5)
    await call.release()
    await call.release()  # idempotent: the features let go once
    assert heard == [("a", "record", "End"), ("b", "record", "End"), ("a", "audio", 0, 0), ("b", "audio", 0, 0),
                     ("a", "end", "session complete"), ("b", "end", "session complete"),
                     ("a", "close", False), ("b", "close", False)]
    assert isinstance(drained(queue)[-1], events.Ended)


async def test_a_refusal_stops_the_call_before_anything_is_taken():
    heard: list = []
    call, queue = call_with(recorder(heard, refuse="no, because"), recorder(heard, name="b"))
    with pytest.raises(CallRefused, match="no, because"):
        await call.open()
    assert heard == [("a", "refusal")] and queue.empty()
    assert call.hub.metrics.sessions_refused.labels(reason="test")._value.get() == 1


async def test_a_parked_call_hands_its_features_state_on_and_a_resumed_one_gets_it_back():
    heard: list = []
    call, _ = call_with(recorder(heard))
    await call.open()
    heard.clear()
    state = await call.park()
    assert state["a"] == "state" and heard[-1] == ("a", "close", True)
    await call.release()  # parked: the features were let go already
    assert heard[-1] == ("a", "close", True)
    heard.clear()
    resumed = Call.restore(FakeHub(), state, events_out=asyncio.Queue(), plugs=(recorder(heard),))
    resumed.sessions[0].attach = lambda state: asyncio.sleep(0)  # type: ignore[method-assign]
    await resumed.attach(state)
    assert heard == [("a", "open", "state"), ("a", "opened")]


async def test_a_parked_calls_state_keeps_its_format_and_comes_back_whole():
    """A call parked by one gateway version resumes on another (a rolling restart): the state's keys
    stay as they are, and the flushes, the last words' ends and the offsets come back."""
    call, queue = call_with(config=SessionConfig(encoding="pcm16", sample_rate=8000))
    await call.open()
    await call.audio(np.ones(800, np.int16).tobytes())
    assert await call.finalize() == 1
    await call.results.relay(call.sessions[0], Transcript(utterance_id="u", start=0, end=1600, text="hi",
                                                          final=True))
    state = await call.park()
    assert set(state) == {"call_id", "protocol", "config", "parties", "sessions", "flushes", "flush_pending",
                          "last_word_end", "offsets"}
    assert (state["flushes"], state["flush_pending"], state["last_word_end"]) == (1, {"1": 1}, {"0": 100})
    assert state["offsets"] == [call.audio_in.converted.converters[0].offset] and state["offsets"][0] > 0
    resumed = Call.restore(FakeHub(), state, events_out=asyncio.Queue())
    assert (resumed.results.flushes, resumed.results.flush_pending, resumed.results.last_word_end) == \
        (1, {1: 1}, {0: 100})
    assert resumed.audio_in.offsets == state["offsets"]
    assert await resumed.finalize() == 2  # the flush ids go on


async def test_a_feature_is_found_by_its_kind():
    heard: list = []
    call, _ = call_with(recorder(heard), features.counts.plug(Shared()))
    assert isinstance(call.features.find(Counts), Counts) and isinstance(call.features.find(Recorder), Recorder)
    assert call.features.find(Transcripts) is None


def test_every_feature_module_is_registered_once():
    """A feature is its module and one line in gateway/features/__init__.py: a module left out is found here."""
    modules = {f"gateway.features.{path.stem}" for path in Path(features.__file__).parent.glob("*.py")
               if path.stem not in ("__init__", "shared")}
    registered = [plug.__module__ for plug in features.plugs(Shared())]
    assert sorted(registered) == sorted(modules)


# -- the features' own parts ----------------------------------------------------------------------


def plugged(plug, config: SessionConfig, *, models: ModelLanguages = ModelLanguages(),
            policy: TenantPolicy = TenantPolicy()) -> tuple[Call, Feature | None]:
    call, _ = call_with(config=config, hub=FakeHub(models), policy=policy)
    call.models = models
    return call, plug(call)


def test_languages_refuse_what_the_fleet_cannot_decode():
    english = ModelLanguages(("tiny.en",), frozenset({"en"}))
    _, spanish = plugged(features.languages.plug(Shared()), SessionConfig(language="es"), models=english)
    assert isinstance(spanish, Languages)
    refused = spanish.refusal()
    assert refused is not None and refused.reason == "language" and "'es'" in refused.message
    _, fine = plugged(features.languages.plug(Shared()), SessionConfig(language="en"), models=english)
    assert fine is not None and fine.refusal() is None
    # Nothing announced yet: nothing refused here (the ASR stage applies the rule to its own model).
    _, unknown = plugged(features.languages.plug(Shared()), SessionConfig(language="es"))
    assert unknown is not None and unknown.refusal() is None


async def test_redaction_refuses_names_without_the_name_model_and_counts_the_tenants_redacted_sessions():
    tenants = Tenants()
    plug = features.redaction.plug(Shared(tenants=tenants))
    _, none = plugged(plug, SessionConfig())
    assert none is None  # a call that redacts nothing has no redaction feature
    no_names = ModelLanguages(("tiny.en",), frozenset({"en"}), names=False)
    policy = TenantPolicy(tenant="bank", redact=("pci",))
    call, pii = plugged(plug, SessionConfig(redact=("pii",)), models=no_names, policy=policy)
    assert isinstance(pii, RedactionFeature)
    refused = pii.refusal()
    assert refused is not None and refused.reason == "redaction"
    # The tenant's forced kinds are in the config its sessions get; counted under who asked.
    assert call.config.redact_policy == "tenant+client" and "pci" in call.config.redact
    await pii.open(None)
    assert tenants["bank"].redacted["tenant+client"] == 1
    await pii.close(parked=False)
    await pii.close(parked=False)
    assert tenants["bank"].redacted["tenant+client"] == 0


async def test_counts_count_a_calls_sessions_in_and_out_once():
    tenants = Tenants()
    call, counts = plugged(features.counts.plug(Shared(tenants=tenants)), SessionConfig(channels=2),
                           policy=TenantPolicy(tenant="acme"))
    assert isinstance(counts, Counts)
    gauge = call.hub.metrics.sessions_active.labels(protocol="native")
    await counts.open(None)
    assert tenants["acme"].sessions["native"] == 2 and gauge._value.get() == 2
    assert await counts.close(parked=True) == {}
    await counts.close(parked=False)
    assert tenants["acme"].sessions["native"] == 0 and gauge._value.get() == 0
    # Without tenants (the raw TCP door's calls): the gateway's gauge only.
    call, uncounted = plugged(features.counts.plug(Shared()), SessionConfig())
    assert isinstance(uncounted, Counts) and uncounted.tenant is None


async def test_the_transcript_log_is_a_feature_where_the_gateway_has_one():
    _, none = plugged(features.transcripts.plug(Shared()), SessionConfig())
    assert none is None
    log = SimpleNamespace(opened=[])

    async def open_call(**fields):
        log.opened.append(fields)
        return None  # the tenant's id is taken: the call runs without a log

    _, logged = plugged(features.transcripts.plug(Shared(transcripts=SimpleNamespace(open_call=open_call))),
                        SessionConfig(redact=("pci",)), policy=TenantPolicy(tenant="acme"))
    assert isinstance(logged, Transcripts)
    await logged.open(None)
    (opened,) = log.opened
    assert opened["tenant"] == "acme" and opened["redaction"] == "client:pci" and opened["webhook"] is None
    assert await logged.close(parked=True) == {"log_seq": None}  # a parked call without a log says so


def test_analytics_and_speakers_plug_in_only_where_asked():
    _, off = plugged(features.analytics.plug(Shared()), SessionConfig())
    assert off is None
    _, asked = plugged(features.analytics.plug(Shared()), SessionConfig(analytics=True))
    assert asked is not None
    on = TenantPolicy(tenant="acme", analytics=dataclasses.replace(TenantPolicy().analytics, enabled=True))
    _, tenant_on = plugged(features.analytics.plug(Shared()), SessionConfig(), policy=on)
    assert tenant_on is not None
    _, no_diarizer = plugged(features.speakers.plug(Shared()), SessionConfig(diarize=True))
    assert no_diarizer is None

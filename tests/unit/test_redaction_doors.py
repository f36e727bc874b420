"""Redaction at the doors: who asks for it, what is refused, what the tenant forces, how it is written."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from common.errors import ConfigError, ProtocolError
from common.pipeline_config import PipelineConfig
from gateway.core import events
from gateway.core.config import SessionConfig
from gateway.doors import deepgram as dg
from gateway.doors import deepgram_prerecorded
from gateway.doors.base import Handshake, HandshakeRefused
from gateway.doors.deepgram import DeepgramDoor
from gateway.doors.flux import FluxDoor
from gateway.doors.native import NativeDoor, parse_config
from gateway.policy.keyfile import parse_keys
from gateway.policy.tenant import policies

RAW = "encoding=linear16&sample_rate=16000"


def live(query: str) -> SessionConfig:
    return DeepgramDoor(Handshake.from_target(f"/v1/listen?{RAW}&{query}", {})).opening()[0].config


def test_deepgram_live_flux_and_prerecorded_take_redact():
    assert live("redact=pci&redact=ssn").redact == ("pci", "ssn")
    assert live("redact=pci,numbers").redact == ("pci", "numbers")
    assert live("redact=true").redact == ("numbers",)
    assert live("").redact == ()
    flux = FluxDoor(Handshake.from_target(f"/v2/listen?model=flux-general-en&{RAW}&redact=pci", {}))
    assert flux.opening()[0].config.redact == ("pci",)
    pairs = urllib.parse.parse_qsl("redact=pci&redact=pii", keep_blank_values=True)
    recorded = deepgram_prerecorded.PrerecordedSettings.from_query(pairs)
    assert recorded.stream.session_config().redact == ("pci", "pii")


@pytest.mark.parametrize("query, message", [
    ("redact=phi", "unknown redaction kind 'phi'"),
    ("redact=", "redact: an empty value"),
    ("redact=pci&redact=", "redact: an empty value"),
    ("redact=pci&language=de", "redaction is for English speech only"),
])
def test_deepgram_refuses_bad_redaction(query, message):
    with pytest.raises(HandshakeRefused) as info:
        live(query)
    body = json.loads(info.value.body)
    assert info.value.status == 400 and message in body["err_msg"]


@pytest.mark.parametrize("target", [f"/v1/listen?{RAW}&redact=pci&redact_audio=tone",
                                    f"/v2/listen?model=flux-general-en&{RAW}&redact=pci&redact_audio=silence"])
def test_live_doors_refuse_redact_audio(target):
    door = DeepgramDoor if target.startswith("/v1") else FluxDoor
    with pytest.raises(HandshakeRefused) as info:
        door(Handshake.from_target(target, {}))
    assert info.value.status == 400 and "redact_audio is for pre-recorded requests" in info.value.body.decode()


def test_native_config_takes_a_list_and_refuses_the_rest():
    assert parse_config('{"redact": ["ssn", "pci"]}').redact == ("pci", "ssn")
    for bad in ('{"redact": []}', '{"redact": "pci"}', '{"redact": ["pin"]}', '{"redact_policy": "tenant"}'):
        with pytest.raises(ProtocolError):
            parse_config(bad)


def test_the_pipeline_config_carries_redaction_only_when_set():
    config = SessionConfig(redact=("pci",)).pipeline(denoise_default=False)
    assert PipelineConfig.decode(config.encode()).asr.redact == ("pci",)
    plain = SessionConfig().pipeline(denoise_default=False).encode()
    assert "redact" not in plain  # a worker of the version before still serves it
    with pytest.raises(ConfigError):
        PipelineConfig.decode(json.dumps({"v": 1, "asr": {"redact": ["phi"]}}))


def test_a_tenant_forces_redaction_that_clients_cannot_drop():
    keys = parse_keys("k1 tenant=bank redact=pci,ssn\nk2 tenant=bank\nk3 tenant=other\n", source="keys")
    assert keys["k1"].redact == ("pci", "ssn") and keys["k2"].redact == ()
    tenants = policies(keys.values())
    bank = tenants["bank"]
    forced = SessionConfig().with_policy(bank)
    assert forced.redact == ("pci", "ssn") and forced.redact_policy == "tenant"
    both = SessionConfig(redact=("numbers",)).with_policy(bank)
    assert both.redact == ("pci", "ssn", "numbers") and both.redact_policy == "tenant+client"
    assert both.redaction == "tenant+client:pci,ssn,numbers"
    assert SessionConfig().with_policy(tenants["other"]).redact == ()
    # Applied once: a parked call's config, resumed, keeps what it had.
    assert both.with_policy(bank) is both and forced.with_policy(bank) is forced
    with pytest.raises(ConfigError, match="keys:1: redact: unknown redaction kind 'cards'"):
        parse_keys("k1 redact=cards\n", source="keys")


def test_placeholders_reach_the_wire():
    redaction = events.Redaction(entity="CREDIT_CARD", label="[CREDIT_CARD_1]", start_ms=900, end_ms=1700)
    final = events.Final(channel=0, session_id="s", utterance_id="u", text="Card [CREDIT_CARD_1].", start_ms=500,
                         end_ms=1700, language="en", speech_final=True, redactions=(redaction,),
                         words=(events.Word(text="Card", start_ms=500, end_ms=800, confidence=0.9),
                                events.Word(text="[CREDIT_CARD_1].", start_ms=900, end_ms=1700, confidence=0.8)))
    transcript, _, words = dg.alternative(final, punctuate=False)
    assert transcript == "card [CREDIT_CARD_1]" and words[1]["word"] == "[CREDIT_CARD_1]"
    native = NativeDoor(Handshake.from_target("/ws/asr", {}))
    message = native._transcript(final)
    assert message["redactions"] == [{"type": "CREDIT_CARD", "placeholder": "[CREDIT_CARD_1]", "start_ms": 900,
                                      "end_ms": 1700}]


# Deepgram's documented example (developers.deepgram.com/docs/redaction, "Results"; source
# fern/docs/redaction.mdx of deepgram/deepgram-docs): redact=pci&redact=pii, before and after.
# (Its "after" column writes "cv code" for the source's "cvv code": a typo of the page.)
DEEPGRAM_SOURCE = (
    "my credit card number is four four four four nine nine nine nine three three three three two two two two "
    "with an expiration date of one twenty three and the cvv code is one one one i live at one two three main "
    "street dallas texas seven five two zero one my phone number is five five five two one two nine three three "
    "three my date of birth is july twelfth nineteen seventy six")
DEEPGRAM_REDACTED = (
    "my credit card number is [CREDIT_CARD_1] with an expiration date of [CREDIT_CARD_EXPIRATION_1] and the cvv "
    "code is [CVV_1] i live at [LOCATION_ADDRESS_1] my phone number is [PHONE_NUMBER_1] my date of birth is [DOB_1]")


@pytest.mark.parametrize("kinds", [("pci", "pii"), ("pci", "ssn", "pii")])
def test_deepgram_documented_example_comes_out_as_documented(kinds):
    from common.records import TimedWord, Transcript
    from common.redaction.redactor import Redactor

    tokens = DEEPGRAM_SOURCE.split()
    words = tuple(TimedWord(t, i * 8000, (i + 1) * 8000, 0.9) for i, t in enumerate(tokens))
    redactor = Redactor(kinds, hold_gap=48_000)
    out = redactor.final(Transcript(utterance_id="u", start=0, end=len(tokens) * 8000, text=DEEPGRAM_SOURCE,
                                    final=True, words=words)) + redactor.release()
    assert [t.text for t in out] == [DEEPGRAM_REDACTED]
    record = out[0]
    final = events.Final(channel=0, session_id="s", utterance_id="u", text=record.text, start_ms=0,
                         end_ms=record.end // 16, language="en", speech_final=True,
                         words=tuple(events.Word(text=w.text, start_ms=w.start // 16, end_ms=w.end // 16,
                                                 confidence=w.probability) for w in record.words))
    transcript, _, wire = dg.alternative(final, punctuate=False)
    assert transcript == DEEPGRAM_REDACTED
    assert [w["word"] for w in wire] == DEEPGRAM_REDACTED.split()
    # Each placeholder is one word spanning its entity's words (0.5 s each here): the address is
    # "one two three main street dallas texas seven five two zero one", 12 words after "at".
    first = tokens.index("live") + 2
    address = wire[DEEPGRAM_REDACTED.split().index("[LOCATION_ADDRESS_1]")]
    assert (address["start"], address["end"]) == (first * 0.5, (first + 12) * 0.5)


def test_deepgram_documented_ssn_example():
    from common.records import Transcript
    from common.redaction.redactor import Redactor

    text = ("My social security number is five five five two two one one one one and his is six six six two "
            "two one three three three")
    redactor = Redactor(("ssn",), hold_gap=48_000)
    out = redactor.final(Transcript(utterance_id="u", start=0, end=16_000, text=text, final=True))
    assert [t.text for t in out + redactor.release()] == ["My social security number is [SSN_1] and his is [SSN_2]"]

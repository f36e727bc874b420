"""Languages on every door: what the ASR workers announce, the refusal of a language the model
lacks, Deepgram's ``language=multi``/``detect_language`` and ``model_info`` (common/languages.py,
the doors). tests/e2e/test_languages.py runs Spanish through the real stack."""

from __future__ import annotations

import json

import pytest

from common.languages import ModelLanguages, audiohook_tags, language_code, names_refusal
from gateway.core import events
from gateway.doors import deepgram_prerecorded
from gateway.doors import native
from gateway.doors.base import Handshake
from gateway.doors.deepgram import DeepgramDoor, LiveSettings
from gateway.doors.kit import Query

TINY = {"model": "tiny.en", "languages": ["en"], "capacity": 4}
BASE = {"model": "base", "languages": ["en", "es", "fr", "de"], "capacity": 4}


def test_codes_of_tags():
    assert [language_code(t) for t in ("es", "es-MX", "EN_us", " fr ")] == ["es", "es", "en", "fr"]


def test_what_the_workers_announce():
    # (names: a worker that does not say it has the name model of redact=pii has none)
    assert ModelLanguages.of([TINY]) == ModelLanguages(("tiny.en",), frozenset({"en"}), names=False)
    # Mixed models: the languages every worker decodes (a session may go to any of them).
    mixed = ModelLanguages.of([BASE, TINY, dict(TINY)])
    assert (mixed.name, mixed.languages) == ("base+tiny.en", frozenset({"en"}))
    # A worker that does not say (an engine without the list, an older worker): nothing refused.
    assert ModelLanguages.of([BASE, {"capacity": 4}]).languages is None
    assert ModelLanguages.of([{"model": "qwen", "languages": None}]).refusal("xx") == ""
    assert ModelLanguages().refusal("es", detect=True) == ""


def test_pii_is_refused_unless_every_worker_has_the_name_model():
    named = dict(TINY, names=True)
    assert ModelLanguages.of([named, named]).names is True
    assert ModelLanguages.of([named, TINY]).names is False  # a session may go to either
    assert ModelLanguages().names is None  # no report yet: the worker refuses it instead
    assert names_refusal(ModelLanguages.of([named]), ("pci", "pii")) == ""
    assert names_refusal(ModelLanguages(), ("pii",)) == ""
    assert names_refusal(ModelLanguages.of([TINY]), ("pci", "ssn")) == ""
    refusal = names_refusal(ModelLanguages.of([TINY]), ("pci", "pii"))
    assert refusal.startswith("redact=pii needs the name model") and "requirements/names.txt" in refusal


def test_an_english_only_model_refuses_other_languages_and_detection():
    tiny = ModelLanguages.of([TINY])
    assert tiny.refusal(None) == tiny.refusal("en") == tiny.refusal("en-GB") == ""  # auto-detect: English
    refusal = tiny.refusal("es")
    assert refusal == ("language 'es' is not one the loaded model (tiny.en) recognises (en); run an ASR model "
                       "that does, e.g. --model base (the whisper-base extra)")
    assert "language detection needs a multilingual model; the loaded model (tiny.en) recognises only en" in \
        tiny.refusal(None, detect=True)
    base = ModelLanguages.of([BASE])
    assert base.refusal("es-MX") == base.refusal(None, detect=True) == ""
    assert "'xx' is not one the loaded model (base) recognises (de, en, es, fr)" in base.refusal("xx")


def test_audiohook_tags_from_the_model():
    assert audiohook_tags((), frozenset({"en"})) == ["en-US", "en-GB", "en-AU"]
    assert audiohook_tags(("en-US", "es-US"), frozenset({"en"})) == ["en-US"]
    assert audiohook_tags(("en-US", "es-US"), None) == ["en-US", "es-US"]
    assert audiohook_tags((), None) == ["en-US"]


@pytest.mark.parametrize("query, language, detect", [
    ("", "en", False), ("language=es", "es", False), ("language=multi", None, True),
    ("language=auto", None, True), ("language=es&detect_language=true", None, True),
    ("detect_language=false", "en", False)])
def test_deepgram_language_and_detection(query, language, detect):
    settings = LiveSettings.from_query(Query([tuple(p.split("=", 1)) for p in query.split("&") if p]))
    config = settings.session_config()
    assert (config.language, config.detect_language) == (language, detect)


def deepgram(query: str) -> DeepgramDoor:
    return DeepgramDoor(Handshake.from_target(f"/v1/listen?encoding=linear16&sample_rate=16000&{query}", {}))


def es_final() -> events.Final:
    return events.Final(channel=0, session_id="s", utterance_id="u", text="Hola.", start_ms=0, end_ms=900,
                        language="es", speech_final=True)


def test_deepgram_results_name_the_loaded_model_and_the_detected_language():
    door = deepgram("language=multi&model=nova-3")
    door.render(events.Opened("call", ("s",), model="base", languages=frozenset({"en", "es"})))
    (message,) = [json.loads(m) for m in door.render(es_final())]
    assert message["metadata"]["model_info"]["name"] == "base"  # not the model the query named
    assert message["channel"]["alternatives"][0]["languages"] == ["es"]
    fixed = deepgram("language=es")
    fixed.render(events.Opened("call", ("s",), model="base"))
    (message,) = [json.loads(m) for m in fixed.render(es_final())]
    assert "languages" not in message["channel"]["alternatives"][0]  # asked for, not detected


def test_the_prerecorded_response_names_the_loaded_model_and_the_detected_language():
    query = [("detect_language", "true"), ("model", "nova-3")]
    body = deepgram_prerecorded.response(deepgram_prerecorded.PrerecordedSettings.from_query(query), [es_final()],
                                         request_id="r", created="c", sha256="h", duration=1.0, channels=1,
                                         model="tiny.en")
    metadata = body["metadata"]
    assert metadata["model_info"][metadata["models"][0]]["name"] == "tiny.en"
    assert body["results"]["channels"][0]["detected_language"] == "es"
    plain = deepgram_prerecorded.response(deepgram_prerecorded.PrerecordedSettings.from_query([]), [es_final()],
                                          request_id="r", created="c", sha256="h", duration=1.0, channels=1)
    assert "detected_language" not in plain["results"]["channels"][0]


def test_native_detect_language_flag():
    assert native.parse_config('{"language": null, "detect_language": true}').detect_language is True
    with pytest.raises(Exception, match="detect_language"):
        native.parse_config('{"detect_language": "yes"}')

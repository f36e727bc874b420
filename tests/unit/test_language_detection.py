"""A session's language when it names none (asr_worker/language.py): detected among allowed
languages only, settled on enough speech, kept against short or weak evidence, written in its
script; and how the doors ask for the languages to detect among."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asr_worker.core import AsrSessionState, Core, StreamingOptions
from asr_worker.engines import DecodeRequest, Hypothesis
from asr_worker.engines.whisper import detected
from asr_worker.language import (DEFAULT_LANGUAGES, LanguageVote, allowed, languages, request_language, restricted,
                                 script_fits)
from common.errors import ConfigError, ProtocolError
from common.languages import ModelLanguages
from common.pipeline_config import AsrConfig, PipelineConfig
from gateway.doors import deepgram_common, kit
from gateway.doors.deepgram import LiveSettings
from gateway.doors.native import parse_config

# Whisper's detection of English read speech cut to its first 0.5 s (LibriVox, BENCHMARKS.md): Hindi first.
SHORT_ENGLISH = [("hi", 0.41), ("en", 0.30), ("ms", 0.1), ("es", 0.05), ("la", 0.04), ("th", 0.02)]


def test_the_most_probable_allowed_language_wins_renormalised():
    assert restricted(SHORT_ENGLISH, ("en", "es")) == (("en", pytest.approx(0.30 / 0.35)),
                                                       ("es", pytest.approx(0.05 / 0.35)))
    # A language not among whisper's figures has none; a tie goes to the one listed first.
    assert restricted([("en", 0.5), ("es", 0.5)], ("es", "en", "xx")) == (("es", 0.5), ("en", 0.5), ("xx", 0.0))
    assert restricted([("th", 1.0)], ("en", "es")) == ()  # none allowed has any probability


def test_whispers_detection_picks_within_the_allowed_set_unless_the_request_names_one():
    assert detected(SHORT_ENGLISH, language=None, allowed=("en", "es"))[0] == "en"
    assert detected(SHORT_ENGLISH, language=None, allowed=())[0] == "hi"  # no set: as before
    language, probabilities = detected(SHORT_ENGLISH, language="es", allowed=("en", "es"))
    assert language == "es" and probabilities[0][0] == "en"  # named, and the evidence still given


def test_the_flag_and_the_models_languages():
    assert languages("en, es-MX,EN,fr") == ("en", "es", "fr")
    for bad in ("", " , ", "e1"):
        with pytest.raises(ValueError):
            languages(bad)
    assert allowed(("en", "es-MX", "xx"), ("en", "es")) == ("en", "es")
    assert allowed(("en", "xx"), None) == ("en", "xx")  # the engine does not say: all of them


def test_a_short_final_settles_nothing_and_enough_speech_settles_the_leader():
    vote = LanguageVote(("en", "es"), settle_sec=2.0)
    assert vote.guess() == "en"  # no evidence: the most likely allowed
    assert not vote.add((("es", 0.6), ("en", 0.4)), 0.8)  # "por favor" heard alone
    assert vote.language == "" and vote.leader() == "es" and vote.guess() == "es"
    assert vote.add((("en", 0.9), ("es", 0.1)), 1.5)  # 2.3 s: settled on the sum
    assert vote.language == "en"  # 0.32 + 1.35 for en against 0.48 + 0.15 for es


# Whisper base's probabilities (among the default allowed languages) of espeak-ng Spanish lines cut
# into a call's first finals, 0-1 s, 1-2.5 s and 2.5-4 s (bench.language_detection's pieces):
# "Mi tarjeta fue rechazada ayer..." in the es voice, and in es-419, whose first 2.5 s summed
# settled English although the line detected whole is Spanish (0.94, 0.93).
ES_PIECES = [((("es", 0.68), ("fr", 0.21), ("en", 0.05)), 1.0), ((("en", 0.84), ("es", 0.08), ("fr", 0.05)), 1.5),
             ((("es", 0.96), ("en", 0.04)), 1.5)]
ES_419_PIECES = [((("en", 0.54), ("fr", 0.24), ("es", 0.16)), 1.0), ((("en", 0.49), ("fr", 0.23), ("de", 0.2)), 1.5),
                 ((("es", 0.95), ("en", 0.04)), 1.5)]


@pytest.mark.parametrize("pieces", [ES_PIECES, ES_419_PIECES])
def test_split_evidence_settles_nothing_until_one_language_holds_most_of_it(pieces):
    """Finals that disagree (a Spanish line's middle heard as English) do not settle on the sum's
    narrow leader: the session waits for more speech, each decode detecting on its own, and settles
    once one language holds ``settle_share`` of the evidence (or on the leader at ``settle_max_sec``)."""
    vote = LanguageVote(DEFAULT_LANGUAGES, settle_sec=2.0)
    for probabilities, seconds in pieces:
        assert not vote.add(probabilities, seconds)
    assert vote.language == "" and vote.leader() == "es"
    spanish = (("es", 0.93), ("en", 0.06))
    settled = [vote.add(spanish, 2.0) for _ in range(2)]
    assert vote.language == "es" and settled.count(True) == 1


def test_without_agreement_the_leader_settles_at_the_cap():
    vote = LanguageVote(("en", "es"), settle_sec=2.0)
    half = (("en", 0.5), ("es", 0.5))
    assert not vote.add(half, 2.0) and not vote.add(half, 3.0) and vote.language == ""
    assert vote.settle_max_sec == 6.0
    assert vote.add((("es", 0.55), ("en", 0.45)), 1.0) and vote.language == "es"  # 6 s: the leader


def test_a_settled_language_changes_only_on_several_long_sure_finals_in_a_row():
    vote = LanguageVote(("en", "es"), settle_sec=2.0, language="en", seconds=3.0, weights={"en": 3.0})
    spanish = (("es", 0.95), ("en", 0.05))
    assert not vote.add(spanish, 1.0)  # short: counts neither way
    assert not vote.add(spanish, 2.5) and vote.streak == 1
    assert not vote.add((("es", 0.7), ("en", 0.3)), 2.5)  # not sure enough: starts over
    assert vote.streak == 0
    assert not vote.add(spanish, 2.5) and not vote.add(spanish, 1.0) and not vote.add(spanish, 3.0)
    assert vote.streak == 2 and vote.language == "en"
    assert vote.add(spanish, 2.0) and vote.language == "es" and vote.streak == 0


def test_the_vote_survives_a_checkpoint_and_ignores_a_foreign_one():
    vote = LanguageVote(("en", "es"))
    vote.add((("es", 1.0),), 2.5)
    again = LanguageVote(("en", "es"))
    again.restore(json.loads(json.dumps(vote.state())))
    assert (again.language, again.weights, again.seconds) == ("es", {"es": 2.5}, 2.5)
    for foreign in (None, "es", {"language": "ru", "weights": {}}, {"language": 3, "weights": {}}):
        other = LanguageVote(("en", "es"))
        other.restore(foreign)
        assert other.language == "" and not other.weights


@pytest.mark.parametrize(("text", "language", "fits"), [
    ("I'd like to check my balance.", "en", True),
    ("¿Cuánto cuesta? Es el 1ª piso, señor.", "es", True),
    ("Hello ภาษาไทย", "en", False),  # the Thai partial of an English caller
    ("Привет", "en", False),
    ("Привет, Netflix", "ru", True),  # Latin names in a Cyrillic text
    ("日本語とカタカナ", "ja", True),
    ("anything", "", True), ("anything", "xx", True),  # a language not known here is not checked
])
def test_a_text_is_in_its_languages_script(text, language, fits):
    assert script_fits(text, language) is fits


def state(config: AsrConfig = AsrConfig()) -> AsrSessionState:
    asr = AsrSessionState(options=StreamingOptions(), config=config)
    asr.vote = LanguageVote(("en", "es"), settle_sec=2.0)
    return asr


def request(seconds: float, *, final: bool = False, language: str | None = None) -> DecodeRequest:
    return DecodeRequest(request_id="r", audio=np.zeros(int(seconds * 16000), np.float32), final=final,
                         language=language)


def asked(asr: AsrSessionState, decode: DecodeRequest) -> tuple[str | None, tuple[str, ...]]:
    """The language and the languages to detect among of ``decode`` as the session sends it."""
    sent = Core.in_language(asr, decode)
    return sent.language, sent.languages


def test_a_decode_of_too_little_audio_is_in_the_leading_language_and_longer_ones_are_detected_among_allowed():
    asr = state()
    assert asked(asr, request(0.25)) == ("en", ())  # no evidence: the most likely allowed, nothing detected
    asr.vote.add((("es", 1.0),), 0.5)
    assert asked(asr, request(0.5)) == ("es", ())
    assert asked(asr, request(1.5)) == (None, ("en", "es"))
    # A final in a named language still asks for the probabilities: the vote's evidence.
    assert asked(asr, request(1.5, final=True, language="es")) == ("es", ("en", "es"))
    assert asked(asr, request(0.2, final=True)) == ("es", ("en", "es"))
    named = state(AsrConfig(language="en"))
    assert asked(named, request(0.2)) == (None, ())  # a named language is left alone (the caller passes it)


def test_the_request_language_is_decided_from_the_sessions_few_fields_alone():
    """The decision itself (asr_worker.steps' ``language``), pure: what Core.in_language passes it."""
    def decided(decode: DecodeRequest, *, asked: str | None = None, allowed: tuple[str, ...] | None = ("en", "es"),
                guess: str = "es") -> tuple[str | None, tuple[str, ...]]:
        sent = request_language(decode, asked=asked, allowed=allowed, guess=guess, detect_min_sec=1.0)
        return sent.language, sent.languages

    assert decided(request(0.5)) == ("es", ())  # under detect_min_sec: the guess, nothing detected
    assert decided(request(0.999)) == ("es", ())
    assert decided(request(1.0)) == (None, ("en", "es"))  # enough audio: detected among the allowed
    assert decided(request(0.5, language="en")) == ("en", ())  # a partial's own language is kept
    assert decided(request(0.5, final=True)) == ("es", ("en", "es"))  # a final asks for the evidence
    assert decided(request(2.0, final=True, language="en")) == ("en", ("en", "es"))
    assert decided(request(0.5), asked="en") == (None, ())  # a named language: left alone
    assert decided(request(0.5), allowed=None) == (None, ())  # no vote (a model of one language)
    decode = request(3.0, language="en")
    assert request_language(decode, asked="en", allowed=("en",), guess="en", detect_min_sec=1.0) is decode


def test_an_engine_without_probabilities_gives_its_detected_language_as_evidence():
    vote = LanguageVote(("en", "es"))
    assert Core.language_probs(vote, request(2), Hypothesis("hola", language="es")) == (("es", 1.0),)
    assert Core.language_probs(vote, request(2, language="es"), Hypothesis("hola", language="es")) == ()
    assert Core.language_probs(vote, request(2), Hypothesis("x", language="th")) == ()
    given = (("en", 0.7), ("es", 0.3))
    assert Core.language_probs(vote, request(2), Hypothesis("x", language="en", language_probs=given)) == given


def test_the_native_config_names_the_languages_to_detect_among():
    config = parse_config('{"type": "config", "languages": ["en", "es-MX"]}')
    assert config.languages == ("en", "es-MX")
    pipeline = PipelineConfig.decode(config.pipeline(denoise_default=False).encode())
    assert pipeline.asr.languages == ("en", "es-MX") and pipeline.asr.language is None
    # Without them the stored config has no such field (a worker of the version before reads it).
    assert "languages" not in parse_config('{"type": "config"}').pipeline(denoise_default=False).encode()
    for bad in ('"en"', '["en", 3]', '["not a language"]', json.dumps(["en"] * 21)):
        with pytest.raises(ProtocolError, match="languages must be a list"):
            parse_config(f'{{"type": "config", "languages": {bad}}}')
    with pytest.raises(ProtocolError, match="goes with no language"):
        parse_config('{"type": "config", "language": "en", "languages": ["en", "es"]}')


def test_deepgrams_detect_language_takes_the_codes_to_detect_among():
    settings = LiveSettings.from_query(kit.Query([("detect_language", "en"), ("detect_language", "es")]))
    assert settings.detect_language and settings.language is None and settings.languages == ("en", "es")
    assert settings.session_config().languages == ("en", "es")
    assert deepgram_common.detect_languages(kit.Query([("detect_language", "true")])) == (True, ())
    with pytest.raises(ConfigError, match="not both"):
        deepgram_common.detect_languages(kit.Query([("detect_language", "true"), ("detect_language", "es")]))


def test_languages_the_model_lacks_are_refused_and_so_is_detection_on_an_english_model():
    base = ModelLanguages(("base",), frozenset({"en", "es"}))
    assert base.refusal(None, languages=("en", "es-MX")) == ""
    assert "'de' are not ones the loaded model (base) recognises" in base.refusal(None, languages=("en", "de"))
    tiny = ModelLanguages(("tiny.en",), frozenset({"en"}))
    assert tiny.refusal(None, languages=("en",)) == ""
    assert "'es' are not ones the loaded model (tiny.en)" in tiny.refusal(None, languages=("en", "es"))
    assert tiny.refusal(None, languages=("en", "en-GB")) == ""  # one language: nothing to detect

"""The typed pipeline config: defaults, the JSON form and its versions, validation (pure, no Redis)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from asr_worker.stage import StreamingOptions
from common.endpointing import EndpointOptions
from common.errors import ConfigError
from common.pipeline_config import VERSION, AsrConfig, DenoiseConfig, PipelineConfig, VadConfig

FULL = PipelineConfig(
    stages=("denoise", "vad", "asr"),
    vad=VadConfig(threshold=0.6, silence_threshold=0.5, trailing_padding=0.1),
    asr=AsrConfig(language="en", context="Dashwood, Norland", words=True, eager_finals=True, chunk_size_sec=0.5,
                  unfixed_chunk_num=1, unfixed_token_num=3, sentence_endpoint=False),
    denoise=DenoiseConfig(asr_audio="denoised"),
)


def test_defaults_leave_the_workers_tunables_to_the_workers():
    config = PipelineConfig()
    assert config.stages == ("vad", "asr") and config.next_stage("vad") == "asr" and config.next_stage("asr") is None
    assert config.vad == VadConfig() and config.vad.overrides() == {}
    assert config.vad.apply(EndpointOptions(silence_threshold=1.5)) == EndpointOptions(silence_threshold=1.5)
    assert (config.asr.language, config.asr.context, config.asr.words, config.asr.eager_finals) == (None, "", False,
                                                                                                   False)
    assert (config.asr.chunk_size_sec, config.asr.unfixed_chunk_num, config.asr.unfixed_token_num,
            config.asr.sentence_endpoint) == (None, None, None, None)
    assert config.denoise.asr_audio == "raw"
    worker = StreamingOptions(chunk_size_sec=2.0, sentence_endpoint=False)
    assert worker.for_session(config.asr) == worker


def test_a_session_overrides_what_it_sets():
    assert StreamingOptions().for_session(FULL.asr) == StreamingOptions(
        chunk_size_sec=0.5, unfixed_chunk_num=1, unfixed_token_num=3, sentence_endpoint=False)
    options = FULL.vad.apply(EndpointOptions())
    assert (options.threshold, options.silence_threshold, options.trailing_padding) == (0.6, 0.5, 0.1)
    # Left unset, the pause follows the session's silence threshold and padding.
    assert VadConfig(silence_threshold=0.15, trailing_padding=0.1).apply(EndpointOptions()).pause_threshold == 0.15
    assert VadConfig(pause_threshold=0.5).apply(EndpointOptions()).pause_threshold == 0.5


@pytest.mark.parametrize("config", [PipelineConfig(), FULL, PipelineConfig(stages=("vad",)),
                                    dataclasses.replace(FULL, priority="batch")])
def test_the_json_form_round_trips(config):
    text = config.encode()
    assert PipelineConfig.decode(text) == config
    assert PipelineConfig.decode(text.encode()) == config  # as Redis hands it back


def test_a_config_is_written_with_the_lowest_version_that_holds_it():
    # A worker of version 1 still reads every live session while the fleet is upgraded ...
    assert json.loads(FULL.encode())["v"] == 1 and "priority" not in json.loads(FULL.encode())
    # ... and refuses a batch session, which it would serve as a live one.
    batch = PipelineConfig(priority="batch")
    assert batch.batch and not FULL.batch
    assert json.loads(batch.encode()) == {**json.loads(PipelineConfig().encode()), "v": VERSION, "priority": "batch"}
    assert PipelineConfig.decode('{"v": 1}').priority == "live"


def test_fields_an_older_version_lacks_take_their_defaults():
    assert PipelineConfig.decode('{"v": 1}') == PipelineConfig()
    assert PipelineConfig.decode('{"v": 1, "asr": {"words": true}}') == PipelineConfig(asr=AsrConfig(words=True))


def test_version_0_is_the_flat_layout_before_versions():
    flat = {"stages": ["denoise", "vad", "asr"], "language": "en", "context": "Dashwood, Norland",
            "chunk_size_sec": 0.5, "unfixed_chunk_num": 1, "unfixed_token_num": 3,
            "vad": {"vad_threshold": 0.6, "silence_threshold": 0.5, "trailing_padding": 0.1},
            "asr_audio": "denoised", "words": True, "eager_finals": True, "sentence_endpoint": False}
    assert PipelineConfig.decode(json.dumps(flat)) == FULL
    assert PipelineConfig.decode('{"stages": ["vad"], "vad": {}}') == PipelineConfig(stages=("vad",))


@pytest.mark.parametrize("text, message", [
    ('{"v": 3}', "version 3 is newer than this worker's"),
    ('{"v": 2, "priority": "urgent"}', "priority must be 'live' or 'batch', not 'urgent'"),
    ('{"v": "1"}', "not a version number"),
    ('{"v": -1}', "not a version number"),
    ("[1, 2]", "not a JSON object"),
    ("{", "not valid JSON"),
    ("", "not valid JSON"),
    ('{"v": 1, "speed": 2}', "unknown field(s) speed"),
    ('{"v": 1, "asr": {"chunk": 1}}', "asr: unknown field(s) chunk"),
    ('{"v": 1, "asr": []}', "asr must be an object"),
    ('{"v": 1, "denoise": {"asr_audio": "both"}}', "asr_audio must be 'raw' or 'denoised'"),
    ('{"v": 1, "stages": "vad"}', "stages must be a list"),
    ('{"v": 1, "stages": []}', "stages must be"),
    ('{"v": 1, "stages": ["asr", "vad"]}', "in that order"),
    ('{"v": 1, "stages": ["vad", "vad"]}', "in that order"),
    ('{"v": 1, "stages": ["vad", "ocr"]}', "stages must be"),
    ('{"v": 1, "vad": {"silence": 1}}', "unknown vad option(s): silence"),
    ('{"v": 1, "vad": {"silence_threshold": "1"}}', "vad option silence_threshold must be a number"),
    ('{"v": 1, "vad": [1]}', "vad must be an object"),
    ('{"language": ""}', "language must be"),
    ('{"words": 1}', "words must be true, false"),
])
def test_a_bad_config_is_a_config_error_naming_what_is_wrong(text, message):
    with pytest.raises(ConfigError) as caught:
        PipelineConfig.decode(text)
    assert message in str(caught.value)


@pytest.mark.parametrize("build, message", [
    (lambda: AsrConfig(chunk_size_sec=30), "chunk_size_sec=30 is out of range 0.2..10.0"),
    (lambda: AsrConfig(chunk_size_sec=True), "chunk_size_sec must be a number"),
    (lambda: AsrConfig(unfixed_chunk_num=1.5), "unfixed_chunk_num must be an integer"),
    (lambda: AsrConfig(unfixed_chunk_num=1.0), "unfixed_chunk_num must be an integer"),
    (lambda: AsrConfig(unfixed_token_num=101), "unfixed_token_num=101 is out of range 0..100"),
    (lambda: AsrConfig(language="x" * 33), "language must be a language name or code"),
    (lambda: AsrConfig(context="x" * 4001), "context must be a string of at most 4000 characters"),
    (lambda: AsrConfig(context="Dash\ud800wood"), r"context must be valid Unicode text: it holds a lone surrogate "
                                                   r"('\ud800' at position 4)"),
    (lambda: AsrConfig(language="e\udfffn"), "language must be valid Unicode text"),
    (lambda: AsrConfig(eager_finals=None), "eager_finals must be true, false"),
    (lambda: AsrConfig(sentence_endpoint="yes"), "sentence_endpoint must be true, false or null"),
    (lambda: VadConfig(threshold=2), "vad: vad threshold must be between 0 and 1"),
    (lambda: VadConfig(pause_threshold=1.0), "vad: pause_threshold must be between"),
    (lambda: VadConfig(silence_threshold=None, pre_roll=True), "vad option pre_roll must be a number"),
    (lambda: DenoiseConfig(asr_audio="both"), "asr_audio must be 'raw' or 'denoised'"),
    (lambda: PipelineConfig(stages=["vad", "asr"]), "stages must be"),
    (lambda: PipelineConfig(asr={"words": True}), "asr is a dict, expected AsrConfig"),
])
def test_building_a_bad_config_names_the_field(build, message):
    with pytest.raises(ConfigError) as caught:
        build()
    assert message in str(caught.value)


def test_vad_overrides_are_the_endpoint_options_a_session_may_set():
    options = {f.name for f in dataclasses.fields(EndpointOptions)} - {"sample_rate"}
    assert {f.name for f in dataclasses.fields(VadConfig)} == options
    assert VadConfig.parse({"vad_threshold": 0.7}) == VadConfig(threshold=0.7)  # the seed's name

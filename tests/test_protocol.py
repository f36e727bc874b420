import pytest

from common.errors import ProtocolError
from gateway.protocol import parse_config, parse_control


def test_defaults_and_pipeline():
    config = parse_config('{"type": "config"}')
    assert config.sample_rate == 16000 and config.encoding == "float32" and config.language is None
    assert config.pipeline(denoise_default=False)["stages"] == ["vad", "asr"]
    assert config.pipeline(denoise_default=True)["stages"] == ["denoise", "vad", "asr"]
    assert parse_config('{"denoise": false}').pipeline(denoise_default=True)["stages"] == ["vad", "asr"]


def test_full_config():
    config = parse_config('{"type":"config","sample_rate":8000,"encoding":"alaw","language":"English",'
                          '"context":"Dashwood, Norland","chunk_size_sec":0.5,"unfixed_chunk_num":1,'
                          '"unfixed_token_num":3,"vad":{"vad_threshold":0.6,"silence_threshold":0.5}}')
    assert (config.sample_rate, config.encoding, config.language) == (8000, "alaw", "English")
    assert config.pipeline(denoise_default=False)["vad"] == {"vad_threshold": 0.6, "silence_threshold": 0.5}


@pytest.mark.parametrize("message, code, text", [
    ("hello", "bad_json", "not valid JSON"),
    (b"\x00\x01", "config_required", "not binary audio"),
    ('["config"]', "bad_json", "JSON object"),
    ('{"type": "finalize"}', "config_required", "must be a config"),
    ('{"samplerate": 8000}', "bad_config", r"unknown config field\(s\): samplerate"),
    ('{"sample_rate": 96000}', "bad_config", "out of range"),
    ('{"sample_rate": 16000.5}', "bad_config", "integer"),
    ('{"encoding": "opus"}', "bad_config", "encoding must be one of"),
    ('{"chunk_size_sec": "1"}', "bad_config", "must be a number"),
    ('{"vad": {"silence_threshold": -1}}', "bad_config", "silence_threshold"),
    ('{"vad": {"nope": 1}}', "bad_config", "unknown vad option"),
    ('{"denoise": "yes"}', "bad_config", "denoise must be"),
    ('{"asr_audio": "both"}', "bad_config", "asr_audio"),
])
def test_bad_configs(message, code, text):
    with pytest.raises(ProtocolError, match=text) as info:
        parse_config(message)
    assert info.value.code == code


def test_control_messages():
    assert parse_control('{"type": "finalize"}')["type"] == "finalize"
    with pytest.raises(ProtocolError, match="unknown message type 'pause'") as info:
        parse_control('{"type": "pause"}')
    assert info.value.code == "unknown_type"
    with pytest.raises(ProtocolError, match="already received"):
        parse_control('{"type": "config"}')

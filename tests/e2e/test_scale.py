"""Scale-out: two gateways, two workers per stage, 20 concurrent sessions."""

from __future__ import annotations

import asyncio
import time

import pytest
import soundfile

from streamscribe_client import file_frames, stream

from tests.kit.faults import http_port, metric, scrape
from tests.kit.support import word_errors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SESSIONS = 20


@pytest.fixture(scope="module")
def two_of_everything(redis_server, stacks):
    stack = stacks(redis_server, vad_workers=2, asr_workers=2)
    return stack, [stack.url, stack.add_gateway()]


async def test_twenty_concurrent_sessions_get_all_their_finals(two_of_everything, clips):
    stack, urls = two_of_everything
    audio = [soundfile.read(str(path), dtype="float32") for path, _ in clips]

    async def session(i):
        samples, rate = audio[i % len(audio)]
        await asyncio.sleep(i * 0.1)  # staggered arrivals, as calls arrive in a call centre
        return await stream(urls[i % 2], file_frames(samples, rate, chunk_ms=100, speed=1.5),
                            sample_rate=rate, timeout=180)

    started = time.monotonic()
    results = await asyncio.gather(*(session(i) for i in range(SESSIONS)))
    elapsed = time.monotonic() - started
    errors = words = 0
    for i, messages in enumerate(results):
        finals = [m for m in messages if m["type"] == "final"]
        assert [m for m in messages if m["type"] == "error"] == []
        assert len(finals) == 1, (i, messages)
        e, n = word_errors(clips[i % len(clips)][1], finals[0]["text"])
        errors, words = errors + e, words + n
    print(f"{SESSIONS} concurrent sessions over 2 gateways: all finals in {elapsed:.1f} s, "
          f"WER {errors / words:.1%}")
    assert errors / words <= 0.2
    # Sessions spread over both workers of each stage.
    for stage in ("vad", "asr"):
        claims = [metric(scrape(http_port(w)), "streamscribe_stage_sessions_claimed_total") for w in stack.workers[stage]]
        print(f"{stage} claims per worker: {claims}")
        assert all(c > 0 for c in claims) and sum(claims) == SESSIONS


"""Redacted copies of recordings, kept in Redis for their tenant for a while.

A pre-recorded request with ``redact_audio`` (:mod:`gateway.http.prerecorded`)
leaves here the recording as a WAV file with its redacted spans muted
(:mod:`common.redaction.audio`): one string key per request,
``ss:audio:{TENANT/REQUEST_ID}``, set with a TTL of ``--redacted-audio-retention``
seconds, after which Redis drops it. The clear recording is never stored: it
lives in the gateway's memory for the request only.

The key names its tenant, as a call's transcript log does
(:mod:`gateway.outputs.transcript_log`): a request id is found only within the
tenant of the key that asks (``GET /v1/listen/{request_id}/audio``), so another
tenant's key finds nothing there (404), whatever ids it knows. Any gateway on the
same Redis serves the copy. Each copy is bounded by ``--redacted-audio-max-bytes``
(checked before the recording is transcribed); what all copies take is that times
the requests of a retention period, which an operator sizes Redis for (docs/redaction.md).
"""

from __future__ import annotations

from typing import cast

from common import bus, keys

PREFIX = f"{keys.PREFIX}:audio"


def audio_key(tenant: str, request_id: str) -> str:
    """String: the redacted WAV of request ``request_id`` of ``tenant`` (neither holds ``/`` or braces)."""
    return f"{PREFIX}:{{{tenant}/{request_id}}}"


class RedactedAudio:
    """Store and read redacted recordings; every call may raise ``RedisError``."""

    def __init__(self, redis: bus.Redis, *, retention: float) -> None:
        """``retention``: seconds a copy is kept."""
        self.redis = redis
        self.retention = retention

    async def put(self, tenant: str, request_id: str, wav: bytes) -> None:
        await self.redis.set(audio_key(tenant, request_id), wav, px=max(1, round(self.retention * 1000)))

    async def get(self, tenant: str, request_id: str) -> bytes | None:
        """The copy, or None if ``tenant`` has none of that id (never made, another tenant's, expired)."""
        # The gateway's clients never decode replies (audio crosses the bus as bytes everywhere).
        return cast("bytes | None", await self.redis.get(audio_key(tenant, request_id)))

"""The Redis key layout.

Every key of one session carries the hash tag ``{sid}`` so that all of them live in
one Redis Cluster slot and one Lua script may touch several of them. Keys shared by
all sessions (control streams, worker registries) are single-key structures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "ss"
STAGES = ("denoise", "vad", "asr")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_session_id(session_id: str) -> bool:
    return bool(_SESSION_ID.match(session_id))


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Names of the keys of one session."""

    session_id: str

    def _key(self, *parts: str) -> str:
        return ":".join((PREFIX, "{" + self.session_id + "}", *parts))

    @property
    def meta(self) -> str:
        """Hash: the session's config; its TTL is the gateway's liveness lease."""
        return self._key("meta")

    @property
    def out(self) -> str:
        """Stream of results towards the gateway."""
        return self._key("out")

    def input(self, stage: str) -> str:
        """Stream of records a stage consumes."""
        return self._key("in", stage)

    def lease(self, stage: str) -> str:
        """String ``worker:epoch`` of the stage's current owner (NX + TTL)."""
        return self._key("lease", stage)

    def checkpoint(self, stage: str) -> str:
        """Hash: ``epoch``, ``consumed`` (last input id folded into ``state``), ``state``, and the
        input and output seqs that follow it (``seq``, ``out_seq``)."""
        return self._key("ckpt", stage)

    def bell(self, stage: str) -> str:
        """Pub/sub channel that wakes the reader of ``input(stage)`` (or ``out``)."""
        return self._key("bell", stage)

    def all(self) -> list[str]:
        keys = [self.meta, self.out]
        for stage in STAGES:
            keys += [self.input(stage), self.lease(stage), self.checkpoint(stage)]
        return keys


def session_id_from_channel(channel: str) -> str | None:
    """The session id in a key or doorbell channel name (``ss:{sid}:bell:stage``), or None."""
    start = channel.find("{")
    end = channel.find("}", start + 1)
    return channel[start + 1:end] if start >= 0 and end > start else None


def control_stream(stage: str) -> str:
    """Stream of new sessions waiting for an owner of ``stage`` (consumer group ``stage``)."""
    return f"{PREFIX}:ctl:{stage}"


def owners(stage: str) -> str:
    """Sorted set: session id -> lease deadline (ms), to find orphaned sessions."""
    return f"{PREFIX}:owners:{stage}"


def workers(stage: str) -> str:
    """Sorted set: worker id -> liveness deadline (ms), for readiness and dashboards."""
    return f"{PREFIX}:workers:{stage}"


def slots(stage: str) -> str:
    """Sorted set: session id -> reservation deadline (ms), one member per admitted session.

    All stages' sets share the hash tag ``{admission}`` so one script reserves in all of
    them. The key expires when no gateway has renewed or reserved anything for a TTL.
    """
    return f"{PREFIX}:slots:{{admission}}:{stage}"


def batch_slots(stage: str) -> str:
    """Sorted set: as :func:`slots`, for the batch sessions (recordings) admitted to ``stage``."""
    return f"{PREFIX}:slots:{{admission}}:batch:{stage}"


def load(stage: str) -> str:
    """Hash: worker id -> JSON of its sessions, capacity and queue lag (heartbeat)."""
    return f"{PREFIX}:load:{stage}"


def nonce(digest: str) -> str:
    """String: a signed handshake's nonce was seen (SET NX), kept while the signature could be taken."""
    return f"{PREFIX}:nonce:{digest}"


def parked(tenant: str, call_id: str) -> str:
    """Hash: a resumable call of ``tenant`` parked for its client (``key``: the API key id that may
    resume it, ``state``: JSON), expiring with the resume grace. Any gateway may take it."""
    return f"{PREFIX}:parked:{tenant}:{call_id}"


def tenant_phrases(tenant: str) -> str:
    """String: JSON list of the phrases ``tenant`` set over the admin API (gateway/http/phrases.py), spotted in
    its analysed calls in place of its keys file's; no TTL (a setting, kept until deleted)."""
    return f"{PREFIX}:tenant:{tenant}:phrases"


def let_go(tenant: str, call_id: str) -> str:
    """Pub/sub channel: a client resumes this call, so the gateway that still serves it drops its old connection."""
    return f"{PREFIX}:letgo:{tenant}:{call_id}"

"""What plugs into a call: the one interface of every feature of a call.

A :class:`~gateway.calls.call.Call` is the core of a call: its pipeline sessions, its audio
fanned out to them, its flushes, its results turned into events, its parking. The rest is
features (``gateway/features``: language and name-model checks, redaction counts, the tenant's
counts, live speakers, analytics, the transcript log), each made per call by its plug
(:data:`~gateway.calls.call.Plug`) from the call and its tenant's policy, resolved at
admission (:mod:`gateway.policy.tenant`), or not made where it does not apply. A call hands each of its features, in the order they were registered:

- :meth:`Feature.refusal` before anything is taken for the call (no slot, no session);
- :meth:`Feature.open` once its sessions exist, before its client hears it opened (or resumed);
  :meth:`Feature.opened` after;
- :meth:`Feature.audio` every chunk of converted audio it publishes, and :meth:`Feature.record`
  every record its pipeline sends;
- :meth:`Feature.final` each final before it goes out (it may come back with more: speakers),
  and :meth:`Feature.result` each partial and final after (or, a partial, after a full queue
  dropped it);
- :meth:`Feature.end` its end, before the ``Ended`` event goes out;
- :meth:`Feature.close` when the call leaves the gateway: released, or parked to resume elsewhere.

Every hook does nothing here; a feature overrides the ones it needs. Hooks that do not return
anything must not wait on the call's client (the call awaits them in its relay).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.records import Record

from ..core import events

Chunks = list[tuple[int, np.ndarray]]  # (offset in samples, int16 samples) as a channel publishes them


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call cannot start: the client's ``bad_config`` message, counted by ``reason``
    (``streamscribe_gateway_sessions_refused_total``)."""

    reason: str
    message: str


class Feature:
    """Something a call does besides carrying audio and results: see the module's docstring."""

    def refusal(self) -> Refusal | None:
        """Why the call cannot start, or None; nothing has been taken for it yet."""
        return None

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        """The call's sessions exist; its client has not heard yet. ``parked``: the state of the
        parked call it resumes (what :meth:`close` handed on among it), None for a new call."""

    async def opened(self) -> None:
        """The client has heard that the call opened (or resumed)."""

    def audio(self, channel: int, chunks: Chunks) -> None:
        """A channel's converted audio, as published (never waits)."""

    def record(self, channel: int, record: Record) -> None:
        """A record of a channel's pipeline, once the call has relayed it (never waits)."""

    async def final(self, final: events.Final) -> events.Final:
        """A final before it goes out: ``final``, or it with more."""
        return final

    async def result(self, event: events.Partial | events.Final) -> None:
        """A partial or final, after it went out."""

    async def end(self, ended: events.Ended) -> None:
        """The call ends, with ``ended`` once this returns. May come twice (two ends at once): act once."""

    async def close(self, *, parked: bool) -> dict:
        """The call leaves this gateway (``parked``: to resume elsewhere; else released, ended or not):
        let go of what the feature holds; idempotent. Parked, what of its state goes with the call (JSON)."""
        return {}

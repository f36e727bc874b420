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
anything must not wait on the call's client (the call awaits them in its relay). A call holds its
features as :class:`Features`, which hands each hook to them all, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from common.records import Record

from ..core import events

Chunks = list[tuple[int, np.ndarray]]  # (offset in samples, int16 samples) as a channel publishes them


@dataclass(frozen=True, slots=True)
class FeatureRefusal:
    """Why a feature will not let its call start: the client's ``bad_config`` message, counted by
    ``reason`` (``streamscribe_gateway_sessions_refused_total``). Not the gate's HTTP refusal
    (:class:`gateway.security.gate.Refusal`)."""

    reason: str
    message: str


class Feature:
    """Something a call does besides carrying audio and results: see the module's docstring."""

    def refusal(self) -> FeatureRefusal | None:
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


F = TypeVar("F", bound=Feature)


class Features:
    """A call's features, in the order they hear it, and each hook handed to them all."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self._features = tuple(features)
        self._left = False  # they were told the call left (released or parked)

    def find(self, kind: type[F]) -> F | None:
        """The feature of ``kind``, if the call has one (a feature that reads another's work)."""
        return next((feature for feature in self._features if isinstance(feature, kind)), None)

    def refusal(self) -> FeatureRefusal | None:
        """The first feature's refusal, if one refuses (the rest are not asked)."""
        return next((refused for feature in self._features if (refused := feature.refusal()) is not None), None)

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        for feature in self._features:
            await feature.open(parked)

    async def opened(self) -> None:
        for feature in self._features:
            await feature.opened()

    def audio(self, channel: int, chunks: Chunks) -> None:
        for feature in self._features:
            feature.audio(channel, chunks)

    def record(self, channel: int, record: Record) -> None:
        for feature in self._features:
            feature.record(channel, record)

    async def final(self, final: events.Final) -> events.Final:
        for feature in self._features:  # each a bounded wait (speakers: --diarize-wait)
            final = await feature.final(final)
        return final

    async def result(self, event: events.Partial | events.Final) -> None:
        for feature in self._features:
            await feature.result(event)

    async def end(self, ended: events.Ended, *, ended_meanwhile: Callable[[], bool]) -> bool:
        """Hand each feature ``ended``, in order (the analytics' summary goes out before the log's end);
        False, and the rest not told, once ``ended_meanwhile()``: another end came during one (a fatal
        error during the summary) and went out."""
        for feature in self._features:
            await feature.end(ended)
            if ended_meanwhile():
                return False
        return True

    async def leave(self, *, parked: bool) -> dict:
        """Tell the features the call leaves this gateway (once); what of their state goes with a parked call."""
        if self._left:
            return {}
        self._left = True
        state: dict = {}
        for feature in self._features:
            state.update(await feature.close(parked=parked))
        return state

"""The gateway's side of the pipeline: Redis, the doorbell, the sessions it relays, and its stages.

Pipeline sessions register here. One periodic tick finds results no doorbell announced (one
pipelined ``XLEN`` of every result stream) and renews the sessions' meta TTL and their slots, the
gateway's liveness lease; a meta already gone means Redis lost the session. What the stages can
take, and admission against it, is :mod:`.stages` (``hub.stages``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from common import aio, bus, keys
from common.config import fraction, non_negative, option, positive
from common.metrics import GatewayMetrics

from .resp import Command, Lane
from .stages import Stages, slot_deadline
from .writer import AppendWriter

log = logging.getLogger(__name__)

class Relay(Protocol):
    """A registered session as the hub sees it (:class:`~gateway.core.session.PipelineSession`).

    The hub wakes it, renews its keys and tells it when Redis lost it; this is all
    it needs, so the hub does not depend on the session module (which uses the hub).
    """

    session_id: str
    slot_keys: list[str]  # the stages' admission sets holding its slots
    out_key: str
    meta_key: str
    untrimmed: int  # delivered entries still in the result stream

    def ring(self) -> None:
        """Results may be waiting: read them."""

    async def lost(self, reason: str) -> None:
        """Redis lost the session's data; tell its call ``reason``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HubOptions:
    enable_noise_suppression: bool = field(default=False, metadata=option(
        "send sessions through the denoise stage by default"))
    # Each party's channel carries the other's echo faintly; whisper would write it (core/echo.py).
    echo_gate_db: float = field(default=20.0, metadata=option(
        "on a call with a channel per party, silence a channel's audio while it is this many dB quieter than "
        "another channel's speech of the last 0.15 s, as that speech's echo (0: off)", parse=non_negative(float)))
    max_queue_lag: float = field(default=5.0, metadata=option(
        "refuse new sessions (close 1013) while a stage lags more than this many seconds", parse=positive(float)))
    # An ASR slot is an utterance in progress.
    asr_overbooking: float = field(default=2.0, metadata=option(
        "sessions admitted per ASR slot (ASR workers count only sessions that are speaking)",
        parse=positive(float)))
    # Recordings take slots only where calls leave room, and a share of the capacity at most.
    batch_share: float = field(default=0.5, metadata=option(
        "batch sessions (recordings) a stage admits, as a share of its workers' capacity (0: none)",
        parse=fraction))
    batch_backlog_timeout: float = field(default=120.0, metadata=option(
        "seconds a batch session's audio waits for its full input stream to move before the session fails",
        parse=positive(float)))
    # The meta's TTL, renewed while the client is connected.
    session_ttl: float = field(default=30.0, metadata=option(
        "seconds a session outlives its gateway (meta TTL)", parse=positive(float)))
    # Last line behind pacing: unprocessed input records per session (100 ms each at most),
    # and how long audio waits for a full stream to drain before the session fails.
    max_backlog_records: int = field(default=3000, metadata=option(
        "unprocessed input records per session before its audio waits (then fails); a recording's: a fifth "
        "as many, of 500 ms each", parse=positive(int)))
    backlog_timeout: float = field(default=10.0, metadata=option(
        "seconds audio waits for a full input stream to drain before the session fails", parse=positive(float)))
    sweep_interval: float = 1.0


class SessionHub:
    def __init__(self, redis: bus.Redis, *, options: HubOptions, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.gateway_id = f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.doorbell = bus.Doorbell(redis, on_ring=self._on_ring, on_reconnect=self._ring_all,
                                     idle_channel=f"{keys.PREFIX}:idle:{self.gateway_id}")
        self.stages = Stages(redis, options=options, metrics=metrics)  # what they take; admission
        self._sessions: dict[str, Relay] = {}
        self._listeners: dict[str, Callable[[], None]] = {}  # channel -> what a message there runs
        self._tasks: list[asyncio.Task] = []
        self.writer = AppendWriter(redis)
        self._sweeps = Lane(redis)  # the tick's batches: a command per session each
        self.reads = asyncio.Semaphore(bus.CONCURRENCY)  # relays' reads in flight

    async def start(self) -> None:
        await self.doorbell.start()
        self.writer.start()
        self._tasks = [asyncio.create_task(self._tick(), name="hub-tick"),
                       asyncio.create_task(self.stages.watch(), name="watch-stages")]

    async def close(self) -> None:
        await aio.cancel_all(self._tasks)
        self._tasks = []
        await self.writer.close()
        await self._sweeps.close()
        await self.doorbell.close()

    def register(self, session: Relay) -> None:
        self._sessions[session.session_id] = session

    def unregister(self, session: Relay) -> None:
        self._sessions.pop(session.session_id, None)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # -- waking relays and renewing sessions -----------------------------------------------

    def _on_ring(self, channel: str) -> None:
        listener = self._listeners.get(channel)
        if listener is not None:
            listener()
            return
        session = self._sessions.get(keys.session_id_from_channel(channel) or "")
        if session is not None:
            session.ring()

    async def listen(self, channel: str, listener: Callable[[], None]) -> None:
        """Run ``listener`` when a message comes on ``channel`` (a parked call's let-go, say)."""
        self._listeners[channel] = listener
        await self.doorbell.subscribe(channel)

    async def unlisten(self, channel: str) -> None:
        if self._listeners.pop(channel, None) is not None:
            await self.doorbell.unsubscribe(channel)

    def _ring_all(self) -> None:
        for session in self._sessions.values():
            session.ring()

    async def _tick(self) -> None:
        renew_every = min(2.0, self.options.session_ttl / 3)
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.options.sweep_interval)
            # The sweep is what wakes relays whose doorbell was lost and what keeps sessions alive:
            # nothing may end it (a dead tick left a call waiting for its end, mid-failover).
            try:
                await self._ring_unread()
                if time.monotonic() - renewed >= renew_every:
                    renewed = time.monotonic()
                    await self._renew_sessions()
            except Exception:
                log.exception("the hub's sweep failed; ringing every relay")
                self._ring_all()

    async def _ring_unread(self) -> None:
        """Ring the relays whose result stream holds entries they have not read."""
        sessions = list(self._sessions.values())
        if not sessions:
            return
        try:
            lengths = await self._sweeps.execute([("XLEN", session.out_key) for session in sessions])
        except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
            self.metrics.redis_errors.inc()
            log.warning("looking for unread results failed: %s; ringing every relay", exc)
            self._ring_all()
            return
        for session, length in zip(sessions, lengths):
            if isinstance(length, Exception) or length > session.untrimmed:
                session.ring()

    async def _renew_sessions(self) -> None:
        sessions = list(self._sessions.values())
        if not sessions:
            return
        try:
            deadline = slot_deadline(self.options.session_ttl)
            ttl = int(self.options.session_ttl)
            commands: list[Command] = [("EXPIRE", session.meta_key, ttl) for session in sessions]
            slot_keys = set()
            for session in sessions:
                for key in session.slot_keys:
                    slot_keys.add(key)
                    commands.append(("ZADD", key, "XX", deadline, session.session_id))
            commands += [("PEXPIREAT", key, deadline, "GT") for key in slot_keys]
            alive = (await self._sweeps.execute(commands))[:len(sessions)]
        except bus.CONNECTION_ERRORS as exc:
            self.metrics.redis_errors.inc()
            log.warning("renewing sessions failed: %s", exc)
            return
        for session, renewed in zip(sessions, alive):
            # Only 0 says the meta is gone (an error reply is no proof); a session that the call of an
            # earlier lost one closed meanwhile is no longer registered.
            if renewed == 0 and self._sessions.get(session.session_id) is session:
                self.unregister(session)
                self.metrics.sessions_lost.inc()
                await session.lost("the service lost this session's data (its queue restarted); please reconnect")

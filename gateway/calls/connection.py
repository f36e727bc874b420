"""One WebSocket connection: drives a door against a call. The only place socket I/O meets both.

Incoming messages go through the door into operations on the call; the call's
events go through a bounded queue, then the door, then the socket, in a sender
task. The door's first operation must open the call, within ``config_timeout``
of the handshake (messages before it, such as pings, do not extend it).

Every connection counts against its API key (:mod:`gateway.security.limits`):
until its call opens as a *pending* connection, then as a *session*, a slot
the call holds until it ends (while it is parked too), so that a client at its
session limit can still reconnect to resume a call.

While the call runs, a watchdog ends it when it idles (:mod:`gateway.core.idle`),
and the connection pings the client and drops it when a pong is late. Both
count only the time the gateway is ready to read the client (:mod:`.ready`):
while it paces a fast sender, the client's audio waits in the socket, and its
pong behind it. A pacing wait ends when the connection is lost. The call's
events go out through :mod:`.sender`; the key's slots are held in :mod:`.slots`.

A resumable door's call is parked in Redis (:mod:`gateway.calls.resume`) when its
client drops without a close, for a client to resume through any gateway. When
the gateway shuts down (:meth:`Connection.stop`) the connection stops reading:
a resumable call is parked and its client told to reconnect now (close 1012);
any other call is finished as a client's close would (every result of the audio
taken is delivered), then ends with close 1001 and a reason saying so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common.aio import current_task, within
from common.config import fraction, option, positive
from common.errors import BacklogFull, ConfigError, ErrorCode, ProtocolError
from common.logs import Untrusted

from ..core import events
from ..core.hub import SessionHub
from ..core.idle import IdleClock
from ..core.pacing import AudioPacer, PacingOptions
from ..doors.base import Door
from ..policy.tenant import TenantPolicy
from ..security.limits import PENDING, SESSION, KeyLimits, NoSlot, Slot
from .call import Call, CallRefused, Plug
from .ready import Reading, pace, take_over_keepalive, watch_idle
from .resume import Parking
from .sender import FLUSH_TIMEOUT, Sender, goodbye, write
from .slots import KeySlots

log = logging.getLogger(__name__)

RESTART_REASON = "the server is restarting: every result of the audio taken was sent; reconnect to go on"
# How reading the client ended.
_DONE, _DROPPED, _STOPPED = "done", "dropped", "stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOptions:
    config_timeout: float = field(default=10.0, metadata=option(
        "seconds from the handshake for a connection to open its session (messages before it do not "
        "extend this)", parse=positive(float)))
    send_queue: int = field(default=256, metadata=option("messages buffered per client", parse=positive(int)))
    results_timeout: float = field(default=30.0, metadata=option(
        "seconds a call waits for its results after the client's close before it ends with an error "
        "(timeout, 1011)", parse=positive(float)))
    idle_timeout: float = field(default=10.0, metadata=option(
        "end a session after this many seconds without audio or keep-alive", parse=positive(float)))
    min_audio_share: float = field(default=0.1, metadata=option(
        "end a session whose audio falls --audio-share-window seconds behind this share of real time, "
        "unless it sends keep-alives (0: any byte is audio)", parse=fraction))
    audio_share_window: float = field(default=30.0, metadata=option(
        "seconds a session's audio may fall behind --min-audio-share of real time", parse=positive(float)))
    max_keepalive_idle: float = field(default=60.0, metadata=option(
        "keep-alives alone hold a session whose audio falls behind --min-audio-share this many seconds at most",
        parse=positive(float)))
    pacing: PacingOptions = field(default_factory=PacingOptions)
    resume_grace: float = field(default=30.0, metadata=option(
        "seconds a resumable session (native config resumable: true) whose client dropped "
        "waits for it to reconnect (0: sessions end at once)"))

    def __post_init__(self) -> None:
        if not 0 <= self.min_audio_share <= 1:
            raise ConfigError("the minimum audio share must be between 0 and 1")


class Connection:
    def __init__(self, websocket: ServerConnection, door: Door, hub: SessionHub, *,
                 options: ConnectionOptions, parking: Parking | None = None, key_id: str | None = None,
                 policy: TenantPolicy = TenantPolicy(), limits: KeyLimits | None = None,
                 plugs: Sequence[Plug] = ()) -> None:
        """``policy``: the call's tenant's, resolved as the key was admitted; ``limits``: where the
        connection and its call count against ``key_id`` (None: they do not); ``plugs``: make the call's
        features (:mod:`gateway.calls.feature`)."""
        self.websocket = websocket
        self.door = door
        self.hub = hub
        self.options = options
        self.parking = parking  # where a resumable door's dropped call waits for its client
        self.key_id = key_id
        self.policy = policy  # who owns the call, and what the tenant says of it
        self.slots = KeySlots(limits, key_id)
        self.plugs = plugs
        self.parked = False
        self.events: asyncio.Queue[events.Event] = asyncio.Queue(maxsize=options.send_queue)
        self.sender = Sender(websocket, door, self.events)
        self.call: Call | None = None
        self.pacer = AudioPacer(options.pacing)
        self.started = time.monotonic()  # the handshake's end: the config deadline runs from here
        self.reading = Reading(self.started)  # its clock stands still while the connection holds back reading
        self.idle: IdleClock | None = None  # once the call opened
        self._watched = False  # a resume elsewhere makes this connection let go of its call
        self._stopping = False  # the gateway shuts down: stop reading
        self._stop_timeout = options.results_timeout
        self._waiting = False  # waiting for the client's next message (safe to interrupt)
        self._reader: asyncio.Task | None = None
        self._goodbye: asyncio.Task | None = None

    def stop(self, *, timeout: float) -> None:
        """The gateway shuts down: stop reading the client, then park the call for it to resume
        elsewhere, or finish it within ``timeout`` s (see the module's docstring)."""
        self._stopping = True
        self._stop_timeout = timeout
        if not self._waiting:
            return  # the connection checks the flag before it reads again
        if self.call is None:  # no call yet: nothing to finish
            self._goodbye = asyncio.ensure_future(
                self.websocket.close(CloseCode.SERVICE_RESTART, "service restart; reconnect"))
        elif self._reader is not None:
            self._reader.cancel()  # cancelling a WebSocket's recv loses nothing

    async def run(self) -> None:
        self.sender.start()
        keepalive = take_over_keepalive(self.websocket, self.reading, drop=self._let_go,
                                        call_id=lambda: self.call.call_id if self.call is not None else None)
        try:
            pending = await self._claim(PENDING)
            if pending is not None:
                try:
                    operations = await self._open()
                finally:
                    await self.slots.give_back(pending)
                if self.call is not None:
                    await self._receive(operations)
            if not self.parked:
                await self.sender.finished(self.options.results_timeout)
        except Exception:
            log.exception("connection failed")
            await self._abort(ErrorCode.INTERNAL, "internal error; the session ends")
        finally:
            if keepalive is not None:
                keepalive.cancel()
            await asyncio.gather(self.sender.stop(), *([keepalive] if keepalive else []), return_exceptions=True)
            if self.call is not None and not self.parked:
                if self._watched:
                    assert self.parking is not None  # it watches the call
                    await self.parking.unwatch(self.call)
                await self.call.release()

    async def _claim(self, kind: str) -> Slot | None:
        """A slot of ``kind`` for this connection's key; None when refused (the refusal is queued)."""
        try:
            return await self.slots.take(kind)
        except NoSlot as refused:
            if refused.reason is not None:
                self.hub.metrics.sessions_refused.labels(reason=refused.reason).inc()
            await self._refuse(refused.code, str(refused), CloseCode.TRY_AGAIN_LATER)
            return None

    # -- opening ---------------------------------------------------------------------------

    async def _open(self) -> list[events.Operation]:
        """Open the call from the door's first operations; return the operations that followed."""
        metrics = self.hub.metrics
        operations = await self._replies(self.door.opening())
        deadline = self.started + self.options.config_timeout
        try:
            while not operations:
                if self._stopping:
                    raise ConnectionClosed(None, None)
                self._waiting = True
                try:
                    message = await within(self.websocket.recv(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    raise ProtocolError(ErrorCode.CONFIG_REQUIRED,
                                        f"no config within {self.options.config_timeout:g} s") from None
                finally:
                    self._waiting = False
                operations = await self._replies(self.door.receive(message))
        except ProtocolError as exc:
            metrics.sessions_refused.labels(reason=str(exc.code)).inc()
            await self._refuse(exc.code, str(exc), CloseCode.POLICY_VIOLATION)
            return []
        except ConnectionClosed:
            await self.events.put(events.Ended(CloseCode.SERVICE_RESTART, "service restart; reconnect", complete=False)
                                  if self._stopping else
                                  events.Ended(CloseCode.GOING_AWAY, "client disconnected", complete=False))
            return []
        first, rest = operations[0], operations[1:]
        if isinstance(first, events.Resume):
            return rest if await self._resume(first) else []
        if not isinstance(first, events.Open):
            raise AssertionError(f"{type(self.door).__name__} did not open the call first")
        slot = await self._claim(SESSION)
        if slot is None:
            return []
        call = Call(self.hub, first.config, protocol=self.door.name, events_out=self.events, call_id=first.call_id,
                    parties=first.parties, policy=self.policy, plugs=self.plugs)
        try:
            await call.open()
        except BaseException as exc:
            await self.slots.give_back(slot)
            if not isinstance(exc, CallRefused):
                raise
            await self._refuse(exc.code, str(exc), exc.close_code)
            return []
        self.slots.hold(call, slot)
        self.call = call
        await self._watch()
        return rest

    async def _resume(self, resume: events.Resume) -> bool:
        """Take over a parked call, from any gateway; False (refused) when there is none to take."""
        state = None
        if self.parking is not None and self.parking.enabled:
            try:
                state = await self.parking.take(resume.call_id, tenant=self.policy.tenant, key_id=self.key_id,
                                                timeout=self.options.config_timeout)
            except (RedisError, OSError) as exc:
                log.warning("resuming session %s failed: %s", Untrusted(resume.call_id), exc)
                await self._refuse(ErrorCode.UNAVAILABLE, "the service cannot reach its queue; try again later",
                                   CloseCode.TRY_AGAIN_LATER)
                return False
        if state is None:
            self.hub.metrics.sessions_refused.labels(reason="not_resumable").inc()
            await self._refuse(ErrorCode.SESSION_LOST, f"no session {resume.call_id[:64]} to resume: it ended "
                               "or waited too long for its client; start a new session", CloseCode.POLICY_VIOLATION)
            return False
        call = Call.restore(self.hub, state["call"], events_out=self.events, policy=self.policy, plugs=self.plugs)
        self.door.restore(state["door"], call.config)
        self.slots.adopt(call, state["slot"])
        self.call = call
        # The replay and the confirmation first, then what the pipeline sent while the call was parked.
        await self.events.put(events.Resumed(call.call_id, self.door.received_samples, resume.last_seq))
        await call.attach(state["call"])
        await self._watch()
        return True

    async def _watch(self) -> None:
        """A resumable call: a client resuming it elsewhere makes this connection let go."""
        if self.door.resumable and self.parking is not None and self.parking.enabled:
            assert self.call is not None  # watched once open
            await self.parking.watch(self.call, self._let_go)
            self._watched = True

    def _let_go(self) -> None:
        """A new connection resumes this call: drop the old client now, as the network did."""
        transport = getattr(self.websocket, "transport", None)
        if transport is not None:
            transport.abort()

    async def _replies(self, operations: list[events.Operation]) -> list[events.Operation]:
        """Send a door's replies before its call opens (a greeting, a pong); return the other operations."""
        while operations and isinstance(reply := operations[0], events.Reply):
            operations.pop(0)
            await self.events.put(reply)
        return operations

    async def _refuse(self, code: ErrorCode, message: str, close_code: int) -> None:
        self.hub.metrics.errors_sent.labels(code=str(code)).inc()
        await self.events.put(events.Error(code, message, fatal=True))
        await self.events.put(events.Ended(close_code, message, complete=False))

    # -- client to call ----------------------------------------------------------------------

    async def _receive(self, pending: list[events.Operation]) -> None:
        options = self.options
        call = self.call
        assert call is not None  # reading starts once the call is open
        self.idle = IdleClock(self.reading.clock, time.monotonic(), idle_timeout=options.idle_timeout,
                              min_audio_share=options.min_audio_share,
                              audio_share_window=options.audio_share_window,
                              max_keepalive_idle=options.max_keepalive_idle)
        watchdog = asyncio.create_task(watch_idle(call, self.idle, self.reading), name="idle")
        try:
            self._reader = asyncio.create_task(self._read(pending), name="read")
            try:
                outcome = await self._reader
            except asyncio.CancelledError:
                if current_task().cancelling() or not self._stopping:
                    raise
                outcome = _STOPPED  # stop() interrupted a wait for the client
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        resumable = self._watched and call.taking_input
        if outcome == _STOPPED:
            if resumable and await self._park(moving=True):
                return
            if not call.taking_input:
                return
            self.reading.hold()  # no reading from now on: no pong is late
            await call.close(timeout=self._stop_timeout, close_code=CloseCode.GOING_AWAY, reason=RESTART_REASON)
            return
        if outcome == _DROPPED:
            # A close 1000 says the client meant to go; any other end may be the network's.
            if resumable and self.websocket.close_code != 1000 and await self._park(moving=False):
                return
            try:
                await call.disconnect()
            except (RedisError, OSError):
                pass

    async def _read(self, pending: list[events.Operation]) -> str:
        """Apply the client's messages until the call is done with them, the client goes, or the gateway stops."""
        try:
            if await self._apply(pending):
                return _DONE
            while not self._stopping:
                self._waiting = True
                try:
                    message = await self.websocket.recv()
                finally:
                    self._waiting = False
                try:
                    operations = self.door.receive(message)
                except ProtocolError as exc:
                    await self._reject(exc)
                    continue
                if await self._apply(operations):
                    return _DONE
            return _STOPPED
        except ConnectionClosed:
            return _DROPPED

    async def _apply(self, operations: list[events.Operation]) -> bool:
        """Apply operations to the call, not reading the client meanwhile (its ready clock stands
        still); True when the connection is done reading."""
        call = self.call
        assert call is not None and self.idle is not None  # the call is open
        self.reading.hold()
        try:
            for operation in operations:
                try:
                    if isinstance(operation, events.Audio):
                        seconds = await call.audio(operation.data, channel=operation.channel)
                        self.idle.audio(time.monotonic(), seconds)
                        # A batch session (a recording) is unpaced: its backlog bounds it (core/session.py).
                        if not call.batch and (delay := self.pacer.spend(seconds)):
                            # Not reading the socket meanwhile is the point: TCP pushes back.
                            self.hub.metrics.paced_seconds.inc(delay)
                            await pace(self.websocket, delay)
                    elif isinstance(operation, events.Finalize):
                        await call.finalize()
                    elif isinstance(operation, events.KeepAlive):
                        self.idle.keepalive(time.monotonic())
                    elif isinstance(operation, events.Reply):
                        await self.events.put(operation)
                    elif isinstance(operation, events.Close):
                        await call.close(timeout=self.options.results_timeout)
                        return True
                    elif isinstance(operation, events.Open):
                        raise ProtocolError(ErrorCode.PROTOCOL, "the session is already open")
                except ProtocolError as exc:
                    await self._reject(exc)
                except (BacklogFull, RedisError, OSError) as exc:
                    await call.fail_publishing(exc)
                    return True
            return False
        finally:
            self.reading.release()

    async def _reject(self, exc: ProtocolError) -> None:
        """A bad message after the call opened: say what was wrong and carry on."""
        self.hub.metrics.frames_rejected.labels(reason=str(exc.code)).inc()
        assert self.call is not None  # the call is open
        await self.call.error(exc.code, str(exc))

    # -- parking and goodbyes ----------------------------------------------------------------

    async def _park(self, *, moving: bool) -> bool:
        """Park the call in Redis for its client to resume; True if parked (else the caller ends it).

        ``moving``: the gateway shuts down and the socket still works: what the call
        queued is sent, then the client is told to reconnect (close 1012). Otherwise the
        door renders it unsent, into its replay buffer.
        """
        call = self.call
        assert call is not None and self.parking is not None  # a watched call
        try:
            call_state = await call.park()
            flushed = await self.sender.flush(send=moving)
            await self.parking.park(call, call_state, self.door.park(), key_id=self.key_id, slot=self.slots.session)
        except (RedisError, OSError) as exc:
            log.warning("session %s: parking it failed, so it ends: %s", Untrusted(call.call_id), exc)
            return False
        finally:
            await self.parking.unwatch(call)
            self._watched = False
        self.parked = True
        if moving:
            if not flushed:
                self._let_go()  # a client that does not read gets no goodbye; it reconnects all the same
                return True
            try:
                await within(write(self.websocket, self.door, events.Moving(call.call_id)), FLUSH_TIMEOUT)
            except (ConnectionClosed, TimeoutError):
                pass
        return True

    async def _abort(self, code: ErrorCode, message: str) -> None:
        """Say goodbye directly on the socket (the sender may be the thing that failed)."""
        self.hub.metrics.errors_sent.labels(code=str(code)).inc()
        await goodbye(self.websocket, self.door, code, message, CloseCode.INTERNAL_ERROR)

"""One WebSocket connection: drives a door against a call. The only place socket I/O meets both.

Incoming messages go through the door into operations on the call; the call's
events go through a bounded queue, then the door, then the socket, in a sender
task. The door's first operation must open the call, within ``config_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common.aio import within
from common.config import option, positive
from common.errors import BacklogFull, ErrorCode, ProtocolError

from ..doors.base import CloseFrame, Door
from ..outputs.transcript_log import TranscriptLog
from . import events
from .call import Call, CallRefused
from .hub import SessionHub
from .pacing import AudioPacer, PacingOptions
from .resume import Parking
from .tenant import Tenant

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOptions:
    config_timeout: float = 10.0  # seconds to wait for the call to open
    send_queue: int = field(default=256, metadata=option("messages buffered per client", parse=positive(int)))
    close_timeout: float = 30.0  # seconds to wait for results after a client's close
    idle_timeout: float = field(default=10.0, metadata=option(
        "end a session after this many seconds without audio or keep-alive", parse=positive(float)))
    max_keepalive_idle: float = field(default=60.0, metadata=option(
        "keep-alives alone hold a session without audio this many seconds at most", parse=positive(float)))
    pacing: PacingOptions = field(default_factory=PacingOptions)
    resume_grace: float = field(default=30.0, metadata=option(
        "seconds a resumable session (native config resumable: true) whose client dropped "
        "waits for it to reconnect (0: sessions end at once)"))


class Connection:
    def __init__(self, websocket: ServerConnection, door: Door, hub: SessionHub, *,
                 options: ConnectionOptions, transcripts: TranscriptLog | None = None,
                 parking: Parking | None = None, key_id: str | None = None, tenant: Tenant | None = None) -> None:
        self.websocket = websocket
        self.transcripts = transcripts
        self.door = door
        self.hub = hub
        self.options = options
        self.parking = parking  # where a resumable door's dropped call waits for its client
        self.key_id = key_id
        self.tenant = tenant  # who owns the call
        self.parked = False
        self.events: asyncio.Queue[events.Event] = asyncio.Queue(maxsize=options.send_queue)
        self.call: Call | None = None
        self.pacer = AudioPacer(options.pacing)
        if getattr(websocket, "ping_timeout", None) is not None:
            # While pacing holds back reads, the client's pong waits behind its audio and a
            # keepalive ping would time out on a live client (seen: 1011 after ~20 s of a
            # fast upload). A call's liveness is its audio: the idle timeout ends a call whose
            # client went silent or away. Pings still go out (they keep NAT mappings open).
            websocket.ping_timeout = None

    async def run(self) -> None:
        sender = asyncio.create_task(self._send(), name="send")
        try:
            pending = await self._open()
            if self.call is not None:
                await self._receive(pending)
            if not self.parked:
                await asyncio.wait({sender}, timeout=self.options.close_timeout)
        except Exception:
            log.exception("connection failed")
            await self._abort(ErrorCode.INTERNAL, "internal error; the session ends")
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if self.call is not None and not self.parked:
                if self.parking is not None:
                    self.parking.forget(self.call)
                await self.call.release()

    # -- opening ---------------------------------------------------------------------------

    async def _open(self) -> list[events.Operation]:
        """Open the call from the door's first operations; return the operations that followed."""
        metrics = self.hub.metrics
        operations = await self._replies(self.door.opening())
        try:
            while not operations:
                try:
                    message = await within(self.websocket.recv(), self.options.config_timeout)
                except TimeoutError:
                    raise ProtocolError(ErrorCode.CONFIG_REQUIRED,
                                        f"no config within {self.options.config_timeout:.0f} s") from None
                operations = await self._replies(self.door.receive(message))
        except ProtocolError as exc:
            metrics.sessions_refused.labels(reason=str(exc.code)).inc()
            await self._refuse(exc.code, str(exc), CloseCode.POLICY_VIOLATION)
            return []
        except ConnectionClosed:
            await self.events.put(events.Ended(CloseCode.GOING_AWAY, "client disconnected", complete=False))
            return []
        first, rest = operations[0], operations[1:]
        if isinstance(first, events.Resume):
            return rest if await self._resume(first) else []
        if not isinstance(first, events.Open):
            raise AssertionError(f"{type(self.door).__name__} did not open the call first")
        call = Call(self.hub, first.config, protocol=self.door.name, events_out=self.events, call_id=first.call_id,
                    parties=first.parties, transcripts=self.transcripts, tenant=self.tenant)
        try:
            await call.open()
        except CallRefused as exc:
            await self._refuse(exc.code, str(exc), exc.close_code)
            return []
        self.call = call
        self._register()
        return rest

    async def _resume(self, resume: events.Resume) -> bool:
        """Take over a parked call and its door; False (refused) when there is none to take."""
        found = await self.parking.take(resume.call_id, key_id=self.key_id, timeout=self.options.config_timeout) \
            if self.parking is not None else None
        if found is None:
            self.hub.metrics.sessions_refused.labels(reason="not_resumable").inc()
            await self._refuse(ErrorCode.SESSION_LOST, f"no session {resume.call_id[:64]} to resume here: it "
                               "ended, waited too long for its client, or runs on another gateway; start a "
                               "new session", CloseCode.POLICY_VIOLATION)
            return False
        call, self.door = found
        self.call = call
        call.last_activity = call.last_audio = time.monotonic()
        await self.events.put(events.Resumed(call.call_id, self.door.received_samples, resume.last_seq))
        # What the call queued while parked goes after the replay, then the call writes here.
        parked_queue = call.events
        while True:
            try:
                event = parked_queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            await self.events.put(event)
        call.events = self.events  # no await since the queue was found empty: nothing slipped by
        self._register()
        return True

    def _register(self) -> None:
        if self.door.resumable and self.parking is not None:
            self.parking.register(self.call, self.door, key_id=self.key_id, let_go=self._let_go)

    def _let_go(self) -> None:
        """A new connection resumes this call: drop the old client now, as the network did."""
        transport = getattr(self.websocket, "transport", None)
        if transport is not None:
            transport.abort()

    async def _replies(self, operations: list[events.Operation]) -> list[events.Operation]:
        """Send a door's replies before its call opens (a greeting, a pong); return the other operations."""
        while operations and isinstance(operations[0], events.Reply):
            await self.events.put(operations.pop(0))
        return operations

    async def _refuse(self, code: ErrorCode, message: str, close_code: int) -> None:
        self.hub.metrics.errors_sent.labels(code=str(code)).inc()
        await self.events.put(events.Error(code, message, fatal=True))
        await self.events.put(events.Ended(close_code, message, complete=False))

    # -- client to call ----------------------------------------------------------------------

    async def _receive(self, pending: list[events.Operation]) -> None:
        watchdog = asyncio.create_task(self._watch_idle(), name="idle")
        try:
            await self._read(pending)
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _watch_idle(self) -> None:
        """End the call when the client sends no audio (nor keep-alives) for too long."""
        call, options = self.call, self.options
        while True:
            deadline = call.idle_deadline(idle_timeout=options.idle_timeout,
                                          max_keepalive_idle=options.max_keepalive_idle)
            if deadline is None:
                return
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # a timer: the deadline may have moved when it wakes
                continue
            if time.monotonic() - call.last_activity >= options.idle_timeout:
                message = f"no audio or keep-alive for {options.idle_timeout:g} s; the session ends"
            else:
                message = f"only keep-alives, no audio, for {options.max_keepalive_idle:g} s; the session ends"
            await call.fail(ErrorCode.IDLE_TIMEOUT, message, CloseCode.INTERNAL_ERROR)
            return

    async def _read(self, pending: list[events.Operation]) -> None:
        try:
            if await self._apply(pending):
                return
            async for message in self.websocket:
                try:
                    operations = self.door.receive(message)
                except ProtocolError as exc:
                    await self._reject(exc)
                    continue
                if await self._apply(operations):
                    return
        except ConnectionClosed:
            pass
        if self._park():
            return
        try:
            await self.call.disconnect()
        except (RedisError, OSError):
            pass

    def _park(self) -> bool:
        """Keep a resumable call for its client after a drop (no close frame, or not 1000); True if parked."""
        if (not self.door.resumable or self.parking is None or not self.call.taking_input
                or self.websocket.close_code == 1000):
            return False
        self.parked = self.parking.park(self.call)
        return self.parked

    async def _apply(self, operations: list[events.Operation]) -> bool:
        """Apply operations to the call; True when the connection is done reading."""
        call = self.call
        for operation in operations:
            try:
                if isinstance(operation, events.Audio):
                    seconds = await call.audio(operation.data, channel=operation.channel)
                    # A batch session (a recording) is unpaced: its backlog bounds it (core/session.py).
                    if not call.batch and (delay := self.pacer.spend(seconds)):
                        # Not reading the socket meanwhile is the point: TCP pushes back.
                        self.hub.metrics.paced_seconds.inc(delay)
                        await asyncio.sleep(delay)
                elif isinstance(operation, events.Finalize):
                    await call.finalize()
                elif isinstance(operation, events.KeepAlive):
                    call.keepalive()
                elif isinstance(operation, events.Reply):
                    await self.events.put(operation)
                elif isinstance(operation, events.Close):
                    await call.close(timeout=self.options.close_timeout)
                    return True
                elif isinstance(operation, events.Open):
                    raise ProtocolError(ErrorCode.PROTOCOL, "the session is already open")
            except ProtocolError as exc:
                await self._reject(exc)
            except BacklogFull as exc:
                log.warning("session %s: %s", call.call_id, exc)
                await call.fail(ErrorCode.OVERLOADED, f"{exc}; the session ends", CloseCode.TRY_AGAIN_LATER)
                return True
            except (RedisError, OSError) as exc:
                log.warning("session %s: publishing failed: %s", call.call_id, exc)
                await call.fail(ErrorCode.UNAVAILABLE, "audio could not be queued; the session ends",
                                CloseCode.INTERNAL_ERROR)
                return True
        return False

    async def _reject(self, exc: ProtocolError) -> None:
        """A bad message after the call opened: say what was wrong and carry on."""
        self.hub.metrics.frames_rejected.labels(reason=str(exc.code)).inc()
        await self.call.error(exc.code, str(exc))

    # -- call to client --------------------------------------------------------------------

    async def _send(self) -> None:
        try:
            while True:
                event = await self.events.get()
                # Read after the wait: a resumed call hands this sender a new socket and door.
                if await write(self.websocket, self.door, event):
                    return
        except ConnectionClosed:
            pass

    async def _abort(self, code: ErrorCode, message: str) -> None:
        """Say goodbye directly on the socket (the sender may be the thing that failed)."""
        self.hub.metrics.errors_sent.labels(code=str(code)).inc()
        await goodbye(self.websocket, self.door, code, message, CloseCode.INTERNAL_ERROR)


async def write(websocket, door: Door, event: events.Event) -> bool:
    """Send ``event`` as ``door`` renders it; True once it closed the socket."""
    for outgoing in door.render(event):
        if isinstance(outgoing, CloseFrame):
            await websocket.close(outgoing.code, outgoing.reason)
            return True
        await websocket.send(outgoing)
    return False


async def goodbye(websocket, door: Door, code: ErrorCode, message: str, close_code: int) -> None:
    """A fatal error and the close, written straight to the socket, not through a sender task."""
    try:
        for event in (events.Error(code, message, fatal=True), events.Ended(close_code, message, complete=False)):
            if await write(websocket, door, event):
                return
    except ConnectionClosed:
        pass

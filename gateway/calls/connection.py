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
count only the time the gateway is ready to read the client: while it paces a
fast sender, the client's audio waits in the socket, and its pong behind it.
A pacing wait ends when the connection is lost.

A resumable door's call is parked in Redis (:mod:`gateway.calls.resume`) when its
client drops without a close, for a client to resume through any gateway. When
the gateway shuts down (:meth:`Connection.stop`) the connection stops reading:
a resumable call is parked and its client told to reconnect now (close 1012);
any other call is finished as a client's close would (every result of the audio
taken is delivered), then ends with close 1001 and a reason saying so.
"""

from __future__ import annotations

import asyncio
import functools
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
from ..core.idle import IdleClock, ReadyClock
from ..core.pacing import AudioPacer, PacingOptions
from ..doors.base import CloseFrame, Door
from ..policy.tenant import TenantPolicy
from ..security.limits import PENDING, SESSION, KeyLimits, NoSlot, Slot
from .call import Call, CallRefused, Plug
from .resume import Parking

log = logging.getLogger(__name__)

RESTART_REASON = "the server is restarting: every result of the audio taken was sent; reconnect to go on"
FLUSH_TIMEOUT = 5.0  # seconds a parking connection waits to send what its call queued
_FLUSHED = object()  # queued behind a parking call's events: the sender stops there
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
        self.limits = limits
        self.plugs = plugs
        self.parked = False
        self.events: asyncio.Queue[events.Event] = asyncio.Queue(maxsize=options.send_queue)
        self.call: Call | None = None
        self.pacer = AudioPacer(options.pacing)
        self.started = time.monotonic()  # the handshake's end: the config deadline runs from here
        self.ready = ReadyClock(self.started)  # stands still while the connection holds back reading
        self._reading = asyncio.Event()  # set while the ready clock runs
        self._reading.set()
        self.idle: IdleClock | None = None  # once the call opened
        self.slot: Slot | None = None  # the call's session slot of its key, held until the call ends
        self._watched = False  # a resume elsewhere makes this connection let go of its call
        self._stopping = False  # the gateway shuts down: stop reading
        self._stop_timeout = options.results_timeout
        self._waiting = False  # waiting for the client's next message (safe to interrupt)
        self._reader: asyncio.Task | None = None
        self._sender: asyncio.Task | None = None
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
        self._sender = sender = asyncio.create_task(self._send(), name="send")
        keepalive = self._take_over_keepalive()
        try:
            pending = await self._claim(PENDING)
            if pending is not None:
                try:
                    operations = await self._open()
                finally:
                    await self._give_back(pending)
                if self.call is not None:
                    await self._receive(operations)
            if not self.parked:
                await asyncio.wait({sender}, timeout=self.options.results_timeout)
        except Exception:
            log.exception("connection failed")
            await self._abort(ErrorCode.INTERNAL, "internal error; the session ends")
        finally:
            sender.cancel()
            if keepalive is not None:
                keepalive.cancel()
            await asyncio.gather(sender, *([keepalive] if keepalive else []), return_exceptions=True)
            if self.call is not None and not self.parked:
                if self._watched:
                    assert self.parking is not None  # it watches the call
                    await self.parking.unwatch(self.call)
                await self.call.release()

    # -- counting against the key ------------------------------------------------------------

    async def _claim(self, kind: str) -> Slot | None:
        """A slot of ``kind`` for this connection's key; None when refused (the refusal is queued)."""
        if self.limits is None or self.key_id is None:
            return Slot(kind, self.key_id or "")
        try:
            return await self.limits.take(kind, self.key_id)
        except NoSlot as refused:
            if refused.reason is not None:
                self.hub.metrics.sessions_refused.labels(reason=refused.reason).inc()
            await self._refuse(refused.code, str(refused), CloseCode.TRY_AGAIN_LATER)
            return None

    async def _give_back(self, slot: Slot) -> None:
        if self.limits is not None:
            await self.limits.release(slot)

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
            await self._give_back(slot)
            if not isinstance(exc, CallRefused):
                raise
            await self._refuse(exc.code, str(exc), exc.close_code)
            return []
        self._hold_slot(call, slot)
        self.call = call
        await self._watch()
        return rest

    def _hold_slot(self, call: Call, slot: Slot) -> None:
        """The call holds its key's session slot until it ends (parked too)."""
        self.slot = slot
        if self.limits is not None:
            call.on_release(functools.partial(self.limits.release, slot))

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
        if self.key_id is not None:
            slot = Slot(SESSION, self.key_id, state["slot"])
            if self.limits is not None:
                self.limits.adopt(slot)
            self._hold_slot(call, slot)
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
        self.idle = IdleClock(self.ready, time.monotonic(), idle_timeout=options.idle_timeout,
                              min_audio_share=options.min_audio_share,
                              audio_share_window=options.audio_share_window,
                              max_keepalive_idle=options.max_keepalive_idle)
        watchdog = asyncio.create_task(self._watch_idle(), name="idle")
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
        call = self.call
        assert call is not None  # reading starts once the call is open
        resumable = self._watched and call.taking_input
        if outcome == _STOPPED:
            if resumable and await self._park(moving=True):
                return
            if not call.taking_input:
                return
            self._hold()  # no reading from now on: no pong is late
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
            flushed = await self._flush_events(send=moving)
            await self.parking.park(call, call_state, self.door.park(), key_id=self.key_id, slot=self.slot)
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

    async def _flush_events(self, *, send: bool) -> bool:
        """Render every event the parked call queued: sent when ``send`` (True if all were), else into the
        door's replay buffer only."""
        sender, flushed = self._sender, False
        if send and sender is not None and not sender.done():
            try:
                # A marker, not an event: the sender stops at it, and the loop below skips it.
                await within(self.events.put(_FLUSHED), FLUSH_TIMEOUT)  # type: ignore[arg-type]
                await asyncio.wait({sender}, timeout=FLUSH_TIMEOUT)
                flushed = sender.done() and not sender.cancelled()
            except TimeoutError:
                pass
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        while not self.events.empty():
            event = self.events.get_nowait()
            if event is not _FLUSHED:
                self.door.render(event)  # numbered and kept for the replay
        return flushed

    async def _watch_idle(self) -> None:
        """End the call when it idles too long (:class:`IdleClock`)."""
        call = self.call
        assert call is not None and self.idle is not None  # made before this watchdog starts
        while call.taking_input:
            await self._until(self.idle.deadline())
            message = self.idle.idle(time.monotonic())
            if message is not None and call.taking_input:
                await call.fail(ErrorCode.IDLE_TIMEOUT, message, CloseCode.INTERNAL_ERROR)
                return

    # -- ready time --------------------------------------------------------------------------

    def _hold(self) -> None:
        """The connection stops reading the client for a while (it applies a message: paces, publishes)."""
        self.ready.hold(time.monotonic())
        self._reading.clear()

    def _release(self) -> None:
        self.ready.release(time.monotonic())
        self._reading.set()

    async def _until(self, ready: float, done: asyncio.Future | None = None) -> bool:
        """Wait until the ready clock reads ``ready``, or ``done`` is; True if ``done`` came first."""
        while done is None or not done.done():
            now = time.monotonic()
            at = self.ready.wall(ready, now)
            if at is not None and at <= now:
                return False
            if at is not None and done is None:
                await asyncio.sleep(at - now)  # a timer: the deadline is checked again when it rings
                continue
            waiters = set() if done is None else {done}
            reading = None
            if at is None:  # held: the clock stands still until the connection reads again
                reading = asyncio.ensure_future(self._reading.wait())
                waiters.add(reading)
            try:
                await asyncio.wait(waiters, timeout=None if at is None else at - now,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                if reading is not None:
                    reading.cancel()
        return True

    # -- keepalive ---------------------------------------------------------------------------

    def _take_over_keepalive(self) -> asyncio.Task | None:
        """Replace the WebSocket library's keepalive with one on the ready clock; None without pings.

        The library counts a pong's delay in wall time: while pacing holds back reads,
        a live client's pong waits behind its audio and would time out (seen: 1011
        after ~20 s of a fast upload). Its pings stop here; this connection sends its own.
        """
        interval = getattr(self.websocket, "ping_interval", None)
        timeout = getattr(self.websocket, "ping_timeout", None)
        if interval is None or timeout is None:
            return None
        library = getattr(self.websocket, "keepalive_task", None)
        if library is not None:
            library.cancel()
        return asyncio.create_task(self._keepalive(interval, timeout), name="keepalive")

    async def _keepalive(self, interval: float, timeout: float) -> None:
        """Ping every ``interval`` s; drop the client when a pong is ``timeout`` s of ready time late.

        The pings go on every ``interval`` s while a pong is pending, too: they find a
        client that is gone while pacing holds back reads, when its pong cannot come and
        nothing else writes. A ping to a killed client's socket draws a reset from its
        host (even when the client's FIN waits behind data the gateway does not read),
        the write after it fails, and that closes the connection and ends the pacing wait.
        One ping while the pong stands still on the ready clock would wait for ever.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                pong = await self.websocket.ping()
            except ConnectionClosed:
                return
            assert isinstance(pong, asyncio.Future)  # what websockets returns (typed as an Awaitable)
            answer = asyncio.ensure_future(self._until(self.ready.read(time.monotonic()) + timeout, pong))
            try:
                while not (await asyncio.wait({answer}, timeout=interval))[0]:
                    try:
                        await self.websocket.ping()  # its pong answers the first one too
                    except ConnectionClosed:
                        return
            finally:
                answer.cancel()
            if not answer.result():
                log.info("session %s: no pong within %g s; the client is dropped",
                         Untrusted(self.call.call_id) if self.call is not None else "(not open)", timeout)
                self._let_go()  # as a network failure would: a resumable call is parked
                return

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
        """Apply operations to the call (the client waits meanwhile); True when the connection is done reading."""
        self._hold()
        try:
            return await self._apply_held(operations)
        finally:
            self._release()

    async def _apply_held(self, operations: list[events.Operation]) -> bool:
        call = self.call
        assert call is not None and self.idle is not None  # the call is open
        for operation in operations:
            try:
                if isinstance(operation, events.Audio):
                    seconds = await call.audio(operation.data, channel=operation.channel)
                    self.idle.audio(time.monotonic(), seconds)
                    # A batch session (a recording) is unpaced: its backlog bounds it (core/session.py).
                    if not call.batch and (delay := self.pacer.spend(seconds)):
                        # Not reading the socket meanwhile is the point: TCP pushes back.
                        self.hub.metrics.paced_seconds.inc(delay)
                        await self._pace(delay)
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

    async def _pace(self, delay: float) -> None:
        """Wait ``delay`` s before reading on; raise ConnectionClosed if the connection is lost meanwhile.

        The rest of what the client sent is not taken then: nobody is left to pace.
        """
        lost = getattr(self.websocket, "wait_closed", None)
        if lost is None:  # a raw TCP stream: it cannot tell while nobody reads it
            await asyncio.sleep(delay)
            return
        waiter = asyncio.ensure_future(lost())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=delay)
        finally:
            waiter.cancel()
        if done:
            raise self.websocket.close_exc

    async def _reject(self, exc: ProtocolError) -> None:
        """A bad message after the call opened: say what was wrong and carry on."""
        self.hub.metrics.frames_rejected.labels(reason=str(exc.code)).inc()
        assert self.call is not None  # the call is open
        await self.call.error(exc.code, str(exc))

    # -- call to client --------------------------------------------------------------------

    async def _send(self) -> None:
        try:
            while True:
                event = await self.events.get()
                if event is _FLUSHED:
                    return  # the call was parked: the connection takes the rest from here
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

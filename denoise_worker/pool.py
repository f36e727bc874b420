"""A pool of denoiser processes, each owning many sessions' :class:`DenoiseStream`.

DeepFilterNet instances are bound to the thread that created them and hold the
GIL while they run, so one Python process can denoise about 1 / RTF streams
on one core and no more. :class:`DenoisePool` runs N child processes (spawn
context) and pins each session to one of them by a stable hash of its id; a
child keeps the session's stream between calls. The event loop never blocks:
requests are written by a per-child sender thread, replies are read by a
per-child reader thread and handed back with ``call_soon_threadsafe``.

Failure model: if a child dies (crash, OOM kill), every request waiting on it
fails with :class:`DenoiseProcessDied`, the sessions it owned are marked lost
(their next :meth:`~DenoisePool.process` raises :class:`SessionStateLost`
until the caller resumes them with :meth:`~DenoisePool.resume_session` or ends
them with :meth:`~DenoisePool.close_session`), and the next request for that
slot starts a fresh child. Output is never silently misaligned.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common.aio import within
from common.errors import ConfigError, ModelError, StreamscribeError

__all__ = ["DenoisePool", "DenoiseProcessDied", "SessionStateLost"]

logger = logging.getLogger(__name__)

_ERRORS: dict[str, type[StreamscribeError]] = {
    "ConfigError": ConfigError,
    "ModelError": ModelError,
}


class DenoiseProcessDied(StreamscribeError):
    """A denoiser child process exited; its sessions' state is gone."""


class SessionStateLost(StreamscribeError):
    """This session's denoiser state was lost (child died or a request failed).

    Call :meth:`DenoisePool.resume_session` with a pre-roll to go on, or
    :meth:`DenoisePool.close_session` to forget it.
    """


# -- child side -----------------------------------------------------------


def _child_main(conn: Any, options: dict[str, Any]) -> None:
    """Serve requests ``(req_id, op, session_id, payload)`` until ``None`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    from .dsp import DenoiseStream

    try:
        DenoiseStream(**options).close()  # fail fast on a bad model or option
    except Exception as exc:
        conn.send((0, False, (type(exc).__name__, str(exc))))
        return
    conn.send((0, True, os.getpid()))
    streams: dict[str, DenoiseStream] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        req_id, op, session_id, payload = message
        try:
            if op == "process":
                stream = streams.get(session_id)
                if stream is None:
                    stream = streams[session_id] = DenoiseStream(**options)
                result: Any = stream.process_pcm(payload)
            elif op == "resume":
                old = streams.pop(session_id, None)
                if old is not None:
                    old.close()
                stream = DenoiseStream(**options)
                streams[session_id] = stream
                stream.resume(payload)
                result = b""
            elif op == "close":
                stream = streams.pop(session_id, None)
                result = stream.flush_pcm() if stream is not None else b""
            else:
                raise StreamscribeError(f"unknown denoise pool request {op!r}")
        except Exception as exc:
            broken = streams.pop(session_id, None)
            if broken is not None:
                broken.close()
            conn.send((req_id, False, (type(exc).__name__, str(exc))))
        else:
            conn.send((req_id, True, result))
    for stream in streams.values():
        stream.close()


# -- parent side ----------------------------------------------------------


class _Child:
    """One child process and the two threads that talk to it."""

    def __init__(self, index: int, options: dict[str, Any], *, max_pending: int) -> None:
        self.index = index
        self.options = options
        self.loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self._child_conn = child_conn
        self.process = ctx.Process(
            target=_child_main, args=(child_conn, options), name=f"streamscribe-denoise-{index}", daemon=True
        )
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"denoise-send-{index}")
        self._reader: threading.Thread | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._slots = asyncio.Semaphore(max_pending)
        self.dead: str | None = None
        self.on_death: list[Any] = []

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def start(self, *, timeout: float) -> None:
        ready = self.loop.create_future()
        self._pending[0] = ready
        await self.loop.run_in_executor(self._sender, self.process.start)
        self._child_conn.close()  # keep only the child's copy, so that its death is EOF here
        self._reader = threading.Thread(target=self._read_loop, name=f"denoise-read-{self.index}", daemon=True)
        self._reader.start()
        try:
            await within(ready, timeout)
        except BaseException:
            await self.stop(timeout=1.0)
            raise

    def _read_loop(self) -> None:
        try:
            while True:
                req_id, ok, payload = self.conn.recv()
                self._call_soon(self._resolve, req_id, ok, payload)
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5.0)  # in this thread: learn the exit code, off the loop
        self._call_soon(self._on_eof, self.process.exitcode)

    def _call_soon(self, callback: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed: nobody is waiting any more
            pass

    def _resolve(self, req_id: int, ok: bool, payload: Any) -> None:
        future = self._pending.pop(req_id, None)
        if future is None or future.done():
            return  # the caller was cancelled
        if ok:
            future.set_result(payload)
        else:
            name, message = payload
            future.set_exception(_ERRORS.get(name, StreamscribeError)(message))

    def _on_eof(self, exitcode: int | None) -> None:
        if self.dead is None:
            self.dead = f"denoise process {self.index} (pid {self.pid}) exited with code {exitcode}"
            if exitcode not in (0, None):
                logger.error("%s", self.dead)
        self._fail_pending(DenoiseProcessDied(self.dead))
        for callback in self.on_death:
            callback(self)

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    async def request(self, op: str, session_id: str, payload: bytes) -> Any:
        async with self._slots:  # bounds what sits in the pipe and the child's backlog
            if self.dead is not None:
                raise DenoiseProcessDied(self.dead)
            req_id = next(self._ids)
            future = self.loop.create_future()
            self._pending[req_id] = future
            try:
                try:
                    await self.loop.run_in_executor(self._sender, self.conn.send, (req_id, op, session_id, payload))
                except (OSError, ValueError) as exc:
                    # Dead from now on, so the pool's next call starts a fresh child: the reader
                    # thread reports the death too, but on a loaded box only after the caller's
                    # retries had all found this child "alive" and failed (seen: a killed child's
                    # session passed through undenoised). Its report then finds it replaced.
                    if self.dead is None:
                        self.dead = f"denoise process {self.index} is gone: {exc}"
                    raise DenoiseProcessDied(self.dead) from exc
                return await future
            finally:
                self._pending.pop(req_id, None)

    async def stop(self, *, timeout: float) -> None:
        if self.dead is None:
            self.dead = f"denoise process {self.index} was stopped"
        if self.process.pid is not None:
            try:
                await self.loop.run_in_executor(self._sender, self.conn.send, None)
            except (OSError, ValueError):
                pass
            if not await self._exited(timeout) and not self._ended():
                logger.warning("denoise process %d did not stop within %.0f s; killing it", self.index, timeout)
                self.process.kill()
                await self._exited(timeout)
        self._fail_pending(StreamscribeError("denoise pool is closed"))
        self._sender.shutdown(wait=False)
        self.conn.close()
        if not self._child_conn.closed:
            self._child_conn.close()
        if self.process.pid is not None and self._reaped():
            self.process.close()

    async def _exited(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to exit and be reaped; whether it was.

        One thread waits on the process at a time: the reader thread, which reaps the child once its
        pipe ends, then this one if the reader gave up. Two threads in ``waitpid`` at once race: the
        loser gets ECHILD and, until the winner records the exit code, the child looks alive (a normal
        stop on a loaded box logged "did not stop" and killed a child that had exited).
        """
        deadline = self.loop.time() + timeout
        if self._reader is not None:
            await self.loop.run_in_executor(None, self._reader.join, timeout)
            if self._reader.is_alive():
                return False  # the child holds its pipe still, or the reader is reaping it
        await self.loop.run_in_executor(None, self.process.join, max(0.0, deadline - self.loop.time()))
        return self._reaped()

    def _reaped(self) -> bool:
        """Whether the child's exit code is known (asked only when no other thread waits on it)."""
        return (self._reader is None or not self._reader.is_alive()) and self.process.exitcode is not None

    def _ended(self) -> bool:
        """Whether the child has exited, reaped or not (its sentinel: no wait on the process)."""
        return bool(multiprocessing.connection.wait([self.process.sentinel], 0))


class DenoisePool:
    """N denoiser processes serving many sessions, with an asyncio API.

    Use as ``async with DenoisePool(processes=2) as pool:`` or call
    :meth:`start` and :meth:`close`. Sessions are created on their first
    :meth:`process` call (or by :meth:`resume_session`) and must be ended
    with :meth:`close_session`, which returns the rest of their output.

    Calls for one session must be awaited one after the other (the stage does
    this anyway: it processes a session's input in order). Cancelling a call
    may leave the session's stream having consumed the chunk without the
    caller seeing the output: resume the session after a cancellation.

    Options (keyword-only): ``processes`` (default: the CPUs this process may
    use), ``max_pending`` (requests in flight per child, default 32),
    ``start_timeout`` (seconds for a child to load the model), and the
    :class:`~denoise_worker.dsp.DenoiseStream` options ``atten_lim_db``,
    ``post_filter``, ``model``, ``resample_quality``, applied to every session.
    """

    def __init__(
        self,
        *,
        processes: int | None = None,
        max_pending: int = 32,
        start_timeout: float = 60.0,
        atten_lim_db: float | None = None,
        post_filter: bool | float = False,
        model: str | None = None,
        resample_quality: str = "HQ",
    ) -> None:
        if processes is None:
            processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if processes < 1:
            raise ConfigError(f"the denoise pool needs at least one process, got {processes}")
        if max_pending < 1:
            raise ConfigError(f"max_pending must be at least 1, got {max_pending}")
        self.processes = processes
        self.max_pending = max_pending
        self.start_timeout = start_timeout
        self.options: dict[str, Any] = {
            "atten_lim_db": atten_lim_db,
            "post_filter": post_filter,
            "model": model,
            "resample_quality": resample_quality,
        }
        self._children: list[_Child | None] = [None] * processes
        self._slot_locks: list[asyncio.Lock] | None = None
        self._sessions: dict[str, int] = {}  # live sessions -> slot
        self._lost: set[str] = set()
        self._started = False
        self._closed = False

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Start every child and wait until each has loaded the model.

        Raises :class:`~common.errors.ConfigError` or
        :class:`~common.errors.ModelError` if the options or the model are bad.
        """
        if self._closed:
            raise StreamscribeError("denoise pool is closed")
        if self._started:
            return
        self._started = True
        self._slot_locks = [asyncio.Lock() for _ in range(self.processes)]
        try:
            await asyncio.gather(*(self._child(slot) for slot in range(self.processes)))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every child (their sessions are dropped). Idempotent."""
        if self._closed:
            return
        self._closed = True
        children = [child for child in self._children if child is not None]
        self._children = [None] * self.processes
        await asyncio.gather(*(child.stop(timeout=5.0) for child in children), return_exceptions=True)
        self._sessions.clear()
        self._lost.clear()

    async def __aenter__(self) -> "DenoisePool":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- sessions -------------------------------------------------------------

    def slot_of(self, session_id: str) -> int:
        """The child slot that owns ``session_id`` (stable across restarts)."""
        return zlib.crc32(session_id.encode()) % self.processes

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the children, by slot (``None`` where none runs)."""
        return [child.pid if child is not None and child.dead is None else None for child in self._children]

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    async def process(self, session_id: str, pcm: bytes) -> bytes:
        """Denoise one PCM16 chunk of ``session_id``; return the output that is ready.

        Concatenated over the session (with :meth:`close_session`'s result),
        the outputs are as long as the inputs and sample-aligned with them.
        """
        slot = self.slot_of(session_id)
        # The child first: finding its slot's child dead marks that child's sessions lost, and a
        # session whose state died must not go on, stateless, in the child that replaces it.
        child = await self._child(slot)
        if session_id in self._lost:
            raise SessionStateLost(f"denoiser state of session {session_id} was lost; resume or close it")
        self._sessions[session_id] = slot
        return await self._call(child, "process", session_id, bytes(pcm))

    async def resume_session(self, session_id: str, preroll: bytes) -> None:
        """(Re)start ``session_id`` warmed up with ``preroll``, the audio just
        before the next chunk (see :meth:`DenoiseStream.resume`)."""
        slot = self.slot_of(session_id)
        child = await self._child(slot)
        self._lost.discard(session_id)
        self._sessions[session_id] = slot
        await self._call(child, "resume", session_id, bytes(preroll))

    async def close_session(self, session_id: str) -> bytes:
        """End ``session_id`` and return its remaining output (``b""`` if unknown or lost)."""
        slot = self._sessions.get(session_id)
        child = await self._child(slot) if slot is not None else None
        self._sessions.pop(session_id, None)
        if session_id in self._lost or child is None:
            self._lost.discard(session_id)
            return b""
        return await self._call(child, "close", session_id, b"")

    # -- internals ------------------------------------------------------------

    async def _call(self, child: _Child, op: str, session_id: str, payload: bytes) -> Any:
        try:
            return await child.request(op, session_id, payload)
        except DenoiseProcessDied:
            raise
        except (ConfigError, ModelError):
            raise
        except StreamscribeError as exc:
            if op == "close":
                raise
            # The child dropped the session's stream: never go on misaligned.
            self._forget(session_id, lost=True)
            raise SessionStateLost(f"denoising session {session_id} failed: {exc}") from exc

    async def _child(self, slot: int) -> _Child:
        if self._closed or not self._started or self._slot_locks is None:
            state = "closed" if self._closed else "not started (call start() first)"
            raise StreamscribeError(f"denoise pool is {state}")
        async with self._slot_locks[slot]:
            child = self._children[slot]
            if child is not None and child.dead is None:
                return child
            if child is not None:
                # Whoever notices first (a failed send here, or the reader's EOF) marks its
                # sessions lost: once replaced, the reader's report finds it gone and does nothing.
                self._on_child_death(child)
                await child.stop(timeout=1.0)
                logger.warning("restarting denoise process %d", slot)
            child = _Child(slot, self.options, max_pending=self.max_pending)
            child.on_death.append(self._on_child_death)
            await child.start(timeout=self.start_timeout)
            if self._closed:  # closed while we were starting
                await child.stop(timeout=1.0)
                raise StreamscribeError("denoise pool is closed")
            self._children[slot] = child
            return child

    def _on_child_death(self, child: _Child) -> None:
        if self._children[child.index] is not child:
            return  # already replaced or the pool is closing
        lost = [sid for sid, slot in self._sessions.items() if slot == child.index]
        for sid in lost:
            self._forget(sid, lost=not self._closed)
        if lost and not self._closed:
            logger.error("denoise process %d died; %d sessions lost their state", child.index, len(lost))

    def _forget(self, session_id: str, *, lost: bool) -> None:
        self._sessions.pop(session_id, None)
        if lost:
            self._lost.add(session_id)

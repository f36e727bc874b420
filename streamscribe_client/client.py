"""A command-line client: stream a WAV/FLAC file (or the microphone) and print transcripts.

    streamscribe-client speech.wav --url ws://localhost:8000/ws/asr --speed 2
    STREAMSCRIBE_URL=ws://localhost:8765/ws/asr streamscribe-client speech.wav

Partials overwrite one line on a terminal; finals are printed on their own line
(and only finals, without terminal codes, when the output is a file or a pipe).
A missing file, a bad URL, a refused connection or a missing microphone ends it
with one line on stderr and exit status 1. :func:`stream` is the same logic as a
library function for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TextIO

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from common.aio import wait_event, within
from common.config import program, version
from common.records import SAMPLE_RATE

DEFAULT_URL = "ws://localhost:8000/ws/asr"
URL_VARIABLE = "STREAMSCRIBE_URL"  # the server when --url is not given (scripts/stack prints the line to use)
# What an unreachable server's message adds, by where its URL came from.
URL_HINTS = {"default": f" (another gateway: --url or {URL_VARIABLE})", URL_VARIABLE: f" (from {URL_VARIABLE})"}
SERVICE_RESTART = 1012  # close code of a gateway that goes away: a resumable session reconnects at once


def read_audio(path: str) -> tuple[np.ndarray, int]:
    """Read a sound file as float32 mono.

    A file that cannot be opened raises :class:`OSError`; one that is no sound
    file soundfile reads raises ``soundfile.SoundFileError`` (a ``RuntimeError``).
    """
    import soundfile

    with open(path, "rb") as file:  # a missing file is an OSError that names it, not libsndfile's "System error"
        samples, rate = soundfile.read(file, dtype="float32", always_2d=True)
    return samples.mean(axis=1).astype(np.float32), rate


async def file_frames(samples: np.ndarray, rate: int, *, chunk_ms: int, speed: float) -> AsyncIterator[bytes]:
    """Yield float32 frames paced at ``speed`` times real time (``speed <= 0``: no pacing)."""
    step = max(1, rate * chunk_ms // 1000)
    started = time.monotonic()
    for index, start in enumerate(range(0, len(samples), step)):
        if speed > 0:
            due = started + index * chunk_ms / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing, not synchronisation
        yield samples[start:start + step].tobytes()


class StreamClosed(Exception):
    """The server closed the session early; ``messages`` holds what it sent before."""

    def __init__(self, code: int | None, reason: str, messages: list[dict]) -> None:
        super().__init__(f"server closed the connection: {code} {reason}")
        self.code = code
        self.reason = reason
        self.messages = messages


async def stream(url: str, frames: AsyncIterator[bytes], *, sample_rate: int, config: dict | None = None,
                 on_message: Callable[[dict], None] | None = None, timeout: float = 60.0,
                 api_key: str | None = None, tls: ssl.SSLContext | None = None) -> list[dict]:
    """Send a config, the frames and a close; return every message the server sent.

    ``api_key`` is sent as ``Authorization: Bearer``; ``tls`` is the context of a
    ``wss://`` URL (default: the system's trusted certificates).

    Raises :class:`StreamClosed` if the server ends the session with a code other than 1000.
    """
    messages: list[dict] = []
    try:
        await _stream(url, frames, sample_rate=sample_rate, config=config, on_message=on_message,
                      timeout=timeout, messages=messages, api_key=api_key, tls=tls)
    except ConnectionClosed as exc:
        if exc.rcvd is None or exc.rcvd.code != 1000:
            raise StreamClosed(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "",
                               messages) from None
    return messages


async def _stream(url, frames, *, sample_rate, config, on_message, timeout, messages, api_key, tls) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    options = {"ssl": tls} if tls is not None and url.startswith("wss:") else {}
    if (config or {}).get("priority") == "batch":
        # The server holds a recording's audio back at the socket while its pipeline is busy
        # (minutes, if live calls take every core), and a pong waits behind that audio.
        options["ping_timeout"] = None
    async with connect(url, max_size=1 << 22, open_timeout=timeout, additional_headers=headers,
                       **options) as websocket:
        await websocket.send(json.dumps({"type": "config", "sample_rate": sample_rate, "encoding": "float32",
                                         **(config or {})}))

        async def receive() -> None:
            async for raw in websocket:
                message = json.loads(raw)
                messages.append(message)
                if on_message:
                    on_message(message)

        receiver = asyncio.create_task(receive())
        try:
            try:
                async for frame in frames:
                    await websocket.send(frame)
                await websocket.send(json.dumps({"type": "close"}))
            except ConnectionClosed:
                pass  # the receiver collects what came before the close
            await within(receiver, timeout)
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
        if websocket.close_code not in (None, 1000):
            raise ConnectionClosed(websocket.protocol.close_rcvd, websocket.protocol.close_sent,
                                   websocket.protocol.close_rcvd_then_sent)


class StreamscribeClient:
    """A native-protocol session that survives dropped connections (reconnect with resume).

    The session is opened ``resumable``: the server acknowledges audio
    (``audio_ack``) and keeps the session for a grace period when the connection
    drops. The client keeps the audio sent but not yet acknowledged in a ring
    buffer (``max_unacked_sec`` at most: beyond it sending waits for an
    acknowledgement), and after a drop reconnects with the session id and the
    last message ``seq`` it got; the server sends again what was lost on the way,
    says from which sample it needs audio, and the client resends from there.
    Messages repeated by a replay are dropped by their ``seq``, so the result is
    the one an unbroken connection gives: same session, same utterance ids, each
    final once.

        client = StreamscribeClient(url, sample_rate=SAMPLE_RATE, encoding="pcm16")
        messages = await client.run(frames)  # every message but acks, as stream() returns

    A gateway that shuts down parks the session and closes with 1012 (service
    restart): the client reconnects at once (through a balancer, to another gateway)
    and resumes, as after a drop; ``restarts`` counts those.

    ``reconnects`` counts the resumes; a drop after the client's close, a session
    the server no longer has, or more than ``max_attempts`` failed reconnects in a
    row raise :class:`StreamClosed`.
    """

    def __init__(self, url: str, *, sample_rate: int, encoding: str = "pcm16", channels: int = 1,
                 config: dict | None = None, api_key: str | None = None, tls: ssl.SSLContext | None = None,
                 on_message: Callable[[dict], None] | None = None, timeout: float = 60.0,
                 max_unacked_sec: float = 30.0, max_attempts: int = 5, retry_delay: float = 0.2) -> None:
        self.url = url
        self.config = {"type": "config", "sample_rate": sample_rate, "encoding": encoding, "channels": channels,
                       **(config or {}), "resumable": True}
        self.sample_bytes = {"float32": 4, "pcm16": 2, "mulaw": 1, "alaw": 1}[encoding] * channels
        self.max_unacked = int(max_unacked_sec * sample_rate)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.ssl: dict[str, Any] = {"ssl": tls} if tls is not None and url.startswith("wss:") else {}
        self.on_message = on_message
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.session_id: str | None = None
        self.last_seq = -1
        self.messages: list[dict] = []
        self.reconnects = 0
        self.restarts = 0  # of those, asked for by a gateway going away (close 1012)
        self.gaps: list[float] = []  # seconds from each lost connection to its resume's confirmation
        self._lost_at = 0.0  # when the connection was lost (0: it was not, or the resume confirmed)
        self._ring: collections.deque[tuple[int, bytes]] = collections.deque()  # (first sample, frame)
        self._sent = 0  # samples handed to the ring
        self._acked = 0
        self._room = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resume_offset = 0
        self._closing = False  # our close was sent

    async def run(self, frames: AsyncIterator[bytes]) -> list[dict]:
        """Send the frames and a close, reconnecting after drops; return the server's messages."""
        # One task reads the frames for every connection: a sender cancelled by a drop must not
        # close the caller's generator with it.
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
        pump = asyncio.create_task(self._pump(frames, queue), name="frames")
        try:
            messages = await self._connections(queue)
        finally:
            pump.cancel()
            failed = (await asyncio.gather(pump, return_exceptions=True))[0]
        if isinstance(failed, Exception):
            raise failed  # the frames' source failed (the session was closed normally)
        return messages

    @staticmethod
    async def _pump(frames: AsyncIterator[bytes], queue: asyncio.Queue[bytes | None]) -> None:
        try:
            async for frame in frames:
                await queue.put(frame)
        except Exception:
            await queue.put(None)  # the senders end the session; run() raises the error
            raise
        await queue.put(None)

    async def _connections(self, frames: asyncio.Queue[bytes | None]) -> list[dict]:
        failures = 0
        while True:
            try:
                async with connect(self.url, max_size=1 << 22, open_timeout=self.timeout,
                                   additional_headers=self.headers, **self.ssl) as websocket:
                    failures = 0
                    await self._session(websocket, frames)
                return self.messages
            except ConnectionClosed as exc:
                self._lost_at = self._lost_at or time.monotonic()
                if exc.rcvd is not None and exc.rcvd.code == SERVICE_RESTART and self.session_id is not None:
                    self.restarts += 1  # the gateway parked the session and goes away: resume it now
                    failures = 0
                    continue
                if exc.rcvd is not None:  # the server ended the session itself
                    if exc.rcvd.code == 1000:
                        return self.messages
                    raise StreamClosed(exc.rcvd.code, exc.rcvd.reason, self.messages) from None
                reason = "connection dropped"
            except InvalidStatus as exc:  # a balancer with no gateway to offer right now
                if self.session_id is None or exc.response.status_code not in (502, 503, 504):
                    raise
                self._lost_at = self._lost_at or time.monotonic()
                reason = f"cannot connect: HTTP {exc.response.status_code}"
            except (OSError, TimeoutError) as exc:
                self._lost_at = self._lost_at or time.monotonic()
                reason = f"cannot connect: {exc}"
            failures += 1
            if failures > self.max_attempts:
                raise StreamClosed(None, f"{reason}; gave up after {self.max_attempts} attempts", self.messages)
            await asyncio.sleep(self.retry_delay * 2 ** (failures - 1))  # backoff before reconnecting

    async def _session(self, websocket: ClientConnection, frames: asyncio.Queue[bytes | None]) -> None:
        resuming = self.session_id is not None
        if resuming:
            self._resumed.clear()
            await websocket.send(json.dumps({"type": "config", "resume": {"session_id": self.session_id,
                                                                          "last_seq": self.last_seq}}))
        else:
            await websocket.send(json.dumps(self.config))
        receiver = asyncio.create_task(self._receive(websocket))
        sender = asyncio.create_task(self._send(websocket, frames, resuming))
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:
                sender.result()  # a sender failure (other than the connection's) is the caller's
            await within(receiver, self.timeout)  # the last results after our close
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
        if websocket.close_code is not None and websocket.close_code != 1000:
            raise ConnectionClosed(websocket.protocol.close_rcvd, websocket.protocol.close_sent,
                                   websocket.protocol.close_rcvd_then_sent)

    async def _send(self, websocket, frames: asyncio.Queue[bytes | None], resuming: bool) -> None:
        try:
            if resuming:
                if not await wait_event(self._resumed, self.timeout):
                    raise StreamClosed(None, "the server did not confirm the resume", self.messages)
                for start, kept in list(self._ring):  # the audio the server did not take
                    skip = max(0, self._resume_offset - start) * self.sample_bytes
                    if skip < len(kept):
                        await websocket.send(kept[skip:])
            if self._closing:
                await websocket.send(json.dumps({"type": "close"}))
                return
            while True:
                while self._sent - self._acked >= self.max_unacked:  # before taking a frame: none is lost
                    self._room.clear()
                    if not await wait_event(self._room, self.timeout):
                        raise StreamClosed(None, f"no audio_ack for {self.timeout:.0f} s", self.messages)
                if (frame := await frames.get()) is None:
                    break
                self._ring.append((self._sent, frame))  # kept before it is sent: a drop may lose it
                self._sent += len(frame) // self.sample_bytes
                await websocket.send(frame)
            self._closing = True
            await websocket.send(json.dumps({"type": "close"}))
        except ConnectionClosed:
            pass  # the receiver sees the same close

    async def _receive(self, websocket) -> None:
        async for raw in websocket:
            message = json.loads(raw)
            seq = message.get("seq")
            if seq is not None:
                if seq <= self.last_seq:
                    continue  # sent again by a resume, already had
                self.last_seq = seq
            kind = message.get("type")
            if kind == "audio_ack":
                self._acknowledge(message["offset"])
                continue
            if kind == "reconnect":
                continue  # the close 1012 that follows makes the client resume
            if kind == "session_created":
                self.session_id = message["session_id"]
            elif kind == "session_resumed":
                self.reconnects += 1
                self.gaps.append(time.monotonic() - self._lost_at)
                self._lost_at = 0.0
                self._resume_offset = message["offset"]
                self._acknowledge(message["offset"])
                self._resumed.set()
            self.messages.append(message)
            if self.on_message:
                self.on_message(message)

    def _acknowledge(self, offset: int) -> None:
        self._acked = max(self._acked, offset)
        while self._ring and self._ring[0][0] + len(self._ring[0][1]) // self.sample_bytes <= self._acked:
            self._ring.popleft()
        self._room.set()


async def microphone_frames(rate: int, chunk_ms: int) -> AsyncIterator[bytes]:
    try:
        import sounddevice
    except ModuleNotFoundError:
        raise SystemExit("microphone input needs the sounddevice package: pip install sounddevice") from None
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise SystemExit(f"cannot use a microphone: {exc}") from None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)

    def callback(data, frames, when, status) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, data[:, 0].astype(np.float32).tobytes())

    try:
        microphone = sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32",
                                             blocksize=rate * chunk_ms // 1000, callback=callback)
    except sounddevice.PortAudioError as exc:
        raise SystemExit(f"cannot open a microphone: {exc}") from None
    with microphone:
        print("listening; Ctrl-C to stop", file=sys.stderr)
        while True:
            yield await queue.get()


CLEAR_LINE = "\r\033[K"  # back to the start of the line and erase it: where a partial was shown


def printer(json_output: bool, *, out: TextIO | None = None, err: TextIO | None = None) -> Callable[[dict], None]:
    """Show the server's messages: on ``out`` (default stdout), errors on ``err`` (default stderr).

    Partials overwrite one line only when ``out`` is a terminal; otherwise they are
    left out, and no line carries terminal codes.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    tty = out.isatty()
    clear = CLEAR_LINE if tty else ""
    clear_err = clear if err.isatty() else ""

    def show(message: dict) -> None:
        if json_output:
            print(json.dumps(message, ensure_ascii=False), file=out, flush=True)
        elif message["type"] == "partial" and tty:
            print(f"{clear}… {message['text']}", end="", file=out, flush=True)
        elif message["type"] == "final":
            print(f"{clear}[{message['start_ms'] / 1000:7.2f}-{message['end_ms'] / 1000:7.2f}] "
                  f"{message['text']}", file=out, flush=True)
        elif message["type"] == "error":
            print(f"{clear_err}error {message['code']}: {message['message']}", file=err, flush=True)

    return show


def refusal(exc: InvalidHandshake) -> str:
    """Why the server refused the WebSocket handshake, in one line (its JSON ``message`` when it sent one)."""
    if not isinstance(exc, InvalidStatus):
        return str(exc)
    try:
        why = json.loads(exc.response.body or b"").get("message")
    except (ValueError, AttributeError):  # no JSON, or no object
        why = None
    status = f"HTTP {exc.response.status_code}"
    return f"{status}: {why}" if why else status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=program("streamscribe_client"), description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="WAV/FLAC file to stream (omit with --mic)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--url", default=None,
                        help=f"gateway WebSocket URL (default: env {URL_VARIABLE}, else {DEFAULT_URL})")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time (0: as fast as possible)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="milliseconds of audio per frame")
    parser.add_argument("--language", default=None, help="force a language (default: auto)")
    parser.add_argument("--context", default="", help="domain words and names to bias recognition")
    parser.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                        help="denoise this session (default: the deployment's choice)")
    parser.add_argument("--mic", action="store_true", help="stream the microphone (needs sounddevice)")
    parser.add_argument("--json", action="store_true", help="print every server message as JSON")
    parser.add_argument("--api-key", default=os.environ.get("STREAMSCRIBE_API_KEY"),
                        help="API key of the gateway (default: env STREAMSCRIBE_API_KEY)")
    parser.add_argument("--cafile", default=None,
                        help="trust this certificate for wss:// (e.g. the gateway's self-signed one)")
    args = parser.parse_args(argv)
    if not args.file and not args.mic:
        parser.error("give a FILE or --mic")
    url, origin = server_url(args.url, os.environ)
    config = {"language": args.language, "context": args.context}
    if args.denoise is not None:
        config["denoise"] = args.denoise
    if args.mic:
        rate = SAMPLE_RATE
        frames = microphone_frames(rate, args.chunk_ms)
    else:
        try:
            samples, rate = read_audio(args.file)
        except (OSError, RuntimeError) as exc:  # soundfile's errors are RuntimeErrors
            why = exc.strerror if isinstance(exc, OSError) else getattr(exc, "error_string", None)
            return fail(f"cannot read {args.file}: {why or exc}")
        frames = file_frames(samples, rate, chunk_ms=args.chunk_ms, speed=args.speed)
    try:
        messages = asyncio.run(stream(url, frames, sample_rate=rate, config=config,
                                      on_message=printer(args.json), timeout=120, api_key=args.api_key,
                                      tls=ssl.create_default_context(cafile=args.cafile) if args.cafile else None))
    except KeyboardInterrupt:
        return 130
    except StreamClosed as exc:
        return fail(str(exc))
    except InvalidURI as exc:
        return fail(f"bad {origin}: {exc}")
    except InvalidHandshake as exc:
        return fail(f"{url} refused the connection: {refusal(exc)}")
    except BrokenPipeError:  # our reader went away (``| head``): it took what it wanted; not the server
        return reader_gone()
    except OSError as exc:  # refused, unreachable, no such host, timed out
        return fail(f"cannot reach {url}: {exc}{URL_HINTS.get(origin, '')}")
    return 1 if any(m["type"] == "error" and m.get("fatal") for m in messages) else 0


def server_url(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """The gateway's URL and where it came from: ``--url``, else the environment's
    ``STREAMSCRIBE_URL`` (an empty one counts as unset), else the default."""
    if flag:
        return flag, "--url"
    if environ.get(URL_VARIABLE):
        return environ[URL_VARIABLE], URL_VARIABLE
    return DEFAULT_URL, "default"


def reader_gone() -> int:
    """Exit quietly once stdout's reader closed the pipe (Python's own advice: stdout onto /dev/null, or
    the flush at exit fails once more)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def fail(message: str) -> int:
    """Say what went wrong in one line on stderr; the exit status of a failure."""
    print(f"streamscribe-client: {message}", file=sys.stderr)
    return 1

"""A command-line client: stream a WAV/FLAC file (or the microphone) and print transcripts.

    python -m gateway.client speech.wav --url ws://localhost:8000/ws/asr --speed 2

Partials overwrite one line on a terminal; finals are printed on their own line.
:func:`stream` is the same logic as a library function for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from common.aio import within

DEFAULT_URL = "ws://localhost:8000/ws/asr"


def read_audio(path: str) -> tuple[np.ndarray, int]:
    """Read a sound file as float32 mono."""
    import soundfile

    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
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
            raise ConnectionClosed(websocket.close_rcvd, websocket.close_sent)


async def microphone_frames(rate: int, chunk_ms: int) -> AsyncIterator[bytes]:
    try:
        import sounddevice
    except ModuleNotFoundError:
        raise SystemExit("microphone input needs the sounddevice package: pip install sounddevice") from None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)

    def callback(data, frames, when, status) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, data[:, 0].astype(np.float32).tobytes())

    with sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32",
                                 blocksize=rate * chunk_ms // 1000, callback=callback):
        print("listening; Ctrl-C to stop", file=sys.stderr)
        while True:
            yield await queue.get()


def printer(json_output: bool) -> Callable[[dict], None]:
    tty = sys.stdout.isatty()

    def show(message: dict) -> None:
        if json_output:
            print(json.dumps(message, ensure_ascii=False), flush=True)
        elif message["type"] == "partial" and tty:
            print(f"\r\033[K… {message['text']}", end="", flush=True)
        elif message["type"] == "final":
            print(f"\r\033[K[{message['start_ms'] / 1000:7.2f}-{message['end_ms'] / 1000:7.2f}] "
                  f"{message['text']}", flush=True)
        elif message["type"] == "error":
            print(f"\r\033[Kerror {message['code']}: {message['message']}", file=sys.stderr, flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.client", description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="WAV/FLAC file to stream (omit with --mic)")
    parser.add_argument("--url", default=DEFAULT_URL, help="gateway WebSocket URL")
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
    config = {"language": args.language, "context": args.context}
    if args.denoise is not None:
        config["denoise"] = args.denoise
    if args.mic:
        rate = 16000
        frames = microphone_frames(rate, args.chunk_ms)
    else:
        samples, rate = read_audio(args.file)
        frames = file_frames(samples, rate, chunk_ms=args.chunk_ms, speed=args.speed)
    try:
        messages = asyncio.run(stream(args.url, frames, sample_rate=rate, config=config,
                                      on_message=printer(args.json), timeout=120, api_key=args.api_key,
                                      tls=ssl.create_default_context(cafile=args.cafile) if args.cafile else None))
    except KeyboardInterrupt:
        return 130
    except StreamClosed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    return 1 if any(m["type"] == "error" and m.get("fatal") for m in messages) else 0


if __name__ == "__main__":
    sys.exit(main())

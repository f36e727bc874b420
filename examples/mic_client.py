"""Stream the microphone (or a WAV file) to a streamscribe gateway and print the transcripts.

    pip install websockets sounddevice
    python examples/mic_client.py --url ws://localhost:8000/ws/asr      # Ctrl-C to stop
    python examples/mic_client.py --file speech.wav --speed 2            # no microphone needed

Standalone: only ``websockets`` (and ``sounddevice`` for the microphone, imported
only then). Speaks the native protocol: a config, PCM16 frames, ``close``; prints
each final as ``[start-end] text`` (``--json``: every server message as JSON).
Exits 0 when the server closed the session normally; 1, with a one-line message,
when the file, the URL, the server or the microphone fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import wave
from collections.abc import AsyncIterator

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
except ModuleNotFoundError as missing:  # main() says so in one line, not a traceback
    MISSING: str | None = missing.name
else:
    MISSING = None

RATE = 16_000


def open_microphone():
    """The ``sounddevice`` module once an input device is there; exit saying why if not."""
    try:
        import sounddevice
    except ModuleNotFoundError:
        raise SystemExit("the microphone needs the sounddevice package: pip install sounddevice") from None
    except OSError as exc:  # the package is there, its PortAudio library is not
        raise SystemExit(f"the microphone needs PortAudio: {exc}") from None
    try:
        sounddevice.query_devices(kind="input")
    except (sounddevice.PortAudioError, ValueError) as exc:
        raise SystemExit(f"no microphone: {exc}") from None
    return sounddevice


async def microphone(sounddevice, chunk_ms: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=50)

    def captured(data, count, when, status) -> None:  # the audio thread: hand over to the loop
        loop.call_soon_threadsafe(lambda: frames.full() or frames.put_nowait(bytes(data)))

    with sounddevice.RawInputStream(samplerate=RATE, channels=1, dtype="int16",
                                    blocksize=RATE * chunk_ms // 1000, callback=captured):
        print("listening; Ctrl-C to stop", file=sys.stderr)
        while True:
            yield await frames.get()


def read_wav(path: str) -> bytes:
    """The PCM of a 16-bit mono 16 kHz WAV file, read before connecting; exit saying why if it is not one."""
    try:
        with wave.open(path, "rb") as wav:
            if (wav.getsampwidth(), wav.getnchannels(), wav.getframerate()) != (2, 1, RATE):
                raise SystemExit(f"{path}: this example streams 16-bit mono 16 kHz WAV only")
            return wav.readframes(wav.getnframes())
    except OSError as exc:
        raise SystemExit(f"{path}: {exc.strerror or exc}") from None
    except (EOFError, wave.Error) as exc:
        raise SystemExit(f"{path}: not a WAV file ({str(exc) or 'it ends early'})") from None


async def wav_frames(pcm: bytes, chunk_ms: int, speed: float) -> AsyncIterator[bytes]:
    step = RATE * chunk_ms // 1000 * 2
    for start in range(0, len(pcm), step):
        yield pcm[start:start + step]
        if speed > 0:
            await asyncio.sleep(chunk_ms / 1000 / speed)  # pacing at `speed` times real time


def show(message: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(message, ensure_ascii=False), flush=True)
    elif message["type"] == "final" and message["text"]:
        print(f"[{message['start_ms'] / 1000:.2f}-{message['end_ms'] / 1000:.2f}] {message['text']}", flush=True)
    elif message["type"] == "error":
        print(f"error {message['code']}: {message['message']}", file=sys.stderr, flush=True)


async def run(url: str, frames: AsyncIterator[bytes], *, api_key: str | None, as_json: bool) -> int:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "config", "sample_rate": RATE, "encoding": "pcm16"}))

        async def send() -> None:
            try:
                async for frame in frames:
                    await ws.send(frame)
            finally:  # also after Ctrl-C: the server sends the last finals, then closes
                if ws.state.name == "OPEN":
                    await ws.send(json.dumps({"type": "close"}))

        sender = asyncio.create_task(send())
        # Ctrl-C stops the audio only: the close goes out and the last finals still come in.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, sender.cancel)
        try:
            async for raw in ws:
                show(json.loads(raw), as_json)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        if ws.close_code != 1000:
            print(f"server closed the connection: {ws.close_code} {ws.close_reason}", file=sys.stderr)
            return 1
    failed = None if sender.cancelled() else sender.exception()
    if failed is not None and not isinstance(failed, ConnectionClosed):
        print(f"the audio failed: {failed}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    if MISSING is not None:
        print(f"this client needs the {MISSING} package: pip install websockets", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="ws://localhost:8000/ws/asr")
    parser.add_argument("--file", help="stream this 16 kHz mono WAV instead of the microphone")
    parser.add_argument("--speed", type=float, default=1.0, help="file pacing, times real time (0: none)")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--api-key", default=os.environ.get("STREAMSCRIBE_API_KEY"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.file:
        frames = wav_frames(read_wav(args.file), args.chunk_ms, args.speed)
    else:
        frames = microphone(open_microphone(), args.chunk_ms)
    try:
        return asyncio.run(run(args.url, frames, api_key=args.api_key, as_json=args.json))
    except BrokenPipeError:  # stdout's reader went away (| head): it took what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or the flush at exit fails again
        return 0
    except (OSError, InvalidURI, InvalidHandshake, TimeoutError) as exc:
        print(f"cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the connection opened
        return 130


if __name__ == "__main__":
    sys.exit(main())

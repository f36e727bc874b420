"""Genesys' AudioHook API tests (the reference implementation's jest suite) against a private stack.

    .venv/bin/python -m bench.audiohook_conformance --reference /path/to/audiohook-reference-implementation
    .venv/bin/python -m bench.audiohook_conformance --reference DIR --model base --runs 3

``--reference`` is a checkout of github.com/purecloudlabs/audiohook-reference-implementation
(tested at 2871b01; its suite is ``test/audiohook-api-messages.test.ts``, 20 tests with single
and double channel and the Transcript Connector features on). The script copies it into a
temporary directory, installs the npm packages that suite needs (``bench/audiohook_conformance/``:
``package.json`` and ``package-lock.json``, versions as the reference pins them, without its
AWS CDK app) with ``npm ci`` (the npm registry, or npm's cache), starts a private stack (its own
redis-server, one gateway, one VAD and one ASR worker with ``--model`` and ``--compute-type``),
with the client secret and API key of the AudioHook protocol documentation (so every handshake's
signature is checked), writes ``testconfig.cfg`` for it and runs jest. It prints each test's
outcome with its time and the first line of each failure's message. The exit status is 0 when
every test passed.

Timing matters to the suite: its Transcript Connector tests stream an 11 s WAV at real time and
must see ``closed`` 13 s after they start (23 s with a 10 s pause), so a loaded box can fail them
by time alone; the per-test times are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.kit.stack import Stack
from tests.kit.support import RedisServer, audiohook_signature, converse, paced
from tests.kit.telephony import AudioHookClient, mulaw_encode

HERE = Path(__file__).resolve().parent / "audiohook_conformance"
SUITE = "test/audiohook-api-messages.test.ts"
WAV = "test/test-transcript-connector.wav"
STREAMED = 11.0  # seconds of the WAV the suite streams (createWavMediaSource's duration)
# test/test-data.ts: (offset, duration) of each transcript the suite expects, within 0.5 s.
EXPECTED = [(0.1, 0.4), (1.1, 1.6), (2.9, 1.2), (4.9, 1.0), (6.7, 2.6)]
# The sample API key and client secret of Genesys' AudioHook protocol documentation.
API_KEY = "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"
CLIENT_SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="

TESTCONFIG = """[EndPoint]
url={url}

[Authentication]
apiKey={api_key}
clientSecret={client_secret}

[OpenParameters]
customConfig={{}}
language={language}

[Features]
singleChannel=true
doubleChannel=true
audioHookMonitor=true
transcriptionConnector=true
"""


def prepare(reference: Path, workdir: Path) -> None:
    """The reference's tree in ``workdir`` with the suite's npm packages installed."""
    if not (reference / SUITE).is_file():
        raise SystemExit(f"--reference {reference}: no {SUITE} there (a checkout of "
                         "github.com/purecloudlabs/audiohook-reference-implementation is needed)")
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed (Debian package npm, or Node.js 16+)")
    shutil.copytree(reference, workdir, ignore=shutil.ignore_patterns(".git", "node_modules", "cdk.out"),
                    dirs_exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, workdir / name)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=workdir, check=True)


def run_suite(workdir: Path, url: str, *, language: str, pattern: str | None) -> dict:
    """jest on the suite against ``url``; its JSON report."""
    (workdir / "testconfig.cfg").write_text(TESTCONFIG.format(url=url, api_key=API_KEY, client_secret=CLIENT_SECRET,
                                                              language=language))
    report = workdir / "jest-report.json"
    command = ["npx", "jest", "--json", f"--outputFile={report}", "--runInBand", SUITE]
    if pattern:
        command += ["-t", pattern]
    subprocess.run(command, cwd=workdir, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not report.exists():
        raise RuntimeError("jest wrote no report (is the reference checkout complete?)")
    return json.loads(report.read_text())


async def replay(url: str, wav: Path) -> list[dict]:
    """The suite's Transcript Connector call ("Test Events") made in Python: the WAV's first 11 s,
    both channels, in 20 ms frames at real time, then ``close``. Returns each
    transcript entity as received, with ``at``: its arrival in seconds after the first frame was sent."""
    import soundfile
    from websockets.asyncio.client import connect

    audio, rate = soundfile.read(str(wav), dtype="float32", frames=int(STREAMED * 8000))
    assert rate == 8000 and audio.shape[1] == 2, (rate, audio.shape)
    frame = rate // 50
    frames = [mulaw_encode(audio[i:i + frame].reshape(-1)) for i in range(0, len(audio) - frame + 1, frame)]
    client = AudioHookClient(str(uuid.uuid4()))
    target = "/audiohook"
    host = url.removeprefix("ws://").split("/")[0]
    headers = {"Host": host, "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "Audiohook-Session-Id": client.id,
               "X-API-KEY": API_KEY}
    signed = audiohook_signature(base64.b64decode(CLIENT_SECRET), target=target, headers=headers,
                                 created=int(time.time()))
    sent = {name: value for name, value in headers.items() if name != "Host"}
    entities: list[dict] = []
    started = [time.monotonic()]
    async with connect(url, additional_headers={**sent, **signed}) as websocket:
        await websocket.send(client.open())
        client.seen(await websocket.recv())
        started[0] = time.monotonic()

        async def send() -> None:
            async for index, data in paced(list(enumerate(frames)), 20):
                await websocket.send(data)
                client.position = (index + 1) * frame / rate
            await websocket.send(client.message("close", {"reason": "end"}))

        def on_text(text: str) -> None:
            message = client.seen(text)
            for entity in message.get("parameters", {}).get("entities", []):
                entities.append({**entity["data"], "at": time.monotonic() - started[0]})

        await converse(websocket, send, on_text, timeout=STREAMED + 60)
    return entities


def show(entities: list[dict]) -> None:
    """The entities next to what the suite expects."""
    print("| # | channelId | offset s | duration s | expected | s after the first frame | transcript |\n|---|---|---|---|---|---|---|")
    for index, data in enumerate(entities):
        expected = f"{EXPECTED[index][0]} / {EXPECTED[index][1]}" if index < len(EXPECTED) else "-"
        text = data["alternatives"][0]["interpretations"][0]["transcript"]
        print(f"| {index + 1} | {data['channelId']} | {data['offset'][2:-1]} | {data['duration'][2:-1]} | {expected} "
              f"| {data['at']:.2f} | {text} |", flush=True)


def summarise(report: dict) -> tuple[int, int, list[str]]:
    """(passed, run, lines): one line per test, the first line of each failure's message."""
    lines, passed, run = [], 0, 0
    for suite in report["testResults"]:
        for test in suite["assertionResults"]:
            if test["status"] == "pending":  # skipped by the features
                continue
            run += 1
            passed += test["status"] == "passed"
            seconds = (test.get("duration") or 0) / 1000
            lines.append(f"| {test['title']} | {test['status']} | {seconds:.1f} |")
            for message in test.get("failureMessages", []):
                first = next((line.strip() for line in message.splitlines() if line.strip()), "")
                lines.append(f"|   {first[:160]} | | |")
    return passed, run, lines


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="a checkout of github.com/purecloudlabs/audiohook-reference-implementation")
    parser.add_argument("--model", default="tiny.en", help="the ASR worker's --model: tiny.en, base or a directory")
    parser.add_argument("--compute-type", default=None, help="the ASR worker's --compute-type (default: its own)")
    parser.add_argument("--asr-env", action="append", default=[], metavar="NAME=VALUE",
                        help="more environment for the stack, e.g. STREAMSCRIBE_ASR_WINDOW_MARGIN_SEC=full")
    parser.add_argument("--language", default="en-US", help="the open's language in every test")
    parser.add_argument("--runs", type=int, default=1, help="run the suite this many times on one stack")
    parser.add_argument("-t", "--tests", default=None, help="jest -t: only the tests whose name matches")
    parser.add_argument("--replay", type=int, default=0,
                        help="before the suite, make its Transcript Connector call this many times in Python "
                             "and print what came back")
    parser.add_argument("--no-suite", action="store_true", help="only --replay")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the suite and its npm packages go (default: a temporary directory, removed)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audiohook-conformance-"))
    if not args.no_suite:
        prepare(args.reference.resolve(), workdir)
    env = {"STREAMSCRIBE_ASR_MODEL": args.model, "STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET": CLIENT_SECRET,
           # As the service ships (the tests' Stack runs a recording's decodes at nice 0).
           "STREAMSCRIBE_ASR_BATCH_NICE": "19"}
    if args.compute_type:
        env["STREAMSCRIBE_ASR_COMPUTE_TYPE"] = args.compute_type
    for item in args.asr_env:
        name, _, value = item.partition("=")
        env[name] = value
    redis = RedisServer()
    redis.start()
    failures = 0
    try:
        stack = Stack(redis, extra_env=env)
        try:
            url = f"ws://127.0.0.1:{stack.port}/audiohook"
            for index in range(args.replay):
                print(f"# replay {index + 1}: model {args.model}, load average {load_average()}", flush=True)
                show(asyncio.run(replay(url, args.reference / WAV)))
            for index in range(0 if args.no_suite else args.runs):
                load = load_average()
                passed, run, lines = summarise(run_suite(workdir, url, language=args.language, pattern=args.tests))
                print(f"# run {index + 1}: model {args.model}, compute type {args.compute_type or 'default'} "
                      f"{' '.join(args.asr_env)}: "
                      f"{passed} of {run} passed; load average before {load}", flush=True)
                print("| test | status | s |\n|---|---|---|\n" + "\n".join(lines), flush=True)
                failures += run - passed
        finally:
            stack.close()
    finally:
        redis.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

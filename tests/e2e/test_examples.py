"""The clients in examples/ against a real stack: the Node.js client (npm ``ws``) and the Python one.

The Node client is installed from its committed package-lock.json into a temporary
copy (``npm ci``), so the test needs ``node`` and ``npm`` and, once, the npm
registry (or a warm npm cache); it is skipped, saying so, without them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import wave

import pytest

from tests.kit.support import ROOT, free_port, word_errors

TIMEOUT = 120
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def node_client(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Node.js example needs node and npm on the PATH (apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("node-client")
    for name in ("client.js", "package.json", "package-lock.json"):
        shutil.copy(EXAMPLES / "node" / name, folder / name)
    installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=folder,
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    return node, folder / "client.js"


async def run(*command: str, env: dict | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE,
                                                   env=None if env is None else {**os.environ, **env})
    try:
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, stdout.decode(), stderr.decode()


def check_finals(output: str, reference: str) -> None:
    assert "\x1b" not in output and "\r" not in output  # piped: no terminal control codes
    messages = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert messages[0]["type"] == "session_created", messages
    finals = [m for m in messages if m["type"] == "final"]
    assert finals and not [m for m in messages if m["type"] == "error"], messages
    errors, words = word_errors(reference, " ".join(m["text"] for m in finals))
    assert errors / words < 0.35, (reference, finals)


@pytest.mark.e2e
async def test_node_client_transcribes_a_clip(stack, clips, node_client):
    node, script = node_client
    path, reference = clips[0]
    status, stdout, stderr = await run(node, str(script), str(path), "--url", stack.url, "--speed", "8", "--json")
    assert status == 0, (stdout, stderr, stack.logs())
    check_finals(stdout, reference)


@pytest.mark.e2e
async def test_python_client_transcribes_a_file(stack, clips):
    path, reference = clips[1]
    status, stdout, stderr = await run(sys.executable, str(EXAMPLES / "mic_client.py"), "--file", str(path),
                                       "--url", stack.url, "--speed", "8", "--json")
    assert status == 0, (stdout, stderr, stack.logs())
    check_finals(stdout, reference)


def test_html_example_speaks_the_native_protocol():
    page = (EXAMPLES / "index.html").read_text()
    assert len(page.splitlines()) <= 65
    for needle in ("type: 'config'", "encoding: 'float32'", "type: 'close'", "'/ws/asr'".strip("'")):
        assert needle in page, needle


def assert_fails_in_one_line(status: int, stdout: str, stderr: str, needle: str) -> None:
    """Exit 1 with one line on stderr that says ``needle``, nothing on stdout, no control codes."""
    assert status == 1, (status, stdout, stderr)
    assert stdout == "" and len(stderr.strip().splitlines()) == 1 and needle in stderr, (stdout, stderr)
    assert "\x1b" not in stderr and "\r" not in stderr


@pytest.fixture
def no_recorder(tmp_path):
    """A PATH whose only recorder is a ``rec`` that fails as SoX does without a sound card."""
    (tmp_path / "rec").write_text("#!/bin/sh\necho \"rec FAIL formats: can't open input \\`default': "
                                  "snd_pcm_open error: No such file or directory\" >&2\nexit 2\n")
    (tmp_path / "rec").chmod(0o755)
    return {"PATH": str(tmp_path)}


def unused_url() -> str:
    return f"ws://127.0.0.1:{free_port()}/ws/asr"


@pytest.mark.parametrize("case", ["missing file", "not a wav", "bad url", "refused", "no microphone"])
async def test_node_client_fails_with_one_line(node_client, clips, no_recorder, case):
    node, script = node_client
    clip = str(clips[0][0])
    argv, env, needle = {
        "missing file": (["/nonexistent.wav"], None, "no such file"),
        "not a wav": ([str(script)], None, "is not a WAV file"),
        "bad url": ([clip, "--url", "nope"], None, "Invalid URL"),
        "refused": ([clip, "--url", unused_url()], None, "ECONNREFUSED"),
        "no microphone": (["--mic", "--url", unused_url()], no_recorder, "rec failed (2): rec FAIL formats"),
    }[case]
    assert_fails_in_one_line(*await run(node, str(script), *argv, env=env), needle)


@pytest.mark.parametrize("case", ["missing file", "not a wav", "bad url", "refused", "no microphone"])
async def test_python_client_fails_with_one_line(clips, tmp_path, case):
    (tmp_path / "sounddevice.py").write_text(  # as the real one behaves without an input device
        "class PortAudioError(Exception):\n    pass\n\n\n"
        "def query_devices(device=None, kind=None):\n    raise PortAudioError('Error querying device -1')\n")
    clip = str(clips[0][0])
    argv, needle = {
        "missing file": (["--file", "/nonexistent.wav"], "/nonexistent.wav: No such file or directory"),
        "not a wav": (["--file", str(EXAMPLES / "mic_client.py")], "not a WAV file (file does not start with RIFF id)"),
        "bad url": (["--file", clip, "--url", "nope"], "cannot connect to nope"),
        "refused": (["--file", clip, "--url", unused_url()], "cannot connect to ws://127.0.0.1:"),
        "no microphone": (["--url", unused_url()], "no microphone: Error querying device -1"),
    }[case]
    assert_fails_in_one_line(*await run(sys.executable, str(EXAMPLES / "mic_client.py"), *argv,
                               env={"PYTHONPATH": str(tmp_path)}), needle)


def first_line_then_closed(*command: str) -> tuple[int, str, str]:
    """Run ``command`` with its stdout read as ``| head -1`` does: one line, then the pipe closed; (exit
    status, that line, its stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        return process.wait(TIMEOUT), line, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
@pytest.mark.parametrize("client", ["streamscribe_client", "mic_client.py", "node"])
async def test_a_reader_that_goes_away_ends_the_client_quietly(stack, clips, client, request):
    """Issue 32: ``| head`` gave a false "cannot reach" (the package's client), an EPIPE traceback (Node)."""
    clip = str(clips[0][0])
    command = {"streamscribe_client": lambda: [sys.executable, "-m", "streamscribe_client", clip],
               "mic_client.py": lambda: [sys.executable, str(EXAMPLES / "mic_client.py"), "--file", clip],
               "node": lambda: [*map(str, request.getfixturevalue("node_client")), clip]}[client]()
    status, line, stderr = await asyncio.to_thread(first_line_then_closed, *command, "--url", stack.url, "--speed",
                                                   "0", "--json")
    assert json.loads(line)["type"] == "session_created", (line, stderr)
    assert status == 0 and stderr.strip() in ("", "listening; Ctrl-C to stop"), (status, stderr)


def test_mic_client_without_websockets_says_what_to_install(tmp_path):
    # A stand-in package that is not there, as on a Python without websockets installed.
    (tmp_path / "websockets").mkdir()
    (tmp_path / "websockets" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'websockets'\", name='websockets')\n")
    done = subprocess.run([sys.executable, str(EXAMPLES / "mic_client.py"), "--file", "speech.wav"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "this client needs the websockets package: pip install websockets\n"), done


def test_the_sample_clip_is_what_the_clients_stream():
    """examples/speech.wav, for the README's commands: short 16 kHz mono 16-bit PCM, its source credited."""
    with wave.open(str(EXAMPLES / "speech.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert 5 <= wav.getnframes() / 16000 <= 8
    assert (EXAMPLES / "speech.wav").stat().st_size < 300_000
    assert "public domain" in (EXAMPLES / "speech.wav.txt").read_text()

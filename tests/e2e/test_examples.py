"""The clients in examples/ against a real stack: the Node.js client (npm ``ws``) and the Python one.

The Node client is installed from its committed package-lock.json into a temporary
copy (``npm ci``), so the test needs ``node`` and ``npm`` and, once, the npm
registry (or a warm npm cache); it is skipped, saying so, without them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import pytest

from tests.kit.support import ROOT, word_errors

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


async def run(*command: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, stdout.decode(), stderr.decode()


def check_finals(output: str, reference: str) -> None:
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
    assert len(page.splitlines()) <= 60
    for needle in ("type: 'config'", "encoding: 'float32'", "type: 'close'", "'/ws/asr'".strip("'")):
        assert needle in page, needle

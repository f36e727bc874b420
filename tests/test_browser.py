"""The demo page in a real headless Chromium whose microphone plays a LibriVox clip.

Chromium's fake capture device reads a WAV file (``--use-file-for-fake-audio-capture``)
and loops it; the Debian build does not honour a ``%noloop`` suffix. The clip is
therefore written to a temporary WAV with 1 s of silence before it (the device
starts playing at getUserMedia, before the page has connected its WebSocket and
wired the AudioWorklet) and 1.5 s after it (the VAD endpoints, 0.8 s of silence by
default, before the loop starts the clip again). The page captures at the
AudioContext's rate (48 kHz here) and the gateway resamples to 16 kHz.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package.
Without them the test is skipped, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from .support import word_errors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCREENSHOT = Path("/tmp/streamscribe-demo.png")
LEAD_SILENCE = 1.0
TAIL_SILENCE = 1.5
FINAL_TIMEOUT = 90  # clip plays in real time; the first ASR call may load the model
MAX_WER = 0.25


def _find(*candidates: str) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate) or (candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                                            else None)
        if found:
            return found
    return None


def _tools() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skip without them, fail under CI."""
    missing = []
    chromium = _find("chromium", "/usr/bin/chromium", "chromium-browser")
    driver = _find("chromedriver", "/usr/bin/chromedriver")
    if chromium is None:
        missing.append("chromium (Debian package chromium)")
    if driver is None:
        missing.append("chromedriver (Debian package chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (PyPI package selenium)")
    if missing:
        reason = "browser test needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so missing tools are an error)")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def browser_tools():
    return _tools()


@pytest.fixture(scope="module")
def browser_stack(browser_tools, redis_server, stacks):
    return stacks(redis_server)


@pytest.fixture
def capture_wav(clips):
    """The longest clip padded with silence, as 16-bit PCM WAV; yields (path, reference)."""
    path, reference = max(clips, key=lambda clip: soundfile.info(str(clip[0])).frames)
    samples, rate = soundfile.read(str(path), dtype="float32")
    audio = np.concatenate([np.zeros(int(LEAD_SILENCE * rate), np.float32), samples,
                            np.zeros(int(TAIL_SILENCE * rate), np.float32)])
    folder = tempfile.mkdtemp(prefix="ss-mic-")
    try:
        out = Path(folder) / "mic.wav"
        soundfile.write(str(out), audio, rate, subtype="PCM_16")
        yield out, reference
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _processes_using(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` (our unique temp root)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


def _reap(pid: int, grace: float = 5.0) -> None:
    """Wait (bounded, on a pidfd) for one process to exit; SIGKILL it if it does not."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(grace * 1000):
            os.kill(pid, signal.SIGKILL)
            poller.poll(grace * 1000)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


@pytest.fixture
def chrome(browser_tools, capture_wav):
    chromium, chromedriver = browser_tools
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    wav, _ = capture_wav
    # One temp root for everything the browser writes: its profile, and (through the XDG
    # variables) crashpad's database and libpulse's runtime files, which otherwise land in $HOME and /tmp.
    root = tempfile.mkdtemp(prefix="ss-chromium-")
    profile = os.path.join(root, "profile")
    env = {**os.environ}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "runtime")):
        env[var] = os.path.join(root, sub)
        os.mkdir(env[var], 0o700)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--window-size=1100,800",
                f"--use-file-for-fake-audio-capture={wav}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, env=env)
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        service.stop()
        # quit() ends the browser; its detached helpers (crashpad) follow a moment later. Anything
        # still running with our temp root in its command line is ours: wait for it, then kill it.
        for pid in _processes_using(root):
            _reap(pid)
        shutil.rmtree(root, ignore_errors=True)
        assert not _processes_using(root), "chromium processes left behind"


# Records every non-empty text #partial shows; MutationObserver callbacks see each change.
RECORD_PARTIALS = """
window.__partials = [];
const target = document.getElementById("partial");
new MutationObserver(() => {
  const text = target.textContent.trim();
  if (text) window.__partials.push(text);
}).observe(target, {childList: true, characterData: true, subtree: true});
"""


def test_demo_page_transcribes_the_microphone(browser_stack, chrome, capture_wav):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, reference = capture_wav
    began = time.monotonic()
    chrome.get(browser_stack.http + "/")
    assert chrome.title.startswith("streamscribe")
    chrome.execute_script(RECORD_PARTIALS)

    def failed():
        errors = chrome.find_element(By.ID, "errors").text
        status = chrome.find_element(By.ID, "status").text
        return (f"status={status!r} errors={errors!r}\nbrowser log: {chrome.get_log('browser')}\n"
                f"{browser_stack.logs()}")

    def first_final(driver):
        if driver.find_element(By.ID, "errors").text:
            raise AssertionError("page reported an error: " + failed())
        lines = driver.find_elements(By.CSS_SELECTOR, "#finals div.final")
        return lines[0] if lines else False

    chrome.find_element(By.ID, "start").click()
    try:
        WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "status").text.startswith("live"))
        final = WebDriverWait(chrome, FINAL_TIMEOUT, poll_frequency=0.2).until(first_final)
    except Exception as exc:
        raise AssertionError(f"no final transcript: {exc}\n{failed()}") from exc
    first_final_s = time.monotonic() - began

    text = final.find_element(By.CSS_SELECTOR, "span.x").text
    assert final.get_attribute("data-utterance"), "final line has no utterance id"
    errors, words = word_errors(reference, text)
    wer = errors / words
    partials = chrome.execute_script("return window.__partials;")
    print(f"\nbrowser final after {first_final_s:.1f}s: {text!r}\nWER {wer:.1%} ({errors}/{words}); "
          f"{len(partials)} partial updates, e.g. {partials[:3]!r}")
    assert wer <= MAX_WER, f"WER {wer:.1%}: {text!r} vs {reference!r}"
    assert partials, "#partial never showed text before the final"
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "stop").is_enabled()

    chrome.save_screenshot(str(SCREENSHOT))

    chrome.find_element(By.ID, "stop").click()
    WebDriverWait(chrome, 30).until(lambda d: d.find_element(By.ID, "status").text == "closed (1000)",
                                    message="session did not close cleanly")
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "start").is_enabled()
    assert not chrome.find_element(By.ID, "stop").is_enabled()
    severe = [entry for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"
              and "favicon.ico" not in entry["message"]]
    assert not severe, severe

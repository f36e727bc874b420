"""The demo page in a real headless Chromium whose microphone plays a LibriVox clip.

Besides the transcript, the page's debug tools are checked: the level meter and waveform move,
the message log fills (and filters by type), each final shows its latency (end of speech to
final), and the load test runs simulated connections with the page's API key field; the gateway
here requires an API key, so every path of the page must send it.

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
import re
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.kit.support import ROOT, free_port, word_errors

EXAMPLES = ROOT / "examples"

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


API_KEY = "demo-page-key"


@pytest.fixture(scope="module")
def browser_stack(browser_tools, redis_server, stacks):
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEY": API_KEY})


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


# Records every non-empty text #partial shows and every level the meter shows (MutationObserver
# callbacks see each change).
RECORD_PARTIALS = """
window.__partials = [];
window.__levels = [];
const target = document.getElementById("partial");
new MutationObserver(() => {
  const text = target.textContent.trim();
  if (text) window.__partials.push(text);
}).observe(target, {childList: true, characterData: true, subtree: true});
const level = document.getElementById("level");
new MutationObserver(() => {
  const db = parseFloat(level.textContent.replace("\u2212", "-"));
  if (Number.isFinite(db)) window.__levels.push(db);
}).observe(level, {childList: true, characterData: true, subtree: true});
"""

# The waveform canvas: frames drawn, pixels in the ink colour, and a digest of its pixels.
WAVEFORM = """
const canvas = document.getElementById("waveform");
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let inked = 0, digest = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] && data[i] < 100 && data[i + 2] > 150) inked += 1;
  digest = (digest * 31 + data[i] + data[i + 2]) | 0;
}
return {frames: Number(canvas.dataset.frames), inked, digest};
"""


def _log_types(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#log .row')].map((row) => row.dataset.type);")


def _visible_log_types(driver) -> set[str]:
    return set(driver.execute_script(
        "return [...document.querySelectorAll('#log .row')].filter((row) => !row.hidden)"
        ".map((row) => row.dataset.type);"))


def _check_waveform_moves(driver) -> None:
    """Two looks at the canvas some frames apart: more frames drawn, ink on it, pixels changed."""
    from selenium.webdriver.support.ui import WebDriverWait

    first = WebDriverWait(driver, 20).until(lambda d: (lambda w: w if w["inked"] else False)(
        d.execute_script(WAVEFORM)), message="the waveform shows no audio")
    WebDriverWait(driver, 20).until(
        lambda d: (lambda w: w["frames"] >= first["frames"] + 5 and w["digest"] != first["digest"])(
            d.execute_script(WAVEFORM)), message="the waveform does not scroll")


def _check_message_log(driver) -> None:
    """The log holds what went each way; filtering by type shows only that type."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    types = _log_types(driver)
    for expected in ("config", "audio", "session_created", "partial", "final"):
        assert expected in types, f"no {expected!r} row in the message log: {types}"
    audio_row = driver.find_element(By.CSS_SELECTOR, "#log .row[data-type=audio]").text
    assert " B" in audio_row and "audio" in audio_row, audio_row  # sizes, not samples
    assert len(types) <= 500
    select = Select(driver.find_element(By.ID, "log-filter"))
    select.select_by_value("final")
    assert _visible_log_types(driver) == {"final"}
    select.select_by_value("")
    assert _visible_log_types(driver) == set(types)


def test_demo_page_transcribes_the_microphone(browser_stack, chrome, capture_wav):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, reference = capture_wav
    began = time.monotonic()
    chrome.get(browser_stack.http + "/")
    assert chrome.title.startswith("streamscribe")
    chrome.execute_script(RECORD_PARTIALS)
    chrome.find_element(By.ID, "apikey").send_keys(API_KEY)

    def failed():
        errors = chrome.find_element(By.ID, "errors").text
        status = chrome.find_element(By.ID, "status").text
        return (f"status={status!r} errors={errors!r}\nbrowser log: {chrome.get_log('browser')}\n"
                f"{browser_stack.logs()}")

    def clip_finals(driver):
        """The first finals, once they hold about the clip's words: the sentence endpoint may
        split the clip at a pause where the decode there ends in a full stop (seen in CI:
        "... how much there might be." and the rest of the clip in the next final); the clip's
        words follow across its finals. The fake microphone loops the file, so the next finals are the clip again:
        taking them in would only add words."""
        if driver.find_element(By.ID, "errors").text:
            raise AssertionError("page reported an error: " + failed())
        lines = driver.find_elements(By.CSS_SELECTOR, "#finals div.final")
        words = 0
        for count, line in enumerate(lines, 1):
            words += len(line.find_element(By.CSS_SELECTOR, "span.x").text.split())
            if words >= 0.75 * len(reference.split()):
                return lines[:count]
        return False

    chrome.find_element(By.ID, "start").click()
    try:
        WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "status").text.startswith("live"))
        _check_waveform_moves(chrome)
        finals = WebDriverWait(chrome, FINAL_TIMEOUT, poll_frequency=0.2).until(clip_finals)
    except Exception as exc:
        raise AssertionError(f"no final transcript: {exc}\n{failed()}") from exc
    first_final_s = time.monotonic() - began

    final = finals[0]
    text = " ".join(line.find_element(By.CSS_SELECTOR, "span.x").text for line in finals)
    assert final.get_attribute("data-utterance"), "final line has no utterance id"
    errors, words = word_errors(reference, text)
    wer = errors / words
    partials = chrome.execute_script("return window.__partials;")
    levels = chrome.execute_script("return window.__levels;")
    latency_ms = int(final.get_attribute("data-latency-ms"))
    summary = chrome.find_element(By.ID, "latency").text
    print(f"\nbrowser finals ({len(finals)}) after {first_final_s:.1f}s: {text!r}\nWER {wer:.1%} ({errors}/{words}); "
          f"{len(partials)} partial updates, e.g. {partials[:3]!r}\n"
          f"latency end of speech -> final {latency_ms} ms; {summary!r}; level max {max(levels):.0f} dBFS")
    assert wer <= MAX_WER, f"WER {wer:.1%}: {text!r} vs {reference!r}"
    assert partials, "#partial never showed text before the final"
    assert max(levels) > -40 and min(levels) < max(levels), f"the level meter did not follow the speech: {levels}"
    assert latency_ms > 0 and final.find_element(By.CSS_SELECTOR, "span.lat").text == f"latency {latency_ms} ms"
    assert "p50" in summary and "p95" in summary and f"last {latency_ms} ms" in summary, summary
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "stop").is_enabled()

    chrome.save_screenshot(str(SCREENSHOT))

    chrome.find_element(By.ID, "stop").click()
    WebDriverWait(chrome, 30).until(lambda d: d.find_element(By.ID, "status").text == "closed (1000)",
                                    message="session did not close cleanly")
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "start").is_enabled()
    assert not chrome.find_element(By.ID, "stop").is_enabled()
    _check_message_log(chrome)
    severe = [entry for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"
              and "favicon.ico" not in entry["message"]]
    assert not severe, severe


LOAD_TIMEOUT = 240  # three sessions at once on a loaded CPU box, each clip in real time


def _run_load_test(driver, connections: int) -> dict:
    """Start the page's load test and wait (bounded) until every connection has ended."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    field = driver.find_element(By.ID, "load-n")
    field.clear()
    field.send_keys(str(connections))
    driver.find_element(By.ID, "load-start").click()
    summary = driver.find_element(By.ID, "load-summary")
    WebDriverWait(driver, LOAD_TIMEOUT, poll_frequency=0.5).until(
        lambda d: summary.get_attribute("data-state") == "done", message=f"load test unfinished: {summary.text}")
    return {"ok": int(summary.get_attribute("data-ok")), "failed": int(summary.get_attribute("data-failed")),
            "finals": int(summary.get_attribute("data-finals")), "text": summary.text}


def file_clip(clips):
    """The clip the file tests stream in real time: the shortest of 4-8 s (5.3 s; the first one,
    7.1 s, made each of them about 2 s longer)."""
    return min((clip for clip in clips if 4 <= soundfile.info(str(clip[0])).duration <= 8),
               key=lambda clip: soundfile.info(str(clip[0])).duration)


def test_demo_load_test_streams_a_file_over_simulated_connections(browser_stack, chrome, clips):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    path, _ = file_clip(clips)
    chrome.get(browser_stack.http + "/")
    chrome.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "file-info").text.endswith(" s"),
                                    message="the file was not decoded")
    assert path.name in chrome.find_element(By.ID, "file-info").text
    source = Select(chrome.find_element(By.ID, "load-source"))
    assert source.first_selected_option.get_attribute("value") == "file", "a loaded file is the load test's source"

    # Without the API key every connection is refused at the handshake: the load test uses the field.
    refused = _run_load_test(chrome, 2)
    assert (refused["ok"], refused["failed"]) == (0, 2), refused["text"]

    chrome.find_element(By.ID, "apikey").send_keys(API_KEY)
    result = _run_load_test(chrome, 3)
    print(f"\nload test: {result['text']}")
    assert (result["ok"], result["failed"]) == (3, 0), result["text"] + "\n" + browser_stack.logs()
    assert result["finals"] >= 3, result["text"]
    assert re.search(r"latency p50 \d+ ms · p95 \d+ ms", result["text"]), result["text"]
    assert chrome.find_element(By.ID, "load-start").is_enabled()
    log_notes = chrome.execute_script(
        "return [...document.querySelectorAll('#log .row[data-type=load]')].map((row) => row.textContent);")
    assert any("done: 3 sessions" in note for note in log_notes), log_notes
    severe = [entry for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"
              and "favicon.ico" not in entry["message"] and "HTTP Authentication failed" not in entry["message"]]
    assert not severe, severe


def test_demo_streams_a_file_at_real_time(browser_stack, chrome, clips):
    """The file input: the clip is decoded by the browser, drawn as it is sent, and transcribed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path, reference = file_clip(clips)
    chrome.get(browser_stack.http + "/")
    chrome.find_element(By.ID, "apikey").send_keys(API_KEY)
    chrome.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "stream-file").is_enabled(),
                                    message="the file was not decoded")
    chrome.find_element(By.ID, "stream-file").click()
    _check_waveform_moves(chrome)
    status = chrome.find_element(By.ID, "status")
    WebDriverWait(chrome, FINAL_TIMEOUT, poll_frequency=0.2).until(
        lambda d: status.text.startswith("closed"), message=f"the file's session did not end: {status.text}")
    assert status.text == "closed (1000)", f"{status.text}\n{browser_stack.logs()}"
    finals = chrome.find_elements(By.CSS_SELECTOR, "#finals div.final")
    text = " ".join(final.find_element(By.CSS_SELECTOR, "span.x").text for final in finals)
    errors, words = word_errors(reference, text)
    assert errors / words <= MAX_WER, f"{text!r} vs {reference!r}"
    assert all(int(final.get_attribute("data-latency-ms")) > 0 for final in finals)
    assert "config" in _log_types(chrome) and "close" in _log_types(chrome)


def test_pages_say_why_a_connection_was_refused(browser_stack, chrome):
    """Browsers hide a refused handshake's HTTP status: the demo page asks the gateway over HTTP; the
    minimal example, on another origin, tells a refusal (origin or key) from a server out of reach."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(browser_stack.http + "/")
    chrome.find_element(By.ID, "apikey").send_keys("not-the-key")
    chrome.find_element(By.ID, "start").click()
    errors = chrome.find_element(By.ID, "errors")
    WebDriverWait(chrome, 20).until(lambda d: errors.text, message="the demo page said nothing")
    assert errors.text.startswith("the gateway refused the connection (HTTP 401): the API key is not valid"), \
        errors.text

    chrome.get((EXAMPLES / "index.html").as_uri())  # origin "null": not allowed by the gateway
    partial = chrome.find_element(By.ID, "partial")
    for url, expected in ((browser_stack.url, "the server refused the connection: check the API key (?token=KEY), "
                                              "or start the gateway with --allowed-origins null"),
                          (f"ws://127.0.0.1:{free_port()}/ws/asr", "cannot reach 127.0.0.1:")):
        field = chrome.find_element(By.ID, "url")
        field.clear()
        field.send_keys(url)
        chrome.execute_script("document.getElementById('partial').textContent = '';")
        WebDriverWait(chrome, 10).until(lambda d: d.find_element(By.ID, "start").is_enabled())
        chrome.find_element(By.ID, "start").click()
        WebDriverWait(chrome, 20).until(lambda d: partial.text, message=f"the example said nothing about {url}")
        assert partial.text.startswith(expected), partial.text


def test_demo_page_fits_a_phone_has_an_icon_and_gives_the_transcript(browser_stack, chrome, tmp_path):
    """Issue 32: at 390 px the page scrolled sideways, the transcript could be neither copied nor
    downloaded, and the page had no icon."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    chrome.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    chrome.get(browser_stack.http + "/")
    scroll, client = chrome.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert client == 390 and scroll <= client, (scroll, client)
    assert chrome.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href").startswith(
        "data:image/svg+xml")
    copy, download = chrome.find_element(By.ID, "copy"), chrome.find_element(By.ID, "download")
    assert not copy.is_enabled() and not download.is_enabled()  # nothing to give yet
    for start, end, text in ((500, 2100, "Hello, Norland."), (3000, 4200, "Naïve café ✓")):
        chrome.execute_script("onMessage(arguments[0], NaN)", {"type": "final", "start_ms": start, "end_ms": end,
                                                                "text": text, "utterance_id": f"u{start}"})
    expected = "0.5s–2.1s  Hello, Norland.\n3.0s–4.2s  Naïve café ✓\n"
    assert chrome.execute_script("return transcriptText()") == expected
    download.click()
    WebDriverWait(chrome, 20).until(lambda d: [p for p in tmp_path.glob("transcript-*.txt")],
                                    message="no transcript downloaded")
    [saved] = tmp_path.glob("transcript-*.txt")
    assert saved.read_text(encoding="utf-8") == expected
    # http://127.0.0.1 is a secure context; headless Chrome asks no one, so the test grants the clipboard.
    chrome.execute_cdp_cmd("Browser.grantPermissions", {"origin": browser_stack.http,
                                                        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    copy.click()
    WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "copied").text, message="copy said nothing")
    assert chrome.find_element(By.ID, "copied").text == "copied"
    assert chrome.execute_async_script("navigator.clipboard.readText().then(arguments[0])") == expected

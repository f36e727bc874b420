"""The demo page in a real headless Chromium whose microphone plays a LibriVox clip.

Besides the transcript, the page's debug tools are checked: the level meter and waveform move,
the message log fills (and filters by type), each final shows its latency (end of speech to
final), and the load test runs simulated connections with the page's API key field; the gateway
here requires an API key, so every path of the page must send it. With "Call analytics" ticked,
the page draws each party's timeline and the call's figures (a clip, a stereo two-party call, and
made-up events at 390 px).

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
ANALYTICS_SCREENSHOTS = Path("/tmp/streamscribe-analytics-{}.png")  # to look at; not checked
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
    # The product's partial cadence (tests.kit.stack slows it for the rest of the suite): the page's
    # partials are what these tests watch.
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEY": API_KEY, "STREAMSCRIBE_ASR_CHUNK_SIZE_SEC": "1"})


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

    chrome.find_element(By.ID, "analytics").click()  # the timeline's axis is checked at the end
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
    # The summary's "last" is the newest final's, and the looping microphone may have added one
    # since `finals` was read (seen in CI: 2 finals, "last" the second's): read both at once.
    summary, newest_ms = chrome.execute_script(
        "const timed = document.querySelectorAll('#finals div.final[data-latency-ms]');"
        "return [document.getElementById('latency').innerText, timed[timed.length - 1].dataset.latencyMs];")
    print(f"\nbrowser finals ({len(finals)}) after {first_final_s:.1f}s: {text!r}\nWER {wer:.1%} ({errors}/{words}); "
          f"{len(partials)} partial updates, e.g. {partials[:3]!r}\n"
          f"latency end of speech -> final {latency_ms} ms; {summary!r}; level max {max(levels):.0f} dBFS")
    assert wer <= MAX_WER, f"WER {wer:.1%}: {text!r} vs {reference!r}"
    assert partials, "#partial never showed text before the final"
    assert max(levels) > -40 and min(levels) < max(levels), f"the level meter did not follow the speech: {levels}"
    assert latency_ms > 0 and final.find_element(By.CSS_SELECTOR, "span.lat").text == f"latency {latency_ms} ms"
    assert "p50" in summary and "p95" in summary and f"last {newest_ms} ms" in summary, summary
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "stop").is_enabled()

    chrome.save_screenshot(str(SCREENSHOT))

    # Stop, then 3 s of the frames a stopped track's source still gives a real browser (silence) while
    # the last results come; headless Chromium's fake device gives none.
    still_open = chrome.execute_script(
        "document.getElementById('stop').click(); const open = Boolean(main && main.isOpen);"
        "for (let i = 0; i < 30; i++) onMicFrame(new Float32Array(4800), 48000); return open;")
    assert still_open, "the call closed at once: the frames after Stop were not tried"
    WebDriverWait(chrome, 30).until(lambda d: d.find_element(By.ID, "status").text == "closed (1000)",
                                    message="session did not close cleanly")
    assert chrome.find_element(By.ID, "errors").text == ""
    assert chrome.find_element(By.ID, "start").is_enabled()
    assert not chrome.find_element(By.ID, "stop").is_enabled()
    _check_message_log(chrome)
    # Issue 45: the microphone's audio went on after the close (while the last results came), and the
    # timeline's axis with it (35 s for a 20 s call). Nothing is sent after the close; the axis ends
    # with the call.
    WebDriverWait(chrome, 10).until(
        lambda d: d.find_element(By.ID, "analytics-summary").get_attribute("data-state") == "done",
        message="no summary shown after the call ended")
    sent = chrome.execute_script("return [...document.querySelectorAll('#log .row.out')].map((r) => r.dataset.type);")
    assert "close" in sent and "audio" not in sent[sent.index("close"):], sent
    axis_ms, call_ms = chrome.execute_script("return [Number(document.getElementById('timeline').dataset.totalMs),"
                                             " tl.summary.duration_ms];")
    assert axis_ms == max(1000, call_ms), (axis_ms, call_ms)
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


def _timeline(driver) -> dict:
    """What the timeline drew: talk spans per channel, overtalk, alerts, phrase hits; the page's width.

    Read in an animation frame: the page draws events in the next frame (scheduleTimeline), whose
    callback, asked for first, has run by then (read at once, a loaded CI box found nothing drawn)."""
    return driver.execute_async_script("""
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => {
  const svg = document.getElementById("timeline"), count = (s) => svg.querySelectorAll(s).length;
  const talk = {};
  for (const r of svg.querySelectorAll("rect.talk")) talk[r.dataset.channel] = (talk[r.dataset.channel] || 0) + 1;
  done({talk, overtalk: count("rect.overtalk"), alerts: count("path.alert"), phrases: count("path.phrase"),
        interruptions: count("rect.interruption"), width: svg.getBoundingClientRect().width,
        scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth});
});""")


def _figures(driver) -> dict[str, str]:
    """The summary's figures by key: the call's (#analytics-summary .figures) and channel 0's card."""
    return driver.execute_script("""
const out = {};
for (const item of document.querySelectorAll("#analytics-summary .figures [data-figure]"))
  out[item.dataset.figure] = item.querySelector("dd").textContent.replace(/\u00a0/g, " ");
for (const dd of document.querySelectorAll("#analytics-summary .party[data-channel='0'] dd"))
  out["0." + dd.dataset.figure] = dd.textContent;
return out;""")


def _sent_configs(driver) -> list[str]:
    """The message log's rows of configs the page sent."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#log .row[data-type=config]')].map((row) => row.textContent);")


def _await_summary(driver, stack) -> None:
    """Wait (bounded) for the streamed file's call to close cleanly and its summary to show."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    status = driver.find_element(By.ID, "status")
    WebDriverWait(driver, FINAL_TIMEOUT, poll_frequency=0.2).until(
        lambda d: status.text.startswith("closed"), message=f"the call did not end: {status.text}")
    assert status.text == "closed (1000)", f"{status.text}\n{stack.logs()}"
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "analytics-summary").get_attribute("data-state") == "done",
        message="no summary shown after the call ended")


def test_demo_draws_the_call_analytics_of_a_streamed_file(browser_stack, chrome, clips):
    """Issue 31: with "Call analytics" ticked the page asks for analytics, draws channel 0's talk as the
    events come, marks a phrase it was given (two words the clip starts with: a recogniser that
    misses them fails this test, which says so), and shows the summary's figures when the call ends."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path, reference = file_clip(clips)
    phrase = " ".join(reference.split()[:2])
    chrome.get(browser_stack.http + "/")
    assert not chrome.find_element(By.ID, "analytics").is_selected(), "analytics is opt-in"
    assert not chrome.find_element(By.ID, "analytics-panel").is_displayed()
    chrome.find_element(By.ID, "apikey").send_keys(API_KEY)
    chrome.find_element(By.ID, "analytics").click()
    chrome.find_element(By.ID, "phrases").send_keys(phrase)
    chrome.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "stream-file").is_enabled(),
                                    message="the file was not decoded")
    chrome.find_element(By.ID, "stream-file").click()
    assert chrome.find_element(By.ID, "analytics-panel").is_displayed()
    WebDriverWait(chrome, FINAL_TIMEOUT, poll_frequency=0.2).until(
        lambda d: _timeline(d)["talk"].get("0"),
        message=f"no talk span drawn while the call went on\n{browser_stack.logs()}")
    _await_summary(chrome, browser_stack)
    configs = _sent_configs(chrome)
    assert any(f'"analytics":{{"phrases":["{phrase}"]}}' in row for row in configs), configs

    drawn = _timeline(chrome)
    figures = _figures(chrome)
    print(f"\ntimeline: {drawn}\nfigures: {figures}")
    assert drawn["talk"].get("0", 0) >= 1 and set(drawn["talk"]) == {"0"}, drawn
    assert drawn["phrases"] >= 1, f"the phrase {phrase!r} was not marked: {chrome.find_element(By.ID, 'finals').text}"
    assert drawn["overtalk"] == 0 and drawn["interruptions"] == 0, drawn  # one party cannot talk over itself
    assert re.fullmatch(r"\d+ %", figures["0.talk_share"]) and int(figures["0.talk_share"][:-2]) > 30, figures
    assert re.fullmatch(r"\d+", figures["0.wpm"]) and 60 <= int(figures["0.wpm"]) <= 400, figures
    assert re.fullmatch(r"(positive|neutral|negative) \(-?\d\.\d\d\)", figures["sentiment"]), figures
    assert figures["overtalk"] == "0.0 s · 0 %" and figures["interruptions"] == "0", figures
    assert figures["phrases"] == str(drawn["phrases"]), figures
    spans = chrome.find_elements(By.CSS_SELECTOR, "#timeline rect.talk")
    assert all(span.get_attribute("aria-label").startswith(tuple("0123456789")) for span in spans)
    assert "channel 0 talks" in spans[0].get_attribute("aria-label"), spans[0].get_attribute("aria-label")
    events = chrome.find_element(By.ID, "timeline-events").get_attribute("textContent")
    assert "channel 0 talks" in events and "end of call" in events, events
    assert drawn["scroll"] <= drawn["client"], drawn
    chrome.execute_script("document.getElementById('analytics-panel').scrollIntoView()")
    chrome.save_screenshot(str(ANALYTICS_SCREENSHOTS).format("file"))


# Two parties as the gateway would report them: an overlap with an interruption, a phrase, dead air,
# a loud utterance, and a summary. Drawn without a call, so the page's layout is checked exactly.
TWO_PARTIES = [
    {"event": "utterance", "channel": 0, "utterance_id": "a", "start_ms": 400, "end_ms": 4200, "words": 12,
     "wpm": 189.5, "level_dbfs": -21.3, "sentiment": "positive", "sentiment_score": 0.44},
    {"event": "utterance", "channel": 1, "utterance_id": "b", "start_ms": 3600, "end_ms": 7400, "words": 10,
     "wpm": 158.0, "level_dbfs": -18.2, "sentiment": "neutral", "sentiment_score": 0.0},
    {"event": "interruption", "by": 1, "of": 0, "at_ms": 3600, "duration_ms": 600},
    {"event": "phrase", "phrase": "speak to a manager", "channel": 1, "start_ms": 5200, "end_ms": 6300,
     "confidence": 0.91, "utterance_id": "b"},
    {"event": "alert", "id": "dead_air-1", "alert": "dead_air", "start_ms": 7400, "duration_ms": 4100, "threshold": 3},
    {"event": "utterance", "channel": 0, "utterance_id": "c", "start_ms": 11500, "end_ms": 15800, "words": 15,
     "wpm": 209.3, "level_dbfs": -9.1, "sentiment": "negative", "sentiment_score": -0.52},
    {"event": "alert", "id": "loud-1", "alert": "loud", "channel": 0, "start_ms": 11500, "duration_ms": 4300, "threshold": -10,
     "value": -9.1},
]


def _party(channel: int, talk_ms: int, **extra) -> dict:
    return {"channel": channel, "party": None, "talk_ms": talk_ms, "talk_ratio": round(talk_ms / 16000, 4),
            "utterances": 1, "words": 10, "wpm": 150.0, "level_dbfs": -20.0, "longest_monologue_ms": talk_ms,
            "interrupted_others": 0, "interrupted_by_others": 0, "response_ms": {"count": 0, "mean": None, "max": None},
            "sentiment": {"sentiment": "neutral", "sentiment_score": 0.0}, **extra}


SUMMARY = {"duration_ms": 16000, "talk_ms": 11300, "non_talk_ms": 4700, "non_talk_ratio": 0.2938,
           "overtalk_ms": 600, "overtalk_ratio": 0.0375,
           "parties": [_party(0, 8100, interrupted_by_others=1), _party(1, 3800, interrupted_others=1)],
           "interruptions": {"count": 1, "items": []}, "dead_air": {"count": 1, "longest_ms": 4100},
           "alerts": {"dead_air": 1, "overtalk": 0, "fast": 0, "loud": 1}, "phrases": {"count": 1, "items": []},
           "thresholds": {}, "sentiment": {"sentiment": "neutral", "sentiment_score": 0.01}}


def test_demo_timeline_of_two_parties_fits_a_phone_and_takes_the_keyboard(browser_stack, chrome):
    """At 390 px the timeline and the figures fit without sideways scroll; overtalk is drawn where two
    lanes' spans overlap; alerts, phrases and interruptions are marks a keyboard reaches, and a focused
    mark's description shows in #timeline-tip (for touch and keyboard: an SVG title shows only on hover)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    chrome.get(browser_stack.http + "/")
    chrome.execute_script("resetTimeline(true, 2);"
                          "for (const e of arguments[0]) onMessage({type: 'analytics', session_id: 's', ...e});",
                          TWO_PARTIES)
    drawn = _timeline(chrome)
    assert drawn["talk"] == {"0": 2, "1": 1}, drawn
    assert (drawn["overtalk"], drawn["alerts"], drawn["phrases"], drawn["interruptions"]) == (1, 2, 1, 1), drawn
    assert drawn["width"] <= 390 and drawn["scroll"] <= drawn["client"] == 390, drawn
    overtalk = chrome.find_element(By.CSS_SELECTOR, "#timeline rect.overtalk").get_attribute("aria-label")
    assert overtalk == "overtalk 3.6 s–4.2 s (0.6 s)", overtalk

    alert = chrome.find_element(By.CSS_SELECTOR, "#timeline path.alert[data-alert=dead_air]")
    assert alert.get_attribute("tabindex") == "0"
    assert alert.find_element(By.TAG_NAME, "title").get_attribute("textContent") == \
        "alert at 7.4 s: dead air for 4.1 s (threshold 3)"
    chrome.execute_script("arguments[0].focus()", alert)
    assert chrome.find_element(By.ID, "timeline-tip").text == "alert at 7.4 s: dead air for 4.1 s (threshold 3)"
    chrome.switch_to.active_element.send_keys(Keys.TAB)  # the next mark takes the focus
    focused = chrome.switch_to.active_element.get_attribute("aria-label")
    assert focused and focused != alert.get_attribute("aria-label")
    assert chrome.find_element(By.ID, "timeline-tip").text == focused

    chrome.execute_script("onMessage({type: 'analytics_summary', session_id: 's', summary: arguments[0]})", SUMMARY)
    figures = _figures(chrome)
    assert figures["overtalk"] == "0.6 s · 4 %" and figures["interruptions"] == "1", figures
    assert figures["0.talk_share"] == "51 %" and figures["0.interruptions"] == "0 / 1", figures
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#analytics-summary .party")) == 2
    rows = _figure_rows(chrome)
    assert sum(rows) == 9 and min(rows) >= max(rows) - 1, rows  # no figure alone on a row
    scroll, client = chrome.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client == 390, (scroll, client)
    chrome.execute_script("document.getElementById('analytics-panel').scrollIntoView()")
    chrome.save_screenshot(str(ANALYTICS_SCREENSHOTS).format("phone"))


def _figure_rows(driver) -> list[int]:
    """How many of the call's figures each row of #analytics-summary .figures holds, top to bottom."""
    tops = driver.execute_script("return [...document.querySelectorAll('#analytics-summary .figures > div')]"
                                 ".map((item) => Math.round(item.getBoundingClientRect().top));")
    return [tops.count(top) for top in sorted(set(tops))]


def test_demo_legend_figures_and_notices_at_a_laptops_width(browser_stack, chrome):
    """Issue 45 at 1366 px: the legend shows each alert kind's own marker (the timeline's triangle in its
    colour, not one amber square); the call's figures fit one row, or rows filled evenly (never one
    figure alone on a row); a non-fatal error is a notice that clears, not a red error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    chrome.get(browser_stack.http + "/")
    chrome.execute_script("resetTimeline(true, 2);"
                          "for (const e of arguments[0]) onMessage({type: 'analytics', session_id: 's', ...e});",
                          TWO_PARTIES)
    _timeline(chrome)  # drawn
    legend = chrome.execute_script("""
const out = {};
for (const item of document.querySelectorAll('#analytics-panel .legend li[data-alert]')) {
  const path = item.querySelector('svg path');
  out[item.dataset.alert] = {fill: path.getAttribute('fill'), d: path.getAttribute('d'), text: item.textContent};
}
return out;""")
    assert sorted(legend) == ["dead_air", "fast", "loud", "overtalk"], legend
    assert len({entry["fill"] for entry in legend.values()}) == 4, legend  # a colour each
    drawn = chrome.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#timeline path.alert')]"
        ".map((p) => [p.dataset.alert, [p.getAttribute('fill'), p.getAttribute('d')]]));")
    assert set(drawn) == {"dead_air", "loud"}, drawn
    for kind, (fill, shape) in drawn.items():  # the same colour and the same triangle as on the timeline
        assert legend[kind]["fill"] == fill and shape.endswith("h14l-7 12z") and \
            legend[kind]["d"].endswith("h14l-7 12z"), (kind, legend[kind], fill, shape)
    assert legend["dead_air"]["text"] == "alert: dead air" and legend["fast"]["text"] == "alert: talking fast"
    assert not chrome.find_elements(By.XPATH, "//ul[@class='legend']/li[normalize-space()='alert']")

    without_sentiment = {key: value for key, value in SUMMARY.items() if key != "sentiment"}
    chrome.execute_script("onMessage({type: 'analytics_summary', session_id: 's', summary: arguments[0]})",
                          without_sentiment)
    assert _figure_rows(chrome) == [8], _figure_rows(chrome)  # Phrases on the row of the others
    chrome.execute_script("onMessage({type: 'analytics_summary', session_id: 's', summary: arguments[0]})", SUMMARY)
    rows = _figure_rows(chrome)
    assert sum(rows) == 9 and min(rows) >= max(rows) - 1, rows
    chrome.execute_script("document.getElementById('analytics-panel').scrollIntoView()")
    chrome.save_screenshot(str(ANALYTICS_SCREENSHOTS).format("1366"))

    chrome.execute_script("onMessage({type: 'error', code: 'bad_audio', message: 'pcm16 frame of 321 bytes has "
                          "an odd byte count', fatal: false})")
    notice = chrome.find_element(By.ID, "notice")
    assert notice.text == "bad_audio: pcm16 frame of 321 bytes has an odd byte count", notice.text
    assert chrome.find_element(By.ID, "errors").text == ""
    assert notice.value_of_css_property("color") != chrome.find_element(By.ID, "errors").value_of_css_property("color")
    WebDriverWait(chrome, 30).until(lambda d: notice.text == "", message="the notice stayed")
    chrome.execute_script("onMessage({type: 'error', code: 'session_lost', message: 'the service lost the "
                          "session', fatal: true})")
    assert chrome.find_element(By.ID, "errors").text == "session_lost: the service lost the session"
    assert notice.text == ""


@pytest.fixture
def stereo_call(clips, tmp_path):
    """A two-party call as a stereo WAV: the 5.3 s clip on the left from 0 s, the 3.0 s clip on the
    right from 3.0 s (it cuts in, about 2 s of both speaking), 1 s of silence after."""
    by_length = sorted(clips, key=lambda clip: soundfile.info(str(clip[0])).duration)
    left = file_clip(clips)
    right = next(clip for clip in by_length if clip is not left)
    first, rate = soundfile.read(str(left[0]), dtype="float32")
    second, _ = soundfile.read(str(right[0]), dtype="float32")
    cut_in = int(3.0 * rate)
    tracks = np.zeros((max(len(first), cut_in + len(second)) + rate, 2), np.float32)
    tracks[:len(first), 0] = first
    tracks[cut_in:cut_in + len(second), 1] = second
    out = tmp_path / "call.wav"
    soundfile.write(str(out), tracks, rate, subtype="PCM_16")
    return out


def test_demo_streams_a_stereo_call_as_two_parties(browser_stack, chrome, stereo_call):
    """A stereo file with "a party per channel": two lanes of real speech, their overlap drawn as
    overtalk, the cut-in as an interruption, and both parties' figures."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(browser_stack.http + "/")
    chrome.find_element(By.ID, "apikey").send_keys(API_KEY)
    chrome.find_element(By.ID, "analytics").click()
    assert not chrome.find_element(By.ID, "split").is_enabled(), "no file, nothing to split"
    chrome.find_element(By.ID, "file").send_keys(str(stereo_call))
    WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "split").is_enabled(),
                                    message="the stereo file was not decoded")
    assert "2 channels" in chrome.find_element(By.ID, "file-info").text
    chrome.find_element(By.ID, "split").click()
    chrome.find_element(By.ID, "stream-file").click()
    _await_summary(chrome, browser_stack)
    configs = _sent_configs(chrome)
    assert any('"channels":2' in row and '"analytics":true' in row for row in configs), configs
    channels = {line.get_attribute("data-channel") for line in chrome.find_elements(By.CSS_SELECTOR, "#finals .final")}
    assert channels == {"0", "1"}, channels

    drawn = _timeline(chrome)
    figures = _figures(chrome)
    print(f"\ntimeline: {drawn}\nfigures: {figures}")
    assert drawn["talk"].get("0", 0) >= 1 and drawn["talk"].get("1", 0) >= 1, drawn
    assert drawn["overtalk"] >= 1 and drawn["interruptions"] >= 1, drawn
    assert figures["interruptions"] != "0" and not figures["overtalk"].startswith("0.0 s"), figures
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#analytics-summary .party")) == 2
    chrome.execute_script("document.getElementById('analytics-panel').scrollIntoView()")
    chrome.save_screenshot(str(ANALYTICS_SCREENSHOTS).format("stereo"))

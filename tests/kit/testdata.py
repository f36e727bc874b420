"""Find the LibriVox test clips: ``../shared/testdata`` or the PocketSphinx sources.

The clips are not copied into the project. Next to a checkout made by the
project's developers they are in ``../shared/testdata/librivox``; anyone else
gets the same files from the PocketSphinx 5.1.1 source distribution on PyPI,
downloaded once with pip and cached outside the source tree.
"""

from __future__ import annotations

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
CACHE = Path(os.environ.get("STREAMSCRIBE_TESTDATA_CACHE", Path.home() / ".cache" / "streamscribe" / "testdata"))
POCKETSPHINX = "pocketsphinx==5.1.1"


def librivox_dir() -> Path:
    if SHARED.is_dir() and any(SHARED.glob("*.wav")):
        return SHARED
    target = CACHE / "librivox"
    if not any(target.glob("*.wav")):
        _extract(target)
    return target


def _extract(target: Path) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    archives = list(CACHE.glob("pocketsphinx-5.1.1.tar.gz"))
    if not archives:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", str(CACHE), POCKETSPHINX], check=True, capture_output=True)
        archives = list(CACHE.glob("pocketsphinx-5.1.1.tar.gz"))
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():
            if re.search(r"/test/data/librivox/[^/]+\.(wav|txt)$", member.name) or member.name.endswith("/LICENSE"):
                member.name = Path(member.name).name if not member.name.endswith("/LICENSE") else "LICENSE.pocketsphinx"
                archive.extract(member, target, filter="data")


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


AGENT_LINE = "thank you for calling the billing department how can i help you today"


def synthetic_voice(text: str = AGENT_LINE, *, voice: str = "en-us") -> tuple:
    """(float32 samples at 16 kHz, reference) of ``text`` spoken by Debian's ``espeak-ng``.

    A second, clearly different speaker for two-party calls: the LibriVox clips are all
    read by one person.
    """
    import numpy as np
    import soundfile
    import soxr

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="ss-voice-") as folder:
        path = Path(folder) / "voice.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True,
                       capture_output=True)
        samples, rate = soundfile.read(str(path), dtype="float32")
    return soxr.resample(samples, rate, 16000).astype(np.float32), text

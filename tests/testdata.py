"""Find the LibriVox test clips: ``../shared/testdata`` or the PocketSphinx sources.

The clips are not copied into the project. Next to a checkout made by the
project's developers they are in ``../shared/testdata/librivox``; anyone else
gets the same files from the PocketSphinx 5.1.1 source distribution on PyPI,
downloaded once with pip and cached outside the source tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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

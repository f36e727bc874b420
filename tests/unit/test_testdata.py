"""tests/kit/testdata.py: the LibriVox clips are downloaded once, whatever the number of test processes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.kit import testdata


def test_test_processes_that_start_together_download_the_clips_once(tmp_path, monkeypatch):
    """Issue 32: three pytest-xdist workers each announced and ran the 34 MB download. The file lock
    serialises them; each open file of it is a lock of its own, so threads show it as processes would."""
    monkeypatch.setattr(testdata, "SHARED", tmp_path / "no-shared-testdata")
    monkeypatch.setenv("STREAMSCRIBE_TESTDATA_CACHE", str(tmp_path / "cache"))
    fetches, waiting, all_fetching = [], threading.Barrier(3), threading.Event()

    def fetch(target):
        fetches.append(target)
        if len(fetches) == 3:
            all_fetching.set()
        # Unlocked, the three fetch at once and this lets them all get here; locked, the wait runs out.
        all_fetching.wait(1)
        target.mkdir(parents=True, exist_ok=True)
        (target / "clip.wav").write_bytes(b"RIFF")

    monkeypatch.setattr(testdata, "_fetch", fetch)

    def find():
        waiting.wait(10)  # all three ask at once
        return testdata.librivox_dir()

    with ThreadPoolExecutor(3) as pool:
        found = list(pool.map(lambda _: find(), range(3)))
    assert len(fetches) == 1 and found == [fetches[0]] * 3

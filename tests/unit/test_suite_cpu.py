"""The suite's CPU profile: process kinds and the sums that bench.suite_cpu prints."""

from tests.kit.cpu_profile import kind_of, summarise


def test_kinds_of_processes():
    assert kind_of("/x/.venv/bin/python -m asr_worker --http-port 1") == "asr_worker"
    assert kind_of("/x/python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)") == "spawn"
    assert kind_of("redis-server 127.0.0.1:6380") == "redis-server"
    assert kind_of("/usr/lib/chromium/chromium --type=renderer") == "chromium"
    assert kind_of("/usr/bin/espeak-ng -v en-us -w out.wav") == "espeak-ng"
    assert kind_of("/opt/tool --flag") == "tool"


def test_summarise_by_kind_and_file():
    by_kind, by_file = summarise([
        {"file": "a.py", "kind": "gateway", "cpu_s": 1.5},
        {"file": "a.py", "kind": "asr_worker", "cpu_s": 3.0},
        {"file": "b.py", "kind": "gateway", "cpu_s": 0.5},
    ])
    assert by_kind == {"gateway": 2.0, "asr_worker": 3.0}
    assert by_file["a.py"] == {"gateway": 1.5, "asr_worker": 3.0}
    assert sum(by_file["b.py"].values()) == 0.5

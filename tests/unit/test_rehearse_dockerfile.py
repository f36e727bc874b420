"""deploy/rehearse_dockerfile.py's reading of the Dockerfile and of .dockerignore (no build here:
tests/e2e/test_dockerfile_rehearsal.py builds)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
rehearsal = runpy.run_path(str(REPO / "deploy" / "rehearse_dockerfile.py"))
CPU_TARGETS = ("gateway", "vad", "denoise", "asr-cpu")
PACKAGES = ("common", "gateway", "vad_worker", "asr_worker", "denoise_worker", "streamscribe_client", "requirements")


def test_instructions_join_continuations_and_drop_comments():
    text = "# syntax=docker/dockerfile:1.7\nFROM a AS b\nRUN one \\\n    # a comment inside\n    && two\n\nCMD [\"x\"]\n"
    steps = rehearsal["instructions"](text)
    assert [(s.op, s.args, s.line) for s in steps] == [
        ("FROM", "a AS b", 2), ("RUN", "one && two", 3), ("CMD", '["x"]', 7)]


def test_a_continuation_off_the_end_is_an_error():
    with pytest.raises(ValueError, match="continuation"):
        rehearsal["instructions"]("FROM a AS b\nRUN one \\\n")


def test_the_dockerfile_reads_into_its_stages():
    global_args, stages = rehearsal["parse"]((REPO / "deploy" / "Dockerfile").read_text())
    assert set(CPU_TARGETS) | {"wheel", "cpu-base", "asr-gpu"} == set(stages)
    for target in CPU_TARGETS:
        chain = [s.name for s in rehearsal["chain"](stages, target)]
        assert chain == ["cpu-base", target]
        assert rehearsal["stages_to_build"](stages, target) == ["wheel", target]  # the wheel copied from first
        assert stages["cpu-base"].base in rehearsal["BASES"], "every CPU target can be rehearsed"
    assert stages["asr-gpu"].base == global_args["CUDA_IMAGE"] not in rehearsal["BASES"]  # said in its docstring


def test_build_args_replace_the_defaults():
    global_args, stages = rehearsal["parse"]((REPO / "deploy" / "Dockerfile").read_text(),
                                             {"PYTHON_IMAGE": "python:3.12-slim", "TORCH_INDEX_URL": "file:///x"})
    assert stages["wheel"].base == "python:3.12-slim"
    assert global_args["TORCH_INDEX_URL"] == "file:///x"


def test_substitute_reads_both_forms_and_empties_unknown_names():
    assert rehearsal["substitute"]("${A}/$B:$C", {"A": "1", "B": "2"}) == "1/2:"


@pytest.mark.parametrize(("path", "kept"), [
    ("pyproject.toml", True), ("common/bus.py", True), ("gateway/static/index.html", True),
    ("requirements/diarize.txt", True), ("tests/unit/test_bus.py", False), ("models/x/config.json", False),
    ("common/__pycache__/bus.cpython-311.pyc", False), ("streamscribe.egg-info/PKG-INFO", False),
    ("docs/deploy.md", False), (".env", False),
])
def test_dockerignore_is_read_as_docker_reads_it(path, kept):
    rules = rehearsal["ignore_rules"](REPO)
    assert rehearsal["included"](path, rules) is kept


def test_the_context_holds_every_source_file_of_the_packages():
    files = set(rehearsal["context_files"](REPO))
    sources = {str(path.relative_to(REPO)) for folder in PACKAGES for path in (REPO / folder).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert sources and sources <= files, sorted(sources - files)
    assert not {f for f in files if f.startswith(("tests/", "docs/", "bench/", ".git/", "models/"))}

"""deploy/Dockerfile's build, without Docker (no engine runs here): deploy/rehearse_dockerfile.py.

* The wheel every image installs, built as the ``wheel`` stage builds it: from the files its
  COPY lines take out of the build context that .dockerignore leaves. It must hold every module
  and data file of the packages (a file the dev install finds in the work tree but the wheel
  lacks breaks only the images). Seconds; runs everywhere.
* The CPU images' stages carried out in a Debian root and started until their HEALTHCHECK
  passes (``vad``): opt-in with ``STREAMSCRIBE_TEST_IMAGES=1``, since it downloads about a
  gigabyte from PyPI and takes minutes; deploy/README.md has the figures of all four targets.
"""

from __future__ import annotations

import glob
import os
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "rehearse_dockerfile.py"
rehearsal = runpy.run_path(str(SCRIPT))
PACKAGES = ("common", "gateway", "vad_worker", "asr_worker", "denoise_worker", "streamscribe_client")


def wheel_stage_context(root: Path) -> Path:
    """The ``wheel`` stage's files laid out in ``root`` by its own WORKDIR and COPY lines; its WORKDIR."""
    _, stages = rehearsal["parse"]((REPO / "deploy" / "Dockerfile").read_text())
    state = rehearsal["State"](root=root, context=REPO, context_files=frozenset(rehearsal["context_files"](REPO)),
                               binds={})
    for step in stages["wheel"].steps:
        if step.op in ("WORKDIR", "COPY"):
            rehearsal["apply"](step, state, roots={}, build_args={}, global_args={})
    return root / state.workdir.lstrip("/")


def test_the_wheel_holds_every_module_and_data_file(tmp_path):
    source = wheel_stage_context(tmp_path / "root")
    # The stage runs `pip wheel --no-deps --wheel-dir /wheels .`; here with this venv's setuptools
    # instead of the newest from PyPI (no network needed).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheels"), "."], cwd=source, check=True, timeout=300)
    (wheel,) = (tmp_path / "wheels").glob("streamscribe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(path.relative_to(source)) for package in PACKAGES for path in (source / package).rglob("*")
                if path.is_file() and "__pycache__" not in path.parts}
    assert any(name.endswith(".html") for name in expected), "the demo page is package data"
    assert expected <= names, f"in the packages but not in the wheel: {sorted(expected - names)}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    for module in ("gateway", "vad_worker", "asr_worker", "denoise_worker"):
        assert f"{module}.__main__:main" in scripts


def torch_cpu_wheel() -> str | None:
    """A torch 2.13.0+cpu wheel to serve as PyTorch's CPU index (out of reach here)."""
    named = os.environ.get("STREAMSCRIBE_TEST_TORCH_WHEEL")
    if named:
        return named
    found = glob.glob("/opt/wheels/torch-2.13.0+cpu-cp311-*.whl")
    return found[0] if found else None


@pytest.mark.slow
def test_the_vad_image_builds_and_becomes_healthy(tmp_path):
    if os.environ.get("STREAMSCRIBE_TEST_IMAGES") != "1":
        pytest.skip("set STREAMSCRIBE_TEST_IMAGES=1: the rehearsal downloads about a gigabyte from PyPI and takes "
                    "minutes (deploy/README.md, 'The images without Docker')")
    if os.geteuid() != 0:
        pytest.skip("the rehearsal needs root (chroot, mounts, namespaces)")
    missing = [tool for tool in ("debootstrap", "unshare", "ip", "redis-server") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the rehearsal needs {', '.join(missing)} (Debian packages)")
    wheel = torch_cpu_wheel()
    if wheel is None:
        pytest.skip("no torch 2.13.0+cpu wheel: name one in STREAMSCRIBE_TEST_TORCH_WHEEL")
    result = subprocess.run([sys.executable, str(SCRIPT), "--target", "vad", "--smoke", "--work", str(tmp_path),
                             "--torch-wheel", wheel], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "healthy: yes" in result.stdout and "exit status: 0" in result.stdout

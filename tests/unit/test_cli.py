"""Every service's command line: ``--version``, ``--help`` naming each default once and the
operator's flags (at most :data:`MAX_SHOWN`), ``--help-advanced`` every flag, and the flags,
recorded: a flag that vanishes (a field losing its option, a class left out of a parser) fails
here, before a deployment passing it fails at start."""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
from importlib import metadata

import pytest

from common import config
from tests.kit.support import ROOT

SERVICES = ["gateway", "vad_worker", "asr_worker", "denoise_worker"]

COMMON = "--allow-secrets-in-args --no-allow-secrets-in-args --redis-url --redis-url-file --log-level --log-format"
WORKER = f"{COMMON} --http-port --http-host --capacity --lease-ttl --sweep-interval --batch-lead --batch-read-count --worker-id"

# Each service's flags, and the prefix of the variables they read.
FLAGS = {
    "gateway": (f"""{COMMON} --host --port --max-frame-bytes --permessage-deflate --no-permessage-deflate
        --ping-interval --ping-timeout --close-timeout --drain-timeout --diarize-wait --diarize-load-wait --diarize-preload --no-diarize-preload --max-audio-lead --max-realtime-factor
        --max-backlog-records --backlog-timeout --config-timeout --send-queue --idle-timeout --min-audio-share
        --audio-share-window --max-keepalive-idle --results-timeout --resume-grace --session-ttl --echo-gate-db --max-queue-lag --asr-overbooking --batch-share --batch-backlog-timeout
        --prerecorded-max-bytes --prerecorded-memory-bytes --prerecorded-body-timeout --prerecorded-callback-hosts --prerecorded-url-hosts --prerecorded-callback-attempts
        --prerecorded-callback-backlog --prerecorded-callback-backlog-bytes --prerecorded-callback-retention --prerecorded-callback-senders
        --redacted-audio-max-bytes --redacted-audio-retention
        --enable-noise-suppression --no-enable-noise-suppression --api-key --api-keys-file --allowed-origins
        --max-sessions-per-key --max-pending-per-key --max-pending-per-ip --ssl-certfile --ssl-keyfile
        --generate-self-signed-cert --no-generate-self-signed-cert --self-signed-cert-dir --twilio-auth-token
        --twilio-auth-token-file --twilio-public-url --audiohook-client-secret --audiohook-client-secret-file
        --audiohook-language
        --transcript-retention --transcript-log-maxlen --finals-maxlen --max-followers --max-followers-per-key
        --max-failed-follows --max-status-sockets --max-status-per-key --finals-webhook
        --finals-webhook-secret --finals-webhook-secret-file
        --finals-webhook-attempts --tcp-port --tcp-allowed-networks""", "STREAMSCRIBE_GATEWAY_"),
    "asr_worker": (f"""{WORKER} --engine --model --device --compute-type --model-cache-dir --cpu-threads --num-workers --max-batch --batch-max-batch
        --window-margin-sec --partial-window-margin-sec --final-beam-size --final-beam-logprob --final-beam-compression-ratio --first-words-grace-sec --batch-process --no-batch-process --batch-child-at-start
        --no-batch-child-at-start --batch-cpu-threads --batch-nice
        --batch-pause --no-batch-pause --batch-pause-for --batch-pause-min-run-sec --batch-pause-period-sec --batch-pause-resume-after-sec
        --dtype --gpu-memory-utilization --max-model-len
        --max-num-seqs --tensor-parallel-size --max-new-tokens --allow-standin-engine --no-allow-standin-engine
        --standin-clips --standin-final-sec --standin-partial-sec --standin-sec-per-audio-sec --chunk-size-sec --first-partial-sec
        --unfixed-chunk-num --unfixed-token-num --detect-languages --detect-min-sec --settle-sec --final-with-prefix --no-final-with-prefix --scheduling-policy --sentence-endpoint
        --no-sentence-endpoint --sentence-confidence --sentence-confidence-skip --sentence-short-words --split-replies --no-split-replies --batch-pack-sec --batch-pack-prompt --no-batch-pack-prompt --batch-pack-depth --redact-hold-sec --redact-prompt --redact-digits-prompt""", "STREAMSCRIBE_ASR_"),
    "vad_worker": (f"""{WORKER} --vad-threshold --min-speech-duration --silence-threshold --pre-roll
        --trailing-padding --pause-threshold --max-utterance-sec --split-search --checkpoint-interval --vad-model --threads
        --min-round-interval""", "STREAMSCRIBE_VAD_"),
    "denoise_worker": (f"""{WORKER} --processes --dfn-model --dfn-post-filter --atten-lim-db
        --checkpoint-interval""", "STREAMSCRIBE_DENOISE_"),
}


def parser_of(module: str):
    return importlib.import_module(f"{module}.__main__").build_parser()


SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def says_version(entry: str, capsys) -> str:
    """What the ``main`` of ``entry`` (``module:function``) prints for ``--version``."""
    module, function = entry.split(":")
    with pytest.raises(SystemExit) as exited:
        getattr(importlib.import_module(module), function)(["--version"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_console_script_names_itself_in_its_version(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"/somewhere/.venv/bin/{script}", "--version"])
    assert says_version(SCRIPTS[script], capsys) == f"{script} {metadata.version('streamscribe')}\n"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_run_as_a_module_it_names_the_module(script, monkeypatch, capsys):
    package = SCRIPTS[script].split(".")[0]
    monkeypatch.setattr(sys, "argv", [str(ROOT / package / "__main__.py"), "--version"])
    assert says_version(SCRIPTS[script], capsys) == f"python -m {package} {metadata.version('streamscribe')}\n"


def test_the_version_of_a_source_tree_not_installed_is_unknown(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert config.version() == "unknown"


def entries(help_text: str) -> list[str]:
    """The entries of a help text, one per option (a --flag/--no-flag pair is one)."""
    return re.split(r"\n  (?=-)", help_text)[1:]


@pytest.mark.parametrize("module", SERVICES)
def test_help_names_each_default_once(module):
    parser = parser_of(module)
    for text in (parser.format_help(), parser.format_advanced_help()):
        twice = [entry.split()[0] for entry in entries(text) if entry.count("(default:") > 1]
        assert not twice, twice


MAX_SHOWN = 25  # options --help lists a service's operator (-h, --version and --help-advanced aside)
HELPS = {"-h,", "--version", "--help-advanced"}


@pytest.mark.parametrize("module", SERVICES)
def test_help_lists_the_operators_options_and_help_advanced_every_flag(module, monkeypatch):
    for name in [name for name in os.environ if name.startswith("STREAMSCRIBE_")]:
        monkeypatch.delenv(name)
    parser = parser_of(module)
    shown = [entry.split()[0] for entry in entries(parser.format_help()) if entry.split()[0] not in HELPS]
    every = [entry.split()[0] for entry in entries(parser.format_advanced_help())]
    assert 10 <= len(shown) <= MAX_SHOWN, shown
    assert f"advanced tuning: {len(every) - len(shown) - len(HELPS)} more options, listed by --help-advanced" \
        in " ".join(parser.format_help().split())
    assert every[:len(HELPS) + len(shown)] == ["-h,", "--version", "--help-advanced", *shown]  # the operator's first
    # Every flag is in --help-advanced: its own entry, or (a -file form) its secret's.
    text = parser.format_advanced_help()
    recorded = FLAGS[module][0].split()
    assert all(re.search(rf"(?<![\w-]){flag}(?![\w-])", text) for flag in recorded), \
        [flag for flag in recorded if not re.search(rf"(?<![\w-]){flag}(?![\w-])", text)]
    assert "--redis-url" in shown and "--redis-url-file" not in shown  # the file form is in --redis-url's entry


@pytest.mark.parametrize("module", SERVICES)
def test_the_flags_of_each_service_are_the_recorded_ones(module, monkeypatch):
    for name in [name for name in os.environ if name.startswith("STREAMSCRIBE_")]:
        monkeypatch.delenv(name)
    recorded, prefix = FLAGS[module]
    actions = [action for action in parser_of(module)._actions if action.option_strings
               and not {"--help", "--version", "--help-advanced"} & set(action.option_strings)]
    assert sorted(flag for action in actions for flag in action.option_strings) == sorted(recorded.split())
    for action in actions:  # each reads <prefix><FLAG> from the environment
        name = action.option_strings[0][2:].upper().replace("-", "_")
        assert re.search(rf"\[env {prefix}{name}\b", action.help), (action.option_strings, action.help)

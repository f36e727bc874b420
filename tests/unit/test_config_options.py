"""Flags made from options dataclasses (common.config): defaults, environment, command line,
errors; the doors and engines owning their options classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

import pytest

from asr_worker.engines import ENGINES, load_engine, options_class
from asr_worker.engines.whisper import WhisperOptions
from common.config import SettingsParser, fraction, from_args, has_password, option, positive, redis_url
from common.errors import ConfigError
from gateway import __main__ as gateway_main
from gateway.doors.audiohook import AudioHookOptions
from gateway.doors.twilio import TwilioOptions

PREFIX = "TEST_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    idle_timeout: float = field(default=10.0, metadata=option("seconds of silence", parse=positive(float)))
    lead: float = field(default=2.0, metadata=option("seconds ahead", flag="--max-lead"))
    name: str | None = field(default=None, metadata=option("a name"))
    deflate: bool = field(default=False, metadata=option("compress"))
    mode: str = field(default="fast", metadata=option("how", choices=("fast", "exact")))
    token: str | None = field(default=None, repr=False, metadata=option("a token", secret=True))
    keys: tuple[str, ...] = field(default=(), metadata=option("a key (repeatable)", flag="--key", repeat=True))
    shared_level: str = field(default="INFO", metadata=option("a level", shared=True))
    pairs: tuple[int, ...] = field(default=(1, 2), metadata=option(
        "comma-separated numbers", parse=lambda raw: tuple(int(item) for item in raw.split(",")),
        show=lambda pairs: ",".join(map(str, pairs))))
    secret: bytes | None = field(default=None, repr=False, metadata=option(
        "a secret (hex)", parse=bytes.fromhex, secret=True, file=True))
    internal: int = 7  # no flag


def parse(argv: list[str], environ: dict[str, str] | None = None, cls: type = Sample, **given):
    parser = SettingsParser(prog="test", env_prefix=PREFIX, description="test", environ=environ or {})
    parser.add_options(cls)
    return from_args(cls, parser.parse_args(argv), **given)


def help_of(environ: dict[str, str] | None = None) -> str:
    parser = SettingsParser(prog="test", env_prefix=PREFIX, description="test", environ=environ or {})
    parser.add_options(Sample)
    return parser.format_help()


def test_the_default_is_the_field_default():
    assert parse([]) == Sample()


def test_the_environment_overrides_the_default_and_the_command_line_the_environment():
    environ = {"TEST_IDLE_TIMEOUT": "3", "TEST_MAX_LEAD": "4.5", "TEST_DEFLATE": "true", "TEST_KEY": "a, b,,",
               "STREAMSCRIBE_SHARED_LEVEL": "DEBUG", "TEST_PAIRS": "5,6"}
    assert parse([], environ) == Sample(idle_timeout=3.0, lead=4.5, deflate=True, keys=("a", "b"),
                                        shared_level="DEBUG", pairs=(5, 6))
    given = parse(["--idle-timeout", "1.5", "--max-lead", "1", "--no-deflate", "--key", "c", "--key", "d",
                   "--shared-level", "WARNING", "--pairs", "7"], environ)
    assert given == Sample(idle_timeout=1.5, lead=1.0, deflate=False, keys=("c", "d"), shared_level="WARNING",
                           pairs=(7,))
    assert parse([], {"TEST_SHARED_LEVEL": "ERROR", "STREAMSCRIBE_SHARED_LEVEL": "DEBUG"}).shared_level == "ERROR"


def test_from_args_takes_given_fields():
    assert parse([], internal=9, lead=8.0) == Sample(internal=9, lead=8.0)


def test_help_lists_flags_environment_and_defaults():
    text = " ".join(help_of().split())
    assert "--idle-timeout IDLE_TIMEOUT seconds of silence [env TEST_IDLE_TIMEOUT] (default: 10.0)" in text
    assert "--max-lead MAX_LEAD" in text and "--internal" not in text
    assert "--deflate, --no-deflate compress [env TEST_DEFLATE] (default: False)" in text
    assert "[env TEST_SHARED_LEVEL or STREAMSCRIBE_SHARED_LEVEL]" in text
    assert "[env TEST_KEY, comma-separated]" in text
    assert "--mode {fast,exact}" in text
    assert "comma-separated numbers [env TEST_PAIRS] (default: 1,2)" in text  # show
    # A -file form is listed in its secret's entry: one setting, two ways to give it.
    assert ("--secret SECRET a secret (hex) [env TEST_SECRET]; or a file holding it: --secret-file "
            "[env TEST_SECRET_FILE] (default: none)") in text
    assert "--secret-file SECRET_FILE" not in text


def advanced_parser(environ: dict[str, str] | None = None) -> SettingsParser:
    parser = SettingsParser(prog="test", env_prefix=PREFIX, description="test", environ=environ or {})
    parser.add_options(Sample)
    parser.advanced("--max-lead", "--pairs")
    return parser


def test_advanced_flags_are_left_to_help_advanced_and_work_as_any_flag(capsys):
    parser = advanced_parser({"TEST_PAIRS": "5,6"})
    text = " ".join(parser.format_help().split())
    assert "--max-lead" not in text and "--pairs" not in text and "--idle-timeout IDLE_TIMEOUT" in text
    assert text.endswith("advanced tuning: 3 more options, listed by --help-advanced")  # --allow-secrets-in-args too
    every = " ".join(parser.format_advanced_help().split())
    assert every.index("--idle-timeout") < every.index("advanced tuning (defaults that suit most deployments):") \
        < every.index("--max-lead MAX_LEAD seconds ahead [env TEST_MAX_LEAD] (default: 2.0)") \
        < every.index("--pairs PAIRS")
    assert "more options, listed by" not in every
    assert from_args(Sample, parser.parse_args(["--max-lead", "3"])) == Sample(lead=3.0, pairs=(5, 6))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--help-advanced"])
    assert exited.value.code == 0 and capsys.readouterr().out == parser.format_advanced_help()
    with pytest.raises(ValueError, match="test has no --max-lag"):  # a renamed or dropped flag
        parser.advanced("--max-lag")


def test_secrets_are_hidden():
    assert "a token [env TEST_TOKEN] (default: none)" in " ".join(help_of().split())
    text = " ".join(help_of({"TEST_TOKEN": "hunter2", "TEST_SECRET": "cafe"}).split())
    assert "hunter2" not in text and "cafe" not in text and text.count("(default: set, hidden)") == 2
    with pytest.raises(ConfigError) as info:
        parse(["--secret", "not hex"])
    assert str(info.value).startswith("--secret is invalid:") and "not hex" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse([], {"TEST_SECRET": "not hex"})
    assert str(info.value).startswith("TEST_SECRET (--secret) is invalid:") and "not hex" not in str(info.value)


@pytest.mark.parametrize("argv, environ, message", [
    (["--idle-timeout", "-1"], {}, "--idle-timeout '-1' is invalid: -1 is not positive"),
    (["--idle-timeout", "soon"], {}, "--idle-timeout 'soon' is invalid: could not convert"),
    ([], {"TEST_IDLE_TIMEOUT": "0"}, "TEST_IDLE_TIMEOUT='0' (--idle-timeout) is invalid: 0 is not positive"),
    (["--mode", "slow"], {}, "--mode 'slow' is invalid: choose one of fast, exact"),
    ([], {"TEST_MODE": "slow"}, "TEST_MODE='slow' (--mode) is invalid: choose one of fast, exact"),
    ([], {"TEST_DEFLATE": "maybe"}, "TEST_DEFLATE='maybe' is not a boolean"),
    (["--pairs", "1,x"], {}, "--pairs '1,x' is invalid"),
])
def test_bad_values_are_config_errors_naming_the_flag(argv, environ, message):
    with pytest.raises(ConfigError) as info:
        parse(argv, environ)
    assert str(info.value).startswith(message), info.value


def test_a_file_backed_secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text("cafe\n")
    assert parse(["--secret-file", str(path)]).secret == b"\xca\xfe"
    assert parse([], {"TEST_SECRET_FILE": str(path)}).secret == b"\xca\xfe"
    assert parse(["--secret", "beef", "--allow-secrets-in-args"]).secret == b"\xbe\xef"
    with pytest.raises(ConfigError, match="give --secret or --secret-file, not both"):
        parse(["--secret-file", str(path)], {"TEST_SECRET": "beef"})
    with pytest.raises(ConfigError, match="cannot read --secret-file .*absent"):
        parse(["--secret-file", str(tmp_path / "absent")])
    path.write_text("not hex")
    with pytest.raises(ConfigError) as info:
        parse(["--secret-file", str(path)])
    assert str(info.value).startswith(f"--secret-file {path} is invalid:") and "not hex" not in str(info.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Base:
    model: str | None = field(default=None, metadata=option("a model"))


@dataclass(frozen=True, slots=True, kw_only=True)
class One(Base):
    threads: int = field(default=0, metadata=option("threads of one"))
    capacity: int = field(default=100, metadata=option("sessions"))
    interval: float = field(default=1.0, metadata=option("seconds"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Two(Base):
    threads: int = field(default=0, metadata=option("threads of two"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Clash:
    threads: int = field(default=4, metadata=option("threads"))


def test_classes_share_a_flag_with_one_default():
    parser = SettingsParser(prog="test", env_prefix=PREFIX, description="test", environ={})
    parser.add_options(One, defaults={"capacity": 50}, skip=("interval",))
    parser.add_options(Two)
    text = " ".join(parser.format_help().split())
    assert text.count("--model MODEL a model") == 1 and "threads of one" in text and "threads of two" not in text
    assert "--interval" not in text and "sessions [env TEST_CAPACITY] (default: 50)" in text
    args = parser.parse_args(["--model", "m", "--threads", "2"])
    assert from_args(One, args) == One(model="m", threads=2, capacity=50)  # interval: no flag, its default
    assert from_args(Two, args) == Two(model="m", threads=2)
    with pytest.raises(TypeError, match="--threads has another default"):
        parser.add_options(Clash)


def test_a_type_without_a_parser_is_refused():
    @dataclass
    class Odd:
        span: complex = field(default=0j, metadata=option("a span"))

    parser = SettingsParser(prog="test", env_prefix=PREFIX, description="test", environ={})
    with pytest.raises(TypeError, match="Odd.span: .* needs option"):
        parser.add_options(Odd)


@pytest.mark.parametrize("module, flag", [("gateway", "--min-audio-share"), ("gateway", "--batch-share"),
                                          ("asr_worker", "--sentence-confidence"), ("denoise_worker", "--dfn-post-filter")])
def test_a_share_or_probability_is_from_0_to_1(module, flag):
    assert [fraction(raw) for raw in ("0", "0.25", "1")] == [0.0, 0.25, 1.0]
    for bad in ("-0.1", "1.5", "nan"):
        with pytest.raises(ValueError, match=f"{bad} is not between 0 and 1"):
            fraction(bad)
    parser = service_parser(module)
    assert getattr(parser.parse_args([flag, "0.5"]), flag[2:].replace("-", "_")) == 0.5
    with pytest.raises(ConfigError, match=f"{flag} '1.5' is invalid: 1.5 is not between 0 and 1"):
        parser.parse_args([flag, "1.5"])


def test_the_gateway_adds_the_options_of_each_door_that_has_some():
    assert gateway_main.door_options() == [TwilioOptions, AudioHookOptions]


def test_each_engine_has_its_options_class_and_refuses_another():
    assert options_class("whisper") is WhisperOptions
    assert {options_class(name).__name__ for name in ENGINES} == {
        "WhisperOptions", "Qwen3VllmOptions", "Qwen3TransformersOptions", "StandinOptions"}
    with pytest.raises(TypeError, match="the qwen3-vllm engine takes Qwen3VllmOptions, not WhisperOptions"):
        load_engine("qwen3-vllm", WhisperOptions())


# -- secrets stay off the command line ---------------------------------------------------------

SERVICES = ("gateway", "vad_worker", "asr_worker", "denoise_worker")
# A value of each secret option of the services (a secret option missing here fails the test).
SECRET_VALUES = {"--redis-url": "redis://:pw-1234@redis:6379/0", "--api-key": "key-1234",
                 "--twilio-auth-token": "token-1234", "--audiohook-client-secret": "c2VjcmV0LTEyMzQ=",
                 "--finals-webhook-secret": "webhook-secret-1234"}


def service_parser(module: str, environ: dict[str, str] | None = None):
    main = import_module(f"{module}.__main__")
    if environ is None:
        return main.build_parser()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        return main.build_parser()


@pytest.mark.parametrize("module", SERVICES)
def test_every_secret_option_is_refused_on_the_command_line(module):
    parser = service_parser(module)
    secrets = {action.option_strings[0]: action for action in parser._actions if getattr(action, "secret", None)}
    assert set(secrets) <= set(SECRET_VALUES) and "--redis-url" in secrets, sorted(secrets)
    for flag in secrets:
        value = SECRET_VALUES[flag]
        with pytest.raises(ConfigError) as info:
            parser.parse_args([flag, value])
        message = str(info.value)
        assert message.startswith(f"{flag} on the command line holds a secret"), message
        assert value not in message and "--allow-secrets-in-args" in message, message
        prefix = {"gateway": "GATEWAY", "vad_worker": "VAD", "asr_worker": "ASR", "denoise_worker": "DENOISE"}[module]
        assert f"STREAMSCRIBE_{prefix}_{flag[2:].upper().replace('-', '_')}" in message, message
        if flag != "--api-key":  # --api-keys-file is its file
            assert f"{flag}-file" in message, message
        # Allowed for local development, before or after the secret.
        for argv in ([flag, value, "--allow-secrets-in-args"], ["--allow-secrets-in-args", flag, value]):
            parser.parse_args(argv)
        assert service_parser(module, {f"STREAMSCRIBE_{prefix}_ALLOW_SECRETS_IN_ARGS": "true"}).parse_args(
            [flag, value])


def test_secrets_from_the_environment_or_a_file_are_taken(tmp_path):
    environ = {"STREAMSCRIBE_REDIS_URL": SECRET_VALUES["--redis-url"],
               "STREAMSCRIBE_GATEWAY_API_KEY": SECRET_VALUES["--api-key"]}
    args = service_parser("gateway", environ).parse_args([])
    assert redis_url(args) == SECRET_VALUES["--redis-url"] and args.api_key == (SECRET_VALUES["--api-key"],)
    url_file = tmp_path / "redis-url"
    url_file.write_text(SECRET_VALUES["--redis-url"] + "\n")
    assert redis_url(service_parser("vad_worker").parse_args(["--redis-url-file", str(url_file)])) == \
        SECRET_VALUES["--redis-url"]
    assert redis_url(service_parser("vad_worker", {"STREAMSCRIBE_REDIS_URL_FILE": str(url_file)}).parse_args([])) \
        == SECRET_VALUES["--redis-url"]
    with pytest.raises(ConfigError, match="give --redis-url or --redis-url-file, not both"):
        redis_url(service_parser("vad_worker", environ).parse_args(["--redis-url-file", str(url_file)]))


def test_a_redis_url_without_a_password_is_no_secret():
    assert redis_url(service_parser("asr_worker").parse_args(["--redis-url", "redis://redis:6379/1"])) == \
        "redis://redis:6379/1"
    assert [has_password(url) for url in ("redis://h:6379", "redis://user@h", "redis://:pw@h", "rediss://u:pw@h",
                                           "redis+sentinel://:pw@s:26379/m/0")] == [False, False, True, True, True]
    shown = " ".join(service_parser("asr_worker").format_help().split())
    assert "(default: redis://127.0.0.1:6379/0)" in shown
    hidden = " ".join(service_parser("asr_worker", {"STREAMSCRIBE_REDIS_URL": "redis://:pw-1234@h"})
                      .format_help().split())
    assert "pw-1234" not in hidden and "STREAMSCRIBE_REDIS_URL_FILE] (default: set, hidden)" in hidden

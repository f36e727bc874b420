"""Settings from command-line flags with environment-variable fallbacks.

Each service builds its settings in ``main()``: every flag ``--foo-bar`` may also be
given as ``<PREFIX>FOO_BAR`` (e.g. ``STREAMSCRIBE_ASR_ENGINE``); flags shared by
all services also read ``STREAMSCRIBE_FOO_BAR``. A flag on the command line wins.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from .errors import ConfigError

SHARED_PREFIX = "STREAMSCRIBE_"


class SettingsParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose options default to environment variables; ``--version`` included."""

    def __init__(self, *, prog: str, env_prefix: str, description: str,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(prog=prog, description=description, formatter_class=_HelpFormatter)
        self.env_prefix = env_prefix
        self.environ = os.environ if environ is None else environ
        self.add_argument("--version", action="version", version=f"%(prog)s {version()}")

    def option(self, flag: str, *, default: Any = None, type: Callable[[str], Any] = str,
               help: str, shared: bool = False, choices: list[str] | None = None, secret: bool = False) -> None:
        """Add ``--flag`` whose default comes from the environment when set there.

        ``secret``: ``--help`` says whether a default is set, never what it is.
        """
        name = flag.lstrip("-").replace("-", "_").upper()
        names = [self.env_prefix + name] + ([SHARED_PREFIX + name] if shared else [])
        for env_name in names:
            if env_name in self.environ:
                raw = self.environ[env_name]
                try:
                    default = type(raw)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{env_name}={raw!r} is invalid: {exc}") from None
                if choices is not None and default not in choices:
                    raise ConfigError(f"{env_name}={raw!r} is invalid: choose one of {', '.join(choices)}")
                break
        action = self.add_argument(flag, default=default, type=type, choices=choices,
                                   help=f"{help} [env {' or '.join(names)}]")
        action.secret = secret

    def flag(self, flag: str, *, help: str, default: bool = False) -> None:
        """Add a boolean ``--flag`` / ``--no-flag`` pair defaulting to the environment, else ``default``."""
        name = flag.lstrip("-").replace("-", "_").upper()
        env_name = self.env_prefix + name
        default = parse_bool(self.environ[env_name], env_name) if env_name in self.environ else default
        self.add_argument(flag, default=default, action=argparse.BooleanOptionalAction,
                          help=f"{help} [env {env_name}]")

    def add_common(self, *, http_port: int | None) -> None:
        """Options every service has: Redis, logging and (for workers) the HTTP port."""
        self.option("--redis-url", default="redis://127.0.0.1:6379/0", shared=True,
                    help="Redis URL (redis://, rediss://, or redis+cluster:// for Redis Cluster)")
        self.option("--log-level", default="INFO", shared=True, help="logging level")
        self.option("--log-format", default="text", choices=["text", "json"], shared=True,
                    help="log line format")
        if http_port is not None:
            self.option("--http-port", default=http_port, type=int,
                        help="port of /metrics, /healthz and /readyz (0 disables)")
            self.option("--http-host", default="0.0.0.0", help="address of the HTTP endpoints")


def version() -> str:
    """The installed streamscribe's version, or ``unknown`` when it runs from a source tree not installed."""
    try:
        return metadata.version("streamscribe")
    except metadata.PackageNotFoundError:
        return "unknown"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in ``--help``, except the values of secret options (set from the environment, say).

    A help text that already says its default in words ("(default: no limit)")
    gets no second, literal one.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        if getattr(action, "secret", False):
            return f"{action.help} (default: {'set, hidden' if action.default else 'none'})"
        if "(default: " in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_bool(raw: str, name: str = "value") -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that also rejects zero and negative values."""

    def convert(raw: str) -> Any:
        value = kind(raw)
        if value <= 0:
            raise ValueError(f"{raw} is not positive")
        return value

    convert.__name__ = f"positive {kind.__name__}"
    return convert

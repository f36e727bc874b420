"""Settings from command-line flags with environment-variable fallbacks.

Each service builds its settings in ``main()``: every flag ``--foo-bar`` may also be
given as ``<PREFIX>FOO_BAR`` (e.g. ``STREAMSCRIBE_ASR_ENGINE``); flags shared by
all services also read ``STREAMSCRIBE_FOO_BAR``. A flag on the command line wins.

Most flags are fields of an options dataclass, owned by the module they configure.
The field's default is the flag's default, written nowhere else, and :func:`option`
in the field's metadata says the rest::

    @dataclass(frozen=True, slots=True, kw_only=True)
    class ConnectionOptions:
        idle_timeout: float = field(default=10.0, metadata=option(
            "end a session after this many seconds without audio or keep-alive", parse=positive(float)))

:meth:`SettingsParser.add_options` makes the flags of such a class, and
:func:`from_args` the instance from the parsed flags.

``--help`` lists the flags an operator sets; a service names its tuning knobs with
:meth:`SettingsParser.advanced`, and ``--help-advanced`` lists those too. Both kinds read
their variables and parse alike: the split is only what ``--help`` shows.

Secrets come from the environment or a file, never the command line: every user of
the machine reads a process's arguments (``ps``, ``/proc/PID/cmdline``), and so do
shell histories, ``docker inspect`` and ``kubectl describe``. The parser refuses a
secret option given there (a configuration error naming the variable and the file
form to use instead) unless ``--allow-secrets-in-args`` says it is a developer's own
box. Refused rather than warned about: a warning comes once the secret is already
exposed, in a log nobody reads at that moment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Collection, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from .errors import ConfigError

SHARED_PREFIX = "STREAMSCRIBE_"
REDIS_URL = "redis://127.0.0.1:6379/0"  # --redis-url's default
OPTION = "streamscribe.option"  # the key of an :class:`Option` in a field's metadata



class _Dataclass(Protocol):
    """Any dataclass (what :func:`dataclasses.fields` takes)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


T = TypeVar("T", bound=_Dataclass)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """How a dataclass field is a flag (the field's metadata, made by :func:`option`).

    ``flag``: its name; by default ``--`` and the field's name with dashes.
    ``parse``: the value of the flag's text; raise ``ValueError`` (or ``ConfigError``) to refuse it,
    the message naming the flag. By default the field's type: ``int``, ``float``, ``str`` or ``Path``,
    or ``bool`` (a ``--flag`` / ``--no-flag`` pair, true or false in the environment), each maybe
    ``| None`` (a default the flag cannot give).
    ``choices``: the values allowed. ``secret``: ``--help`` and errors never show the value, and the
    command line may not give it (see the module's docstring).
    ``shared``: also read ``STREAMSCRIBE_<NAME>``, the variable every service reads.
    ``repeat``: a tuple of strings, one per use of the flag; the environment gives a comma-separated list,
    and the flags of the command line replace it.
    ``file``: also ``--<flag>-file``, a file holding the value (a secret kept out of the environment
    and the command line); the field's default must be None.
    ``show``: how ``--help`` writes the default, when ``str`` would not do.
    """

    help: str
    flag: str | None = None
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False
    shared: bool = False
    repeat: bool = False
    file: bool = False
    show: Callable[[Any], str] | None = None


def option(help: str, **settings: Any) -> dict[str, Option]:
    """The metadata of a field that is a flag: ``field(default=..., metadata=option("what it does"))``;
    ``settings`` are those of :class:`Option`."""
    return {OPTION: Option(help=help, **settings)}


class SettingsParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose options default to environment variables; ``--version`` included."""

    def __init__(self, *, prog: str, env_prefix: str, description: str,
                 environ: Mapping[str, str] | None = None) -> None:
        # The usage line names no flags: --help lists them, and an error's usage is read in one line.
        super().__init__(prog=prog, description=description, formatter_class=_HelpFormatter,
                         usage="%(prog)s [options]")
        self.env_prefix = env_prefix
        self.environ = os.environ if environ is None else environ
        self._field_defaults: dict[str, Any] = {}  # flag -> default, of the flags add_options made
        self._tuning: set[argparse.Action] = set()  # listed by --help-advanced only
        self._folded: set[argparse.Action] = set()  # -file forms, listed in their flag's entry
        self.add_argument("--version", action="version", version=f"%(prog)s {version()}")
        self.add_argument("--help-advanced", action=_AdvancedHelp,
                          help="show the advanced tuning options as well, and exit")
        self.flag("--allow-secrets-in-args", help="take secrets given on the command line, where every user of "
                                                  "this machine can read them (local development only)")
        self.advanced("--allow-secrets-in-args")

    def option(self, flag: str, *, default: Any = None, type: Callable[[str], Any] = str,
               help: str, shared: bool = False, choices: list[str] | None = None,
               secret: bool | Callable[[Any], bool] = False, file: bool = False) -> None:
        """Add ``--flag`` whose default comes from the environment when set there.

        ``secret``: True, or whether a value is one (a URL with a password, say): ``--help``
        then says whether a default is set, never what it is, and the command line may not
        give it. ``file``: also ``--<flag>-file`` (see :func:`file_or_flag`).
        """
        names = self._env_names(flag, shared=shared)
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
        action = self.add_argument(flag, default=default, type=type, choices=choices, action=_Store,
                                   help=f"{help} [env {' or '.join(names)}]")
        assert isinstance(action, _Guarded)
        self._guard(action, secret, names, file=file, shared=shared)

    def flag(self, flag: str, *, help: str, default: bool = False) -> None:
        """Add a boolean ``--flag`` / ``--no-flag`` pair defaulting to the environment, else ``default``."""
        env_name, = self._env_names(flag, shared=False)
        default = parse_bool(self.environ[env_name], env_name) if env_name in self.environ else default
        self.add_argument(flag, default=default, action=argparse.BooleanOptionalAction,
                          help=f"{help} [env {env_name}]")

    def add_options(self, cls: type, *, defaults: Mapping[str, Any] | None = None,
                    skip: Collection[str] = ()) -> None:
        """Add a flag for each field of dataclass ``cls`` that has :func:`option` metadata.

        ``defaults`` replace fields' defaults in this service (a worker's capacity, say);
        the fields in ``skip`` are no flags here. A field whose flag another class made
        already (an inherited field, or the same setting of two engines) must have the
        same default; it is added once, with the first class's help.
        """
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            spec = field.metadata.get(OPTION)
            if spec is None or field.name in skip:
                continue
            default = defaults[field.name] if defaults and field.name in defaults else _default_of(field)
            flag = _flag_of(field)
            if flag in self._field_defaults:
                if self._field_defaults[flag] != default:
                    raise TypeError(f"{cls.__name__}.{field.name}: {flag} has another default already")
                continue
            self._field_defaults[flag] = default
            kind = _without_none(hints[field.name])
            if kind is bool and not spec.repeat:
                self.flag(flag, help=spec.help, default=default)
                continue
            parse = spec.parse or (str if spec.repeat else _parse_of(kind, f"{cls.__name__}.{field.name}"))
            self._add_option(flag, spec, _checked(parse, spec.choices), default)

    def _add_option(self, flag: str, spec: Option, parse: Callable[[str], Any], default: Any) -> None:
        names = self._env_names(flag, shared=spec.shared)
        for env_name in names:
            if env_name in self.environ:
                raw = self.environ[env_name]
                if spec.repeat:
                    default = tuple(item.strip() for item in raw.split(",") if item.strip())
                else:
                    default = _parsed(parse, raw, f"{env_name}{'' if spec.secret else f'={raw!r}'} ({flag})")
                break

        def from_command_line(raw: str) -> Any:
            # A ConfigError gets past argparse (it stops at ValueError): one line naming the flag.
            return _parsed(parse, raw, flag if spec.secret else f"{flag} {raw!r}")

        action = self.add_argument(
            flag, default=default, type=from_command_line, choices=spec.choices,
            action=_Repeated if spec.repeat else _Store,
            help=f"{spec.help} [env {' or '.join(names)}{', comma-separated' if spec.repeat else ''}]")
        assert isinstance(action, _Guarded)
        action.shown_default = None if spec.show is None else spec.show(default)
        self._guard(action, spec.secret, names, file=spec.file, shared=spec.shared)

    def advanced(self, *flags: str) -> None:
        """Leave ``flags`` out of ``--help``: tuning knobs whose defaults suit a deployment, changed for a
        measured need. ``--help-advanced`` lists them; they work as any flag."""
        actions = {flag: action for action in self._actions for flag in action.option_strings}
        for flag in flags:
            if flag not in actions:
                raise ValueError(f"{self.prog} has no {flag}")
            self._tuning.add(actions[flag])

    def format_help(self) -> str:
        """The operator's flags (an ``argparse`` method: ``--help`` prints it), and how many more
        ``--help-advanced`` lists."""
        return self._help(advanced=False)

    def format_advanced_help(self) -> str:
        """Every flag: the operator's, then the advanced tuning ones (``--help-advanced``)."""
        return self._help(advanced=True)

    def _help(self, *, advanced: bool) -> str:
        listed = [action for action in self._actions if action not in self._folded]
        tuning = [action for action in listed if action in self._tuning]
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, listed, [])
        formatter.add_text(self.description)
        sections = [("options", [action for action in listed if action not in self._tuning])]
        if advanced:
            sections.append(("advanced tuning (defaults that suit most deployments)", tuning))
        for title, actions in sections:
            formatter.start_section(title)
            formatter.add_arguments(actions)
            formatter.end_section()
        if tuning and not advanced:
            formatter.add_text(f"advanced tuning: {len(tuning)} more option{'s' * (len(tuning) > 1)}, "
                               "listed by --help-advanced")
        return formatter.format_help()

    def _guard(self, action: _Guarded, secret: bool | Callable[[Any], bool], names: list[str], *,
               file: bool, shared: bool) -> None:
        """Mark ``action`` secret (refused on the command line by :meth:`parse_known_args`) and add its
        ``-file`` form if it has one (listed in ``action``'s entry of ``--help``, as one setting)."""
        flag = action.option_strings[0]
        action.secret = (_always if secret is True else secret) or None
        if file:
            self.option(f"{flag}-file", default="", shared=shared, help=f"file holding {flag} (read at the start)")
            self._folded.add(self._actions[-1])
            action.help = (f"{action.help}; or a file holding it: {flag}-file "
                           f"[env {' or '.join(self._env_names(f'{flag}-file', shared=shared))}]")
        action.instead = f"the environment ({' or '.join(names)})" + (f" or a file ({flag}-file)" if file else "")

    def parse_known_args(self, args=None, namespace=None):
        """Parse; a secret given on the command line is a :class:`ConfigError` unless
        ``--allow-secrets-in-args`` is given (an ``argparse`` method: ``parse_args`` calls it)."""
        namespace, extras = super().parse_known_args(args, namespace)
        given = vars(namespace).pop(_SECRETS_GIVEN, [])
        if given and not namespace.allow_secrets_in_args:
            action = given[0]
            raise ConfigError(
                f"{action.option_strings[0]} on the command line holds a secret, and every user of this machine can "
                f"read a process's arguments (ps, /proc/PID/cmdline): give it in {action.instead} instead, "
                "or pass --allow-secrets-in-args (local development only)")
        return namespace, extras

    def _env_names(self, flag: str, *, shared: bool) -> list[str]:
        name = flag.lstrip("-").replace("-", "_").upper()
        return [self.env_prefix + name] + ([SHARED_PREFIX + name] if shared else [])

    def add_common(self, *, http_port: int | None) -> None:
        """Options every service has: Redis, logging and (for workers) the HTTP port."""
        self.option("--redis-url", default=REDIS_URL, shared=True, secret=has_password, file=True,
                    help="Redis URL (redis://, rediss://, redis+cluster:// for Redis Cluster, "
                         "redis+sentinel://host:26379,.../service behind Sentinel); "
                         "one with a password only from the environment or --redis-url-file")
        self.option("--log-level", default="INFO", shared=True, help="logging level")
        self.option("--log-format", default="text", choices=["text", "json"], shared=True,
                    help="log line format")
        if http_port is not None:
            self.option("--http-port", default=http_port, type=int,
                        help="port of /metrics, /healthz and /readyz (0 disables)")
            # Loopback by default: /metrics tells who calls what; a container or pod that
            # Prometheus scrapes over the network says --http-host 0.0.0.0.
            self.option("--http-host", default="127.0.0.1",
                        help="address of the HTTP endpoints (0.0.0.0: every interface)")


def program(module: str) -> str:
    """The name of the command that runs ``module``, for ``--help`` and ``--version``: the console
    script's (``streamscribe-gateway``) when the process started as one of this package's, else
    ``python -m MODULE`` (whose ``sys.argv[0]`` is the path of ``MODULE/__main__.py``)."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    try:
        entry_points = metadata.distribution("streamscribe").entry_points
    except metadata.PackageNotFoundError:
        entry_points = metadata.EntryPoints(())
    ours = {entry.name for entry in entry_points
            if entry.group == "console_scripts" and entry.module.split(".")[0] == module}
    return script if script in ours else f"python -m {module}"


def version() -> str:
    """The installed streamscribe's version, or ``unknown`` when it runs from a source tree not installed."""
    try:
        return metadata.version("streamscribe")
    except metadata.PackageNotFoundError:
        return "unknown"


class _AdvancedHelp(argparse.Action):
    """``--help-advanced``: print :meth:`SettingsParser.format_advanced_help` and exit, as ``--help`` does."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        assert isinstance(parser, SettingsParser)
        parser._print_message(parser.format_advanced_help(), sys.stdout)
        parser.exit()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in ``--help``, except the values of secret options (set from the environment, say).

    A help text that already says its default in words ("(default: no limit)")
    gets no second, literal one.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        secret = getattr(action, "secret", None)
        if secret is not None and (not action.default or secret(action.default)):
            return f"{action.help} (default: {'set, hidden' if action.default else 'none'})"
        if "(default: " in (action.help or ""):
            return action.help
        shown = getattr(action, "shown_default", None)
        if shown is not None:
            return f"{action.help} (default: {shown.replace('%', '%%')})"
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


def non_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that also rejects negative values."""

    def convert(raw: str) -> Any:
        value = kind(raw)
        if value < 0:
            raise ValueError(f"{raw} is negative")
        return value

    convert.__name__ = f"non-negative {kind.__name__}"
    return convert


def fraction(raw: str) -> float:
    """An argparse ``type``: a number from 0 to 1 (a share, a probability)."""
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{raw} is not between 0 and 1")
    return value


def from_args(cls: type[T], args: argparse.Namespace, **given: Any) -> T:
    """The instance of dataclass ``cls`` that the flags of :meth:`SettingsParser.add_options` say.

    ``given`` sets the fields that are no flags (or overrides flags). A field whose
    flag the parser lacks (``skip``) keeps its default. A ``file`` option's file is
    read here.
    """
    values = dict(given)
    for field in dataclasses.fields(cls):
        spec = field.metadata.get(OPTION)
        if spec is None or field.name in values:
            continue
        flag = _flag_of(field)
        dest = flag.lstrip("-").replace("-", "_")
        if not hasattr(args, dest):
            continue
        values[field.name] = file_or_flag(args, flag, parse=spec.parse or str) if spec.file else getattr(args, dest)
    return cls(**values)


def file_or_flag(args: argparse.Namespace, flag: str, *, parse: Callable[[str], Any] = str,
                 unset: Any = None) -> Any:
    """The value of ``flag``, or ``parse`` of the contents of the file its ``-file`` form names
    (read here, not by the parser: a manifest's arguments parse without its files).

    ``unset``: the flag's value when neither its flag nor its variable gave it; giving both
    the value and the file is an error.
    """
    dest = flag.lstrip("-").replace("-", "_")
    value = getattr(args, dest)
    path = getattr(args, f"{dest}_file", "")
    if not path:
        return value
    if value != unset:
        raise ConfigError(f"give {flag} or {flag}-file, not both")
    return _parsed(parse, _read(path, f"{flag}-file"), f"{flag}-file {path}")


def redis_url(args: argparse.Namespace) -> str:
    """The Redis URL of :meth:`SettingsParser.add_common`'s flags: ``--redis-url``, or ``--redis-url-file``'s."""
    return file_or_flag(args, "--redis-url", unset=REDIS_URL)


def has_password(url: str) -> bool:
    """Whether a URL holds a password (``scheme://user:PASSWORD@host``, or a Sentinel URL's
    ``?sentinel_password=``)."""
    try:
        parts = urlsplit(url)
        return parts.password is not None or "sentinel_password" in parse_qs(parts.query, keep_blank_values=True)
    except ValueError:  # a malformed URL: treated as a secret, so that it is not shown
        return True


_SECRETS_GIVEN = "_secrets_given"  # a namespace's secret actions used on the command line, while it parses


def _always(value: Any) -> bool:
    return True


def _note(namespace: argparse.Namespace, action: _Guarded, value: Any) -> None:
    if action.secret is not None and action.secret(value):
        vars(namespace).setdefault(_SECRETS_GIVEN, []).append(action)


class _Guarded(argparse.Action):
    """An option's action, with what :meth:`SettingsParser._guard` marks on it."""

    secret: Callable[[Any], bool] | None  # whether a value is a secret; None: never
    instead: str  # where a secret may be given instead of the command line
    shown_default: str | None  # the default that --help shows, when not the value itself


class _Store(_Guarded):
    """``store``, noting a secret given on the command line."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        _note(namespace, self, values)


class _Repeated(_Guarded):
    """One value per use of the flag; those of the command line replace the default (the environment's)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        given = getattr(namespace, self.dest)
        setattr(namespace, self.dest, (() if given is self.default else given) + (values,))
        _note(namespace, self, values)


def _flag_of(field: dataclasses.Field) -> str:
    return field.metadata[OPTION].flag or "--" + field.name.replace("_", "-")


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None  # a required field: the flag is optional, the caller checks


def _without_none(kind: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return kind


def _parse_of(kind: Any, where: str) -> Callable[[str], Any]:
    if kind in (str, int, float, Path):
        return kind
    raise TypeError(f"{where}: a field of type {kind} needs option(parse=...)")


def _checked(parse: Callable[[str], Any], choices: tuple[str, ...] | None) -> Callable[[str], Any]:
    if choices is None:
        return parse

    def convert(raw: str) -> Any:
        value = parse(raw)
        if value not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return value

    return convert


def _parsed(parse: Callable[[str], Any], raw: str, where: str) -> Any:
    """``parse(raw)``, or a ConfigError saying ``where`` the value came from (without a secret's value)."""
    try:
        return parse(raw)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{where} is invalid: {exc}") from None


def _read(path: str, flag: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {flag} {path}: {exc}") from None
